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
