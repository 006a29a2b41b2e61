/** The value codec: round trips, EncodeError paths, corrupted bytes, property-based round trips. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Packr } from 'msgpackr/pack'
import { NOT_OURS, decodeMaps } from '../src/encoding/maps-decoder.js'
import { DecodeError, EncodeError, MAX_DEPTH, checkEncodable, decode, decodeFrozen, encode, encodeWithFlags } from '../src/encoding/values.js'


describe('value codec', () => {
  it('round-trips JSON-like values plus Date, Map, Set, BigInt, typed arrays, undefined', () => {
    const value = {
      a: 1,
      s: 'héllo ✓',
      nested: { deep: [1, 'two', null, { three: true }] },
      date: new Date(1234567),
      map: new Map<unknown, unknown>([
        ['x', 1],
        [2, { y: new Set([1, 2]) }],
      ]),
      set: new Set(['a', 'b']),
      big: 2n ** 70n,
      floats: new Float64Array([1.5, -0, Number.NaN]),
      bytes: new Uint8Array([1, 2, 3]),
      nothing: undefined,
      empty: {},
      __proto__x: 1,
    }
    const back = decode(encode(value)) as typeof value
    expect(back).toEqual(value)
    expect(back.map).toBeInstanceOf(Map)
    expect(back.set).toBeInstanceOf(Set)
    expect(back.date).toBeInstanceOf(Date)
    expect(back.big).toBe(2n ** 70n)
    expect(back.floats).toBeInstanceOf(Float64Array)
    expect('nothing' in back).toBe(true)
  })

  it('refuses what would not come back, naming the path', () => {
    class Agent {
      x = 1
    }
    const cases: [unknown, string, RegExp][] = [
      [{ agents: [{ onTick: () => 1 }] }, 'agents[0].onTick', /got a function/],
      [{ s: Symbol('x') }, 's', /symbol/],
      [{ list: [1, new Agent()] }, 'list[1]', /got an Agent .*class instance has no encoding/],
      [{ [Symbol('k')]: 1 }, '', /symbol-keyed/],
      [{ m: new Map([['k', () => 0]]) }, 'm.get("k")', /function/],
      [{ shared: new SharedArrayBuffer(8) }, 'shared', /SharedArrayBuffer/],
      [{ 'odd key': { f() {} } }, '["odd key"].f', /function/],
    ]
    for (const [value, path, message] of cases) {
      let error: unknown
      try {
        encode(value)
      } catch (e) {
        error = e
      }
      expect(error, path).toBeInstanceOf(EncodeError)
      expect((error as EncodeError).path).toBe(path)
      expect((error as EncodeError).message).toMatch(message)
    }
  })

  it('keys like __proto__ and constructor are ordinary keys, and nothing is polluted', () => {
    const value = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": 2, "": 3, "list": [{"__proto__": 4}]}')
    const back = decode(encode(value)) as Record<string, unknown>
    expect(Object.keys(back)).toEqual(['__proto__', 'constructor', '', 'list'])
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: 1 })
    expect(Object.keys((back['list'] as object[])[0]!)).toEqual(['__proto__'])
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })

  it('cycles and shared references are fine', () => {
    const shared = { n: 1 }
    const value: Record<string, unknown> = { a: shared, b: shared }
    value['self'] = value
    expect(() => checkEncodable(value)).not.toThrow()
    const back = decode(encode(value)) as Record<string, unknown>
    expect(back['self']).toBe(back)
  })

  it('corrupted bytes are a DecodeError, never a crash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        try {
          decode(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('values of at most 64 plain objects are written as MessagePack maps behind 0xC1, larger ones as records; both decode, frozen or not, and bytes of earlier versions still do', () => {
    const camera = (i: number) => ({ id: `cam-${i}`, ip: '10.0.0.7', online: true, fps: 30, tags: ['a'], at: new Date(i), n: -0 })
    const small = { cameras: Array.from({ length: 63 }, (_, i) => camera(i)) } // 64 plain objects
    const large = { cameras: Array.from({ length: 64 }, (_, i) => camera(i)) } // 65
    const withMap = { m: new Map([['k', camera(1)]]) } // a Map must stay a Map: records
    const shared = { a: camera(1), b: undefined as unknown }
    shared.b = shared.a // a shared reference: structured clone's records
    for (const [value, mapped] of [[small, true], [large, false], [withMap, false], [shared, false], [camera(2), true], [[1, 'x'], true], ['text', true]] as const) {
      const { bytes, flags } = encodeWithFlags(value)
      expect(bytes[0] === 0xc1, JSON.stringify(value)).toBe(mapped)
      expect(decode(bytes)).toEqual(value)
      const frozen = decodeFrozen(bytes, flags)
      expect(frozen).toEqual(value)
      expect(Object.isFrozen(frozen) || typeof frozen !== 'object').toBe(true)
      if (value === small) expect(Object.isFrozen((frozen as typeof small).cameras[62])).toBe(true)
    }
    expect(Object.is((decode(encode(small)) as typeof small).cameras[0]!.n, -0)).toBe(true)
    // Bytes written by earlier versions (records, no mark): persisted files and Redis values keep decoding.
    expect(decode(Buffer.from('d4724093a26964a26f6ea16ea563616d2d37c39201d4724191a17802', 'hex'))).toEqual({ id: 'cam-7', on: true, n: [1, { x: 2 }] })
    expect(decode(Buffer.from('92d4724091a161014002', 'hex'))).toEqual([{ a: 1 }, { a: 2 }])
    // The mark alone, or followed by a byte that is no value, is a DecodeError (msgpackr would answer its C1 token).
    expect(() => decode(Uint8Array.of(0xc1))).toThrow(DecodeError)
    expect(() => decode(Uint8Array.of(0xc1, 0xc1))).toThrow(DecodeError)
    expect(() => decodeFrozen(Uint8Array.of(0xc1, 0xc1), 0)).toThrow(DecodeError)
  })

  it('any JSON value round-trips exactly (property-based; -0 included, which JSON would turn into 0)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(Object.is(value, -0) ? Object.is(decode(encode(value)), -0) : true).toBe(true)
        expect(decode(encode(value))).toEqual(value)
      }),
      { numRuns: 1000 },
    )
  })

  it('round trips are exact or refused (issue 15 items 2 and 12): -0 kept anywhere, lone surrogates and values nested past MAX_DEPTH refused with the path', () => {
    const zeros = { a: -0, list: [0, -0], deep: { m: new Map([['z', -0]]) } }
    const back = decode(encode(zeros)) as typeof zeros
    expect(Object.is(back.a, -0) && Object.is(back.list[1], -0) && Object.is(back.list[0], 0)).toBe(true)
    expect(Object.is(back.deep.m.get('z'), -0)).toBe(true)
    expect(Object.is(decode(encode(-0)), -0)).toBe(true)
    const { bytes, flags } = encodeWithFlags(zeros)
    expect(Object.is((decodeFrozen(bytes, flags) as typeof zeros).list[1], -0)).toBe(true)
    expect(() => encode({ ok: 'fine', bad: ['x', 'a\ud800b'] })).toThrow(expect.objectContaining({ name: 'EncodeError', path: 'bad[1]' }))
    expect(() => encode({ ['k\udc00']: 1 })).toThrow(/lone surrogate/)
    expect(() => encode(new Map([['\ud800', 1]]))).toThrow(EncodeError)
    expect(decode(encode({ emoji: '🚀', ['ключ']: 'значение' }))).toEqual({ emoji: '🚀', ['ключ']: 'значение' })
    // Long strings and keys (written by the runtime's encoder) and short ones (by msgpackr's own loop): each checked as the walk reads it.
    const long = 'x'.repeat(100)
    expect(() => encode({ a: [long + '\udfff'] })).toThrow(expect.objectContaining({ path: 'a[0]' }))
    expect(() => encode({ [long + '\ud800']: 1 })).toThrow(/lone surrogate/)
    expect(() => encode(new Set(['ok', '\udbff']))).toThrow(EncodeError)
    // Bytes that look like a surrogate in binary data are not strings: no error, exact round trip.
    const binary = { bytes: new Uint8Array([0xed, 0xa0, 0x80, 0xed, 0xbf, 0xbf]), s: 'fine' }
    expect(decode(encode(binary))).toEqual(binary)
    const nest = (n: number): unknown => {
      let v: unknown = 'leaf'
      for (let i = 0; i < n; i++) v = i % 2 ? [v] : { v }
      return v
    }
    expect(decode(encode(nest(MAX_DEPTH)))).toEqual(nest(MAX_DEPTH))
    expect(() => encode(nest(MAX_DEPTH + 1))).toThrow(/nested at most 1000 levels/)
    expect(() => encode(nest(50_000))).toThrow(EncodeError) // not a raw RangeError
  })
})

describe('small values: written by the walk itself (the maps form, no msgpackr pack)', () => {
  /** Deep equality where numbers compare with Object.is (-0 and NaN exact) and undefined-valued keys count. */
  const same = (a: unknown, b: unknown): boolean => {
    if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b)
    if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b
    if (Array.isArray(a) !== Array.isArray(b)) return false
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  const edges = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -1.25, 1e300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Infinity, -Infinity, Number.NaN]
  const leaf = fc.oneof(
    fc.constantFrom(...edges),
    fc.double(),
    fc.integer(),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ maxLength: 300 }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
  )
  const key = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 8 })).filter((k) => k !== '__proto__')
  // At most FEW_OBJECTS (64) plain objects: a root object with up to 7 nested ones, arrays of leaves anywhere.
  const small = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(leaf, { maxLength: 20 }), tie('object')),
    object: fc.dictionary(key, fc.oneof(leaf, fc.array(leaf, { maxLength: 20 })), { maxKeys: 20 }),
  }))
  const root = fc.tuple(small.object, fc.array(small.object, { maxLength: 6 })).map(([o, more]) => ({ ...o, more }))

  /** Whether every object and array reachable from `value` is frozen. */
  const deeplyFrozen = (value: unknown): boolean =>
    typeof value !== 'object' || value === null || (Object.isFrozen(value) && Object.values(value).every(deeplyFrozen))

  it('any small value round-trips exactly, through the walk-written bytes, and its frozen read is frozen all the way down (property)', () => {
    fc.assert(
      fc.property(root, (value) => {
        const { bytes, flags } = encodeWithFlags(value)
        expect(bytes[0]).toBe(0xc1) // the maps form, written by the walk
        expect(same(decode(bytes), value)).toBe(true)
        const frozen = decodeFrozen(bytes, flags)
        expect(same(frozen, value)).toBe(true)
        expect(deeplyFrozen(frozen)).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it("the maps form's own decoder (maps-decoder.ts) reads what msgpackr reads, and leaves it every byte string it does not read, corrupted ones included (property)", () => {
    // msgpackr as values.ts configures it for the maps form: the reference. (On malformed UTF-8 its answer
    // depends on its key cache: the same bytes throw once and decode the next time; the maps decoder refuses them.)
    const reference = new Packr({ moreTypes: true, useBigIntExtension: true, useRecords: false, mapsAsObjects: true })
    let unedited = 0
    let readUnedited = 0
    fc.assert(
      fc.property(root, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), (value, edits) => {
        const { bytes, flags } = encodeWithFlags(value)
        for (const [where, byte] of edits) bytes[1 + (where % (bytes.length - 1))] = byte
        // Written by the walk (flags 0: a -0 makes msgpackr write it, with its extension) and not edited: must be read.
        const walkWritten = edits.length === 0 && flags === 0
        if (walkWritten) unedited++
        for (const frozen of [false, true]) {
          const ours = decodeMaps(bytes, 1, bytes.length, frozen)
          if (ours === NOT_OURS) continue
          expect(same(ours, reference.unpack(bytes, { start: 1, end: bytes.length }))).toBe(true)
          if (edits.length === 0) expect(same(ours, value)).toBe(true)
          if (walkWritten) readUnedited++
        }
        // Whichever decoder answers, decode() returns a value or throws DecodeError, nothing else.
        try {
          decode(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 1000 },
    )
    expect(readUnedited).toBe(2 * unedited) // every encoding the walk wrote is read by the maps decoder
  })

  it('the maps decoder keeps short strings by their bytes: strings alike in length and first, middle and last bytes never mix; __proto__ is never a prototype', () => {
    const value = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`ab${String.fromCharCode(65 + (i % 26))}${i}`, `ab${i}`]))
    for (let round = 0; round < 3; round++) expect(decode(encode(value))).toEqual(value)
    // The same place in the table (length 5, bytes 0, 2 and 4 alike), different strings.
    const alike = { list: ['aXbYc', 'aZbWc', 'aXbYc', 'a1b2c', 'aZbWc'] }
    for (let round = 0; round < 3; round++) expect(decode(encode(alike))).toEqual(alike)
    expect(decode(encode({ list: ['ab1', 'ab2', 'ab1', 'é', 'é!', 'x'.repeat(40)] }))).toEqual({ list: ['ab1', 'ab2', 'ab1', 'é', 'é!', 'x'.repeat(40)] })
    // Bytes the encoder never writes: a map with the key __proto__ (msgpackr renames it, as before).
    const forged = Uint8Array.from([0xc1, 0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x81, 0xa1, 0x78, 0x01])
    const decoded = decode(forged) as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(decoded['__proto_']).toEqual({ x: 1 })
  })

  it("a frozen read of the maps form freezes the value's objects, never what Object.prototype lists", () => {
    const value = { a: { b: [{ c: 1 }, [{ d: 'x' }]] }, e: [] }
    const { bytes, flags } = encodeWithFlags(value)
    const extra = { mine: true }
    Object.defineProperty(Object.prototype, 'polluting', { value: extra, enumerable: true, configurable: true, writable: true })
    try {
      const frozen = decodeFrozen(bytes, flags) as typeof value
      expect(deeplyFrozen(frozen)).toBe(true)
      expect(Object.isFrozen(frozen.a.b[1])).toBe(true)
      expect(Object.isFrozen(extra)).toBe(false)
    } finally {
      delete (Object.prototype as { polluting?: unknown }).polluting
    }
  })

  it('every header width: maps of 15/16 and 70,000 keys, arrays of 15/16/70,000, strings of 31/32/255/256/70,000 bytes, ASCII and not', () => {
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))
    const values: unknown[] = [
      keys(15),
      keys(16),
      keys(70_000),
      { a: Array.from({ length: 15 }, (_, i) => i) },
      { a: Array.from({ length: 16 }, (_, i) => -i) },
      { a: Array.from({ length: 70_000 }, (_, i) => i * 1.5) },
      ...[31, 32, 255, 256, 70_000].flatMap((n) => [{ s: 'x'.repeat(n) }, { s: 'é'.repeat(n) }, { [`${'k'.repeat(n)}`]: 'ü' }]),
      { emoji: '👍🏽 ok', mixed: 'abc\u00ff\u0100\uffff', edges },
    ]
    for (const value of values) {
      const bytes = encode(value)
      expect(bytes[0]).toBe(0xc1)
      expect(same(decode(bytes), value)).toBe(true)
    }
  })

  it("msgpackr's form: a short lone surrogate is refused with its path; doubles whose bytes look like one are not strings", () => {
    const deep = { d: new Date(0), list: [{ m: new Map([['k', ['x', 'y\udc00']]]) }] }
    expect(() => encode(deep)).toThrow(expect.objectContaining({ name: 'EncodeError', path: 'list[0].m.get("k")[1]' }))
    expect(() => encode({ d: new Date(0), o: { ['k\ud800']: 1 } })).toThrow(expect.objectContaining({ path: 'o', message: expect.stringMatching(/key/) }))
    expect(() => checkEncodable({ s: new Set(['ok', '\udbff']) })).toThrow(expect.objectContaining({ path: 's.<item 1>' }))
    // A double whose first bytes are ED A5 (a lone surrogate's UTF-8 lead bytes), in a value of records.
    const bytes = new DataView(new ArrayBuffer(8))
    bytes.setUint8(0, 0x3f)
    bytes.setUint8(1, 0xed)
    bytes.setUint8(2, 0xa5)
    const x = bytes.getFloat64(0)
    const many = { list: Array.from({ length: 70 }, (_, i) => ({ i, x, s: 'plain' })) }
    const packed = encode(many)
    expect(packed[0]).not.toBe(0xc1) // records: packed by msgpackr
    expect([...packed].some((b, i) => b === 0xed && packed[i + 1]! >= 0xa0 && packed[i + 1]! <= 0xbf)).toBe(true)
    expect(decode(packed)).toEqual(many)
  })

  it('a lone surrogate in a short string or key is refused with its path, as in the msgpackr form', () => {
    expect(() => encode({ a: { b: 'x\ud800' } })).toThrow(expect.objectContaining({ name: 'EncodeError', path: 'a.b' }))
    expect(() => encode({ list: ['ok', '\udc00'] })).toThrow(expect.objectContaining({ path: 'list[1]' }))
    expect(() => encode({ ['k\ud800']: 1 })).toThrow(EncodeError)
    // The same strings past a Date (msgpackr writes the rest): refused all the same.
    expect(() => encode({ d: new Date(0), a: { b: 'x\ud800' } })).toThrow(expect.objectContaining({ path: 'a.b' }))
  })

  it('what only msgpackr writes switches to its form, and still round-trips: -0, BigInt, Date, Map, a shared object, a 65th object, an own __proto__ key', () => {
    const shared = { x: 1 }
    const values: unknown[] = [
      { z: -0 },
      { b: 10n },
      { d: new Date(5) },
      { m: new Map([[1, 2]]) },
      { s1: shared, s2: shared },
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`o${i}`, { i }])),
      JSON.parse('{"__proto__": {"p": 1}}'),
    ]
    for (const value of values) {
      const bytes = encode(value)
      const back = decode(bytes) as Record<string, unknown>
      expect(back).toEqual(value)
    }
    expect(Object.is((decode(encode({ z: -0 })) as { z: number }).z, -0)).toBe(true)
    const back = decode(encode({ s1: shared, s2: shared })) as { s1: object; s2: object }
    expect(back.s1).toBe(back.s2)
    expect(Object.hasOwn(decode(encode(JSON.parse('{"__proto__": {"p": 1}}'))) as object, '__proto__')).toBe(true)
  })

  it('a getter is read once, and its value is what is written', () => {
    let reads = 0
    const value = {
      get n() {
        reads++
        return reads === 1 ? 7 : 'second read'
      },
    }
    expect(decode(encode(value))).toEqual({ n: 7 })
    expect(reads).toBe(1)
  })
})
