/**
 * The Mutex-guarded shared map the SharedMap benches compare against: what a
 * user hand-rolls when a plain `Map` per thread is not shared. A fixed
 * open-addressing hash table in one SharedArrayBuffer, every value encoded
 * with msgpackr's plain `pack` and decoded with `unpack` (the two functions
 * its README starts with), one threadstate `Mutex` around every access:
 *
 * ```
 *  slot i at byte i × SLOT_BYTES (capacity slots, a power of two; linear probing)
 *    Int32 +0   key length + 1 (0: empty)
 *    Int32 +4   hash of the key (FNV-1a over UTF-16 units)
 *    Int32 +8   value length in bytes
 *    +12        key as UTF-16, at most KEY_UNITS units
 *    +60        value bytes (MessagePack), at most VALUE_BYTES
 * ```
 *
 * - `get`: hash, lock, probe, copy the value bytes out (`slice`), unlock,
 *   `unpack` the copy. Decoding after the unlock keeps the critical section
 *   short, as one should.
 * - `set`: `pack` before the lock, then lock, probe (insert if new), copy the
 *   bytes in, unlock. `update` packs every value first and writes them all
 *   under one lock, so it is atomic as SharedMap's is.
 *
 * No deletes, no growth, no versions, no change events: a baseline, sized up
 * front for the bench's keys. Plain typed-array accesses are ordered by the
 * Mutex's atomics.
 *
 * @module
 */
import { pack, unpack } from 'msgpackr/pack' // the build src/encoding/values.ts uses (no native extractor)
import { Mutex, type MutexHandle } from 'threadstate'

/** Longest key, in UTF-16 units. */
const KEY_UNITS = 24
/** Longest encoded value, in bytes. */
const VALUE_BYTES = 64
const KEY_AT = 12
const VALUE_AT = KEY_AT + 2 * KEY_UNITS
/** Bytes of a slot (a multiple of 8). */
const SLOT_BYTES = 128

/** What another thread needs to attach a {@link MutexTable}. */
export interface MutexTableHandle {
  readonly buffer: SharedArrayBuffer
  readonly mutex: MutexHandle
}

function hashOf(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h | 0
}

/** A Mutex-guarded fixed hash table of msgpackr-encoded values. Baseline only. */
export class MutexTable<V> {
  readonly handle: MutexTableHandle
  private readonly mutex: Mutex
  private readonly u8: Uint8Array
  private readonly u16: Uint16Array
  private readonly i32: Int32Array
  private readonly mask: number

  private constructor(handle: MutexTableHandle) {
    this.handle = handle
    this.mutex = Mutex.attach(handle.mutex)
    this.u8 = new Uint8Array(handle.buffer)
    this.u16 = new Uint16Array(handle.buffer)
    this.i32 = new Int32Array(handle.buffer)
    const capacity = handle.buffer.byteLength / SLOT_BYTES
    if ((capacity & (capacity - 1)) !== 0) throw new Error(`Expected a power-of-two number of slots, got ${capacity}`)
    this.mask = capacity - 1
  }

  /** An empty table of `capacity` slots (rounded up to a power of two). */
  static create<V>(capacity: number): MutexTable<V> {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(8, capacity)))
    return new MutexTable<V>({ buffer: new SharedArrayBuffer(slots * SLOT_BYTES), mutex: Mutex.create().handle })
  }

  /** The same table in another thread. */
  static attach<V>(handle: MutexTableHandle): MutexTable<V> {
    return new MutexTable<V>(handle)
  }

  /** The value of `key` (decoded from a private copy of its bytes), or undefined. */
  get(key: string): V | undefined {
    const hash = hashOf(key)
    let bytes: Uint8Array
    this.mutex.lock()
    try {
      const slot = this.find(key, hash)
      if (slot < 0) return undefined
      const at = slot * SLOT_BYTES
      bytes = this.u8.slice(at + VALUE_AT, at + VALUE_AT + this.i32[(at >> 2) + 2]!)
    } finally {
      this.mutex.unlock()
    }
    return unpack(bytes) as V
  }

  /** Sets `key` to `value`. */
  set(key: string, value: V): void {
    const hash = hashOf(key)
    const bytes = this.encode(key, value)
    this.mutex.lock()
    try {
      this.write(key, hash, bytes)
    } finally {
      this.mutex.unlock()
    }
  }

  /** Sets every entry under one lock (values encoded before it is taken). */
  update(entries: readonly (readonly [string, V])[]): void {
    const encoded = entries.map(([key, value]) => this.encode(key, value))
    this.mutex.lock()
    try {
      for (let i = 0; i < entries.length; i++) {
        const key = entries[i]![0]
        this.write(key, hashOf(key), encoded[i]!)
      }
    } finally {
      this.mutex.unlock()
    }
  }

  private encode(key: string, value: V): Uint8Array {
    if (key.length > KEY_UNITS) throw new Error(`Expected a key of at most ${KEY_UNITS} UTF-16 units, got ${key.length}`)
    const bytes = pack(value)
    if (bytes.length > VALUE_BYTES) throw new Error(`Expected a value of at most ${VALUE_BYTES} encoded bytes, got ${bytes.length}`)
    return bytes
  }

  /** Lock held: writes `bytes` into the slot of `key`, claiming an empty one for a new key. */
  private write(key: string, hash: number, bytes: Uint8Array): void {
    let slot = this.find(key, hash)
    const i32 = this.i32
    if (slot < 0) {
      slot = -1 - slot
      const at = slot * SLOT_BYTES
      i32[(at >> 2) + 1] = hash
      const k = (at + KEY_AT) >> 1
      for (let j = 0; j < key.length; j++) this.u16[k + j] = key.charCodeAt(j)
      i32[at >> 2] = key.length + 1
    }
    const at = slot * SLOT_BYTES
    this.u8.set(bytes, at + VALUE_AT)
    i32[(at >> 2) + 2] = bytes.length
  }

  /** Lock held: the slot of `key`, or -1 - (the empty slot where it would go). */
  private find(key: string, hash: number): number {
    const i32 = this.i32
    const u16 = this.u16
    const n = key.length
    for (let probe = 0, i = hash & this.mask; probe <= this.mask; probe++, i = (i + 1) & this.mask) {
      const w = i * (SLOT_BYTES >> 2)
      const used = i32[w]!
      if (used === 0) return -1 - i
      if (used !== n + 1 || i32[w + 1] !== hash) continue
      const k = (i * SLOT_BYTES + KEY_AT) >> 1
      let same = true
      for (let j = 0; j < n; j++) {
        if (u16[k + j] !== key.charCodeAt(j)) {
          same = false
          break
        }
      }
      if (same) return i
    }
    throw new Error(`Expected a free slot for ${key}, got a full table of ${this.mask + 1} slots`)
  }
}
