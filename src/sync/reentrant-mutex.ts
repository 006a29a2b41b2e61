/**
 * ReentrantMutex: a robust mutex its holder may lock again; it is released
 * when `unlock()` has been called as many times as `lock()`.
 *
 * Same layout as Mutex (`robust-lock.ts`) plus the DEPTH word, which only the
 * holder reads or writes: the CAS that took the lock orders it.
 *
 * @module
 */
import { LockError } from '../errors.js'
import { allocateRegion, attaching, checkHandle, copyHandle, makeHandle, type Handle } from '../memory/handle.js'
import { domainOf, TID_MASK } from '../memory/thread.js'
import { MUTEX_BYTES, MutexWord, RobustLock, claimedMutexBytes, mutexBytes, type MutexOptions } from './robust-lock.js'
import { checkTimeout } from './wait.js'

/** Handle of a {@link ReentrantMutex}. */
export type ReentrantMutexHandle = Handle<'ReentrantMutex'>

/**
 * A mutex the holding thread may lock again (nested calls that each take the
 * lock: the fix for seed 003's self-deadlock). Each `lock()` needs its own
 * `unlock()`.
 *
 * Reentrancy is per thread and applies to *synchronous* nesting. `lockAsync`
 * never re-enters: two async tasks of one thread still exclude each other.
 *
 * @example
 * ```ts
 * const state = ReentrantMutex.create()
 * function triggerEmergencyStop() { state.withLock(() => { ... }) }
 * function onCommand() { state.withLock(() => { ...; triggerEmergencyStop() }) } // no deadlock
 * ```
 */
export class ReentrantMutex extends RobustLock<'ReentrantMutex'> {
  /** Bytes a ReentrantMutex occupies in its buffer. */
  static readonly BYTE_LENGTH = MUTEX_BYTES
  /** @internal */
  protected readonly what = 'reentrant mutex'

  /**
   * Creates a new, unlocked reentrant mutex in its own shared memory.
   * @param options `fair: true` serves waiters in FIFO order (see {@link MutexOptions}); nesting by the holder never waits
   * @throws OptionError for options of the wrong shape
   */
  static create(options?: MutexOptions): ReentrantMutex {
    const bytes = mutexBytes(options, 'ReentrantMutex')
    return new ReentrantMutex(makeHandle('ReentrantMutex', allocateRegion('ReentrantMutex', bytes), domainOf().buffer))
  }

  /**
   * Rebuilds a reentrant mutex from its handle, in any thread.
   * @throws HandleError if `handle` is not a valid ReentrantMutex handle
   */
  static attach(handle: ReentrantMutexHandle): ReentrantMutex {
    return attaching('ReentrantMutex', () => {
      const copy = copyHandle(handle, 'ReentrantMutex') // one read of each field: the length checked is the length used
      return new ReentrantMutex(checkHandle(copy, 'ReentrantMutex', claimedMutexBytes(copy)))
    })
  }

  /** @internal */
  protected override acquired(): void {
    this.words[MutexWord.DEPTH] = 1
  }

  /**
   * Acquires the lock, or nests one level deeper if this thread holds it.
   * @returns true when acquired, false on timeout
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  lock(timeoutMs?: number): boolean {
    checkTimeout(timeoutMs)
    const words = this.words
    if (!this.mayBarge()) {
      if ((Atomics.load(words, MutexWord.STATE) & TID_MASK) === this.tid) return this.nest()
      return this.lockSlow(timeoutMs)
    }
    this.named[0]!++ // counted before our id enters the word (memory/thread.ts)
    const s = Atomics.compareExchange(words, MutexWord.STATE, 0, this.tid)
    if (s === 0) {
      words[MutexWord.DEPTH] = 1
      this.rec.acquiredFast()
      return true
    }
    this.named[0]!--
    if ((s & TID_MASK) === this.tid) return this.nest()
    return this.lockSlow(timeoutMs)
  }

  /**
   * Acquires or nests without waiting.
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  tryLock(): boolean {
    if (this.isHeldByCurrentThread) return this.nest()
    return this.tryLockWord()
  }

  private nest(): boolean {
    const depth = this.words[MutexWord.DEPTH]! + 1
    if (depth > 0x7fffffff) throw new LockError(`Expected a nesting depth below 2^31, got ${depth}`)
    this.words[MutexWord.DEPTH] = depth
    return true
  }

  /**
   * Leaves one nesting level; releases the lock when the outermost `lock()`
   * is matched.
   * @throws LockError if this thread does not hold it
   */
  unlock(): void {
    const words = this.words
    if ((Atomics.load(words, MutexWord.STATE) & TID_MASK) === this.tid) {
      const depth = words[MutexWord.DEPTH]!
      if (depth > 1) {
        words[MutexWord.DEPTH] = depth - 1
        return
      }
      words[MutexWord.DEPTH] = 0
    }
    this.releaseWord() // throws LockError when not the holder
  }

  /** Nesting depth if the calling thread holds the lock, else 0. */
  get depth(): number {
    return this.isHeldByCurrentThread ? this.words[MutexWord.DEPTH]! : 0
  }
}
