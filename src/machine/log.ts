/**
 * The transition log of a StateMachine: a ring of entries in the machine's
 * region (layout: `layout.ts`), entry `seq mod size` for transition `seq`.
 * The thread whose compare-and-set won `seq` writes the entry under the
 * entry's own sequence word (a {@link SeqWord} of `sync/seqlock.ts`: busy
 * while the fields change, `seq` once they are complete); readers take an
 * entry only if that word held `seq` before and after their copy
 * (`SeqWord.readEntry`), so they never take a torn entry and skip one whose
 * writer has not finished (or died).
 *
 * Assumption: one writer per entry at a time. The winners of `seq` and
 * `seq + size` write the same entry, so a winner preempted between its
 * compare-and-set and the end of its write for `size` more transitions can
 * have its entry torn (the SPIN finding `state-machine/log-wrap`,
 * verify/spin/README.md). Open.
 *
 * @module
 */
import { ReadFence, SeqWord } from '../sync/seqlock.js'
import { ENTRY_BUSY, ENTRY_BYTES, ENTRY_EMPTY, EntryField, LOG_START, REASON_UNITS } from './layout.js'

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
  /**
   * The sequence word of each entry this thread has written, made on first
   * use (a SeqWord made per transition cost ~15 % of one here).
   */
  private readonly entryWords: SeqWord[] = []

  /** Marks every entry of a new machine's log never written. */
  static clear(words: Int32Array, size: number): void {
    for (let k = 0; k < size; k++) words[(entryByte(k) >> 2) + SEQ] = ENTRY_EMPTY
  }

  constructor(buffer: SharedArrayBuffer, byteOffset: number, byteLength: number, size: number) {
    this.words = new Int32Array(buffer, byteOffset, byteLength >> 2)
    this.f64 = new Float64Array(buffer, byteOffset, byteLength >> 3)
    this.units = new Uint16Array(buffer, byteOffset, byteLength >> 1)
    this.size = size
  }

  /**
   * Writes transition `seq` into its entry: busy, the fields, then `seq`
   * (this thread owns the entry: `seq` won the compare-and-set).
   * @param reason at most {@link REASON_UNITS} UTF-16 units
   */
  record(seq: number, from: number, to: number, threadId: number, at: number, reason: string): void {
    const k = seq & (this.size - 1)
    const base = entryByte(k)
    const w = base >> 2
    const words = this.words
    const entry = (this.entryWords[k] ??= new SeqWord(words, w + SEQ, this.fence))
    entry.beginWrite(BUSY)
    words[w + FROM] = from
    words[w + TO] = to
    words[w + THREAD_ID] = threadId
    this.f64[(base >> 3) + AT] = at
    words[w + REASON_LENGTH] = reason.length
    const u = (base >> 1) + REASON
    for (let i = 0; i < reason.length; i++) this.units[u + i] = reason.charCodeAt(i)
    entry.endWrite(seq)
  }

  /** The entry of transition `seq`, if it is complete and was not overwritten during the read. */
  read(seq: number): LogEntry | undefined {
    const base = entryByte(seq & (this.size - 1))
    const w = base >> 2
    const words = this.words
    return SeqWord.readEntry(words, w + EntryField.SEQ, seq, this.fence, () => {
      // A torn length is clamped (the copy is dropped by readEntry anyway).
      const length = Math.min(REASON_UNITS, Math.max(0, words[w + REASON_LENGTH]!))
      let reason = ''
      const u = (base >> 1) + REASON
      for (let i = 0; i < length; i++) reason += String.fromCharCode(this.units[u + i]!)
      return { from: words[w + FROM]!, to: words[w + TO]!, threadId: words[w + THREAD_ID]!, at: this.f64[(base >> 3) + AT]!, reason }
    })
  }

  /** Whether the entry of `seq` is being written (its winner has not finished, or died). */
  busy(seq: number): boolean {
    return Atomics.load(this.words, (entryByte(seq & (this.size - 1)) >> 2) + SEQ) === ENTRY_BUSY
  }
}
