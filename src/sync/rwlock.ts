/**
 * RWLock: many readers or one writer, writer-preferring, robust.
 *
 * Algorithm: a writer word plus per-thread reader slots (a "big-reader" lock,
 * as Linux brlock / per-CPU rwsems). Readers never write a word another
 * reader writes, so they do not contend with each other.
 *
 * ```
 *  Int32 word  0..3 header
 *              4 STATE       robust lock word of the writer (robust-word.ts);
 *                            WAITERS = someone (reader or writer) sleeps on it
 *              5 DEAD_OWNER  tid of the last writer that died holding it
 *              6 TIMEOUTS    waits that gave up (atomic counter)
 *              7 DRAIN       epoch a writer sleeps on while readers leave
 *              8 OVERFLOW    read holds of threads that found no free slot
 *              9 READERS_DIED read holds reclaimed from dead threads
 *             10 SLOTS_USED  high-water mark: slots at or past it were never claimed
 *             11 LOCK_ID     the lock's id in its domain (key of the threads'
 *                            overflow ledgers, memory/thread.ts)
 *  byte 48     writer stats block (stats.ts, 288 bytes: counters, wait histogram)
 *  byte 384    SLOTS x 64-byte reader slots, one cache line each (reader-slots.ts)
 *  then        a fair lock's FIFO queue (fair-queue.ts, QUEUE_BYTES: 16 mod 64,
 *              so the region's length tells a fair lock from a barging one)
 * ```
 *
 * Why it is correct (every Atomics op is sequentially consistent):
 * - A reader does `add(COUNT)` then `load(STATE)`; a writer does
 *   `CAS(STATE, 0 -> tid)` then loads every COUNT. In the single total order
 *   either the reader's load sees the writer (and the reader backs out) or the
 *   writer's load sees the reader's count (and the writer waits). Never both in
 *   (Dekker's argument).
 * - Writer preference: once a writer has claimed STATE, new readers back out
 *   and sleep on STATE; a writer needs only STATE to be free of other
 *   *writers*, which readers never hold, so a stream of readers cannot starve
 *   it. A thread already holding a read lock may nest another one (otherwise
 *   it would wait for a writer that waits for it).
 * - Writers scan only the slots below SLOTS_USED. A reader raises SLOTS_USED
 *   past its slot *before* its first `add(COUNT)`; a writer loads SLOTS_USED
 *   *after* its CAS on STATE. If the writer's load misses the raise, it came
 *   before the raise in the total order, so the writer's CAS came before the
 *   reader's load of STATE, and the reader backs out.
 * - Draining: the writer reads DRAIN, re-scans the counts, and sleeps on
 *   DRAIN; a reader leaving while a writer is present bumps DRAIN and
 *   notifies. A leave after the scan changes DRAIN, so the sleep returns.
 * - Robustness: a dead writer is replaced as in Mutex (OWNER_DIED, poisoned
 *   until `markConsistent()`), and readers are refused while the lock is
 *   poisoned. A slot whose owner is dead is reclaimed by the owner-word CAS
 *   `dead -> -1`, so exactly one thread zeroes its leaked count. A dead
 *   thread's holds in OVERFLOW are reclaimed the same way from its overflow
 *   ledger entry for the lock (reader-slots.ts), found by the lock's id.
 * - Ids are reused (memory/thread.ts): STATE and the slots' OWNER words are
 *   counted as words naming their thread, and a dead writer or slot owner is
 *   pinned before it is evicted, so neither ever names a stranger.
 *
 * - Fair mode (`create({ fair: true })`): every acquisition that cannot
 *   enter at once (and is not a nested read) waits for its turn in the FIFO
 *   queue, then acquires as above as the queue's head, then passes the turn
 *   on. So a reader behind a queued writer waits for it, and queued readers
 *   enter one after the other, each passing the turn on as soon as it is in:
 *   consecutive readers still read together. A thread holding a read lock
 *   nests without queueing (a writer ahead of it waits for that very hold).
 *
 * Why one file of ~600 lines: the two sides are one protocol, and the
 * argument above is about how they interleave, so they are read together.
 * The parts that stand alone live elsewhere: the reader slots
 * (`reader-slots.ts`), the writer word and its wait (`robust-word.ts`), and
 * the drivers that run this file's two wait loops, `reading` and `draining`,
 * in both the blocking and the async forms (`wait.ts`).
 *
 * @module
 */
import type { AsyncReadWriteLock } from '../contracts.js'
import { DeadlockError, LockError, OwnerDiedError, OptionError, describe } from '../errors.js'
import { now } from '../memory/clock.js'
import { allocateRegion, attaching, checkHandle, copyHandle, makeHandle, type Handle } from '../memory/handle.js'
import { Header } from '../memory/layout.js'
import { domainOf, TID_MASK, type Domain } from '../memory/thread.js'
import { runLocked, runLockedAsync, withLockOptions, type LockCore, type WithLockOptions } from './lockable.js'
import { ownerDied } from './robust-lock.js'
import { FairQueue, QUEUE_BYTES } from './fair-queue.js'
import {
  Acquired,
  OWNER_DIED,
  RobustWord,
  WAITERS,
  acquire,
  acquireAsync,
  acquiring,
  markConsistent,
  tryAcquire,
  type AcquireResult,
} from './robust-word.js'
import { cycleMessage } from './wait-graph.js'
import { ReaderSlot, ReaderSlots } from './reader-slots.js'
import { STATS_BYTES, StatsRecorder, type LockStats } from './stats.js'
import { checkWaitOptions, SPIN, checkTimeout, deadlineOf, runWait, runWaitAsync, sleepOn, type AsyncWaitOptions, type WaitLoop } from './wait.js'

/** Word offsets of an RWLock region (Int32 words from the region start). */
export const RWLockWord = {
  STATE: Header.WORDS + RobustWord.STATE,
  DEAD_OWNER: Header.WORDS + RobustWord.DEAD_OWNER,
  TIMEOUTS: Header.WORDS + 2,
  DRAIN: Header.WORDS + 3,
  OVERFLOW: Header.WORDS + 4,
  READERS_DIED: Header.WORDS + 5,
  SLOTS_USED: Header.WORDS + 6,
  LOCK_ID: Header.WORDS + 7,
  STATS_BYTE: 48,
  /** Reader slots start on a cache line after the stats block. */
  SLOTS_BYTE: 384,
} as const

const DEFAULT_SLOTS = 64
const MAX_SLOTS = 4096

/** Handle of an {@link RWLock}. */
export type RWLockHandle = Handle<'RWLock'>

/** Options of {@link RWLock.create}. */
export interface RWLockOptions {
  /**
   * Reader slots: how many threads can hold read locks at once with no
   * contention between them. Threads beyond it share one counter (they
   * contend on it); the holds of a thread that dies are recovered either way
   * (beyond it, through the thread's overflow ledger in the domain, for up
   * to 2 such locks held at once by one thread).
   * @default 64
   */
  readonly readerSlots?: number
  /**
   * Serve waiting readers and writers in one FIFO queue (module comment of
   * rwlock.ts): nobody overtakes a waiter, and readers queued one after
   * another read together. Without it the lock prefers writers, and
   * readers that arrive while a writer waits wait for every writer that
   * keeps arriving. Costs two loads on the uncontended paths.
   * @default false
   */
  readonly fair?: boolean
}

/** Figures of an {@link RWLock}, summed over every thread. */
export interface RWLockStats {
  /** The writer side (acquisitions, waits, holds, dead writers). */
  readonly write: LockStats
  /** Read acquisitions. */
  readonly reads: number
  /** Read acquisitions that had to wait for a writer. */
  readonly readsContended: number
  /** Total time readers waited, in ms. */
  readonly readWaitTotalMs: number
  /** Longest wait of one reader, in ms. */
  readonly readWaitMaxMs: number
  /** Read holds released on behalf of threads that died holding them. */
  readonly readersDied: number
  /** Read holds at the moment of the call. */
  readonly activeReaders: number
}

/** Whether a region of `byteLength` bytes is a fair lock's: its queue makes the length 16 mod 64. */
function isFair(byteLength: number): boolean {
  return (byteLength - RWLockWord.SLOTS_BYTE) % ReaderSlot.BYTES === QUEUE_BYTES % ReaderSlot.BYTES
}

function slotsOf(byteLength: number): number {
  return (byteLength - RWLockWord.SLOTS_BYTE - (isFair(byteLength) ? QUEUE_BYTES : 0)) / ReaderSlot.BYTES
}

/**
 * A readers-writer lock shared between threads: any number of readers at
 * once, or one writer alone. Writer-preferring: a waiting writer holds back
 * new readers, so writers are never starved.
 *
 * @example
 * ```ts
 * const rw = RWLock.create()
 * const status = rw.withRead(() => readStatus())
 * rw.withWrite(() => { writeStatus(next) })
 * ```
 */
export class RWLock implements AsyncReadWriteLock {
  /** The structured-cloneable handle: send it to another thread and `attach` it there. */
  readonly handle: RWLockHandle
  private readonly words: Int32Array
  private readonly domain: Domain
  private readonly tid: number
  /** The domain's words and this thread's count of words naming it there (memory/thread.ts). */
  private readonly dw: Int32Array
  private readonly named: number
  private readonly rec: StatsRecorder
  private readonly slotTable: ReaderSlots
  /** The FIFO queue of a fair lock. */
  private readonly queue: FairQueue | undefined

  private constructor(handle: RWLockHandle) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, handle.byteLength / 4)
    this.domain = domainOf(handle.domain)
    this.tid = this.domain.tid
    this.dw = this.domain.words
    this.named = this.domain.namedIndex
    this.queue = isFair(handle.byteLength)
      ? new FairQueue(this.words, (RWLockWord.SLOTS_BYTE + slotsOf(handle.byteLength) * ReaderSlot.BYTES) / 4, this.domain)
      : undefined
    this.slotTable = new ReaderSlots(
      this.words,
      new Float64Array(handle.buffer, handle.byteOffset, handle.byteLength / 8),
      {
        first: RWLockWord.SLOTS_BYTE / 4,
        count: slotsOf(handle.byteLength),
        overflow: RWLockWord.OVERFLOW,
        slotsUsed: RWLockWord.SLOTS_USED,
        readersDied: RWLockWord.READERS_DIED,
        drain: RWLockWord.DRAIN,
      },
      this.domain,
      Atomics.load(this.words, RWLockWord.LOCK_ID),
    )
    this.rec = new StatsRecorder(
      new Float64Array(handle.buffer, handle.byteOffset + RWLockWord.STATS_BYTE, STATS_BYTES / 8),
      this.words,
      RWLockWord.TIMEOUTS,
    )
  }

  /**
   * Creates a new, free readers-writer lock in its own shared memory.
   * @throws OptionError for a bad `readerSlots` or `fair`
   */
  static create(options: RWLockOptions = {}): RWLock {
    const slots = options.readerSlots ?? DEFAULT_SLOTS
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS) {
      throw new OptionError(`Expected \`readerSlots\` to be an integer from 1 to ${MAX_SLOTS}, got ${describe(slots)}`)
    }
    const fair = options.fair
    if (fair !== undefined && typeof fair !== 'boolean') throw new OptionError(`Expected \`fair\` to be a boolean, got ${describe(fair)}`)
    const bytes = RWLockWord.SLOTS_BYTE + slots * ReaderSlot.BYTES + (fair === true ? QUEUE_BYTES : 0)
    const region = allocateRegion('RWLock', bytes)
    const domain = domainOf()
    Atomics.store(new Int32Array(region.buffer, region.byteOffset, RWLockWord.LOCK_ID + 1), RWLockWord.LOCK_ID, domain.newLockId())
    return new RWLock(makeHandle('RWLock', region, domain.buffer))
  }

  /**
   * Rebuilds a readers-writer lock from its handle, in any thread.
   * @throws HandleError if `handle` is not a valid RWLock handle
   */
  static attach(handle: RWLockHandle): RWLock {
    return attaching('RWLock', () => {
      const copy = copyHandle(handle, 'RWLock') // one read of each field: the length checked is the length used
      const length = copy['byteLength']
      const slots = typeof length === 'number' ? slotsOf(length) : 0
      const expected = Number.isInteger(slots) && slots >= 1 && slots <= MAX_SLOTS ? (length as number) : -1
      return new RWLock(checkHandle(copy, 'RWLock', expected))
    })
  }

  // ---- read side ----------------------------------------------------------

  /**
   * One attempt to enter as a reader. Returns true when in; false when a
   * writer is present (the count is undone). Throws when poisoned.
   */
  private enterRead(): boolean {
    const words = this.words
    const c = this.slotTable.countIndex()
    if (c === RWLockWord.OVERFLOW) return this.enterOverflowRead()
    const before = Atomics.add(words, c, 1)
    const s = Atomics.load(words, RWLockWord.STATE)
    // A thread already holding a read lock nests even with a writer present
    // (the writer waits for its first hold): its slot's count says so.
    if (s === 0 || before > 0) return true
    if ((s & TID_MASK) === 0) {
      if ((s & OWNER_DIED) === 0) return true // only WAITERS set
      this.leaveRead(c)
      throw this.poisonedForReaders()
    }
    this.leaveRead(c)
    return false
  }

  /**
   * {@link enterRead} of a thread without a slot: its holds go to the shared
   * OVERFLOW counter and its own overflow ledger (reader-slots.ts), whose
   * count of this thread's holds tells a nested hold (the total counts other
   * threads' holds too).
   */
  private enterOverflowRead(): boolean {
    const before = this.slotTable.addOverflowHold()
    const s = Atomics.load(this.words, RWLockWord.STATE)
    if (s === 0 || before > 0) return true
    if ((s & TID_MASK) === 0) {
      if ((s & OWNER_DIED) === 0) return true // only WAITERS set
      this.leaveOverflowRead()
      throw this.poisonedForReaders()
    }
    this.leaveOverflowRead()
    return false
  }

  private leaveOverflowRead(): void {
    this.slotTable.removeOverflowHold()
    this.wakeDrainingWriter()
  }

  private leaveRead(c: number): void {
    const words = this.words
    Atomics.sub(words, c, 1)
    // A writer present may be draining readers: wake it.
    if ((Atomics.load(words, RWLockWord.STATE) & TID_MASK) !== 0) {
      Atomics.add(words, RWLockWord.DRAIN, 1)
      Atomics.notify(words, RWLockWord.DRAIN)
    }
  }

  /** After a read hold was given back: a writer present may be draining readers, wake it. */
  private wakeDrainingWriter(): void {
    const words = this.words
    if ((Atomics.load(words, RWLockWord.STATE) & TID_MASK) !== 0) {
      Atomics.add(words, RWLockWord.DRAIN, 1)
      Atomics.notify(words, RWLockWord.DRAIN)
    }
  }

  private poisonedForReaders(): OwnerDiedError {
    const dead = Atomics.load(this.words, RWLockWord.DEAD_OWNER)
    return new OwnerDiedError(
      `Expected a consistent RWLock for reading, got one whose writer (thread ${dead}) died while writing: ` +
        'take writeLock(), repair the data, call markConsistent(), then writeUnlock()',
      dead,
      false,
    )
  }

  /**
   * Handles a writer in the way: a dead writer is evicted (the lock becomes
   * poisoned), a live one is waited for. Returns the word value to sleep on,
   * or undefined to retry at once.
   */
  private readerBlockedBy(): number | undefined {
    const words = this.words
    let s = Atomics.load(words, RWLockWord.STATE)
    const holder = s & TID_MASK
    if (holder === 0) return undefined
    if (holder !== this.tid && this.domain.cannotHold(holder)) {
      this.evictDeadWriter(holder)
      return undefined
    }
    if ((s & WAITERS) === 0) {
      if (Atomics.compareExchange(words, RWLockWord.STATE, s, s | WAITERS) !== s) return undefined
      s |= WAITERS
    }
    return s
  }

  /**
   * Clears STATE of a writer that looked dead, leaving it poisoned. The id is
   * pinned and the word and its state read again first, as in a takeover
   * (robust-word.ts): the id may otherwise be reused by a live writer in
   * between.
   */
  private evictDeadWriter(holder: number): void {
    const words = this.words
    const domain = this.domain
    domain.pin(holder)
    try {
      const s = Atomics.load(words, RWLockWord.STATE)
      if ((s & TID_MASK) !== holder || !domain.cannotHold(holder)) return
      if (Atomics.compareExchange(words, RWLockWord.STATE, s, OWNER_DIED) !== s) return
      domain.cleared(holder)
    } finally {
      domain.unpin(holder)
    }
    Atomics.store(words, RWLockWord.DEAD_OWNER, holder)
    Atomics.notify(words, RWLockWord.STATE)
  }

  /**
   * Acquires a read lock, waiting at most `timeoutMs` while a writer holds or
   * waits for the lock.
   * @returns true when acquired, false on timeout
   * @throws DeadlockError if this thread holds the write lock
   * @throws OwnerDiedError (not holding) if a writer died and nobody repaired it
   */
  readLock(timeoutMs?: number): boolean {
    checkTimeout(timeoutMs)
    if (this.mayEnterRead(true) && this.enterRead()) {
      this.slotTable.recordRead(-1)
      return true
    }
    if (this.isWriteLockedByCurrentThread) throw this.deadlock('readLock()', 'holds the write lock')
    const deadline = deadlineOf(timeoutMs)
    const queue = this.queue
    if (queue !== undefined) return runWait(this.fairReading(queue, deadline, true, undefined), deadline)
    return runWait(this.reading(now(), SPIN), deadline)
  }

  /** Whether a read may be tried at once: always if barging; if fair, with nobody queued or as a nested read (`plain`: FairQueue.seemsIdle, not for `tryReadLock`). */
  private mayEnterRead(plain = false): boolean {
    const queue = this.queue
    return queue === undefined || (plain ? queue.seemsIdle : queue.idle) || this.slotTable.ownHolds() > 0
  }

  /** Whether a write may be tried at once: always if barging; if fair, with nobody queued. */
  private mayEnterWrite(): boolean {
    return this.queue === undefined || this.queue.idle
  }

  /** A fair lock's read wait: its turn, then {@link reading} as the queue's head, then the turn passed on. */
  private *fairReading(queue: FairQueue, deadline: number, blocking: boolean, signal: AbortSignal | undefined): WaitLoop<boolean> {
    const start = now()
    const turn = yield* queue.turn(deadline, blocking, signal, undefined)
    if (turn === undefined) {
      this.rec.timedOut()
      return false
    }
    if (typeof turn === 'object') throw new Error('unreachable: a read wait publishes no wait-for edge')
    try {
      return yield* this.reading(start, blocking ? SPIN : 0)
    } finally {
      queue.pass(turn)
    }
  }

  /**
   * The wait of a reader, for {@link readLock} (with `spins` re-tries before
   * the first sleep) and {@link readLockAsync} (none): enter, or sleep on
   * STATE while a writer holds or waits for it.
   */
  private *reading(start: number, spins: number): WaitLoop<boolean> {
    for (;;) {
      if (this.enterRead()) {
        this.slotTable.recordRead(start)
        return true
      }
      if (spins > 0) {
        spins--
        continue
      }
      const s = this.readerBlockedBy()
      if (s === undefined) continue
      let slept: boolean
      try {
        slept = yield sleepOn(this.words, RWLockWord.STATE, s)
      } catch (error) {
        this.rec.timedOut()
        throw error
      }
      if (!slept) {
        this.rec.timedOut()
        return false
      }
    }
  }

  /**
   * Acquires a read lock if no writer holds or waits for it.
   * @throws OwnerDiedError (not holding) if a writer died and nobody repaired it
   */
  tryReadLock(): boolean {
    if (!this.mayEnterRead()) return false
    if (this.enterRead()) {
      this.slotTable.recordRead(-1)
      return true
    }
    if (this.readerBlockedBy() === undefined && this.enterRead()) {
      this.slotTable.recordRead(-1)
      return true
    }
    return false
  }

  /**
   * Async form of {@link readLock}: never blocks the event loop.
   * @returns true when acquired, false on timeout
   * @throws the signal's reason when aborted
   */
  async readLockAsync(options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    const deadline = deadlineOf(options.timeoutMs)
    if (options.signal?.aborted) throw options.signal.reason
    if (this.mayEnterRead(true) && this.enterRead()) {
      this.slotTable.recordRead(-1)
      return true
    }
    const queue = this.queue
    if (queue !== undefined) return runWaitAsync(this.fairReading(queue, deadline, false, options.signal), deadline, options.signal)
    return runWaitAsync(this.reading(now(), 0), deadline, options.signal)
  }

  /**
   * Releases one read lock of this thread.
   * @throws LockError if this thread holds no read lock
   */
  readUnlock(): void {
    const c = this.slotTable.countIndex()
    if (c === RWLockWord.OVERFLOW) {
      if (!this.slotTable.removeOverflowHold()) throw this.noReadLock()
      this.wakeDrainingWriter()
      return
    }
    if (Atomics.load(this.words, c) === 0) throw this.noReadLock()
    this.leaveRead(c)
  }

  private noReadLock(): LockError {
    return new LockError(
      `Expected readUnlock() by a thread holding a read lock (thread ${this.tid} calling), got a thread with no read lock on this RWLock`,
    )
  }

  // ---- write side ---------------------------------------------------------

  /** Gives STATE back after a failed drain, waking everyone sleeping on it. */
  private abandonWrite(): void {
    const prev = Atomics.and(this.words, RWLockWord.STATE, OWNER_DIED)
    this.dw[this.named]!-- // after our id left the word (memory/thread.ts), inline: no call in between
    if ((prev & WAITERS) !== 0) Atomics.notify(this.words, RWLockWord.STATE)
  }

  /** Finishes a write acquisition once STATE is ours. */
  private settleWrite(result: AcquireResult, start: number): boolean {
    if (result === Acquired.Ok) {
      if (start < 0) this.rec.acquiredFast()
      else this.rec.acquiredSlow(start, false)
      return true
    }
    this.rec.acquiredSlow(start < 0 ? now() : start, true)
    throw ownerDied('RWLock', this.words, RWLockWord.DEAD_OWNER)
  }

  /**
   * Acquires the write lock, waiting at most `timeoutMs` for other writers
   * and for readers to leave.
   * @returns true when acquired, false on timeout
   * @throws DeadlockError if this thread holds the write lock or a read lock
   * @throws OwnerDiedError (holding the lock) if the previous writer died
   */
  writeLock(timeoutMs?: number): boolean {
    const words = this.words
    let start = -1
    let result: AcquireResult = Acquired.Ok
    checkTimeout(timeoutMs)
    // One deadline for both phases (other writers, then readers leaving).
    const deadline = deadlineOf(timeoutMs)
    const queue = this.queue
    // A fair lock tries the CAS only with nobody queued; otherwise, or if it fails, it queues.
    if ((queue === undefined || queue.seemsIdle) && Atomics.compareExchange(words, RWLockWord.STATE, 0, this.tid) === 0) {
      // Counted right after our id entered the word, with a plain increment:
      // no termination point between the compareExchange's effect and it
      // (memory/thread.ts). Counting before it leaked the id of a thread
      // terminated at the compareExchange (an Atomics call is a termination
      // point, before its effect, until the code is optimized).
      this.dw[this.named]!++
    } else if (queue !== undefined) {
      if (this.isWriteLockedByCurrentThread) throw this.deadlock('writeLock()', 'holds the write lock')
      if (this.slotTable.ownHolds() > 0) throw this.deadlock('writeLock()', 'holds a read lock (upgrading would wait for itself)')
      return runWait(this.fairWriting(queue, deadline, true, undefined), deadline)
    } else {
      // The slow path counts its own attempts.
      start = now()
      result = acquire(words, RWLockWord.STATE, this.domain, deadline)
      if (result === Acquired.SelfDeadlock) throw this.deadlock('writeLock()', 'holds the write lock')
      if (typeof result === 'object') {
        throw new DeadlockError(cycleMessage('writeLock()', 'readers-writer lock', result.cycle), result.cycle)
      }
      if (result === Acquired.TimedOut) {
        this.rec.timedOut()
        return false
      }
    }
    if (this.slotTable.ownHolds() > 0) {
      this.abandonWrite()
      throw this.deadlock('writeLock()', 'holds a read lock (upgrading would wait for itself)')
    }
    if (!this.slotTable.drained()) {
      if (start < 0) start = now()
      if (!runWait(this.draining(SPIN), deadline)) return false
    }
    return this.settleWrite(result, start)
  }

  /**
   * The wait of a writer that holds STATE for the readers to leave, for
   * {@link writeLock} (with `spins` re-scans before the first sleep) and
   * {@link writeLockAsync} (none). On a timeout or an abort it gives STATE
   * back (a timeout returns false).
   */
  private *draining(spins: number): WaitLoop<boolean> {
    const words = this.words
    while (!this.slotTable.drained()) {
      if (spins > 0) {
        spins--
        continue
      }
      const epoch = Atomics.load(words, RWLockWord.DRAIN)
      if (this.slotTable.drained()) break
      let slept: boolean
      try {
        slept = yield sleepOn(words, RWLockWord.DRAIN, epoch)
      } catch (error) {
        this.abandonWrite()
        this.rec.timedOut()
        throw error
      }
      if (!slept) {
        this.abandonWrite()
        this.rec.timedOut()
        return false
      }
    }
    return true
  }

  /**
   * A fair lock's write wait: its turn, then STATE and the readers' drain as
   * the queue's head ({@link writeLock}'s two phases), then the turn passed
   * on, however it ended.
   */
  private *fairWriting(queue: FairQueue, deadline: number, blocking: boolean, signal: AbortSignal | undefined): WaitLoop<boolean> {
    const start = now()
    const words = this.words
    const turn = yield* queue.turn(deadline, blocking, signal, () => Atomics.load(words, RWLockWord.STATE) & TID_MASK)
    if (turn === undefined) {
      this.rec.timedOut()
      return false
    }
    if (typeof turn === 'object') throw new DeadlockError(cycleMessage('writeLock()', 'readers-writer lock', turn.cycle), turn.cycle)
    try {
      let result: AcquireResult
      try {
        result = yield* acquiring(words, RWLockWord.STATE, this.domain, deadline, blocking, signal)
      } catch (error) {
        this.rec.timedOut()
        throw error
      }
      if (result === Acquired.SelfDeadlock) throw this.deadlock('writeLock()', 'holds the write lock')
      if (typeof result === 'object') throw new DeadlockError(cycleMessage('writeLock()', 'readers-writer lock', result.cycle), result.cycle)
      if (result === Acquired.TimedOut) {
        this.rec.timedOut()
        return false
      }
      if (blocking && this.slotTable.ownHolds() > 0) {
        this.abandonWrite()
        throw this.deadlock('writeLock()', 'holds a read lock (upgrading would wait for itself)')
      }
      if (!this.slotTable.drained() && !(yield* this.draining(blocking ? SPIN : 0))) return false
      return this.settleWrite(result, start)
    } finally {
      queue.pass(turn)
    }
  }

  /**
   * Acquires the write lock if no writer holds it and no reader is inside.
   * @throws OwnerDiedError (holding the lock) if the previous writer died
   */
  tryWriteLock(): boolean {
    if (this.isWriteLockedByCurrentThread) throw this.deadlock('tryWriteLock()', 'holds the write lock')
    if (!this.mayEnterWrite()) return false
    const result = tryAcquire(this.words, RWLockWord.STATE, this.domain)
    if (result === undefined) return false
    if (this.slotTable.ownHolds() > 0 || !this.slotTable.drained()) {
      this.abandonWrite()
      return false
    }
    return this.settleWrite(result, -1)
  }

  /**
   * Async form of {@link writeLock}: never blocks the event loop. Another
   * async task of this thread holding a read lock is waited for; the same
   * task asking to upgrade its own read lock waits until the timeout (it
   * cannot be told apart from another task), so give it one.
   * @returns true when acquired, false on timeout
   * @throws the signal's reason when aborted
   * @throws OwnerDiedError (holding the lock) if the previous writer died
   */
  async writeLockAsync(options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    const words = this.words
    const deadline = deadlineOf(options.timeoutMs)
    if (options.signal?.aborted) throw options.signal.reason
    const queue = this.queue
    if (queue !== undefined) {
      // The fast CAS only with nobody queued; otherwise (or if it fails) the turn first.
      if (queue.seemsIdle && Atomics.compareExchange(words, RWLockWord.STATE, 0, this.tid) === 0) {
        this.dw[this.named]!++ // right after the CAS (writeLock)
        if (!this.slotTable.drained() && !(await runWaitAsync(this.draining(0), deadline, options.signal))) return false
        return this.settleWrite(Acquired.Ok, -1)
      }
      return runWaitAsync(this.fairWriting(queue, deadline, false, options.signal), deadline, options.signal)
    }
    const start = now()
    let result: AcquireResult
    try {
      result = await acquireAsync(words, RWLockWord.STATE, this.domain, deadline, options.signal)
    } catch (error) {
      this.rec.timedOut()
      throw error
    }
    if (result === Acquired.TimedOut) {
      this.rec.timedOut()
      return false
    }
    if (!this.slotTable.drained() && !(await runWaitAsync(this.draining(0), deadline, options.signal))) return false
    return this.settleWrite(result, start)
  }

  /**
   * Releases the write lock, waking every reader and writer that waits.
   * @throws LockError if this thread does not hold it
   */
  writeUnlock(): void {
    const words = this.words
    let s = Atomics.load(words, RWLockWord.STATE)
    if ((s & TID_MASK) !== this.tid) {
      throw new LockError(
        `Expected writeUnlock() by the thread holding the write lock (thread ${this.tid} calling), got an RWLock ${
          (s & TID_MASK) === 0 ? 'whose write lock nobody holds' : `write-locked by thread ${s & TID_MASK}`
        }`,
      )
    }
    this.rec.releasing()
    for (;;) {
      const prev = Atomics.compareExchange(words, RWLockWord.STATE, s, s & OWNER_DIED)
      if (prev === s) break
      s = prev
    }
    this.dw[this.named]!-- // after our id left the word (memory/thread.ts)
    if ((s & WAITERS) !== 0) Atomics.notify(words, RWLockWord.STATE)
  }

  /**
   * After an `OwnerDiedError` from a write acquisition: declares the data
   * repaired. Only the writer may call it.
   */
  markConsistent(): void {
    markConsistent(this.words, RWLockWord.STATE, this.tid, 'RWLock write lock')
  }

  private deadlock(op: string, why: string): DeadlockError {
    return new DeadlockError(`Expected ${op} from a thread that can wait for this RWLock, got thread ${this.tid}, which ${why}`)
  }

  // ---- helpers ------------------------------------------------------------

  private readonly readCore: LockCore = {
    lock: (t) => this.readLock(t),
    lockAsync: (o) => this.readLockAsync(o),
    unlock: () => this.readUnlock(),
    markConsistent: () => {},
  }
  private readonly writeCore: LockCore = {
    lock: (t) => this.writeLock(t),
    lockAsync: (o) => this.writeLockAsync(o),
    unlock: () => this.writeUnlock(),
    markConsistent: () => this.markConsistent(),
  }

  /** Runs `fn` under a read lock. @throws TimeoutError if not acquired in time */
  withRead<R>(fn: () => R, timeoutMs?: number | WithLockOptions): R {
    return runLocked(this.readCore, 'read lock', fn, withLockOptions(timeoutMs))
  }

  /** Runs `fn` under the write lock. @throws TimeoutError if not acquired in time */
  withWrite<R>(fn: () => R, timeoutMs?: number | WithLockOptions): R {
    return runLocked(this.writeCore, 'write lock', fn, withLockOptions(timeoutMs))
  }

  /** Runs async `fn` under a read lock, waiting without blocking. */
  withReadAsync<R>(fn: () => R | Promise<R>, options: WithLockOptions = {}): Promise<R> {
    return runLockedAsync(this.readCore, 'read lock', fn, options)
  }

  /** Runs async `fn` under the write lock, waiting without blocking. */
  withWriteAsync<R>(fn: () => R | Promise<R>, options: WithLockOptions = {}): Promise<R> {
    return runLockedAsync(this.writeCore, 'write lock', fn, options)
  }

  // ---- introspection ------------------------------------------------------

  /** Whether a writer holds (or is draining readers for) the lock. */
  get isWriteLocked(): boolean {
    return (Atomics.load(this.words, RWLockWord.STATE) & TID_MASK) !== 0
  }

  /** Whether the calling thread holds the write lock (or is waiting for readers to leave it). */
  get isWriteLockedByCurrentThread(): boolean {
    return (Atomics.load(this.words, RWLockWord.STATE) & TID_MASK) === this.tid
  }

  /** Read holds at this moment, over all threads. */
  get readers(): number {
    return this.slotTable.holds()
  }

  /** Whether a writer died and nobody has called `markConsistent()` since. */
  get isPoisoned(): boolean {
    return (Atomics.load(this.words, RWLockWord.STATE) & OWNER_DIED) !== 0
  }

  /** Whether waiters are served in FIFO order (`create({ fair: true })`). */
  get fair(): boolean {
    return this.queue !== undefined
  }

  /** Acquisitions (reads and writes) waiting in the FIFO queue of a fair lock now (0 for a barging lock). */
  get queued(): number {
    return this.queue === undefined ? 0 : this.queue.length
  }

  /** Figures of both sides, summed over every thread. */
  stats(): RWLockStats {
    const read = this.slotTable.stats()
    return {
      write: this.rec.read(),
      reads: read.reads,
      readsContended: read.contended,
      readWaitTotalMs: read.waitTotalMs,
      readWaitMaxMs: read.waitMaxMs,
      readersDied: Atomics.load(this.words, RWLockWord.READERS_DIED),
      activeReaders: this.readers,
    }
  }
}
