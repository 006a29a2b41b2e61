/**
 * Shared-memory layout of a StateBuffer.
 *
 * ```
 *  byte    0  header (MAGIC, TYPE_TAG=StateBuffer, LAYOUT_VERSION, BYTE_LENGTH)
 *         16  PUB           Int32: low 32 bits of the latest published version (0: none yet)
 *         20  WAITERS       Int32: threads sleeping on PUB (the writer notifies only if > 0)
 *         24  SLOTS         Int32: ring length S (a power of two)
 *         28  SIZE          Int32: Float64 words of one flat state (N)
 *         32  HASH          Int32: hash of the schema's fingerprint
 *         36  SOURCES_USED  Int32: interned source names
 *         40  WRITERS_DIED  Int32: publishes that found the previous writer dead mid-publish
 *         44  DELTA         Int32: version minus PUB (mod 2^32) of the latest publish: 0, except
 *                           in a mirror whose remote source skipped versions (threadstate/redis),
 *                           where a publish may jump; version v is then in the slot of PUB value
 *                           v - DELTA (versions before the jump are no longer found)
 *         64  UPDATES       Float64: publishes (written by the writer holding the lock)
 *         72  OVERFLOW      4 x BigInt64 read counters (reads, fresh, stale, retries) of
 *                           threads that found no counter slot, added atomically; kept off
 *                           the cache line of PUB, which every reader polls
 *        128  MUTEX         the writer lock (a Mutex region, WRITER_LOCK_BYTES: 320 bytes)
 *        448  SOURCES       8 x 32 bytes [count f64 | name length i32 | 20 bytes UTF-8]
 *        704  READERS       8 x 64 bytes, one cache line per reader thread:
 *                           [owner i32 | fence i32 | reads | fresh | stale | retries |
 *                            longest retry streak] (f64). A thread claims one on its first
 *                           read (writers never do); its fence word is the reader's own.
 *       1216  RING          S slots x (3 + N) Float64 words:
 *                           [version | timestamp (ms since epoch) | source id | N payload words]
 * ```
 *
 * Protocol: the version ring of `sync/seqlock.ts` (VersionRing) with S
 * slots: the writer, holding the writer lock, writes version v into slot
 * `(PUB + 1) mod S` (`v mod S` unless DELTA says otherwise) and only then stores PUB; a reader accepts its copy of slot
 * `PUB mod S` only if PUB moved by at most S - 2 meanwhile. The memory
 * ordering argument is written there.
 *
 * Every index below is derived from a byte offset of one {@link LayoutPlan}
 * (checked when the module loads: no overlap, aligned, within the region).
 *
 * @module
 */
import { f64At, i32At, LayoutPlan } from '../memory/fields.js'
import { Source } from '../memory/sources.js'
import { WRITER_LOCK_BYTES } from '../sync/writer-lock.js'

/** Reader threads with a counter slot of their own (more share the overflow counters). */
const READER_SLOTS = 8
/** A reader's counter slot: one cache line. */
const READER_BYTES = 64

const plan = new LayoutPlan('StateBuffer')
const PUB = plan.i32('PUB')
const WAITERS = plan.i32('WAITERS')
const SLOTS = plan.i32('SLOTS')
const SIZE = plan.i32('SIZE')
const HASH = plan.i32('HASH')
const SOURCES_USED = plan.i32('SOURCES_USED')
const WRITERS_DIED = plan.i32('WRITERS_DIED')
const DELTA = plan.i32('DELTA')
// The second cache line: the writer's counter and the shared overflow counters.
const UPDATES = plan.at('UPDATES', 64, 8)
const OVERFLOW_READS = plan.i64('OVERFLOW_READS')
const OVERFLOW_FRESH = plan.i64('OVERFLOW_FRESH')
const OVERFLOW_STALE = plan.i64('OVERFLOW_STALE')
const OVERFLOW_RETRIES = plan.i64('OVERFLOW_RETRIES')
const MUTEX = plan.area('MUTEX', WRITER_LOCK_BYTES, 64)
const SOURCES = plan.area('SOURCES', Source.TABLE_BYTES)
const READERS = plan.area('READERS', READER_SLOTS * READER_BYTES, 64)
/** Bytes before the ring (the ring starts right after them). */
const FIXED_BYTES = plan.finish()

const counter = new LayoutPlan('StateBuffer reader counter', false)
const OWNER = counter.i32('OWNER')
const FENCE = counter.i32('FENCE')
const READS = counter.f64('READS')
const FRESH = counter.f64('FRESH')
const STALE = counter.f64('STALE')
const RETRIES = counter.f64('RETRIES')
const LONGEST_STREAK = counter.f64('LONGEST_STREAK')
counter.finish(READER_BYTES)

const slot = new LayoutPlan('StateBuffer slot metadata', false)
const VERSION = slot.f64('VERSION')
const TIMESTAMP = slot.f64('TIMESTAMP')
const SOURCE = slot.f64('SOURCE')
/** Bytes of a slot before its payload. */
const SLOT_META_BYTES = slot.finish()

/** Int32 word offsets from the region start. */
export const StateWord = {
  PUB: i32At(PUB),
  WAITERS: i32At(WAITERS),
  SLOTS: i32At(SLOTS),
  SIZE: i32At(SIZE),
  HASH: i32At(HASH),
  SOURCES_USED: i32At(SOURCES_USED),
  WRITERS_DIED: i32At(WRITERS_DIED),
  DELTA: i32At(DELTA),
} as const

/** BigInt64 indices (from the region start) of the overflow read counters. */
export const Overflow = {
  READS: f64At(OVERFLOW_READS),
  FRESH: f64At(OVERFLOW_FRESH),
  STALE: f64At(OVERFLOW_STALE),
  RETRIES: f64At(OVERFLOW_RETRIES),
} as const

/** Float64 indices from the region start. */
export const StateF64 = {
  UPDATES: f64At(UPDATES),
} as const

/** Byte offsets of the areas. */
export const StateArea = {
  MUTEX,
  SOURCES,
  READERS,
  RING: FIXED_BYTES,
} as const

/** Per-thread read counters: {@link ReaderCounter.MAX} slots of one cache line each. */
export const ReaderCounter = {
  MAX: READER_SLOTS,
  BYTES: READER_BYTES,
  /** Int32 indices within a slot. */
  OWNER: i32At(OWNER),
  FENCE: i32At(FENCE),
  /** Float64 indices within a slot. */
  READS: f64At(READS),
  FRESH: f64At(FRESH),
  STALE: f64At(STALE),
  RETRIES: f64At(RETRIES),
  LONGEST_STREAK: f64At(LONGEST_STREAK),
} as const

/** Float64 words of slot metadata before the payload. */
export const SlotMeta = {
  VERSION: f64At(VERSION),
  TIMESTAMP: f64At(TIMESTAMP),
  SOURCE: f64At(SOURCE),
  WORDS: f64At(SLOT_META_BYTES),
} as const

/** Bytes of a StateBuffer with `slots` slots of `size`-word states. */
export function stateBytes(slots: number, size: number): number {
  return StateArea.RING + slots * (SlotMeta.WORDS + size) * 8
}

/** Readers give up (throw) after this many retries in a row; see StateReader. */
export const MAX_RETRIES = 10_000
