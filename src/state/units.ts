/**
 * Unit conversion for schema fields, on js-quantities (a well-kept library
 * that parses compound units: 'km/h', 'deg/s', 'm/s^2', '%'). We only ask it
 * for a converter per (from, to) pair, once, and cache it: converting is then
 * one multiply-add, and only `{ value, unit }` inputs pay even that.
 *
 * @module
 */
import Qty from 'js-quantities/esm'
import { OptionError, describe } from '../errors.js'

type Converter = (value: number) => number
const converters = new Map<string, Converter | string>()

/** Checks that `unit` is a unit js-quantities knows. */
export function checkUnit(unit: string, where: string): void {
  let ok = false
  try {
    ok = Qty.parse(`1 ${unit}`) !== null
  } catch {
    ok = false
  }
  if (!ok) throw new OptionError(`Expected \`unit\` of ${where} to be a known unit ('m', 'km/h', 'deg', '%', ...), got ${describe(unit)}`)
}

/**
 * A function converting numbers from `from` to `to`, or a message saying why
 * there is none (unknown unit, other dimension).
 */
export function converter(from: string, to: string): Converter | string {
  const key = `${from}\u0000${to}`
  let c = converters.get(key)
  if (c === undefined) {
    try {
      c = from === to ? (x: number) => x : (Qty.swiftConverter(from, to) as Converter)
    } catch (error) {
      c = error instanceof Error ? error.message : String(error)
    }
    converters.set(key, c)
  }
  return c
}
