/**
 * Where a SnapshotStore slot's region goes when its snapshot outgrows it.
 * Only a writer (holding the writer lock) calls this; the slots' metadata in
 * shared memory is the only record of which bytes are taken, so nothing else
 * needs to be kept (or repaired after a writer died mid-publish: the slot it
 * was filling was never published, and its `offset` is stored before its
 * `capacity`, so a half-moved slot claims at most bytes that were free).
 * Why giving a region away cannot hurt a reader: `layout.ts`.
 *
 * @module
 */

/** Bytes `[offset, end)` that a slot owns. */
export interface Extent {
  readonly offset: number
  readonly end: number
}

/** Whether `[offset, offset + size)` lies in `[0, limit)` and overlaps none of `taken`. */
export function isFree(taken: readonly Extent[], offset: number, size: number, limit: number): boolean {
  if (offset < 0 || offset + size > limit) return false
  for (const t of taken) if (offset < t.end && t.offset < offset + size) return false
  return true
}

/**
 * Where to put `size` bytes among `taken` within `[0, limit)`, or -1 if no
 * gap is that large.
 *
 * - `'low'`: the lowest gap that fits, at its start (reuses holes first and
 *   keeps the buffer short).
 * - `'ends'`: flush against an end of the buffer (offset 0 or `limit -
 *   size`) if either is free, else as `'low'`. Used once older snapshots'
 *   regions are taken: a region at an end leaves the next publish one
 *   contiguous gap beside it, `limit` minus its size, instead of two halves.
 */
export function findGap(taken: readonly Extent[], size: number, limit: number, where: 'low' | 'ends'): number {
  if (where === 'ends') {
    if (isFree(taken, 0, size, limit)) return 0
    if (isFree(taken, limit - size, size, limit)) return limit - size
  }
  const sorted = [...taken].sort((a, b) => a.offset - b.offset)
  let start = 0
  for (const t of sorted) {
    if (t.offset - start >= size) return start
    start = Math.max(start, t.end)
  }
  return limit - start >= size ? start : -1
}
