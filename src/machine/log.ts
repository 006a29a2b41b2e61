/**
 * The transition log of a StateMachine: a ring of entries in the machine's
 * region (layout: `layout.ts`), entry `seq mod size` for transition `seq`,
 * each guarded by its own sequence word (SEQ: the seq when complete,
 * `ENTRY_BUSY | tid` while thread tid writes it, ENTRY_EMPTY never written).
 *
 * **Writers of one entry exclude each other.** The thread whose
 * compare-and-set won `seq` writes the entry, but it is not the entry's only
 * writer: the winners of `seq`, `seq + size`, `seq + 2 size`, ... all write
 * entry `seq mod size`, and a winner may be preempted (or killed) between its
 * compare-and-set and the end of its write while `size` more transitions
 * happen (with a history of 1 or 2, two concurrent transitions suffice:
 * the SPIN finding `state-machine/log-wrap`, verify/spin/README.md). So a
 * writer first claims the entry ({@link TransitionLog.claim}), without a lock:
 *
 * 1. It loads the word, v (a plain load: it is only a guess, checked by
 *    the compareExchange of step 2).
 * 2. v complete and older than `seq` (modulo 2^24: `seq` less than 2^23
 *    ahead), or never written: it claims the entry, replacing v by its busy
 *    mark `ENTRY_BUSY | tid` in one compareExchange
 *    (`SeqWord.claimEntry`). v complete and newer: a later lap has the
 *    entry; it leaves it (a newer lap's entry is never overwritten).
 * 3. v the busy mark of a thread marked dead (`Domain.isDead`): it claims
 *    the entry the same way (the dead thread writes no more).
 * 4. v the busy mark of a live thread: it loads the word again (the
 *    domain table is read once per mark found, not on every load).
 * 5. A failed compareExchange gives the value found instead: back to 2.
 *    Steps 2-5 run at most CLAIM_SPIN times in all; then it leaves the entry.
 *
 * Having claimed, it writes the fields (plain stores) and releases the
 * entry by storing `seq` (`SeqWord.releaseEntry`). A transition whose entry
 * was left out stands: `history()` and `subscribe()` skip its seq, as they
 * skip an entry whose writer has not finished or died (`subscribe()` after
 * waiting up to a second for one that may still come: {@link TransitionLog.pending}).
 *
 * **No reader accepts a torn entry.** A reader takes the entry of `seq`
 * only if the word holds `seq` before and after its copy
 * (`SeqWord.readEntry`).
 * (a) The fields are written only by a thread that holds a claim, and while
 * it does the word holds its mark: every other writer changes the word only
 * by a compareExchange from a value it judged claimable, never a live
 * thread's mark, and complete values are stored only on release. Taking over
 * a dead thread's mark is the one change of a mark by another thread, and the
 * dead thread has stopped for good (threads are marked dead only then). A
 * claim succeeds only if, at that instant, the word holds no live mark: no
 * other running thread holds the entry. So at most one running thread writes
 * the entry at a time, and only while the word holds a mark, never a
 * complete value.
 * (b) Only the winner of `seq` stores `seq`, once. A word that held `seq`
 * changes only by a claim (to a mark), then by that claimant's release to
 * its own seq, and so on: never back to `seq` (short of 2^24 transitions
 * during one copy). So a
 * word found holding `seq` before and after the copy held it throughout: no
 * claim was held meanwhile, no field changed, and the copy is the complete
 * entry of `seq`'s winner.
 * (c) Memory order (ARM64): the barrier after the claim, the release store
 * after the plain stores and the reader's fence before its re-check are
 * `sync/seqlock.ts`'s, argued there; this module has no fence of its own.
 *
 * **Nothing blocks.** The claim loop runs at most CLAIM_SPIN times, each a
 * load (with a load of the domain table for a new mark) or a
 * compareExchange; nobody waits for a thread. A writer that died holding an
 * entry is taken over once its thread is marked dead (`superviseWorker`);
 * until then (or if never marked) each later writer of that entry spends
 * CLAIM_SPIN loads (about a microsecond) and leaves it. Readers never wait (`readEntry`); `subscribe()` re-reads a
 * busy entry a bounded number of times, then sleeps (asynchronously, at
 * most a second) while {@link TransitionLog.pending} says it may still come.
 *
 * **Busy marks name threads, and ids are reused** (memory/thread.ts): the
 * claimant counts its id in before its claim and out after its release, and
 * a takeover pins the dead id and reads its state again before its
 * compareExchange, so a mark never names an id handed to another thread. An
 * entry's `threadId` field is for people: the id of the thread that made
 * the transition, at the time (it may name another thread later).
 *
 * Limits: seqs are 24 bits. A writer preempted for 2^23 transitions or more
 * may take a newer lap's value for an older one, as a reader may take a
 * seq 2^24 apart for its own.
 *
 * @module
 */
import type { Domain } from '../memory/thread.js'
import { namedCount } from '../memory/named-count.js'
import { TID_MASK } from '../memory/thread.js'
import { ReadFence, SeqWord } from '../sync/seqlock.js'
import { ENTRY_BUSY, ENTRY_BYTES, ENTRY_EMPTY, EntryField, LOG_START, REASON_UNITS, SEQ_MASK } from './layout.js'

// Module-level primitives for the transition path (a property of an
// imported object is a lookup on every use).
const LOG = LOG_START
const ENTRY = ENTRY_BYTES
const SEQ = EntryField.SEQ
const FROM = EntryField.FROM
const TO = EntryField.TO
const THREAD_ID = EntryField.THREAD_ID
const REASON_LENGTH = EntryField.REASON_LENGTH
const AT = EntryField.AT
const REASON = EntryField.REASON
const BUSY = ENTRY_BUSY
const claimEntry = SeqWord.claimEntry
const releaseEntry = SeqWord.releaseEntry
const EMPTY = ENTRY_EMPTY
/** `(seq - v) mod 2^24` at least this: the complete value v is ahead of `seq`, a newer lap's. */
const HALF_LAP = (SEQ_MASK + 1) / 2

/**
 * Steps of a writer's claim loop (a load or a failed compareExchange each)
 * before it leaves an entry another live thread holds: ~1.3 us here (a
 * claim given up, measured), some 25 records' worth, so a writer that is
 * merely running is waited for and a preempted one is not.
 */
export const CLAIM_SPIN = 200

/**
 * What the log needs of the domain: whether a busy mark's thread has been
 * marked dead, and (a real Domain has them) the counts of words naming a
 * thread, so that a busy mark never names an id handed to another thread
 * (memory/thread.ts).
 */
export type Liveness = Pick<Domain, 'isDead'> & Partial<Pick<Domain, 'words' | 'namedIndex' | 'pin' | 'unpin' | 'cleared'>>

/** A complete log entry as read: state indices, not names. */
export interface LogEntry {
  readonly from: number
  readonly to: number
  readonly threadId: number
  readonly at: number
  readonly reason: string
}

/**
 * Byte offset of entry `k`, a multiple of 8: its Int32 index is `>> 2`, its
 * Float64 index `>> 3`, its Uint16 index `>> 1` (add the offsets of
 * `EntryField` to them).
 */
function entryByte(k: number): number {
  return LOG + k * ENTRY
}

/** One thread's access to a machine's transition log. */
export class TransitionLog {
  /** Entries (a power of two). */
  readonly size: number
  private readonly words: Int32Array
  private readonly f64: Float64Array
  private readonly units: Uint16Array
  /** The barrier of this thread's reads. */
  private readonly fence = new ReadFence()
  /** This thread's count of the words naming it (memory/named-count.ts), as `named[0]`; a dummy for a test's Liveness. */
  private readonly named: Int32Array

  /** Marks every entry of a new machine's log never written. */
  static clear(words: Int32Array, size: number): void {
    for (let k = 0; k < size; k++) words[(entryByte(k) >> 2) + SEQ] = ENTRY_EMPTY
  }

  constructor(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    byteLength: number,
    size: number,
    /** The machine's domain: a busy mark of a thread marked dead is taken over. */
    private readonly domain: Liveness,
  ) {
    this.words = new Int32Array(buffer, byteOffset, byteLength >> 2)
    this.f64 = new Float64Array(buffer, byteOffset, byteLength >> 3)
    this.units = new Uint16Array(buffer, byteOffset, byteLength >> 1)
    this.size = size
    this.named = domain.words !== undefined && domain.namedIndex !== undefined ? namedCount(domain as Pick<Domain, 'words' | 'namedIndex'>) : new Int32Array(1)
  }

  /**
   * Records transition `seq` in its entry if this thread can claim it
   * ({@link claim}, {@link write}, {@link release}; the module comment).
   * @param threadId this thread's id in the machine's domain (the busy mark names it)
   * @param reason at most {@link REASON_UNITS} UTF-16 units
   * @returns false if the entry was left out (a newer lap has it, or another live writer held it throughout the claim loop)
   */
  record(seq: number, from: number, to: number, threadId: number, at: number, reason: string): boolean {
    const base = entryByte(seq & (this.size - 1))
    const w = base >> 2
    const words = this.words
    if (!this.claimAt(words, w + SEQ, seq, threadId)) return false
    this.write(seq, from, to, threadId, at, reason)
    releaseEntry(words, w + SEQ, seq)
    this.named[0]!-- // our mark has left the word
    return true
  }

  /**
   * Claims the entry of `seq` for thread `threadId` (steps 1-5 of the module
   * comment): true if the word now holds this thread's busy mark, false if
   * the entry is to be left out. At most {@link CLAIM_SPIN} steps; never waits.
   */
  claim(seq: number, threadId: number): boolean {
    return this.claimAt(this.words, (entryByte(seq & (this.size - 1)) >> 2) + SEQ, seq, threadId)
  }

  /** {@link claim} of the entry whose sequence word is `words[i]`. */
  private claimAt(words: Int32Array, i: number, seq: number, threadId: number): boolean {
    const mark = BUSY | threadId
    const domain = this.domain
    // Our mark names this thread: counted before it can enter the word, out
    // again if it does not (and by release() once it has left).
    this.named[0]!++
    // The first look may be a plain load: only the compareExchange decides,
    // and it succeeds only if the word still holds the value judged.
    let v = words[i]!
    // The last busy mark found alive (0 is no mark): its thread is looked up once.
    let alive = 0
    for (let n = 0; n < CLAIM_SPIN; n++) {
      if (v >= BUSY) {
        // Another writer's claim: load again while its thread lives.
        if (v === alive || !domain.isDead(v & TID_MASK)) {
          alive = v
          v = Atomics.load(words, i)
          continue
        }
        const found = this.takeOver(words, i, v, mark)
        if (found === v) return true
        v = found
        continue
      } else if (v >= 0 ? ((seq - v) & SEQ_MASK) >= HALF_LAP : v !== EMPTY) {
        // A newer lap's entry (or a value this code never writes): not ours to overwrite.
        this.named[0]!--
        return false
      }
      const found = claimEntry(words, i, v, mark)
      if (found === v) return true
      v = found
    }
    this.named[0]!--
    return false
  }

  /**
   * Replaces the busy mark `v` of a thread that looked dead by `mark`
   * (step 3). The dead id is pinned and its state read again first: without
   * the pin, the entry could be taken over by another writer meanwhile, the
   * id reused and the entry claimed by the id's new owner with the very same
   * mark, which this compareExchange would then take from a live writer
   * (memory/thread.ts).
   * @returns what the word held: `v` if the claim succeeded
   */
  private takeOver(words: Int32Array, i: number, v: number, mark: number): number {
    const domain = this.domain
    const dead = v & TID_MASK
    domain.pin?.(dead)
    try {
      if (!domain.isDead(dead)) return Atomics.load(words, i)
      const found = claimEntry(words, i, v, mark)
      if (found === v) domain.cleared?.(dead)
      return found
    } finally {
      domain.unpin?.(dead)
    }
  }

  /**
   * The fields of transition `seq`, plain stores: only while this thread
   * holds the entry's claim ({@link claim} returned true).
   */
  write(seq: number, from: number, to: number, threadId: number, at: number, reason: string): void {
    const base = entryByte(seq & (this.size - 1))
    const w = base >> 2
    const words = this.words
    words[w + FROM] = from
    words[w + TO] = to
    words[w + THREAD_ID] = threadId
    this.f64[(base >> 3) + AT] = at
    words[w + REASON_LENGTH] = reason.length
    const u = (base >> 1) + REASON
    for (let i = 0; i < reason.length; i++) this.units[u + i] = reason.charCodeAt(i)
  }

  /** Ends this thread's claim: the entry is transition `seq`'s, complete. */
  release(seq: number): void {
    releaseEntry(this.words, (entryByte(seq & (this.size - 1)) >> 2) + SEQ, seq)
    this.named[0]!-- // our mark has left the word
  }

  /** The entry of transition `seq`, if it is complete and was not overwritten during the read. */
  read(seq: number): LogEntry | undefined {
    const base = entryByte(seq & (this.size - 1))
    const w = base >> 2
    const words = this.words
    return SeqWord.readEntry(words, w + SEQ, seq, this.fence, () => {
      // A torn length is clamped (the copy is dropped by readEntry anyway).
      const length = Math.min(REASON_UNITS, Math.max(0, words[w + REASON_LENGTH]!))
      let reason = ''
      const u = (base >> 1) + REASON
      for (let i = 0; i < length; i++) reason += String.fromCharCode(this.units[u + i]!)
      return { from: words[w + FROM]!, to: words[w + TO]!, threadId: words[w + THREAD_ID]!, at: this.f64[(base >> 3) + AT]!, reason }
    })
  }

  /**
   * Whether the entry of `seq` may still become `seq`'s complete entry: a
   * live thread's busy mark is on it (the winner of `seq` writing, or
   * another lap's writer), or it holds an older lap's entry or was never
   * written (the winner of `seq`, which has already moved the state, has
   * not claimed it yet). False once it holds `seq` or a newer lap's entry,
   * or its writer was marked dead.
   */
  pending(seq: number): boolean {
    const v = Atomics.load(this.words, (entryByte(seq & (this.size - 1)) >> 2) + SEQ)
    if (v >= BUSY) return !this.domain.isDead(v & TID_MASK)
    if (v === EMPTY) return true
    return v !== seq && ((seq - v) & SEQ_MASK) < HALF_LAP
  }

  /** Whether the entry of `seq` is claimed by a writer (the winner of `seq` or of another lap; not finished, or died). */
  busy(seq: number): boolean {
    return Atomics.load(this.words, (entryByte(seq & (this.size - 1)) >> 2) + SEQ) >= BUSY
  }
}
