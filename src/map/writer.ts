/**
 * The commit path of a SharedMap, in one place: the writers' lock, one
 * commit, the undo journal every change of a commit goes through, the
 * rollback of a commit that threw, and the recovery of one whose writer died.
 *
 * **A commit** (one writer at a time: the {@link WriterLock}) marks the map
 * busy with the sequence word (`SeqWord.beginWrite` of `sync/seqlock.ts`:
 * SEQ odd, with the writer-side barrier the ARM64 argument there asks for),
 * applies every change of the call (several keys, deletes, table growth:
 * `table.ts`), appends its record to the change log, and marks the map
 * consistent again (`endWrite`: SEQ even). A reader sees all of a multi-key
 * update or none.
 *
 * **The journal**: before changing any word that committed state depends on,
 * the writer appends the word's index and old value to the journal (its own
 * growable buffer) and counts the record in JOURNAL_LEN. Clearing
 * JOURNAL_LEN is the commit point ({@link Journal.close}): after it the
 * commit stands even if this thread dies.
 *
 * **Undo**: if a commit throws (the arena is full), the journal is replayed
 * newest first, restoring the map word for word, and SEQ made even. If the
 * writer's thread dies mid-commit, the next thread to take the lock gets
 * the dead-owner report from the mutex and the WriterLock runs
 * {@link MapCommitter.recoverDeadWriter}: the same replay, with the length
 * read from JOURNAL_LEN in memory (0 if it died outside a commit), then SEQ
 * even and WRITERS_DIED counted. Blocks are freed only at the end of a
 * commit, so a replay never finds a block of the committed state reused.
 *
 * @module
 */
import { CapacityError } from '../errors.js'
import { wakeAfterRelease } from '../sync/version-wait.js'
import type { SeqWord } from '../sync/seqlock.js'
import type { AsyncWaitOptions } from '../sync/wait.js'
import { WriterLock } from '../sync/writer-lock.js'
import { domainOf } from '../memory/thread.js'
import type { SharedMapHandle } from './api.js'
import { ChangeLogWriter } from './change-log.js'
import { MAP_CONTROL_BYTES, MapArea, MapF64, MapWord, hashKey } from './layout.js'
import type { MapMemory } from './memory.js'
import { MapTable } from './table.js'
import { DELETE as DELETE_MARK, type Changes, type Prepared } from './value.js'

/** value.ts's DELETE as a constant of this module: compared by reference when optimized, not by the generic StrictEqual builtin an imported binding gets (see reader.ts, RETRY). */
const DELETE: typeof DELETE_MARK = DELETE_MARK

/** Calls `fn` ({@link MapCommitter.locked}'s argument to `holding`). */
const call = <R>(fn: () => R): R => fn()

/** First control word of VERSION and WRITES, which {@link Journal.setCounters} journals as one run of four words. */
const COUNTER_WORD = 2 * MapF64.VERSION
if (MapF64.WRITES !== MapF64.VERSION + 1) throw new Error('Expected WRITES right after VERSION in the SharedMap layout')

/** The undo journal of the commit in progress. Used with the writers' lock held. */
export class Journal {
  private view: Int32Array
  private length = 0
  /** Control words journaled in this commit (each is journaled once, at its first change). */
  private readonly touched = new Uint8Array(MAP_CONTROL_BYTES / 4)
  private readonly touchedList = new Int32Array(MAP_CONTROL_BYTES / 4)
  private touchedCount = 0

  constructor(
    private readonly m: MapMemory,
    private readonly buffer: SharedArrayBuffer,
  ) {
    this.view = new Int32Array(buffer, 0, buffer.byteLength >> 2)
  }

  /** Appends a record: word `index` (data, or `~index` for a control word) held `old`. */
  private record(index: number, old: number): void {
    const n = this.length
    if (2 * n + 2 > this.view.length) this.grow(n + 1)
    this.view[2 * n] = index
    this.view[2 * n + 1] = old
    this.length = n + 1
    this.m.ctl[MapWord.JOURNAL_LEN] = n + 1
  }

  /** Makes room for `records` records in all. */
  private grow(records: number): void {
    const j = this.buffer
    const need = 8 * records
    if (need > j.maxByteLength) {
      throw new CapacityError(`Expected a commit whose undo journal fits in ${j.maxByteLength} bytes, got a larger one: split the update`)
    }
    if (j.byteLength < need) j.grow(Math.min(j.maxByteLength, Math.max(need, j.byteLength * 2)))
    this.view = new Int32Array(j, 0, j.byteLength >> 2)
  }

  /**
   * Journals data words `first` .. `first + count - 1` before the caller
   * changes them (through any view): the records, then JOURNAL_LEN once.
   */
  keep(first: number, count = 1): void {
    const n = this.length
    const end = n + count
    if (2 * end > this.view.length) this.grow(end)
    const view = this.view
    const d32 = this.m.d32
    for (let i = 0, r = 2 * n; i < count; i++, r += 2) {
      view[r] = first + i
      view[r + 1] = d32[first + i]!
    }
    this.length = end
    this.m.ctl[MapWord.JOURNAL_LEN] = end
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

  /**
   * Writes a commit's VERSION and WRITES (four adjacent control words,
   * `layout.ts`), journaling their old values: four records, JOURNAL_LEN
   * stored once. Not deduplicated as {@link setCtl} is: every commit writes
   * them once.
   */
  setCounters(version: number, writes: number): void {
    const n = this.length
    if (2 * n + 8 > this.view.length) this.grow(n + 4)
    const view = this.view
    const m = this.m
    const ctl = m.ctl
    for (let i = 0, w = COUNTER_WORD, r = 2 * n; i < 4; i++, w++, r += 2) {
      view[r] = ~w
      view[r + 1] = ctl[w]!
    }
    this.length = n + 4
    ctl[MapWord.JOURNAL_LEN] = n + 4
    m.ctlF64[MapF64.VERSION] = version
    m.ctlF64[MapF64.WRITES] = writes
  }

  /** The commit point: the journal is emptied, and the commit stands even if this thread dies from here on. */
  close(): void {
    this.m.ctl[MapWord.JOURNAL_LEN] = 0
    this.forget()
  }

  private forget(): void {
    this.length = 0
    for (let i = 0; i < this.touchedCount; i++) this.touched[this.touchedList[i]!] = 0
    this.touchedCount = 0
  }

  /**
   * Undoes the journaled changes, newest first: after a commit threw, or
   * after a writer died mid-commit (the length is read from memory, so this
   * works on another thread's journal too). Returns the records undone.
   */
  undo(): number {
    const m = this.m
    const n = m.ctl[MapWord.JOURNAL_LEN]!
    m.refresh()
    if (this.view.length < 2 * n) this.view = new Int32Array(this.buffer, 0, this.buffer.byteLength >> 2)
    const j = this.view
    for (let i = n - 1; i >= 0; i--) {
      const index = j[2 * i]!
      if (index < 0) m.ctl[~index] = j[2 * i + 1]!
      else m.d32[index] = j[2 * i + 1]!
    }
    m.ctl[MapWord.JOURNAL_LEN] = 0
    this.forget()
    return n
  }
}

/** One thread's writer of one map: the lock, commits, rollback and recovery. */
export class MapCommitter {
  /** The writers' lock (readers that keep losing to writers read under it too). */
  readonly lock: WriterLock
  /** The allocator and hash table, as commits change them. */
  readonly table: MapTable
  private readonly journal: Journal
  private readonly log: ChangeLogWriter

  constructor(
    private readonly m: MapMemory,
    handle: SharedMapHandle,
    private readonly seq: SeqWord,
    writeTimeoutMs: number,
  ) {
    this.journal = new Journal(m, handle.journal)
    this.table = new MapTable(m, this.journal, handle.data.maxByteLength)
    this.log = new ChangeLogWriter(handle.log, m.ctl, domainOf(handle.domain))
    // Called through the prototype at recovery time (not bound here), so a
    // test can swap in a broken recovery for the maps a thread already has.
    this.lock = new WriterLock(
      handle.buffer,
      handle.byteOffset + MapArea.MUTEX,
      handle.domain,
      () => this.recoverDeadWriter(),
      'SharedMap',
      writeTimeoutMs,
    )
  }

  /** Writes the lock's header into a map region being created. */
  static place(control: SharedArrayBuffer): void {
    WriterLock.place(control, MapArea.MUTEX)
  }

  /**
   * Runs `fn` holding the writers' lock (a dead previous holder recovered
   * first), with current views; wakes threads waiting for a version if a
   * commit happened.
   */
  locked<R>(fn: () => R): R {
    this.lock.lock()
    return this.holding(call, fn)
  }

  /** `locked(() => commit(changes))` without a closure per call: the path of `set` and `setMany`. */
  commitLocked(changes: Changes): number {
    // holding() written out for the one call a commit makes: a commit
    // always moves SEQ (by 2, or back to even after a rollback), so the
    // waiters' check needs no "did it change".
    this.lock.lock()
    try {
      this.m.coverTop()
      return this.commit(changes)
    } finally {
      this.lock.unlock()
      wakeAfterRelease(this.m.ctl, MapWord.SEQ, MapWord.WAITERS)
    }
  }

  /** Async form of {@link locked}: waits for the lock without blocking the event loop. */
  async lockedAsync<R>(fn: () => R, options: AsyncWaitOptions | undefined): Promise<R> {
    await this.lock.lockAsync(options)
    return this.holding(call, fn)
  }

  /** The rest of {@link locked}, the lock just taken: runs `fn(arg)`, releases, wakes version waiters. */
  private holding<A, R>(fn: (arg: A) => R, arg: A): R {
    const ctl = this.m.ctl
    const before = ctl[MapWord.SEQ]!
    try {
      this.m.coverTop()
      return fn(arg)
    } finally {
      const changed = ctl[MapWord.SEQ] !== before
      this.lock.unlock()
      if (changed) wakeAfterRelease(ctl, MapWord.SEQ, MapWord.WAITERS)
    }
  }

  /**
   * One commit: SEQ odd, the changes, the change-log record, SEQ even; rolled
   * back if anything throws. Lock held.
   * @returns the new version
   */
  commit(changes: Changes | 'clear'): number {
    const m = this.m
    const table = this.table
    const journal = this.journal
    const seq = this.seq.beginWrite()
    try {
      const version = m.ctlF64[MapF64.VERSION]! + 1
      if (changes === 'clear') table.clear()
      else {
        let sets = 0
        for (const [, value] of changes) if (value !== DELETE) sets++
        if (sets > 0) table.reserve(sets)
        for (const [key, value] of changes) {
          if (value === DELETE) table.delete(key, hashKey(key, this.m.seed))
          else table.set(key, hashKey(key, this.m.seed), value, version)
        }
      }
      journal.setCounters(version, m.ctlF64[MapF64.WRITES]! + 1)
      const head = this.log.append(version, changes)
      if (head !== undefined) journal.setCtl(MapWord.LOG_HEAD, head)
      table.flushFrees()
      journal.close()
      this.seq.endWrite((seq + 2) | 0)
      return version
    } catch (error) {
      journal.undo()
      table.dropFrees()
      Atomics.add(m.ctl, MapWord.ROLLBACKS, 1)
      this.seq.endWrite((seq + 2) | 0)
      throw error
    }
  }

  /**
   * Replaces the whole map by `entries`, each with the version of the commit
   * that wrote it, at `version` (a mirror reloading from its remote truth:
   * map/mirror.ts): one commit, so readers see the old map or the new one;
   * subscribers get a reset event. Lock held.
   */
  commitReload(version: number, entries: readonly (readonly [string, Prepared, number])[]): void {
    const m = this.m
    const table = this.table
    const journal = this.journal
    const seq = this.seq.beginWrite()
    try {
      table.clear()
      if (entries.length > 0) table.reserve(entries.length)
      for (const [key, value, entryVersion] of entries) table.set(key, hashKey(key, this.m.seed), value, entryVersion)
      journal.setCounters(version, m.ctlF64[MapF64.WRITES]! + 1)
      const head = this.log.append(version, 'reset')
      if (head !== undefined) journal.setCtl(MapWord.LOG_HEAD, head)
      table.flushFrees()
      journal.close()
      this.seq.endWrite((seq + 2) | 0)
    } catch (error) {
      journal.undo()
      table.dropFrees()
      Atomics.add(m.ctl, MapWord.ROLLBACKS, 1)
      this.seq.endWrite((seq + 2) | 0)
      throw error
    }
  }

  /**
   * The WriterLock's recovery: the previous holder died (lock held now).
   * Undoes its unfinished commit, if it died mid-commit (the journal is
   * empty otherwise), and makes SEQ even again.
   */
  private recoverDeadWriter(): void {
    this.journal.undo()
    this.table.dropFrees()
    const seq = this.m.ctl[MapWord.SEQ]!
    if ((seq & 1) !== 0) this.seq.endWrite((seq + 1) | 0)
    Atomics.add(this.m.ctl, MapWord.WRITERS_DIED, 1)
  }
}
