/**
 * Contention statistics of a lock, kept in its shared region so that every
 * thread's acquisitions add up in one place.
 *
 * Near-free when not read: counters are plain Float64 fields written by the
 * thread that *holds* the lock (so no other thread writes them at the same
 * time, and the lock's own CASes order the writes), timestamps are taken only
 * on the slow path (a contended acquisition already costs microseconds) and,
 * for hold times, on 1 in {@link HOLD_SAMPLE_EVERY} uncontended acquisitions.
 * `stats()` reads the fields without the lock: figures may lag a moment, but a
 * stats read never slows the lock down.
 *
 * ```
 *  Float64 index (from the block start)
 *  0 ACQUISITIONS  1 CONTENDED  2 WAIT_TOTAL_MS  3 WAIT_MAX_MS
 *  4 HOLD_TOTAL_MS 5 HOLD_MAX_MS 6 HOLD_SAMPLES  7 OWNER_DIED
 *  8 .. 8+WAIT_BUCKETS-1   wait-time histogram of contended acquisitions
 *                          (bucket 0: < 1 µs; bucket k: [2^(k-1), 2^k) µs;
 *                           the last bucket also takes everything longer)
 * ```
 *
 * The histogram is log2-bucketed, like HdrHistogram at its coarsest or the
 * kernel's `bpftrace` `hist()`: one Float64 add per contended acquisition
 * (exact counts up to 2^53), and percentiles interpolated inside a bucket as
 * Prometheus' `histogram_quantile` does, so a reported percentile is within
 * a factor of 2 of the true one (and never above the recorded maximum).
 *
 * @module
 */
import { now } from '../memory/clock.js'

/** Float64 field indices of a stats block. */
export const Stat = {
  ACQUISITIONS: 0,
  CONTENDED: 1,
  WAIT_TOTAL_MS: 2,
  WAIT_MAX_MS: 3,
  HOLD_TOTAL_MS: 4,
  HOLD_MAX_MS: 5,
  HOLD_SAMPLES: 6,
  OWNER_DIED: 7,
  /** First bucket of the wait-time histogram. */
  WAIT_HISTOGRAM: 8,
  /** Number of fields. */
  FIELDS: 8 + 28,
} as const

/**
 * Buckets of the wait-time histogram: bucket 0 counts waits under 1 µs,
 * bucket k (1 <= k < WAIT_BUCKETS) waits in [2^(k-1), 2^k) µs; the last one
 * (from ~67 s) also counts anything longer.
 */
export const WAIT_BUCKETS = Stat.FIELDS - Stat.WAIT_HISTOGRAM

/** Bytes of a stats block. */
export const STATS_BYTES = Stat.FIELDS * 8

/** One uncontended acquisition in this many has its hold time measured. */
export const HOLD_SAMPLE_EVERY = 256

/** Figures of one lock, summed over every thread that used it. */
export interface LockStats {
  /** Successful acquisitions (outermost ones, for a reentrant mutex). */
  readonly acquisitions: number
  /** Acquisitions that found the lock taken and had to spin or sleep. */
  readonly contended: number
  /** Waits that gave up (timeout or abort) without the lock. */
  readonly timeouts: number
  /** Total time spent waiting by contended acquisitions, in ms. */
  readonly waitTotalMs: number
  /** Longest wait of one acquisition, in ms. */
  readonly waitMaxMs: number
  /**
   * Longest measured hold, in ms. Holds are measured for every contended
   * acquisition and 1 in 256 others, so a rare long uncontended hold may be
   * missed; `holdSamples` says how many were measured.
   */
  readonly holdMaxMs: number
  /** Mean measured hold time, in ms (0 before any sample). */
  readonly holdMeanMs: number
  /** How many holds were measured. */
  readonly holdSamples: number
  /** Acquisitions that took the lock over from a dead holder or found it poisoned. */
  readonly ownerDied: number
  /**
   * Median wait of a contended acquisition, in ms (0 before any). From a
   * log2 histogram: within a factor of 2 of the true value.
   */
  readonly waitP50Ms: number
  /** 90th percentile wait of a contended acquisition, in ms (see `waitP50Ms`). */
  readonly waitP90Ms: number
  /** 99th percentile wait of a contended acquisition, in ms (see `waitP50Ms`). */
  readonly waitP99Ms: number
  /**
   * The wait-time histogram of contended acquisitions: its non-empty
   * buckets, each with the upper bound of the waits it counts (`Infinity`
   * for the last one) and how many waits fell in it.
   */
  readonly waitHistogram: readonly WaitBucket[]
}

/** One non-empty bucket of a lock's wait-time histogram. */
export interface WaitBucket {
  /** Waits in this bucket lasted less than this many ms (and at least half of it, but for the first bucket). */
  readonly belowMs: number
  /** How many waits fell in it. */
  readonly count: number
}

/** Upper bound of bucket `k`, in ms. */
function bucketTopMs(k: number): number {
  return k === WAIT_BUCKETS - 1 ? Infinity : 2 ** k / 1000
}

/** Histogram bucket of a wait of `ms` milliseconds. */
export function waitBucketOf(ms: number): number {
  const us = ms * 1000
  if (!(us >= 1)) return 0
  // floor(log2(us)) + 1 for us >= 1, via the 32-bit count of leading zeros.
  const k = us >= 2 ** 31 ? WAIT_BUCKETS - 1 : 32 - Math.clz32(us)
  return k < WAIT_BUCKETS ? k : WAIT_BUCKETS - 1
}

/**
 * The `p` quantile (0..1) of the waits counted in `f`'s histogram, linearly
 * interpolated inside its bucket and capped at the recorded maximum.
 */
function waitQuantileMs(f: Float64Array, p: number, maxMs: number): number {
  let total = 0
  for (let k = 0; k < WAIT_BUCKETS; k++) total += f[Stat.WAIT_HISTOGRAM + k]!
  if (total === 0) return 0
  const rank = p * total
  let below = 0
  for (let k = 0; k < WAIT_BUCKETS; k++) {
    const n = f[Stat.WAIT_HISTOGRAM + k]!
    if (n > 0 && below + n >= rank) {
      const lo = k === 0 ? 0 : 2 ** (k - 1) / 1000
      const hi = k === WAIT_BUCKETS - 1 ? maxMs : bucketTopMs(k)
      return Math.min(maxMs, lo + (hi - lo) * ((rank - below) / n))
    }
    below += n
  }
  return maxMs
}

/**
 * One thread's recorder over a lock's stats block. Holds the thread-local
 * part (the hold-time start and the sampling counter).
 */
export class StatsRecorder {
  private readonly f: Float64Array
  private readonly timeouts: Int32Array
  private readonly timeoutIndex: number
  private holdStart = 0
  private sample = 0

  /**
   * @param f64 the block (Float64Array of {@link Stat.FIELDS} fields)
   * @param timeouts Int32 view holding the atomic timeout counter
   * @param timeoutIndex index of that counter
   */
  constructor(f64: Float64Array, timeouts: Int32Array, timeoutIndex: number) {
    this.f = f64
    this.timeouts = timeouts
    this.timeoutIndex = timeoutIndex
  }

  /** Records an uncontended acquisition. Call while holding the lock. */
  acquiredFast(): void {
    this.f[Stat.ACQUISITIONS]!++
    if (++this.sample === HOLD_SAMPLE_EVERY) {
      this.sample = 0
      this.holdStart = now()
    }
  }

  /** Records an acquisition that waited since `waitStart`. Call while holding. */
  acquiredSlow(waitStart: number, ownerDied: boolean): void {
    const t = now()
    const waited = t - waitStart
    const f = this.f
    f[Stat.ACQUISITIONS]!++
    f[Stat.CONTENDED]!++
    f[Stat.WAIT_TOTAL_MS]! += waited
    if (waited > f[Stat.WAIT_MAX_MS]!) f[Stat.WAIT_MAX_MS] = waited
    f[Stat.WAIT_HISTOGRAM + waitBucketOf(waited)]!++
    if (ownerDied) f[Stat.OWNER_DIED]!++
    this.holdStart = t
  }

  /** Records the end of a hold. Call while still holding, just before release. */
  releasing(): void {
    if (this.holdStart === 0) return
    const held = now() - this.holdStart
    this.holdStart = 0
    const f = this.f
    f[Stat.HOLD_TOTAL_MS]! += held
    f[Stat.HOLD_SAMPLES]!++
    if (held > f[Stat.HOLD_MAX_MS]!) f[Stat.HOLD_MAX_MS] = held
  }

  /** Records a wait that gave up. Safe without the lock. */
  timedOut(): void {
    Atomics.add(this.timeouts, this.timeoutIndex, 1)
  }

  /** Reads the figures. */
  read(): LockStats {
    const f = this.f
    const samples = f[Stat.HOLD_SAMPLES]!
    const waitMaxMs = f[Stat.WAIT_MAX_MS]!
    const waitHistogram: WaitBucket[] = []
    for (let k = 0; k < WAIT_BUCKETS; k++) {
      const count = f[Stat.WAIT_HISTOGRAM + k]!
      if (count > 0) waitHistogram.push({ belowMs: bucketTopMs(k), count })
    }
    return {
      acquisitions: f[Stat.ACQUISITIONS]!,
      contended: f[Stat.CONTENDED]!,
      timeouts: Atomics.load(this.timeouts, this.timeoutIndex),
      waitTotalMs: f[Stat.WAIT_TOTAL_MS]!,
      waitMaxMs,
      holdMaxMs: f[Stat.HOLD_MAX_MS]!,
      holdMeanMs: samples === 0 ? 0 : f[Stat.HOLD_TOTAL_MS]! / samples,
      holdSamples: samples,
      ownerDied: f[Stat.OWNER_DIED]!,
      waitP50Ms: waitQuantileMs(f, 0.5, waitMaxMs),
      waitP90Ms: waitQuantileMs(f, 0.9, waitMaxMs),
      waitP99Ms: waitQuantileMs(f, 0.99, waitMaxMs),
      waitHistogram,
    }
  }
}
