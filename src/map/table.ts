/**
 * What a SharedMap commit changes: the block allocator (size-class free
 * lists over a bump pointer) and the open-addressing hash table with its
 * entry blocks. Every method runs inside a commit (`writer.ts`): writers'
 * lock held, SEQ odd. Each word that committed state depends on is written
 * through the {@link Journal}, so the commit can be undone word for word; new
 * blocks are written directly (nothing committed points at them yet).
 *
 * Written by hand: no library offers a hash map in a SharedArrayBuffer with
 * lock-free readers, let alone one that can be rolled back after its writer's
 * thread is killed mid-update. Layout of the blocks: `layout.ts`.
 *
 * @module
 */
import { CapacityError } from '../errors.js'
import { ARENA_START, Entry, FREE_HEADS_WORD, MIN_TABLE, MapWord, NUM_CLASSES, Table, ValueTag, classOf, classSize, valueOffset } from './layout.js'
import type { MapMemory } from './memory.js'
import type { Prepared } from './value.js'
import type { Journal } from './writer.js'

/**
 * Values up to this many bytes are written over the old value in place when
 * it has the same kind and length (each word journaled); larger ones get a
 * new block, which costs less than journaling every word.
 */
const IN_PLACE_BYTES = 64

/** The arena grows in steps of this many bytes (at least doubling). */
const GROW_STEP = 1 << 16

/** Smallest power of two >= n. */
export function pow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n))
}

/** The allocator and the hash table, as a commit changes them. */
export class MapTable {
  /** Blocks to free when the commit is complete. */
  private frees = new Int32Array(64)
  private freeCount = 0

  constructor(
    private readonly m: MapMemory,
    private readonly journal: Journal,
    private readonly maxBytes: number,
  ) {}

  // ---- blocks --------------------------------------------------------------------

  /** A block of at least `bytes` bytes, from its class's free list or the end of the arena. */
  alloc(bytes: number): number {
    const m = this.m
    const journal = this.journal
    const c = classOf(bytes)
    if (c >= NUM_CLASSES) throw this.full(bytes)
    const size = classSize(c)
    const headWord = FREE_HEADS_WORD + c
    const head = m.ctl[headWord]!
    if (head !== 0) {
      // Journal the link: a rollback finds the list as it was even though
      // the block's first words are about to be overwritten.
      const next = m.d32[(head >> 2) + 1]!
      journal.setData((head >> 2) + 1, 0)
      journal.setCtl(headWord, next)
      journal.setCtl(MapWord.FREE_BYTES, m.ctl[MapWord.FREE_BYTES]! - size)
      return head
    }
    const top = m.ctl[MapWord.TOP]!
    if (top + size > this.maxBytes) throw this.full(bytes)
    if (top + size > m.d8.length) {
      // Past this thread's views: grow the buffer if it is too short, else another writer grew it.
      if (top + size > m.data.byteLength) {
        const want = Math.max(top + size, Math.min(this.maxBytes, m.data.byteLength * 2))
        m.data.grow(Math.min(this.maxBytes, Math.ceil(want / GROW_STEP) * GROW_STEP))
      }
      m.refresh()
    }
    journal.setCtl(MapWord.TOP, top + size)
    m.d32[top >> 2] = size
    return top
  }

  private full(bytes: number): CapacityError {
    const m = this.m
    return new CapacityError(
      `Expected the map to fit in maxBytes ${this.maxBytes}, got a block of ${bytes} bytes that does not (${m.ctl[MapWord.TOP]} bytes in use, ${m.ctl[MapWord.FREE_BYTES]} of them free in other size classes)`,
    )
  }

  /**
   * Frees `block` when the commit completes ({@link flushFrees}): a rollback
   * then never finds a block of the committed state reused.
   */
  free(block: number): void {
    if (this.freeCount === this.frees.length) {
      const more = new Int32Array(this.frees.length * 2)
      more.set(this.frees)
      this.frees = more
    }
    this.frees[this.freeCount++] = block
  }

  /** Puts the blocks freed in this commit on their free lists (journaled): the commit's last changes. */
  flushFrees(): void {
    const m = this.m
    const journal = this.journal
    for (let i = 0; i < this.freeCount; i++) {
      const block = this.frees[i]!
      const size = m.d32[block >> 2]!
      const headWord = FREE_HEADS_WORD + classOf(size)
      journal.setData((block >> 2) + 1, m.ctl[headWord]!)
      journal.setCtl(headWord, block)
      journal.setCtl(MapWord.FREE_BYTES, m.ctl[MapWord.FREE_BYTES]! + size)
    }
    this.freeCount = 0
  }

  /** Forgets the blocks of a commit that was rolled back (they stay in use by the restored state). */
  dropFrees(): void {
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

  /** Version of `key`'s entry (the commit that wrote it), 0 if absent. */
  entryVersion(key: string, hash: number): number {
    const e = this.entryOf(key, hash)
    return e === 0 ? 0 : this.m.f64[(e + Entry.VERSION) >> 3]!
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
  private rebuild(capacity: number): void {
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
    this.journal.setCtl(MapWord.TABLE, t)
  }

  // ---- entries -------------------------------------------------------------------

  /** Sets `key` (the table has room). */
  set(key: string, hash: number, value: Prepared, version: number): void {
    const journal = this.journal
    const w = this.find(key, hash)
    if (w >= 0) {
      const old = this.m.d32[w + 1]!
      if (value.length <= IN_PLACE_BYTES && this.overwrite(old, key.length, value, version)) return
      journal.setData(w + 1, this.writeEntry(key, hash, value, version))
      this.free(old)
      return
    }
    const e = this.writeEntry(key, hash, value, version)
    journal.setData(~w, hash)
    journal.setData(~w + 1, e)
    journal.setCtl(MapWord.COUNT, this.m.ctl[MapWord.COUNT]! + 1)
  }

  /**
   * Writes `value` over entry `e`'s value in place if it has the same tag,
   * flags and length (a number over a number, a status string over one of
   * its length), journaling the words it changes: the entry's version and
   * value. Cheaper than a new block (no allocation, no table slot, no free)
   * for small values; readers see the change as they see any commit (the
   * sequence word is odd meanwhile). @returns false if the value does not fit in place
   */
  private overwrite(e: number, keyLength: number, value: Prepared, version: number): boolean {
    const m = this.m
    const d32 = m.d32
    if (d32[(e + Entry.VALUE_LENGTH) >> 2] !== value.length || d32[(e + Entry.TAG) >> 2] !== (value.tag | (value.flags << 8))) return false
    const journal = this.journal
    const at = e + valueOffset(keyLength)
    const v = (e + Entry.VERSION) >> 2
    journal.keep(v, 2)
    journal.keep(at >> 2, (value.length + 3) >> 2)
    m.f64[(e + Entry.VERSION) >> 3] = version
    this.writeValue(at, value)
    return true
  }
  /** Writes a new entry block (unjournaled: nothing committed points at it yet). */
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
    this.writeValue(e + offset, value)
    return e
  }

  /** Writes `value`'s bytes at byte offset `at` (8-aligned), unjournaled. */
  private writeValue(at: number, value: Prepared): void {
    const m = this.m
    switch (value.tag) {
      case ValueTag.NUMBER:
        m.f64[at >> 3] = value.number
        break
      case ValueTag.STRING: {
        const s = value.string
        const d16 = m.d16
        const v = at >> 1
        for (let i = 0; i < s.length; i++) d16[v + i] = s.charCodeAt(i)
        break
      }
      case ValueTag.PACKED:
        m.d8.set(value.bytes!, at)
        break
    }
  }

  /** Deletes `key`; false if absent. Backward-shift deletion: no tombstones. */
  delete(key: string, hash: number): boolean {
    const m = this.m
    const journal = this.journal
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
      journal.setData(slots + 2 * hole, d32[slots + 2 * j]!)
      journal.setData(slots + 2 * hole + 1, d32[slots + 2 * j + 1]!)
      hole = j
    }
    journal.setData(slots + 2 * hole, 0)
    journal.setData(slots + 2 * hole + 1, 0)
    journal.setCtl(MapWord.COUNT, m.ctl[MapWord.COUNT]! - 1)
    return true
  }

  /** Empties the map: no table, empty free lists, the bump pointer back at the start. */
  clear(): void {
    const journal = this.journal
    journal.setCtl(MapWord.TABLE, 0)
    journal.setCtl(MapWord.COUNT, 0)
    journal.setCtl(MapWord.TOP, ARENA_START)
    journal.setCtl(MapWord.FREE_BYTES, 0)
    for (let c = 0; c < NUM_CLASSES; c++) if (this.m.ctl[FREE_HEADS_WORD + c] !== 0) journal.setCtl(FREE_HEADS_WORD + c, 0)
    this.freeCount = 0
  }
}
