/**
 * Deep freezing of decoded values, so that one decoded snapshot can be handed
 * to every caller in a thread without any of them changing it for the others.
 *
 * Objects and arrays are `Object.freeze`d. `Object.freeze` does not stop the
 * objects whose state lives in internal slots rather than properties: a
 * frozen Map still has a working `set`, a frozen Date a working `setTime`,
 * a frozen RegExp a `compile` that swaps its pattern (and then throws), a
 * DataView its `setInt32`s. So each such object gets own, non-enumerable
 * methods shadowing its mutators that throw `TypeError` (as a write to a
 * frozen object's property does), then is frozen:
 *
 * | kind | mutators shadowed |
 * |---|---|
 * | Map | set, delete, clear |
 * | Set | add, delete, clear |
 * | Date | every `set*` method of Date.prototype (setTime, setFullYear, ...) |
 * | RegExp | compile (then sealed, not frozen: `lastIndex`, the cursor of a g or y RegExp that replace, match, test and exec write, stays writable) |
 * | typed array | set, fill, copyWithin, reverse, sort (then sealed: `Object.freeze` throws for one with elements) |
 * | DataView | every `set*` method of DataView.prototype |
 * | ArrayBuffer (own or under a view) | resize, transfer, transferToFixedLength, where the runtime has them |
 *
 * The object keeps its prototype, so `instanceof`, `structuredClone` (which
 * copies the internal slots, not the shadowing methods: the copy is an
 * ordinary, mutable one) and a `publish` of what was read work as before.
 * What no JavaScript object can refuse: an element write to a typed array
 * (`samples[0] = 1`) or a write through a new view of a buffer
 * (`new Uint8Array(view.buffer)`). Neither integer-indexed properties nor
 * buffer bytes can be made read-only in Node 20 (no immutable ArrayBuffer;
 * a Proxy would make `structuredClone` throw and every element read pay a
 * trap): treat typed arrays of a frozen read as read-only, `.slice()` one to
 * change it. A method called through the prototype
 * (`Date.prototype.setTime.call(d, 0)`) is not stopped either.
 *
 * Cost (only values holding such objects are walked: `ValueFlags` in
 * values.ts): the walk, plus one `defineProperty` per shadowed method,
 * ~3.5 us per Date, ~2.5 us per typed array, ~1 us per Map, once per
 * version per thread. Swapping the prototype for a frozen subclass would
 * cost ~0.5 us per Date, but a frozen read would then no longer be
 * `util.isDeepStrictEqual` to what was written (it compares prototypes),
 * and the encoder refuses subclasses: exact round trips win here.
 *
 * @module
 */

/** A shadowing method: throws as a write to a frozen object does. */
function refuser(kind: string, method: string): () => never {
  const message = `Cannot call ${method} on a ${kind} of a frozen snapshot: copy it first (structuredClone)`
  return function refuse(): never {
    throw new TypeError(message)
  }
}

/** The methods of `prototype` among `methods`, each with the function that shadows it. */
interface Shadows {
  readonly names: readonly string[]
  readonly refusers: readonly (() => never)[]
}

function shadowing(kind: string, prototype: object, methods: readonly string[]): Shadows {
  const names = methods.filter((method) => method in prototype)
  return { names, refusers: names.map((method) => refuser(kind, method)) }
}

/**
 * Gives `object` own, non-enumerable, read-only methods that throw. One
 * `Object.defineProperty` per method with a fresh `{ value }` descriptor
 * (writable, enumerable, configurable default to false): measured here
 * twice as fast as one `Object.defineProperties` with a shared map (100
 * decoded Maps: 87-96 us against 169-180 us).
 */
function shadow(object: object, shadows: Shadows): void {
  const { names, refusers } = shadows
  for (let i = 0; i < names.length; i++) Object.defineProperty(object, names[i]!, { value: refusers[i] })
}

const settersOf = (prototype: object): string[] => Object.getOwnPropertyNames(prototype).filter((name) => name.startsWith('set'))
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object

const MAP_LOCK = shadowing('Map', Map.prototype, ['set', 'delete', 'clear'])
const SET_LOCK = shadowing('Set', Set.prototype, ['add', 'delete', 'clear'])
const DATE_LOCK = shadowing('Date', Date.prototype, settersOf(Date.prototype))
const REGEXP_LOCK = shadowing('RegExp', RegExp.prototype, ['compile'])
const TYPED_ARRAY_LOCK = shadowing('typed array', TypedArrayPrototype, ['set', 'fill', 'copyWithin', 'reverse', 'sort'])
const DATA_VIEW_LOCK = shadowing('DataView', DataView.prototype, settersOf(DataView.prototype))
const BUFFER_LOCK = shadowing('ArrayBuffer', ArrayBuffer.prototype, ['resize', 'transfer', 'transferToFixedLength'])

/** Freezes `value` and everything reachable from it; returns `value`. */
export function deepFreeze<T>(value: T): T {
  freeze(value, new Set())
  return value
}

function freeze(value: unknown, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return
  seen.add(value)
  if (ArrayBuffer.isView(value)) {
    shadow(value, value instanceof DataView ? DATA_VIEW_LOCK : TYPED_ARRAY_LOCK)
    if (value.buffer instanceof ArrayBuffer) freeze(value.buffer, seen) // a decoded view's own buffer (never a SharedArrayBuffer)
    Object.seal(value) // freeze would throw for a typed array with elements
    return
  }
  if (value instanceof ArrayBuffer) shadow(value, BUFFER_LOCK)
  else if (value instanceof Date) shadow(value, DATE_LOCK)
  else if (value instanceof RegExp) {
    // Sealed, not frozen: `lastIndex` is the cursor of a g or y RegExp, written by every
    // replace/match/test/exec; frozen, `'a'.replace(/a/g, 'b')` would throw. The pattern cannot change.
    shadow(value, REGEXP_LOCK)
    Object.seal(value)
    return
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      freeze(k, seen)
      freeze(v, seen)
    }
    shadow(value, MAP_LOCK)
  } else if (value instanceof Set) {
    for (const v of value) freeze(v, seen)
    shadow(value, SET_LOCK)
  } else {
    for (const key of Object.keys(value)) freeze((value as Record<string, unknown>)[key], seen)
  }
  Object.freeze(value)
}

/**
 * Freezes every plain object of `value`, a value msgpackr decoded from the
 * maps form with `freezeData` (which freezes its arrays, not its objects)
 * and without the kinds {@link deepFreeze} locks (no Map, Set, Date,
 * RegExp, typed array, DataView or ArrayBuffer: the encoder's flags say
 * so). Such a value is a tree (the maps form holds no cycle or shared
 * reference), so no set of objects seen is kept, and no kind is tested:
 * for the 2 KB status of the snapshot bench 1.1 us, against 3.5 us for
 * deepFreeze. Returns `value`.
 */
export function freezeTree<T>(value: T): T {
  if (typeof value === 'object' && value !== null) freezeNode(value, hasEnumerables(Object.prototype))
  return value
}

/** Whether `object` has enumerable string-keyed properties, own or inherited (what `for...in` lists). */
export function hasEnumerables(object: object): boolean {
  for (const key in object) return key !== undefined
  return false
}

function freezeNode(node: object, polluted: boolean): void {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const item: unknown = node[i]
      if (typeof item === 'object' && item !== null) freezeNode(item, polluted)
    }
  } else {
    // `for...in` reads through V8's enum cache (twice as fast here as
    // Object.keys and an indexed read); it also lists what Object.prototype
    // has enumerable, which is skipped, never frozen.
    for (const key in node) {
      if (polluted && !Object.hasOwn(node, key)) continue
      const item = (node as Record<string, unknown>)[key]
      if (typeof item === 'object' && item !== null) freezeNode(item, polluted)
    }
  }
  Object.freeze(node)
}

/** Values {@link DeepReadonly} leaves as they are. */
type Leaf = string | number | bigint | boolean | symbol | null | undefined | Date | RegExp | ArrayBuffer | ArrayBufferView

/**
 * The type of what a deep-frozen read returns (`SnapshotStore.get()`,
 * `SharedMap.getFrozen()`, ...): objects, arrays and tuples become readonly
 * all the way down, Maps and Sets become `ReadonlyMap`/`ReadonlySet`, so
 * `store.get().agents[0].tokens++` does not compile (at run time it throws).
 * Left as they are: primitives, and `Date`, `RegExp`, typed arrays,
 * `DataView` and `ArrayBuffer`, whose types keep their mutating methods
 * (TypeScript has no read-only Date, and such a type could not be passed
 * where a `Date` is taken) although in a frozen read those methods throw
 * `TypeError`. A typed array's elements cannot be made read-only at run
 * time: do not write them, they are shared by every read of the version
 * (`.slice()` one to change it).
 * A plain `T` is assignable to `DeepReadonly<T>`, not the reverse: to change
 * a value, copy it (`structuredClone`) or build the next one.
 *
 * @example
 * ```ts
 * type Status = { agents: { name: string; tokens: number }[] }
 * const status: DeepReadonly<Status> = store.get()
 * status.agents[0].tokens++ // error: tokens is read-only
 * store.modify((prev) => ({ agents: prev.agents.map((a) => ({ ...a, tokens: a.tokens + 1 })) }))
 * ```
 */
export type DeepReadonly<T> = 0 extends 1 & T
  ? T // any stays any
  : unknown extends T
    ? T // unknown stays unknown
    : T extends Leaf
      ? T
      : T extends (...args: never[]) => unknown
        ? T
        : T extends ReadonlyMap<infer K, infer V>
          ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
          : T extends ReadonlySet<infer U>
            ? ReadonlySet<DeepReadonly<U>>
            : { readonly [K in keyof T]: DeepReadonly<T[K]> }
