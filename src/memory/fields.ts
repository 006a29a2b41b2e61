/**
 * Building a shared-memory layout from byte sizes, checked.
 *
 * Each object kind lays out its region once, in its `layout.ts`, with a
 * {@link LayoutPlan}: fields are appended (aligned to their size) or placed
 * at a chosen byte (a cache line of their own), and every Int32 / Float64 /
 * BigInt64 index the code uses is derived from the field's byte offset.
 * {@link LayoutPlan.finish} refuses, when the module loads, a plan whose
 * fields overlap, are misaligned or do not fit its size, so a field added in
 * the wrong place fails every test at once instead of corrupting a neighbour.
 * Every finished plan is kept in {@link LAYOUTS} for the layout test.
 *
 * @module
 */
import { Header } from './layout.js'

/** One field of a layout: where it is and how many bytes it takes. */
export interface FieldSpan {
  /** Field name, as the layout's constants call it. */
  readonly name: string
  /** Byte offset from the region start. */
  readonly byte: number
  /** Bytes it occupies. */
  readonly bytes: number
}

/** A finished layout: its fields and size. */
export interface LayoutSpans {
  /** Kind (and part) it lays out, e.g. `'SharedMap control'`. */
  readonly kind: string
  /** Every field, in plan order. */
  readonly fields: readonly FieldSpan[]
  /** Bytes of the region (fields end at or before it). */
  readonly bytes: number
}

/** Every layout finished so far, by kind. */
export const LAYOUTS = new Map<string, LayoutSpans>()

/** The common region header (MAGIC, TYPE_TAG, LAYOUT_VERSION, BYTE_LENGTH). */
export const HEADER_BYTES = Header.WORDS * 4

/** Int32 index of a byte offset (4-aligned). */
export function i32At(byte: number): number {
  return byte >> 2
}

/** Float64 / BigInt64 index of a byte offset (8-aligned). */
export function f64At(byte: number): number {
  return byte >> 3
}

/** Lays out a region field by field; see the module comment. */
export class LayoutPlan {
  private readonly spans: FieldSpan[] = []
  private cursor: number

  /**
   * @param kind names the layout in errors and in {@link LAYOUTS}
   * @param header whether the region starts with the common header (16 bytes)
   */
  constructor(
    readonly kind: string,
    header = true,
  ) {
    this.cursor = 0
    if (header) this.area('header', HEADER_BYTES, 8)
  }

  /** Appends an Int32 field; returns its byte offset. */
  i32(name: string): number {
    return this.area(name, 4, 4)
  }

  /** Appends a Float64 field; returns its byte offset. */
  f64(name: string): number {
    return this.area(name, 8, 8)
  }

  /** Appends a BigInt64 field; returns its byte offset. */
  i64(name: string): number {
    return this.area(name, 8, 8)
  }

  /** Appends `bytes` bytes aligned to `align`; returns the byte offset. */
  area(name: string, bytes: number, align = 8): number {
    const byte = Math.ceil(this.cursor / align) * align
    return this.at(name, byte, bytes)
  }

  /** Places a field at a chosen byte (e.g. a cache line of its own); later appends go after it. */
  at(name: string, byte: number, bytes: number): number {
    this.spans.push({ name, byte, bytes })
    this.cursor = Math.max(this.cursor, byte + bytes)
    return byte
  }

  /** Bytes used so far (the end of the furthest field). */
  get end(): number {
    return this.cursor
  }

  /**
   * Checks the plan and records it in {@link LAYOUTS}.
   * @param bytes the region's size (default: the end of the last field)
   * @returns the size
   * @throws Error if two fields overlap, a field is misaligned or one does not fit
   */
  finish(bytes = this.cursor): number {
    checkSpans(this.kind, this.spans, bytes)
    LAYOUTS.set(this.kind, { kind: this.kind, fields: [...this.spans], bytes })
    return bytes
  }
}

/** Throws if `fields` overlap, are misaligned (Int32 on 4, wider on 8) or pass `bytes`. */
export function checkSpans(kind: string, fields: readonly FieldSpan[], bytes: number): void {
  const sorted = [...fields].sort((a, b) => a.byte - b.byte)
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i]!
    const align = f.bytes >= 8 ? 8 : 4
    if (f.byte < 0 || f.bytes < 0 || f.byte % align !== 0) {
      throw new Error(`threadstate layout ${kind}: expected field ${f.name} aligned to ${align} bytes, got byte ${f.byte}`)
    }
    if (f.byte + f.bytes > bytes) {
      throw new Error(`threadstate layout ${kind}: expected field ${f.name} within ${bytes} bytes, got it ending at ${f.byte + f.bytes}`)
    }
    const next = sorted[i + 1]
    if (next !== undefined && f.byte + f.bytes > next.byte) {
      throw new Error(`threadstate layout ${kind}: expected fields apart, got ${f.name} (${f.byte}..${f.byte + f.bytes}) overlapping ${next.name} at ${next.byte}`)
    }
  }
}
