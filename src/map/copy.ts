/**
 * Copying out of a SharedMap's memory without trusting it: the lookup and
 * copy steps of a read (`reader.ts` decides when a copy counts).
 *
 * They run while writers may be changing the map, so every offset is
 * bounds-checked before use and every probe is bounded: garbage read
 * mid-commit makes a step answer "retry" (-1 from {@link MapCopier.lookup},
 * {@link RETRY} from the others), never throw or loop. Values come out as
 * primitives, or as MessagePack bytes copied into a private scratch buffer
 * ({@link Pending}), decoded only after the reader validated the copy.
 *
 * @module
 */
import { decodeRange, decodeRangeFrozen } from '../encoding/values.js'
import { RETRY as SEQLOCK_RETRY, type Retry } from '../sync/seqlock.js'
import { ARENA_START, Entry, MIN_TABLE, MapWord, Table, ValueTag, valueOffset } from './layout.js'
import type { MapMemory } from './memory.js'
import { unitsToString } from './value.js'

/** seqlock.ts's RETRY as a constant of this module: compared by reference when optimized (see reader.ts). */
const RETRY: Retry = SEQLOCK_RETRY

/** A PACKED value copied into the scratch, decoded once the copy is known to be consistent. */
export class Pending {
  constructor(
    readonly start: number,
    readonly length: number,
    /** ValueFlags of the value (does it hold Maps/Sets), for frozen decoding. */
    readonly flags: number,
  ) {}
}

/** A copied value (primitive or {@link Pending}) with its entry's version. */
export interface Copied {
  readonly value: unknown
  readonly version: number
}

/** One thread's copy steps over one map, with the scratch buffer they fill. */
export class MapCopier {
  private scratch = new Uint8Array(256)
  private top = 0

  constructor(private readonly m: MapMemory) {}

  /** Starts a copy: the scratch is reused from its start. */
  rewind(): void {
    this.top = 0
  }

  /**
   * Entry offset of `key`: > 0 found, 0 absent, -1 the memory read is not a
   * consistent table (a writer is changing it, or the views are stale).
   */
  lookup(key: string, hash: number): number {
    const m = this.m
    const table = m.ctl[MapWord.TABLE]!
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

  /** `key`'s value copied, undefined if absent. */
  valueOf(key: string, hash: number): unknown {
    const e = this.lookup(key, hash)
    this.top = 0
    return e > 0 ? this.value(e) : e === 0 ? undefined : RETRY
  }

  /** Value and version of entry `e`. */
  entry(e: number): Copied | Retry {
    const value = this.value(e)
    return value === RETRY ? RETRY : { value, version: this.m.f64[(e + Entry.VERSION) >> 3]! }
  }

  /** Version of entry `e` (the commit that wrote it). */
  version(e: number): number {
    return this.m.f64[(e + Entry.VERSION) >> 3]!
  }

  /** The value of entry `e`: primitives read directly, PACKED bytes copied into the scratch. */
  value(e: number): unknown {
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
    const start = this.top
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
    this.top = start + length
    return new Pending(start, length, d32[(e + Entry.TAG) >> 2]! >>> 8)
  }

  private key(e: number): string | Retry {
    const m = this.m
    const n = m.d32[(e + Entry.KEY_LENGTH) >> 2]!
    if (n < 0 || e + Entry.KEY + 2 * n > m.d8.length) return RETRY
    return unitsToString(m.d16, (e + Entry.KEY) >> 1, n)
  }

  /** Slots of the table (0: none). */
  tableCapacity(): number | Retry {
    const table = this.m.ctl[MapWord.TABLE]!
    const capacity = table === 0 ? 0 : this.m.d32[(table + Table.CAPACITY) >> 2]
    if (capacity !== undefined) return capacity
    this.stale()
    return RETRY
  }

  /** Every entry: [key, copied value] pairs (keys only if `keysOnly`). */
  all(keysOnly = false): [string, unknown][] | Retry {
    const m = this.m
    const out: [string, unknown][] = []
    const table = m.ctl[MapWord.TABLE]!
    if (table === 0) return out
    const capacity = table < ARENA_START || table + Table.SLOTS > m.d8.length ? 0 : m.d32[(table + Table.CAPACITY) >> 2]!
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
      const key = this.key(e)
      if (key === RETRY) return RETRY
      const value = keysOnly ? undefined : this.value(e)
      if (value === RETRY) return RETRY
      out.push([key, value])
    }
    return out
  }

  /** Decodes a {@link Pending} value from the (now validated) scratch; anything else is the value. */
  resolve(value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    return decodeRange(this.scratch, value.start, value.start + value.length)
  }

  /** Decodes a {@link Pending} value deep-frozen. */
  resolveFrozen(value: Pending): unknown {
    return decodeRangeFrozen(this.scratch, value.start, value.start + value.length, value.flags)
  }
}
