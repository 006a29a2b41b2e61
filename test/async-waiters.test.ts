/**
 * Issue 15 item 9: idle async waiters cost nothing while nothing changes.
 *
 * Before, every async wait (lockAsync, readLockAsync, acquireAsync,
 * waitAsync, waitForVersionAsync, Condition.waitAsync) re-checked its
 * condition at the end of every 50 ms slice: 1,000 lockAsync waiters on a
 * held mutex cost ~14 % of a core, 5,000 ~80 %. Now an async waiter sleeps
 * until a notify, a death marked in a joined domain (the DEATHS word is
 * watched once per thread) or a 10 s safety slice.
 *
 * - Idle: 5,000 waiters for 2 s. Counted by the number of async sleeps
 *   started (each is one re-check): the old polling slice (ASYNC_SLICE_MS =
 *   SLICE_MS, run once) made 93,301 of them and used 1,268 ms of CPU, this
 *   code 0 and 2 ms (the CPU time of the process is printed beside it).
 *   The same for 400 waiters each of readLockAsync, acquireAsync, Barrier
 *   waitAsync, waitForVersionAsync and Condition waitAsync: polling made
 *   30,825 re-checks and 784 ms of CPU, this code 0 and 3 ms.
 * - A holder's death still reaches async waiters at once, in the thread that
 *   marks it and in another thread: without the notify in `markDead` (a
 *   broken variant, run once) they waited for the 10 s slice (9.8-10.0 s)
 *   and both tests failed. So did the first version of this change, which
 *   ended a sleep woken by a death without going through its own
 *   `waitAsync`: the registration left behind took the release's
 *   notify(word, 1), and the 500 waiters of this thread waited 10 s.
 */
import { describe, expect, it } from 'vitest'
import { Barrier, Condition, Mutex, OwnerDiedError, RWLock, Semaphore, StateBuffer, f64, schema } from '../src/index.js'
import { MutexWord } from '../src/sync/robust-lock.js'
import { WAITERS } from '../src/sync/robust-word.js'
import { ASYNC_SLICE_MS, asyncSleepCount } from '../src/sync/wait.js'
import { pollUntil, signals, spawn, until } from './helpers.js'

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('idle async waiters (issue 15 item 9)', () => {
  it('5,000 lockAsync waiters on a held mutex re-check nothing while it stays held (the 50 ms slice made ~93,000 re-checks in 2 s), then all get it in turn', async () => {
    const m = Mutex.create()
    m.lock()
    const n = 5_000
    const start = asyncSleepCount()
    let acquired = 0
    const waits = Array.from({ length: n }, () =>
      m.lockAsync({ timeoutMs: 120_000 }).then((ok) => {
        if (ok) acquired++
        m.unlock()
      }),
    )
    await pollUntil(() => asyncSleepCount() - start >= n, 'every waiter asleep')
    await delay(100)
    const sleeps = asyncSleepCount()
    const cpu = process.cpuUsage()
    await delay(2_000)
    const used = process.cpuUsage(cpu)
    const rechecks = asyncSleepCount() - sleeps
    console.log(`${n} idle lockAsync waiters, 2 s: ${rechecks} re-checks, ${((used.user + used.system) / 1000).toFixed(0)} ms CPU`)
    expect(rechecks).toBeLessThan(n / 10) // polling: ~n * 2000 / 55
    expect(ASYNC_SLICE_MS).toBeGreaterThanOrEqual(5_000)
    m.unlock()
    await Promise.all(waits)
    expect(acquired).toBe(n)
  }, 60_000)

  it('the other async waits sleep too: 400 each of readLockAsync behind a writer, acquireAsync of a semaphore with no permits, Barrier waitAsync, waitForVersionAsync and Condition waitAsync re-check nothing in 2 s, then all finish', async () => {
    const n = 400
    const rw = RWLock.create()
    rw.writeLock()
    const sem = Semaphore.create({ permits: 0, max: n })
    const barrier = Barrier.create({ parties: n + 1 })
    const buffer = StateBuffer.create(schema({ x: f64() }))
    const mutex = Mutex.create()
    const condition = Condition.create()
    const start = asyncSleepCount()
    const opts = { timeoutMs: 120_000 }
    const waits: Promise<unknown>[] = []
    for (let i = 0; i < n; i++) {
      waits.push(rw.readLockAsync(opts).then(() => rw.readUnlock()))
      waits.push(sem.acquireAsync(1, opts))
      waits.push(barrier.waitAsync(opts))
      waits.push(buffer.waitForVersionAsync(1, opts))
      mutex.lock()
      waits.push(condition.waitAsync(mutex, opts).then(() => mutex.unlock()))
    }
    await pollUntil(() => asyncSleepCount() - start >= 5 * n, 'every waiter asleep')
    await delay(100)
    const sleeps = asyncSleepCount()
    const cpu = process.cpuUsage()
    await delay(2_000)
    const used = process.cpuUsage(cpu)
    const rechecks = asyncSleepCount() - sleeps
    console.log(`${5 * n} idle waiters of five kinds, 2 s: ${rechecks} re-checks, ${((used.user + used.system) / 1000).toFixed(0)} ms CPU`)
    expect(rechecks).toBeLessThan(n / 2) // polling: ~5n * 2000 / 55
    rw.writeUnlock()
    sem.release(n)
    expect(barrier.wait(5_000)).toMatchObject({ leader: true })
    buffer.publish({ x: 1 })
    condition.notifyAll()
    await Promise.all(waits)
  }, 60_000)

  it('a holder killed while 500 async waiters of this thread wait: the first gets OwnerDiedError, all get the lock, well within the safety slice', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdForever', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    const n = 500
    let died = 0
    let acquired = 0
    const waits = Array.from({ length: n }, () =>
      m.lockAsync({ timeoutMs: 60_000 }).then(
        (ok) => {
          if (ok) acquired++
          m.unlock()
        },
        (error: unknown) => {
          if (!(error instanceof OwnerDiedError)) throw error
          died++
          m.markConsistent()
          m.unlock()
        },
      ),
    )
    const words = new Int32Array(m.handle.buffer, m.handle.byteOffset, 8)
    await pollUntil(() => (Atomics.load(words, MutexWord.STATE) & WAITERS) !== 0, 'waiters asleep')
    await delay(100)
    const killed = performance.now()
    await holder.worker.terminate()
    await Promise.all(waits)
    const ms = performance.now() - killed
    expect(died).toBe(1)
    expect(acquired).toBe(n - 1)
    expect(ms).toBeLessThan(ASYNC_SLICE_MS / 2)
  }, 60_000)

  it('a holder killed while a worker waits with lockAsync: the death marked by this thread wakes the other thread at once', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdForever', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    const waiter = spawn<{ error?: string; ms: number; deadOwner?: number }>('lockAsyncAndReport', { handle: m.handle, flags, timeoutMs: 60_000 })
    await until(flags, 2, 1)
    const words = new Int32Array(m.handle.buffer, m.handle.byteOffset, 8)
    await pollUntil(() => (Atomics.load(words, MutexWord.STATE) & WAITERS) !== 0, 'the worker asleep')
    await delay(200)
    const killed = performance.now()
    await holder.worker.terminate()
    const outcome = await waiter.result
    const ms = performance.now() - killed
    expect(outcome.ok && outcome.value.error).toBe('OwnerDiedError')
    expect(ms).toBeLessThan(ASYNC_SLICE_MS / 2)
    await waiter.exited
  }, 60_000)
})
