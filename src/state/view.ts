/**
 * One thread's view of a StateBuffer's memory: typed views, the compiled
 * schema, this thread's read-counter slot, and the validated copy that every
 * read path (readInto, read, latest, history, at) is built on. The protocol is
 * described in `layout.ts`.
 *
 * @module
 */
import { strongMemoryOrdering } from '#platform'
import { ThreadstateError } from '../errors.js'
import type { Domain } from '../memory/thread.js'
import type { Codec } from './codec.js'
import { SourceTable } from '../shared/sources.js'
import { MAX_RETRIES, Overflow, ReaderCounter, SlotMeta, StateArea, StateF64, StateWord } from './layout.js'

/** @internal */
export class StateView {
  readonly words: Int32Array
  readonly f64: Float64Array
  readonly bytes: Uint8Array
  private readonly big: BigInt64Array
  readonly codec: Codec
  readonly domain: Domain
  /** Ring length S (power of two) and S - 1. */
  readonly slots: number
  readonly mask: number
  /** Largest PUB advance during a copy that still proves the copy whole: S - 2. */
  readonly maxLag: number
  /** Float64 words per slot, and the Float64 index of slot 0. */
  readonly stride: number
  readonly ring: number
  /** Float64 index of this thread's counter slot, -1 when it has none. */
  private counters = -2
  /** Word this thread does its fence read-modify-write on. */
  private fenceWords: Int32Array
  private fenceIndex = 0
  /** Interned source names. */
  readonly sources: SourceTable

  /** Out-parameters of the generated read loop: [timestamp, source id, retries]. */
  readonly meta = new Float64Array(3)
  /** The generated read loop (layout.ts protocol, copy written out). */
  readLatest: (target: Float64Array, offset: number) => number
  /** Timestamp, source id and retries of the last successful copy. */
  timestamp = 0
  source = 0
  tries = 0

  constructor(buffer: SharedArrayBuffer, byteOffset: number, byteLength: number, codec: Codec, domain: Domain) {
    this.words = new Int32Array(buffer, byteOffset, byteLength >> 2)
    this.f64 = new Float64Array(buffer, byteOffset, byteLength >> 3)
    this.bytes = new Uint8Array(buffer, byteOffset, byteLength)
    this.big = new BigInt64Array(buffer, byteOffset, Overflow.RETRIES + 1)
    this.codec = codec
    this.domain = domain
    this.sources = new SourceTable(buffer, byteOffset, StateArea.SOURCES, StateWord.SOURCES_USED)
    this.slots = Atomics.load(this.words, StateWord.SLOTS)
    this.mask = this.slots - 1
    this.maxLag = this.slots - 2
    this.stride = SlotMeta.WORDS + codec.size
    this.ring = StateArea.RING / 8
    this.fenceWords = new Int32Array(new SharedArrayBuffer(4))
    this.readLatest = this.buildReadLatest()
  }

  /** Claims (once) this thread's counter slot; -1 if all are taken by live threads. */
  counterSlot(): number {
    if (this.counters !== -2) return this.counters
    const words = this.words
    const tid = this.domain.tid
    const first = StateArea.READERS / 4
    const stride = ReaderCounter.BYTES / 4
    let found = -1
    for (let k = 0; k < ReaderCounter.MAX && found < 0; k++) {
      if (Atomics.load(words, first + k * stride + ReaderCounter.OWNER) === tid) found = k
    }
    for (let k = 0; k < ReaderCounter.MAX && found < 0; k++) {
      const w = first + k * stride + ReaderCounter.OWNER
      const owner = Atomics.load(words, w)
      // A dead thread's slot is taken over; its counts stay (they are totals).
      if ((owner === 0 || this.domain.isDead(owner)) && Atomics.compareExchange(words, w, owner, tid) === owner) found = k
    }
    if (found >= 0) {
      this.fenceWords = words
      this.fenceIndex = first + found * stride + ReaderCounter.FENCE
      this.readLatest = this.buildReadLatest()
    }
    this.counters = found < 0 ? -1 : (StateArea.READERS + found * ReaderCounter.BYTES) / 8
    return this.counters
  }

  /**
   * Copies the latest state's payload into `target` at `offset` (and keeps its
   * metadata in `timestamp`/`source`/`tries`). Returns its version, 0 if
   * nothing was published yet. Throws after {@link MAX_RETRIES} retries in a
   * row (the writer lapping the ring during every copy).
   */
  copyLatest(target: Float64Array, offset: number): number {
    const version = this.readLatest(target, offset)
    if (version < 0) throw this.starved()
    const meta = this.meta
    this.timestamp = meta[0]!
    this.source = meta[1]!
    this.tries = meta[2]!
    return version
  }

  /** Builds the generated read loop over this thread's fence word. */
  private buildReadLatest(): (target: Float64Array, offset: number) => number {
    return this.codec.makeReadLatest({
      words: this.words,
      f64: this.f64,
      pubIndex: StateWord.PUB,
      ring: this.ring,
      stride: this.stride,
      mask: this.mask,
      maxLag: this.maxLag,
      slotMeta: SlotMeta,
      strong: strongMemoryOrdering,
      fenceWords: this.fenceWords,
      fenceIndex: this.fenceIndex,
      maxRetries: MAX_RETRIES,
      meta: this.meta,
    })
  }

  /**
   * Copies version `version` (payload into `target`), if it is still in the
   * ring. Returns false if it is not (too old, or not yet written).
   */
  copyVersion(version: number, target: Float64Array, offset: number): boolean {
    const f = this.f64
    const low = version % 4294967296 | 0
    const base = this.ring + (version % this.slots) * this.stride
    const p1 = Atomics.load(this.words, StateWord.PUB)
    if (((p1 - low) >>> 0) > this.maxLag) return false
    if (f[base] !== version) return false
    this.codec.copy(f, base + SlotMeta.WORDS, target, offset)
    const timestamp = f[base + SlotMeta.TIMESTAMP]!
    const source = f[base + SlotMeta.SOURCE]!
    const check = f[base]
    if (!strongMemoryOrdering) Atomics.exchange(this.fenceWords, this.fenceIndex, 0)
    if (((Atomics.load(this.words, StateWord.PUB) - low) >>> 0) > this.maxLag || check !== version) return false
    this.timestamp = timestamp
    this.source = source
    return true
  }

  /** Full version of the latest published state (0: none). */
  latestVersion(): number {
    const f = this.f64
    for (;;) {
      const p1 = Atomics.load(this.words, StateWord.PUB)
      const version = f[this.ring + (p1 & this.mask) * this.stride]!
      if (!strongMemoryOrdering) Atomics.exchange(this.fenceWords, this.fenceIndex, 0)
      if (((Atomics.load(this.words, StateWord.PUB) - p1) >>> 0) <= this.maxLag) return version
    }
  }

  /** The word this thread's fence read-modify-write goes to (after `counterSlot()`). */
  fence(): { words: Int32Array; index: number } {
    return { words: this.fenceWords, index: this.fenceIndex }
  }

  /** Adds one read to this thread's counters. */
  count(fresh: boolean, stale: boolean, tries: number): void {
    const c = this.counters === -2 ? this.counterSlot() : this.counters
    if (c >= 0) {
      const f = this.f64
      f[c + ReaderCounter.READS]!++
      if (fresh) f[c + ReaderCounter.FRESH]!++
      if (stale) f[c + ReaderCounter.STALE]!++
      if (tries !== 0) {
        f[c + ReaderCounter.RETRIES]! += tries
        if (tries > f[c + ReaderCounter.LONGEST_STREAK]!) f[c + ReaderCounter.LONGEST_STREAK] = tries
      }
      return
    }
    // No slot (more reader threads than slots): shared 64-bit counters.
    const big = this.big
    Atomics.add(big, Overflow.READS, 1n)
    if (fresh) Atomics.add(big, Overflow.FRESH, 1n)
    if (stale) Atomics.add(big, Overflow.STALE, 1n)
    if (tries !== 0) Atomics.add(big, Overflow.RETRIES, BigInt(tries))
  }

  /** Sums every thread's read counters. */
  readCounts(): { reads: number; fresh: number; stale: number; retries: number; longestRetryStreak: number } {
    const f = this.f64
    const big = this.big
    let reads = Number(Atomics.load(big, Overflow.READS))
    let fresh = Number(Atomics.load(big, Overflow.FRESH))
    let stale = Number(Atomics.load(big, Overflow.STALE))
    let retries = Number(Atomics.load(big, Overflow.RETRIES))
    let longest = 0
    for (let k = 0; k < ReaderCounter.MAX; k++) {
      const c = (StateArea.READERS + k * ReaderCounter.BYTES) / 8
      reads += f[c + ReaderCounter.READS]!
      fresh += f[c + ReaderCounter.FRESH]!
      stale += f[c + ReaderCounter.STALE]!
      retries += f[c + ReaderCounter.RETRIES]!
      longest = Math.max(longest, f[c + ReaderCounter.LONGEST_STREAK]!)
    }
    return { reads, fresh, stale, retries, longestRetryStreak: longest }
  }

  /** Name of interned source `id` (undefined for none). */
  sourceName(id: number): string | undefined {
    return this.sources.name(id)
  }

  /** Updates published so far (a plain read of the writer's counter). */
  updates(): number {
    return this.f64[StateF64.UPDATES]!
  }

  /** The error of a reader that could not get a whole copy. */
  starved(): ThreadstateError {
    return new ThreadstateError(
      `Expected a consistent copy of the state within ${MAX_RETRIES} retries, got the writer lapping the ring of ${this.slots} slots during every copy: ` +
        'give the buffer a larger `history`, or slow the writer',
    )
  }
}
