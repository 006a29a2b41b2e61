/** Mutex and ReentrantMutex on one thread and across threads. */
import { describe, expect, it } from 'vitest'
import { DeadlockError, LockError, Mutex, OptionError, ReentrantMutex, TimeoutError } from '../src/index.js'
import { raise, run, signals, spawn, until } from './helpers.js'

describe('Mutex, one thread', () => {
  it('lock, unlock, tryLock, holder and isLocked', () => {
    const m = Mutex.create()
    expect(m.isLocked).toBe(false)
    expect(m.lock()).toBe(true)
    expect(m.isLocked).toBe(true)
    expect(m.isHeldByCurrentThread).toBe(true)
    expect(m.holder).toBeGreaterThan(0)
    m.unlock()
    expect(m.tryLock()).toBe(true)
    m.unlock()
    expect(m.isLocked).toBe(false)
  })

  it('re-locking from the holding thread throws DeadlockError at once (seed 003)', () => {
    const m = Mutex.create()
    m.lock()
    const start = performance.now()
    expect(() => m.lock()).toThrow(DeadlockError)
    expect(() => m.lock(10_000)).toThrow(/held by this very thread/)
    expect(() => m.tryLock()).toThrow(DeadlockError)
    expect(performance.now() - start).toBeLessThan(5_000) // never a hang
    m.unlock()
  })

  it('unlock of a free mutex throws LockError', () => {
    const m = Mutex.create()
    expect(() => m.unlock()).toThrow(LockError)
    expect(() => m.unlock()).toThrow(/Expected unlock\(\) by the thread holding the mutex .* got a mutex that nobody holds/)
  })

  it('bad timeouts are OptionErrors, even when the lock is free', () => {
    const m = Mutex.create()
    expect(() => m.lock(-1)).toThrow(OptionError)
    expect(() => m.lock(Number.NaN)).toThrow(/Expected `timeoutMs` to be a number >= 0 or undefined, got `NaN` \(number\)/)
    expect(() => m.lock('5' as never)).toThrow(OptionError)
    expect(m.isLocked).toBe(false)
  })

  it('withLock releases after a throw; guard releases at the end of a using block', () => {
    const m = Mutex.create()
    expect(m.withLock(() => 7)).toBe(7)
    expect(() =>
      m.withLock(() => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(m.isLocked).toBe(false)
    {
      using _held = m.guard()
      expect(m.isHeldByCurrentThread).toBe(true)
    }
    expect(m.isLocked).toBe(false)
  })

  it('withLockAsync runs async bodies and two tasks of one thread exclude each other', async () => {
    const m = Mutex.create()
    const order: string[] = []
    const a = m.withLockAsync(async () => {
      order.push('a-in')
      await new Promise((r) => setTimeout(r, 20))
      order.push('a-out')
    })
    const b = m.withLockAsync(async () => {
      order.push('b-in')
      order.push('b-out')
    })
    await Promise.all([a, b])
    expect(order).toEqual(['a-in', 'a-out', 'b-in', 'b-out'])
  })

  it('lockAsync behind a lock this thread holds: waits, acquires on unlock, gives up on abort and timeout', async () => {
    const m = Mutex.create()
    m.lock()
    // Asleep at once (lockAsync has set WAITERS and gone to sleep before it returns): unlock wakes it.
    const waiting = m.lockAsync({ timeoutMs: 5_000 })
    m.unlock()
    expect(await waiting).toBe(true)
    const controller = new AbortController()
    const aborted = m.lockAsync({ signal: controller.signal })
    setTimeout(() => controller.abort(new Error('stop waiting')), 20)
    await expect(aborted).rejects.toThrow('stop waiting')
    expect(await m.lockAsync({ timeoutMs: 20 })).toBe(false)
    expect(m.isHeldByCurrentThread).toBe(true) // still ours: giving up took nothing
    m.unlock()
    expect(m.stats()).toMatchObject({ acquisitions: 2, contended: 1, timeouts: 2 })
    expect(m.tryLock()).toBe(true)
    m.unlock()
  })

  it('stats count acquisitions', () => {
    const m = Mutex.create()
    for (let i = 0; i < 1000; i++) m.withLock(() => {})
    const s = m.stats()
    expect(s.acquisitions).toBe(1000)
    expect(s.contended).toBe(0)
    expect(s.timeouts).toBe(0)
  })
})

describe('ReentrantMutex', () => {
  it('nests: released only when every lock() is matched', () => {
    const m = ReentrantMutex.create()
    const trigger = (): void => m.withLock(() => {})
    m.withLock(() => {
      trigger() // the seed-003 pattern: no deadlock
      expect(m.depth).toBe(1)
      m.lock()
      expect(m.depth).toBe(2)
      m.unlock()
    })
    expect(m.isLocked).toBe(false)
    expect(m.depth).toBe(0)
    expect(() => m.unlock()).toThrow(LockError)
    expect(m.stats().acquisitions).toBe(1)
  })
})

describe('Mutex across threads', () => {
  it('timed lock returns false in time while another thread holds it', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdUntil', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    const start = performance.now()
    expect(m.lock(100)).toBe(false)
    const waited = performance.now() - start
    expect(waited).toBeGreaterThanOrEqual(99)
    expect(waited).toBeLessThan(2_000)
    expect(m.tryLock()).toBe(false)
    expect(await m.lockAsync({ timeoutMs: 50 })).toBe(false)
    expect(() => m.withLock(() => {}, 20)).toThrow(TimeoutError)
    expect(m.stats().timeouts).toBe(3)
    raise(flags, 1)
    expect((await holder.result).ok).toBe(true)
    expect(m.lock(5_000)).toBe(true)
    m.unlock()
  })

  it('lockAsync lets timers keep ticking while it waits, then acquires', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdUntil', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    let ticks = 0
    const timer = setInterval(() => {
      ticks++
      if (ticks === 5) raise(flags, 1) // the holder lets go only after 5 ticks
    }, 5)
    const acquired = await m.lockAsync({ timeoutMs: 10_000 })
    clearInterval(timer)
    expect(acquired).toBe(true)
    expect(ticks).toBeGreaterThanOrEqual(5)
    m.unlock()
    await holder.exited
  })

  it('lockAsync rejects with the signal reason when aborted', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdUntil', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    const controller = new AbortController()
    const pending = m.lockAsync({ signal: controller.signal })
    setTimeout(() => controller.abort(new Error('stop waiting')), 20)
    await expect(pending).rejects.toThrow('stop waiting')
    raise(flags, 1)
    await holder.exited
  })

  it('stats keep a histogram of contended waits, with percentiles', async () => {
    const m = Mutex.create()
    const flags = signals()
    const holder = spawn('holdUntil', { kind: 'Mutex', handle: m.handle, flags })
    await until(flags, 0, 1)
    setTimeout(() => raise(flags, 1), 30)
    expect(await m.lockAsync({ timeoutMs: 10_000 })).toBe(true)
    m.unlock()
    await holder.exited
    const s = m.stats()
    expect(s.contended).toBe(1)
    expect(s.waitMaxMs).toBeGreaterThanOrEqual(25)
    expect(s.waitHistogram).toHaveLength(1)
    const [bucket] = s.waitHistogram
    expect(bucket!.count).toBe(1)
    // The bucket holds the wait: [belowMs / 2, belowMs).
    expect(bucket!.belowMs).toBeGreaterThan(s.waitMaxMs)
    expect(bucket!.belowMs / 2).toBeLessThanOrEqual(s.waitMaxMs)
    // One sample: every percentile lies in its bucket and never above the maximum.
    for (const p of [s.waitP50Ms, s.waitP90Ms, s.waitP99Ms]) {
      expect(p).toBeGreaterThanOrEqual(bucket!.belowMs / 2)
      expect(p).toBeLessThanOrEqual(s.waitMaxMs)
    }
  })

  it('unlock() by a thread that does not hold it throws LockError', async () => {
    const m = Mutex.create()
    m.lock()
    const result = await run<string>('unlockForeign', { kind: 'Mutex', handle: m.handle })
    expect(result).toMatch(/^LockError: .*held by thread \d+/)
    expect(m.isHeldByCurrentThread).toBe(true)
    m.unlock()
  })
})
