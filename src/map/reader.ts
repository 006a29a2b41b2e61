/**
 * The reading side of a SharedMap: optimistic lookups and copies validated by
 * the map's sequence word (the {@link SeqWord} of `sync/seqlock.ts`, which
 * owns the loop, the odd check and the ARM64 fence), then decoding.
 *
 * A reader looks the key up and copies what it needs while writers may be
 * changing the map: every offset it reads is bounds-checked before use and
 * every probe is bounded, so garbage read mid-commit makes the copy answer
 * {@link RETRY}, never throw or loop. Values are decoded only after the
 * sequence word proved the copy consistent: primitives are read directly,
 * MessagePack bytes are copied into a private scratch buffer
 * ({@link Pending}) and decoded from there. A reader that loses
 * {@link OPTIMISTIC_TRIES} tries in a row reads under the writers' lock, so
 * it is never starved (Linux's `read_seqbegin_or_lock`).
 *
 * @module
 */
import { ThreadstateError } from '../errors.js'
import { decodeRange, decodeRangeFrozen } from '../encoding/values.js'
import { atomicMax } from '../memory/atomics.js'
import { RETRY, type Retry, type SeqWord } from '../sync/seqlock.js'
import type { WriterLock } from '../sync/writer-lock.js'
import { FROZEN_CACHE_KEYS, FrozenCache } from './frozen-cache.js'
import { ARENA_START, Entry, MIN_TABLE, MapF64, MapWord, OPTIMISTIC_TRIES, Table, ValueTag, hashKey, valueOffset } from './layout.js'
import type { MapMemory } from './memory.js'
import { unitsToString } from './value.js'

/** A PACKED value copied into the reader's scratch, decoded once the copy is known to be consistent. */
export class Pending {
  constructor(
    readonly start: number,
    readonly length: number,
    /** ValueFlags of the value (does it hold Maps/Sets), for frozen decoding. */
    readonly flags: number,
  ) {}
}

/** A copied value (primitive or {@link Pending}) with its entry's version. */
interface Copied {
  readonly value: unknown
  readonly version: number
}

/** The consistent part of a map's figures (the rest are counters read on their own). */
export interface TableFigures {
  readonly size: number
  readonly version: number
  readonly writes: number
  readonly tableCapacity: number
  readonly usedBytes: number
  readonly freeBytes: number
}

/** One thread's reader of one map. */
export class MapReader {
  private readonly ctl: Int32Array
  private scratch = new Uint8Array(256)
  private scratchTop = 0
  /** This thread's frozen values for getFrozen(). */
  private readonly frozen = new FrozenCache(FROZEN_CACHE_KEYS)

  constructor(
    private readonly m: MapMemory,
    private readonly seq: SeqWord,
    private readonly lock: WriterLock,
  ) {
    this.ctl = m.ctl
  }

  /** Counts one lost try (and forgets what it copied). Bound once: passed to every read. */
  private readonly lostTry = (): void => {
    this.scratchTop = 0
    Atomics.add(this.ctl, MapWord.READ_RETRIES, 1)
  }

  // ---- the hot reads ----------------------------------------------------------------
  //
  // get and getFrozen write the loop of SeqWord.read out with its begin() and
  // validate() (the fence stays in seqlock.ts): through read() with an attempt
  // bound once per instance, key and hash passed in fields, get of a number
  // measured 8-11 % slower than before the split (~37 ns -> ~41 ns, three
  // interleaved runs), this way 1-3 %; the hot paths may lose at most 5 %.
  // The retry counting and the fallback are those of read().

  /** The value of `key` (a private copy), or undefined. */
  get(key: string): unknown {
    const hash = hashKey(key)
    const seq = this.seq
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s = seq.begin()
      if ((s & 1) === 0) {
        const value = this.copyValue(key, hash)
        if (value !== RETRY && seq.validate(s)) {
          if (tries > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return this.resolve(value)
        }
      }
      this.lostTry()
    }
    return this.read(
      () => this.copyValue(key, hash),
      (value) => this.resolve(value),
      OPTIMISTIC_TRIES,
    )
  }

  /**
   * The value of `key` deep-frozen, shared by every call in this thread until
   * the key is written again: an entry's version is that of the commit that
   * wrote it, and versions only grow, so (key, version) names one value for
   * ever and a cached value is returned only while the map holds that write.
   */
  getFrozen(key: string): unknown {
    const hash = hashKey(key)
    const seq = this.seq
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s = seq.begin()
      if ((s & 1) === 0) {
        const e = this.lookup(key, hash)
        let version = 0
        let value: unknown = RETRY
        let hit = false
        if (e === 0) value = undefined
        else if (e > 0) {
          version = this.m.f64[(e + Entry.VERSION) >> 3]!
          const cached = this.frozen.get(key, version)
          if (cached !== undefined) {
            value = cached.value
            hit = true
          } else {
            this.scratchTop = 0
            value = this.readValue(e)
          }
        }
        // SEQ unchanged: the entry (and so its version) was the committed one.
        if (value !== RETRY && seq.validate(s)) {
          if (tries > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return hit ? value : this.keepFrozen(key, version, value)
        }
      }
      this.lostTry()
    }
    return this.read(
      () => {
        const e = this.lookup(key, hash)
        return e <= 0 ? (e === 0 ? undefined : RETRY) : this.copyEntry(e)
      },
      (entry) => (entry === undefined ? undefined : this.keepFrozen(key, entry.version, entry.value)),
      OPTIMISTIC_TRIES,
    )
  }

  /** `key`'s value copied (primitives read, MessagePack bytes into the scratch), undefined if absent. */
  private copyValue(key: string, hash: number): unknown {
    const e = this.lookup(key, hash)
    this.scratchTop = 0
    return e > 0 ? this.readValue(e) : e === 0 ? undefined : RETRY
  }

  /** Decodes a validated copy frozen and caches it as `key`'s value at `version` (primitives pass through). */
  private keepFrozen(key: string, version: number, value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    const frozen = decodeRangeFrozen(this.scratch, value.start, value.start + value.length, value.flags)
    this.frozen.set(key, version, frozen)
    return frozen
  }

  // ---- the other reads ---------------------------------------------------------------

  /** Whether `key` is present. */
  has(key: string): boolean {
    const hash = hashKey(key)
    return this.read(
      () => {
        const e = this.lookup(key, hash)
        return e < 0 ? RETRY : e > 0
      },
      (found) => found,
    )
  }

  /** The value of `key` with its entry's version, or undefined. */
  getEntry(key: string): Copied | undefined {
    const hash = hashKey(key)
    return this.read(
      () => {
        const e = this.lookup(key, hash)
        if (e <= 0) return e === 0 ? undefined : RETRY
        return this.copyEntry(e)
      },
      (entry) => (entry === undefined ? undefined : { value: this.resolve(entry.value), version: entry.version }),
    )
  }

  /** The values of `keys`, all from one version (undefined where absent). */
  getMany(keys: readonly string[]): unknown[] {
    const hashes = keys.map(hashKey)
    return this.read(
      () => {
        const values: unknown[] = []
        for (let i = 0; i < keys.length; i++) {
          const e = this.lookup(keys[i]!, hashes[i]!)
          if (e < 0) return RETRY
          const value = e === 0 ? undefined : this.readValue(e)
          if (value === RETRY) return RETRY
          values.push(value)
        }
        return values
      },
      (values) => values.map((value) => this.resolve(value)),
    )
  }

  /** Every entry at one version, decoded. */
  snapshot(): Map<string, unknown> {
    return this.read(
      () => this.readAll(),
      (entries) => {
        const map = new Map<string, unknown>()
        for (const [key, value] of entries) map.set(key, this.resolve(value))
        return map
      },
    )
  }

  /** Every key at one version. */
  keys(): string[] {
    return this.read(
      () => this.readAll(true),
      (entries) => entries.map(([key]) => key),
    )
  }

  /** Number of entries. */
  size(): number {
    return this.read(
      () => this.ctl[MapWord.COUNT]!,
      (n) => n,
    )
  }

  /** Latest version. */
  version(): number {
    return this.read(
      () => this.m.ctlF64[MapF64.VERSION]!,
      (v) => v,
    )
  }

  /** The figures that must agree with each other, from one version. */
  figures(): TableFigures {
    return this.read(
      () => {
        const table = this.ctl[MapWord.TABLE]!
        const capacity = table === 0 ? 0 : this.m.d32[(table + Table.CAPACITY) >> 2]
        if (capacity === undefined) {
          this.stale()
          return RETRY
        }
        return {
          size: this.ctl[MapWord.COUNT]!,
          version: this.m.ctlF64[MapF64.VERSION]!,
          writes: this.m.ctlF64[MapF64.WRITES]!,
          tableCapacity: capacity,
          usedBytes: this.ctl[MapWord.TOP]! - ARENA_START,
          freeBytes: this.ctl[MapWord.FREE_BYTES]!,
        }
      },
      (r) => r,
    )
  }

  /**
   * The value and version of entry `e`, decoded, with the writers' lock held
   * (a transaction's read: nothing changes the map meanwhile).
   */
  entryLocked(e: number): Copied {
    this.scratchTop = 0
    const copied = this.copyEntry(e)
    if (copied === RETRY) throw corrupted()
    return { value: this.resolve(copied.value), version: copied.version }
  }

  // ---- the protocol --------------------------------------------------------------------

  /**
   * Runs `attempt` under the sequence word until it copies a consistent
   * state, then `finish` on its result outside it. After
   * {@link OPTIMISTIC_TRIES} lost tries (`lostBefore` more were lost by the
   * caller already) it runs `attempt` under the writers' lock instead.
   */
  read<R, T>(attempt: () => R | Retry, finish: (r: R) => T, lostBefore = 0): T {
    this.scratchTop = 0
    const r = this.seq.read(attempt, OPTIMISTIC_TRIES, this.lostTry)
    if (r !== RETRY) {
      const lost = lostBefore + this.seq.lost
      if (lost > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, lost)
      return finish(r)
    }
    atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, lostBefore + OPTIMISTIC_TRIES)
    this.lock.lock() // spins on a thread that may not block (Mutex.lockWriter)
    let locked: R | Retry
    try {
      Atomics.add(this.ctl, MapWord.LOCKED_READS, 1)
      this.m.refresh()
      this.scratchTop = 0
      locked = attempt()
    } finally {
      this.lock.unlock()
    }
    if (locked === RETRY) throw corrupted()
    return finish(locked)
  }

  /**
   * Entry offset of `key`: > 0 found, 0 absent, -1 the memory read is not a
   * consistent table (a writer is changing it, or the views are stale).
   * Every offset is bounds-checked before use and the probe is bounded.
   */
  private lookup(key: string, hash: number): number {
    const m = this.m
    const table = this.ctl[MapWord.TABLE]!
    if (table === 0) return 0
    let d32 = m.d32
    if (table < ARENA_START || table + Table.SLOTS > m.d8.length) return this.stale()
    const capacity = d32[(table + Table.CAPACITY) >> 2]!
    if (capacity < MIN_TABLE || (capacity & (capacity - 1)) !== 0 || table + Table.SLOTS + 8 * capacity > m.d8.length) return this.stale()
    d32 = m.d32
    const d16 = m.d16
    const limit = m.d8.length
    const mask = capacity - 1
    const slots = (table + Table.SLOTS) >> 2
    const n = key.length
    for (let probe = 0, i = hash & mask; probe < capacity; probe++, i = (i + 1) & mask) {
      const e = d32[slots + 2 * i + 1]!
      if (e === 0) return 0
      if (d32[slots + 2 * i] !== hash) continue
      if (e < ARENA_START || (e & 15) !== 0 || e + Entry.KEY + 2 * n > limit) return this.stale()
      if (d32[(e + Entry.KEY_LENGTH) >> 2] !== n) continue
      const k = (e + Entry.KEY) >> 1
      let same = true
      for (let j = 0; j < n; j++) {
        if (d16[k + j] !== key.charCodeAt(j)) {
          same = false
          break
        }
      }
      if (same) return e
    }
    return -1
  }

  /** Rebuilds the views if the buffer grew; either way the read is retried. @returns -1 (lookup's "retry") */
  private stale(): number {
    this.m.refresh()
    return -1
  }

  /** Value and version of entry `e`. */
  private copyEntry(e: number): Copied | Retry {
    const value = this.readValue(e)
    return value === RETRY ? RETRY : { value, version: this.m.f64[(e + Entry.VERSION) >> 3]! }
  }

  /**
   * Reads the value of entry `e`: primitives directly, PACKED bytes copied
   * into the scratch buffer (decoded by {@link resolve} after the check).
   */
  private readValue(e: number): unknown {
    const m = this.m
    const d32 = m.d32
    const keyLength = d32[(e + Entry.KEY_LENGTH) >> 2]!
    const length = d32[(e + Entry.VALUE_LENGTH) >> 2]!
    const tag = d32[(e + Entry.TAG) >> 2]! & 0xff
    if (tag <= ValueTag.TRUE) return tag === ValueTag.TRUE ? true : tag === ValueTag.FALSE ? false : tag === ValueTag.NULL ? null : undefined
    const at = e + valueOffset(keyLength)
    if (keyLength < 0 || length < 0 || at + length > m.d8.length) return RETRY
    if (tag === ValueTag.NUMBER) return m.f64[at >> 3]
    if (tag === ValueTag.STRING) return unitsToString(m.d16, at >> 1, length >> 1)
    if (tag !== ValueTag.PACKED) return RETRY
    const start = this.scratchTop
    if (this.scratch.length < start + length) {
      const bigger = new Uint8Array(Math.max(start + length, this.scratch.length * 2))
      bigger.set(this.scratch.subarray(0, start))
      this.scratch = bigger
    }
    if (length <= 64) {
      // A loop beats subarray() + set() (which allocates) for small values.
      const d8 = m.d8
      const scratch = this.scratch
      for (let i = 0; i < length; i++) scratch[start + i] = d8[at + i]!
    } else this.scratch.set(m.d8.subarray(at, at + length), start)
    this.scratchTop = start + length
    return new Pending(start, length, d32[(e + Entry.TAG) >> 2]! >>> 8)
  }

  private readKey(e: number): string | Retry {
    const m = this.m
    const n = m.d32[(e + Entry.KEY_LENGTH) >> 2]!
    if (n < 0 || e + Entry.KEY + 2 * n > m.d8.length) return RETRY
    return unitsToString(m.d16, (e + Entry.KEY) >> 1, n)
  }

  /** Every entry: [key, copied value] pairs (keys only if `keysOnly`). */
  readAll(keysOnly = false): [string, unknown][] | Retry {
    const m = this.m
    const out: [string, unknown][] = []
    const table = this.ctl[MapWord.TABLE]!
    if (table === 0) return out
    if (table < ARENA_START || table + Table.SLOTS > m.d8.length) {
      this.stale()
      return RETRY
    }
    const capacity = m.d32[(table + Table.CAPACITY) >> 2]!
    if (capacity < MIN_TABLE || (capacity & (capacity - 1)) !== 0 || table + Table.SLOTS + 8 * capacity > m.d8.length) {
      this.stale()
      return RETRY
    }
    const d32 = m.d32
    const slots = (table + Table.SLOTS) >> 2
    for (let i = 0; i < capacity; i++) {
      const e = d32[slots + 2 * i + 1]!
      if (e === 0) continue
      if (e < ARENA_START || (e & 15) !== 0 || e + Entry.KEY > m.d8.length) return RETRY
      const key = this.readKey(e)
      if (key === RETRY) return RETRY
      const value = keysOnly ? undefined : this.readValue(e)
      if (value === RETRY) return RETRY
      out.push([key, value])
    }
    return out
  }

  /** Decodes a {@link Pending} value from the (now validated) scratch copy; anything else is the value. */
  resolve(value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    return decodeRange(this.scratch, value.start, value.start + value.length)
  }
}

function corrupted(): ThreadstateError {
  return new ThreadstateError('Expected a well-formed map under its lock, got inconsistent memory: the map is corrupted')
}
