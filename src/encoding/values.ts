/**
 * Encoding of JSON-like values (plus `Date`, `Map`, `Set`, `BigInt`, typed
 * arrays, `ArrayBuffer`, `DataView`, `RegExp`, `undefined`, nested up to {@link MAX_DEPTH} levels) to bytes
 * and back: the codec of the snapshot and map layers.
 *
 * The bytes are MessagePack written by msgpackr (structured-clone mode, with
 * records; a value of up to 64 plain objects as plain MessagePack maps behind a mark
 * byte, see {@link FEW_OBJECTS}), the fastest well-kept codec that keeps the
 * types JSON loses.
 * Measured here (bench/snapshot, seed 004's status objects): a 2 KB status
 * (maps form: written by the walk, read by maps-decoder.ts) encodes in
 * ~0.97x the time of `JSON.stringify` and decodes in ~0.75-0.9x that of
 * `JSON.parse`; a 64 KB one (records) ~1.2x and ~0.35-0.4x; the bytes are
 * 35-65 % of the JSON.
 * Records are self-describing, so a thread decodes bytes written by any
 * other thread's encoder. Round trips are exact or refused: a `-0` is
 * written as an extension (msgpackr would write the integer 0); a string or
 * key with a lone surrogate, which UTF-8 cannot hold, is an EncodeError; so
 * is a value nested deeper than {@link MAX_DEPTH}.
 *
 * msgpackr silently writes a function as `undefined` and a class instance as
 * a plain object. Values are therefore checked first, by the same single
 * walk that reads them into the copy msgpackr encodes (see "reading a value
 * once" below): anything that would not come back as it went in throws
 * `EncodeError` naming its path, before any byte is written anywhere, and
 * a getter or Proxy cannot answer the check one thing and the encoder
 * another.
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
import { Packr, RESERVE_START_SPACE, addExtension } from 'msgpackr/pack'
import { ThreadstateError, describe } from '../errors.js'
import { deepFreeze, freezeTree, hasEnumerables } from './freeze.js'
import { NOT_OURS, decodeMaps } from './maps-decoder.js'

/** A value cannot be encoded; `path` says where (`agents[3].onTick`). Nothing shared was changed. */
export class EncodeError extends ThreadstateError {
  /** Always `'EncodeError'`. */
  override name = 'EncodeError'
  /** Path of the offending value from the root ('' for the root itself). */
  readonly path: string
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options)
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
/** {@link packr} without structured clone's reference tracking, for values without cycles or shared references. */
const treePackr = new Packr({ moreTypes: true, useBigIntExtension: true })
// `freezeData` is a msgpackr option its type definitions do not list.
const frozenPackr = new Packr({ ...options, freezeData: true } as ConstructorParameters<typeof Packr>[0])

/**
 * **Small values are written without records.** msgpackr's records (an
 * object's keys written once per shape, then only its values) pay off when
 * shapes repeat, as in a snapshot's list of agents; for a value of a few
 * objects they cost more than they save: the record definitions, the
 * structure table reset after every pack, and a decoder that must build
 * each object from its record. Measured here for one ~50 B object: pack
 * 0.55x, unpack 0.48x of the record form; for 8 objects of one shape still
 * 0.77x / 0.94x, but the bytes grow 1.7x. So a value with at most
 * {@link FEW_OBJECTS} plain objects, no Map or Set (a MessagePack map must
 * decode as an object here) and no cycle or shared reference (structured
 * clone's references need the records packr) is packed as MessagePack maps
 * behind the byte {@link MAPS_MARK}, and decoded with `mapsAsObjects`.
 *
 * Where the limit lies: the agent statuses of the snapshot bench (each
 * object a shape of its own, as a service's status is, then lists of
 * repeated shapes), encode by the walk (SMALL VALUES) against records, and
 * a frozen decode (maps: maps-decoder.ts) against records, each ÷
 * JSON.stringify / JSON.parse:
 *
 * | status | objects | maps encode | records encode | maps decode | records decode | bytes maps / records |
 * |---|---|---|---|---|---|---|
 * | 2 KB | 17 | 0.97x | 1.69x | 0.74x | 1.12x | 1.12 |
 * | 4 KB | 33 | 0.89x | 1.54x | 0.73x | 1.03x | 1.47 |
 * | 8 KB | 66 | 0.93x | 1.35x | 0.68x | 0.67x | 1.75 |
 * | 16 KB | 131 | 0.97x | 1.26x | 0.65x | 0.47x | 1.92 |
 * | 64 KB | 516 | 1.02x | 1.20x | 0.58x | 0.33x | 2.08 |
 *
 * (Records encode figures include the walk writing the first objects before
 * it gives up; a SnapshotStore that publishes values of one size does not
 * pay that, ~15 %.) The maps form always encodes faster (one walk writes
 * it; records need the walk's copy and msgpackr's pack); from ~60 objects,
 * where shapes start to repeat, records decode faster and take half the
 * bytes, and a snapshot is read more often than written. Hence 64.
 */
const FEW_OBJECTS = 64
/**
 * First byte of the bytes of a value written as MessagePack maps: 0xC1 is
 * the one byte MessagePack never uses, so bytes written without it (every
 * value of earlier versions, persisted files included) never start with it
 * and keep decoding as they did. (Earlier versions cannot read the new form.)
 */
const MAPS_MARK = 0xc1

/**
 * **SMALL VALUES: the walk writes them itself.** A value of the maps form
 * (above) made only of plain objects, arrays, strings, numbers, booleans,
 * null and undefined is written by the same walk that reads and checks it
 * ({@link Capture}), byte by byte, straight into MessagePack: no copy handed
 * to msgpackr, no second walk, no Node Buffer per value, and no search of
 * the output for lone surrogates (each non-ASCII string is checked as it is
 * written). Hand-written because no library reads a value once, refuses
 * what would not round-trip and writes it in one pass; the bytes are plain
 * MessagePack maps, decoded by msgpackr like those it writes (property
 * tests check both ways). Measured on a ~50 B object of 4 keys: the walk
 * plus msgpackr's pack cost 456 ns, the walk writing 269 ns (of which
 * `Object.getOwnPropertySymbols`, the check for symbol keys, ~46 ns and the
 * final copy of the bytes ~33 ns); a SharedMap `set` of it went from 1,088
 * to 744 ns. The walk stops writing (and msgpackr writes the
 * copy, as before) at the first thing only msgpackr writes: a Date, RegExp,
 * typed array, DataView, ArrayBuffer, Map, Set, BigInt, `-0`, an own
 * `__proto__` key, a cycle or shared reference, or more than FEW_OBJECTS
 * objects.
 */
const utf8 = new TextEncoder()
const mapsOptions = { moreTypes: true, useBigIntExtension: true, useRecords: false, mapsAsObjects: true } as const
const mapsPackr = new Packr(mapsOptions)
const frozenMapsPackr = new Packr({ ...mapsOptions, freezeData: true } as ConstructorParameters<typeof Packr>[0])
/** What msgpackr decodes the byte 0xC1 to (its `C1` token, which its type definitions do not export): never a value of ours. */
const C1 = mapsPackr.unpack(Uint8Array.of(0xc1)) as unknown

/**
 * msgpackr renames an own `__proto__` key to `__proto_` when decoding (its
 * guard against prototype pollution), which would silently change data. The
 * copy of an object with such a key gets this prototype, so msgpackr writes
 * it as the extension below, rebuilt with `Object.defineProperty`, which
 * defines an own property and never touches the prototype.
 */
class ProtoKeyed {}
/** MessagePack extension type of {@link ProtoKeyed} (msgpackr uses 0, 0x42, 0x62, 0x65, 0x69, 0x70, 0x73, 0x74, 0x78). */
const PROTO_KEYED = 0x4b
addExtension({
  Class: ProtoKeyed,
  type: PROTO_KEYED,
  write: (o: ProtoKeyed) => Object.entries(o),
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

function keyPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`
}

/** What the encoder found in a value while reading it (returned by {@link encodeWithFlags}). */
export const ValueFlags = {
  /** An object with an own `__proto__` key (needs the ProtoKeyed extension). */
  PROTO_KEY: 1,
  /** A Map or a Set (deep freezing must shadow their mutators). */
  COLLECTIONS: 2,
  /** A `-0` inside the value (needs the NegativeZero extension: MessagePack integers have no sign). */
  NEGATIVE_ZERO: 4,
  /** A Date, RegExp, typed array, DataView or ArrayBuffer (deep freezing must shadow their mutators too). */
  LEAVES: 8,
} as const

/** The {@link ValueFlags} for which a frozen decode needs {@link deepFreeze}'s walk (msgpackr freezes only objects and arrays). */
const NEEDS_FREEZE_WALK = ValueFlags.COLLECTIONS | ValueFlags.LEAVES

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

// ---- reading a value once -------------------------------------------------------
//
// msgpackr reads the value it packs by itself (property gets, `constructor`,
// `byteLength`, iteration). Checking a value first and letting msgpackr read
// it again reads every property twice, and a getter or a Proxy can answer
// the check with a number and the encoder with a function (written as
// `undefined`: the snapshot silently loses the field). So the check is also
// the only read: one walk ({@link Capture}) reads each property, element and
// entry once, refuses what would not come back as it went in, and builds a
// copy out of fresh plain objects, arrays, Maps, Sets, Dates and views, which
// is all msgpackr ever sees. Where it must know what kind of object it has,
// it asks the engine's own brand checks (a `Map.prototype.entries` call on
// something that only claims Map.prototype throws), never the object.
// Building the copy costs about what the old check-only walk did (bench:
// bench/ab.mjs, docs/verification.md section 10).

/** Returned by the capture walk in place of a copy when it refuses; `Capture.problem` says why, `Capture.trail` where. */
const REFUSED = Object.freeze({ refused: true })

/** One step of the path to a refused value: a text to append, or an object key. */
type Step = string | readonly [key: string]

/** `f` as a function of its receiver: `uncurry(Map.prototype.entries)(map)` is `map.entries()` that no own property of `map` can intercept. */
const uncurry = (f: (...args: never[]) => unknown): ((self: unknown) => unknown) => Function.prototype.call.bind(f) as (self: unknown) => unknown
const getter = (prototype: object, name: string | symbol) => uncurry(Object.getOwnPropertyDescriptor(prototype, name)!.get!)
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object
const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag) as (self: unknown) => string | undefined
const typedArrayBuffer = getter(TypedArrayPrototype, 'buffer') as (self: unknown) => ArrayBufferLike
const typedArrayByteOffset = getter(TypedArrayPrototype, 'byteOffset') as (self: unknown) => number
const typedArrayLength = getter(TypedArrayPrototype, 'length') as (self: unknown) => number
const dataViewBuffer = getter(DataView.prototype, 'buffer') as (self: unknown) => ArrayBufferLike
const dataViewByteOffset = getter(DataView.prototype, 'byteOffset') as (self: unknown) => number
const dataViewByteLength = getter(DataView.prototype, 'byteLength') as (self: unknown) => number
const arrayBufferByteLength = getter(ArrayBuffer.prototype, 'byteLength') as (self: unknown) => number
const mapSize = getter(Map.prototype, 'size') as (self: unknown) => number
const setSize = getter(Set.prototype, 'size') as (self: unknown) => number
const mapEntries = uncurry(Map.prototype.entries) as (self: unknown) => IterableIterator<[unknown, unknown]>
const setValues = uncurry(Set.prototype.values) as (self: unknown) => IterableIterator<unknown>
const dateTime = uncurry(Date.prototype.getTime) as (self: unknown) => number
const regExpSource = getter(RegExp.prototype, 'source') as (self: unknown) => string

/** The typed arrays msgpackr's `moreTypes` encodes, by `Symbol.toStringTag`. */
const TYPED_ARRAYS = new Map<string, TypedArrayClass>(
  [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map((c) => [c.name, c]),
)

/** Describes an object for a message without trusting it (its `constructor` may be a throwing getter). */
function describeObject(prototype: object | null): string {
  try {
    const name = (Object.getOwnPropertyDescriptor(prototype ?? {}, 'constructor')?.value as { name?: unknown } | undefined)?.name
    return typeof name === 'string' && name !== 'Object' ? `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}` : 'an object'
  } catch {
    return 'an object'
  }
}

const where = (path: string): string => path || 'the root'

/** The largest write buffer an idle walk keeps for the next value (Capture's `out`). */
const MAX_KEPT_BYTES = 64 * 1024
/** Objects a walk finds again by a scan before it uses a Map (Capture's firstObjects; a scan of more costs more than the Map). */
const FIRST_SEEN = 24
/** What a walk's emptied slots of firstObjects hold. */
const NOTHING: object = Object.freeze({})

/**
 * One walk over a value: reads each property, element and entry once,
 * refuses what would not round-trip, and returns a copy built only of fresh
 * objects (see the comment above). Refusing returns {@link REFUSED} up the
 * recursion, each container adding its step to `trail`, so paths are built
 * only for an error. One instance is reused while idle (a getter may encode
 * another value meanwhile: that encode gets its own).
 */
class Capture {
  /**
   * Each object read so far, and its copy (cycles and shared references stay
   * such). A fresh Map per walk: `Map.prototype.clear` made the next walk
   * ~5x slower here.
   */
  seen = new Map<object, unknown>()
  /**
   * The first {@link FIRST_SEEN} objects read while the walk writes, and
   * their copies, before {@link seen}: found again by a scan. A value of a few objects then never
   * touches a Map (a fresh Map, a set and a get cost ~30 ns of a ~50 B
   * object's encode).
   */
  private readonly firstObjects: object[] = []
  private readonly firstCopies: unknown[] = []
  private firstCount = 0
  /** {@link ValueFlags} of what was read. */
  flags = 0
  /** Whether an object was met twice (a cycle or a shared reference), which only msgpackr's structured-clone mode writes. */
  shared = false
  /** Plain objects read (see {@link FEW_OBJECTS}). */
  objects = 0
  /** The copies met again, in order (only when `shared`: cycles and shared references are rare). */
  readonly hits: unknown[] = []
  /** Whether `Object.prototype` had enumerable properties when the walk began (`for...in` would list them). */
  polluted = false
  /** Steps from the refused value up to the root. */
  readonly trail: Step[] = []
  /** The refusal's message, given the path. */
  problem: (path: string) => string = () => ''
  /** What a getter or Proxy trap threw, if that was the refusal. */
  cause: unknown = undefined
  busy = false

  // The walk's own MessagePack writer (the maps form: see SMALL VALUES below).
  /** Whether the walk is still writing the value's bytes into {@link out} (false once it meets what only msgpackr writes). */
  writing = false
  /** The bytes written so far, from index 1 (index 0 is for {@link MAPS_MARK}). */
  out = new Uint8Array(256)
  private data = new DataView(this.out.buffer)
  /** Next byte of {@link out} to write. */
  pos = 1

  /** Records `object`'s copy (see {@link firstObjects}). */
  private remember(object: object, copy: unknown): void {
    const n = this.firstCount
    // Only while the walk writes (a small value): a large one goes to the Map at once, not scanned first.
    if (n < FIRST_SEEN && this.writing) {
      this.firstObjects[n] = object
      this.firstCopies[n] = copy
      this.firstCount = n + 1
    } else this.seen.set(object, copy)
  }

  /** The copy of `object` if it was read before, else undefined. */
  private recall(object: object): unknown {
    const objects = this.firstObjects
    for (let i = 0; i < this.firstCount; i++) if (objects[i] === object) return this.firstCopies[i]
    return this.seen.size === 0 ? undefined : this.seen.get(object)
  }

  /** Throws the EncodeError of a walk that returned {@link REFUSED}. */
  fail(): never {
    let path = ''
    for (let i = this.trail.length - 1; i >= 0; i--) {
      const step = this.trail[i]!
      path = typeof step === 'string' ? path + step : keyPath(path, step[0])
    }
    throw new EncodeError(path, this.problem(path), this.cause === undefined ? undefined : { cause: this.cause })
  }

  reset(): void {
    this.writing = false
    this.pos = 1
    // A small value can still be large (70,000 keys, a long string): the idle walk does not keep a big buffer.
    if (this.out.length > MAX_KEPT_BYTES) {
      this.out = new Uint8Array(256)
      this.data = new DataView(this.out.buffer)
    }
    if (this.seen.size > 0) this.seen = new Map()
    // Let go of the value: the idle walk must not keep it alive.
    for (let i = 0; i < this.firstCount; i++) {
      this.firstObjects[i] = NOTHING
      this.firstCopies[i] = undefined
    }
    this.firstCount = 0
    this.flags = 0
    this.shared = false
    this.objects = 0
    // Setting an array's length is a runtime call even when it changes nothing (~3 % of a small SharedMap set).
    if (this.hits.length !== 0) this.hits.length = 0
    if (this.trail.length !== 0) this.trail.length = 0
    this.cause = undefined
  }

  refuse(problem: (path: string) => string): typeof REFUSED {
    this.problem = problem
    return REFUSED
  }

  /** The refusal of a container whose read threw: at `step` (or at the container itself). */
  threw(error: unknown, step: Step | undefined): typeof REFUSED {
    if (step !== undefined) this.trail.push(step)
    this.cause = error
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return this.refuse((path) => `Expected a value that can be read at ${where(path)}, got one whose read threw (a getter or a Proxy): ${what}`)
  }

  value(value: unknown, depth: number): unknown {
    const type = typeof value
    if (type !== 'object') {
      if (type === 'string') {
        if (this.writing) return this.writeString(value as string) ? value : this.refuse(badString)
        // Every string is checked here (~5 ns; answered at once for a one-byte string): msgpackr
        // writes a short string's lone surrogate as the bytes ED A0..BF xx and the runtime's encoder
        // a long one's as U+FFFD, so either would come back changed. (Searching the packed bytes for
        // ED A0..BF instead, and walking the copy again on a hit, cost a 64 KB snapshot's publish a
        // third: its doubles hold such byte pairs by chance. With a walk that builds no path unless it
        // finds one, still 11 %; a 34 KB snapshot of strings and integers, no hit, was 2-5 % faster.)
        return (value as string).isWellFormed() ? value : this.refuse(badString)
      }
      if (type === 'number') {
        if (value === 0 && 1 / (value as number) < 0) {
          this.flags |= ValueFlags.NEGATIVE_ZERO
          this.writing = false // an extension: msgpackr writes it
          return NEGATIVE_ZERO
        }
        if (this.writing) this.writeNumber(value as number)
        return value
      }
      if (type === 'function' || type === 'symbol') {
        const described = describe(value)
        return this.refuse((path) => `Expected an encodable value at ${where(path)}, got ${described}`)
      }
      if (this.writing) {
        if (type === 'boolean') this.writeByte(value ? 0xc3 : 0xc2)
        else if (type === 'undefined') this.writeUndefined()
        else this.writing = false // a BigInt: msgpackr's extension
      }
      return value
    }
    if (value === null) {
      if (this.writing) this.writeByte(0xc0)
      return null
    }
    const object = value as object
    const copy = this.recall(object)
    if (copy !== undefined) {
      this.shared = true
      this.writing = false // a cycle or shared reference: msgpackr's structured clone
      this.hits.push(copy)
      return copy
    }
    if (depth >= MAX_DEPTH) return this.refuse(tooDeep)
    return this.object(object, depth + 1)
  }

  array(array: unknown[], below: number): unknown {
    const out: unknown[] = []
    this.remember(array, out)
    let i = -1
    try {
      const length = array.length
      if (this.writing) this.writeArrayHeader(length)
      for (i = 0; i < length; i++) {
        const item = array[i]
        if (item === undefined && !(i in array)) {
          this.trail.push(`[${i}]`)
          return this.refuse(hole)
        }
        const copy = this.value(item, below)
        if (copy === REFUSED) {
          this.trail.push(`[${i}]`)
          return REFUSED
        }
        out.push(copy)
      }
    } catch (error) {
      return this.threw(error, i < 0 ? undefined : `[${i}]`)
    }
    return out
  }

  object(object: object, below: number): unknown {
    let prototype: object | null
    try {
      if (Array.isArray(object)) return this.array(object as unknown[], below) // sees through a Proxy, and throws for a revoked one
      prototype = Object.getPrototypeOf(object) as object | null
    } catch (error) {
      return this.threw(error, undefined)
    }
    if (prototype === Object.prototype || prototype === null) return this.plain(object as Record<string, unknown>, below)
    this.writing = false // a Map, Set or leaf (or a refusal): msgpackr writes them
    if (prototype === Map.prototype) return this.map(object, below)
    if (prototype === Set.prototype) return this.set(object, below)
    if (prototype === SharedArrayBuffer.prototype) return this.refuse(sharedMemory)
    const leaf = LEAVES.get(prototype)
    if (leaf === undefined) {
      const described = describeObject(prototype)
      return this.refuse(
        (path) =>
          `Expected a plain object, array, Map, Set, Date, RegExp, ArrayBuffer, DataView or typed array (a Node Buffer is taken as a Uint8Array) at ${where(path)}, got ${described} (a class instance has no encoding, nor has a subclass of those kinds: convert it to a plain object)`,
      )
    }
    let copy: unknown
    try {
      copy = leaf(object)
    } catch (error) {
      return this.threw(error, undefined)
    }
    this.remember(object, copy)
    this.flags |= ValueFlags.LEAVES
    return copy
  }

  plain(object: Record<string, unknown>, below: number): unknown {
    let out: Record<string, unknown>
    try {
      // Each own enumerable property read once (a getter called once, a Proxy asked once), into data properties
      // of a fresh object: V8 clones a plain object's properties in one step (CloneObjectIC), the cheapest copy here.
      out = { ...object }
    } catch (error) {
      return this.threw(error, undefined)
    }
    this.remember(object, out)
    if (++this.objects > FEW_OBJECTS) this.writing = false // msgpackr's records pay off
    if (Object.getOwnPropertySymbols(out).length > 0) return this.refuse(symbolKey)
    let protoKeyed = false
    const hitsBefore = this.hits.length
    // The map's header goes before its entries, its size known after them: one byte kept (fixmap), widened if needed.
    const header = this.pos
    let entries = 0
    if (this.writing) this.writeByte(0)
    for (const key in out) {
      // `for...in` over the copy's own data properties (fast: V8's enum cache); inherited ones only if Object.prototype has some.
      if (this.polluted && !Object.hasOwn(out, key)) continue
      if (this.writing) {
        if (!this.writeString(key)) return this.refuse(badKey(key))
        entries++
      } else if (!key.isWellFormed()) return this.refuse(badKey(key))
      if (key === '__proto__') this.writing = false // msgpackr's ProtoKeyed extension (below)
      const item = out[key]
      const copy = this.value(item, below)
      if (key === '__proto__') protoKeyed = true // an own data property (spread defines, never sets the prototype)
      if (copy === item) continue
      if (copy === REFUSED) {
        this.trail.push([key])
        return REFUSED
      }
      if (key === '__proto__') Object.defineProperty(out, key, { value: copy, enumerable: true, writable: true, configurable: true })
      else out[key] = copy
    }
    if (this.writing) this.writeMapHeader(header, entries)
    if (protoKeyed) {
      // msgpackr decodes a cycle by Object.assign-ing the object's properties onto a placeholder, which
      // turns an own `__proto__` key into the placeholder's prototype (found by test/fuzz-values.test.ts).
      for (let i = hitsBefore; i < this.hits.length; i++) if (this.hits[i] === out) return this.refuse(protoCycle)
      this.flags |= ValueFlags.PROTO_KEY
      Object.setPrototypeOf(out, ProtoKeyed.prototype)
    }
    return out
  }

  // ---- the writer -----------------------------------------------------------------

  private room(n: number): void {
    if (this.pos + n <= this.out.length) return
    const bigger = new Uint8Array(Math.max(this.pos + n, 2 * this.out.length))
    bigger.set(this.out.subarray(0, this.pos))
    this.out = bigger
    this.data = new DataView(bigger.buffer)
  }

  private writeByte(b: number): void {
    this.room(1)
    this.out[this.pos++] = b
  }

  private writeUndefined(): void {
    // msgpackr's undefined: fixext 1 of type 0.
    this.room(3)
    const out = this.out
    out[this.pos] = 0xd4
    out[this.pos + 1] = 0
    out[this.pos + 2] = 0
    this.pos += 3
  }

  /**
   * Writes the type byte `code` at `at`, then `n` big-endian in `size` bytes
   * (1, 2 or 4; stored modulo 2^(8 size), so a negative integer is written
   * as its two's complement). @returns the bytes written
   */
  private putHead(at: number, code: number, n: number, size: number): number {
    this.out[at] = code
    if (size === 1) this.out[at + 1] = n
    else if (size === 2) this.data.setUint16(at + 1, n)
    else this.data.setUint32(at + 1, n)
    return size + 1
  }

  /** A number (never -0: the walk takes that out first), in the shortest MessagePack integer form, else a float 64. */
  private writeNumber(x: number): void {
    this.room(9)
    const at = this.pos
    if ((x | 0) !== x) {
      this.out[at] = 0xcb
      this.data.setFloat64(at + 1, x)
      this.pos = at + 9
    } else if (x >= 0x80 || x < -0x20) {
      // uint 8/16/32, int 8/16/32 (positive and negative fixints are the value itself)
      this.pos =
        at +
        (x >= 0
          ? x < 0x100
            ? this.putHead(at, 0xcc, x, 1)
            : x < 0x10000
              ? this.putHead(at, 0xcd, x, 2)
              : this.putHead(at, 0xce, x, 4)
          : x >= -0x80
            ? this.putHead(at, 0xd0, x, 1)
            : x >= -0x8000
              ? this.putHead(at, 0xd1, x, 2)
              : this.putHead(at, 0xd2, x, 4))
    } else {
      this.out[at] = x & 0xff
      this.pos = at + 1
    }
  }

  /**
   * A string, as UTF-8: ASCII byte by byte, anything else through
   * TextEncoder after `isWellFormed` (a lone surrogate would be written as
   * U+FFFD). @returns false for a string with a lone surrogate (nothing written)
   */
  private writeString(s: string): boolean {
    const n = s.length
    const head = n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
    this.room(head + n)
    const out = this.out
    let at = this.pos + head
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) return this.writeWideString(s)
      out[at++] = c
    }
    this.writeStringHeader(this.pos, head, n)
    this.pos = at
    return true
  }

  private writeWideString(s: string): boolean {
    if (!s.isWellFormed()) return false
    const most = 3 * s.length
    const head = most < 0x20 ? 1 : most < 0x100 ? 2 : most < 0x10000 ? 3 : 5
    this.room(head + most)
    const { written } = utf8.encodeInto(s, this.out.subarray(this.pos + head, this.pos + head + most))
    this.writeStringHeader(this.pos, head, written)
    this.pos += head + written
    return true
  }

  /** A str header of `head` bytes (1: fixstr, 2: str 8, 3: str 16, 5: str 32) for `n` bytes, at `at`. */
  private writeStringHeader(at: number, head: number, n: number): void {
    if (head === 1) this.out[at] = 0xa0 | n
    else this.putHead(at, head === 2 ? 0xd9 : head === 3 ? 0xda : 0xdb, n, head - 1)
  }

  private writeArrayHeader(n: number): void {
    this.room(5)
    const at = this.pos
    if (n < 0x10) {
      this.out[at] = 0x90 | n
      this.pos = at + 1
    } else this.pos = at + (n < 0x10000 ? this.putHead(at, 0xdc, n, 2) : this.putHead(at, 0xdd, n, 4))
  }

  /** Fills the byte kept at `at` for a map of `n` entries (a fixmap), or widens it to a map 16 / map 32 header. */
  private writeMapHeader(at: number, n: number): void {
    if (n < 0x10) {
      this.out[at] = 0x80 | n
      return
    }
    const head = n < 0x10000 ? 3 : 5
    this.room(head - 1)
    this.out.copyWithin(at + head, at + 1, this.pos)
    this.pos += head - 1
    this.putHead(at, head === 3 ? 0xde : 0xdf, n, head - 1)
  }

  map(map: object, below: number): unknown {
    const out = new Map<unknown, unknown>()
    this.remember(map, out)
    this.flags |= ValueFlags.COLLECTIONS
    let i = 0
    try {
      const size = mapSize(map) // also the brand check: throws for what only claims Map.prototype
      for (const [key, value] of mapEntries(map)) {
        // A getter inside may add entries as fast as they are read: the copy is of the entries there were.
        if (i === size) return this.refuse(changed)
        const k = this.value(key, below)
        if (k === REFUSED) {
          this.trail.push(`.<key ${i}>`)
          return REFUSED
        }
        const v = this.value(value, below)
        if (v === REFUSED) {
          this.trail.push(`.get(${typeof key === 'string' ? JSON.stringify(key) : `<key ${i}>`})`)
          return REFUSED
        }
        out.set(k, v)
        i++
      }
      if (i !== size) return this.refuse(changed)
    } catch (error) {
      return this.threw(error, undefined)
    }
    return out
  }

  set(set: object, below: number): unknown {
    const out = new Set<unknown>()
    this.remember(set, out)
    this.flags |= ValueFlags.COLLECTIONS
    let i = 0
    try {
      const size = setSize(set)
      for (const value of setValues(set)) {
        if (i === size) return this.refuse(changed)
        const v = this.value(value, below)
        if (v === REFUSED) {
          this.trail.push(`.<item ${i}>`)
          return REFUSED
        }
        out.add(v)
        i++
      }
      if (i !== size) return this.refuse(changed)
    } catch (error) {
      return this.threw(error, undefined)
    }
    return out
  }
}

/** A fresh view of the same bytes as the typed array `object`, checked to be a genuine `View` (a Proxy only claims its prototype). */
function viewOf(object: object, name: string, make: (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView): ArrayBufferView {
  if (typedArrayTag(object) !== name) throw new TypeError(`Expected a genuine ${name}, got an object that only has its prototype`)
  return make(typedArrayBuffer(object), typedArrayByteOffset(object), typedArrayLength(object))
}

type TypedArrayClass = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView

/**
 * By exact prototype, how to copy a Date, RegExp, ArrayBuffer, DataView or
 * typed array: through the engine's brand-checked accessors, which throw for
 * an object that only claims the prototype. Typed arrays and DataViews
 * become fresh views of the same bytes (no copy); an ArrayBuffer is copied.
 * A subclass is a class instance (refused), except Node's `Buffer`, taken
 * as the `Uint8Array` it is (what a SnapshotStore or SharedMap read gave
 * back for a Buffer before, too).
 */
const LEAVES = new Map<object, (object: object) => unknown>([
  [Date.prototype, (o) => new Date(dateTime(o))],
  // `new RegExp(r)` takes a genuine RegExp's source and flags from the engine's slots; the source getter is the brand check.
  [RegExp.prototype, (o) => (regExpSource(o), new RegExp(o as RegExp))],
  [ArrayBuffer.prototype, (o) => new Uint8Array(new Uint8Array(o as ArrayBuffer, 0, arrayBufferByteLength(o))).buffer],
  [DataView.prototype, (o) => new DataView(dataViewBuffer(o), dataViewByteOffset(o), dataViewByteLength(o))],
  ...[...TYPED_ARRAYS].map(([name, View]) => [View.prototype, (o: object) => viewOf(o, name, (buffer, byteOffset, length) => new View(buffer, byteOffset, length))] as const),
])
const NodeBuffer = (globalThis as { Buffer?: { prototype: object } }).Buffer
if (NodeBuffer) LEAVES.set(NodeBuffer.prototype, LEAVES.get(Uint8Array.prototype)!)

const badString = (path: string): string =>
  `Expected a well-formed string at ${where(path)}, got one with a lone surrogate (MessagePack strings are UTF-8, which cannot hold it: it would come back as U+FFFD)`
const badKey =
  (key: string) =>
  (path: string): string =>
    `Expected well-formed keys at ${where(path)}, got ${JSON.stringify(key)} with a lone surrogate (MessagePack strings are UTF-8, which cannot hold it)`
const tooDeep = (path: string): string =>
  `Expected a value nested at most ${MAX_DEPTH} levels deep, got deeper at ${where(path)} (every thread must be able to decode it, whatever its stack)`
const sharedMemory = (path: string): string =>
  `Expected an encodable value at ${where(path)}, got a SharedArrayBuffer (shared memory is not a value: send its handle instead)`
const protoCycle = (path: string): string =>
  `Expected an object with an own \`__proto__\` key outside any cycle at ${where(path)}, got one that contains itself (decoding would make that key its prototype)`
const symbolKey = (path: string): string => `Expected only string keys at ${where(path)}, got a symbol-keyed property`
const hole = (path: string): string => `Expected a dense array at ${where(path.replace(/\[\d+\]$/, ''))}, got a hole at ${path} (it would come back as \`undefined\`)`
const changed = (path: string): string =>
  `Expected a Map or Set that keeps still while it is read at ${where(path)}, got one that changed size while it was encoded`

let idle: Capture | undefined = new Capture()

/**
 * Reads `value` once: the copy msgpackr may read as often as it likes, and
 * its {@link ValueFlags}. @throws EncodeError naming the path of what cannot be encoded
 */
function capture(value: unknown, write: boolean): { copy: unknown; flags: number; shared: boolean; objects: number; bytes: Uint8Array | undefined } {
  const walk = idle ?? new Capture()
  idle = undefined
  try {
    walk.polluted = hasEnumerables(Object.prototype)
    walk.writing = write
    const copy = walk.value(value, 0)
    if (copy === REFUSED) walk.fail()
    // A getter that gave Object.prototype enumerable properties meanwhile: `for...in` may have listed them as the value's.
    if (!walk.polluted && hasEnumerables(Object.prototype)) throw new EncodeError('', 'Expected Object.prototype to keep still while a value is read, got enumerable properties added to it (by a getter?)')
    let bytes: Uint8Array | undefined
    if (walk.writing) {
      bytes = walk.out.slice(0, walk.pos)
      bytes[0] = MAPS_MARK
    }
    return { copy, flags: walk.flags, shared: walk.shared, objects: walk.objects, bytes }
  } finally {
    walk.reset()
    idle = walk
  }
}

/**
 * Throws `EncodeError` naming the first path whose value would not survive
 * encoding: a function, a symbol, a class instance with no encoding, a
 * symbol-keyed property, a string or key with a lone surrogate, a sparse
 * array, a value nested deeper than {@link MAX_DEPTH}, a getter or Proxy
 * trap that throws, or a SharedArrayBuffer (shared memory is not a value).
 */
export function checkEncodable(value: unknown): void {
  capture(value, false)
}

/** Checks and encodes `value`, reading it once. @throws EncodeError naming the path of what cannot be encoded */
export function encode(value: unknown): Uint8Array {
  return encodeWithFlags(value).bytes
}

/** What {@link encodeWithFlags} returns. */
export interface Encoded {
  /** The encoding. */
  readonly bytes: Uint8Array
  /** The {@link ValueFlags} of the value. */
  readonly flags: number
  /**
   * The walk's own copy of the value, when it is an object or array made of
   * plain objects, arrays and primitives only (no flag set, no shared
   * reference), else undefined. Nobody else holds it; `freezeTree(tree)` is
   * then deep-equal to `decodeFrozen(bytes, flags)`, for a writer that reads
   * back what it just wrote without decoding it.
   */
  readonly tree: object | undefined
}

/** Every {@link ValueFlags} bit. */
const ANY_FLAG = ValueFlags.PROTO_KEY | ValueFlags.COLLECTIONS | ValueFlags.NEGATIVE_ZERO | ValueFlags.LEAVES

/**
 * {@link encode}, also returning the {@link ValueFlags} of the value.
 * @param small whether the value is likely small (SMALL VALUES: the walk
 *   then writes its bytes itself, until it meets what only msgpackr writes;
 *   writing a large value's first objects for nothing cost a 2 KB snapshot
 *   ~15 %). A caller that encodes values of one kind passes
 *   {@link isMapsForm} of its last encoding.
 */
export function encodeWithFlags(value: unknown, small = true): Encoded {
  const { copy, flags, shared, objects, bytes: written } = capture(value, small)
  const tree = !shared && (flags & ANY_FLAG) === 0 && typeof copy === 'object' && copy !== null ? copy : undefined
  // Written by the walk itself (SMALL VALUES): every string was checked as it was written.
  if (written !== undefined) return { bytes: written, flags, tree }
  let bytes: Uint8Array
  if (objects <= FEW_OBJECTS && !shared && (flags & ValueFlags.COLLECTIONS) === 0) {
    // MessagePack maps, behind MAPS_MARK (one byte reserved by msgpackr at the start of its output).
    bytes = mapsPackr.pack(copy, RESERVE_START_SPACE | 1)
    bytes[0] = MAPS_MARK
  } else {
    // msgpackr's structured-clone mode tracks every object it writes (a Map get and set each, ~8 % of a pack),
    // needed only for the cycles and shared references the walk saw. Both write the same records and
    // extensions, so either's bytes decode with the same decoder.
    bytes = (shared ? packr : treePackr).pack(copy)
  }
  return { bytes, flags, tree }
}

/** Whether `bytes` (of {@link encode}) are of the maps form, that of small values (see {@link encodeWithFlags}'s `small`). */
export function isMapsForm(bytes: Uint8Array): boolean {
  return bytes[0] === MAPS_MARK
}

/** Decodes bytes written by {@link encode} in any thread. @throws DecodeError for bytes that are not such an encoding */
export function decode(bytes: Uint8Array): unknown {
  return decodeRange(bytes, 0, bytes.length)
}

/**
 * Decodes the bytes `start..end` of `bytes`. Pass the same (reused) buffer
 * every time: msgpackr caches a DataView per source array, so decoding from
 * a fresh `subarray` each call costs about twice as much for small values.
 * @throws DecodeError for bytes that are not such an encoding
 */
export function decodeRange(bytes: Uint8Array, start: number, end: number): unknown {
  if (bytes[start] === MAPS_MARK) {
    const fast = decodeMaps(bytes, start + 1, end, false)
    if (fast !== NOT_OURS) return fast
  }
  let value: unknown
  try {
    value = bytes[start] === MAPS_MARK ? mapsPackr.unpack(bytes, { start: start + 1, end }) : packr.unpack(bytes, { start, end })
  } catch (error) {
    throw new DecodeError(`Expected bytes written by threadstate's encoder, got undecodable bytes: ${(error as Error).message}`)
  }
  return value === C1 ? notEncoded() : value
}

/**
 * Decodes into deep-frozen data: msgpackr freezes objects and arrays as it
 * builds them (much cheaper than a walk afterwards); Maps, Sets, Dates,
 * RegExps, typed arrays, DataViews and ArrayBuffers, which `Object.freeze`
 * does not protect from their own methods, are then locked by a walk
 * (encoding/freeze.ts), but only when the encoder saw some (`flags` from
 * {@link encodeWithFlags}); the few objects of a value written as
 * MessagePack maps ({@link FEW_OBJECTS}), which msgpackr does not freeze
 * (it does freeze their arrays), by `freezeTree`, or by that walk if the
 * value holds such objects.
 */
export function decodeFrozen(bytes: Uint8Array, flags: number): unknown {
  return decodeRangeFrozen(bytes, 0, bytes.length, flags)
}

/**
 * {@link decodeFrozen} of the bytes `start..end` of a reused buffer (see
 * {@link decodeRange} for why a range rather than a subarray).
 */
export function decodeRangeFrozen(bytes: Uint8Array, start: number, end: number, flags: number): unknown {
  let value: unknown
  const mapped = bytes[start] === MAPS_MARK
  if (mapped && (flags & NEEDS_FREEZE_WALK) === 0) {
    // Written by the walk (SMALL VALUES): read and frozen in one pass (maps-decoder.ts).
    const fast = decodeMaps(bytes, start + 1, end, true)
    if (fast !== NOT_OURS) return fast
  }
  try {
    value = mapped ? frozenMapsPackr.unpack(bytes, { start: start + 1, end }) : frozenPackr.unpack(bytes, { start, end })
  } catch (error) {
    throw new DecodeError(`Expected bytes written by threadstate's encoder, got undecodable bytes: ${(error as Error).message}`)
  }
  if (value === C1) notEncoded()
  if ((flags & NEEDS_FREEZE_WALK) !== 0) return deepFreeze(value)
  return mapped ? freezeTree(value) : value
}

/** msgpackr answers the byte 0xC1 (which MessagePack never writes, and the encoder never writes as a value) with its `C1` token. */
function notEncoded(): never {
  throw new DecodeError("Expected bytes written by threadstate's encoder, got undecodable bytes: the byte 0xC1 where a value was expected")
}
