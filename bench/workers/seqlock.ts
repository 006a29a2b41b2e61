/**
 * The single-seqlock-word buffer the StateBuffer benches compare against:
 * what a user writes by hand after reading about seqlocks (Lameter,
 * "Effective Synchronization on Linux/NUMA Systems", 2005; Linux
 * `seqcount_t`). One sequence word, one slot of 25 doubles:
 *
 * ```
 *  Int32 word 0    SEQ   2v while version v is whole; odd while the writer writes
 *  byte 8..208     the payload of the current version (25 Float64)
 * ```
 *
 * Writer: SEQ = 2v - 1, write the payload, SEQ = 2v. Reader: load SEQ (spin
 * while odd), copy, load SEQ again; the copy is whole if SEQ did not change,
 * else retry. Correct with one writer. On x86-64 (TSO) the two atomics order
 * the plain accesses; elsewhere a read-modify-write on a thread-private word
 * goes between the copy and the re-check and after the odd store (the
 * DESIGN.md "do not lean on x86" rule), as the StateBuffer does.
 *
 * Its weakness is the reason StateBuffer has a ring: with a writer running
 * flat out, SEQ is odd or changes during almost every copy, so readers
 * retry most of the time (DESIGN.md: ~94 % of copies).
 *
 * Baseline only: no timestamps, no history, no multi-writer lock.
 *
 * @module
 */
import { PAYLOAD, copy25 } from './payload.js'

const SEQ = 0
/** Float64 index of the payload. */
const DATA = 1
/** x86-64 keeps plain loads/stores in order around atomics; elsewhere fence with an RMW. */
const STRONG_ORDERING = process.arch === 'x64' || process.arch === 'ia32'

/** A one-word seqlock over one 25-double slot. Baseline only. */
export class SeqlockWord {
  /** Bytes of the shared buffer. */
  static readonly BYTES = 8 * (DATA + PAYLOAD)
  /** The shared memory; send it to another thread and wrap it there. */
  readonly buffer: SharedArrayBuffer
  /** Copies retried (SEQ changed during the copy) since the last reset, this thread. */
  retries = 0
  private readonly seq: Int32Array
  private readonly data: Float64Array
  private readonly fence = new Int32Array(new SharedArrayBuffer(4))

  /** Wraps `buffer`, or allocates a new one. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(SeqlockWord.BYTES)) {
    this.buffer = buffer
    this.seq = new Int32Array(buffer, 0, 1)
    this.data = new Float64Array(buffer, 0, DATA + PAYLOAD)
  }

  /** The version last published (SEQ / 2, rounded down). */
  get version(): number {
    return Atomics.load(this.seq, SEQ) >>> 1
  }

  /** Writer: publishes the checksummed payload of version `v` (see payload.ts). One writer only. */
  writeVersion(v: number): void {
    Atomics.store(this.seq, SEQ, 2 * v - 1)
    if (!STRONG_ORDERING) Atomics.exchange(this.fence, 0, 0)
    const d = this.data
    for (let k = 0; k < PAYLOAD - 1; k++) d[DATA + k] = v + k
    d[DATA + PAYLOAD - 1] = 24 * v + 276
    Atomics.store(this.seq, SEQ, 2 * v)
  }

  /** Reader: copies a whole version into `target`; returns its version. Counts retries in {@link retries}. */
  readInto(target: Float64Array): number {
    const seq = this.seq
    for (;;) {
      const s1 = Atomics.load(seq, SEQ)
      if ((s1 & 1) !== 0) continue // the writer is mid-write: wait for it (not a failed copy)
      copy25(this.data, DATA, target, 0)
      if (!STRONG_ORDERING) Atomics.exchange(this.fence, 0, 0)
      if (Atomics.load(seq, SEQ) === s1) return s1 >>> 1
      this.retries++
    }
  }

  /** The broken reader: copies without any check (torn copies get through). Proves the torn check can fail. */
  copyUnchecked(target: Float64Array): void {
    copy25(this.data, DATA, target, 0)
  }
}
