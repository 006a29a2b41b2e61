/**
 * Deep freezing of decoded values, so that one decoded snapshot can be handed
 * to every caller in a thread without any of them changing it for the others.
 *
 * Objects and arrays are `Object.freeze`d. A Map or Set cannot be frozen that
 * way (its entries live outside its properties), so its mutators are
 * shadowed by own methods that throw, then it is frozen. Typed arrays cannot
 * be frozen at all and are left as they are (they are private copies).
 *
 * @module
 */

function refuse(): never {
  throw new TypeError('Cannot change a frozen snapshot: copy it first (structuredClone)')
}

/** Freezes `value` and everything reachable from it; returns `value`. */
export function deepFreeze<T>(value: T): T {
  freeze(value, new Set())
  return value
}

function freeze(value: unknown, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || seen.has(value)) return
  seen.add(value)
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return
  if (value instanceof Map) {
    for (const [k, v] of value) {
      freeze(k, seen)
      freeze(v, seen)
    }
    for (const m of ['set', 'delete', 'clear']) Object.defineProperty(value, m, { value: refuse })
  } else if (value instanceof Set) {
    for (const v of value) freeze(v, seen)
    for (const m of ['add', 'delete', 'clear']) Object.defineProperty(value, m, { value: refuse })
  } else if (!(value instanceof Date) && !(value instanceof RegExp)) {
    for (const key of Object.keys(value)) freeze((value as Record<string, unknown>)[key], seen)
  }
  Object.freeze(value)
}

/** Values {@link DeepReadonly} leaves as they are. */
type Leaf = string | number | bigint | boolean | symbol | null | undefined | Date | RegExp | ArrayBuffer | ArrayBufferView

/**
 * The type of what a deep-frozen read returns (`SnapshotStore.get()`,
 * `SharedMap.getFrozen()`, ...): objects, arrays and tuples become readonly
 * all the way down, Maps and Sets become `ReadonlyMap`/`ReadonlySet`, so
 * `store.get().agents[0].tokens++` does not compile (at run time it throws).
 * Left as they are: primitives, `Date` and `RegExp` (frozen, but their
 * methods still work), and typed arrays and `ArrayBuffer`s (which cannot be
 * frozen: do not change them, they are shared by every read of the version).
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
