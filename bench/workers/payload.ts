/**
 * The state every StateBuffer bench moves, and the checksum that lets a
 * reader prove a copy is whole.
 *
 * The state is 25 doubles (`schema({ a: vec(25) })`, the DESIGN.md target
 * size). The payload of version v is
 *
 * ```
 *  a[k]  = v + k            for k = 0..23   (a[0] is the version)
 *  a[24] = a[0] + ... + a[23] = 24 v + 276
 * ```
 *
 * so a copy that mixes two versions fails {@link isWhole} whichever words it
 * took from which version (any word k > 0 from another version than a[0]
 * breaks `a[k] = a[0] + k`; a[24] from another version breaks the sum), and
 * a reader can also check that a[0] equals the version it was told it read.
 * Values stay exact integers in a double for any version a bench reaches.
 *
 * @module
 */
import { schema, vec } from 'threadstate'

/** Float64 words of the state. */
export const PAYLOAD = 25

/** The schema of every StateBuffer bench: one vector of 25 doubles. */
export const State25 = schema({ a: vec(PAYLOAD) })

/** Writes the payload of version `v` into `a` (a plain array or a Float64Array). */
export function fillPayload(a: { [k: number]: number }, v: number): void {
  for (let k = 0; k < PAYLOAD - 1; k++) a[k] = v + k
  a[PAYLOAD - 1] = 24 * v + 276
}

/** Whether `a[offset..offset+24]` is the payload of one version (see the module comment). */
export function isWhole(a: Float64Array, offset = 0): boolean {
  const v = a[offset]!
  for (let k = 1; k < PAYLOAD - 1; k++) if (a[offset + k] !== v + k) return false
  return a[offset + PAYLOAD - 1] === 24 * v + 276
}

/**
 * Copies 25 doubles, written out (no loop): the copy a hand-written seqlock
 * uses, as fast as the StateBuffer's generated copy.
 */
export function copy25(s: Float64Array, p: number, d: Float64Array, q: number): void {
  d[q] = s[p]!; d[q + 1] = s[p + 1]!; d[q + 2] = s[p + 2]!; d[q + 3] = s[p + 3]!; d[q + 4] = s[p + 4]!
  d[q + 5] = s[p + 5]!; d[q + 6] = s[p + 6]!; d[q + 7] = s[p + 7]!; d[q + 8] = s[p + 8]!; d[q + 9] = s[p + 9]!
  d[q + 10] = s[p + 10]!; d[q + 11] = s[p + 11]!; d[q + 12] = s[p + 12]!; d[q + 13] = s[p + 13]!; d[q + 14] = s[p + 14]!
  d[q + 15] = s[p + 15]!; d[q + 16] = s[p + 16]!; d[q + 17] = s[p + 17]!; d[q + 18] = s[p + 18]!; d[q + 19] = s[p + 19]!
  d[q + 20] = s[p + 20]!; d[q + 21] = s[p + 21]!; d[q + 22] = s[p + 22]!; d[q + 23] = s[p + 23]!; d[q + 24] = s[p + 24]!
}

/** Copies 25 numbers from a plain array into a Float64Array, written out: the raw form of an update. */
export function copyArray25(s: readonly number[], d: Float64Array, q: number): void {
  d[q] = s[0]!; d[q + 1] = s[1]!; d[q + 2] = s[2]!; d[q + 3] = s[3]!; d[q + 4] = s[4]!
  d[q + 5] = s[5]!; d[q + 6] = s[6]!; d[q + 7] = s[7]!; d[q + 8] = s[8]!; d[q + 9] = s[9]!
  d[q + 10] = s[10]!; d[q + 11] = s[11]!; d[q + 12] = s[12]!; d[q + 13] = s[13]!; d[q + 14] = s[14]!
  d[q + 15] = s[15]!; d[q + 16] = s[16]!; d[q + 17] = s[17]!; d[q + 18] = s[18]!; d[q + 19] = s[19]!
  d[q + 20] = s[20]!; d[q + 21] = s[21]!; d[q + 22] = s[22]!; d[q + 23] = s[23]!; d[q + 24] = s[24]!
}
