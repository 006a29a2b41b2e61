/**
 * RWLock readers beyond `readerSlots` count their holds in one shared
 * OVERFLOW counter. A thread that died holding such holds used to leave the
 * counter raised for ever: every writer after it waited for ever (or until
 * its timeout). Now each such thread records its holds in its overflow
 * ledger in the domain (memory/thread.ts, sync/reader-slots.ts), and a
 * writer draining the lock reclaims a dead thread's holds from it, as it
 * reclaims a dead slot owner's count (`readersDied` reports both).
 *
 * Real workers, more of them than cores and than slots:
 * - `hold`: 6 readers on 2 slots take 1-3 nested holds each; a writer
 *   starts draining; every reader without a slot but one, and one with a
 *   slot, are terminated holding; the survivors then let go. The writer
 *   must get the lock (15 s bound; a reclaim waits at most one 50 ms wait
 *   slice after the death is marked), `readersDied` must be exactly the
 *   victims' holds, and nothing may still name the victims' ids (they can
 *   be reused).
 * - `churn`: 6 readers on 1 slot (taken by the main thread) read flat out,
 *   nested, and are terminated at random moments, 3 rounds; after each
 *   round a writer must get the lock and the counter must be exactly 0.
 *
 * Broken variant, run once: `sweepDeadOverflow` (reader-slots.ts) returning
 * at once, i.e. the recovery off, as before this change: both tests fail,
 * the writer's `writeLockAsync({ timeoutMs: 15_000 })` resolving false
 * after the whole 15 s (`hold`; `churn` in round 1, with the counter stuck
 * at 3 holds of dead readers).
 */
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { RWLock, domainOf } from '../src/index.js'

const LIB = new URL('../dist/index.js', import.meta.url).href
const FIXTURE = new URL('./fixtures/rwlock-overflow-worker.mjs', import.meta.url)
const shared = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(n * 4))

interface Reader {
  readonly worker: Worker
  readonly exited: Promise<number>
}

function reader(data: Record<string, unknown>): Reader {
  const worker = new Worker(FIXTURE, { workerData: { lib: LIB, ...data } })
  // Listened for at once: a worker's 'exit' can come with its last message (see ba9cb53).
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  worker.on('error', () => {})
  return { worker, exited }
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

describe('RWLock: read holds of dead threads without a slot are recovered', () => {
  it('hold: readers beyond the slots terminated holding (nested), a writer draining: it gets the lock, readersDied counts exactly their holds, their ids are free', async () => {
    const READERS = 6
    const rw = RWLock.create({ readerSlots: 2 })
    const domain = domainOf(rw.handle.domain)
    const flags = shared(4)
    const report = shared(3 * READERS)
    const readers = Array.from({ length: READERS }, (_, index) => reader({ handle: rw.handle, mode: 'hold', index, flags, report }))
    await until(() => Atomics.load(flags, 0) === READERS, 'the readers to hold')
    const holds = (i: number): number => Atomics.load(report, 3 * i)
    const slotted = (i: number): boolean => Atomics.load(report, 3 * i + 1) === 1
    const total = readers.reduce((sum, _, i) => sum + holds(i), 0)
    expect(rw.readers).toBe(total)
    const overflow = readers.map((_, i) => i).filter((i) => !slotted(i))
    const withSlot = readers.map((_, i) => i).filter((i) => slotted(i))
    expect(withSlot.length).toBe(2)
    // Every reader without a slot but the last, and one with a slot, die holding.
    const victims = [...overflow.slice(0, -1), withSlot[0]!]
    const died = victims.reduce((sum, i) => sum + holds(i), 0)

    const writing = rw.writeLockAsync({ timeoutMs: 15_000 })
    await until(() => rw.isWriteLocked, 'the writer to start draining')
    await Promise.all(victims.map(async (i) => {
      await readers[i]!.worker.terminate()
      await readers[i]!.exited
    }))
    Atomics.store(flags, 1, 1)
    Atomics.notify(flags, 1)
    expect(await writing).toBe(true)
    expect(rw.readers).toBe(0)
    expect(rw.stats().readersDied).toBe(died)
    rw.writeUnlock()
    await Promise.all(readers.map((r) => r.exited))
    // Nothing names the victims' ids any more: each can be reused.
    for (const i of victims) expect(domain.references(Atomics.load(report, 3 * i + 2))).toBe(0)
  })

  it('churn: readers without a slot terminated at random moments while reading flat out (nested), 3 rounds: after each a writer gets in and the counter is exactly 0', async () => {
    const READERS = 6
    const rw = RWLock.create({ readerSlots: 1 })
    expect(rw.tryWriteLock()).toBe(true) // the main thread takes the only slot (a writer claims one): every worker overflows
    rw.writeUnlock()
    let diedBefore = 0
    for (let round = 1; round <= 3; round++) {
      const flags = shared(4)
      const report = shared(READERS)
      const readers = Array.from({ length: READERS }, (_, index) => reader({ handle: rw.handle, mode: 'churn', index, flags, report }))
      await until(() => Atomics.load(flags, 2) >= 200 * READERS, `round ${round}'s readers to run`)
      for (const r of readers) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20))
        await r.worker.terminate()
      }
      await Promise.all(readers.map((r) => r.exited))
      const got = await rw.writeLockAsync({ timeoutMs: 15_000 })
      expect({ round, got, readers: rw.readers }).toEqual({ round, got: true, readers: 0 })
      rw.writeUnlock()
      const died = rw.stats().readersDied
      expect(died).toBeGreaterThanOrEqual(diedBefore)
      diedBefore = died
    }
  })
})
