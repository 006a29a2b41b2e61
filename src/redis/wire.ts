/**
 * How map keys and values are stored on the server (binary-safe Redis
 * strings), and the one blob a commit sends: its changes, which the commit
 * script both applies and appends to the object's stream unchanged, so
 * every process's bridge decodes exactly what was applied.
 *
 * - A key is its UTF-8 bytes when it is well-formed UTF-16 (readable with
 *   redis-cli); otherwise (a lone surrogate) 0xFF, which never starts UTF-8,
 *   then its UTF-16LE code units. Lossless both ways.
 * - A value is a SharedMap `Prepared` value: [tag][flags][payload]: a
 *   Float64 LE (NUMBER), UTF-16LE code units (STRING, lossless for any JS
 *   string), MessagePack (PACKED), or nothing. Never empty: the empty string
 *   means "deleted" in a change.
 * - A change blob: repeated [u32 LE key length][key][u32 LE value length][value],
 *   value length 0 for a delete. Parsed by the commit script with `struct`.
 *
 * @module
 */
import { ThreadstateError } from '../errors.js'
import { ValueTag } from '../map/layout.js'
import { DELETE, type Changes, type Prepared } from '../map/value.js'

const UTF16_KEY = 0xff

/** A key's bytes on the server. */
export function keyBytes(key: string): Buffer {
  if (key.isWellFormed()) return Buffer.from(key, 'utf8')
  const units = Buffer.from(key, 'utf16le')
  const out = Buffer.allocUnsafe(units.length + 1)
  out[0] = UTF16_KEY
  units.copy(out, 1)
  return out
}

/** The key whose bytes these are (the inverse of {@link keyBytes}). */
export function keyFrom(bytes: Buffer): string {
  if (bytes.length > 0 && bytes[0] === UTF16_KEY) return bytes.toString('utf16le', 1)
  return bytes.toString('utf8')
}

const FIXED: Record<number, Prepared> = {
  [ValueTag.UNDEFINED]: { tag: ValueTag.UNDEFINED, flags: 0, length: 0, number: 0, string: '', bytes: undefined },
  [ValueTag.NULL]: { tag: ValueTag.NULL, flags: 0, length: 0, number: 0, string: '', bytes: undefined },
  [ValueTag.FALSE]: { tag: ValueTag.FALSE, flags: 0, length: 0, number: 0, string: '', bytes: undefined },
  [ValueTag.TRUE]: { tag: ValueTag.TRUE, flags: 0, length: 0, number: 0, string: '', bytes: undefined },
}

/** A prepared value's bytes on the server (never empty). */
export function valueBytes(value: Prepared): Buffer {
  switch (value.tag) {
    case ValueTag.NUMBER: {
      const out = Buffer.allocUnsafe(10)
      out[0] = value.tag
      out[1] = 0
      out.writeDoubleLE(value.number, 2)
      return out
    }
    case ValueTag.STRING: {
      const out = Buffer.allocUnsafe(2 + 2 * value.string.length)
      out[0] = value.tag
      out[1] = 0
      out.write(value.string, 2, 'utf16le')
      return out
    }
    case ValueTag.PACKED: {
      const out = Buffer.allocUnsafe(2 + value.bytes!.length)
      out[0] = value.tag
      out[1] = value.flags
      out.set(value.bytes!, 2)
      return out
    }
    default:
      return Buffer.from([value.tag, 0])
  }
}

/** The prepared value these bytes hold (the inverse of {@link valueBytes}). */
export function valueFrom(bytes: Buffer): Prepared {
  const tag = bytes[0]!
  switch (tag) {
    case ValueTag.NUMBER:
      return { tag, flags: 0, length: 8, number: bytes.readDoubleLE(2), string: '', bytes: undefined }
    case ValueTag.STRING: {
      const string = bytes.toString('utf16le', 2)
      return { tag, flags: 0, length: 2 * string.length, number: 0, string, bytes: undefined }
    }
    case ValueTag.PACKED: {
      const packed = new Uint8Array(bytes.subarray(2))
      return { tag, flags: bytes[1]!, length: packed.length, number: 0, string: '', bytes: packed }
    }
    default: {
      const fixed = FIXED[tag]
      if (fixed === undefined) throw new ThreadstateError(`Expected a stored threadstate value, got one with tag ${tag}: the key holds something else`)
      return fixed
    }
  }
}

/** A commit's changes as the blob the commit script applies and logs. */
export function changesBlob(changes: Changes): Buffer {
  const parts: Buffer[] = []
  let bytes = 0
  for (const [key, value] of changes) {
    const k = keyBytes(key)
    const v = value === DELETE ? undefined : valueBytes(value)
    const head = Buffer.allocUnsafe(4)
    head.writeUInt32LE(k.length)
    const mid = Buffer.allocUnsafe(4)
    mid.writeUInt32LE(v === undefined ? 0 : v.length)
    parts.push(head, k, mid)
    bytes += 8 + k.length
    if (v !== undefined) {
      parts.push(v)
      bytes += v.length
    }
  }
  return Buffer.concat(parts, bytes)
}

/** The changes in a blob (the inverse of {@link changesBlob}). */
export function changesFrom(blob: Buffer): Changes {
  const changes: (readonly [string, Prepared | typeof DELETE])[] = []
  for (let at = 0; at < blob.length; ) {
    const kl = blob.readUInt32LE(at)
    const key = keyFrom(blob.subarray(at + 4, at + 4 + kl))
    at += 4 + kl
    const vl = blob.readUInt32LE(at)
    at += 4
    changes.push([key, vl === 0 ? DELETE : valueFrom(blob.subarray(at, at + vl))])
    at += vl
  }
  return changes
}
