/** Semaphore and Barrier across threads. */
import { describe, expect, it } from 'vitest'
import { Barrier, BarrierBrokenError, LockError, OptionError, Semaphore } from '../src/index.js'
import { run } from './helpers.js'

describe('Semaphore', () => {
  it('never more than `permits` holders across 4 workers', async () => {
    const permits = 2
    const s = Semaphore.create({ permits, max: permits })
    const data = new Int32Array(new SharedArrayBuffer(8))
    const results = await Promise.all(
      Array.from({ length: 4 }, () => run<{ over: number }>('semaphore', { handle: s.handle, data, iterations: 20_000, permits })),
    )
    expect(results.reduce((n, r) => n + r.over, 0)).toBe(0)
    expect(s.available).toBe(permits)
    expect(s.stats().acquires).toBe(80_000)
  })

  it('try, timed, async, n permits, and over-release', async () => {
    const s = Semaphore.create({ permits: 3, max: 3 })
    expect(s.tryAcquire(2)).toBe(true)
    expect(s.tryAcquire(2)).toBe(false)
    expect(s.acquire(2, 20)).toBe(false)
    expect(await s.acquireAsync(2, { timeoutMs: 20 })).toBe(false)
    s.release(2)
    expect(await s.acquireAsync(3)).toBe(true)
    s.release(3)
    expect(() => s.release()).toThrow(LockError)
    expect(() => s.acquire(0)).toThrow(OptionError)
    expect(() => s.acquire(4)).toThrow(/Expected `n` to be an integer from 1 to 3, got `4`/)
    expect(() => Semaphore.create({ permits: -1 })).toThrow(OptionError)
    expect(s.withPermits(() => 'x')).toBe('x')
    expect(await s.withPermitsAsync(async () => 'y', 2)).toBe('y')
    expect(s.stats().timeouts).toBe(2)
  })

  it('an aborted acquireAsync leaves no waiter behind; a waiter for 2 permits takes them when both are back', async () => {
    const s = Semaphore.create({ permits: 0 })
    const controller = new AbortController()
    const aborted = s.acquireAsync(1, { signal: controller.signal })
    expect(s.stats().waiting).toBe(1)
    setTimeout(() => controller.abort(new Error('stop waiting')), 20)
    await expect(aborted).rejects.toThrow('stop waiting')
    expect(s.stats()).toMatchObject({ waiting: 0, contended: 1, timeouts: 0 })
    const two = s.acquireAsync(2, { timeoutMs: 5_000 })
    s.release()
    s.release()
    expect(await two).toBe(true)
    expect(s.stats()).toMatchObject({ permits: 0, waiting: 0, acquires: 1 })
  })
})

describe('Barrier', () => {
  it('4 workers x 200 rounds: nobody passes early, one leader per round', async () => {
    const parties = 4
    const rounds = 200
    const b = Barrier.create({ parties })
    const data = new Int32Array(new SharedArrayBuffer(parties * 4))
    const results = await Promise.all(
      Array.from({ length: parties }, (_, id) =>
        run<{ early: number; leaders: number }>('barrier', { handle: b.handle, data, id, parties, rounds }),
      ),
    )
    expect(results.reduce((n, r) => n + r.early, 0)).toBe(0)
    expect(results.reduce((n, r) => n + r.leaders, 0)).toBe(rounds)
  })

  it('a party that times out breaks the barrier for the others; reset() repairs it', async () => {
    const b = Barrier.create({ parties: 2 })
    expect(b.wait(20)).toBeUndefined()
    expect(b.isBroken).toBe(true)
    expect(() => b.wait(20)).toThrow(BarrierBrokenError)
    b.reset()
    expect(b.isBroken).toBe(false)
    const other = Barrier.attach(b.handle)
    const first = b.waitAsync({ timeoutMs: 5_000 })
    const second = other.waitAsync({ timeoutMs: 5_000 })
    const passages = await Promise.all([first, second])
    expect(passages.filter((p) => p?.leader)).toHaveLength(1)
    expect(() => Barrier.create({ parties: 0 })).toThrow(OptionError)
  })

  it('an aborted party breaks the barrier too', async () => {
    const b = Barrier.create({ parties: 2 })
    const controller = new AbortController()
    const waiting = b.waitAsync({ signal: controller.signal })
    setTimeout(() => controller.abort(new Error('stop waiting')), 20)
    await expect(waiting).rejects.toThrow('stop waiting')
    expect(b.isBroken).toBe(true)
    await expect(Barrier.attach(b.handle).waitAsync({ timeoutMs: 20 })).rejects.toThrow(BarrierBrokenError)
  })
})
