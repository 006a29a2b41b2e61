/**
 * Encoding of JSON-like values (plus `Date`, `Map`, `Set`, `BigInt`, typed
 * arrays, `ArrayBuffer`, `RegExp`, `undefined`, nested up to {@link MAX_DEPTH} levels) to bytes
 * and back: the codec of the snapshot and map layers.
 *
 * The bytes are MessagePack written by msgpackr (structured-clone mode, with
 * records), the fastest well-kept codec that keeps the types JSON loses.
 * Measured here (bench/snapshot): encoding costs about what `JSON.stringify`
 * does (0.9-1.1x on seed 004's status objects; plain msgpackr without
 * structured clone is only ~8 % faster); decoding a 64 KB snapshot takes ~0.5x
 * `JSON.parse`, a 2 KB one about the same as it; the bytes are 35-60 % of
 * the JSON.
 * Records are self-describing, so a thread decodes bytes written by any
 * other thread's encoder. Round trips are exact or refused: a `-0` is
 * written as an extension (msgpackr would write the integer 0); a string or
 * key with a lone surrogate, which UTF-8 cannot hold, is an EncodeError; so
 * is a value nested deeper than {@link MAX_DEPTH}.
 *
 * msgpackr silently writes a function as `undefined` and a class instance as
 * a plain object. Values are therefore checked first ({@link checkEncodable}):
 * anything that would not come back as it went in throws `EncodeError`
 * naming its path, before any byte is written anywhere.
 *
 * **Why `msgpackr/pack` and not `msgpackr`.** Under Node's `node` condition
 * the main entry loads msgpackr's native string extractor (msgpackr-extract
 * 3.0.7). That add-on keeps process-wide state which every thread that loads
 * it resets, so a decode running in one worker while another worker starts
 * and loads msgpackr can throw, or silently return a *wrong string*
 * (reproduced here: 2 wrong values and 1 error in 6 runs of two decoding
 * workers while 80 workers started; 0 when the starting workers did not load
 * msgpackr, and 0 in 14 runs with this build). A wrong value reaching a
 * caller is exactly what this library exists to prevent, so threadstate uses
 * the pure-JS build: the `pack` subpath resolves to it under every condition,
 * and it carries the full Packr (pack and unpack). It cost nothing measurable
 * in bench/snapshot and bench/map (first read of 64 KB 0.37x JSON.parse
 * before and after; SharedMap object get 668 vs 671 ns). If the application
 * itself imports `msgpackr`'s main entry in a thread, that thread's module
 * instance gets the extractor again (ESM instances are per file); set
 * `MSGPACKR_NATIVE_ACCELERATION_DISABLED=true` to avoid it.
 *
 * @module
 */
import { Packr, addExtension } from 'msgpackr/pack'
import { ThreadstateError, describe } from '../errors.js'
import { deepFreeze } from './freeze.js'

/** A value cannot be encoded; `path` says where (`agents[3].onTick`). Nothing shared was changed. */
export class EncodeError extends ThreadstateError {
  /** Always `'EncodeError'`. */
  override name = 'EncodeError'
  /** Path of the offending value from the root ('' for the root itself). */
  readonly path: string
  constructor(path: string, message: string) {
    super(message)
    this.path = path
  }
}

/** A value that cannot be decoded: corrupted or foreign bytes. */
export class DecodeError extends ThreadstateError {
  /** Always `'DecodeError'`. */
  override name = 'DecodeError'
}

const options = { structuredClone: true, moreTypes: true, useBigIntExtension: true } as const
const packr = new Packr(options)
// `freezeData` is a msgpackr option its type definitions do not list.
const frozenPackr = new Packr({ ...options, freezeData: true } as ConstructorParameters<typeof Packr>[0])

/**
 * msgpackr renames an own `__proto__` key to `__proto_` when decoding (its
 * guard against prototype pollution), which would silently change data. An
 * object with such a key is written as this extension instead and rebuilt
 * with `Object.defineProperty`, which defines an own property and never
 * touches the prototype.
 */
class ProtoKeyed {
  constructor(readonly entries: [string, unknown][]) {}
}
/** MessagePack extension type of {@link ProtoKeyed} (msgpackr uses 0, 0x42, 0x62, 0x65, 0x69, 0x70, 0x73, 0x74, 0x78). */
const PROTO_KEYED = 0x4b
addExtension({
  Class: ProtoKeyed,
  type: PROTO_KEYED,
  write: (o: ProtoKeyed) => o.entries,
  read: (entries: [string, unknown][]) => {
    const object: Record<string, unknown> = {}
    for (const [key, value] of entries) {
      Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
    }
    return object
  },
})

/** A `-0` (MessagePack integers have no sign of zero, and msgpackr writes -0 as the integer 0). */
class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero()
/** MessagePack extension type of {@link NegativeZero}. */
const NEGATIVE_ZERO_TYPE = 0x4c
addExtension({
  Class: NegativeZero,
  type: NEGATIVE_ZERO_TYPE,
  write: () => 0,
  read: () => -0,
})

/**
 * A copy of `value` in which every object with an own `__proto__` key is a
 * {@link ProtoKeyed} and every `-0` a {@link NegativeZero}: what msgpackr
 * would otherwise change silently.
 */
function protectProtoKeys(value: unknown, done: Map<object, unknown>): unknown {
  if (value === 0 && 1 / value < 0) return NEGATIVE_ZERO
  if (typeof value !== 'object' || value === null) return value
  if (done.has(value)) return done.get(value)
  if (Array.isArray(value)) {
    const out: unknown[] = []
    done.set(value, out)
    for (const item of value) out.push(protectProtoKeys(item, done))
    return out
  }
  if (value instanceof Map) {
    const out = new Map()
    done.set(value, out)
    for (const [k, v] of value) out.set(protectProtoKeys(k, done), protectProtoKeys(v, done))
    return out
  }
  if (value instanceof Set) {
    const out = new Set()
    done.set(value, out)
    for (const v of value) out.add(protectProtoKeys(v, done))
    return out
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value // Date, typed arrays, ...
  const keys = Object.keys(value)
  if (keys.includes('__proto__')) {
    const entries: [string, unknown][] = []
    const out = new ProtoKeyed(entries)
    done.set(value, out)
    for (const key of keys) entries.push([key, protectProtoKeys((value as Record<string, unknown>)[key], done)])
    return out
  }
  const out: Record<string, unknown> = {}
  done.set(value, out)
  for (const key of keys) out[key] = protectProtoKeys((value as Record<string, unknown>)[key], done)
  return out
}

function keyPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`
}

/** Whether `value` is an object msgpackr's structured-clone mode brings back as such. */
function isKnownObject(value: object): boolean {
  return (
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value) // typed arrays and DataView
  )
}

/** What {@link scan} found in an encodable value. */
export const ValueFlags = {
  /** An object with an own `__proto__` key (needs the ProtoKeyed extension). */
  PROTO_KEY: 1,
  /** A Map or a Set (deep freezing must shadow their mutators). */
  COLLECTIONS: 2,
  /** A `-0` inside the value (needs the NegativeZero extension: MessagePack integers have no sign). */
  NEGATIVE_ZERO: 4,
} as const

/**
 * How deep a value may nest (arrays, objects, Maps, Sets inside each other).
 * Decoding recurses once per level, so a value nested deeper than a thread's
 * stack allows would be readable by the thread that wrote it (a worker with
 * a larger stack) and throw in every other: past this depth a write is an
 * EncodeError instead, whatever the writer's stack. Measured here, a Node
 * thread with the default stack decodes ~8,000 levels; 1,000 leaves room
 * for workers started with a smaller `resourceLimits.stackSizeMb`.
 */
export const MAX_DEPTH = 1000

/** The flags `scanFast` answers when the value is too deep (negative: not encodable). */
const TOO_DEEP = -2

/**
 * Throws `EncodeError` naming the first path whose value would not survive
 * encoding: a function, a symbol, a class instance with no encoding, a
 * symbol-keyed property, or a SharedArrayBuffer (shared memory is not a value).
 */
export function checkEncodable(value: unknown): void {
  scan(value)
}

/**
 * Checks `value` like {@link checkEncodable} and returns {@link ValueFlags}.
 * The walk builds no path strings (that doubled the cost of a publish); only
 * when it meets a bad value does a second walk find the path for the error.
 */
export function scan(value: unknown): number {
  const flags = scanFast(value, new Set(), 0)
  if (flags < 0) walk(value, '', new Set(), 0) // throws with the path
  return flags < 0 ? 0 : flags
}

/**
 * Strings shorter than this are written by msgpackr's own UTF-8 loop, which
 * writes a lone surrogate as the 3 bytes ED A0..BF xx (decoded back as
 * U+FFFD); longer ones by the runtime's encoder, which writes U+FFFD itself.
 * So short strings are checked after packing, by a native byte search over
 * the output ({@link mayHoldSurrogate}), and only long ones one by one with
 * `isWellFormed` (answered at once for a one-byte string): checking every
 * string and key with it cost a 2 KB snapshot's publish ~7 %.
 */
const SHORT_STRING = 0x40

/** Whether packed bytes may hold a short string's lone surrogate (ED A0..BF); false positives (binary data) are possible, misses not. */
function mayHoldSurrogate(bytes: Uint8Array): boolean {
  for (let at = bytes.indexOf(0xed); at !== -1 && at + 1 < bytes.length; at = bytes.indexOf(0xed, at + 1)) {
    const next = bytes[at + 1]!
    if (next >= 0xa0 && next <= 0xbf) return true
  }
  return false
}

/** Flags, or a negative number if something cannot be encoded. */
function scanFast(value: unknown, seen: Set<object>, depth: number): number {
  const type = typeof value
  if (type !== 'object') {
    if (type === 'string') return (value as string).length < SHORT_STRING || (value as string).isWellFormed() ? 0 : -1
    if (type === 'number') return value === 0 && 1 / (value as number) < 0 ? ValueFlags.NEGATIVE_ZERO : 0
    return type === 'function' || type === 'symbol' ? -1 : 0
  }
  if (value === null) return 0
  const object = value as object
  if (seen.has(object)) return 0
  if (depth >= MAX_DEPTH) return TOO_DEEP
  seen.add(object)
  const below = depth + 1
  let flags = 0
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const f = scanFast(object[i], seen, below)
      if (f < 0) return f
      flags |= f
    }
    return flags
  }
  if (object instanceof Map) {
    flags = ValueFlags.COLLECTIONS
    for (const [k, v] of object) {
      const a = scanFast(k, seen, below)
      if (a < 0) return a
      const b = scanFast(v, seen, below)
      if (b < 0) return b
      flags |= a | b
    }
    return flags
  }
  if (object instanceof Set) {
    flags = ValueFlags.COLLECTIONS
    for (const v of object) {
      const f = scanFast(v, seen, below)
      if (f < 0) return f
      flags |= f
    }
    return flags
  }
  if (object instanceof SharedArrayBuffer) return -1
  if (isKnownObject(object)) return 0
  const proto = Object.getPrototypeOf(object)
  if (proto !== Object.prototype && proto !== null) return -1
  if (Object.getOwnPropertySymbols(object).length > 0) return -1
  for (const key in object) {
    if (key === '__proto__') flags |= ValueFlags.PROTO_KEY
    else if (key.length >= SHORT_STRING && !key.isWellFormed()) return -1
    const f = scanFast((object as Record<string, unknown>)[key], seen, below)
    if (f < 0) return f
    flags |= f
  }
  return flags
}

/** The slow walk: same checks, with paths, throwing at the first bad value. */
function walk(value: unknown, path: string, seen: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) {
        throw new EncodeError(path, `Expected a well-formed string at ${path || 'the root'}, got one with a lone surrogate (MessagePack strings are UTF-8, which cannot hold it: it would come back as U+FFFD)`)
      }
      return
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return
    case 'function':
    case 'symbol':
      throw new EncodeError(path, `Expected an encodable value at ${path || 'the root'}, got ${describe(value)}`)
  }
  if (value === null) return
  const object = value as object
  if (seen.has(object)) return // cycles and shared references are encoded as such
  if (depth >= MAX_DEPTH) {
    throw new EncodeError(path, `Expected a value nested at most ${MAX_DEPTH} levels deep, got deeper at ${path || 'the root'} (every thread must be able to decode it, whatever its stack)`)
  }
  seen.add(object)
  const below = depth + 1
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) walk(object[i], `${path}[${i}]`, seen, below)
    return
  }
  if (object instanceof Map) {
    let i = 0
    for (const [k, v] of object) {
      walk(k, `${path}.<key ${i}>`, seen, below)
      walk(v, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : `<key ${i}>`})`, seen, below)
      i++
    }
    return
  }
  if (object instanceof Set) {
    let i = 0
    for (const v of object) walk(v, `${path}.<item ${i++}>`, seen, below)
    return
  }
  if (object instanceof SharedArrayBuffer) {
    throw new EncodeError(path, `Expected an encodable value at ${path || 'the root'}, got a SharedArrayBuffer (shared memory is not a value: send its handle instead)`)
  }
  if (isKnownObject(object)) return
  const proto = Object.getPrototypeOf(object)
  if (proto !== Object.prototype && proto !== null) {
    throw new EncodeError(
      path,
      `Expected a plain object, array, Map, Set, Date or typed array at ${path || 'the root'}, got ${describe(object)} (a class instance has no encoding: convert it to a plain object)`,
    )
  }
  if (Object.getOwnPropertySymbols(object).length > 0) {
    throw new EncodeError(path, `Expected only string keys at ${path || 'the root'}, got a symbol-keyed property`)
  }
  for (const key in object) {
    if (!key.isWellFormed()) {
      throw new EncodeError(path, `Expected well-formed keys at ${path || 'the root'}, got ${JSON.stringify(key)} with a lone surrogate (MessagePack strings are UTF-8, which cannot hold it)`)
    }
    walk((object as Record<string, unknown>)[key], keyPath(path, key), seen, below)
  }
}

/** Checks and encodes `value`. @throws EncodeError naming the path of what cannot be encoded */
export function encode(value: unknown): Uint8Array {
  return encodeWithFlags(value).bytes
}

/** {@link encode}, also returning the {@link ValueFlags} of the value. */
export function encodeWithFlags(value: unknown): { bytes: Uint8Array; flags: number } {
  const flags = scan(value)
  const bytes = packr.pack((flags & (ValueFlags.PROTO_KEY | ValueFlags.NEGATIVE_ZERO)) !== 0 ? protectProtoKeys(value, new Map()) : value)
  // A short string with a lone surrogate (see SHORT_STRING): the full walk finds it and throws with its path.
  if (mayHoldSurrogate(bytes)) walk(value, '', new Set(), 0)
  return { bytes, flags }
}

/** Decodes bytes written by {@link encode} in any thread. @throws DecodeError for bytes that are not such an encoding */
export function decode(bytes: Uint8Array): unknown {
  return unpackWith(packr, bytes)
}

/**
 * Decodes the bytes `start..end` of `bytes`. Pass the same (reused) buffer
 * every time: msgpackr caches a DataView per source array, so decoding from
 * a fresh `subarray` each call costs about twice as much for small values.
 * @throws DecodeError for bytes that are not such an encoding
 */
export function decodeRange(bytes: Uint8Array, start: number, end: number): unknown {
  try {
    return packr.unpack(bytes, { start, end })
  } catch (error) {
    throw new DecodeError(`Expected bytes written by threadstate's encoder, got undecodable bytes: ${(error as Error).message}`)
  }
}

/**
 * Decodes into deep-frozen data: msgpackr freezes objects and arrays as it
 * builds them (much cheaper than a walk afterwards); Maps and Sets, which
 * `Object.freeze` does not protect, are then sealed by a walk, but only when
 * the encoder saw some (`flags` from {@link encodeWithFlags}).
 */
export function decodeFrozen(bytes: Uint8Array, flags: number): unknown {
  const value = unpackWith(frozenPackr, bytes)
  return (flags & ValueFlags.COLLECTIONS) !== 0 ? deepFreeze(value) : value
}

/**
 * {@link decodeFrozen} of the bytes `start..end` of a reused buffer (see
 * {@link decodeRange} for why a range rather than a subarray).
 */
export function decodeRangeFrozen(bytes: Uint8Array, start: number, end: number, flags: number): unknown {
  let value: unknown
  try {
    value = frozenPackr.unpack(bytes, { start, end })
  } catch (error) {
    throw new DecodeError(`Expected bytes written by threadstate's encoder, got undecodable bytes: ${(error as Error).message}`)
  }
  return (flags & ValueFlags.COLLECTIONS) !== 0 ? deepFreeze(value) : value
}

function unpackWith(p: Packr, bytes: Uint8Array): unknown {
  try {
    return p.unpack(bytes)
  } catch (error) {
    throw new DecodeError(`Expected bytes written by threadstate's encoder, got undecodable bytes: ${(error as Error).message}`)
  }
}
