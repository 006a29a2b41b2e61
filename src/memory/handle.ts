/**
 * Handles: the plain, structured-cloneable description of a shared object
 * that travels in `workerData` or `postMessage`, and the checks `attach()`
 * runs on one before touching its memory.
 *
 * @module
 */
import { HandleError, describe } from '../errors.js'
import {
  HANDLE_FORMAT,
  Header,
  LAYOUT_VERSION,
  MAGIC,
  REGION_ALIGN,
  TypeTag,
  type TypeName,
} from './layout.js'

/**
 * A shared object's handle. Plain data only, so it survives structured clone:
 * send it to a worker and rebuild the object there with `X.attach(handle)`.
 *
 * @example
 * ```ts
 * const mutex = Mutex.create()
 * new Worker(url, { workerData: { mutex: mutex.handle } })
 * // in the worker:
 * const mutex = Mutex.attach(workerData.mutex)
 * ```
 */
export interface Handle<T extends TypeName = TypeName> {
  /** Handle format version; also marks the object as a threadstate handle. */
  readonly threadstate: number
  /** Kind of shared object. */
  readonly type: T
  /** Layout version of that kind when the handle was made. */
  readonly layoutVersion: number
  /** The memory the object lives in. */
  readonly buffer: SharedArrayBuffer
  /** Byte offset of the object's region in `buffer`. */
  readonly byteOffset: number
  /** Byte length of the object's region. */
  readonly byteLength: number
  /** The thread-id domain the object's lock words refer to. */
  readonly domain: SharedArrayBuffer
}

/** Where a region lives: a buffer and an aligned byte offset in it. */
export interface Region {
  readonly buffer: SharedArrayBuffer
  readonly byteOffset: number
  readonly byteLength: number
}

/**
 * Allocates a fresh zeroed region for an object of `type` and writes its
 * header. `byteLength` includes the header.
 */
export function allocateRegion(type: TypeName, byteLength: number): Region {
  const buffer = new SharedArrayBuffer(byteLength)
  writeHeader(type, buffer, 0, byteLength)
  return { buffer, byteOffset: 0, byteLength }
}

/** Writes the common header of a region of `type` at `byteOffset`. */
export function writeHeader(
  type: TypeName,
  buffer: SharedArrayBuffer,
  byteOffset: number,
  byteLength: number,
): void {
  const words = new Int32Array(buffer, byteOffset, Header.WORDS)
  Atomics.store(words, Header.TYPE_TAG, TypeTag[type])
  Atomics.store(words, Header.LAYOUT_VERSION, LAYOUT_VERSION[type])
  Atomics.store(words, Header.BYTE_LENGTH, byteLength)
  // MAGIC last: a region whose magic is set has a complete header.
  Atomics.store(words, Header.MAGIC, MAGIC)
}

/** Builds the handle of a region. */
export function makeHandle<T extends TypeName>(
  type: T,
  region: Region,
  domain: SharedArrayBuffer,
): Handle<T> {
  return {
    threadstate: HANDLE_FORMAT,
    type,
    layoutVersion: LAYOUT_VERSION[type],
    buffer: region.buffer,
    byteOffset: region.byteOffset,
    byteLength: region.byteLength,
    domain,
  }
}

/**
 * Checks that `value` is a handle of `type` with the expected region size and
 * that the memory it points at carries the matching header. Throws
 * `HandleError` saying what was expected and what came.
 */
export function checkHandle<T extends TypeName>(
  value: unknown,
  type: T,
  expectedByteLength: number,
): Handle<T> {
  const what = `a ${type} handle`
  if (typeof value !== 'object' || value === null) {
    throw new HandleError(`Expected ${what}, got ${describe(value)}`)
  }
  const h = value as Record<string, unknown>
  if (h['threadstate'] !== HANDLE_FORMAT) {
    throw new HandleError(
      `Expected ${what} (handle format ${HANDLE_FORMAT}), got an object whose \`threadstate\` field is ${describe(h['threadstate'])}: not a threadstate handle, or one from an incompatible version`,
    )
  }
  if (h['type'] !== type) {
    throw new HandleError(`Expected ${what}, got a handle of type ${describe(h['type'])}`)
  }
  if (h['layoutVersion'] !== LAYOUT_VERSION[type]) {
    throw new HandleError(
      `Expected ${what} with layout version ${LAYOUT_VERSION[type]}, got layout version ${describe(h['layoutVersion'])}: the handle was made by another threadstate version`,
    )
  }
  const { buffer, byteOffset, byteLength, domain } = h
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new HandleError(`Expected ${what} whose \`buffer\` is a SharedArrayBuffer, got ${describe(buffer)}`)
  }
  if (!(domain instanceof SharedArrayBuffer)) {
    throw new HandleError(`Expected ${what} whose \`domain\` is a SharedArrayBuffer, got ${describe(domain)}`)
  }
  if (
    typeof byteOffset !== 'number' ||
    !Number.isInteger(byteOffset) ||
    byteOffset < 0 ||
    byteOffset % REGION_ALIGN !== 0
  ) {
    throw new HandleError(
      `Expected ${what} whose \`byteOffset\` is a non-negative multiple of ${REGION_ALIGN}, got ${describe(byteOffset)}`,
    )
  }
  if (byteLength !== expectedByteLength) {
    throw new HandleError(`Expected ${what} of ${expectedByteLength} bytes, got \`byteLength\` ${describe(byteLength)}`)
  }
  if (byteOffset + expectedByteLength > buffer.byteLength) {
    throw new HandleError(
      `Expected ${what} inside its buffer, got bytes ${byteOffset}..${byteOffset + expectedByteLength} of a ${buffer.byteLength}-byte buffer`,
    )
  }
  const words = new Int32Array(buffer, byteOffset, Header.WORDS)
  const magic = Atomics.load(words, Header.MAGIC)
  const tag = Atomics.load(words, Header.TYPE_TAG)
  const version = Atomics.load(words, Header.LAYOUT_VERSION)
  const length = Atomics.load(words, Header.BYTE_LENGTH)
  if (magic !== MAGIC || tag !== TypeTag[type] || version !== LAYOUT_VERSION[type] || length !== expectedByteLength) {
    throw new HandleError(
      `Expected ${what} pointing at a ${type} region (magic 0x${MAGIC.toString(16)}, tag ${TypeTag[type]}, version ${LAYOUT_VERSION[type]}, ${expectedByteLength} bytes), got memory with magic 0x${(magic >>> 0).toString(16)}, tag ${tag}, version ${version}, ${length} bytes: the handle is corrupted or points at the wrong bytes`,
    )
  }
  return value as Handle<T>
}
