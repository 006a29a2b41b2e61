/**
 * The FIFO queue of a fair lock (`Mutex.create({ fair: true })`,
 * `ReentrantMutex`, `Semaphore`): waiters take tickets, and only the waiter
 * whose ticket is being served (the *head*) may compete for the lock; the
 * head passes the turn on as soon as it has acquired (or given up). So
 * acquisitions happen in ticket order, and a heavy `Semaphore.acquire(2)`
 * is no longer starved by a stream of `acquire(1)`s. Hand-written: no
 * library offers a ticket queue in shared memory that survives the death of
 * a waiter, timeouts and aborts.
 *
 * ```
 *  Int32 words from `base`:
 *  0 NEXT   next ticket to hand out          1 HEAD   ticket being served
 *  2 ROOM   waiters waiting for a free slot  3 unused
 *  4.. RING[SLOTS]  one slot per ticket t at RING + (t & (SLOTS - 1)):
 *
 *  bit  31   30..19            18..16   15..0
 *     +----+-----------------+--------+-----------+
 *     | 0  | gen (t >>> 8)   | state  | tid       |
 *     +----+-----------------+--------+-----------+
 *  state: 0 unwritten | WAIT (tid queued) | TURN (tid woken as head)
 *         | CANCELLED (the waiter left; no tid) | DONE (tid claimed the turn to pass it on)
 * ```
 *
 * Protocol (every operation is a sequentially consistent Atomics operation):
 *
 * - **Enter**: read NEXT = n and HEAD = h; if `n - h >= SLOTS` the ring is
 *   full: look at the head as a queued waiter does (Dead waiters, below),
 *   then wait for HEAD to move (counted in ROOM, which every advance
 *   notifies). Otherwise read slot n (value v). If v already carries gen(n),
 *   another waiter claimed ticket n and may not have moved NEXT yet: help,
 *   CAS NEXT `n -> n+1`, and start again. Else read NEXT again: still n
 *   means v was read before anyone claimed ticket n, so it is the entry of
 *   ticket `n - SLOTS` (passed: the room check) or older. Claim the ticket
 *   with CAS slot n `v -> WAIT|tid|gen(n)`, count our id in right after
 *   (a plain increment: a terminated thread stops at calls, `Atomics`
 *   included, and loop edges, never between two plain statements;
 *   thread.ts), then CAS NEXT `n -> n+1` (failing means a waiter helped).
 *   The entry is written before the ticket is counted out, so a thread
 *   terminated anywhere in Enter leaves either nothing or an entry naming
 *   it, which the dead-waiter check below skips. A claim on a stale read
 *   can only succeed if the slot came back to the very value read, which
 *   takes 2^20 tickets (4096 laps of the ring) between two instructions.
 * - **Wait**: until HEAD equals our ticket, sleep on our own slot while it
 *   still reads `WAIT|tid|gen`. The advance that makes us head stores HEAD
 *   first and then CASes our slot to TURN and notifies it; we claim our slot
 *   first and then read HEAD: with sequentially consistent operations one of
 *   the two sees the other (Dekker), so no wake-up is lost.
 * - **Advance** (who owns turn t: the head that passes, or whoever won the
 *   CAS claiming a cancelled or dead entry): store HEAD = t+1, count our id
 *   out, then look at slot t+1: unclaimed (no entry of gen(t+1): nobody
 *   took ticket t+1 yet) -> done, its claimer will read HEAD after claiming;
 *   WAIT -> CAS to TURN and notify; CANCELLED -> CAS to DONE|me and, if that
 *   won, advance again. Only the owner of turn t moves HEAD past t, so HEAD
 *   never goes back.
 * - **Leave** (timeout, abort, deadlock): CAS our slot WAIT -> CANCELLED.
 *   If it failed we were made head (TURN): advance. If it worked and HEAD is
 *   our ticket, CAS CANCELLED -> DONE|me and advance if that won; else the
 *   advance that reaches us finds CANCELLED and skips us (Dekker again).
 * - **Dead waiters**: every waiter, each time it wakes (blocking waiters at
 *   least every 50 ms, async waiters at every death in the domain), looks at
 *   the head's slot. An entry (WAIT, TURN or DONE) naming a thread that
 *   cannot hold anything is taken over as a lock word is (robust-word.ts):
 *   pin the id, read the slot again, see the id still dead, then read HEAD
 *   still equal to that ticket (the dead thread cannot have moved HEAD after
 *   its death was seen, and nobody else moves it without first winning the
 *   CAS below), CAS the slot to DONE|me, count our id in and the dead id
 *   out, advance. Every id a CAS writes into a slot is counted in right
 *   after that CAS, with a plain increment (as in Enter). A
 *   CANCELLED entry at HEAD (its owner died between leaving and claiming) is
 *   claimed the same way.
 *
 * A slot stops naming its thread when HEAD moves past its ticket: from then
 * on no step reads it as an entry (its generation is stale for every ticket
 * a reader may look up), so that is when the id is counted out.
 *
 * Capacity: {@link QUEUE_SLOTS} waiters at once are served in FIFO order;
 * further arrivals wait for a slot in no set order (a lock with more than
 * 256 simultaneous waiters, async ones included).
 *
 * Checked by `verify/spin/fair-queue.pml`.
 *
 * @module
 */
import { TID_MASK, type Domain } from '../memory/thread.js'
import { SPIN, sleepOn, type WaitLoop } from './wait.js'
import { WaitEdge } from './wait-graph.js'
import type { Deadlock } from './robust-word.js'

/**
 * Re-reads by the blocking waiter next in line (of HEAD, then as the head of
 * the lock word) before it sleeps, about 1-3 us here. Measured with 2
 * threads hammering a fair Mutex (bench locks/contended): SPIN (100) 0.02x the
 * barging Mutex, every hand-off a wake-up; 1000 0.62-0.72x; 4000 0.37x and
 * 20000 0.27x (a spinner that long holds back the thread it waits for).
 */
export const FAIR_SPIN = 1000

/** Waiters a fair queue serves in FIFO order at once. */
export const QUEUE_SLOTS = 256
const SLOT_MASK = QUEUE_SLOTS - 1
const GEN_SHIFT = 8 // log2(QUEUE_SLOTS)
const GEN_MASK = 0xfff

/** Word offsets of a fair queue from its base. */
export const QueueWord = { NEXT: 0, HEAD: 1, ROOM: 2, RING: 4 } as const
/** Bytes of a fair queue. */
export const QUEUE_BYTES = (QueueWord.RING + QUEUE_SLOTS) * 4

/** Slot states (bits 16..18). */
export const SlotState = { WAIT: 1 << 16, TURN: 2 << 16, CANCELLED: 3 << 16, DONE: 4 << 16 } as const
const STATE_MASK = 7 << 16
const GEN_BITS = GEN_MASK << 19

/** The generation bits of ticket `t` (which lap of the ring it is on), in slot position. */
function gen(t: number): number {
  return ((t >>> GEN_SHIFT) & GEN_MASK) << 19
}

/** A ticket whose turn has come: pass it on with {@link FairQueue.pass}. */
export type Ticket = number

/**
 * A ticket queue in shared memory (module comment). One instance per lock
 * per thread; async waiters of one thread each take their own ticket.
 */
export class FairQueue {
  private readonly next: number
  private readonly head: number
  private readonly room: number
  private readonly ring: number
  private readonly tid: number

  constructor(
    private readonly words: Int32Array,
    base: number,
    private readonly domain: Domain,
  ) {
    this.next = base + QueueWord.NEXT
    this.head = base + QueueWord.HEAD
    this.room = base + QueueWord.ROOM
    this.ring = base + QueueWord.RING
    this.tid = domain.tid
  }

  /** Whether nobody waits: an arrival may try the lock at once without overtaking anyone. */
  get idle(): boolean {
    return Atomics.load(this.words, this.next) === Atomics.load(this.words, this.head)
  }

  /**
   * {@link idle} read with plain reads (an `Atomics.load` costs ~7 ns here),
   * for the uncontended path of a blocking or async acquisition: a stale
   * answer can only let an arrival try the lock ahead of a waiter that
   * queued an instant before (which the race between the check and the
   * lock's own atomic allows anyway), and both answers lead to an atomic
   * operation, so no loop of such calls spins on a stale value. The `try`
   * forms, which callers may spin on, use {@link idle}.
   */
  get seemsIdle(): boolean {
    const words = this.words
    return words[this.next] === words[this.head]
  }

  /** Tickets handed out and not yet passed (waiters queued, the head included). */
  get length(): number {
    return (Atomics.load(this.words, this.next) - Atomics.load(this.words, this.head)) | 0
  }

  /**
   * Takes a ticket and waits for its turn (module comment: Enter, Wait).
   * `blockedOn()` names the thread a queued waiter is blocked behind (the
   * lock's holder, 0 if none or unknown): a blocking wait without deadline
   * publishes it as its wait-for edge (wait-graph.ts), since no turn comes
   * while that thread holds the lock.
   *
   * @returns the ticket, now the head, to pass on with {@link pass} once the
   *   lock is acquired or given up; undefined when the deadline passed (the
   *   queue left); a {@link Deadlock} (the queue left)
   * @throws the signal's reason when aborted (the queue left)
   */
  *turn(
    deadline: number,
    blocking: boolean,
    signal: AbortSignal | undefined,
    blockedOn: (() => number) | undefined,
  ): WaitLoop<Ticket | Deadlock | undefined> {
    const words = this.words
    const dw = this.domain.words
    const named = this.domain.namedIndex
    let t: number
    // Enter.
    for (;;) {
      if (signal?.aborted) throw signal.reason
      const n = Atomics.load(words, this.next)
      const h = Atomics.load(words, this.head)
      if (((n - h) | 0) >= QUEUE_SLOTS) {
        // Look at the head first: a dead head (or a claimer killed before its HEAD store) with
        // every other ticket of the ring left or dead is moved by nobody else (the SPIN model's
        // finding room-wedge: with no live waiter queued, only a room waiter can see it).
        if (this.skipDead()) continue
        Atomics.add(words, this.room, 1)
        let slept: boolean
        try {
          slept = yield sleepOn(words, this.head, h)
        } finally {
          Atomics.sub(words, this.room, 1)
        }
        if (!slept) return undefined
        continue
      }
      const at = this.ring + (n & SLOT_MASK)
      const g = gen(n)
      const v = Atomics.load(words, at)
      if ((v & GEN_BITS) === g && (v & STATE_MASK) !== 0) {
        Atomics.compareExchange(words, this.next, n, (n + 1) | 0) // help its claimer
        continue
      }
      if (Atomics.load(words, this.next) !== n) continue
      if (Atomics.compareExchange(words, at, v, SlotState.WAIT | this.tid | g) !== v) continue
      dw[named]!++ // right after the id entered the slot, nothing in between (module comment)
      Atomics.compareExchange(words, this.next, n, (n + 1) | 0)
      t = n
      break
    }
    // Wait.
    const at = this.ring + (t & SLOT_MASK)
    const mine = SlotState.WAIT | this.tid | gen(t)
    // The next in line spins longer (FAIR_SPIN): its turn comes within one short hold, and a
    // sleep would cost a wake-up per hand-off (the convoy a FIFO lock falls into otherwise).
    let spins = blocking ? (((t - Atomics.load(words, this.head)) | 0) <= 1 ? FAIR_SPIN : SPIN) : 0
    let edge: WaitEdge | undefined
    try {
      for (;;) {
        if (Atomics.load(words, this.head) === t) return t
        if (signal?.aborted) {
          this.leave(t)
          throw signal.reason
        }
        if (spins > 0) {
          spins--
          continue
        }
        this.skipDead()
        if (Atomics.load(words, this.head) === t) return t
        if (blocking && deadline === Infinity && blockedOn !== undefined) {
          const holder = blockedOn()
          if (holder !== 0 && holder !== this.tid) {
            const cycle = (edge ??= new WaitEdge(this.domain)).beforeSleep(holder)
            if (cycle !== undefined) {
              this.leave(t)
              return { cycle }
            }
          }
        }
        let slept: boolean
        try {
          slept = yield sleepOn(words, at, mine)
        } catch (error) {
          this.leave(t)
          throw error
        }
        if (!slept && Atomics.load(words, this.head) !== t) {
          this.leave(t)
          return undefined
        }
      }
    } finally {
      edge?.clear()
    }
  }

  /** The head is done with its turn (it acquired, or gave up): the next ticket's turn comes. */
  pass(t: Ticket): void {
    this.advance(t)
  }

  /** Leaves the queue with ticket `t` before its turn came, or passes the turn if it just came (module comment: Leave). */
  private leave(t: Ticket): void {
    const words = this.words
    const at = this.ring + (t & SLOT_MASK)
    const g = gen(t)
    const mine = SlotState.WAIT | this.tid | g
    if (Atomics.compareExchange(words, at, mine, SlotState.CANCELLED | g) !== mine) {
      this.advance(t) // made head (TURN): our turn to pass on
      return
    }
    this.domain.words[this.domain.namedIndex]!-- // the slot no longer names us
    if (Atomics.load(words, this.head) !== t) return // the advance that reaches us skips us
    this.claim(at, SlotState.CANCELLED | g, t)
  }

  /** Claims turn t from the entry `seen` in its slot (a cancelled or dead one) and advances if the claim won. */
  private claim(at: number, seen: number, t: Ticket): boolean {
    const done = SlotState.DONE | this.tid | gen(t)
    if (Atomics.compareExchange(this.words, at, seen, done) !== seen) return false
    this.domain.words[this.domain.namedIndex]!++ // right after the CAS (module comment)
    this.advance(t)
    return true
  }

  /**
   * Moves HEAD from `t`, whose turn this thread owns, to the next ticket, and
   * wakes its waiter or skips it if it left (module comment: Advance).
   */
  private advance(t: Ticket): void {
    const words = this.words
    for (;;) {
      const n = (t + 1) | 0
      Atomics.store(words, this.head, n)
      this.domain.words[this.domain.namedIndex]!-- // slot t, now stale, no longer names us
      if (Atomics.load(words, this.room) !== 0) Atomics.notify(words, this.head)
      const at = this.ring + (n & SLOT_MASK)
      const g = gen(n)
      let s = Atomics.load(words, at)
      if ((s & STATE_MASK) === SlotState.WAIT && (s & GEN_BITS) === g) {
        const prev = Atomics.compareExchange(words, at, s, SlotState.TURN | (s & TID_MASK) | g)
        if (prev === s) {
          Atomics.notify(words, at)
          return
        }
        s = prev // it left meanwhile: CANCELLED
      }
      if (s !== (SlotState.CANCELLED | g)) return // unclaimed (its claimer reads HEAD after its claim), or taken
      const done = SlotState.DONE | this.tid | g
      if (Atomics.compareExchange(words, at, s, done) !== s) return // its owner claimed it and advances
      this.domain.words[this.domain.namedIndex]!++ // right after the CAS (module comment)
      t = n
    }
  }

  /**
   * Looks at the head's entry and, if it names a thread that cannot hold
   * anything (dead) or was left cancelled by one, takes its turn over and
   * passes it on (module comment: Dead waiters).
   * @returns whether it moved HEAD
   */
  skipDead(): boolean {
    const words = this.words
    const h = Atomics.load(words, this.head)
    if (h === Atomics.load(words, this.next)) return false
    const at = this.ring + (h & SLOT_MASK)
    const g = gen(h)
    const s = Atomics.load(words, at)
    if ((s & GEN_BITS) !== g || s === g) return false // not claimed yet
    const state = s & STATE_MASK
    if (state === SlotState.CANCELLED) {
      return Atomics.load(words, this.head) === h && this.claim(at, s, h)
    }
    if (state !== SlotState.WAIT && state !== SlotState.TURN && state !== SlotState.DONE) return false
    const owner = s & TID_MASK
    const domain = this.domain
    if (owner === this.tid || !domain.cannotHold(owner)) return false
    domain.pin(owner)
    try {
      if (Atomics.load(words, at) !== s || !domain.cannotHold(owner) || Atomics.load(words, this.head) !== h) return false
      const done = SlotState.DONE | this.tid | g
      if (Atomics.compareExchange(words, at, s, done) !== s) return false
      domain.words[domain.namedIndex]!++ // right after the CAS (module comment)
      domain.cleared(owner) // the slot no longer names it
    } finally {
      domain.unpin(owner)
    }
    this.advance(h)
    return true
  }
}
