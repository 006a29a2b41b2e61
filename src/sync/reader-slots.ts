/**
 * The per-thread reader slots of an RWLock (the "big-reader" half of the
 * lock): claiming a slot, counting read holds in it, reclaiming the holds of
 * a thread that died, and the writer's scan for remaining readers. The lock
 * protocol that uses them, and why it is correct, is in `rwlock.ts`.
 *
 * ```
 *  one 64-byte slot (a cache line, so readers do not share lines):
 *    Int32 word 0 COUNT (read holds) | 1 OWNER (tid; -1 while being reclaimed)
 *    Float64 at byte 8: READS, 16: CONTENDED, 24: WAIT_TOTAL_MS, 32: WAIT_MAX_MS
 *    (written by the slot's owner alone)
 * ```
 *
 * @module
 */
import { atomicMax } from '../memory/atomics.js'
import { now } from '../memory/clock.js'
import type { Domain } from '../memory/thread.js'

/** Layout of one reader slot (64 bytes). */
export const ReaderSlot = {
  BYTES: 64,
  /** Int32 words from the slot start. */
  COUNT: 0,
  OWNER: 1,
  /** Float64 indices from the slot start. */
  READS: 1,
  CONTENDED: 2,
  WAIT_TOTAL_MS: 3,
  WAIT_MAX_MS: 4,
} as const

const SLOT_WORDS = ReaderSlot.BYTES / 4
const SLOT_F64 = ReaderSlot.BYTES / 8
const RECLAIMING = -1

/** Where the slots and the words they share with the lock are. */
export interface ReaderSlotWords {
  /** Int32 index of the first slot. */
  readonly first: number
  /** Number of slots. */
  readonly count: number
  /** Int32 indices of the lock words the slots use. */
  readonly overflow: number
  readonly slotsUsed: number
  readonly readersDied: number
  readonly drain: number
}

/** Read-side figures summed over the slots. */
export interface ReaderSlotStats {
  readonly reads: number
  readonly contended: number
  readonly waitTotalMs: number
  readonly waitMaxMs: number
}

/** One thread's view of an RWLock's reader slots. */
export class ReaderSlots {
  private readonly words: Int32Array
  private readonly f64: Float64Array
  private readonly at: ReaderSlotWords
  private readonly domain: Domain
  /** Int32 index of this thread's slot; -1 before the first read, -2 if none was free. */
  private slotWord = -1

  constructor(words: Int32Array, f64: Float64Array, at: ReaderSlotWords, domain: Domain) {
    this.words = words
    this.f64 = f64
    this.at = at
    this.domain = domain
  }

  /** Finds or claims this thread's slot; -2 when every slot is taken. */
  own(): number {
    if (this.slotWord !== -1) return this.slotWord
    const words = this.words
    const tid = this.domain.tid
    for (let k = 0; k < this.at.count; k++) {
      const w = this.at.first + k * SLOT_WORDS
      if (Atomics.load(words, w + ReaderSlot.OWNER) === tid) return (this.slotWord = w)
    }
    // The slot will name this thread until the thread dies and the slot is
    // reclaimed: counted before the claim (memory/thread.ts).
    this.domain.naming()
    for (let k = 0; k < this.at.count; k++) {
      const w = this.at.first + k * SLOT_WORDS
      const owner = Atomics.load(words, w + ReaderSlot.OWNER)
      if (owner > 0 && this.domain.isDead(owner)) this.reclaim(w, owner)
      if (Atomics.compareExchange(words, w + ReaderSlot.OWNER, 0, tid) === 0) {
        this.raiseSlotsUsed(k + 1)
        return (this.slotWord = w)
      }
    }
    this.domain.unnamed()
    return (this.slotWord = -2)
  }

  /** Int32 index of the count this thread's read holds go to (its slot, or the shared overflow). */
  countIndex(): number {
    const w = this.own()
    return w >= 0 ? w + ReaderSlot.COUNT : this.at.overflow
  }

  /** Read holds of this thread (`overflowHolds` when it has no slot). */
  ownHolds(overflowHolds: number): number {
    const w = this.own()
    return w >= 0 ? Atomics.load(this.words, w + ReaderSlot.COUNT) : overflowHolds
  }

  /** Makes SLOTS_USED at least `used` (a CAS max). */
  private raiseSlotsUsed(used: number): void {
    atomicMax(this.words, this.at.slotsUsed, used)
  }

  /** Number of slots writers and stats must look at (those ever claimed). */
  private used(): number {
    return Math.min(Atomics.load(this.words, this.at.slotsUsed), this.at.count)
  }

  /**
   * Releases the read holds of a dead slot owner. Exactly one thread wins the
   * CAS. The dead id is pinned and its state read again first: without the
   * pin, another reclaimer could free the slot, the id be reused and the
   * slot claimed by its new owner between our look and our CAS, which would
   * then take a live reader's holds (memory/thread.ts).
   */
  private reclaim(w: number, deadOwner: number): void {
    const words = this.words
    const domain = this.domain
    domain.pin(deadOwner)
    try {
      if (!domain.isDead(deadOwner)) return
      if (Atomics.compareExchange(words, w + ReaderSlot.OWNER, deadOwner, RECLAIMING) !== deadOwner) return
      // No call between the claim and the reset of the slot: a thread
      // terminated in between would leave the slot RECLAIMING for good (and
      // its leaked holds with it), and termination lands at calls.
      const leaked = Atomics.exchange(words, w + ReaderSlot.COUNT, 0)
      Atomics.store(words, w + ReaderSlot.OWNER, 0)
      if (leaked > 0) Atomics.add(words, this.at.readersDied, leaked)
      domain.cleared(deadOwner)
    } finally {
      domain.unpin(deadOwner)
    }
    // A writer may be draining: tell it a count dropped.
    Atomics.add(words, this.at.drain, 1)
    Atomics.notify(words, this.at.drain)
  }

  /** Whether every read hold (but those of dead threads, which are reclaimed) is gone. */
  drained(): boolean {
    const words = this.words
    if (Atomics.load(words, this.at.overflow) !== 0) return false
    const used = this.used()
    for (let k = 0; k < used; k++) {
      const w = this.at.first + k * SLOT_WORDS
      if (Atomics.load(words, w + ReaderSlot.COUNT) === 0) continue
      const owner = Atomics.load(words, w + ReaderSlot.OWNER)
      if (owner > 0 && this.domain.isDead(owner)) {
        this.reclaim(w, owner)
        if (Atomics.load(words, w + ReaderSlot.COUNT) === 0) continue
      }
      return false
    }
    return true
  }

  /** Counts a read acquisition in this thread's slot; `start` >= 0 if it waited since then. */
  recordRead(start: number): void {
    const w = this.slotWord
    if (w < 0) return
    const f = this.f64
    const i = (w * 4) / 8
    f[i + ReaderSlot.READS]!++
    if (start < 0) return
    const waited = now() - start
    f[i + ReaderSlot.CONTENDED]!++
    f[i + ReaderSlot.WAIT_TOTAL_MS]! += waited
    if (waited > f[i + ReaderSlot.WAIT_MAX_MS]!) f[i + ReaderSlot.WAIT_MAX_MS] = waited
  }

  /** Read holds at this moment, over all threads. */
  holds(): number {
    const words = this.words
    let n = Atomics.load(words, this.at.overflow)
    const used = this.used()
    for (let k = 0; k < used; k++) n += Atomics.load(words, this.at.first + k * SLOT_WORDS + ReaderSlot.COUNT)
    return n
  }

  /** Read figures summed over the slots. */
  stats(): ReaderSlotStats {
    let reads = 0
    let contended = 0
    let waitTotalMs = 0
    let waitMaxMs = 0
    const f = this.f64
    const first = (this.at.first * 4) / 8
    const used = this.used()
    for (let k = 0; k < used; k++) {
      const i = first + k * SLOT_F64
      reads += f[i + ReaderSlot.READS]!
      contended += f[i + ReaderSlot.CONTENDED]!
      waitTotalMs += f[i + ReaderSlot.WAIT_TOTAL_MS]!
      waitMaxMs = Math.max(waitMaxMs, f[i + ReaderSlot.WAIT_MAX_MS]!)
    }
    return { reads, contended, waitTotalMs, waitMaxMs }
  }
}
