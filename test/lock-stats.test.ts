/** The wait-time histogram of lock stats: bucketing and percentiles. */
import { describe, expect, it } from 'vitest'
import { Mutex } from '../src/index.js'
import { Stat, WAIT_BUCKETS, waitBucketOf } from '../src/sync/stats.js'
import { MutexWord } from '../src/sync/robust-lock.js'

describe('lock wait histogram', () => {
  it('buckets are powers of two in microseconds', () => {
    expect(waitBucketOf(0)).toBe(0)
    expect(waitBucketOf(0.0009)).toBe(0) // 0.9 µs
    expect(waitBucketOf(0.001)).toBe(1) // [1, 2) µs
    expect(waitBucketOf(0.0019)).toBe(1)
    expect(waitBucketOf(0.002)).toBe(2) // [2, 4) µs
    expect(waitBucketOf(1)).toBe(10) // 1000 µs in [512, 1024)
    expect(waitBucketOf(1.024)).toBe(11)
    expect(waitBucketOf(1e9)).toBe(WAIT_BUCKETS - 1)
    expect(waitBucketOf(Number.NaN)).toBe(0)
  })

  it('percentiles interpolate inside the bucket the rank falls in, capped at the maximum', () => {
    const m = Mutex.create()
    const f = new Float64Array(m.handle.buffer, m.handle.byteOffset + MutexWord.STATS_BYTE, Stat.FIELDS)
    // 90 waits in [8, 16) µs, 10 in [1024, 2048) µs; longest 1.5 ms.
    f[Stat.WAIT_HISTOGRAM + 4] = 90
    f[Stat.WAIT_HISTOGRAM + 11] = 10
    f[Stat.CONTENDED] = 100
    f[Stat.WAIT_MAX_MS] = 1.5
    const s = m.stats()
    expect(s.waitHistogram).toEqual([
      { belowMs: 0.016, count: 90 },
      { belowMs: 2.048, count: 10 },
    ])
    expect(s.waitP50Ms).toBeCloseTo(0.008 + 0.008 * (50 / 90), 9)
    expect(s.waitP90Ms).toBeCloseTo(0.016, 9)
    expect(s.waitP99Ms).toBe(1.5) // 1.024 + 1.024 * 0.9 = 1.946, capped at the maximum
  })

  it('an unused lock reports zeros', () => {
    const s = Mutex.create().stats()
    expect([s.waitP50Ms, s.waitP90Ms, s.waitP99Ms]).toEqual([0, 0, 0])
    expect(s.waitHistogram).toEqual([])
  })
})
