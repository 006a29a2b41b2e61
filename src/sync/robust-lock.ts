/**
 * What Mutex and ReentrantMutex share: the region layout, the slow paths,
 * `unlock`, `markConsistent`, the `with*` helpers, the getters and the stats.
 *
 * ```
 *  Int32 word  0..3 header | 4 STATE | 5 DEAD_OWNER | 6 TIMEOUTS | 7 DEPTH
 *  byte 32..319 stats block (36 x Float64: counters, wait histogram; stats.ts)
 * ```
 *
 * STATE follows the robust lock word protocol of `robust-word.ts`. DEPTH is
 * used by ReentrantMutex only and written by the holder alone.
 *
 * @module
 */
import type { AsyncLock } from '../contracts.js'
import { DeadlockError, OptionError, OwnerDiedError, describe } from '../errors.js'
import { now } from '../memory/clock.js'
import type { Handle } from '../memory/handle.js'
import { Header } from '../memory/layout.js'
import { namedCount } from '../memory/named-count.js'
import { domainOf, TID_MASK, type Domain } from '../memory/thread.js'
import {
  LockGuard,
  acquireOrThrow,
  runLocked,
  runLockedAsync,
  withLockOptions,
  type WithLockOptions,
} from './lockable.js'
import {
  Acquired,
  OWNER_DIED,
  RobustWord,
  acquire,
  acquireAsync,
  acquireFair,
  acquireFairAsync,
  acquireSpinning,
  markConsistent,
  release,
  tryAcquire,
  type AcquireResult,
} from './robust-word.js'
import { cycleMessage } from './wait-graph.js'
import { FairQueue, QUEUE_BYTES, QueueWord } from './fair-queue.js'
import { STATS_BYTES, StatsRecorder, type LockStats } from './stats.js'
import { checkWaitOptions, deadlineOf, threadMayBlock, type AsyncWaitOptions } from './wait.js'

/** Word offsets of a Mutex / ReentrantMutex region (Int32 words from the region start). */
export const MutexWord = {
  STATE: Header.WORDS + RobustWord.STATE,
  DEAD_OWNER: Header.WORDS + RobustWord.DEAD_OWNER,
  TIMEOUTS: Header.WORDS + 2,
  /** ReentrantMutex only: nesting depth, written by the holder alone. */
  DEPTH: Header.WORDS + 3,
  /** Byte offset of the stats block. */
  STATS_BYTE: 32,
} as const

/** Bytes of a Mutex or ReentrantMutex region. */
export const MUTEX_BYTES = MutexWord.STATS_BYTE + STATS_BYTES

/** Bytes of a fair Mutex or ReentrantMutex region: the region, then its FIFO queue (fair-queue.ts). */
export const FAIR_MUTEX_BYTES = MUTEX_BYTES + QUEUE_BYTES

/** Options of `Mutex.create` and `ReentrantMutex.create`. */
export interface MutexOptions {
  /**
   * Serve waiters in FIFO order (fair-queue.ts): an acquisition that has to
   * wait takes a ticket, and an arrival never overtakes a waiter, so no
   * waiter starves while others keep re-locking. Costs two loads on the
   * uncontended path and one queue step per contended acquisition, and
   * gives up the throughput of barging (the releasing thread re-locking
   * at once). Java's `ReentrantLock(true)`.
   * @default false
   */
  readonly fair?: boolean
}

/** Region size for `create(options)`. @internal */
export function mutexBytes(options: MutexOptions | undefined, what: string): number {
  if (options === undefined) return MUTEX_BYTES
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected ${what} options ({ fair? }) or undefined, got ${describe(options)}`)
  }
  const { fair } = options
  if (fair !== undefined && typeof fair !== 'boolean') throw new OptionError(`Expected \`fair\` to be a boolean, got ${describe(fair)}`)
  return fair === true ? FAIR_MUTEX_BYTES : MUTEX_BYTES
}

/**
 * The region size a handle's copy (`copyHandle`: each field read once)
 * claims, as `attach` checks it: a fair lock's handle is longer. checkHandle
 * then verifies it against the region's own header, so a wrong claim is
 * refused there. @internal
 */
export function claimedMutexBytes(copy: Record<string, unknown>): number {
  return copy['byteLength'] === FAIR_MUTEX_BYTES ? FAIR_MUTEX_BYTES : MUTEX_BYTES
}

/**
 * Builds the "previous holder died" error, shared by every robust lock kind.
 * @internal
 */
export function ownerDied(what: string, words: Int32Array, deadOwnerIndex: number): OwnerDiedError {
  const dead = Atomics.load(words, deadOwnerIndex)
  return new OwnerDiedError(
    `The ${what} was acquired, but its previous holder (thread ${dead}) died while holding it: ` +
      'you now hold it; repair what it protects, call markConsistent(), then unlock()',
    dead,
  )
}

/**
 * Base of {@link Mutex} and {@link ReentrantMutex}. Not exported from the
 * package: use one of those.
 */
export abstract class RobustLock<T extends 'Mutex' | 'ReentrantMutex'> implements AsyncLock {
  /** The structured-cloneable handle: send it to another thread and `attach` it there. */
  readonly handle: Handle<T>
  /** @internal */
  protected readonly words: Int32Array
  /** @internal */
  protected readonly domain: Domain
  /** @internal */
  protected readonly tid: number
  /** This thread's count of the words naming it (memory/named-count.ts), as `named[0]`. @internal */
  protected readonly named: Int32Array
  /** @internal */
  protected readonly rec: StatsRecorder
  /** The FIFO queue of a fair lock; undefined for the default (barging) lock. @internal */
  protected readonly queue: FairQueue | undefined
  /** Word index of the fair queue's NEXT (HEAD follows it), -1 for a barging lock. @internal */
  protected readonly queueWord: number
  /** @internal "mutex" or "reentrant mutex", for messages. */
  protected abstract readonly what: string

  /** @internal */
  protected constructor(handle: Handle<T>) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, handle.byteLength / 4)
    this.domain = domainOf(handle.domain)
    this.queue = handle.byteLength === FAIR_MUTEX_BYTES ? new FairQueue(this.words, MUTEX_BYTES / 4, this.domain) : undefined
    this.queueWord = this.queue === undefined ? -1 : MUTEX_BYTES / 4 + QueueWord.NEXT
    this.tid = this.domain.tid
    this.named = namedCount(this.domain)
    this.rec = new StatsRecorder(
      new Float64Array(handle.buffer, handle.byteOffset + MutexWord.STATS_BYTE, STATS_BYTES / 8),
      this.words,
      MutexWord.TIMEOUTS,
    )
  }

  /**
   * Acquires the lock, waiting at most `timeoutMs` (default: forever).
   * Blocks the thread: on a main thread prefer `lockAsync`.
   *
   * @returns true when acquired, false on timeout
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  abstract lock(timeoutMs?: number): boolean

  /**
   * Acquires the lock if that needs no waiting.
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  abstract tryLock(): boolean

  /**
   * Releases the lock.
   * @throws LockError if this thread does not hold it
   */
  abstract unlock(): void

  /** Slow path of `lock()` once the fast CAS failed. @internal */
  protected lockSlow(timeoutMs: number | undefined): boolean {
    const start = now()
    const deadline = deadlineOf(timeoutMs)
    const queue = this.queue
    if (queue !== undefined) return this.settle(acquireFair(queue, this.words, MutexWord.STATE, this.domain, deadline), start)
    return this.settle(acquire(this.words, MutexWord.STATE, this.domain, deadline), start)
  }

  /**
   * Whether `lock()`'s uncontended CAS may be tried: always for a barging
   * lock, only with nobody queued for a fair one. @internal
   *
   * The queue's NEXT and HEAD words are read here directly (QueueWord) and
   * with plain reads: an `Atomics.load` costs ~7 ns here, two of them half
   * an uncontended lock+unlock (fair Mutex 1.55x the barging one with them,
   * 1.08x without). A plain read may be stale; that can only let this
   * arrival try the lock ahead of a waiter that queued an instant before,
   * which the race between this check and the CAS allows anyway: the CAS,
   * not this check, is what excludes. Both outcomes go on to an atomic
   * operation (the CAS, or the queue), so no loop of `lock()` calls can
   * spin on a stale value; `tryLock()`, which a caller may spin on, uses
   * {@link mayBargeAtomic}.
   */
  protected mayBarge(): boolean {
    const q = this.queueWord
    const words = this.words
    return q < 0 || words[q] === words[q + 1]
  }

  /** {@link mayBarge} with sequentially consistent reads, for `tryLock()`. @internal */
  protected mayBargeAtomic(): boolean {
    return this.queue === undefined || this.queue.idle
  }

  /**
   * `lock()` of the library's own writer mutexes (StateBuffer, SnapshotStore,
   * SharedMap), waiting at most `timeoutMs`: on a thread that may not block
   * it spins rather than throwing BlockingNotAllowedError (see
   * `acquireSpinning`). Being bounded, the wait takes no part in deadlock
   * detection (see `acquire`). @internal
   * @returns true when acquired, false on timeout
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  lockWriter(timeoutMs: number): boolean {
    this.named[0]!++ // counted before our id enters the word (memory/thread.ts)
    if (Atomics.compareExchange(this.words, MutexWord.STATE, 0, this.tid) === 0) {
      this.acquired()
      this.rec.acquiredFast()
      return true
    }
    this.named[0]!-- // the slow path counts its own attempts
    const start = now()
    const deadline = deadlineOf(timeoutMs)
    if (threadMayBlock()) return this.settle(acquire(this.words, MutexWord.STATE, this.domain, deadline), start)
    return this.settle(acquireSpinning(this.words, MutexWord.STATE, this.domain, deadline), start)
  }

  /** `tryLock()` without the reentrancy check. @internal */
  protected tryLockWord(): boolean {
    if (!this.mayBargeAtomic()) return false
    const result = tryAcquire(this.words, MutexWord.STATE, this.domain)
    if (result === Acquired.Ok) {
      this.acquired()
      this.rec.acquiredFast()
      return true
    }
    if (result === Acquired.OwnerDied) return this.settle(result, now())
    return false
  }

  /** Called with the lock just taken (depth bookkeeping). @internal */
  protected acquired(): void {}

  /**
   * Acquires the lock without blocking the event loop; keeps a Node process
   * alive while waiting. Another async task of this same thread holding the
   * lock is waited for, never re-entered and never treated as a deadlock.
   *
   * @returns true when acquired, false on timeout
   * @throws the signal's reason when aborted
   * @throws OwnerDiedError (holding the lock) if the previous holder died
   */
  async lockAsync(options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    const deadline = deadlineOf(options.timeoutMs)
    if (options.signal?.aborted) throw options.signal.reason
    const queue = this.queue
    if (this.mayBarge()) {
      this.named[0]!++
      if (Atomics.compareExchange(this.words, MutexWord.STATE, 0, this.tid) === 0) {
        this.acquired()
        this.rec.acquiredFast()
        return true
      }
      this.named[0]!--
    }
    const start = now()
    let result: AcquireResult
    try {
      result =
        queue === undefined
          ? await acquireAsync(this.words, MutexWord.STATE, this.domain, deadline, options.signal)
          : await acquireFairAsync(queue, this.words, MutexWord.STATE, this.domain, deadline, options.signal)
    } catch (error) {
      this.rec.timedOut()
      throw error
    }
    return this.settle(result, start)
  }

  /** Turns an acquisition result into the API's answer. @internal */
  protected settle(result: AcquireResult, start: number): boolean {
    if (typeof result === 'object') throw new DeadlockError(cycleMessage('lock()', this.what, result.cycle), result.cycle)
    switch (result) {
      case Acquired.Ok:
        this.acquired()
        this.rec.acquiredSlow(start, false)
        return true
      case Acquired.OwnerDied:
        this.acquired()
        this.rec.acquiredSlow(start, true)
        throw ownerDied(this.what, this.words, MutexWord.DEAD_OWNER)
      case Acquired.SelfDeadlock:
        throw this.selfDeadlock('lock()')
      default:
        this.rec.timedOut()
        return false
    }
  }

  /** @internal */
  protected selfDeadlock(op: string): DeadlockError {
    return new DeadlockError(
      `Expected ${op} on a ${this.what} this thread does not hold, got one held by this very thread (${this.tid}): ` +
        'waiting would never end. Use ReentrantMutex for nested locking, or lockAsync() to wait for another async task',
    )
  }

  /** Releases the word itself (after depth bookkeeping). @internal */
  protected releaseWord(): void {
    this.rec.releasing()
    // Fast path: held by us, no waiters, consistent. Counted out after our id left the word.
    if (Atomics.compareExchange(this.words, MutexWord.STATE, this.tid, 0) === this.tid) {
      this.named[0]!--
      return
    }
    release(this.words, MutexWord.STATE, this.domain, this.what)
  }

  /**
   * After an `OwnerDiedError`: declares the protected data repaired, so later
   * acquirers are not told again. Only the holder may call it.
   * @throws LockError if this thread does not hold the lock
   */
  markConsistent(): void {
    markConsistent(this.words, MutexWord.STATE, this.tid, this.what)
  }

  /**
   * Runs `fn` holding the lock and returns its result.
   * @param timeoutMs a timeout, or options with `timeoutMs` and `recover`
   * @throws TimeoutError if not acquired in time
   */
  withLock<R>(fn: () => R, timeoutMs?: number | WithLockOptions): R {
    return runLocked(this, this.what, fn, withLockOptions(timeoutMs))
  }

  /** Runs async `fn` holding the lock, waiting for it without blocking. */
  withLockAsync<R>(fn: () => R | Promise<R>, options: WithLockOptions = {}): Promise<R> {
    return runLockedAsync(this, this.what, fn, options)
  }

  /**
   * Acquires the lock and returns a guard that releases it at the end of a
   * `using` block.
   * @throws TimeoutError if not acquired in time
   */
  guard(timeoutMs?: number | WithLockOptions): LockGuard {
    acquireOrThrow(this, this.what, withLockOptions(timeoutMs))
    return new LockGuard(this)
  }

  /** Whether some thread holds the lock (a snapshot: it may change at once). */
  get isLocked(): boolean {
    return (Atomics.load(this.words, MutexWord.STATE) & TID_MASK) !== 0
  }

  /** Whether the calling thread holds the lock. */
  get isHeldByCurrentThread(): boolean {
    return (Atomics.load(this.words, MutexWord.STATE) & TID_MASK) === this.tid
  }

  /** Thread id of the holder in the lock's domain, 0 if free. */
  get holder(): number {
    return Atomics.load(this.words, MutexWord.STATE) & TID_MASK
  }

  /** Whether waiters are served in FIFO order (`create({ fair: true })`). */
  get fair(): boolean {
    return this.queue !== undefined
  }

  /** Acquisitions waiting in the FIFO queue of a fair lock now (0 for a barging lock). */
  get queued(): number {
    return this.queue === undefined ? 0 : this.queue.length
  }

  /** Whether a holder died and nobody has called `markConsistent()` since. */
  get isPoisoned(): boolean {
    return (Atomics.load(this.words, MutexWord.STATE) & OWNER_DIED) !== 0
  }

  /** Contention figures summed over every thread. */
  stats(): LockStats {
    return this.rec.read()
  }
}
