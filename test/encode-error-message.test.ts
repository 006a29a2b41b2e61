/**
 * The `EncodeError` a class instance gets lists what a value may contain
 * (src/encoding/values.ts). This file holds that list to the code: every
 * kind the message names round-trips, every kind that round-trips is named,
 * and what is refused (a SharedArrayBuffer, a subclass, an instance) is
 * refused with a message that says so.
 *
 * Broken variant: the message before this change ("Expected a plain object,
 * array, Map, Set, Date or typed array ...", run from HEAD's values.ts)
 * fails 2 of these 6 tests: "names every kind the encoder accepts" (RegExp,
 * ArrayBuffer and DataView are accepted but were not named, nor was what
 * becomes of a Buffer) and the subclass test (it did not say a subclass is
 * refused, and said "got a Error").
 */
import { describe, expect, it } from 'vitest'
import { EncodeError, SharedMap } from '../src/index.js'
import { decode, encode } from '../src/encoding/values.js'

/** A sample of each accepted object kind, keyed by how the message names it. */
const ACCEPTED: Record<string, () => unknown> = {
  'plain object': () => ({ a: 1 }),
  array: () => [1, 2],
  Map: () => new Map([['k', 1]]),
  Set: () => new Set([1]),
  Date: () => new Date(5),
  RegExp: () => /ab+c/giu,
  ArrayBuffer: () => new Uint8Array([1, 2, 3]).buffer,
  DataView: () => new DataView(new Uint8Array([1, 2, 3]).buffer, 1, 2),
  'typed array': () => new Float64Array([1.5, -2]),
}

interface ViewClass {
  new (buffer: ArrayBufferLike): ArrayBufferView
  new (length: number): ArrayBufferView
  readonly BYTES_PER_ELEMENT: number
  readonly name: string
}
const TYPED_ARRAYS: ViewClass[] = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]

/** The message a class instance at `x` gets. */
function instanceMessage(): string {
  try {
    encode({ x: new (class Point {})() })
  } catch (error) {
    expect(error).toBeInstanceOf(EncodeError)
    expect((error as EncodeError).path).toBe('x')
    return (error as EncodeError).message
  }
  throw new Error('a class instance was encoded')
}

/** The kinds the message lists: "Expected a A, B, ... or Z (...) at x". */
function listedKinds(message: string): string[] {
  const list = /^Expected an? (.+?)(?: \([^)]*\))? at x,/.exec(message)?.[1]
  expect(list, message).toBeDefined()
  return list!.split(/, | or /)
}

describe('the EncodeError message lists exactly what a value may contain', () => {
  it('names every kind the encoder accepts', () => {
    const named = listedKinds(instanceMessage())
    expect([...named].sort()).toEqual(Object.keys(ACCEPTED).sort())
    expect(instanceMessage()).toContain('a Node Buffer is taken as a Uint8Array')
    expect(instanceMessage()).toContain('got a Point')
  })

  it('every kind it names round-trips', () => {
    for (const kind of listedKinds(instanceMessage())) {
      const make = ACCEPTED[kind]
      expect(make, `the message names ${kind}, which has no sample here`).toBeDefined()
      const value = make!()
      expect(decode(encode(value)), kind).toEqual(value)
    }
  })

  it('every typed array kind round-trips, also over a SharedArrayBuffer (its bytes are copied)', () => {
    for (const View of TYPED_ARRAYS) {
      const shared = new View(new SharedArrayBuffer(2 * View.BYTES_PER_ELEMENT))
      const back = decode(encode(shared)) as ArrayBufferView
      expect(back, View.name).toBeInstanceOf(View)
      expect(back.buffer).toBeInstanceOf(ArrayBuffer)
      expect(back).toEqual(new View(2))
    }
    const view = decode(encode(new DataView(new SharedArrayBuffer(4)))) as DataView
    expect(view).toBeInstanceOf(DataView)
    expect(view.byteLength).toBe(4)
  })

  it('a Node Buffer comes back as a Uint8Array, as the message says', () => {
    const back = decode(encode(Buffer.from('hi')))
    expect(back).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(back)).toBe(false)
  })

  it('a SharedArrayBuffer is refused: shared memory is not a value', () => {
    const map = SharedMap.create()
    expect(() => map.set('k', { b: new SharedArrayBuffer(4) })).toThrow(
      new EncodeError('b', 'Expected an encodable value at b, got a SharedArrayBuffer (shared memory is not a value: send its handle instead)'),
    )
    expect(map.has('k')).toBe(false)
  })

  it('subclasses of the accepted kinds (but Buffer) and other class instances are refused, saying so', () => {
    const refused: [unknown, string][] = [
      [new (class Bytes extends Uint8Array {})(2), 'got a Bytes'],
      [new (class When extends Date {})(0), 'got a When'],
      [new (class Pattern extends RegExp {})('a'), 'got a Pattern'],
      [new (class Window extends DataView<ArrayBuffer> {})(new ArrayBuffer(2)), 'got a Window'],
      [new Error('boom'), 'got an Error'],
      [new URL('https://example.com/'), 'got a URL'],
    ]
    for (const [value, got] of refused) {
      expect(() => encode({ x: value })).toThrow(EncodeError)
      try {
        encode({ x: value })
      } catch (error) {
        expect((error as Error).message).toContain(got)
        expect((error as Error).message).toContain('a class instance has no encoding, nor has a subclass of those kinds')
      }
    }
  })
})
