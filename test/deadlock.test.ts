/**
 * Deadlock detection across threads (src/sync/wait-graph.ts): a cycle of
 * threads blocked in lock() without a timeout is reported to exactly one of
 * them as a DeadlockError naming the cycle (in its message and in
 * `error.cycle`); the others then go on. Never a false report, and waits
 * with a timeout are left to time out.
 */
import { describe, expect, it } from 'vitest'
import { DeadlockError, Mutex, ReentrantMutex, RWLock } from '../src/index.js'
import { results, signals, spawn, STRESS, until } from './helpers.js'

type PairResult = { got?: boolean; error?: string; message?: string; ms: number }

/** `n` workers in a ring: worker k takes lock k, then lock k+1. */
async function ring(kinds: readonly ('Mutex' | 'ReentrantMutex' | 'RWLock')[], timeouts: readonly (number | undefined)[] = []) {
  const create = { Mutex: () => Mutex.create(), ReentrantMutex: () => ReentrantMutex.create(), RWLock: () => RWLock.create() }
  const handles = kinds.map((k) => create[k]().handle)
  const flags = signals()
  const n = kinds.length
  const workers = kinds.map((_, k) =>
    spawn<PairResult>('lockPair', { kinds, handles, first: k, second: (k + 1) % n, flags, parties: n, timeoutMs: timeouts[k] }),
  )
  return results(workers)
}

/** The error `fn` throws, or undefined if it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

describe('deadlock detection', () => {
  it('two threads locking A->B and B->A: exactly one gets DeadlockError naming the cycle, the other goes on', async () => {
    const out = await ring(['Mutex', 'Mutex'])
    const victims = out.filter((r) => r.error !== undefined)
    expect(victims).toHaveLength(1)
    expect(victims[0]!.error).toBe('DeadlockError')
    expect(victims[0]!.message).toMatch(/thread \d+ waits for thread \d+, thread \d+ waits for thread \d+/)
    expect(out.filter((r) => r.got === true)).toHaveLength(1)
  })

  it('a cycle of three, across Mutex, ReentrantMutex and RWLock writers', async () => {
    for (let round = 0; round < STRESS; round++) {
      const out = await ring(['Mutex', 'ReentrantMutex', 'RWLock'])
      expect(out.filter((r) => r.error === 'DeadlockError')).toHaveLength(1)
      expect(out.filter((r) => r.got === true)).toHaveLength(2)
      const message = out.find((r) => r.error)!.message!
      expect(message.match(/waits for/g)).toHaveLength(3)
    }
  })

  it('a wait with a timeout is not part of a reported cycle: it times out, and the other thread then goes on', async () => {
    const out = await ring(['Mutex', 'Mutex'], [400, undefined])
    expect(out[0]).toMatchObject({ got: false })
    expect(out[0]!.ms).toBeGreaterThanOrEqual(399)
    expect(out[1]).toMatchObject({ got: true })
  })

  it('never a false report: 4 threads taking two locks in one order, holding them past detection time', async () => {
    const a = Mutex.create()
    const b = Mutex.create()
    const workers = Array.from({ length: 4 }, () =>
      spawn<{ falseReports: number }>('orderedPairs', { handles: [a.handle, b.handle], rounds: 6 * STRESS, holdMs: 60 }),
    )
    const out = await results(workers)
    expect(out.reduce((n, r) => n + r.falseReports, 0)).toBe(0)
    // The waits were long enough for detection to run (chains of waiters for 100+ ms).
    expect(a.stats().waitMaxMs).toBeGreaterThan(100)
  })

  it('the error carries its cycle: this thread first, then the thread holding what it wants', async () => {
    // This thread (the domain's first, so the smallest tid: the victim) takes A, the worker
    // takes B; then this thread blocks in B.lock() and the worker in A.lock().
    const a = Mutex.create()
    const b = Mutex.create()
    const flags = signals()
    a.lock()
    const me = a.holder
    const worker = spawn<PairResult>('lockPair', { kinds: ['Mutex', 'Mutex'], handles: [a.handle, b.handle], first: 1, second: 0, flags, parties: 2 })
    Atomics.add(flags, 1, 1)
    Atomics.notify(flags, 1)
    await until(flags, 1, 2) // the worker holds B and is about to lock A
    const other = b.holder
    const error = thrown(() => b.lock())
    a.unlock()
    expect(error).toBeInstanceOf(DeadlockError)
    expect((error as DeadlockError).cycle).toEqual([me, other])
    expect(Object.isFrozen((error as DeadlockError).cycle)).toBe(true)
    expect((error as DeadlockError).message).toContain(`thread ${me} waits for thread ${other}, thread ${other} waits for thread ${me}`)
    const [out] = await results([worker])
    expect(out).toMatchObject({ got: true })
  })

  it('the DeadlockError class is the one re-locking throws too (one catch for both), with an empty cycle', () => {
    const m = Mutex.create()
    m.lock()
    const relock = thrown(() => m.lock())
    expect(relock).toBeInstanceOf(DeadlockError)
    expect((relock as DeadlockError).cycle).toEqual([])
    m.unlock()
    const rw = RWLock.create()
    rw.readLock()
    const upgrade = thrown(() => rw.writeLock())
    expect(upgrade).toBeInstanceOf(DeadlockError)
    expect((upgrade as DeadlockError).cycle).toEqual([])
    rw.readUnlock()
  })
})
