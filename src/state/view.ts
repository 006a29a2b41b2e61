/**
 * One thread's view of a StateBuffer's memory: typed views, the compiled
 * schema, this thread's read-counter slot, and the validated copies every
 * read path (readInto, read, latest, history, at) is built on. They all read
 * through the one protocol of `sync/seqlock.ts` (VersionRing); the layout is
 * in `layout.ts`.
 *
 * @module
 */
import { ThreadstateError } from '../errors.js'
import type { Domain } from '../memory/thread.js'
import { ReadFence, RETRY, VersionRing } from '../sync/seqlock.js'
import type { Codec } from './codec.js'
import { SourceTable } from '../memory/sources.js'
import { MAX_RETRIES, Overflow, ReaderCounter, SlotMeta, StateArea, StateF64, StateWord } from './layout.js'

/** Timestamp and source id of a copied slot. */
export interface SlotStamp {
  readonly timestamp: number
  readonly source: number
}

/** @internal */
export class StateView {
  readonly words: Int32Array
  readonly f64: Float64Array
  readonly bytes: Uint8Array
  private readonly big: BigInt64Array
  readonly codec: Codec
  readonly domain: Domain
  /** Ring length S (a power of two). */
  readonly slots: number
  /** Float64 words per slot, and the Float64 index of slot 0. */
  readonly stride: number
  readonly ringStart: number
  /** PUB and the ring of slots: the read protocol, and the writer's publication. */
  readonly ring: VersionRing
  /** This thread's barrier: on a private word until it claims a counter slot, then on the slot's FENCE word. */
  private readonly fence = new ReadFence()
  /** Float64 index of this thread's counter slot, -1 when it has none. */
  private counters = -2
  /** Interned source names. */
  readonly sources: SourceTable

  /** Out-parameters of the generated read loop: [timestamp, source id, retries]. */
  readonly meta = new Float64Array(3)
  /** The generated read loop (VersionRing's loop around the codec's written-out copy). */
  readLatest: (target: Float64Array) => number
  /** Timestamp, source id and retries of the last {@link copyLatest}. */
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
    this.stride = SlotMeta.WORDS + codec.size
    this.ringStart = StateArea.RING / 8
    this.ring = new VersionRing(this.words, StateWord.PUB, StateWord.WAITERS, this.slots, this.fence)
    this.ring.layOutSlots(this.f64, this.ringStart, this.stride)
    this.readLatest = this.buildReadLatest()
  }

  /** Float64 index of the slot of version (or PUB value) `v`. */
  slotOf(v: number): number {
    return this.ringStart + (v & this.ring.mask) * this.stride
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
      // OWNER is not counted as a word naming its thread (memory/thread.ts):
      // a thread given a dead thread's reused id may continue its slot (found
      // by the loop above) while another takes the slot over, and both then
      // add to its statistics; the fence word is an atomic read-modify-write
      // either way, so reads stay correct.
      if ((owner === 0 || this.domain.isDead(owner)) && Atomics.compareExchange(words, w, owner, tid) === owner) found = k
    }
    if (found >= 0) {
      // The fence's read-modify-write goes to a word of this thread's own
      // cache line from now on; the generated loop inlines the fence word, so
      // it is built again.
      this.fence.moveTo(words, first + found * stride + ReaderCounter.FENCE)
      this.readLatest = this.buildReadLatest()
    }
    this.counters = found < 0 ? -1 : (StateArea.READERS + found * ReaderCounter.BYTES) / 8
    return this.counters
  }

  /**
   * Copies the latest state's payload into `target` from index 0 (and keeps its
   * metadata in `timestamp`/`source`/`tries`). Returns its version, 0 if
   * nothing was published yet. Throws after {@link MAX_RETRIES} retries in a
   * row (the writer lapping the ring during every copy).
   */
  copyLatest(target: Float64Array): number {
    const version = this.readLatest(target)
    if (version < 0) throw this.starved()
    const meta = this.meta
    this.timestamp = meta[0]!
    this.source = meta[1]!
    this.tries = meta[2]!
    return version
  }

  /**
   * Builds the read loop of {@link readLatest}: VersionRing's loop, whose
   * copy step reads the slot's version, its payload (the codec's written-out
   * copy), timestamp and source; a whole copy leaves [timestamp, source id,
   * retries] in {@link meta} and returns the version (0: nothing published).
   */
  private buildReadLatest(): (target: Float64Array) => number {
    const codec = this.codec
    return this.ring.compileReadLoop({
      maxRetries: MAX_RETRIES,
      copy: (word) =>
        [
          `const v = ${word(SlotMeta.VERSION)};`,
          codec.copySource(word, SlotMeta.WORDS),
          `const ts = ${word(SlotMeta.TIMESTAMP)};`,
          `const src = ${word(SlotMeta.SOURCE)};`,
        ].join('\n'),
      accept: 'meta[0] = ts; meta[1] = src; meta[2] = tries;',
      result: 'v',
      extra: { meta: this.meta },
    })
  }

  /**
   * Generates the locked part of a write, for a writer that holds the
   * writers' lock and read PUB = `pub` (`ring.published()`): copies the
   * flat state `s` into the slot of `pub + 1`, writes the slot's version and
   * timestamp `ts`, and returns the version. The caller then writes the
   * slot's source id, counts the update and publishes (`ring.advance(pub)`).
   *
   * `checked` (the flat write, `publishFrom`): checks each word as it copies
   * it (the codec's `writeFlatSource`: each word read once, so a view of
   * shared memory that changes meanwhile cannot slip an unchecked word in).
   * A refused word throws SchemaError with nothing published: the slot of
   * `pub + 1` is the one the protocol counts as being written while PUB =
   * pub (a reader's copy of it is never accepted), and the next write fills
   * it in full. Unchecked (`publish`): `s` is a scratch state `validateInto`
   * wrote.
   */
  compileWrite(checked: boolean): (s: Float64Array, pub: number, ts: number) => number {
    const ring = this.ring
    const next = ring.slotSource('d', 'pub + 1')
    const prev = ring.slotSource('p', 'pub')
    const body = [
      next.decl,
      prev.decl,
      `const version = ${prev.word(SlotMeta.VERSION)} + 1;`,
      checked ? this.codec.writeFlatSource(next.word, SlotMeta.WORDS) : this.codec.storeSource(next.word, SlotMeta.WORDS),
      `${next.word(SlotMeta.VERSION)} = version;`,
      `${next.word(SlotMeta.TIMESTAMP)} = ts;`,
      'return version;',
    ].join('\n')
    return ring.compile('s, pub, ts', body, checked ? this.codec.flatScope : {})
  }

  /**
   * Copies version `version` (payload into `target` at `offset`) if it is
   * still in the ring: its timestamp and source id, or undefined if it is not
   * (too old, not yet published, or overwritten during the copy).
   */
  copyVersion(version: number, target: Float64Array, offset: number): SlotStamp | undefined {
    const f = this.f64
    // The PUB value version was published at (DELTA is 0 unless a mirror's publish jumped;
    // a stale DELTA names a wrong slot, which the version check below refuses).
    const pub = (version - Atomics.load(this.words, StateWord.DELTA)) | 0
    const base = this.slotOf(pub)
    return this.ring.readVersion(pub, () => {
      if (f[base + SlotMeta.VERSION] !== version) return RETRY
      this.codec.copy(f, base + SlotMeta.WORDS, target, offset)
      return { timestamp: f[base + SlotMeta.TIMESTAMP]!, source: f[base + SlotMeta.SOURCE]! }
    })
  }

  /** Full version of the latest published state (0: none). */
  latestVersion(): number {
    return this.ring.read(this.slotVersion, Infinity) as number
  }

  /** Copy step of {@link latestVersion}: the version in the slot of PUB value `p`. */
  private readonly slotVersion = (p: number): number => this.f64[this.slotOf(p) + SlotMeta.VERSION]!

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
