/**
 * Keys and values of the map benches, the same in every thread: a pool of
 * keys holding numbers and a pool holding small objects (a camera reading,
 * ~50 bytes of JSON), as a service-status dictionary or a camera registry
 * (seeds 001, 002) would hold. Every thread that writes writes these shapes,
 * so a reader can check what it got: a number, or a reading whose `sum` is
 * `id + seq`.
 *
 * @module
 */

/** Keys per pool (a power of two: readers pick `pool[k & (POOL - 1)]`). */
export const POOL = 1024

/** A small object value: ~50 bytes as JSON. */
export interface Reading {
  readonly id: number
  readonly seq: number
  readonly host: string
  /** `id + seq`: the check a reader makes. */
  readonly sum: number
}

/** The reading of camera `id` at sequence `seq`. */
export function reading(id: number, seq: number): Reading {
  return { id, seq, host: `cam-${String(id).padStart(4, '0')}`, sum: id + seq }
}

/** Keys of the number pool: `num/0000` .. `num/1023`. */
export const NUMBER_KEYS: readonly string[] = Array.from({ length: POOL }, (_, i) => `num/${String(i).padStart(4, '0')}`)

/** Keys of the object pool: `obj/0000` .. `obj/1023`. */
export const OBJECT_KEYS: readonly string[] = Array.from({ length: POOL }, (_, i) => `obj/${String(i).padStart(4, '0')}`)

/** Number value of a key at sequence `seq` (not an integer, so a JS Map holds it as a heap number, as it would a measurement). */
export const numberValue = (seq: number): number => seq + 0.5

/** Every key of both pools with its value at sequence 0: what every map of the get/set benches starts with. */
export function initialEntries(): [string, number | Reading][] {
  return [...NUMBER_KEYS.map((key): [string, number] => [key, numberValue(0)]), ...OBJECT_KEYS.map((key, i): [string, Reading] => [key, reading(i, 0)])]
}

/** UTF-8 bytes of a typical reading's JSON (for the notes): `{"id":512,"seq":4096,"host":"cam-0512","sum":4608}`. */
export const READING_JSON_BYTES = Buffer.byteLength(JSON.stringify(reading(512, 4096)))

/** Keys of the 1M-key build: `sensor/0` .. `sensor/999999`. */
export const bigKey = (i: number): string => `sensor/${i}`
