/**
 * The decoder of the bytes the encoder's walk writes itself (values.ts,
 * SMALL VALUES): MessagePack maps, arrays, strings, numbers, booleans, nil
 * and msgpackr's `undefined`, nothing else. A snapshot or map value of a
 * few dozen objects is read back here, each object and array frozen as it
 * is built when the caller wants it frozen; anything else (an extension a
 * value written by msgpackr carries, a key that is not a string or is
 * `__proto__`, UTF-8 that does not decode, bytes that end early or late) is
 * answered {@link NOT_OURS}, and the caller decodes with msgpackr as before.
 *
 * Written by hand because msgpackr's pure-JS decoder (the build values.ts
 * uses) keeps its key cache for buffers under 180 bytes only: in a 2 KB
 * value every key is decoded anew, and every property is then defined with
 * a key string V8 has not seen, so it must look each one up in its string
 * table. This decoder keeps every short string it decodes (keys and values:
 * status strings repeat as much as keys do) in a table found by length and
 * first, middle and last bytes, so a repeated string costs a byte compare
 * and comes back as the same string. Measured on the 2 KB status of the
 * snapshot bench, a frozen decode: 5.5 us, against 9.1 us for msgpackr plus
 * freezeTree and 8.2 us for `JSON.parse` of its JSON. (By length and first
 * two bytes, as msgpackr finds keys, ids such as `id-1x2` all took a few
 * places and pushed each other out: 60 of them decoded in 5.0 us, 1.5 us
 * now.)
 *
 * @module
 */

/** What {@link decodeMaps} answers for bytes it does not read: decode them with msgpackr. */
export const NOT_OURS: unique symbol = Symbol('threadstate.notOurs')

/** Thrown inside the decoder for what it does not read (caught by {@link decodeMaps}). */
const UNREAD = { unread: true }

/** Strings up to this many bytes are kept in {@link strings}. */
const CACHED_BYTES = 32

/** A string kept with the bytes it was decoded from. */
interface Kept {
  readonly bytes: Uint8Array
  readonly string: string
}

/** Short strings decoded so far in this thread, at a hash of their length and first, middle and last bytes (4096 places, the newest wins). */
const strings: (Kept | undefined)[] = new Array<Kept | undefined>(4096).fill(undefined)

const utf8 = new TextDecoder('utf-8', { fatal: true })
const fromCharCode = String.fromCharCode

// The decode in progress (one at a time in a thread: it is synchronous and calls no user code).
let src: Uint8Array = new Uint8Array(0)
let view: DataView = new DataView(src.buffer)
let at = 0
let freezing = false

/**
 * Decodes the bytes `start..end` of `bytes` (after the maps form's mark
 * byte), every object and array frozen if `freeze`.
 * @returns the value, or {@link NOT_OURS} for bytes this decoder does not read
 */
export function decodeMaps(bytes: Uint8Array, start: number, end: number, freeze: boolean): unknown {
  if (bytes !== src) {
    src = bytes
    view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  at = start
  freezing = freeze
  let value: unknown
  try {
    value = read()
  } catch (error) {
    // UNREAD, a RangeError of the DataView or of the stack (forged nesting), a TypeError of the UTF-8 decoder.
    if (error === UNREAD || error instanceof RangeError || error instanceof TypeError) return NOT_OURS
    throw error
  }
  return at === end ? value : NOT_OURS
}

function read(): unknown {
  const b = src[at++]
  if (b === undefined) throw UNREAD
  if (b < 0x80) return b
  if (b < 0x90) return map(b - 0x80)
  if (b < 0xa0) return array(b - 0x90)
  if (b < 0xc0) return string(b - 0xa0)
  if (b >= 0xe0) return b - 0x100
  let v: number
  switch (b) {
    case 0xc0:
      return null
    case 0xc2:
      return false
    case 0xc3:
      return true
    case 0xcb:
      v = view.getFloat64(at)
      at += 8
      return v
    case 0xcc:
      return src[at++] ?? unread()
    case 0xcd:
      v = view.getUint16(at)
      at += 2
      return v
    case 0xce:
      v = view.getUint32(at)
      at += 4
      return v
    case 0xd0:
      return view.getInt8(at++)
    case 0xd1:
      v = view.getInt16(at)
      at += 2
      return v
    case 0xd2:
      v = view.getInt32(at)
      at += 4
      return v
    case 0xd4:
      // fixext 1 of type 0, data 0: msgpackr's undefined; other fixext 1 are extensions.
      if (src[at] !== 0 || src[at + 1] !== 0) return unread()
      at += 2
      return undefined
    case 0xd9:
      return string(src[at++] ?? unread())
    case 0xda:
      v = view.getUint16(at)
      at += 2
      return string(v)
    case 0xdb:
      v = view.getUint32(at)
      at += 4
      return string(v)
    case 0xdc:
      v = view.getUint16(at)
      at += 2
      return array(v)
    case 0xdd:
      v = view.getUint32(at)
      at += 4
      return array(v)
    case 0xde:
      v = view.getUint16(at)
      at += 2
      return map(v)
    case 0xdf:
      v = view.getUint32(at)
      at += 4
      return map(v)
    default:
      return unread()
  }
}

function unread(): never {
  throw UNREAD
}

function map(n: number): object {
  const object: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) {
    const key = readKey()
    object[key] = read()
  }
  return freezing ? Object.freeze(object) : object
}

function array(n: number): unknown {
  // Forged lengths end in UNREAD (or past `end`) long before they allocate much: elements are pushed as read.
  const out: unknown[] = []
  for (let i = 0; i < n; i++) out.push(read())
  return freezing ? Object.freeze(out) : out
}

/** A key: a string, and never `__proto__` (the encoder never writes one in this form; msgpackr renames it). */
function readKey(): string {
  const b = src[at++]
  let n: number
  if (b !== undefined && b >= 0xa0 && b < 0xc0) n = b - 0xa0
  else if (b === 0xd9) n = src[at++] ?? unread()
  else if (b === 0xda) {
    n = view.getUint16(at)
    at += 2
  } else return unread()
  const key = string(n)
  return key === '__proto__' ? unread() : key
}

/** `n` bytes of UTF-8 at `at`. */
function string(n: number): string {
  const p = at
  if (p + n > src.length) return unread()
  if (n > CACHED_BYTES) {
    at = p + n
    return utf8.decode(src.subarray(p, p + n))
  }
  const place = n === 0 ? 0 : ((n << 5) ^ (src[p]! << 4) ^ (src[p + n - 1]! << 8) ^ src[p + (n >> 1)]!) & 0xfff
  const kept = strings[place]
  if (kept !== undefined && kept.bytes.length === n) {
    const bytes = kept.bytes
    let i = 0
    while (i < n && src[p + i] === bytes[i]) i++
    if (i === n) {
      at = p + n
      return kept.string
    }
  }
  const s = shortString(p, n)
  strings[place] = { bytes: src.slice(p, p + n), string: s }
  at = p + n
  return s
}

/**
 * A string of at most CACHED_BYTES bytes at `p`: ASCII by `fromCharCode`,
 * else the UTF-8 decoder (which refuses malformed bytes). One call with the
 * codes as arguments, as msgpackr does: on a miss of the table above (ids,
 * unique names) 1.4x faster than adding one character at a time, 1.7x than
 * `fromCharCode.apply` on a subarray (measured).
 */
function shortString(p: number, n: number): string {
  const s = src
  let high = 0
  for (let i = 0; i < n; i++) high |= s[p + i]!
  if (high >= 0x80) return utf8.decode(s.subarray(p, p + n))
  switch (n) {
    case 0:
      return ''
    case 1:
      return fromCharCode(s[p]!)
    case 2:
      return fromCharCode(s[p]!, s[p + 1]!)
    case 3:
      return fromCharCode(s[p]!, s[p + 1]!, s[p + 2]!)
    case 4:
      return fromCharCode(s[p]!, s[p + 1]!, s[p + 2]!, s[p + 3]!)
    case 5:
      return fromCharCode(s[p]!, s[p + 1]!, s[p + 2]!, s[p + 3]!, s[p + 4]!)
    case 6:
      return fromCharCode(s[p]!, s[p + 1]!, s[p + 2]!, s[p + 3]!, s[p + 4]!, s[p + 5]!)
    case 7:
      return fromCharCode(s[p]!, s[p + 1]!, s[p + 2]!, s[p + 3]!, s[p + 4]!, s[p + 5]!, s[p + 6]!)
  }
  let out = fromCharCode(s[p]!, s[p + 1]!, s[p + 2]!, s[p + 3]!, s[p + 4]!, s[p + 5]!, s[p + 6]!, s[p + 7]!)
  for (let i = 8; i < n; i++) out += fromCharCode(s[p + i]!)
  return out
}
