/**
 * Handles: the plain, structured-cloneable description of a shared object
 * that travels in `workerData` or `postMessage`, and the checks `attach()`
 * runs on one before touching its memory.
 *
 * @module
 */
import { HandleError, ThreadstateError, describe } from '../errors.js'
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

/** The message of something thrown, whatever it is (a hostile value's getters may throw too). */
function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    return 'an unprintable value'
  }
}

/**
 * The error for a shared object, or a structured-clone copy of one, given
 * where its handle belongs: such a value has a `handle` field that is a
 * threadstate handle. A copy is what a worker gets when the object itself
 * is put in `workerData` or `postMessage` (for the objects whose fields all
 * clone): its fields without its class, so no method works and getters
 * read `undefined`. Saying so here turns that silent dead copy into an
 * error at the first `attach`.
 */
function objectInsteadOfHandle(value: object, type: TypeName): HandleError | undefined {
  let kind: unknown
  try {
    const inner: unknown = (value as { handle?: unknown }).handle
    if (typeof inner !== 'object' || inner === null) return undefined
    if ((inner as { threadstate?: unknown }).threadstate !== HANDLE_FORMAT) return undefined
    kind = (inner as { type?: unknown }).type
  } catch {
    return undefined // a hostile value: the checks that follow refuse it
  }
  const name = typeof kind === 'string' ? kind : type
  const variable = name.charAt(0).toLowerCase() + name.slice(1)
  return new HandleError(
    `Expected a ${type} handle, got a ${name} object or a copy of one (workerData and postMessage copy an object's fields, not its class, so a worker gets a dead copy): send \`.handle\`, then attach: \`workerData: { ${variable}: ${variable}.handle }\`, and \`${name}.attach(workerData.${variable})\` in the worker`,
  )
}

/**
 * A plain copy of a handle: `structuredClone` of it, the copy a worker gets
 * through `postMessage`. Every field is read once, here: a getter cannot
 * answer one value to the checks and another to the code that uses the
 * handle, and a Proxy, a function or a getter that throws is a
 * `HandleError`. The copy shares the handle's SharedArrayBuffers (same
 * memory). `attach()` checks and uses only the copy.
 * @throws HandleError if `value` is not an object or cannot be copied
 */
export function copyHandle(value: unknown, type: TypeName): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) {
    throw new HandleError(`Expected a ${type} handle, got ${describe(value)}`)
  }
  const instead = objectInsteadOfHandle(value, type)
  if (instead) throw instead
  let copy: unknown
  try {
    copy = structuredClone(value)
  } catch (error) {
    throw new HandleError(`Expected a ${type} handle of plain, structured-cloneable data, got one that cannot be copied: ${messageOf(error)}`)
  }
  if (typeof copy !== 'object' || copy === null || Array.isArray(copy)) {
    throw new HandleError(`Expected a ${type} handle, got ${describe(copy)}`)
  }
  return copy as Record<string, unknown>
}

/**
 * Runs an `attach()` body: any failure that is not already a threadstate
 * error (a RangeError from a view over forged offsets, a TypeError from a
 * forged field) becomes a `HandleError`, so bad handles fail one way.
 */
export function attaching<R>(type: TypeName, body: () => R): R {
  try {
    return body()
  } catch (error) {
    if (error instanceof ThreadstateError) throw error
    throw new HandleError(`Expected a valid ${type} handle, got one that fails when attached: ${messageOf(error)}`)
  }
}

/**
 * Checks that `value` is a handle of `type` with the expected region size and
 * that the memory it points at carries the matching header. Throws
 * `HandleError` saying what was expected and what came.
 * @returns a plain copy of the handle ({@link copyHandle}): use it, never `value`
 */
export function checkHandle<T extends TypeName>(
  value: unknown,
  type: T,
  expectedByteLength: number,
): Handle<T> {
  const what = `a ${type} handle`
  const h = copyHandle(value, type)
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
  return h as unknown as Handle<T>
}
