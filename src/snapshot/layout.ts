/**
 * Shared-memory layout of a SnapshotStore and the read protocol.
 *
 * Two buffers: a fixed *control* region (the handle's `buffer`) and a
 * growable *data* buffer (the handle's `data`) holding encoded snapshots.
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
 *    64     writer Mutex (MUTEX_BYTES: 320 bytes)
 *   384     source table (256 bytes, shared/sources.ts)
 *   640     SLOT META: K x 48 bytes
 *             [version f64 | timestamp f64 | offset i32 | length i32 | source i32 | capacity i32 |
 *              flags i32 (ValueFlags of the snapshot: does it hold Maps/Sets) | pad]
 *   832     READ_RETRIES (i32) copies readers threw away because the writer lapped them
 *   836     LONGEST_RETRY_STREAK (i32) the most retries one read needed
 *   840     end
 *  data: K regions (one per slot), each at `offset` with `capacity` bytes;
 *        a slot that needs more gets a new region at END (the buffer grows,
 *        up to maxBytes); its old region is never written again.
 * ```
 *
 * Protocol: the seqlock ring of StateBuffer (state/layout.ts) with K slots:
 * the writer, holding the mutex, writes version v into slot v mod K (its
 * region, then its metadata) and only then stores PUB. A reader copies the
 * slot's bytes into a private buffer and accepts the copy only if PUB moved by
 * at most K - 2 meanwhile, so the writer had not begun overwriting that slot.
 * A torn copy is never decoded: decoding happens after the check, on the
 * private copy. Metadata read while a writer re-homes the slot can be
 * nonsense (an offset past the end); the reader then retries.
 *
 * Memory: regions only move when a snapshot outgrows its slot; capacities at
 * least double each time, so the data buffer holds at most about twice the
 * K largest snapshots.
 *
 * @module
 */
import { Header } from '../memory/layout.js'
import { Source } from '../shared/sources.js'
import { MUTEX_BYTES } from '../sync/robust-lock.js'

/** Int32 word offsets of the control region. */
export const SnapWord = {
  PUB: Header.WORDS,
  WAITERS: Header.WORDS + 1,
  SLOTS: Header.WORDS + 2,
  END: Header.WORDS + 3,
  SOURCES_USED: Header.WORDS + 4,
  WRITERS_DIED: Header.WORDS + 5,
  GROWS: Header.WORDS + 6,
  DECODES: Header.WORDS + 7,
} as const

/** Float64 indices of the control region. */
export const SnapF64 = { PUBLISHES: 6, BYTES_PUBLISHED: 7 } as const

/** Byte offsets of the control areas. */
export const SnapArea = {
  MUTEX: 64,
  SOURCES: 64 + MUTEX_BYTES,
  META: 64 + MUTEX_BYTES + Source.TABLE_BYTES,
} as const

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

/** Slots of every store. */
export const SNAPSHOT_SLOTS = 4

/** Int32 words after the slot metadata: reader retry figures (written only when a read retried). */
export const SnapRetryWord = {
  READ_RETRIES: (SnapArea.META + SNAPSHOT_SLOTS * SlotInfo.BYTES) / 4,
  LONGEST_RETRY_STREAK: (SnapArea.META + SNAPSHOT_SLOTS * SlotInfo.BYTES) / 4 + 1,
} as const

/** Bytes of the control region. */
export const CONTROL_BYTES = SnapArea.META + SNAPSHOT_SLOTS * SlotInfo.BYTES + 8

/** Readers give up (throw) after this many retries in a row. */
export const SNAPSHOT_MAX_RETRIES = 10_000
