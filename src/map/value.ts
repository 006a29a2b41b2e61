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
 * key), a `Map` or an iterable of `[key, value]` pairs.
 * @throws KeyError / EncodeError / ValidationError (from `prepare`); OptionError if a key is both set and deleted
 */
export function collectChanges<V>(
  entries: Readonly<Record<string, V>> | ReadonlyMap<string, V> | Iterable<readonly [string, V]>,
  options: SetManyOptions,
  prepare: (value: V) => Prepared,
): Changes {
  const changes = new Map<string, Prepared | typeof DELETE>()
  const pairs: Iterable<readonly [string, V]> =
    entries instanceof Map || Symbol.iterator in Object(entries)
      ? (entries as Iterable<readonly [string, V]>)
      : Object.keys(entries).map((key) => [key, (entries as Record<string, V>)[key]!] as const)
  for (const [key, value] of pairs) {
    checkKey(key)
    changes.set(key, prepare(value))
  }
  for (const key of options.delete ?? []) {
    checkKey(key)
    if (changes.has(key) && changes.get(key) !== DELETE) throw new OptionError(`Expected each key to be either set or deleted, got ${describe(key)} in both`)
    changes.set(key, DELETE)
  }
  return [...changes]
}
