/**
 * A holder that dies: a worker terminated inside its critical section. With
 * superviseWorker watching it, the next acquirer gets the lock and an
 * OwnerDiedError, repairs, calls markConsistent(), and work goes on. Without
 * markConsistent() the lock stays poisoned.
 */
import { describe, expect, it } from 'vitest'
import { Mutex, OwnerDiedError, ReentrantMutex, RWLock } from '../src/index.js'
import { superviseWorker } from '../src/node/index.js'
import { MutexWord } from '../src/sync/robust-lock.js'
import { WAITERS } from '../src/sync/robust-word.js'
import { pollUntil, run, signals, spawn, until } from './helpers.js'

async function killHolder(kind: string, handle: unknown, data?: Int32Array) {
  const flags = signals()
  const holder = spawn('holdForever', { kind, handle, flags, data })
  const supervised = new Promise<number[]>((resolve) =>
    superviseWorker(holder.worker, { onExit: (exit) => resolve([...exit.markedDead]) }),
  )
  await until(flags, 0, 1) // it holds the lock and is mid-update
  await holder.worker.terminate()
  return supervised
}

async function expectOwnerDied(p: Promise<unknown>): Promise<OwnerDiedError> {
  try {
    await p
  } catch (error) {
    expect(error).toBeInstanceOf(OwnerDiedError)
    return error as OwnerDiedError
  }
  throw new Error('expected OwnerDiedError')
}

describe('owner died, without superviseWorker (issue 15 item 17)', () => {
  it('a Worker this thread created is watched anyway: its death hands the lock to the next acquirer with OwnerDiedError (a timed lock used to time out, an untimed one to wait for ever)', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdForever', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1) // it holds the lock
    const waiting = m.lockAsync({ timeoutMs: 20_000 }) // already waiting when the holder dies
    await holder.worker.terminate()
    const error = await expectOwnerDied(waiting)
    expect(error.deadOwner).toBeGreaterThan(0)
    expect(m.isPoisoned).toBe(true)
    m.markConsistent()
    m.unlock()
    expect(m.lock(0)).toBe(true)
    m.unlock()
  })
})

describe('owner died', () => {
  it('Mutex: the next acquirer gets OwnerDiedError holding the lock, repairs, and work goes on', async () => {
    const m = Mutex.create()
    const data = new Int32Array(new SharedArrayBuffer(8))
    const dead = await killHolder('Mutex', m.handle, data)
    expect(dead).toHaveLength(1)
    const start = performance.now()
    const error = await expectOwnerDied(m.lockAsync({ timeoutMs: 2_000 }))
    expect(performance.now() - start).toBeLessThan(2_000)
    expect(error.deadOwner).toBe(dead[0])
    expect(error.holding).toBe(true)
    expect(m.isHeldByCurrentThread).toBe(true)
    expect(m.isPoisoned).toBe(true)
    expect(data[0]).toBe(999) // the half-done update is visible to the repairer
    data[0] = 0 // repair
    m.markConsistent()
    m.unlock()
    expect(m.isPoisoned).toBe(false)
    expect(m.lock(1_000)).toBe(true) // no error any more
    m.unlock()
    expect(m.stats().ownerDied).toBe(1)
  })

  it('Mutex: unlocking without markConsistent() leaves it poisoned for the next acquirer', async () => {
    const m = Mutex.create()
    await killHolder('Mutex', m.handle)
    await expectOwnerDied(m.lockAsync({ timeoutMs: 2_000 }))
    m.unlock() // no repair
    expect(() => m.tryLock()).toThrow(OwnerDiedError)
    m.markConsistent()
    m.unlock()
    expect(m.tryLock()).toBe(true)
    m.unlock()
  })

  it('withLock with recover() repairs and runs the body', async () => {
    const m = Mutex.create()
    await killHolder('Mutex', m.handle)
    let repaired = 0
    const value = await m.withLockAsync(() => 42, { timeoutMs: 2_000, recover: () => repaired++ })
    expect(value).toBe(42)
    expect(repaired).toBe(1)
    expect(m.isPoisoned).toBe(false)
  })

  it('a worker already blocked on the lock wakes within 100 ms of the death and gets OwnerDiedError', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdForever', { kind: 'Mutex', handle: m.handle, flags })
    superviseWorker(holder.worker)
    await until(flags, 0, 1)
    const waiter = spawn<{ error?: string; ms: number }>('lockAndReport', {
      kind: 'Mutex',
      handle: m.handle,
      flags,
      timeoutMs: 10_000,
    })
    // The waiter is blocked once it has set WAITERS in the lock word: it sets the bit only on its
    // way into Atomics.wait (robust-word.ts), and nobody else does while the holder spins.
    const word = new Int32Array(m.handle.buffer, m.handle.byteOffset, MutexWord.STATE + 1)
    await pollUntil(() => (Atomics.load(word, MutexWord.STATE) & WAITERS) !== 0, 'the waiter has set WAITERS in the lock word')
    const killed = performance.now()
    await holder.worker.terminate()
    const outcome = await waiter.result
    const wokeAfter = performance.now() - killed
    expect(outcome.ok && outcome.value.error).toBe('OwnerDiedError')
    // Waiters re-check every 50 ms; allow scheduling noise on a shared machine.
    expect(wokeAfter).toBeLessThan(2_000)
  })

  it('ReentrantMutex and RWLock writers are recovered the same way', async () => {
    const r = ReentrantMutex.create()
    await killHolder('ReentrantMutex', r.handle)
    await expectOwnerDied(r.lockAsync({ timeoutMs: 2_000 }))
    expect(r.depth).toBe(1)
    r.markConsistent()
    r.unlock()
    expect(r.isLocked).toBe(false)

    const rw = RWLock.create()
    await killHolder('RWLock', rw.handle)
    // Readers are refused (not holding) while the data may be half-written...
    expect(() => rw.readLock(2_000)).toThrow(/writer \(thread \d+\) died while writing/)
    // ...until a writer repairs it.
    await expectOwnerDied(rw.writeLockAsync({ timeoutMs: 2_000 }))
    rw.markConsistent()
    rw.writeUnlock()
    expect(rw.readLock(1_000)).toBe(true)
    rw.readUnlock()
  })

  it('RWLock: the read hold of a dead reader is reclaimed so writers are not stuck', async () => {
    const rw = RWLock.create()
    await killHolder('RWLock-read', rw.handle)
    expect(rw.readers).toBe(1)
    expect(rw.writeLock(2_000)).toBe(true)
    rw.writeUnlock()
    expect(rw.stats().readersDied).toBe(1)
    expect(rw.readers).toBe(0)
  })

  it('a holder is never guessed dead: one that is alive but stuck keeps the lock (timeouts still work); its real death is reported', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdForever', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    expect(await m.lockAsync({ timeoutMs: 150 })).toBe(false)
    const r = await run<{ ok?: boolean }>('lockAndReport', { kind: 'Mutex', handle: m.handle, flags, timeoutMs: 100 })
    expect(r.ok).toBe(false)
    await holder.worker.terminate()
    await expectOwnerDied(m.lockAsync({ timeoutMs: 20_000 }))
    m.markConsistent()
    m.unlock()
  })
})
