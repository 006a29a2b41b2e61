/**
 * The writer lock embedded in a shared object (StateBuffer, SnapshotStore,
 * SharedMap): a full {@link Mutex} region placed inside the object's own
 * region, taken around every write.
 *
 * - The uncontended path is the mutex's two compare-and-swaps, inline (no
 *   method of Mutex, no stats: this mutex's figures are not exposed).
 * - Contention goes through `Mutex.lockWriter`: sliced sleeps on a thread that
 *   may block, spinning on one that may not (a browser page; the holder runs a
 *   bounded section of library code), takeover of a dead holder.
 * - A dead previous writer is repaired by the object's `recover` callback,
 *   run with the lock held, before the lock is declared consistent again:
 *   the object decides what a writer that died mid-write left behind (nothing
 *   for a ring of slots, a journal to undo for a SharedMap commit).
 *
 * @module
 */
import { OwnerDiedError } from '../errors.js'
import { makeHandle, writeHeader } from '../memory/handle.js'
import { currentThreadId } from '../memory/thread.js'
import { Mutex } from './mutex.js'
import { MUTEX_BYTES, MutexWord } from './robust-lock.js'

/** Bytes a writer lock takes in its object's region. */
export const WRITER_LOCK_BYTES = MUTEX_BYTES

/** The embedded writer mutex of a shared object. */
export class WriterLock {
  /** The mutex itself (its handle is part of the object's region). */
  readonly mutex: Mutex
  private readonly words: Int32Array
  private readonly tid: number

  /**
   * Writes the mutex's region header at `byteOffset` of a region being
   * created (nobody else sees it yet).
   */
  static place(buffer: SharedArrayBuffer, byteOffset: number): void {
    writeHeader('Mutex', buffer, byteOffset, MUTEX_BYTES)
  }

  /**
   * Attaches to the writer lock at `byteOffset` of `buffer` (checked like any
   * Mutex handle).
   * @param recover repairs what a writer that died mid-write left; runs with the lock held
   */
  constructor(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    domain: SharedArrayBuffer,
    private readonly recover: () => void,
  ) {
    this.mutex = Mutex.attach(makeHandle('Mutex', { buffer, byteOffset, byteLength: MUTEX_BYTES }, domain))
    this.words = new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4)
    this.tid = currentThreadId({ domain })
  }

  /** Takes the lock (repairing after a dead writer first). */
  lock(): void {
    if (Atomics.compareExchange(this.words, MutexWord.STATE, 0, this.tid) !== 0) this.lockContended()
  }

  /** Releases the lock. */
  unlock(): void {
    if (Atomics.compareExchange(this.words, MutexWord.STATE, this.tid, 0) !== this.tid) this.mutex.unlock()
  }

  /** Async form of {@link lock}: never blocks the event loop. */
  async lockAsync(): Promise<void> {
    try {
      await this.mutex.lockAsync()
    } catch (error) {
      this.repair(error)
    }
  }

  private lockContended(): void {
    try {
      this.mutex.lockWriter()
    } catch (error) {
      this.repair(error)
    }
  }

  /** A dead writer: the lock is ours, poisoned; repair and clear the poison. */
  private repair(error: unknown): void {
    if (!(error instanceof OwnerDiedError)) throw error
    this.recover()
    this.mutex.markConsistent()
  }
}
