/**
 * Semaphore: a counter of permits shared across threads.
 *
 * ```
 *  Int32 word  0..3 header | 4 PERMITS | 5 WAITERS | 6 MAX | 7 ACQUIRES
 *              8 CONTENDED | 9 TIMEOUTS
 * ```
 *
 * `acquire(n)` takes `n` permits with a CAS when enough are there; otherwise
 * it registers in WAITERS, re-reads PERMITS and sleeps while PERMITS keeps the
 * value it saw. `release(n)` adds the permits, then wakes every sleeper if
 * WAITERS is non-zero (waiters may want different `n`, so all re-check). A
 * release between the waiter's read and its sleep changed PERMITS, so the
 * sleep returns at once (the futex argument).
 *
 * A fair semaphore (`create({ fair: true })`) puts every acquisition that
 * cannot take its permits at once in a FIFO queue (fair-queue.ts, after
 * the words above); only the queue's head waits for permits as above, and
 * an arrival takes permits at once only while nobody is queued. So a
 * waiter for 2 permits is served before later waiters for 1, instead of
 * watching them take every permit as it comes back.
 *
 * Permits are not owned by threads, so permits held by a thread that dies are
 * not given back (as with POSIX semaphores); use a Mutex where that matters.
 *
 * @module
 */
import type { AsyncSemaphore } from '../contracts.js'
import { LockError, OptionError, TimeoutError, describe } from '../errors.js'
import { allocateRegion, attaching, checkHandle, copyHandle, makeHandle, type Handle } from '../memory/handle.js'
import { Header } from '../memory/layout.js'
import { domainOf } from '../memory/thread.js'
import { FairQueue, QUEUE_BYTES } from './fair-queue.js'
import { checkWaitOptions, checkCount, checkTimeout, deadlineOf, runWait, runWaitAsync, sleepOn, type AsyncWaitOptions, type WaitLoop } from './wait.js'

/** Word offsets of a Semaphore region. */
export const SemaphoreWord = {
  PERMITS: Header.WORDS,
  WAITERS: Header.WORDS + 1,
  MAX: Header.WORDS + 2,
  ACQUIRES: Header.WORDS + 3,
  CONTENDED: Header.WORDS + 4,
  TIMEOUTS: Header.WORDS + 5,
} as const
const SEMAPHORE_BYTES = (Header.WORDS + 6) * 4
const FAIR_SEMAPHORE_BYTES = SEMAPHORE_BYTES + QUEUE_BYTES
const MAX_PERMITS = 0x7fffffff

/** Handle of a {@link Semaphore}. */
export type SemaphoreHandle = Handle<'Semaphore'>

/** Options of {@link Semaphore.create}. */
export interface SemaphoreOptions {
  /**
   * Permits available at the start.
   * @default 1
   */
  readonly permits?: number
  /**
   * Most permits the semaphore may hold; a `release` past it throws
   * `LockError` (catches double releases).
   * @default 2147483647
   */
  readonly max?: number
  /**
   * Serve waiters in FIFO order: an `acquire(n)` that has to wait is
   * served before every later one, whatever their `n` (Java's
   * `Semaphore(permits, true)`). Without it, a waiter for several permits
   * can starve while others keep taking them one at a time. Costs two loads
   * on the uncontended path and one queue step per wait.
   * @default false
   */
  readonly fair?: boolean
}

/** Figures of a {@link Semaphore}, summed over every thread. */
export interface SemaphoreStats {
  /** Permits available now. */
  readonly permits: number
  /** Successful acquisitions. */
  readonly acquires: number
  /** Acquisitions that had to wait. */
  readonly contended: number
  /** Waits that gave up. */
  readonly timeouts: number
  /** Threads waiting now. */
  readonly waiting: number
}

/**
 * A counting semaphore shared between threads: at most `permits` holders at
 * once (a pool of connections, a rate of work).
 *
 * @example
 * ```ts
 * const slots = Semaphore.create({ permits: 4 })
 * if (slots.acquire(1, 1000)) {
 *   try { await work() } finally { slots.release() }
 * }
 * ```
 */
export class Semaphore implements AsyncSemaphore {
  /** Bytes a Semaphore occupies in its buffer. */
  static readonly BYTE_LENGTH = SEMAPHORE_BYTES
  /** The structured-cloneable handle. */
  readonly handle: SemaphoreHandle
  private readonly words: Int32Array
  /** MAX never changes after create(); read once per instance. */
  private maxPermits = 0
  /** The FIFO queue of a fair semaphore. */
  private readonly queue: FairQueue | undefined

  private constructor(handle: SemaphoreHandle) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, handle.byteLength / 4)
    const domain = domainOf(handle.domain)
    this.queue = handle.byteLength === FAIR_SEMAPHORE_BYTES ? new FairQueue(this.words, SEMAPHORE_BYTES / 4, domain) : undefined
  }

  /** Creates a semaphore with `permits` permits (default 1). */
  static create(options: SemaphoreOptions = {}): Semaphore {
    const max = options.max === undefined ? MAX_PERMITS : checkCount(options.max, 'max', MAX_PERMITS)
    const permits = options.permits ?? 1
    if (options.fair !== undefined && typeof options.fair !== 'boolean') {
      throw new OptionError(`Expected \`fair\` to be a boolean, got ${describe(options.fair)}`)
    }
    if (typeof permits !== 'number' || !Number.isInteger(permits) || permits < 0 || permits > max) {
      throw new OptionError(`Expected \`permits\` to be an integer from 0 to ${max}, got ${describe(permits)}`)
    }
    const bytes = options.fair === true ? FAIR_SEMAPHORE_BYTES : SEMAPHORE_BYTES
    const semaphore = new Semaphore(
      makeHandle('Semaphore', allocateRegion('Semaphore', bytes), domainOf().buffer),
    )
    Atomics.store(semaphore.words, SemaphoreWord.MAX, max)
    Atomics.store(semaphore.words, SemaphoreWord.PERMITS, permits)
    return semaphore
  }

  /**
   * Rebuilds a semaphore from its handle, in any thread.
   * @throws HandleError if `handle` is not a valid Semaphore handle
   */
  static attach(handle: SemaphoreHandle): Semaphore {
    return attaching('Semaphore', () => {
      const copy = copyHandle(handle, 'Semaphore') // one read of each field: the length checked is the length used
      const bytes = copy['byteLength'] === FAIR_SEMAPHORE_BYTES ? FAIR_SEMAPHORE_BYTES : SEMAPHORE_BYTES // checkHandle verifies it against the region
      return new Semaphore(checkHandle(copy, 'Semaphore', bytes))
    })
  }

  private max(): number {
    if (this.maxPermits === 0) this.maxPermits = Atomics.load(this.words, SemaphoreWord.MAX)
    return this.maxPermits
  }

  private checkN(n: number): void {
    if (n !== 1) checkCount(n, 'n', this.max())
  }

  /** Takes `n` permits if they are there (and, if fair, nobody is queued for permits). */
  tryAcquire(n = 1): boolean {
    this.checkN(n)
    return this.mayBarge() && this.take(n)
  }

  /** Whether an arrival may take permits at once: always, or, if fair, while nobody is queued (`plain`: FairQueue.seemsIdle, not for `tryAcquire`). */
  private mayBarge(plain = false): boolean {
    const queue = this.queue
    return queue === undefined || (plain ? queue.seemsIdle : queue.idle)
  }

  private take(n: number): boolean {
    const words = this.words
    let c = Atomics.load(words, SemaphoreWord.PERMITS)
    while (c >= n) {
      const prev = Atomics.compareExchange(words, SemaphoreWord.PERMITS, c, c - n)
      if (prev === c) {
        Atomics.add(words, SemaphoreWord.ACQUIRES, 1)
        return true
      }
      c = prev
    }
    return false
  }

  /**
   * Takes `n` permits, waiting at most `timeoutMs` (default: forever) for
   * them. Blocks the thread: on a main thread prefer {@link acquireAsync}.
   * @returns true when taken, false on timeout
   */
  acquire(n = 1, timeoutMs?: number): boolean {
    this.checkN(n)
    checkTimeout(timeoutMs) // a bad timeout is refused even when a permit is free
    if (this.mayBarge(true) && this.take(n)) return true
    const deadline = deadlineOf(timeoutMs)
    const queue = this.queue
    if (queue !== undefined) return runWait(this.fairWaiting(queue, n, deadline, true, undefined), deadline)
    return runWait(this.waiting(n), deadline)
  }

  /** A fair semaphore's wait: its turn in the queue, then {@link waiting} as the head, then the turn passed on. */
  private *fairWaiting(queue: FairQueue, n: number, deadline: number, blocking: boolean, signal: AbortSignal | undefined): WaitLoop<boolean> {
    const turn = yield* queue.turn(deadline, blocking, signal, undefined)
    if (turn === undefined) {
      Atomics.add(this.words, SemaphoreWord.TIMEOUTS, 1)
      return false
    }
    if (typeof turn === 'object') throw new Error('unreachable: a semaphore wait publishes no wait-for edge')
    try {
      return yield* this.waiting(n)
    } finally {
      queue.pass(turn)
    }
  }

  /**
   * The wait for `n` permits, for {@link acquire} and {@link acquireAsync}:
   * counted in WAITERS for its whole length, it sleeps while PERMITS keeps a
   * value too small.
   */
  private *waiting(n: number): WaitLoop<boolean> {
    const words = this.words
    Atomics.add(words, SemaphoreWord.CONTENDED, 1)
    Atomics.add(words, SemaphoreWord.WAITERS, 1)
    try {
      for (;;) {
        const c = Atomics.load(words, SemaphoreWord.PERMITS)
        if (c >= n) {
          if (this.take(n)) return true
          continue
        }
        if (!(yield sleepOn(words, SemaphoreWord.PERMITS, c))) {
          Atomics.add(words, SemaphoreWord.TIMEOUTS, 1)
          return false
        }
      }
    } finally {
      Atomics.sub(words, SemaphoreWord.WAITERS, 1)
    }
  }

  /**
   * Async form of {@link acquire}: never blocks the event loop.
   * @returns true when taken, false on timeout
   * @throws the signal's reason when aborted
   */
  async acquireAsync(n = 1, options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    this.checkN(n)
    const deadline = deadlineOf(options.timeoutMs)
    if (options.signal?.aborted) throw options.signal.reason
    if (this.mayBarge(true) && this.take(n)) return true
    const queue = this.queue
    if (queue !== undefined) return runWaitAsync(this.fairWaiting(queue, n, deadline, false, options.signal), deadline, options.signal)
    return runWaitAsync(this.waiting(n), deadline, options.signal)
  }

  /**
   * Gives back `n` permits and wakes waiters.
   * @throws LockError if that would exceed `max` (a double release)
   */
  release(n = 1): void {
    this.checkN(n)
    const max = this.max()
    const words = this.words
    let c = Atomics.load(words, SemaphoreWord.PERMITS)
    for (;;) {
      if (c + n > max) {
        throw new LockError(`Expected release(${n}) to keep permits at most ${max}, got ${c} + ${n}: released more than acquired`)
      }
      const prev = Atomics.compareExchange(words, SemaphoreWord.PERMITS, c, c + n)
      if (prev === c) break
      c = prev
    }
    if (Atomics.load(words, SemaphoreWord.WAITERS) > 0) Atomics.notify(words, SemaphoreWord.PERMITS)
  }

  /** Runs `fn` holding `n` permits. @throws TimeoutError if not taken in time */
  async withPermitsAsync<R>(fn: () => R | Promise<R>, n = 1, options: AsyncWaitOptions = {}): Promise<R> {
    options = checkWaitOptions(options)
    if (!(await this.acquireAsync(n, options))) throw timeoutError(n, options.timeoutMs)
    try {
      return await fn()
    } finally {
      this.release(n)
    }
  }

  /** Runs `fn` holding `n` permits, blocking for them. @throws TimeoutError if not taken in time */
  withPermits<R>(fn: () => R, n = 1, timeoutMs?: number): R {
    if (!this.acquire(n, timeoutMs)) throw timeoutError(n, timeoutMs)
    try {
      return fn()
    } finally {
      this.release(n)
    }
  }

  /** Whether waiters are served in FIFO order (`create({ fair: true })`). */
  get fair(): boolean {
    return this.queue !== undefined
  }

  /** Permits available now. */
  get available(): number {
    return Atomics.load(this.words, SemaphoreWord.PERMITS)
  }

  /** Figures summed over every thread. */
  stats(): SemaphoreStats {
    const words = this.words
    return {
      permits: Atomics.load(words, SemaphoreWord.PERMITS),
      acquires: Atomics.load(words, SemaphoreWord.ACQUIRES),
      contended: Atomics.load(words, SemaphoreWord.CONTENDED),
      timeouts: Atomics.load(words, SemaphoreWord.TIMEOUTS),
      // A fair semaphore's head is counted in both; the others are queued only.
      waiting: Math.max(Atomics.load(words, SemaphoreWord.WAITERS), this.queue?.length ?? 0),
    }
  }
}

function timeoutError(n: number, timeoutMs: number | undefined): TimeoutError {
  return new TimeoutError(`Expected ${n} semaphore permit(s) within ${timeoutMs} ms, got a timeout`)
}
