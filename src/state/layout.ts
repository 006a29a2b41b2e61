/**
 * Shared-memory layout of a StateBuffer, and the read protocol every reader
 * path uses.
 *
 * ```
 *  byte    0  header (MAGIC, TYPE_TAG=StateBuffer, LAYOUT_VERSION, BYTE_LENGTH)
 *  Int32 word
 *          4  PUB           low 32 bits of the latest published version (0: none yet)
 *          5  WAITERS       threads sleeping on PUB (the writer notifies only if > 0)
 *          6  SLOTS         ring length S (a power of two)
 *          7  SIZE          Float64 words of one flat state (N)
 *          8  HASH          hash of the schema's fingerprint
 *          9  SOURCES_USED  interned source names
 *         10  WRITERS_DIED  updates that found the previous writer dead mid-update
 *  byte   64  Float64 UPDATES (written by the writer holding the mutex)
 *  byte   72  OVERFLOW: 4 x BigInt64 read counters (reads, fresh, stale, retries) of
 *             threads that found no counter slot, added atomically; kept off the
 *             cache line of PUB, which every reader polls
 *  byte  128  writer Mutex (a full Mutex region, MUTEX_BYTES: 320 bytes)
 *  byte  448  SOURCES: 8 x 32 bytes  [count f64 | name length i32 | 20 bytes UTF-8]
 *  byte  704  READER COUNTERS: 8 x 64 bytes, one cache line per reader thread
 *               [owner i32 | fence i32 | reads | fresh | stale | retries | longest retry streak] (f64)
 *             A thread claims one on its first read (writers never do).
 *  byte 1216  RING: S slots x (3 + N) Float64 words
 *               [version | timestamp (ms since epoch) | source id | N payload words]
 * ```
 *
 * Protocol (a seqlock ring; one version counter instead of one sequence word
 * per slot). The writer, holding the mutex, writes version v into slot
 * `v mod S` and only then stores PUB = v. Slot `v mod S` next changes when
 * version v + S is written, which starts only after PUB = v + S - 1 was
 * stored. So a reader that copied slot `v mod S` and then sees
 * `PUB - v <= S - 2` knows the writer had not begun overwriting it: the copy
 * is whole. Otherwise it retries. With S slots a reader is only retried when
 * the writer completes S - 1 updates during one copy (a thread preempted
 * mid-copy), which is why a full-speed writer does not starve readers as one
 * seqlock word does (94 % retries measured here).
 *
 * Memory ordering (the "do not lean on x86" rule of DESIGN.md): the writer's
 * PUB store is followed by its mutex release and next acquisition, two
 * read-modify-writes, before it writes any slot again; a reader puts a
 * read-modify-write on a word of its own (no contention) between its plain
 * copy and its re-check of PUB. On x86-64, whose stores and loads are not
 * reordered that way, the reader skips it (`strongMemoryOrdering`).
 *
 * @module
 */
import { Header } from '../memory/layout.js'
import { MUTEX_BYTES } from '../sync/robust-lock.js'

/** Int32 word offsets from the region start. */
export const StateWord = {
  PUB: Header.WORDS,
  WAITERS: Header.WORDS + 1,
  SLOTS: Header.WORDS + 2,
  SIZE: Header.WORDS + 3,
  HASH: Header.WORDS + 4,
  SOURCES_USED: Header.WORDS + 5,
  WRITERS_DIED: Header.WORDS + 6,
} as const

/** BigInt64 indices (from the region start) of the overflow read counters. */
export const Overflow = {
  READS: 9,
  FRESH: 10,
  STALE: 11,
  RETRIES: 12,
} as const

/** Float64 indices from the region start. */
export const StateF64 = {
  UPDATES: 8,
} as const

/** Byte offsets of the areas. */
export const StateArea = {
  MUTEX: 128,
  SOURCES: 128 + MUTEX_BYTES,
  READERS: 128 + MUTEX_BYTES + 256,
  RING: 128 + MUTEX_BYTES + 256 + 8 * 64,
} as const

/** Per-thread read counters: 8 slots of one cache line each. */
export const ReaderCounter = {
  MAX: 8,
  BYTES: 64,
  /** Int32 indices within a slot. */
  OWNER: 0,
  FENCE: 1,
  /** Float64 indices within a slot. */
  READS: 1,
  FRESH: 2,
  STALE: 3,
  RETRIES: 4,
  LONGEST_STREAK: 5,
} as const

/** Float64 words of slot metadata before the payload. */
export const SlotMeta = { VERSION: 0, TIMESTAMP: 1, SOURCE: 2, WORDS: 3 } as const

/** Bytes of a StateBuffer with `slots` slots of `size`-word states. */
export function stateBytes(slots: number, size: number): number {
  return StateArea.RING + slots * (SlotMeta.WORDS + size) * 8
}

/** Readers give up (throw) after this many retries in a row; see StateReader. */
export const MAX_RETRIES = 10_000
