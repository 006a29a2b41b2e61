/**
 * How a SharedMap stores one value: primitives inline (a Float64, UTF-16
 * code units, or just a tag), anything else as MessagePack through
 * `encoding/values.ts`. Inline primitives are read back without calling the
 * codec, which is most of what keeps `get` of a small value in the tens of
 * nanoseconds. Also the shape of a commit's changes, prepared values by key.
 *
 * @module
 */
import { OptionError, describe } from '../errors.js'
import { encodeWithFlags } from '../encoding/values.js'
import { checkKey, type SetManyOptions } from './api.js'
import { ValueTag } from './layout.js'

/** A value checked and encoded, ready to be written by a commit (outside the lock). */
export interface Prepared {
  /** {@link ValueTag}. */
  readonly tag: number
  /** ValueFlags of a PACKED value, else 0. */
  readonly flags: number
  /** Bytes the value takes in an entry. */
  readonly length: number
  /** The NUMBER. */
  readonly number: number
  /** The STRING. */
  readonly string: string
  /** The PACKED bytes. */
  readonly bytes: Uint8Array | undefined
}

const UNDEFINED: Prepared = { tag: ValueTag.UNDEFINED, flags: 0, length: 0, number: 0, string: '', bytes: undefined }
const NULL: Prepared = { ...UNDEFINED, tag: ValueTag.NULL }
const FALSE: Prepared = { ...UNDEFINED, tag: ValueTag.FALSE }
const TRUE: Prepared = { ...UNDEFINED, tag: ValueTag.TRUE }

/** Encodes `value` for an entry. @throws EncodeError naming the path of what cannot be stored */
export function prepare(value: unknown): Prepared {
  switch (typeof value) {
    case 'number':
      return { tag: ValueTag.NUMBER, flags: 0, length: 8, number: value, string: '', bytes: undefined }
    case 'string':
      return { tag: ValueTag.STRING, flags: 0, length: 2 * value.length, number: 0, string: value, bytes: undefined }
    case 'boolean':
      return value ? TRUE : FALSE
    case 'undefined':
      return UNDEFINED
    default: {
      if (value === null) return NULL
      const { bytes, flags } = encodeWithFlags(value)
      return { tag: ValueTag.PACKED, flags, length: bytes.length, number: 0, string: '', bytes }
    }
  }
}

/** Builds a string from `n` UTF-16 code units of `units` starting at `start`. */
export function unitsToString(units: Uint16Array, start: number, n: number): string {
  if (n <= 24) {
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCharCode(units[start + i]!)
    return s
  }
  let s = ''
  for (let at = 0; at < n; at += 8192) {
    const chunk = units.subarray(start + at, start + Math.min(n, at + 8192))
    s += String.fromCharCode.apply(null, chunk as unknown as number[])
  }
  return s
}

/** Marks a key deleted in a set of changes. */
export const DELETE = Symbol('threadstate.map.delete')

/** The changes of one commit, each key at most once: [key, new value or {@link DELETE}]. */
export type Changes = readonly (readonly [string, Prepared | typeof DELETE])[]

/**
 * The changes of a `setMany(entries, { delete })`, checked and encoded
 * (before any lock is taken or anything is sent). `entries` is an object
 * (its own enumerable string keys, `__proto__` included when it is an own
 * key), a `Map` or an iterable of `[key, value]` pairs. A key given twice
 * keeps its first place and its last value.
 * @throws KeyError / EncodeError / ValidationError (from `prepare`); OptionError if a key is both set and deleted
 */
export function collectChanges<V>(
  entries: Readonly<Record<string, V>> | ReadonlyMap<string, V> | Iterable<readonly [string, V]>,
  options: SetManyOptions,
  prepare: (value: V) => Prepared,
): Changes {
  // A list built directly, not a Map spread into one: for the usual handful
  // of keys this is a third of the cost (no hashing of keys, one pair
  // allocated per key instead of two). Duplicates are found by a scan up to
  // SCAN_KEYS keys, by a key -> place index beyond.
  const list = new ChangeList()
  if (entries instanceof Map || Symbol.iterator in Object(entries)) {
    for (const [key, value] of entries as Iterable<readonly [string, V]>) {
      checkKey(key)
      list.put(key, prepare(value))
    }
  } else {
    const record = entries as Readonly<Record<string, V>>
    for (const key of Object.keys(record)) list.put(key, prepare(record[key]!))
  }
  const deleted = options.delete
  if (deleted !== undefined) {
    for (const key of deleted) {
      checkKey(key)
      if (list.isSet(key)) throw new OptionError(`Expected each key to be either set or deleted, got ${describe(key)} in both`)
      list.put(key, DELETE)
    }
  }
  return list.pairs
}

/** Up to this many keys, {@link ChangeList} finds a key again by scanning. */
const SCAN_KEYS = 16

/** The changes of one call, each key once, in first-given order. */
class ChangeList {
  readonly pairs: [string, Prepared | typeof DELETE][] = []
  /** Key -> place in `pairs`, once there are more than SCAN_KEYS. */
  private index: Map<string, number> | undefined = undefined

  /** Place of `key` in `pairs`, -1 if absent. */
  private placeOf(key: string): number {
    if (this.index !== undefined) return this.index.get(key) ?? -1
    const pairs = this.pairs
    for (let i = 0; i < pairs.length; i++) if (pairs[i]![0] === key) return i
    return -1
  }

  /** Sets `key`'s change (replacing an earlier one in its place). */
  put(key: string, value: Prepared | typeof DELETE): void {
    const pairs = this.pairs
    const at = this.placeOf(key)
    if (at >= 0) {
      pairs[at] = [key, value]
      return
    }
    pairs.push([key, value])
    if (this.index !== undefined) this.index.set(key, pairs.length - 1)
    else if (pairs.length > SCAN_KEYS) this.index = new Map(pairs.map(([k], i) => [k, i]))
  }

  /** Whether `key` is set (not deleted) by these changes. */
  isSet(key: string): boolean {
    const at = this.placeOf(key)
    return at >= 0 && this.pairs[at]![1] !== DELETE
  }
}
