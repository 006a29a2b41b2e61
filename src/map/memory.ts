/**
 * A thread's views of a SharedMap's buffers. The data buffer is growable
 * (or fixed-length for a small map, `memory/growable.ts`: then it never grows);
 * views are fixed-length (a length-tracking view of a growable buffer is
 * several times slower per access, DESIGN.md) and rebuilt when another
 * thread has grown the buffer.
 *
 * @module
 */
import { MAP_CONTROL_BYTES, MapWord } from './layout.js'

/** The views one thread uses to read and write a map's memory. */
export class MapMemory {
  /** Control words. */
  readonly ctl: Int32Array
  /** Control Float64 fields. */
  readonly ctlF64: Float64Array
  /** The map's hash seed (set once by create: layout.ts, hashKey). */
  readonly seed: number
  /** Data views, covering the data buffer as it was at the last {@link refresh}. */
  d8!: Uint8Array
  d16!: Uint16Array
  d32!: Int32Array
  f64!: Float64Array

  constructor(
    control: SharedArrayBuffer,
    byteOffset: number,
    readonly data: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control, byteOffset, MAP_CONTROL_BYTES / 4)
    this.ctlF64 = new Float64Array(control, byteOffset, MAP_CONTROL_BYTES / 8)
    this.seed = Atomics.load(this.ctl, MapWord.SEED)
    this.rebuild()
  }

  /** Rebuilds the data views if the buffer grew; true if it did. */
  refresh(): boolean {
    if (this.d8.length === this.data.byteLength) return false
    this.rebuild()
    return true
  }

  /**
   * With the writers' lock held: makes the views reach every block of the
   * map (all lie below TOP), rebuilding them if another writer grew the
   * buffer past them. Cheaper than {@link refresh} on a commit's path: a
   * growable buffer's `byteLength` is a synchronizing read, TOP a plain one
   * (the lock orders it). A commit that allocates past the views extends
   * them itself (`MapTable.alloc`).
   */
  coverTop(): void {
    if (this.ctl[MapWord.TOP]! > this.d8.length) this.rebuild()
  }

  private rebuild(): void {
    const n = this.data.byteLength
    this.d8 = new Uint8Array(this.data, 0, n)
    this.d16 = new Uint16Array(this.data, 0, n >> 1)
    this.d32 = new Int32Array(this.data, 0, n >> 2)
    this.f64 = new Float64Array(this.data, 0, n >> 3)
  }
}
