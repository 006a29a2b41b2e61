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
 * A thread that finds every slot owned counts its read holds in the lock's
 * shared OVERFLOW counter, and records them in its own overflow ledger in
 * the domain (memory/thread.ts `OverflowLedger`): an entry (lock id, holds)
 * claimed at its first such hold and freed at its last. The ledger is what
 * makes those holds recoverable: once the thread is dead, a writer draining
 * the lock finds the entry by the lock id and takes the holds off OVERFLOW,
 * as it reclaims a dead slot owner's count. Why the two agree: a thread is
 * terminated only at a call, `Atomics` calls included, and before the call
 * takes effect (measured: docs/verification.md, "Thread ids reused"); plain
 * typed-array reads and writes are not termination points. The thread
 * changes OVERFLOW with one `Atomics` call and then its entry with plain
 * writes only, so a dead thread's entry says exactly what it has in
 * OVERFLOW: a reclaim takes off neither more (a live reader's hold: a
 * writer let in early) nor less (a hold left for ever: writers stuck). An entry
 * names its thread (counted in NAMED / OTHERS like a slot's OWNER): the id
 * is not reused while an entry of its dead thread waits to be reclaimed.
 * A thread holding overflow holds on more than `OverflowLedger.ENTRIES`
 * locks at once counts the rest in OVERFLOW alone (not recovered if it dies).
 *
 * @module
 */
import { atomicMax } from '../memory/atomics.js'
import { now } from '../memory/clock.js'
import { OverflowLedger, type Domain } from '../memory/thread.js'

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
const ENTRY_WORDS = OverflowLedger.ENTRY_WORDS
const LEDGER_WORDS = OverflowLedger.ENTRIES * ENTRY_WORDS
const LOCK = OverflowLedger.LOCK
const HOLDS = OverflowLedger.HOLDS

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
  /** The lock's id, its key in overflow ledgers (0: none, e.g. scribbled: overflow holds are then not recorded). */
  private readonly lockId: number
  /** This thread's read holds in OVERFLOW through this instance that no ledger entry had room for. */
  private unledgered = 0
  /** DEATHS at this instance's last sweep of dead threads' ledgers (a dead thread's ledger no longer changes). */
  private sweptAt = -1

  constructor(words: Int32Array, f64: Float64Array, at: ReaderSlotWords, domain: Domain, lockId: number) {
    this.words = words
    this.f64 = f64
    this.at = at
    this.domain = domain
    this.lockId = lockId > 0 ? lockId : 0
  }

  /** Finds or claims this thread's slot; -2 when every slot is taken. */
  own(): number {
    // Small, for the read path's inlining: the search and the claim are apart.
    const w = this.slotWord
    return w !== -1 ? w : this.claim()
  }

  /** {@link own}'s first call: this thread's slot found or claimed. */
  private claim(): number {
    const words = this.words
    const tid = this.domain.tid
    for (let k = 0; k < this.at.count; k++) {
      const w = this.at.first + k * SLOT_WORDS
      if (Atomics.load(words, w + ReaderSlot.OWNER) === tid) return (this.slotWord = w)
    }
    const dw = this.domain.words
    const named = this.domain.namedIndex
    for (let k = 0; k < this.at.count; k++) {
      const w = this.at.first + k * SLOT_WORDS
      const owner = Atomics.load(words, w + ReaderSlot.OWNER)
      if (owner > 0 && this.domain.isDead(owner)) this.reclaim(w, owner)
      if (Atomics.compareExchange(words, w + ReaderSlot.OWNER, 0, tid) === 0) {
        // The slot names this thread until the thread dies and the slot is
        // reclaimed: counted right after the claim, a plain increment with no
        // termination point in between (memory/thread.ts). Counting once before
        // this loop left the id counted for good when the thread was
        // terminated in the loop's calls (the reclaims, the compareExchange):
        // most of the ids the thread-reuse test leaked (docs/verification.md).
        dw[named]!++
        this.raiseSlotsUsed(k + 1)
        return (this.slotWord = w)
      }
    }
    return (this.slotWord = -2)
  }

  /** Int32 index of the count this thread's read holds go to (its slot, or the shared overflow). */
  countIndex(): number {
    const w = this.own()
    return w >= 0 ? w + ReaderSlot.COUNT : this.at.overflow
  }

  /** Read holds of this thread (in its slot, or in OVERFLOW when it has none). */
  ownHolds(): number {
    const w = this.own()
    return w >= 0 ? Atomics.load(this.words, w + ReaderSlot.COUNT) : this.overflowHolds()
  }

  // ---- the overflow ledger (module comment) ---------------------------------

  /** Int32 index (in the domain's words) of this thread's ledger entry for this lock, or -1. */
  private ledgerEntry(): number {
    const lockId = this.lockId
    if (lockId === 0) return -1
    const dw = this.domain.words
    const base = this.domain.ledgerIndex
    for (let e = base; e < base + LEDGER_WORDS; e += ENTRY_WORDS) if (dw[e + LOCK] === lockId) return e
    return -1
  }

  /** Read holds of this thread in OVERFLOW. */
  overflowHolds(): number {
    const e = this.ledgerEntry()
    return (e >= 0 ? this.domain.words[e + HOLDS]! : 0) + this.unledgered
  }

  /**
   * Adds one read hold of this thread to OVERFLOW, recorded in its ledger
   * entry for this lock (claimed at the first hold), or, with every entry
   * taken by other locks, in `unledgered`.
   * @returns this thread's holds in OVERFLOW before it
   */
  addOverflowHold(): number {
    const dw = this.domain.words
    let e = this.ledgerEntry()
    if (e < 0 && this.lockId !== 0) {
      const base = this.domain.ledgerIndex
      for (let f = base; f < base + LEDGER_WORDS; f += ENTRY_WORDS) {
        if (dw[f + LOCK] !== 0) continue
        // The entry names this thread until it is freed or reclaimed: counted before (memory/thread.ts), inline.
        dw[this.domain.namedIndex]!++
        dw[f + HOLDS] = 0
        dw[f + LOCK] = this.lockId
        e = f
        break
      }
    }
    const before = (e >= 0 ? dw[e + HOLDS]! : 0) + this.unledgered
    // OVERFLOW (one Atomics call, a termination point before it takes effect), then the entry with plain writes (module comment).
    Atomics.add(this.words, this.at.overflow, 1)
    if (e >= 0) dw[e + HOLDS]!++
    else this.unledgered++
    return before
  }

  /**
   * Takes one read hold of this thread off OVERFLOW (its entry first, then
   * the counter; the entry is freed with its last hold).
   * @returns false if this thread has none there
   */
  removeOverflowHold(): boolean {
    const dw = this.domain.words
    const e = this.ledgerEntry()
    if (e >= 0 && dw[e + HOLDS]! > 0) {
      // OVERFLOW, then the entry, with plain writes only after the Atomics call (module comment).
      Atomics.sub(this.words, this.at.overflow, 1)
      if (--dw[e + HOLDS]! === 0) {
        dw[e + LOCK] = 0
        dw[this.domain.namedIndex]!-- // after the entry stopped naming this thread, inline
      }
      return true
    }
    if (this.unledgered === 0) return false
    this.unledgered--
    Atomics.sub(this.words, this.at.overflow, 1)
    return true
  }

  /**
   * Takes the overflow holds of dead threads off OVERFLOW: each dead
   * thread's ledger entry for this lock is reclaimed once (compareExchange
   * of its LOCK word), as a dead slot owner's count is. Skipped when no
   * thread died since this instance's last sweep (a dead thread's ledger
   * no longer changes).
   */
  private sweepDeadOverflow(): void {
    const lockId = this.lockId
    if (lockId === 0) return
    const domain = this.domain
    const deaths = domain.deaths()
    if (deaths === this.sweptAt) return
    this.sweptAt = deaths // read before the scan: a death after it changes DEATHS again
    const dw = domain.words
    const last = domain.lastTid()
    for (let tid = 1; tid <= last; tid++) {
      if (!domain.isDead(tid)) continue
      const base = domain.ledgerOf(tid)
      for (let e = base; e < base + LEDGER_WORDS; e += ENTRY_WORDS) {
        if (Atomics.load(dw, e + LOCK) === lockId) this.reclaimOverflow(tid, e)
      }
    }
  }

  /** Reclaims dead thread `tid`'s ledger entry `e` for this lock (pinned and re-read first, as {@link reclaim}). */
  private reclaimOverflow(tid: number, e: number): void {
    const words = this.words
    const domain = this.domain
    const dw = domain.words
    const lockId = this.lockId
    domain.pin(tid)
    try {
      if (!domain.isDead(tid)) return
      if (Atomics.compareExchange(dw, e + LOCK, lockId, RECLAIMING) !== lockId) return
      // Between the claim and the reset one termination point is left (see
      // reclaim): the Atomics.sub on OVERFLOW, shared with live readers. A
      // reclaimer stopped there leaves the entry claimed and its holds in
      // OVERFLOW (writers then wait: a liveness hazard, never a safety one).
      const leaked = dw[e + HOLDS]!
      if (leaked > 0) Atomics.sub(words, this.at.overflow, leaked)
      dw[e + HOLDS] = 0
      dw[e + LOCK] = 0
      if (leaked > 0) Atomics.add(words, this.at.readersDied, leaked)
      domain.cleared(tid)
    } finally {
      domain.unpin(tid)
    }
    Atomics.add(words, this.at.drain, 1)
    Atomics.notify(words, this.at.drain)
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
      // Nothing a thread can be stopped at between the claim and the count's
      // reset: one terminated in between would leave the slot RECLAIMING for
      // good with its leaked holds (writers then wait for ever). Termination
      // lands at calls, Atomics calls included (before their effect, in code
      // not yet optimized: test/termination-points.test.ts), never between
      // plain statements, so the count is reset with plain writes: the claim
      // makes this thread the slot's only writer (its owner is dead, and a
      // claim needs OWNER 0). The slot is then freed by an Atomics.store, a
      // release: a thread that claims it (a compareExchange) sees the count
      // at 0, on ARM64 too (two plain stores could be seen in either order).
      // Stopped at that store, the slot stays RECLAIMING with a count of 0:
      // one slot lost, nobody waits.
      const leaked = words[w + ReaderSlot.COUNT]!
      words[w + ReaderSlot.COUNT] = 0
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
    if (Atomics.load(words, this.at.overflow) !== 0) {
      this.sweepDeadOverflow()
      if (Atomics.load(words, this.at.overflow) !== 0) return false
    }
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
