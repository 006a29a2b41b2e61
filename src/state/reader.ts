/**
 * StateReader: one consumer's view of a StateBuffer, with its own notion of
 * "fresh" (a version it has not read yet) and "stale" (older than
 * `maxAgeMs`).
 *
 * @module
 */
import { OptionError, describe } from '../errors.js'
import { wallNow } from '../memory/clock.js'
import type { Infer, Schema } from './schema.js'
import { ReaderCounter } from './layout.js'
import type { StateView } from './view.js'

// Module-level primitives for the hot path: a property of an imported object
// is a lookup on every use (~1 ns each); a local const is folded.
const READS = ReaderCounter.READS
const FRESH = ReaderCounter.FRESH

/** Options of `buffer.reader()`. */
export interface ReaderOptions {
  /**
   * A state older than this (by its publication timestamp) is reported
   * stale. Without it nothing is ever stale, and reads skip the clock
   * (`readInto` then costs no clock read at all).
   */
  readonly maxAgeMs?: number
}

/** A state as read, with its version and publication metadata. */
export interface StateEntry<T> {
  /** The state. */
  readonly value: T
  /** Its version: 1 for the first publish, then +1 per publish. */
  readonly version: number
  /** When it was published, in ms since the epoch (a clock shared by all threads). */
  readonly timestamp: number
  /** Who published it, if the publish named a source. */
  readonly source: string | undefined
}

/** What {@link StateReader.read} returns. */
export interface ReadResult<T> extends StateEntry<T> {
  /** True if this reader had not read this version before. */
  readonly fresh: boolean
  /** True if older than the reader's `maxAgeMs`. */
  readonly stale: boolean
  /** Age of the state at the time of the read, in ms (NaN without `maxAgeMs` on `readInto`). */
  readonly ageMs: number
}

/**
 * A reader of a StateBuffer. Takes no lock, never blocks the writer, never
 * returns a torn state. Use one per consumer (it remembers the last version it
 * read); it belongs to the thread that made it.
 *
 * @example
 * ```ts
 * const reader = buffer.reader({ maxAgeMs: 20 })
 * const flat = new Float64Array(buffer.size)
 * setInterval(() => {
 *   const version = reader.readInto(flat)   // no allocation
 *   if (reader.stale) holdPosition()
 * }, 1)
 * ```
 */
export class StateReader<S extends Schema> {
  private readonly view: StateView
  private readonly maxAgeMs: number
  private readonly checksAge: boolean
  private readonly scratch: Float64Array
  // Hot-path copies of the view's fields (one property load each).
  private readonly f64: Float64Array
  private readonly size: number
  private readonly counters: number
  private readonly readLatest: (target: Float64Array) => number
  private readonly meta: Float64Array
  /** The buffer's words and the index of PUB in them (readNewInto's check). */
  private readonly words: Int32Array
  private readonly pubIndex: number
  private last = 0
  /** Whether the last read returned a version this reader had not seen. */
  fresh = false
  /** Whether the last read was older than `maxAgeMs`. */
  stale = false
  /** Age in ms of the last read state (NaN after `readInto` by a reader without `maxAgeMs`). */
  ageMs = Number.NaN
  /** Publication timestamp of the last read state (ms since the epoch). */
  timestamp = Number.NaN

  /** @internal use `buffer.reader()` */
  constructor(view: StateView, options: ReaderOptions = {}) {
    const { maxAgeMs } = options
    if (maxAgeMs !== undefined && !(typeof maxAgeMs === 'number' && maxAgeMs >= 0)) {
      throw new OptionError(`Expected \`maxAgeMs\` to be a number >= 0 or undefined, got ${describe(maxAgeMs)}`)
    }
    this.view = view
    this.maxAgeMs = maxAgeMs ?? Infinity
    this.checksAge = maxAgeMs !== undefined
    this.scratch = new Float64Array(view.codec.size)
    this.f64 = view.f64
    this.size = view.codec.size
    this.counters = view.counterSlot() // before taking readLatest: claiming a slot rebuilds it
    this.readLatest = view.readLatest
    this.meta = view.meta
    this.words = view.words
    this.pubIndex = view.ring.pubIndex
  }

  /** Version of the last state this reader read (0 before any). */
  get lastVersion(): number {
    return this.last
  }

  /**
   * The fast form: copies the latest state, flat (layout order: see
   * `buffer.fields`), into `target`. No allocation, no validation beyond the
   * torn-read check, no clock read unless the reader has `maxAgeMs`. Updates
   * `fresh`, `stale`, `ageMs` and `timestamp`.
   *
   * @returns the version read, 0 if nothing was published yet
   * @throws ThreadstateError after 10,000 retries in a row (a writer lapping
   *   the whole ring during every copy); `target` then holds garbage
   */
  readInto(target: Float64Array): number {
    if (target.length < this.size) {
      throw new OptionError(`Expected a target of at least ${this.size} Float64 words, got ${target.length}`)
    }
    const version = this.readLatest(target)
    if (version <= 0) {
      if (version === 0) return 0
      throw this.view.starved()
    }
    const meta = this.meta
    const timestamp = meta[0]!
    const tries = meta[2]!
    this.timestamp = timestamp
    if (this.checksAge) {
      this.ageMs = wallNow() - timestamp
      this.account(version, tries)
      return version
    }
    // No maxAgeMs: nothing is stale; count the read with the least work.
    const fresh = version !== this.last
    this.fresh = fresh
    this.last = version
    const c = this.counters
    if (c >= 0 && tries === 0) {
      const f = this.f64
      f[c + READS]!++
      if (fresh) f[c + FRESH]!++
    } else this.view.count(fresh, false, tries)
    return version
  }

  /**
   * {@link readInto} only when there is something new: if a version newer
   * than the last one this reader read was published since, copies it into
   * `target` and returns its version; else leaves `target` as it is and
   * returns 0, at the cost of one atomic load (no copy). For a loop that
   * polls faster than the writer publishes and keeps the last state in
   * `target` (a 1 kHz controller reading a 100 Hz estimator). `fresh`,
   * `stale`, `ageMs` and the read counters are updated as by `readInto`.
   *
   * @returns the version copied, 0 if nothing newer (or nothing yet)
   * @throws as {@link readInto}
   */
  readNewInto(target: Float64Array): number {
    const last = this.last
    // PUB holds the low 32 bits of the latest version: equal to the last one read, nothing is new.
    if (last === 0 || Atomics.load(this.words, this.pubIndex) !== (last | 0)) return this.readInto(target)
    if (this.checksAge) this.ageMs = wallNow() - this.timestamp
    this.account(last, 0)
    return 0
  }

  /**
   * The checked form: the latest state as an object, with freshness and age.
   * @returns undefined before the first publish
   */
  read(): ReadResult<Infer<S>> | undefined {
    const view = this.view
    const version = view.copyLatest(this.scratch)
    if (version === 0) return undefined
    this.timestamp = view.timestamp
    this.ageMs = wallNow() - view.timestamp
    this.account(version, view.tries)
    return {
      value: view.codec.decode(this.scratch, 0) as Infer<S>,
      version,
      timestamp: view.timestamp,
      source: view.sourceName(view.source),
      fresh: this.fresh,
      stale: this.stale,
      ageMs: this.ageMs,
    }
  }

  private account(version: number, tries: number): void {
    const fresh = version !== this.last
    const stale = this.ageMs > this.maxAgeMs
    this.fresh = fresh
    this.stale = stale
    this.last = version
    const c = this.counters
    if (c >= 0 && tries === 0) {
      // Own counter slot: plain writes, no other thread writes them.
      const f = this.f64
      f[c + ReaderCounter.READS]!++
      if (fresh) f[c + ReaderCounter.FRESH]!++
      if (stale) f[c + ReaderCounter.STALE]!++
    } else this.view.count(fresh, stale, tries)
  }
}
