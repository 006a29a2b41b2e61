/**
 * The writer side of a SharedMap: the undo journal, the block allocator, the
 * hash table and the change log. Every method here runs with the map's
 * writer mutex held and SEQ odd (see layout.ts for the protocol).
 *
 * Written by hand: no library offers a hash map in a SharedArrayBuffer with
 * lock-free readers, let alone one that can be rolled back after its writer's
 * thread is killed mid-update.
 *
 * @module
 */
import { CapacityError } from '../errors.js'
import {
  ARENA_START,
  Entry,
  FREE_HEADS_WORD,
  LOG_CHANGE_HEADER,
  LOG_CLEAR,
  LOG_RECORD_HEADER,
  LOG_RESET,
  MAP_CONTROL_BYTES,
  MIN_TABLE,
  MapF64,
  MapWord,
  NUM_CLASSES,
  TAG_DELETED,
  Table,
  ValueTag,
  classOf,
  classSize,
  valueOffset,
} from './layout.js'
import type { MapMemory } from './memory.js'
import type { Prepared } from './value.js'

/** Marks a key deleted in a set of changes. */
export const DELETE = Symbol('delete')

/** The changes of one commit, each key at most once: [key, new value or {@link DELETE}]. */
export type Changes = readonly (readonly [string, Prepared | typeof DELETE])[]

const VERSION_WORD = MapF64.VERSION * 2
const WRITES_WORD = MapF64.WRITES * 2
const GROW_STEP = 1 << 16

/**
 * Test-only: the "recovery without the undo journal" broken variant, kept in
 * the suite to prove that the checks can see a dead writer's half commit
 * (test/shared-map-threads.test.ts, verify/fault-matrix.mjs). While on, a lock
 * holder that finds the previous writer dead forgets the journal instead of
 * replaying it. Module state: it affects only the thread that sets it, and
 * only the recovery path reads it (nothing on a read or a commit).
 */
let skipJournalReplay = false

/**
 * Turns the broken variant above on or off in the calling thread. Test-only:
 * not exported from the package's entry points.
 * @internal
 */
export function setSkipJournalReplayForTesting(on: boolean): void {
  skipJournalReplay = on
}

/** Smallest power of two >= n. */
export function pow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n))
}

/** Applies commits to a map's memory, journaled so they can be undone. */
export class MapWriter {
  private journalView: Int32Array
  private journalLength = 0
  /** Control words journaled in this commit (each is journaled once, at its first change). */
  private readonly touched = new Uint8Array(MAP_CONTROL_BYTES / 4)
  private readonly touchedList = new Int32Array(MAP_CONTROL_BYTES / 4)
  private touchedCount = 0
  /** Blocks to free when the commit is complete. */
  private frees = new Int32Array(64)
  private freeCount = 0
  private logBytes = new Uint8Array(256)
  private readonly logRing: Uint8Array

  constructor(
    private readonly m: MapMemory,
    private readonly journal: SharedArrayBuffer,
    log: SharedArrayBuffer,
    private readonly maxBytes: number,
  ) {
    this.journalView = new Int32Array(journal, 0, journal.byteLength >> 2)
    this.logRing = new Uint8Array(log)
  }

  // ---- journal ------------------------------------------------------------------

  private record(index: number, old: number): void {
    const n = this.journalLength
    if (2 * n + 2 > this.journalView.length) this.growJournal()
    this.journalView[2 * n] = index
    this.journalView[2 * n + 1] = old
    this.journalLength = n + 1
    this.m.ctl[MapWord.JOURNAL_LEN] = n + 1
  }

  private growJournal(): void {
    const j = this.journal
    if (j.byteLength >= j.maxByteLength) {
      throw new CapacityError(`Expected a commit whose undo journal fits in ${j.maxByteLength} bytes, got a larger one: split the update`)
    }
    if (j.byteLength < this.journalView.length * 4 + 8) j.grow(Math.min(j.maxByteLength, j.byteLength * 2))
    this.journalView = new Int32Array(j, 0, j.byteLength >> 2)
  }

  /** Writes a data word, journaling its old value. */
  setData(index: number, value: number): void {
    const d32 = this.m.d32
    this.record(index, d32[index]!)
    d32[index] = value
  }

  /** Journals control word `index` (once per commit) before it changes. */
  private touch(index: number): void {
    if (this.touched[index] === 0) {
      this.touched[index] = 1
      this.touchedList[this.touchedCount++] = index
      this.record(~index, this.m.ctl[index]!)
    }
  }

  /** Writes a control word, journaling its old value. */
  setCtl(index: number, value: number): void {
    this.touch(index)
    this.m.ctl[index] = value
  }

  /** Ends a commit: from here on it stands even if this thread dies. */
  commit(): void {
    this.flushFrees()
    this.m.ctl[MapWord.JOURNAL_LEN] = 0
    this.reset()
  }

  private reset(): void {
    this.journalLength = 0
    for (let i = 0; i < this.touchedCount; i++) this.touched[this.touchedList[i]!] = 0
    this.touchedCount = 0
    this.freeCount = 0
  }

  /**
   * Undoes the journaled changes, newest first: after a commit threw, or after
   * a writer died mid-commit (then the journal length is read from memory).
   * Returns the number of records undone.
   */
  rollback(): number {
    const m = this.m
    const n = m.ctl[MapWord.JOURNAL_LEN]!
    m.refresh()
    if (this.journalView.length < 2 * n) this.journalView = new Int32Array(this.journal, 0, this.journal.byteLength >> 2)
    const j = this.journalView
    for (let i = n - 1; i >= 0; i--) {
      const index = j[2 * i]!
      if (index < 0) m.ctl[~index] = j[2 * i + 1]!
      else m.d32[index] = j[2 * i + 1]!
    }
    m.ctl[MapWord.JOURNAL_LEN] = 0
    this.reset()
    return n
  }

  /**
   * Recovery after the previous lock holder died: undoes its unfinished
   * commit, if it died mid-commit (an empty journal otherwise). Returns the
   * number of records undone.
   */
  recoverDead(): number {
    if (!skipJournalReplay) return this.rollback()
    this.m.ctl[MapWord.JOURNAL_LEN] = 0 // the broken variant: the half commit stays
    this.reset()
    return 0
  }

  // ---- blocks --------------------------------------------------------------------

  /** A block of at least `bytes` bytes, from its class's free list or the end of the arena. */
  alloc(bytes: number): number {
    const m = this.m
    const c = classOf(bytes)
    if (c >= NUM_CLASSES) throw this.full(bytes)
    const size = classSize(c)
    const headWord = FREE_HEADS_WORD + c
    const head = m.ctl[headWord]!
    if (head !== 0) {
      // Journal the link: a rollback finds the list as it was even though
      // the block's first words are about to be overwritten.
      const next = m.d32[(head >> 2) + 1]!
      this.setData((head >> 2) + 1, 0)
      this.setCtl(headWord, next)
      this.setCtl(MapWord.FREE_BYTES, m.ctl[MapWord.FREE_BYTES]! - size)
      return head
    }
    const top = m.ctl[MapWord.TOP]!
    if (top + size > this.maxBytes) throw this.full(bytes)
    if (top + size > m.data.byteLength) {
      const want = Math.max(top + size, Math.min(this.maxBytes, m.data.byteLength * 2))
      m.data.grow(Math.min(this.maxBytes, Math.ceil(want / GROW_STEP) * GROW_STEP))
      m.refresh()
    }
    this.setCtl(MapWord.TOP, top + size)
    m.d32[top >> 2] = size
    return top
  }

  private full(bytes: number): CapacityError {
    const m = this.m
    return new CapacityError(
      `Expected the map to fit in maxBytes ${this.maxBytes}, got a block of ${bytes} bytes that does not (${m.ctl[MapWord.TOP]} bytes in use, ${m.ctl[MapWord.FREE_BYTES]} of them free in other size classes)`,
    )
  }

  /** Frees `block` when the commit completes. */
  free(block: number): void {
    if (this.freeCount === this.frees.length) {
      const more = new Int32Array(this.frees.length * 2)
      more.set(this.frees)
      this.frees = more
    }
    this.frees[this.freeCount++] = block
  }

  private flushFrees(): void {
    const m = this.m
    for (let i = 0; i < this.freeCount; i++) {
      const block = this.frees[i]!
      const size = m.d32[block >> 2]!
      const headWord = FREE_HEADS_WORD + classOf(size)
      this.setData((block >> 2) + 1, m.ctl[headWord]!)
      this.setCtl(headWord, block)
      this.setCtl(MapWord.FREE_BYTES, m.ctl[MapWord.FREE_BYTES]! + size)
    }
    this.freeCount = 0
  }

  // ---- table ---------------------------------------------------------------------

  /**
   * Finds `key` in the table: the Int32 index of its slot if present, else
   * `~index` of the empty slot where it would go. The table must exist.
   */
  find(key: string, hash: number): number {
    const m = this.m
    const d32 = m.d32
    const table = m.ctl[MapWord.TABLE]!
    const mask = d32[(table + Table.CAPACITY) >> 2]! - 1
    const slots = (table + Table.SLOTS) >> 2
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const w = slots + 2 * i
      const e = d32[w + 1]!
      if (e === 0) return ~w
      if (d32[w] === hash && this.keyIs(e, key)) return w
    }
  }

  /** Entry offset of `key`, 0 if absent. */
  entryOf(key: string, hash: number): number {
    if (this.m.ctl[MapWord.TABLE] === 0) return 0
    const w = this.find(key, hash)
    return w >= 0 ? this.m.d32[w + 1]! : 0
  }

  private keyIs(e: number, key: string): boolean {
    const m = this.m
    if (m.d32[(e + Entry.KEY_LENGTH) >> 2] !== key.length) return false
    const d16 = m.d16
    const k = (e + Entry.KEY) >> 1
    for (let i = 0; i < key.length; i++) if (d16[k + i] !== key.charCodeAt(i)) return false
    return true
  }

  /** Makes room for `extra` more entries, keeping the table at most half full. */
  reserve(extra: number): void {
    const m = this.m
    const table = m.ctl[MapWord.TABLE]!
    const need = (m.ctl[MapWord.COUNT]! + extra) * 2
    const capacity = table === 0 ? 0 : m.d32[(table + Table.CAPACITY) >> 2]!
    if (need <= capacity) return
    this.rebuild(Math.max(MIN_TABLE, pow2(need)))
  }

  /** Sets a table of `capacity` slots holding every entry of the current one. */
  rebuild(capacity: number): void {
    const m = this.m
    const old = m.ctl[MapWord.TABLE]!
    const t = this.alloc(Table.SLOTS + 8 * capacity)
    let d32 = m.d32
    d32[(t + Table.CAPACITY) >> 2] = capacity
    const slots = (t + Table.SLOTS) >> 2
    d32.fill(0, slots, slots + 2 * capacity)
    if (old !== 0) {
      d32 = m.d32
      const oldSlots = (old + Table.SLOTS) >> 2
      const oldCapacity = d32[(old + Table.CAPACITY) >> 2]!
      const mask = capacity - 1
      for (let i = 0; i < oldCapacity; i++) {
        const e = d32[oldSlots + 2 * i + 1]!
        if (e === 0) continue
        const hash = d32[oldSlots + 2 * i]!
        let j = hash & mask
        while (d32[slots + 2 * j + 1] !== 0) j = (j + 1) & mask
        d32[slots + 2 * j] = hash
        d32[slots + 2 * j + 1] = e
      }
      this.free(old)
      Atomics.add(m.ctl, MapWord.TABLE_GROWS, 1)
    }
    this.setCtl(MapWord.TABLE, t)
  }

  // ---- entries -------------------------------------------------------------------

  /** Sets `key` (the table has room). Returns the entry it replaced, or 0. */
  set(key: string, hash: number, value: Prepared, version: number): number {
    const e = this.writeEntry(key, hash, value, version)
    const w = this.find(key, hash)
    if (w >= 0) {
      const old = this.m.d32[w + 1]!
      this.setData(w + 1, e)
      this.free(old)
      return old
    }
    this.setData(~w, hash)
    this.setData(~w + 1, e)
    this.setCtl(MapWord.COUNT, this.m.ctl[MapWord.COUNT]! + 1)
    return 0
  }

  private writeEntry(key: string, hash: number, value: Prepared, version: number): number {
    const offset = valueOffset(key.length)
    const e = this.alloc(offset + value.length)
    const m = this.m
    const d32 = m.d32
    d32[(e + Entry.HASH) >> 2] = hash
    m.f64[(e + Entry.VERSION) >> 3] = version
    d32[(e + Entry.KEY_LENGTH) >> 2] = key.length
    d32[(e + Entry.VALUE_LENGTH) >> 2] = value.length
    d32[(e + Entry.TAG) >> 2] = value.tag | (value.flags << 8)
    const d16 = m.d16
    const k = (e + Entry.KEY) >> 1
    for (let i = 0; i < key.length; i++) d16[k + i] = key.charCodeAt(i)
    const at = e + offset
    switch (value.tag) {
      case ValueTag.NUMBER:
        m.f64[at >> 3] = value.number
        break
      case ValueTag.STRING: {
        const s = value.string
        const v = at >> 1
        for (let i = 0; i < s.length; i++) d16[v + i] = s.charCodeAt(i)
        break
      }
      case ValueTag.PACKED:
        m.d8.set(value.bytes!, at)
        break
    }
    return e
  }

  /** Deletes `key`; false if absent. Backward-shift deletion: no tombstones. */
  delete(key: string, hash: number): boolean {
    const m = this.m
    if (m.ctl[MapWord.TABLE] === 0) return false
    const w = this.find(key, hash)
    if (w < 0) return false
    const d32 = m.d32
    const table = m.ctl[MapWord.TABLE]!
    const mask = d32[(table + Table.CAPACITY) >> 2]! - 1
    const slots = (table + Table.SLOTS) >> 2
    this.free(d32[w + 1]!)
    let hole = (w - slots) >> 1
    for (let j = (hole + 1) & mask; d32[slots + 2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = d32[slots + 2 * j]! & mask
      // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j
      if (stays) continue
      this.setData(slots + 2 * hole, d32[slots + 2 * j]!)
      this.setData(slots + 2 * hole + 1, d32[slots + 2 * j + 1]!)
      hole = j
    }
    this.setData(slots + 2 * hole, 0)
    this.setData(slots + 2 * hole + 1, 0)
    this.setCtl(MapWord.COUNT, m.ctl[MapWord.COUNT]! - 1)
    return true
  }

  /** Empties the map: no table, empty free lists, the bump pointer back at the start. */
  clear(): void {
    this.setCtl(MapWord.TABLE, 0)
    this.setCtl(MapWord.COUNT, 0)
    this.setCtl(MapWord.TOP, ARENA_START)
    this.setCtl(MapWord.FREE_BYTES, 0)
    for (let c = 0; c < NUM_CLASSES; c++) if (this.m.ctl[FREE_HEADS_WORD + c] !== 0) this.setCtl(FREE_HEADS_WORD + c, 0)
    this.freeCount = 0
  }

  /** The version of the commit in progress (latest + 1). */
  nextVersion(): number {
    return this.m.ctlF64[MapF64.VERSION]! + 1
  }

  /** Stores the new version (journaled) and counts the write. */
  setVersion(version: number): void {
    this.touch(VERSION_WORD)
    this.touch(VERSION_WORD + 1)
    this.m.ctlF64[MapF64.VERSION] = version
    this.touch(WRITES_WORD)
    this.touch(WRITES_WORD + 1)
    this.m.ctlF64[MapF64.WRITES]!++
  }

  // ---- change log ------------------------------------------------------------------

  /** Appends the record of a commit to the change log (if anybody subscribes). */
  log(version: number, changes: Changes | 'clear'): void {
    const m = this.m
    if (Atomics.load(m.ctl, MapWord.SUBSCRIBERS) <= 0) return
    const ring = this.logRing
    let bytes = LOG_RECORD_HEADER
    if (changes !== 'clear') {
      for (const [key, value] of changes) {
        bytes += LOG_CHANGE_HEADER + align4(2 * key.length) + (value === DELETE ? 0 : align4(value.length))
      }
    }
    let n = changes === 'clear' ? LOG_CLEAR : changes.length
    if (bytes > ring.length / 2) {
      n = LOG_RESET
      bytes = LOG_RECORD_HEADER
    }
    if (this.logBytes.length < bytes) this.logBytes = new Uint8Array(Math.max(bytes, this.logBytes.length * 2))
    const out = this.logBytes
    const view = new DataView(out.buffer, 0, bytes)
    view.setInt32(0, bytes, true)
    view.setInt32(4, n, true)
    view.setFloat64(8, version, true)
    if (n >= 0 && changes !== 'clear') {
      let at = LOG_RECORD_HEADER
      for (const [key, value] of changes) {
        const deleted = value === DELETE
        view.setInt32(at, key.length, true)
        view.setInt32(at + 4, deleted ? TAG_DELETED : value.tag | (value.flags << 8), true)
        view.setInt32(at + 8, deleted ? 0 : value.length, true)
        at += LOG_CHANGE_HEADER
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
    const head = m.ctl[MapWord.LOG_HEAD]!
    const mask = ring.length - 1
    const start = head & mask
    const first = Math.min(bytes, ring.length - start)
    ring.set(out.subarray(0, first), start)
    if (first < bytes) ring.set(out.subarray(first, bytes), 0)
    this.setCtl(MapWord.LOG_HEAD, (head + bytes) | 0)
  }
}

/** Rounds up to a multiple of 4. */
export function align4(n: number): number {
  return (n + 3) & ~3
}
