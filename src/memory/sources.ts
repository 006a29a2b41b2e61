/**
 * Interned source names ("estimator", "sim", ...) kept in a shared table, so
 * each published version stores a small id instead of a string, and counts
 * per source are summed in shared memory. Used by StateBuffer and
 * SnapshotStore.
 *
 * ```
 *  8 entries of 32 bytes at `area`:
 *    [count f64 | name length i32 | pad | 20 bytes UTF-8 name]
 *  plus one Int32 word USED (entries taken), written under the writer lock.
 * ```
 *
 * @module
 */
import { OptionError, describe } from '../errors.js'

/** Layout of the source table. */
export const Source = {
  MAX: 8,
  BYTES: 32,
  /** Float64 index within an entry. */
  COUNT: 0,
  /** Int32 index within an entry. */
  LENGTH: 2,
  /** Byte offset of the UTF-8 name within an entry. */
  NAME: 12,
  NAME_BYTES: 20,
  /** Bytes of the whole table. */
  TABLE_BYTES: 8 * 32,
} as const

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** One thread's view of a source table. */
export class SourceTable {
  private readonly words: Int32Array
  private readonly f64: Float64Array
  private readonly bytes: Uint8Array
  private readonly area: number
  private readonly usedWord: number
  private readonly ids = new Map<string, number>()
  private readonly names = new Map<number, string>()

  /**
   * @param buffer the object's memory, `byteOffset` where its region starts
   * @param area byte offset of the table from the region start (multiple of 8)
   * @param usedWord Int32 index (from the region start) of the USED word
   */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, area: number, usedWord: number) {
    this.words = new Int32Array(buffer, byteOffset, (area + Source.TABLE_BYTES) / 4)
    this.f64 = new Float64Array(buffer, byteOffset, (area + Source.TABLE_BYTES) / 8)
    this.bytes = new Uint8Array(buffer, byteOffset, area + Source.TABLE_BYTES)
    this.area = area
    this.usedWord = usedWord
  }

  /**
   * The id of `name` (1..8), adding it if new. Call holding the writer lock.
   * @throws OptionError for a non-string, a name over 20 UTF-8 bytes, or a ninth name
   */
  intern(name: string, what: string): number {
    const cached = this.ids.get(name)
    if (cached !== undefined) return cached
    if (typeof name !== 'string') throw new OptionError(`Expected \`source\` to be a string, got ${describe(name)}`)
    const bytes = encoder.encode(name)
    if (bytes.length > Source.NAME_BYTES) {
      throw new OptionError(`Expected \`source\` of at most ${Source.NAME_BYTES} UTF-8 bytes, got ${bytes.length} (${JSON.stringify(name)})`)
    }
    const used = Atomics.load(this.words, this.usedWord)
    for (let id = 1; id <= used; id++) {
      if (this.name(id) === name) {
        this.ids.set(name, id)
        return id
      }
    }
    if (used >= Source.MAX) {
      throw new OptionError(`Expected at most ${Source.MAX} distinct sources per ${what}, got a new one: ${JSON.stringify(name)}`)
    }
    const entry = this.area + used * Source.BYTES
    this.bytes.set(bytes, entry + Source.NAME)
    Atomics.store(this.words, entry / 4 + Source.LENGTH, bytes.length)
    // Published last: a reader that sees USED > id finds the whole name.
    Atomics.store(this.words, this.usedWord, used + 1)
    this.ids.set(name, used + 1)
    return used + 1
  }

  /** Counts one publication by source `id` (call holding the writer lock). */
  count(id: number): void {
    if (id !== 0) this.f64[(this.area + (id - 1) * Source.BYTES) / 8 + Source.COUNT]!++
  }

  /** Name of source `id`; undefined for 0 (no source). */
  name(id: number): string | undefined {
    // Out of range only in scribbled memory: no name rather than a read outside the table.
    if (!(id >= 1 && id <= Source.MAX)) return undefined
    let name = this.names.get(id)
    if (name === undefined) {
      const entry = this.area + (id - 1) * Source.BYTES
      const length = Math.min(Math.max(Atomics.load(this.words, entry / 4 + Source.LENGTH), 0), Source.NAME_BYTES)
      // Copy out of shared memory first: not every TextDecoder takes shared views.
      name = decoder.decode(this.bytes.slice(entry + Source.NAME, entry + Source.NAME + length))
      this.names.set(id, name)
    }
    return name
  }

  /** Publications per source name. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {}
    const used = Math.min(Atomics.load(this.words, this.usedWord), Source.MAX)
    for (let id = 1; id <= used; id++) {
      out[this.name(id)!] = this.f64[(this.area + (id - 1) * Source.BYTES) / 8 + Source.COUNT]!
    }
    return out
  }
}
