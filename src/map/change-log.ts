/**
 * The change log of a SharedMap: what `subscribe()` reads. The record
 * format, its encoder (run inside a commit) and its decoder (run by a
 * subscriber on a private copy) live here together, so they cannot drift.
 *
 * The log is a byte ring (the handle's `log`, a power of two) written only
 * while somebody subscribes (SUBSCRIBERS > 0). SUBSCRIBERS keeps each
 * subscribing thread's share (`sync/thread-counts.ts`), so the subscriptions
 * of a thread that died are given back: by `stats()`, and by the writer each
 * time LOG_HEAD crosses half the ring, so writers stop logging for dead
 * subscribers after at most half a ring. LOG_HEAD is the ring position
 * after the last record, mod 2^32; only commits move it, through the journal,
 * so a rolled-back commit takes its record back. A subscriber copies the
 * bytes from its position to LOG_HEAD in a consistent read of the map (the
 * sequence word), then parses the copy. A subscriber that fell more than half
 * the ring behind may have lost bytes to newer records: it reads the whole
 * map instead and gets a `reset` event.
 *
 * ```
 *  record (little-endian):
 *    +0  Int32 bytes   the record's length
 *    +4  Int32 changes how many follow; LOG_RESET: re-read the whole map
 *                      (a record too large for the ring, or a mirror reloaded
 *                      from its remote truth: map/mirror.ts); LOG_CLEAR: cleared
 *    +8  Float64 version
 *    +16 changes, each:
 *        +0 Int32 keyLength (UTF-16 units) | +4 Int32 tag (ValueTag | flags << 8,
 *        or TAG_DELETED) | +8 Int32 valueLength (bytes) | +12 the key as UTF-16,
 *        padded to 4 | the value (Float64, UTF-16 or MessagePack), padded to 4
 * ```
 *
 * @module
 */
import { ThreadstateError } from '../errors.js'
import { decode } from '../encoding/values.js'
import type { Domain } from '../memory/thread.js'
import { countIn, countOut, forgetDead } from '../sync/thread-counts.js'
import type { AsyncWaitOptions } from '../sync/wait.js'
import type { MapChange, MapChangeEvent } from './api.js'
import { MapF64, MapWord, SUBSCRIBER_SLOTS_WORD, ValueTag } from './layout.js'
import type { MapMemory } from './memory.js'
import { RETRY, type Retry } from '../sync/seqlock.js'
import type { MapReader } from './reader.js'
import { DELETE, type Changes } from './value.js'

/** Record header: [Int32 bytes][Int32 changes][Float64 version]. */
const RECORD_HEADER = 16
/** Per-change header: [Int32 keyLength][Int32 tag][Int32 valueLength]. */
const CHANGE_HEADER = 12
/** A record whose `changes` is this asks subscribers to re-read the whole map. */
const LOG_RESET = -1
/** A record whose `changes` is this says the map was cleared. */
const LOG_CLEAR = -2
/** A `tag` in a change that means "deleted". */
const TAG_DELETED = 255

/** Rounds up to a multiple of 4. */
function align4(n: number): number {
  return (n + 3) & ~3
}

// ---- encoder (inside a commit) -----------------------------------------------------

/** Encodes commits into the ring. One per thread and map; used with the writers' lock held. */
export class ChangeLogWriter {
  private readonly ring: Uint8Array
  /** The record being built (copied into the ring in at most two pieces). */
  private out = new Uint8Array(256)

  constructor(
    log: SharedArrayBuffer,
    private readonly ctl: Int32Array,
    private readonly domain: Domain,
  ) {
    this.ring = new Uint8Array(log)
  }

  /**
   * Writes the record of a commit after LOG_HEAD, if anybody subscribes
   * ('reset': the whole map was replaced, subscribers re-read it).
   * @returns the new LOG_HEAD for the commit to store (journaled), or undefined if nothing was written
   */
  append(version: number, changes: Changes | 'clear' | 'reset'): number | undefined {
    // A plain read (~1 ns; Atomics.load ~7 here). The commit's odd SEQ store
    // comes before it, and the subscriber's side is an RMW of SUBSCRIBERS,
    // then a read of SEQ (subscribe below), so this read must not be
    // performed before that store is visible. It is not: on x86-64 that
    // sequentially consistent store is itself a full barrier (XCHG), and on
    // ARM64 beginWrite follows it with a read-modify-write (orderAfterBusy)
    // that the plain load cannot pass (acquire); V8 keeps the load after the
    // Atomics calls (effect chain).
    if (this.ctl[MapWord.SUBSCRIBERS]! <= 0) return undefined
    const ring = this.ring
    let bytes = RECORD_HEADER
    if (typeof changes !== 'string') {
      for (const [key, value] of changes) bytes += CHANGE_HEADER + align4(2 * key.length) + (value === DELETE ? 0 : align4(value.length))
    }
    let n = changes === 'clear' ? LOG_CLEAR : changes === 'reset' ? LOG_RESET : changes.length
    if (bytes > ring.length / 2) {
      n = LOG_RESET
      bytes = RECORD_HEADER
    }
    if (this.out.length < bytes) this.out = new Uint8Array(Math.max(bytes, this.out.length * 2))
    const out = this.out
    const view = new DataView(out.buffer, 0, bytes)
    view.setInt32(0, bytes, true)
    view.setInt32(4, n, true)
    view.setFloat64(8, version, true)
    if (n >= 0 && typeof changes !== 'string') {
      let at = RECORD_HEADER
      for (const [key, value] of changes) {
        const deleted = value === DELETE
        view.setInt32(at, key.length, true)
        view.setInt32(at + 4, deleted ? TAG_DELETED : value.tag | (value.flags << 8), true)
        view.setInt32(at + 8, deleted ? 0 : value.length, true)
        at += CHANGE_HEADER
        for (let i = 0; i < key.length; i++) view.setUint16(at + 2 * i, key.charCodeAt(i), true)
        at += align4(2 * key.length)
        if (deleted) continue
        if (value.tag === ValueTag.NUMBER) view.setFloat64(at, value.number, true)
        else if (value.tag === ValueTag.STRING) {
          const s = value.string
          for (let i = 0; i < s.length; i++) view.setUint16(at + 2 * i, s.charCodeAt(i), true)
        } else if (value.tag === ValueTag.PACKED) out.set(value.bytes!, at)
        at += align4(value.length)
      }
    }
    const head = this.ctl[MapWord.LOG_HEAD]!
    const start = head & (ring.length - 1)
    const first = Math.min(bytes, ring.length - start)
    ring.set(out.subarray(0, first), start)
    if (first < bytes) ring.set(out.subarray(first, bytes), 0)
    const next = (head + bytes) | 0
    // Once per half ring logged: give back the subscriptions of dead threads.
    if (((head ^ next) & -(ring.length >> 1)) !== 0) liveSubscribers(this.ctl, this.domain)
    return next
  }
}

/** SUBSCRIBERS after giving back the subscriptions of threads marked dead. */
export function liveSubscribers(ctl: Int32Array, domain: Domain): number {
  forgetDead(ctl, MapWord.SUBSCRIBERS, SUBSCRIBER_SLOTS_WORD, domain)
  return Atomics.load(ctl, MapWord.SUBSCRIBERS)
}

// ---- decoder (a subscriber) -------------------------------------------------------------

/** What a subscription needs from its map. */
export interface ChangeLogSource {
  /** The map's views (LOG_HEAD, SUBSCRIBERS, VERSION). */
  readonly memory: MapMemory
  /** Consistent reads of the log and, after a reset, of the whole map. */
  readonly reader: MapReader
  /** The change-log ring. */
  readonly log: SharedArrayBuffer
  /** The map's domain, as this thread sees it (its id counts the subscription). */
  readonly domain: Domain
  /** Resolves once the map's version is at least `version` (false: timed out or aborted). */
  waitForVersionAsync(version: number, options: AsyncWaitOptions): Promise<boolean>
}

/** What one read of the log found: the bytes since a position, or (lost or asked for) the whole map. */
type LogRead = { reset: false; bytes: Uint8Array; head: number } | { reset: true; entries: [string, unknown][]; head: number; version: number }

/**
 * The change events of a map from the first `next()` on, in commit order;
 * see `SharedMap.subscribe`.
 */
export async function* followChanges<V>(source: ChangeLogSource, signal: AbortSignal | undefined): AsyncGenerator<MapChangeEvent<V>, void, undefined> {
  if (signal?.aborted) return
  const { memory, reader } = source
  const ctl = memory.ctl
  const ring = new Uint8Array(source.log)
  // The subscription starts here, synchronously, at the first next(): a write
  // this thread makes right after it is delivered (taking the writers' lock
  // here, across an await, made such a write throw DeadlockError). Writers
  // decide whether to log while SEQ is odd (mid-commit), so once SUBSCRIBERS
  // is raised, a commit either logs its record or is over before the
  // consistent read below, whose version then includes it.
  const slot = countIn(ctl, MapWord.SUBSCRIBERS, SUBSCRIBER_SLOTS_WORD, source.domain)
  let start: { position: number; version: number }
  try {
    start = reader.read(() => ({ position: ctl[MapWord.LOG_HEAD]!, version: memory.ctlF64[MapF64.VERSION]! }))
  } catch (error) {
    countOut(ctl, MapWord.SUBSCRIBERS, slot, source.domain) // a read that threw (a corrupted map) leaves no subscriber counted
    throw error
  }
  let position = start.position
  let version = start.version
  /** The ring's bytes from `from` to the head, or (overwritten, or `whole`) every entry with the head and version. */
  const readLog = (from: number, whole: boolean): LogRead | Retry => {
    const head = ctl[MapWord.LOG_HEAD]!
    const n = (head - from) >>> 0
    if (whole || n > ring.length / 2) {
      const entries = reader.copyAll()
      if (entries === RETRY) return RETRY
      return { reset: true, entries, head, version: memory.ctlF64[MapF64.VERSION]! }
    }
    const bytes = new Uint8Array(n)
    const start = from & (ring.length - 1)
    const first = Math.min(n, ring.length - start)
    bytes.set(ring.subarray(start, start + first))
    if (first < n) bytes.set(ring.subarray(0, n - first), first)
    return { reset: false, bytes, head }
  }
  // Decoded right after the read that copied them (the reader's scratch is reused by the next read).
  const everything = (entries: [string, unknown][]): MapChange<V>[] => entries.map(([key, value]) => ({ key, value: reader.resolve(value) as V }))
  try {
    for (;;) {
      try {
        await source.waitForVersionAsync(version + 1, signal ? { signal } : {})
      } catch (error) {
        if (signal?.aborted) return
        throw error
      }
      const from = position
      const got = reader.read(() => readLog(from, false))
      if (got.reset) {
        position = got.head
        version = got.version
        yield { version, changes: everything(got.entries), reset: true }
        continue
      }
      position = got.head
      for (const event of parseLog<V>(got.bytes)) {
        if (event === 'reset') {
          const all = reader.read(() => readLog(position, true))
          if (!all.reset) throw new ThreadstateError('Expected a whole-map read, got change records')
          position = all.head
          version = all.version
          yield { version, changes: everything(all.entries), reset: true }
          break
        }
        if (event.version <= version) continue
        version = event.version
        yield event
      }
    }
  } finally {
    countOut(ctl, MapWord.SUBSCRIBERS, slot, source.domain)
  }
}

/** Parses change records (a private copy, so decoding is safe); 'reset' for a reset record. */
function* parseLog<V>(bytes: Uint8Array): Generator<MapChangeEvent<V> | 'reset'> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let at = 0; at + RECORD_HEADER <= bytes.length; ) {
    const size = view.getInt32(at, true)
    const n = view.getInt32(at + 4, true)
    const version = view.getFloat64(at + 8, true)
    if (size < RECORD_HEADER || at + size > bytes.length) {
      throw new ThreadstateError(`Expected a well-formed change record at ${at}, got size ${size}: the change log is corrupted`)
    }
    if (n === LOG_RESET) {
      yield 'reset'
      return
    }
    if (n === LOG_CLEAR) {
      yield { version, changes: [], reset: true }
      at += size
      continue
    }
    const changes: MapChange<V>[] = []
    let p = at + RECORD_HEADER
    for (let i = 0; i < n; i++) {
      const keyLength = view.getInt32(p, true)
      const tag = view.getInt32(p + 4, true)
      const length = view.getInt32(p + 8, true)
      p += CHANGE_HEADER
      let key = ''
      for (let j = 0; j < keyLength; j++) key += String.fromCharCode(view.getUint16(p + 2 * j, true))
      p += align4(2 * keyLength)
      if (tag === TAG_DELETED) {
        changes.push({ key, deleted: true })
        continue
      }
      changes.push({ key, value: decodeValue(view, bytes, p, tag & 0xff, length) as V })
      p += align4(length)
    }
    yield { version, changes }
    at += size
  }
}

/** Decodes the value of a change (the inverse of the encoder's value part). */
function decodeValue(view: DataView, bytes: Uint8Array, at: number, tag: number, length: number): unknown {
  switch (tag) {
    case ValueTag.UNDEFINED:
      return undefined
    case ValueTag.NULL:
      return null
    case ValueTag.FALSE:
      return false
    case ValueTag.TRUE:
      return true
    case ValueTag.NUMBER:
      return view.getFloat64(at, true)
    case ValueTag.STRING: {
      let s = ''
      for (let j = 0; j < length >> 1; j++) s += String.fromCharCode(view.getUint16(at + 2 * j, true))
      return s
    }
    default:
      return decode(bytes.subarray(at, at + length))
  }
}
