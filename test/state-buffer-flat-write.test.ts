/**
 * StateBuffer.publishFrom, the fast write (issue 14 item 2): a flat state is checked word by word
 * and published as `publish` would publish the same state. What it must hold: the same words land
 * in the slot as through `publish` (float32 rounded the same way), every word `publish` would refuse
 * is refused with a SchemaError naming the field and its flat word and nothing is published, and a
 * flat array another thread keeps changing is read once (a refused value never reaches readers).
 */
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { OptionError, SchemaError, StateBuffer, bool, enumOf, f32, f64, i32, quat, schema, u32, vec, vec3, type Infer } from '../src/index.js'

const Drone = schema({
  position: vec3({ unit: 'm' }),
  velocity: vec3({ unit: 'm/s', min: -50, max: 50 }),
  attitude: quat(),
  mode: enumOf(['idle', 'armed', 'flying']),
  battery: f64({ unit: '%', min: 0, max: 100 }),
  armed: bool(),
  gains: { kp: f32(), steps: u32(), offset: i32({ min: -10, max: 10 }) },
})
type DroneState = Infer<typeof Drone>

const state: DroneState = {
  position: [1, 2, 3],
  velocity: [0.5, 0, -1],
  attitude: [1, 0, 0, 0],
  mode: 'flying',
  battery: 87.5,
  armed: true,
  gains: { kp: 0.1, steps: 7, offset: -3 },
}

/** The flat words `publish(s)` stores (read back with readInto). */
function flatOf(s: DroneState): Float64Array {
  const b = StateBuffer.create(Drone)
  b.publish(s)
  const flat = new Float64Array(b.size)
  b.reader().readInto(flat)
  return flat
}

describe('StateBuffer.publishFrom', () => {
  it('publishes the words publish() would: readInto, read() and the metadata agree', () => {
    const flat = flatOf(state)
    const b = StateBuffer.create(Drone)
    expect(b.publishFrom(flat, { timestamp: 1234, source: 'estimator' })).toBe(1)
    const out = new Float64Array(b.size)
    const reader = b.reader()
    expect(reader.readInto(out)).toBe(1)
    expect([...out]).toEqual([...flat])
    const latest = b.latest()!
    expect(latest.value).toEqual({ ...state, gains: { ...state.gains, kp: Math.fround(0.1) } })
    expect(latest.timestamp).toBe(1234)
    expect(latest.source).toBe('estimator')
    expect(b.publishFrom(flat)).toBe(2)
  })

  it('rounds float32 fields as publish() does', () => {
    const flat = flatOf(state)
    const kp = b0().fields.find((f) => f.path === 'gains.kp')!.offset
    flat[kp] = 0.1 // not a float32
    const b = StateBuffer.create(Drone)
    b.publishFrom(flat)
    expect(b.latest()!.value.gains.kp).toBe(Math.fround(0.1))
    expect(b.latest()!.value.gains.kp).toBe(flatOf(state).at(kp))
  })

  it('any valid state: publishFrom of its flat words stores exactly what publish stored (property)', () => {
    const arb = fc.record({
      position: fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true })),
      velocity: fc.tuple(fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: -50, max: 50, noNaN: true })),
      attitude: fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true })),
      mode: fc.constantFrom('idle', 'armed', 'flying'),
      battery: fc.double({ min: 0, max: 100, noNaN: true }),
      armed: fc.boolean(),
      gains: fc.record({ kp: fc.float({ noNaN: true, noDefaultInfinity: true }), steps: fc.nat({ max: 0xffffffff }), offset: fc.integer({ min: -10, max: 10 }) }),
    })
    fc.assert(
      fc.property(arb, (s) => {
        const flat = flatOf(s as DroneState)
        const b = StateBuffer.create(Drone)
        b.publishFrom(flat)
        const out = new Float64Array(b.size)
        b.reader().readInto(out)
        expect(Object.is(out.length, flat.length)).toBe(true)
        for (let i = 0; i < flat.length; i++) expect(Object.is(out[i], flat[i])).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  const b0 = (): StateBuffer<typeof Drone> => StateBuffer.create(Drone)
  const word = (path: string, index = 0): number => b0().fields.find((f) => f.path === path)!.offset + index

  it.each([
    ['position', 1, Number.NaN, /position\[1\]` \(flat word 1\) to be a finite number \(in m/],
    ['position', 2, Number.POSITIVE_INFINITY, /position\[2\]/],
    ['velocity', 0, 51, /velocity\[0\]` \(flat word 3\) to be a number <= 50/],
    ['velocity', 2, -50.5, /a number >= -50/],
    ['mode', 0, 3, /`mode` \(flat word \d+\) to be an index from 0 to 2/],
    ['mode', 0, -1, /an index from 0 to 2/],
    ['mode', 0, 1.5, /an index from 0 to 2/],
    ['battery', 0, 100.5, /`battery` .* a number <= 100/],
    ['armed', 0, 2, /`armed` .* 0 or 1/],
    ['armed', 0, 0.5, /0 or 1/],
    ['gains.kp', 0, 1e39, /float32 range/],
    ['gains.steps', 0, -1, /an unsigned 32-bit integer/],
    ['gains.steps', 0, 2 ** 32, /an unsigned 32-bit integer/],
    ['gains.offset', 0, 1.5, /a 32-bit integer/],
    ['gains.offset', 0, 11, /a number <= 10/],
  ] as const)('refuses %s[%i] = %d with a SchemaError naming it, and publishes nothing', (path, index, value, message) => {
    const b = StateBuffer.create(Drone)
    const good = flatOf(state)
    b.publishFrom(good)
    const flat = flatOf(state)
    flat[word(path, index)] = value
    let error: unknown
    try {
      b.publishFrom(flat)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SchemaError)
    expect((error as SchemaError).message).toMatch(message)
    expect((error as SchemaError).path).toBe(path.includes('.') || index === 0 && !['position', 'velocity'].includes(path) ? path : `${path}[${index}]`)
    expect(b.version).toBe(1)
    const out = new Float64Array(b.size)
    b.reader().readInto(out)
    expect([...out]).toEqual([...good])
    // The refused words went into the slot of the next version, never published; the next write fills it in full.
    const next = flatOf(state)
    next[0] = next[0]! + 1
    expect(b.publishFrom(next)).toBe(2)
    b.reader().readInto(out)
    expect([...out]).toEqual([...next])
    expect(b.history(2).map((e) => e.version)).toEqual([2, 1])
  })

  it('a refused write with a new source interns nothing and counts nothing (8 names per buffer are not used up by bad input)', () => {
    const b = StateBuffer.create(Drone)
    b.publishFrom(flatOf(state), { source: 'good' })
    const bad = flatOf(state)
    bad[0] = Number.NaN
    for (let i = 0; i < 20; i++) expect(() => b.publishFrom(bad, { source: `bad-${i}` })).toThrow(SchemaError)
    expect(b.stats().sources).toEqual({ good: 1 })
    expect(b.stats().updates).toBe(1)
    expect(b.publishFrom(flatOf(state), { source: 'later' })).toBe(2)
    expect(b.latest()!.source).toBe('later')
  })

  it('plain doubles (checked together after the copy): any non-finite word is refused, the first one named, nothing published', () => {
    const b = StateBuffer.create(schema({ a: vec(25), t: f64() }))
    const good = new Float64Array(b.size).map((_, i) => i - 12.5)
    expect(b.publishFrom(good)).toBe(1)
    for (const [bad, value] of [[0, NaN], [13, Infinity], [24, -Infinity], [25, NaN]] as const) {
      const flat = good.slice()
      flat[bad] = value
      if (bad !== 25) flat[25] = -0 // finite: not the word named
      expect(() => b.publishFrom(flat)).toThrow(bad === 25 ? /`t` \(flat word 25\) to be a finite number/ : new RegExp(`\`a\\[${bad}\\]\` \\(flat word ${bad}\\) to be a finite number`))
    }
    const two = good.slice()
    two[7] = NaN
    two[20] = Infinity
    expect(() => b.publishFrom(two)).toThrow(/`a\[7\]` \(flat word 7\)/)
    expect(b.version).toBe(1)
    const out = new Float64Array(b.size)
    b.reader().readInto(out)
    expect([...out]).toEqual([...good])
    const negativeZero = good.slice()
    negativeZero[3] = -0
    expect(b.publishFrom(negativeZero)).toBe(2)
  })

  it('refuses what is not a flat state of the buffer, and a bad timestamp, with an OptionError', () => {
    const b = StateBuffer.create(Drone)
    expect(() => b.publishFrom(new Float64Array(b.size - 1))).toThrow(OptionError)
    expect(() => b.publishFrom([...flatOf(state)] as unknown as Float64Array)).toThrow(OptionError)
    expect(() => b.publishFrom(new Float32Array(b.size) as unknown as Float64Array)).toThrow(OptionError)
    expect(() => b.publishFrom(flatOf(state), { timestamp: Number.NaN })).toThrow(OptionError)
    expect(b.version).toBe(0)
    // A longer array is fine: its first `size` words are the state (as readInto's target).
    const longer = new Float64Array(b.size + 4)
    longer.set(flatOf(state))
    expect(b.publishFrom(longer)).toBe(1)
  })

  it('a large state (a loop, not unrolled) is checked and published the same way', () => {
    const Big = schema({ samples: vec(1000, { min: -1, max: 1 }), gain: f32() })
    const b = StateBuffer.create(Big)
    const flat = new Float64Array(b.size).fill(0.5)
    flat[1000] = 0.1
    b.publishFrom(flat)
    expect(b.latest()!.value.gain).toBe(Math.fround(0.1))
    flat[999] = 2
    expect(() => b.publishFrom(flat)).toThrow(/samples\[999\]` \(flat word 999\) to be a number <= 1/)
    expect(b.version).toBe(1)
  })

  it('a flat array in shared memory that another thread keeps changing is read once: readers never see a refused word', async () => {
    const b = StateBuffer.create(schema({ a: vec(8) }))
    const shared = new Float64Array(new SharedArrayBuffer(8 * 8))
    // The worker flips word 3 between a finite value and NaN, each held for a short spin (about
    // as long as a publish takes), so that a check and a later copy of the same word see both.
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads')
       const f = new Float64Array(workerData.buffer)
       const stop = new Int32Array(workerData.stop)
       let sink = 0
       while (Atomics.load(stop, 0) === 0) {
         f[3] = NaN; for (let i = 0; i < 40; i++) sink += i
         f[3] = 1; for (let i = 0; i < 40; i++) sink += i
       }`,
      { eval: true, workerData: { buffer: shared.buffer, stop: (stopWord = new SharedArrayBuffer(4)) } },
    )
    const out = new Float64Array(8)
    const reader = b.reader()
    let published = 0
    let refused = 0
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      const until = Date.now() + 1_000
      while (Date.now() < until || published === 0 || refused === 0) {
        try {
          b.publishFrom(shared)
          published++
        } catch (error) {
          expect(error).toBeInstanceOf(SchemaError)
          refused++
        }
        reader.readInto(out)
        expect(Number.isNaN(out[3])).toBe(false)
        if (Date.now() > until + 20_000) break
      }
    } finally {
      Atomics.store(new Int32Array(stopWord), 0, 1)
      await worker.terminate()
    }
    expect(published).toBeGreaterThan(0)
  })
})

let stopWord: SharedArrayBuffer
