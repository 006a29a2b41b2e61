/**
 * Shared-memory layout of a SnapshotStore and the read protocol.
 *
 * Two buffers: a fixed *control* region (the handle's `buffer`) and a
 * *data* buffer (the handle's `data`) holding encoded snapshots: growable
 * up to `maxBytes`, or, for a store whose `maxBytes` is at most
 * `SMALL_OBJECT_MAX_BYTES`, fixed-length of `maxBytes` (no memory mapping of
 * its own: `memory/growable.ts`). The code reads only `byteLength` and
 * `maxByteLength`, which a fixed-length buffer has too (equal).
 *
 * ```
 *  control, Int32 words
 *     0..3  header (MAGIC, TYPE_TAG=SnapshotStore, LAYOUT_VERSION, BYTE_LENGTH)
 *     4     PUB           low 32 bits of the latest published version
 *     5     WAITERS       threads sleeping on PUB
 *     6     SLOTS         K, a power of two (4)
 *     7     END           bytes of the data buffer handed out so far
 *     8     SOURCES_USED  interned source names
 *     9     WRITERS_DIED  publishes that found the previous writer dead mid-publish
 *    10     GROWS         times a slot got a larger region
 *    11     DECODES       snapshots decoded, summed over threads (each decodes a version once)
 *  control, bytes
 *    48     Float64 PUBLISHES, 56 BYTES_PUBLISHED
 *    64     writer lock (a Mutex region, WRITER_LOCK_BYTES: 320 bytes)
 *   384     source table (256 bytes, memory/sources.ts)
 *   640     SLOT META: K x 48 bytes
 *             [version f64 | timestamp f64 | offset i32 | length i32 | source i32 | capacity i32 |
 *              flags i32 (ValueFlags of the snapshot: does it hold Maps/Sets) | pad]
 *   832     READ_RETRIES (i32) copies readers threw away because the writer lapped them
 *   836     LONGEST_RETRY_STREAK (i32) the most retries one read needed
 *   840     FLOOR (i32)   oldest PUB value whose slot still holds its snapshot
 *   848     end
 *  data: K regions (one per slot), each at `offset` with `capacity` bytes
 *        (0: the slot has none); END is the highest end of a region so far.
 *        A slot that needs more gets a new region where no other slot's is
 *        (regions.ts), and the buffer grows up to maxBytes.
 * ```
 *
 * Protocol: the version ring of `sync/seqlock.ts` with K slots: the writer,
 * holding the writer lock, writes version v into slot v mod K (its region,
 * then its metadata) and only then stores PUB. A reader copies the slot's
 * bytes into a private buffer and accepts the copy only if PUB moved by at
 * most K - 2 meanwhile, so the writer had not begun overwriting that slot.
 * A torn copy is never decoded: decoding happens after the check, on the
 * private copy. Metadata read while a writer re-homes the slot can be
 * nonsense (an offset past the end); the reader then retries.
 *
 * Memory: regions only move when a snapshot outgrows its slot (capacities at
 * least double each time while there is room). Memory no slot owns is
 * reused, and when the buffer is full the writer takes the regions of older
 * snapshots, all but the latest (regions.ts). Why no reader can be hurt:
 *
 * - The region the next slot (version PUB + 1, slot (PUB + 1) mod K) had
 *   held version PUB + 1 - K, which no reader accepts any more (PUB moved by
 *   K - 1 > K - 2 since). A slot's old region after it moved is such a
 *   region: it was left while writing that slot, so it is free at once,
 *   and any later plain store into it follows a PUB store that makes copies
 *   begun in it fail the lag check (the same argument as a slot
 *   overwritten in place, `sync/seqlock.ts`).
 * - The regions of PUB - 1 and PUB - 2 may still be copied by readers that
 *   will pass the lag check. The writer takes one only after raising FLOOR
 *   past its PUB value (`FlooredRing.retire` in `sync/seqlock.ts`, writer barrier included); a
 *   reader loads FLOOR after its fence, like PUB, and refuses a copy taken
 *   at a PUB below it. The slot's capacity becomes 0, so it gets a region
 *   again before it is written. The latest snapshot's region is never
 *   taken: a publish needs room for the new snapshot beside the latest.
 * - Readers read a slot's `offset` and `length` only, never `capacity`, and
 *   bounds-check them; a region given to a slot is one no other slot's
 *   `[offset, offset + capacity)` overlaps, so a writer never writes into
 *   bytes that an accepted copy read.
 *
 * @module
 */
import { f64At, i32At, LayoutPlan } from '../memory/fields.js'
import { Source } from '../memory/sources.js'
import { WRITER_LOCK_BYTES } from '../sync/writer-lock.js'

/** Slots of every store. */
export const SNAPSHOT_SLOTS = 4

/** One slot's metadata (48 bytes): Float64 and Int32 indices within it. */
export const SlotInfo = {
  BYTES: 48,
  /** Float64 */
  VERSION: 0,
  TIMESTAMP: 1,
  /** Int32 */
  OFFSET: 4,
  LENGTH: 5,
  SOURCE: 6,
  CAPACITY: 7,
  FLAGS: 8,
} as const

const plan = new LayoutPlan('SnapshotStore')
const PUB = plan.i32('PUB')
const WAITERS = plan.i32('WAITERS')
const SLOTS = plan.i32('SLOTS')
const END = plan.i32('END')
const SOURCES_USED = plan.i32('SOURCES_USED')
const WRITERS_DIED = plan.i32('WRITERS_DIED')
const GROWS = plan.i32('GROWS')
const DECODES = plan.i32('DECODES')
const PUBLISHES = plan.f64('PUBLISHES')
const BYTES_PUBLISHED = plan.f64('BYTES_PUBLISHED')
const MUTEX = plan.area('MUTEX', WRITER_LOCK_BYTES)
const SOURCES = plan.area('SOURCES', Source.TABLE_BYTES)
const META = plan.area('META', SNAPSHOT_SLOTS * SlotInfo.BYTES)
const READ_RETRIES = plan.i32('READ_RETRIES')
const LONGEST_RETRY_STREAK = plan.i32('LONGEST_RETRY_STREAK')
const FLOOR = plan.i32('FLOOR')

/** Bytes of the control region (a multiple of 8: Float64 views cover it). */
export const CONTROL_BYTES = plan.finish(Math.ceil((FLOOR + 4) / 8) * 8)

/** Int32 word offsets of the control region. */
export const SnapWord = {
  PUB: i32At(PUB),
  WAITERS: i32At(WAITERS),
  SLOTS: i32At(SLOTS),
  END: i32At(END),
  SOURCES_USED: i32At(SOURCES_USED),
  WRITERS_DIED: i32At(WRITERS_DIED),
  GROWS: i32At(GROWS),
  DECODES: i32At(DECODES),
  /** Reader retry figures (written only when a read retried). */
  READ_RETRIES: i32At(READ_RETRIES),
  LONGEST_RETRY_STREAK: i32At(LONGEST_RETRY_STREAK),
  /** Oldest PUB value whose slot still holds its snapshot (readers refuse copies taken below it). */
  FLOOR: i32At(FLOOR),
} as const

/** Float64 indices of the control region. */
export const SnapF64 = { PUBLISHES: f64At(PUBLISHES), BYTES_PUBLISHED: f64At(BYTES_PUBLISHED) } as const

/** Byte offsets of the control areas. */
export const SnapArea = { MUTEX, SOURCES, META } as const

/** Readers give up (throw) after this many retries in a row. */
export const SNAPSHOT_MAX_RETRIES = 10_000
