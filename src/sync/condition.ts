/**
 * Condition: a condition variable used with a {@link Mutex}, across threads.
 *
 * Algorithm: the futex sequence condition variable (Drepper, "Futexes Are
 * Tricky", section on condvars; the scheme of musl and early glibc).
 *
 * ```
 *  Int32 word  0..3 header | 4 SEQ | 5 WAITERS | 6 WAITS | 7 NOTIFIES | 8 TIMEOUTS | 9 pad
 *              10..41 WAITING[32]: tid | that thread's waits in progress << 16 (0: free)
 * ```
 *
 * A waiter reads SEQ *before* releasing the mutex and sleeps only while SEQ
 * still holds that value; every notify increments SEQ first. A notify that
 * lands between the unlock and the sleep has changed SEQ, so the sleep returns
 * at once: no lost wake-up. WAITERS lets a notify skip `Atomics.notify` when
 * nobody waits: the waiter increments it after reading SEQ, and a notifier
 * that misses the increment had already incremented SEQ (sequential
 * consistency), so the waiter's sleep on the old SEQ returns at once.
 * Spurious wake-ups are
 * possible, as with every condition variable: use {@link Condition.waitFor}.
 *
 * **Waiters whose thread died**: a thread killed while it waits never
 * decrements WAITERS. So WAITERS is a count with per-thread shares
 * (`thread-counts.ts`: a WAITING slot per waiting thread, for the first 32
 * threads waiting at once); `stats()` and every new wait give back the
 * shares of threads marked dead, so `waiting` counts live threads only, and
 * a killed waiter leaves WAITERS one too high at worst (a notify that finds
 * nobody), never too low (a notify skipped).
 *
 * Why `wait` and `waitAsync` are not one wait loop run by both drivers of
 * `wait.ts`, as the other primitives' waits are: `wait` sleeps once, for the
 * whole timeout, and returns on any wake-up, so the wake-up of a `notifyOne`
 * is never kept by a waiter that goes back to sleep (what `condition.pml`
 * checks). `waitAsync` cannot tell a wake-up from the end of a slice
 * (`sleepWhileAsync` answers true for both), so it must loop while SEQ keeps
 * its value. Run through that loop, `wait` would sleep again after a wake-up
 * that found SEQ unchanged (a notify whose increment it had already read)
 * and could keep the wake-up another waiter needed until that waiter's slice
 * ends: a cost in latency the sync form does not pay today.
 *
 * @module
 */
import { LockError } from '../errors.js'
import { now } from '../memory/clock.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { Header } from '../memory/layout.js'
import { domainOf, type Domain } from '../memory/thread.js'
import { THREAD_COUNT_BYTES, countOut, forgetDead, shareIn } from './thread-counts.js'
import type { Mutex } from './mutex.js'
import { ASYNC_SLICE_MS, checkWaitOptions, blockingNotAllowed, deadlineOf, sleepWhileAsync, type AsyncWaitOptions } from './wait.js'

/** Word offsets of a Condition region. */
export const ConditionWord = {
  SEQ: Header.WORDS,
  WAITERS: Header.WORDS + 1,
  WAITS: Header.WORDS + 2,
  NOTIFIES: Header.WORDS + 3,
  TIMEOUTS: Header.WORDS + 4,
  /** First of the THREAD_COUNT_SLOTS words of WAITERS' per-thread shares (thread-counts.ts). */
  WAITING: Header.WORDS + 6,
} as const
const CONDITION_BYTES = ConditionWord.WAITING * 4 + THREAD_COUNT_BYTES

/** Handle of a {@link Condition}. */
export type ConditionHandle = Handle<'Condition'>

/** Figures of a {@link Condition}, summed over every thread. */
export interface ConditionStats {
  /** Waits started. */
  readonly waits: number
  /** `notifyOne` + `notifyAll` calls. */
  readonly notifies: number
  /** Waits that ended by timeout. */
  readonly timeouts: number
  /** Waits in progress at the moment of the call (a thread marked dead while it waited is not counted). */
  readonly waiting: number
}

/**
 * A condition variable: wait, with a held {@link Mutex}, until another thread
 * changes the state the mutex protects and notifies.
 *
 * @example
 * ```ts
 * // consumer
 * mutex.lock()
 * cond.waitFor(mutex, () => queue.length > 0)
 * const item = queue.shift()
 * mutex.unlock()
 * // producer
 * mutex.withLock(() => queue.push(item))
 * cond.notifyOne()
 * ```
 */
export class Condition {
  /** Bytes a Condition occupies in its buffer. */
  static readonly BYTE_LENGTH = CONDITION_BYTES
  /** The structured-cloneable handle. */
  readonly handle: ConditionHandle
  private readonly words: Int32Array
  private readonly domain: Domain

  private constructor(handle: ConditionHandle) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, CONDITION_BYTES / 4)
    this.domain = domainOf(handle.domain)
  }

  /** Creates a new condition variable in its own shared memory. */
  static create(): Condition {
    return new Condition(makeHandle('Condition', allocateRegion('Condition', CONDITION_BYTES), domainOf().buffer))
  }

  /**
   * Rebuilds a condition variable from its handle, in any thread.
   * @throws HandleError if `handle` is not a valid Condition handle
   */
  static attach(handle: ConditionHandle): Condition {
    return attaching('Condition', () => new Condition(checkHandle(handle, 'Condition', CONDITION_BYTES)))
  }

  /** Counts a wait in: returns SEQ and this thread's WAITING slot (thread-counts.ts). */
  private enter(mutex: Mutex, op: string): { seq: number; slot: number } {
    if (!mutex.isHeldByCurrentThread) {
      throw new LockError(`Expected ${op} with the mutex held by the calling thread, got a mutex it does not hold`)
    }
    const words = this.words
    forgetDead(words, ConditionWord.WAITERS, ConditionWord.WAITING, this.domain)
    const seq = Atomics.load(words, ConditionWord.SEQ)
    Atomics.add(words, ConditionWord.WAITERS, 1)
    const slot = shareIn(words, ConditionWord.WAITING, this.domain) // countIn's second half (the SPIN model's WAITERS + 1 stays in sight)
    Atomics.add(words, ConditionWord.WAITS, 1)
    return { seq, slot }
  }

  private leave(slot: number): void {
    countOut(this.words, ConditionWord.WAITERS, slot, this.domain)
  }

  /**
   * Releases `mutex`, sleeps until notified (or `timeoutMs` passes), then
   * re-acquires `mutex` before returning. May wake spuriously.
   *
   * @returns false if the timeout passed, true otherwise
   * @throws LockError if the calling thread does not hold `mutex`
   * @throws OwnerDiedError (holding the mutex) if its holder died meanwhile
   */
  wait(mutex: Mutex, timeoutMs?: number): boolean {
    const deadline = deadlineOf(timeoutMs)
    const words = this.words
    const { seq, slot } = this.enter(mutex, 'wait()')
    mutex.unlock()
    let result: string
    try {
      const remaining = deadline - now()
      result = remaining > 0 ? Atomics.wait(words, ConditionWord.SEQ, seq, remaining) : 'timed-out'
    } catch (error) {
      mutex.lock()
      throw blockingNotAllowed(error)
    } finally {
      this.leave(slot)
    }
    if (result === 'timed-out') Atomics.add(words, ConditionWord.TIMEOUTS, 1)
    mutex.lock()
    return result !== 'timed-out'
  }

  /**
   * Waits until `predicate()` is true, re-checking it (with `mutex` held)
   * after every wake-up.
   * @returns the last value of `predicate()`: false only if the timeout passed
   */
  waitFor(mutex: Mutex, predicate: () => boolean, timeoutMs?: number): boolean {
    const deadline = deadlineOf(timeoutMs)
    while (!predicate()) {
      const remaining = deadline - now()
      if (remaining <= 0) return false
      this.wait(mutex, remaining === Infinity ? undefined : remaining)
    }
    return true
  }

  /**
   * Async form of {@link wait}: never blocks the event loop. Re-acquires the
   * mutex with `lockAsync` (no timeout: the caller held it and gets it back).
   * @returns false if the timeout passed, true otherwise
   * @throws the signal's reason when aborted (with the mutex re-acquired first)
   */
  async waitAsync(mutex: Mutex, options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    const deadline = deadlineOf(options.timeoutMs)
    const words = this.words
    const { seq, slot } = this.enter(mutex, 'waitAsync()')
    mutex.unlock()
    let notified = true
    let failure: unknown
    try {
      while (Atomics.load(words, ConditionWord.SEQ) === seq) {
        if (!(await sleepWhileAsync(words, ConditionWord.SEQ, seq, deadline, options.signal, ASYNC_SLICE_MS))) {
          notified = false
          Atomics.add(words, ConditionWord.TIMEOUTS, 1)
          break
        }
      }
    } catch (error) {
      failure = error
    } finally {
      this.leave(slot)
    }
    await mutex.lockAsync()
    if (failure !== undefined) throw failure
    return notified
  }

  /** Async form of {@link waitFor}. */
  async waitForAsync(mutex: Mutex, predicate: () => boolean, options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    const deadline = deadlineOf(options.timeoutMs)
    while (!predicate()) {
      const remaining = deadline - now()
      if (remaining <= 0) return false
      await this.waitAsync(mutex, {
        ...(remaining === Infinity ? {} : { timeoutMs: remaining }),
        ...(options.signal ? { signal: options.signal } : {}),
      })
    }
    return true
  }

  /** Wakes one waiting thread (or more: spurious wake-ups are allowed). */
  notifyOne(): void {
    this.notify(1)
  }

  /** Wakes every waiting thread. */
  notifyAll(): void {
    this.notify(Infinity)
  }

  private notify(count: number): void {
    const words = this.words
    Atomics.add(words, ConditionWord.SEQ, 1)
    Atomics.add(words, ConditionWord.NOTIFIES, 1)
    if (Atomics.load(words, ConditionWord.WAITERS) > 0) Atomics.notify(words, ConditionWord.SEQ, count)
  }

  /** Figures summed over every thread (`waiting`: live threads only). */
  stats(): ConditionStats {
    const words = this.words
    forgetDead(words, ConditionWord.WAITERS, ConditionWord.WAITING, this.domain)
    return {
      waits: Atomics.load(words, ConditionWord.WAITS),
      notifies: Atomics.load(words, ConditionWord.NOTIFIES),
      timeouts: Atomics.load(words, ConditionWord.TIMEOUTS),
      waiting: Atomics.load(words, ConditionWord.WAITERS),
    }
  }
}
