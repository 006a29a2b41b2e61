/**
 * Mutex: a robust, non-reentrant mutual-exclusion lock shared across threads.
 * Layout and shared machinery: `robust-lock.ts`; lock word: `robust-word.ts`.
 *
 * @module
 */
import { allocateRegion, attaching, checkHandle, copyHandle, makeHandle, type Handle } from '../memory/handle.js'
import { domainOf } from '../memory/thread.js'
import { MUTEX_BYTES, MutexWord, RobustLock, claimedMutexBytes, mutexBytes, type MutexOptions } from './robust-lock.js'
import { checkTimeout } from './wait.js'

/** Handle of a {@link Mutex}. */
export type MutexHandle = Handle<'Mutex'>

/**
 * A mutual-exclusion lock shared between threads (workers, the main thread).
 *
 * - Uncontended `lock()`+`unlock()` is two CAS operations and never calls
 *   `Atomics.notify` (Drepper's futex mutex).
 * - Re-locking from the holding thread throws `DeadlockError` at once;
 *   `unlock()` from another thread throws `LockError`.
 * - If the holder's thread dies (see `superviseWorker` in `threadstate/node`),
 *   the next acquirer gets the lock **and** an `OwnerDiedError`.
 *
 * @example
 * ```ts
 * const mutex = Mutex.create()
 * new Worker(url, { workerData: { mutex: mutex.handle } })
 * mutex.withLock(() => { shared[0]++ })
 * // in the worker:
 * const mutex = Mutex.attach(workerData.mutex)
 * await mutex.withLockAsync(async () => { ... })
 * ```
 */
export class Mutex extends RobustLock<'Mutex'> {
  /** Bytes a Mutex occupies in its buffer. */
  static readonly BYTE_LENGTH = MUTEX_BYTES
  /** @internal */
  protected readonly what = 'mutex'

  /**
   * Creates a new, unlocked mutex in its own shared memory.
   * @param options `fair: true` serves waiters in FIFO order (see {@link MutexOptions})
   * @throws OptionError for options of the wrong shape
   */
  static create(options?: MutexOptions): Mutex {
    const bytes = mutexBytes(options, 'Mutex')
    return new Mutex(makeHandle('Mutex', allocateRegion('Mutex', bytes), domainOf().buffer))
  }

  /**
   * Rebuilds a mutex from its handle, in any thread.
   * @throws HandleError if `handle` is not a valid Mutex handle
   */
  static attach(handle: MutexHandle): Mutex {
    return attaching('Mutex', () => {
      const copy = copyHandle(handle, 'Mutex') // one read of each field: the length checked is the length used
      return new Mutex(checkHandle(copy, 'Mutex', claimedMutexBytes(copy)))
    })
  }

  /**
   * Acquires the lock, waiting at most `timeoutMs` (default: forever).
   * Blocks the thread: on a main thread prefer {@link lockAsync}. On a Node
   * main thread a wait here freezes the event loop (no timers, no I/O, no
   * `Worker` exit events: a dead holder's death is not noticed there) until
   * it ends; it is allowed because Node allows `Atomics.wait` there, and a
   * short, uncontended lock is fine. A browser main thread refuses it
   * (BlockingNotAllowedError).
   *
   * @returns true when acquired, false on timeout
   * @throws DeadlockError if this thread already holds it
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  lock(timeoutMs?: number): boolean {
    checkTimeout(timeoutMs)
    if (this.mayBarge()) {
      this.named[0]!++ // counted before our id enters the word (memory/thread.ts)
      if (Atomics.compareExchange(this.words, MutexWord.STATE, 0, this.tid) === 0) {
        this.rec.acquiredFast()
        return true
      }
      this.named[0]!-- // the slow path counts its own attempts
    }
    return this.lockSlow(timeoutMs)
  }

  /**
   * Acquires the lock if it is free (or its holder died), without waiting.
   * @throws DeadlockError if this thread already holds it
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  tryLock(): boolean {
    if (this.tryLockWord()) return true
    if (this.isHeldByCurrentThread) throw this.selfDeadlock('tryLock()')
    return false
  }

  /**
   * Releases the lock.
   * @throws LockError if this thread does not hold it
   */
  unlock(): void {
    this.releaseWord()
  }
}
