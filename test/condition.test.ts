/** Condition: producer/consumer across threads, no lost wake-up, no duplicate. */
import { describe, expect, it } from 'vitest'
import { Condition, LockError, Mutex } from '../src/index.js'
import { run, signals, spawn } from './helpers.js'

describe('Condition', () => {
  it('100k items from 2 producers to 2 consumers: each item exactly once', async () => {
    const mutex = Mutex.create()
    const notEmpty = Condition.create()
    const notFull = Condition.create()
    const capacity = 64
    const data = new Int32Array(new SharedArrayBuffer((4 + capacity) * 4))
    const total = 100_000
    const seen = new Uint8Array(new SharedArrayBuffer(total))
    const common = { mutex: mutex.handle, notEmpty: notEmpty.handle, notFull: notFull.handle, data, capacity }
    const producers = [0, 1].map((p) => run<number>('produce', { ...common, first: p * (total / 2), count: total / 2 }))
    const consumers = [0, 1].map(() => run<{ taken: number; duplicates: number }>('consume', { ...common, seen, total }))
    const produced = await Promise.all(producers)
    const consumed = await Promise.all(consumers)
    expect(produced.reduce((a, b) => a + b, 0)).toBe(total)
    expect(consumed.reduce((n, c) => n + c.taken, 0)).toBe(total)
    expect(consumed.reduce((n, c) => n + c.duplicates, 0)).toBe(0)
    expect(seen.every((v) => v === 1)).toBe(true)
    expect(notEmpty.stats().waiting).toBe(0)
  })

  it('wait() needs the mutex held; a timed wait returns false in time', () => {
    const m = Mutex.create()
    const c = Condition.create()
    expect(() => c.wait(m, 10)).toThrow(LockError)
    m.lock()
    const start = performance.now()
    expect(c.wait(m, 30)).toBe(false)
    expect(performance.now() - start).toBeGreaterThanOrEqual(29)
    expect(m.isHeldByCurrentThread).toBe(true) // re-acquired
    expect(c.waitFor(m, () => false, 20)).toBe(false)
    m.unlock()
    expect(c.stats().timeouts).toBeGreaterThanOrEqual(2)
  })

  it('waitAsync is woken by a notify from another thread', async () => {
    const m = Mutex.create()
    const c = Condition.create()
    const box = new Int32Array(new SharedArrayBuffer(4 + 64 * 4 + 16))
    const flags = signals()
    await m.lockAsync()
    const waiting = c.waitForAsync(m, () => box[2]! > 0, { timeoutMs: 10_000 })
    // A producer thread puts one item and notifies.
    const producer = spawn('produce', {
      mutex: m.handle,
      notEmpty: c.handle,
      notFull: Condition.create().handle,
      data: box,
      first: 5,
      count: 1,
      capacity: 64,
      flags,
    })
    expect(await waiting).toBe(true)
    expect(box[4]).toBe(5)
    m.unlock()
    await producer.result
  })
})
