/**
 * Issue 14 item 5: fair locks. `Mutex`, `ReentrantMutex` and `Semaphore`
 * created with `{ fair: true }` serve waiters in FIFO order
 * (src/sync/fair-queue.ts): an arrival never overtakes a waiter, a waiter
 * that times out, aborts or dies leaves the queue without stalling it.
 *
 * Every check here is an order or a count that holds at any speed. The
 * barging (default) locks fail the order checks: the "control" tests show
 * it on the same scenarios, so the checks can fail.
 */
import { describe, expect, it } from 'vitest'
import { DeadlockError, HandleError, Mutex, OptionError, OwnerDiedError, ReentrantMutex, RWLock, Semaphore } from '../src/index.js'
import { pollUntil, results, signals, spawn, type RunningWorker } from './helpers.js'

const FIXTURE = 'fair-worker.mjs'

/** A shared log: word 0 its length, then the entries. */
function newLog(n = 64): Int32Array {
  return new Int32Array(new SharedArrayBuffer(n * 4))
}
function entries(log: Int32Array): number[] {
  return Array.from(log.subarray(1, 1 + Atomics.load(log, 0)))
}

type Queued = Mutex | ReentrantMutex

/** Starts `count` workers one after the other, each queued (per `queued()`) before the next starts. */
async function queueWorkers(
  count: number,
  queued: () => number,
  data: Record<string, unknown>,
  scenario = 'queueOnce',
  first = 1,
): Promise<RunningWorker<unknown>[]> {
  const workers: RunningWorker<unknown>[] = []
  for (let id = first; id < first + count; id++) {
    const before = queued()
    workers.push(spawn(scenario, { ...data, id }, FIXTURE))
    await pollUntil(() => queued() > before, `worker ${id} queued`)
  }
  return workers
}

/**
 * The holder (this thread) releases and re-locks at once while 4 workers
 * wait: returns how many of them got the lock before the re-lock did.
 */
async function relockRace(lock: Queued): Promise<{ before: number; order: number[] }> {
  const log = newLog()
  const flags = signals(8)
  expect(lock.lock(0)).toBe(true)
  const workers = await queueWorkers(4, () => lock.queued, { kind: lock instanceof ReentrantMutex ? 'ReentrantMutex' : 'Mutex', handle: lock.handle, flags, log })
  lock.unlock()
  expect(lock.lock(30_000)).toBe(true) // blocking: the workers run meanwhile
  const before = Atomics.load(log, 0)
  lock.unlock()
  await results(workers)
  return { before, order: entries(log) }
}

/**
 * Permits 2, all taken here; a worker waits for 2, then a worker for 1 (each
 * counted in `stats().waiting` before the next starts); one permit comes
 * back, 50 ms pass, the other comes back. Returns the permits still free
 * 50 ms after the first came back, and the order of the grants.
 */
async function semaphoreOrder(fair: boolean): Promise<{ freeAfterOne: number; order: number[] }> {
  const s = Semaphore.create({ permits: 2, fair })
  const log = newLog()
  const flags = signals(8)
  expect(s.acquire(2, 0)).toBe(true)
  const heavy = spawn('queueOnce', { kind: 'Semaphore', handle: s.handle, flags, log, id: 2, n: 2 }, FIXTURE)
  await pollUntil(() => s.stats().waiting === 1, 'the 2-permit waiter waiting')
  const light = spawn('queueOnce', { kind: 'Semaphore', handle: s.handle, flags, log, id: 1, n: 1 }, FIXTURE)
  await pollUntil(() => s.stats().waiting === 2, 'the 1-permit waiter waiting')
  s.release(1)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const freeAfterOne = s.available
  s.release(1)
  await results([heavy, light])
  expect(s.available).toBe(2)
  return { freeAfterOne, order: entries(log) }
}

describe('fair locks (issue 14 item 5)', () => {
  it('Mutex { fair: true }: a holder that releases and re-locks at once waits behind the 4 queued workers, which get the lock in arrival order', async () => {
    const m = Mutex.create({ fair: true })
    expect(m.fair).toBe(true)
    const { before, order } = await relockRace(m)
    expect(before).toBe(4)
    expect(order).toEqual([1, 2, 3, 4])
    expect(m.queued).toBe(0)
  })

  it('ReentrantMutex { fair: true }: the holder nests without waiting while others are queued; they are served in order after the outermost unlock', async () => {
    const m = ReentrantMutex.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    m.lock()
    const workers = await queueWorkers(3, () => m.queued, { kind: 'ReentrantMutex', handle: m.handle, flags, log })
    expect(m.lock(0)).toBe(true) // nests at once, queue or not
    expect(m.tryLock()).toBe(true)
    expect(m.depth).toBe(3)
    m.unlock()
    m.unlock()
    expect(entries(log)).toEqual([])
    m.unlock()
    await results(workers)
    expect(entries(log)).toEqual([1, 2, 3])
  })

  it('tryLock() and tryAcquire() do not overtake queued waiters: false while someone is queued, even with the lock free', async () => {
    const m = Mutex.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    m.lock()
    const workers = await queueWorkers(1, () => m.queued, { kind: 'Mutex', handle: m.handle, flags, log, timeoutMs: 30_000 })
    // A second waiter from this thread, async: it is queued behind worker 1.
    const mine = m.lockAsync({ timeoutMs: 30_000 })
    await pollUntil(() => m.queued === 2, 'this thread queued')
    m.unlock()
    await results(workers)
    expect(await mine).toBe(true)
    m.unlock()
    expect(entries(log)).toEqual([1])

    const s = Semaphore.create({ permits: 1, fair: true })
    expect(s.acquire(1, 0)).toBe(true)
    const waiting = s.acquireAsync(1, { timeoutMs: 30_000 })
    await pollUntil(() => s.stats().waiting === 1, 'a semaphore waiter queued')
    s.release() // the permit is the queued waiter's, not a later tryAcquire's
    expect(s.tryAcquire()).toBe(false)
    expect(await waiting).toBe(true)
    s.release()
    expect(s.tryAcquire()).toBe(true)
    s.release()
  })

  it('Semaphore { fair: true }: a waiter for 2 permits queued before a waiter for 1 is served first; a permit given back meanwhile waits for it', async () => {
    expect(await semaphoreOrder(true)).toEqual({ freeAfterOne: 1, order: [2, 1] })
  })

  it('control: the default Semaphore gives that permit to the later 1-permit waiter (at least once in 5 tries)', async () => {
    let overtaken = false
    for (let attempt = 0; attempt < 5 && !overtaken; attempt++) {
      const { order } = await semaphoreOrder(false)
      overtaken = order[0] === 1
    }
    expect(overtaken).toBe(true)
  })

  it('Semaphore { fair: true }: among two acquire(1) loops that keep the semaphore busy, each wait of an acquire(2) loop is overtaken by at most 4 light grants (the barging semaphore: thousands)', async () => {
    const s = Semaphore.create({ permits: 2, fair: true })
    const log = newLog(8)
    const flags = signals(8)
    // Each light holds its permit 1 ms and takes it again at once: the two permits are rarely free together.
    const lights = [1, 2].map((id) => spawn('loop', { kind: 'Semaphore', handle: s.handle, flags, log, id, n: 1, holdMs: 1 }, FIXTURE))
    await pollUntil(() => Atomics.load(log, 1) > 3 && Atomics.load(log, 2) > 3, 'both light loops running')
    // The heavy loop pauses 2 ms after each grant (so it never re-takes the permits it just gave back): each grant needs both permits freed.
    const heavy = spawn('loop', { kind: 'Semaphore', handle: s.handle, flags, log, id: 3, n: 2, target: 10, pauseMs: 2, watch: [1, 2] }, FIXTURE)
    const h = ((await results([heavy])) as { grants: number; timedOut: boolean; maxOvertaken: number }[])[0]!
    Atomics.store(flags, 0, 1) // stop the lights
    const ls = (await results(lights)) as { grants: number; timedOut: boolean }[]
    console.log('heavy vs light:', JSON.stringify({ heavy: h, lights: ls }))
    expect(h.grants).toBe(10)
    expect(h.timedOut).toBe(false)
    // While the heavy waiter was queued, each light got at most one grant already under way when it
    // queued, plus one queued ahead of it (or taken just before it queued): never more (barging: hundreds).
    expect(h.maxOvertaken).toBeLessThanOrEqual(4)
    for (const l of ls) expect(l.timedOut).toBe(false)
    expect(s.available).toBe(2)
  })

  it('waiters that time out or abort leave the queue: those behind are served, in order', async () => {
    const m = Mutex.create({ fair: true })
    m.lock()
    const order: string[] = []
    const abort = new AbortController()
    const a = m.lockAsync({ timeoutMs: 30_000 }).then((ok) => {
      order.push('a')
      m.unlock()
      return ok
    })
    const b = m.lockAsync({ timeoutMs: 20 }) // times out while queued
    const c = m.lockAsync({ signal: abort.signal }) // aborted while queued
    const d = m.lockAsync({ timeoutMs: 30_000 }).then((ok) => {
      order.push('d')
      m.unlock()
      return ok
    })
    await pollUntil(() => m.queued === 4, '4 waiters queued')
    expect(await b).toBe(false)
    abort.abort(new Error('stop'))
    await expect(c).rejects.toThrow('stop')
    m.unlock()
    expect(await a).toBe(true)
    expect(await d).toBe(true)
    expect(order).toEqual(['a', 'd'])
    expect(m.queued).toBe(0)
    expect(m.lock(0)).toBe(true)
    m.unlock()
  })

  it('more waiters than the ring has slots (300 > 256): all are served, the first 256 in arrival order', async () => {
    const m = Mutex.create({ fair: true })
    m.lock()
    const order: number[] = []
    const waits = Array.from({ length: 300 }, (_, i) =>
      m.lockAsync({ timeoutMs: 60_000 }).then((ok) => {
        order.push(i)
        m.unlock()
        return ok
      }),
    )
    await pollUntil(() => m.queued === 256, 'the ring full')
    m.unlock()
    expect(await Promise.all(waits)).toEqual(waits.map(() => true))
    expect(order.slice(0, 256)).toEqual(Array.from({ length: 256 }, (_, i) => i))
    expect(new Set(order).size).toBe(300)
    expect(m.queued).toBe(0)
  })

  it('a queued waiter that dies is skipped: those behind it are served (a dead head, a dead waiter mid-queue)', async () => {
    for (const deadAt of [1, 2]) {
      const m = Mutex.create({ fair: true })
      const log = newLog()
      const flags = signals(8)
      m.lock()
      const data = { kind: 'Mutex', handle: m.handle, flags, log }
      const workers: RunningWorker<unknown>[] = []
      for (let id = 1; id <= 3; id++) {
        workers.push(...(await queueWorkers(1, () => m.queued, data, id === deadAt ? 'queueForever' : 'queueOnce', id)))
      }
      await workers[deadAt - 1]!.worker.terminate() // dies queued
      m.unlock()
      const alive = workers.filter((_, k) => k !== deadAt - 1)
      await results(alive)
      expect(entries(log)).toEqual([1, 2, 3].filter((id) => id !== deadAt))
      expect(m.queued).toBe(0)
      expect(m.lock(0)).toBe(true)
      m.unlock()
    }
  })

  it('a full ring behind a dead head does not wedge the lock: an arrival waiting for room skips the dead head and the 255 waiters that left (the SPIN finding room-wedge)', async () => {
    const m = Mutex.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    m.lock()
    const head = await queueWorkers(1, () => m.queued, { kind: 'Mutex', handle: m.handle, flags, log }, 'queueForever')
    // 255 waiters behind it that all give up before it dies: the ring (256) is full of them.
    const gaveUp = await Promise.all(Array.from({ length: 255 }, () => m.lockAsync({ timeoutMs: 1 })))
    expect(gaveUp.every((got) => got === false)).toBe(true)
    expect(m.queued).toBe(256)
    await head[0]!.worker.terminate()
    m.unlock()
    // Before the fix, this arrival slept on HEAD until its timeout: nobody queued was left to skip the dead head.
    expect(await m.lockAsync({ timeoutMs: 20_000 })).toBe(true)
    expect(m.queued).toBe(0)
    m.unlock()
  })

  it('a fair holder that dies holding: the next in the queue gets OwnerDiedError holding the lock', async () => {
    const m = Mutex.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    const holder = spawn('queueForever', { kind: 'Mutex', handle: m.handle, flags, log, id: 1 }, FIXTURE)
    await pollUntil(() => Atomics.load(flags, 1) === 2, 'the worker holds the lock')
    const next = m.lockAsync({ timeoutMs: 30_000 })
    await pollUntil(() => m.queued === 1, 'this thread queued')
    await holder.worker.terminate()
    await expect(next).rejects.toBeInstanceOf(OwnerDiedError)
    expect(m.isHeldByCurrentThread).toBe(true)
    m.markConsistent()
    m.unlock()
  })

  it('mutual exclusion and an exact count with 5 workers on 2 cores, a fifth of the waits with a 0.05 ms timeout: fair Mutex, fair Semaphore(1)', async () => {
    for (const kind of ['Mutex', 'Semaphore'] as const) {
      const lock = kind === 'Mutex' ? Mutex.create({ fair: true }) : Semaphore.create({ permits: 1, fair: true })
      const counter = new Int32Array(new SharedArrayBuffer(4))
      const iterations = 2_000
      const workers = Array.from({ length: 5 }, (_, id) =>
        spawn('count', { kind, handle: lock.handle, flags: signals(8), log: newLog(), id, counter, iterations }, FIXTURE),
      )
      const outcomes = (await results(workers)) as { gaveUp: number }[]
      expect(counter[0]).toBe(5 * iterations)
      // How many timed waits left the queue depends on the interleaving (the handshake tests above make sure some do).
      console.log(`fair ${kind}: ${outcomes.reduce((sum, o) => sum + o.gaveUp, 0)} timed waits gave up`)
    }
  })

  it('RWLock { fair: true }: readers and writers in arrival order; a reader queued behind a writer waits for it; readers queued together read together', async () => {
    const rw = RWLock.create({ fair: true, readerSlots: 8 })
    expect(rw.fair).toBe(true)
    const log = newLog()
    const flags = signals(8)
    rw.writeLock()
    const plan = [
      { id: 1, kind: 'RWLockRead' },
      { id: 2, kind: 'RWLockWrite' },
      { id: 3, kind: 'RWLockRead', overlap: 2 },
      { id: 4, kind: 'RWLockRead', overlap: 2 },
    ]
    const workers: RunningWorker<unknown>[] = []
    for (const { id, kind, overlap } of plan) {
      workers.push(...(await queueWorkers(1, () => rw.queued, { kind, handle: rw.handle, flags, log, overlap }, 'queueOnce', id)))
    }
    rw.writeUnlock()
    await results(workers)
    const order = entries(log)
    expect(order.slice(0, 2)).toEqual([1, 2])
    // 3 and 4 entered in either order, then each saw the other inside (100 + id), never -100 - id.
    expect(new Set(order.slice(2, 4))).toEqual(new Set([3, 4]))
    expect(new Set(order.slice(4))).toEqual(new Set([103, 104]))
    expect(rw.queued).toBe(0)
  })

  it('RWLock { fair: true }: a thread holding a read lock nests at once while a writer waits for it; upgrading that read lock to a write gets DeadlockError', async () => {
    const rw = RWLock.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    rw.readLock()
    // The writer takes the write word at once (nobody queued) and waits for this thread's read to drain.
    const workers = [spawn('queueOnce', { kind: 'RWLockWrite', handle: rw.handle, flags, log, id: 1 }, FIXTURE)]
    await pollUntil(() => rw.isWriteLocked, 'the writer draining')
    expect(rw.readLock(0)).toBe(true) // nested: the writer waits for this very hold
    expect(() => rw.writeLock(1_000)).toThrow(DeadlockError)
    rw.readUnlock()
    rw.readUnlock()
    await results(workers)
    expect(entries(log)).toEqual([1])
    expect(rw.tryWriteLock()).toBe(true)
    rw.writeUnlock()
    expect(rw.stats().activeReaders).toBe(0)
  })

  it('RWLock { fair: true }: queued readers and a writer that die or time out leave the queue; the others are served', async () => {
    const rw = RWLock.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    rw.writeLock()
    const data = { handle: rw.handle, flags, log }
    const w1 = await queueWorkers(1, () => rw.queued, { ...data, kind: 'RWLockWrite' }, 'queueForever', 1)
    const r2 = await queueWorkers(1, () => rw.queued, { ...data, kind: 'RWLockRead', timeoutMs: 20 }, 'queueOnce', 2)
    const r3 = await queueWorkers(1, () => rw.queued, { ...data, kind: 'RWLockRead' }, 'queueForever', 3)
    const w4 = await queueWorkers(1, () => rw.queued, { ...data, kind: 'RWLockWrite' }, 'queueOnce', 4)
    await results(r2) // timed out while queued
    await w1[0]!.worker.terminate()
    await r3[0]!.worker.terminate()
    rw.writeUnlock()
    await results(w4)
    expect(entries(log)).toEqual([-2, 4])
    expect(rw.queued).toBe(0)
    expect(rw.tryWriteLock()).toBe(true)
    rw.writeUnlock()
  })

  it('deadlock detection reaches queued waiters: A holds a and queues for b behind another waiter, B holds b and waits for a: exactly one of A, B gets DeadlockError, the rest go on', async () => {
    const a = Mutex.create({ fair: true })
    const b = Mutex.create({ fair: true })
    const log = newLog()
    const flags = signals(8)
    const handles = [a.handle, b.handle]
    const A = spawn('holdThen', { kind: 'Mutex', handle: a.handle, handles, first: 0, flags, log, id: 1 }, FIXTURE)
    const B = spawn('holdThen', { kind: 'Mutex', handle: b.handle, handles, first: 1, flags, log, id: 2 }, FIXTURE)
    await pollUntil(() => Atomics.load(flags, 1) === 1 && Atomics.load(flags, 2) === 1, 'A holds a, B holds b')
    // W waits for b (no timeout: it publishes whom it waits for, and is in no cycle).
    const W = spawn('queueOnce', { kind: 'Mutex', handle: b.handle, flags, log, id: 3 }, FIXTURE)
    await pollUntil(() => b.queued === 1, 'W queued for b')
    Atomics.store(flags, 5, 1) // A: now take b (queued behind W)
    Atomics.notify(flags, 5)
    await pollUntil(() => b.queued === 2, 'A queued for b behind W')
    Atomics.store(flags, 6, 1) // B: now take a (closes the cycle)
    Atomics.notify(flags, 6)
    const out = (await results([A, B])) as { got?: boolean; error?: string; message?: string }[]
    await results([W])
    expect(out.filter((r) => r.error === 'DeadlockError')).toHaveLength(1)
    expect(out.filter((r) => r.got === true)).toHaveLength(1)
    expect(out.find((r) => r.error)!.message).toMatch(/waits for/)
    expect(entries(log)).toEqual([3])
    expect(a.queued + b.queued).toBe(0)
  })

  it('bad options are refused with OptionError; a fair handle attaches as fair; a handle claiming the fair size of a barging lock is refused', () => {
    expect(() => Mutex.create({ fair: 'yes' as unknown as boolean })).toThrow(OptionError)
    expect(() => Mutex.create(null as unknown as { fair: boolean })).toThrow(OptionError)
    expect(() => ReentrantMutex.create({ fair: 1 as unknown as boolean })).toThrow(OptionError)
    expect(() => Semaphore.create({ fair: 'no' as unknown as boolean })).toThrow(OptionError)
    expect(() => RWLock.create({ fair: 0 as unknown as boolean })).toThrow(OptionError)
    for (const readerSlots of [1, 64, 4096]) {
      const fairRw = RWLock.attach(RWLock.create({ fair: true, readerSlots }).handle)
      expect(fairRw.fair).toBe(true)
      expect(RWLock.attach(RWLock.create({ readerSlots }).handle).fair).toBe(false)
      expect(fairRw.tryReadLock()).toBe(true)
      fairRw.readUnlock()
    }
    expect(Mutex.attach(Mutex.create({ fair: true }).handle).fair).toBe(true)
    expect(ReentrantMutex.attach(ReentrantMutex.create({ fair: true }).handle).fair).toBe(true)
    expect(Semaphore.attach(Semaphore.create({ fair: true }).handle).fair).toBe(true)
    expect(Mutex.attach(Mutex.create({ fair: false }).handle).fair).toBe(false)
    const plain = Mutex.create().handle
    const fairSize = Mutex.create({ fair: true }).handle.byteLength
    expect(() => Mutex.attach({ ...plain, byteLength: fairSize })).toThrow(HandleError)
    const plainSem = Semaphore.create().handle
    expect(() => Semaphore.attach({ ...plainSem, byteLength: Semaphore.create({ fair: true }).handle.byteLength })).toThrow(HandleError)
  })
})
