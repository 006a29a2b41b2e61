/**
 * The writer lock embedded in a shared object (StateBuffer, SnapshotStore,
 * SharedMap): a full {@link Mutex} region placed inside the object's own
 * region, taken around every write.
 *
 * - The uncontended path is the mutex's two compare-and-swaps, inline (no
 *   method of Mutex, no stats: this mutex's figures are not exposed).
 * - Contention goes through `Mutex.lockWriter`: sliced sleeps on a thread that
 *   may block, spinning on one that may not (a browser page; the holder runs a
 *   bounded section of library code), takeover of a dead holder or of one the
 *   domain never issued (scribbled memory).
 * - Every wait is bounded: `lock()` gives up after the object's
 *   `writeTimeoutMs` ({@link DEFAULT_WRITE_TIMEOUT_MS}) with a
 *   `TimeoutError`, so a write never hangs for ever behind a holder this
 *   thread cannot see die (a Node main thread blocked here does not process
 *   its workers' exits); `lockAsync()` waits without blocking the event loop,
 *   so such a death is seen and the lock taken over.
 * - A dead previous writer is repaired by the object's `recover` callback,
 *   run with the lock held, before the lock is declared consistent again:
 *   the object decides what a writer that died mid-write left behind (nothing
 *   for a ring of slots, a journal to undo for a SharedMap commit).
 *
 * @module
 */
import { OptionError, OwnerDiedError, TimeoutError, describe } from '../errors.js'
import { makeHandle, writeHeader } from '../memory/handle.js'
import { namedCount } from '../memory/named-count.js'
import { domainOf } from '../memory/thread.js'
import { Mutex } from './mutex.js'
import { MUTEX_BYTES, MutexWord } from './robust-lock.js'
import { checkWaitOptions, type AsyncWaitOptions } from './wait.js'

/** Bytes a writer lock takes in its object's region. */
export const WRITER_LOCK_BYTES = MUTEX_BYTES

/**
 * How long a write waits for the writers' lock of a StateBuffer,
 * SnapshotStore or SharedMap unless the object was given `writeTimeoutMs`:
 * 10 s. Writers hold it for a bounded section of library code (or a
 * `modify`/`transaction` callback), so reaching it means a holder that never
 * finishes, or one whose death this thread cannot see while it blocks.
 */
export const DEFAULT_WRITE_TIMEOUT_MS = 10_000

/**
 * Checks a `writeTimeoutMs` option: a number >= 0, or undefined for
 * {@link DEFAULT_WRITE_TIMEOUT_MS}. `Infinity` is refused: a write must not
 * be able to hang for ever.
 * @throws OptionError naming the value
 */
export function writeTimeoutOf(value: unknown): number {
  if (value === undefined) return DEFAULT_WRITE_TIMEOUT_MS
  if (typeof value !== 'number' || !(value >= 0) || value === Infinity) {
    throw new OptionError(`Expected \`writeTimeoutMs\` to be a finite number >= 0 or undefined, got ${describe(value)}`)
  }
  return value
}

/** The embedded writer mutex of a shared object. */
export class WriterLock {
  /** The mutex itself (its handle is part of the object's region). */
  readonly mutex: Mutex
  private readonly words: Int32Array
  private readonly tid: number
  /** This thread's count of the words naming it (memory/named-count.ts), as `named[0]`. */
  private readonly named: Int32Array
  private readonly timeoutMs: number

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
   * @param what the object, for messages ("SharedMap")
   * @param timeoutMs how long {@link lock} waits (checked by {@link writeTimeoutOf})
   */
  constructor(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    domain: SharedArrayBuffer,
    private readonly recover: () => void,
    private readonly what = 'object',
    timeoutMs = DEFAULT_WRITE_TIMEOUT_MS,
  ) {
    this.mutex = Mutex.attach(makeHandle('Mutex', { buffer, byteOffset, byteLength: MUTEX_BYTES }, domain))
    this.words = new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4)
    const d = domainOf(domain)
    this.tid = d.tid
    this.named = namedCount(d)
    this.timeoutMs = timeoutMs
  }

  /**
   * Takes the lock (repairing after a dead writer first), waiting at most
   * the object's `writeTimeoutMs`.
   * @throws TimeoutError if another writer held it all that time
   */
  lock(): void {
    this.named[0]!++ // counted before our id enters the word (memory/thread.ts)
    if (Atomics.compareExchange(this.words, MutexWord.STATE, 0, this.tid) !== 0) {
      this.named[0]!-- // the slow path counts its own attempts
      this.lockContended()
    }
  }

  /** Releases the lock. */
  unlock(): void {
    if (Atomics.compareExchange(this.words, MutexWord.STATE, this.tid, 0) === this.tid) this.named[0]!-- // after our id left the word
    else this.mutex.unlock()
  }

  /**
   * Async form of {@link lock}: never blocks the event loop, so a Node
   * thread sees the exit of a worker that died holding the lock and takes it
   * over. Waits at most `options.timeoutMs` (default: the object's
   * `writeTimeoutMs`).
   * @throws TimeoutError if another writer held it all that time
   * @throws the signal's reason when aborted
   */
  async lockAsync(options?: AsyncWaitOptions): Promise<void> {
    const { timeoutMs = this.timeoutMs, signal } = checkWaitOptions(options)
    let acquired: boolean
    try {
      acquired = await this.mutex.lockAsync(signal === undefined ? { timeoutMs } : { timeoutMs, signal })
    } catch (error) {
      this.repair(error)
      return
    }
    if (!acquired) throw this.timedOut(timeoutMs)
  }

  private lockContended(): void {
    let acquired: boolean
    try {
      acquired = this.mutex.lockWriter(this.timeoutMs)
    } catch (error) {
      this.repair(error)
      return
    }
    if (!acquired) throw this.timedOut(this.timeoutMs)
  }

  private timedOut(timeoutMs: number): TimeoutError {
    const holder = this.mutex.holder
    return new TimeoutError(
      `Expected the ${this.what}'s writers' lock within ${timeoutMs} ms (writeTimeoutMs), got it held ` +
        `${holder === 0 ? 'by other writers' : `by thread ${holder}`} all that time: a writer that does not finish, ` +
        "or one whose death this thread cannot see while it blocks (a Node main thread does not process its workers' exits then: use the async write)",
    )
  }

  /** A dead writer: the lock is ours, poisoned; repair and clear the poison. */
  private repair(error: unknown): void {
    if (!(error instanceof OwnerDiedError)) throw error
    this.recover()
    this.mutex.markConsistent()
  }
}
