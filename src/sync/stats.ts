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
 * ```
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
  /** Number of fields. */
  FIELDS: 8,
} as const

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
    return {
      acquisitions: f[Stat.ACQUISITIONS]!,
      contended: f[Stat.CONTENDED]!,
      timeouts: Atomics.load(this.timeouts, this.timeoutIndex),
      waitTotalMs: f[Stat.WAIT_TOTAL_MS]!,
      waitMaxMs: f[Stat.WAIT_MAX_MS]!,
      holdMaxMs: f[Stat.HOLD_MAX_MS]!,
      holdMeanMs: samples === 0 ? 0 : f[Stat.HOLD_TOTAL_MS]! / samples,
      holdSamples: samples,
      ownerDied: f[Stat.OWNER_DIED]!,
    }
  }
}
