/**
 * Shared-memory layout of a SharedMap, and why it is built this way.
 *
 * Four buffers travel in the handle:
 *
 * - **control** (the handle's `buffer`, fixed): the words below.
 * - **data** (growable; fixed-length of `maxBytes` for a small map,
 *   `memory/growable.ts`): an arena of 16-byte-aligned blocks holding the hash
 *   table and one block per entry (key and value together).
 * - **journal** (growable; fixed-length for a small map): the undo log of the commit in progress.
 * - **log** (fixed, a power of two): a byte ring of committed changes, for
 *   `subscribe()`; written only while somebody subscribes (`change-log.ts`).
 *
 * ```
 *  control, Int32 words
 *     0..3  header (MAGIC, TYPE_TAG=SharedMap, LAYOUT_VERSION, BYTE_LENGTH)
 *     4     SEQ          sequence word: odd while a writer changes the map
 *     5     WAITERS      threads sleeping on SEQ
 *     6     TABLE        byte offset of the table block in data (0: no table, empty map)
 *     7     COUNT        entries
 *     8     TOP          end of the arena handed out so far (bump pointer)
 *     9     FREE_BYTES   bytes on the free lists
 *    10     JOURNAL_LEN  undo records of the commit in progress (0 outside a commit)
 *    11     SUBSCRIBERS  subscriptions (writers log changes while > 0); per-thread shares in SUBSCRIBER_SLOTS
 *    12     LOG_HEAD     ring position after the last committed change record (mod 2^32)
 *    13     WRITERS_DIED commits rolled back because their writer died
 *    14     READ_RETRIES optimistic reads that had to retry
 *    15     LOCKED_READS reads that fell back to the writers' lock
 *    16     TABLE_GROWS  times the table was rebuilt larger
 *    17     ROLLBACKS    commits rolled back because they threw (capacity, ...)
 *  control, bytes
 *    72     Float64 VERSION   latest version (commits so far)
 *    80     Float64 WRITES    commits
 *    88     Int32 LONGEST_RETRY_STREAK  the most optimistic tries one read lost (locked fallback included)
 *    92     Int32 SEED   this map's hash seed (random, set by create, never changed: {@link hashKey})
 *    96     writer lock (a Mutex region, WRITER_LOCK_BYTES: 320 bytes)
 *   416     FREE_HEADS: one Int32 list head per size class (112 words)
 *   864     SUBSCRIBER_SLOTS: SUBSCRIBERS' per-thread shares (sync/thread-counts.ts, 32 words)
 *   992     end
 *
 *  Built below with a LayoutPlan (memory/fields.ts) from the fields' sizes, in
 *  this order; the indices the code uses are derived from the byte offsets,
 *  and the plan refuses overlapping fields when the module loads. Moving a
 *  field changes every thread's view of it: bump LAYOUT_VERSION.SharedMap.
 *
 *  data blocks (every block starts with its size class's size in bytes)
 *   entry:  +0 size | +4 hash | +8 version f64 | +16 keyLength (UTF-16 units)
 *           | +20 valueLength (bytes) | +24 tag (ValueTag | flags << 8)
 *           | +28 key as UTF-16 | value at align8(28 + 2 * keyLength)
 *   table:  +0 size | +4 capacity (a power of two) | +16 slots: [hash, entry offset] x capacity
 *   free:   +0 size | +4 next free block of its class (0: none)
 * ```
 *
 * **Reading** (`reader.ts`) is a seqlock over the whole map (the `SeqWord`
 * of `sync/seqlock.ts`; Linux's `read_seqbegin_or_lock`): a reader loads SEQ, and if it is even, looks the
 * key up and copies what it needs, then accepts the copy only if SEQ still
 * has that value. Nothing read during a change is used: values are decoded
 * after the check, from a private copy, and every offset read is bounds-
 * checked first, so garbage read mid-change can make a reader retry but
 * never throw or loop. A reader that keeps losing to writers takes the
 * writers' mutex and reads under it, so it is never starved.
 *
 * **Writing** (`writer.ts`, changes made by `table.ts`): one writer at a
 * time (the writer lock). A commit makes SEQ odd,
 * applies every change of the call (several keys, deletes, table growth),
 * and makes SEQ even again: a reader sees all of a multi-key update or none.
 * Before changing any word that committed state depends on, the writer
 * appends its old value to the journal. If the commit throws (the arena is
 * full) or the writer's thread dies mid-commit, the journal is replayed
 * backwards, restoring the map word for word; the next lock holder does this
 * when the lock reports the owner died. New blocks are written unjournaled:
 * nothing committed points at them yet.
 *
 * **Memory**: freed blocks (an overwritten value's entry, a deleted entry,
 * an outgrown table) go onto the free list of their size class and are
 * reused by the next allocation of that class, immediately: a reader that
 * was still looking at the old block sees SEQ changed and retries. Blocks
 * are freed only at the end of a commit, so a rollback never finds a block
 * of the committed state reused. The arena itself never shrinks
 * (a SharedArrayBuffer cannot); `clear()` empties the free lists and
 * restarts the bump pointer. Size classes are 16-byte steps up to 256 bytes,
 * then four per power of two (so at most ~20 % of a large block is slack).
 *
 * @module
 */
import { f64At, i32At, LayoutPlan } from '../memory/fields.js'
import { WRITER_LOCK_BYTES } from '../sync/writer-lock.js'
import { THREAD_COUNT_BYTES } from '../sync/thread-counts.js'

/** Size classes (see {@link classOf}). */
export const NUM_CLASSES = 112

const plan = new LayoutPlan('SharedMap control')
const SEQ = plan.i32('SEQ')
const WAITERS = plan.i32('WAITERS')
const TABLE = plan.i32('TABLE')
const COUNT = plan.i32('COUNT')
const TOP = plan.i32('TOP')
const FREE_BYTES = plan.i32('FREE_BYTES')
const JOURNAL_LEN = plan.i32('JOURNAL_LEN')
const SUBSCRIBERS = plan.i32('SUBSCRIBERS')
const LOG_HEAD = plan.i32('LOG_HEAD')
const WRITERS_DIED = plan.i32('WRITERS_DIED')
const READ_RETRIES = plan.i32('READ_RETRIES')
const LOCKED_READS = plan.i32('LOCKED_READS')
const TABLE_GROWS = plan.i32('TABLE_GROWS')
const ROLLBACKS = plan.i32('ROLLBACKS')
const VERSION = plan.f64('VERSION')
const WRITES = plan.f64('WRITES')
const LONGEST_RETRY_STREAK = plan.i32('LONGEST_RETRY_STREAK')
const SEED = plan.i32('SEED')
const MUTEX = plan.area('MUTEX', WRITER_LOCK_BYTES)
const FREE_HEADS = plan.area('FREE_HEADS', NUM_CLASSES * 4, 4)
const SUBSCRIBER_SLOTS = plan.area('SUBSCRIBER_SLOTS', THREAD_COUNT_BYTES, 4)

/** Bytes of the control region. */
export const MAP_CONTROL_BYTES = plan.finish()

/** Int32 word offsets of the control region. */
export const MapWord = {
  SEQ: i32At(SEQ),
  WAITERS: i32At(WAITERS),
  TABLE: i32At(TABLE),
  COUNT: i32At(COUNT),
  TOP: i32At(TOP),
  FREE_BYTES: i32At(FREE_BYTES),
  JOURNAL_LEN: i32At(JOURNAL_LEN),
  SUBSCRIBERS: i32At(SUBSCRIBERS),
  LOG_HEAD: i32At(LOG_HEAD),
  WRITERS_DIED: i32At(WRITERS_DIED),
  READ_RETRIES: i32At(READ_RETRIES),
  LOCKED_READS: i32At(LOCKED_READS),
  TABLE_GROWS: i32At(TABLE_GROWS),
  ROLLBACKS: i32At(ROLLBACKS),
  LONGEST_RETRY_STREAK: i32At(LONGEST_RETRY_STREAK),
  SEED: i32At(SEED),
} as const

/** Float64 indices of the control region. */
export const MapF64 = { VERSION: f64At(VERSION), WRITES: f64At(WRITES) } as const

/** Byte offsets of the control areas. */
export const MapArea = { MUTEX, FREE_HEADS, SUBSCRIBER_SLOTS } as const

/** Int32 word of the first of SUBSCRIBERS' per-thread shares. */
export const SUBSCRIBER_SLOTS_WORD = i32At(SUBSCRIBER_SLOTS)

/** Int32 word of the first free-list head. */
export const FREE_HEADS_WORD = i32At(FREE_HEADS)

/** Byte offsets within an entry block. */
export const Entry = {
  SIZE: 0,
  HASH: 4,
  VERSION: 8,
  KEY_LENGTH: 16,
  VALUE_LENGTH: 20,
  TAG: 24,
  KEY: 28,
} as const

/** Byte offsets within a table block. */
export const Table = { SIZE: 0, CAPACITY: 4, SLOTS: 16 } as const

/** Smallest table (slots). The table doubles while more than half full. */
export const MIN_TABLE = 8

/** First block of the arena (offset 0 means "none"). */
export const ARENA_START = 16

/** How a value is stored in an entry. */
export const ValueTag = {
  UNDEFINED: 0,
  NULL: 1,
  FALSE: 2,
  TRUE: 3,
  /** A Float64, 8 bytes. */
  NUMBER: 4,
  /** A string as UTF-16 code units. */
  STRING: 5,
  /** Anything else, MessagePack (encoding/values.ts); flags in bits 8+. */
  PACKED: 6,
} as const

/** Byte offset of the value within an entry whose key has `keyLength` UTF-16 units. */
export function valueOffset(keyLength: number): number {
  return (Entry.KEY + 2 * keyLength + 7) & ~7
}

/** Size class of a block of `n` bytes (n >= 1). */
export function classOf(n: number): number {
  if (n <= 256) return ((n + 15) >> 4) - 1
  const p = 31 - Math.clz32(n - 1) // 2^p < n <= 2^(p+1)
  const step = 1 << (p - 2)
  return 16 + (p - 8) * 4 + Math.ceil((n - (1 << p)) / step) - 1
}

/** Bytes of a block of class `c`. */
export function classSize(c: number): number {
  if (c < 16) return (c + 1) * 16
  const p = 8 + ((c - 16) >> 2)
  return 2 ** p + (((c - 16) & 3) + 1) * 2 ** (p - 2)
}

/**
 * The table hash of `key` in a map whose seed is `seed`: FNV-1a over the
 * UTF-16 code units of `key` started from the seed, then the high half
 * folded into the low one. Keys are compared unit by unit, so any string
 * (lone surrogates included) is a key of its own.
 *
 * Why seeded (issue 15 item 11): keys often come from requests, and with
 * the fixed FNV-1a start anyone can compute, offline, thousands of keys
 * with one hash (a Joux multicollision, 1.6 s for 50,000), turning every
 * probe into a walk over all of them with the writers' lock held. Each map
 * draws a random 32-bit seed when it is created and keeps it in its memory
 * (SEED), so every thread hashes alike and a flood needs the seed. Why the
 * fold: the low k bits of an FNV state depend only on the low k bits of the
 * start and of each unit, so keys differing only in the high bits of their
 * units would land in one bucket of a table of 2^k slots whatever the seed;
 * folding bits 16..31 into the index breaks that. Units enter 16 bits at a
 * time at the bottom of the state, so no difference a key can inject passes
 * a multiplication unchanged except its lowest bit: a collision needs the
 * carries, which depend on the seed. Not a cryptographic PRF (SipHash
 * would be, at several times the cost of a `get`): it stops collisions
 * computed without the seed, not an attacker who can measure lookups to
 * learn it.
 */
export function hashKey(key: string, seed: number): number {
  let h = seed ^ 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h ^ (h >>> 16)) | 0
}

/** A random 32-bit hash seed for a new map (`crypto.getRandomValues` where there is one). */
export function newSeed(): number {
  const word = new Int32Array(1)
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Int32Array) => Int32Array } }).crypto
  if (c?.getRandomValues) c.getRandomValues(word)
  else word[0] = (Math.random() * 0x100000000) | 0
  return word[0]!
}

/** Readers retry optimistically this many times before taking the writers' lock. */
export const OPTIMISTIC_TRIES = 64
