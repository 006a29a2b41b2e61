/**
 * The robust lock word shared by Mutex, ReentrantMutex and the writer side of
 * RWLock.
 *
 * Algorithm: Drepper's three-state futex mutex ("Futexes Are Tricky", 2011,
 * mutex #3) with the holder's thread id in the word instead of the constant 1,
 * as Linux robust futexes do (`FUTEX_WAITERS`, `FUTEX_OWNER_DIED`):
 *
 * ```
 *  bit  30        29           28..16   15..0
 *     +---------+------------+--------+--------------+
 *     | WAITERS | OWNER_DIED | unused | holder tid   |   0 = free, consistent
 *     +---------+------------+--------+--------------+
 * ```
 *
 * - Uncontended acquire is one CAS `0 -> tid`; uncontended release one CAS
 *   `tid -> 0`. No `Atomics.notify` unless WAITERS is set, so lock+unlock costs
 *   two read-modify-writes (~22 ns here).
 * - A waiter sets WAITERS before it sleeps on the word; a release that sees
 *   WAITERS wakes one sleeper. A woken waiter acquires *with* WAITERS set,
 *   because it cannot know whether others still sleep (Drepper's "state 2").
 * - Having the holder in the word lets `lock()` by the holder throw
 *   `DeadlockError` instead of hanging, and `unlock()` by another thread throw
 *   `LockError`.
 * - Robustness: waiters sleep in slices ({@link SLICE_MS}) and on each turn
 *   look the holder up in the domain's thread table. A holder marked dead,
 *   or an id the domain never handed out (a word overwritten by scribbled
 *   memory: nobody could ever release it), is replaced by CAS
 *   `deadTid|bits -> me|OWNER_DIED|bits`; the word right after
 *   the lock word records who died. OWNER_DIED stays set, across releases,
 *   until the holder calls `markConsistent()` (`pthread_mutex_consistent`), so
 *   every acquirer of a poisoned lock is told.
 * - Ids are reused (memory/thread.ts): a thread counts its id in
 *   (`Domain.naming`, a plain increment of a word of its own) before the
 *   compareExchange that puts it in the word and out after the one that
 *   removes it; a takeover pins the dead id, reads the word again, and counts
 *   the dead id out after replacing it. So no word names an id while that id
 *   is handed to another thread.
 *
 * Every Atomics operation is sequentially consistent, so the CAS that takes
 * the lock orders the holder's later plain reads and writes of the protected
 * data after the previous holder's release CAS on every architecture.
 *
 * The slow path is one wait loop ({@link acquiring}) run by `wait.ts`'s two
 * drivers: {@link acquire} blocks, {@link acquireAsync} does not. The
 * uncontended CAS of `lock()` / `unlock()` / `tryLock()` never reaches it.
 * The generator costs a slow acquisition that did not sleep some 35-120 ns
 * (measured here on a lock taken at the first look: `acquire()` alone
 * +35 ns; a whole slow `lock()`, ~400 ns with its two clock reads and wait
 * histogram, +40-125 ns under load), against the microseconds of a spin or
 * the ~7 us of a sleep; contended throughput and hand-off latency did not
 * move measurably (bench/locks.ts, before and after in alternation).
 *
 * @module
 */
import { LockError } from '../errors.js'
import { now } from '../memory/clock.js'
import { TID_MASK, type Domain } from '../memory/thread.js'
import { SPIN, runWait, runWaitAsync, sleepOn, type WaitLoop } from './wait.js'
import { WaitEdge } from './wait-graph.js'
import { FAIR_SPIN, type FairQueue } from './fair-queue.js'

/** Someone may sleep on the word: a release must notify. */
export const WAITERS = 1 << 30
/** The protected data may be inconsistent: a holder died and nobody repaired it. */
export const OWNER_DIED = 1 << 29

/** Words a robust lock occupies: the lock word, then the last dead holder's tid. */
export const RobustWord = { STATE: 0, DEAD_OWNER: 1, WORDS: 2 } as const

/** Outcome of an acquisition, besides a {@link Deadlock}. */
export const Acquired = {
  /** Acquired, data consistent. */
  Ok: 0,
  /** Acquired, but a holder died: the caller must be told (OwnerDiedError). */
  OwnerDied: 1,
  /** The deadline passed. */
  TimedOut: 2,
  /** Sync acquisition by the thread that holds it. */
  SelfDeadlock: 3,
} as const

/** A confirmed cycle of blocked threads, this one its victim: the acquisition gave up. */
export interface Deadlock {
  /** The cycle's thread ids, this thread first, each waiting for the next (the last for the first). */
  readonly cycle: readonly number[]
}

/** What an acquisition ended with: one of {@link Acquired}, or a {@link Deadlock} naming its cycle. */
export type AcquireResult = (typeof Acquired)[keyof typeof Acquired] | Deadlock

/**
 * One attempt that never waits. Takes a free lock (poisoned or not) or one
 * whose holder is dead.
 */
export function tryAcquire(words: Int32Array, i: number, domain: Domain): AcquireResult | undefined {
  const tid = domain.tid
  const dw = domain.words
  dw[domain.namedIndex]!++
  const s = Atomics.compareExchange(words, i, 0, tid)
  if (s === 0) return Acquired.Ok
  dw[domain.namedIndex]!--
  return takeFreeOrDead(words, i, domain, s, 0)
}

/**
 * Takes the word if it is free (keeping OWNER_DIED) or its holder is dead.
 * `extra` is ORed in (WAITERS after a sleep). Undefined if neither applies or
 * the CAS lost a race (the caller re-reads and retries).
 */
function takeFreeOrDead(
  words: Int32Array,
  i: number,
  domain: Domain,
  s: number,
  extra: number,
): AcquireResult | undefined {
  const holder = s & TID_MASK
  if (holder === 0) {
    // Counted before our id enters the word (thread.ts: ids are reused once
    // nothing names them), inline: no call between the count and the CAS, as
    // a terminated thread stops at a call and would leave the id counted.
    const dw = domain.words
    dw[domain.namedIndex]!++
    if (Atomics.compareExchange(words, i, s, domain.tid | (s & OWNER_DIED) | extra) !== s) {
      dw[domain.namedIndex]!--
      return undefined
    }
    return (s & OWNER_DIED) !== 0 ? Acquired.OwnerDied : Acquired.Ok
  }
  if (holder !== domain.tid && domain.cannotHold(holder)) return takeOver(words, i, domain, holder, extra)
  return undefined
}

/**
 * Replaces `holder`, which looked dead, by this thread. The id is pinned
 * and the word and the holder's state read again first: without the pin,
 * the dead holder's lock could be taken over by someone else, its id reused,
 * and the word written by the new owner of the id equal to the value read
 * here, so that this compareExchange would take a live thread's lock
 * (thread.ts, "Reusing the id of a dead thread").
 */
function takeOver(words: Int32Array, i: number, domain: Domain, holder: number, extra: number): AcquireResult | undefined {
  domain.pin(holder)
  try {
    const s = Atomics.load(words, i)
    if ((s & TID_MASK) !== holder || !domain.cannotHold(holder)) return undefined
    domain.naming()
    if (Atomics.compareExchange(words, i, s, domain.tid | OWNER_DIED | (s & WAITERS) | extra) !== s) {
      domain.unnamed()
      return undefined
    }
    domain.cleared(holder) // the word no longer names it
  } finally {
    domain.unpin(holder)
  }
  // We hold the lock now: record who died for the error message.
  Atomics.store(words, i + RobustWord.DEAD_OWNER, holder)
  return Acquired.OwnerDied
}

/**
 * Blocking acquisition with spin, sliced sleeps and a deadline. Without a
 * deadline, the wait takes part in deadlock detection (wait-graph.ts). (The
 * objects' writers' lock waits with a bound, `writeTimeoutMs`, so it takes no
 * part: a waiter that can leave by timing out is no member of a certain
 * cycle, which is what wait-graph.ts proves; a cycle through it ends in a
 * TimeoutError.)
 */
export function acquire(words: Int32Array, i: number, domain: Domain, deadline: number): AcquireResult {
  return runWait(acquiring(words, i, domain, deadline, true, undefined), deadline)
}

/**
 * The slow path of an acquisition, written once for {@link acquire}
 * (`blocking`) and {@link acquireAsync}: take the word if it is free or its
 * holder is dead; otherwise set WAITERS, sleep on the word, and try again.
 *
 * Only the blocking form spins first ({@link SPIN} re-reads: an async waiter
 * would hold up its event loop), treats its own thread as the holder as a
 * self-deadlock (for an async waiter, another task of this thread may hold
 * the lock and release it later), and publishes a wait-for edge when it has
 * no deadline (an async waiter may still move, so no cycle through it is
 * certain). The async form looks at its signal before every attempt, so an
 * abort that lands after a wake-up gives up instead of acquiring; an abort
 * during a sleep reaches the loop at its `yield`.
 */
export function* acquiring(
  words: Int32Array,
  i: number,
  domain: Domain,
  deadline: number,
  blocking: boolean,
  signal: AbortSignal | undefined,
  spin: number = SPIN,
): WaitLoop<AcquireResult> {
  let extra = 0
  let spins = blocking ? spin : 0
  let edge: WaitEdge | undefined
  try {
    for (;;) {
      if (signal?.aborted) {
        giveUp(words, i)
        throw signal.reason
      }
      let s = Atomics.load(words, i)
      const took = takeFreeOrDead(words, i, domain, s, extra)
      if (took !== undefined) return took
      if (blocking && (s & TID_MASK) === domain.tid) return Acquired.SelfDeadlock
      if ((s & TID_MASK) === 0) continue // lost a race for a free word: retry at once
      if (spins > 0) {
        spins--
        continue
      }
      if ((s & WAITERS) === 0) {
        if (Atomics.compareExchange(words, i, s, s | WAITERS) !== s) continue
        s |= WAITERS
      }
      if (blocking) {
        if (deadline === Infinity) {
          // The word says who holds it now: publish or verify our edge, and look for a cycle.
          const cycle = (edge ??= new WaitEdge(domain)).beforeSleep(s & TID_MASK)
          if (cycle !== undefined) {
            giveUp(words, i)
            return { cycle }
          }
        }
      }
      let slept: boolean
      try {
        slept = yield sleepOn(words, i, s)
      } catch (error) {
        giveUp(words, i) // aborted (or may not block): pass on a wake-up we may have consumed
        throw error
      }
      if (!slept) return giveUp(words, i)
      extra = WAITERS
    }
  } finally {
    edge?.clear()
  }
}

/**
 * The slow path of a fair lock's acquisition: wait for this acquisition's
 * turn in the lock's FIFO queue (fair-queue.ts), then acquire the word as
 * {@link acquiring} does (competing only with arrivals that found the queue
 * empty just before), then pass the turn on, however the acquisition ended.
 * A blocking acquisition by the holder is a self-deadlock at once, before it
 * queues behind waiters that wait for it.
 */
function* fairAcquiring(
  queue: FairQueue,
  words: Int32Array,
  i: number,
  domain: Domain,
  deadline: number,
  blocking: boolean,
  signal: AbortSignal | undefined,
): WaitLoop<AcquireResult> {
  if (blocking && (Atomics.load(words, i) & TID_MASK) === domain.tid) return Acquired.SelfDeadlock
  const turn = yield* queue.turn(deadline, blocking, signal, () => Atomics.load(words, i) & TID_MASK)
  if (turn === undefined) return Acquired.TimedOut
  if (typeof turn === 'object') return turn
  try {
    return yield* acquiring(words, i, domain, deadline, blocking, signal, FAIR_SPIN)
  } finally {
    queue.pass(turn)
  }
}

/** Blocking acquisition of a fair lock's word: {@link acquire} in FIFO order (`fairAcquiring`). */
export function acquireFair(queue: FairQueue, words: Int32Array, i: number, domain: Domain, deadline: number): AcquireResult {
  return runWait(fairAcquiring(queue, words, i, domain, deadline, true, undefined), deadline)
}

/** Async acquisition of a fair lock's word: {@link acquireAsync} in FIFO order (`fairAcquiring`). */
export function acquireFairAsync(
  queue: FairQueue,
  words: Int32Array,
  i: number,
  domain: Domain,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<AcquireResult> {
  return runWaitAsync(fairAcquiring(queue, words, i, domain, deadline, false, signal), deadline, signal)
}

/**
 * Acquisition by spinning, for a thread that may not block (a browser main
 * thread), used only for the library's own writer mutexes (StateBuffer,
 * SnapshotStore, SharedMap): their holders run a bounded section of library
 * code (a slot write, a snapshot copy, a map commit), so a spinning page waits
 * at most that long, or until a preempted holder runs again, instead of
 * failing with BlockingNotAllowedError. A dead holder is taken over as usual;
 * past `deadline` (the clock read every {@link SPIN} turns) it gives up.
 */
export function acquireSpinning(words: Int32Array, i: number, domain: Domain, deadline = Infinity): AcquireResult {
  for (let turn = 1; ; turn++) {
    const s = Atomics.load(words, i)
    const took = takeFreeOrDead(words, i, domain, s, 0)
    if (took !== undefined) return took
    if ((s & TID_MASK) === domain.tid) return Acquired.SelfDeadlock
    if (turn % SPIN === 0 && now() >= deadline) return Acquired.TimedOut
  }
}

/**
 * Leaves after a timeout or abort. A waiter that slept may have consumed the
 * one wake-up a release sent, and that release cleared WAITERS: the word can
 * now read "free, nobody waiting" while other waiters still sleep. So pass
 * the wake-up on whatever the word says (found by the SPIN model: checking
 * WAITERS first left the next sleeper asleep with the lock free until its
 * 50 ms slice ended). A spurious wake-up costs a sleeper one re-check; this
 * path runs only on timeouts and aborts.
 */
function giveUp(words: Int32Array, i: number): AcquireResult {
  Atomics.notify(words, i, 1)
  return Acquired.TimedOut
}

/**
 * Async acquisition: never blocks the event loop. The holder being this very
 * thread is not a deadlock here (another async task of this thread may hold
 * it and release it later), so it waits like any other contender.
 * @throws the signal's reason when aborted (the wake-up passed on first)
 */
export function acquireAsync(
  words: Int32Array,
  i: number,
  domain: Domain,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<AcquireResult> {
  return runWaitAsync(acquiring(words, i, domain, deadline, false, signal), deadline, signal)
}

/**
 * Releases the word held by this thread of `domain` (and counts its id out of
 * it, thread.ts). A poisoned lock stays poisoned (free, with OWNER_DIED).
 * Throws `LockError` if this thread does not hold it.
 */
export function release(words: Int32Array, i: number, domain: Domain, what: string): void {
  const tid = domain.tid
  const dw = domain.words
  let s = Atomics.compareExchange(words, i, tid, 0)
  if (s === tid) {
    dw[domain.namedIndex]!--
    return
  }
  for (;;) {
    if ((s & TID_MASK) !== tid) throw notHolder(what, s, tid)
    const prev = Atomics.compareExchange(words, i, s, s & OWNER_DIED)
    if (prev === s) break
    s = prev
  }
  dw[domain.namedIndex]!-- // after our id left the word (inline: see takeFreeOrDead)
  if ((s & WAITERS) !== 0) Atomics.notify(words, i, 1)
}

/** Clears OWNER_DIED on a word held by `tid`. */
export function markConsistent(words: Int32Array, i: number, tid: number, what: string): void {
  let s = Atomics.load(words, i)
  for (;;) {
    if ((s & TID_MASK) !== tid) throw notHolder(what, s, tid, 'markConsistent()')
    if ((s & OWNER_DIED) === 0) return
    const prev = Atomics.compareExchange(words, i, s, s & ~OWNER_DIED)
    if (prev === s) return
    s = prev
  }
}

function notHolder(what: string, s: number, tid: number, op = 'unlock()'): LockError {
  const holder = s & TID_MASK
  return new LockError(
    `Expected ${op} by the thread holding the ${what} (thread ${tid} calling), got a ${what} ${holder === 0 ? 'that nobody holds' : `held by thread ${holder}`}`,
  )
}
