/**
 * StateBuffer on one thread: schema checks, units, the flat form, stats, handles. The behaviour
 * every WritableState shares (versions, readers, history, subscriptions, waits) is in
 * test/contract/state.contract.ts.
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  HandleError,
  OptionError,
  SchemaError,
  StateBuffer,
  bool,
  enumOf,
  f32,
  f64,
  i32,
  quat,
  schema,
  u32,
  vec,
  vec3,
  type Infer,
  type Input,
} from '../src/index.js'

const Drone = schema({
  position: vec3({ unit: 'm' }),
  velocity: vec3({ unit: 'm/s' }),
  attitude: quat(),
  mode: enumOf(['idle', 'armed', 'flying']),
  battery: f64({ unit: '%', min: 0, max: 100 }),
  armed: bool(),
  gains: { kp: f32(), steps: u32(), offset: i32({ min: -10, max: 10 }) },
})
type DroneState = Infer<typeof Drone>

const state: DroneState = {
  position: [1, 2, 3],
  velocity: [0.5, 0, 0],
  attitude: [1, 0, 0, 0],
  mode: 'armed',
  battery: 87.5,
  armed: true,
  gains: { kp: 0.25, steps: 7, offset: -3 },
}

describe('schema types', () => {
  it('Infer gives the plain state type', () => {
    expectTypeOf<DroneState>().toEqualTypeOf<{
      position: [number, number, number]
      velocity: [number, number, number]
      attitude: [number, number, number, number]
      mode: 'idle' | 'armed' | 'flying'
      battery: number
      armed: boolean
      gains: { kp: number; steps: number; offset: number }
    }>()
    expectTypeOf<Infer<ReturnType<typeof schema<{ v: ReturnType<typeof vec<40>> }>>>['v']>().toEqualTypeOf<number[]>()
  })

  it('Input accepts { value, unit } only for fields with a unit', () => {
    expectTypeOf<{ value: number; unit: string }>().toMatchTypeOf<Input<typeof Drone>['battery']>()
    expectTypeOf<{ value: number; unit: string }>().not.toMatchTypeOf<Input<typeof Drone>['gains']['kp']>()
    expectTypeOf<Float64Array>().toMatchTypeOf<Input<typeof Drone>['position']>()
  })
})

describe('StateBuffer units: a conversion that overflows or that the unit library refuses is a SchemaError (issue 15 item 13)', () => {
  it('1e308 km/s is not stored as Infinity m/s; -500 tempC is not a raw QtyError; nothing is published', () => {
    const Motion = schema({ speed: f64({ unit: 'm/s' }), temperature: f64({ unit: 'tempK' }), v: vec3({ unit: 'm/s' }) })
    const buf = StateBuffer.create(Motion)
    const good = { speed: 1, temperature: 300, v: [0, 0, 0] }
    const cases: [unknown, string, RegExp][] = [
      [{ ...good, speed: { value: 1e308, unit: 'km/s' } }, 'speed', /finite number in m\/s/],
      [{ ...good, temperature: { value: -500, unit: 'tempC' } }, 'temperature', /convertible from tempC/],
      [{ ...good, v: { value: [1, 1e308, 0], unit: 'km/s' } }, 'v[1]', /finite number in m\/s/],
    ]
    for (const [bad, path, message] of cases) {
      let error: unknown
      try {
        buf.publish(bad as never)
      } catch (e) {
        error = e
      }
      expect(error, path).toBeInstanceOf(SchemaError)
      expect((error as SchemaError).path).toBe(path)
      expect((error as Error).message).toMatch(message)
    }
    expect(buf.version).toBe(0)
    expect(buf.publish({ ...good, speed: { value: 36, unit: 'km/h' } })).toBe(1)
    expect(buf.latest()!.value.speed).toBeCloseTo(10)
  })
})

describe('StateBuffer, one thread', () => {
  it('publish returns strictly increasing versions; latest() round-trips the state', () => {
    const buf = StateBuffer.create(Drone)
    expect(buf.latest()).toBeUndefined()
    expect(buf.version).toBe(0)
    expect(buf.publish(state, { source: 'estimator' })).toBe(1)
    expect(buf.publish(state)).toBe(2)
    const latest = buf.latest()!
    expect(latest.version).toBe(2)
    expect(latest.value).toEqual(state)
    expect(latest.source).toBeUndefined()
    expect(buf.at(1)?.source).toBe('estimator')
    expect(Math.abs(latest.timestamp - (performance.timeOrigin + performance.now()))).toBeLessThan(5_000)
  })

  it('the flat fast form follows the documented layout', () => {
    const buf = StateBuffer.create(Drone)
    buf.publish(state)
    const flat = new Float64Array(buf.size)
    expect(buf.reader().readInto(flat)).toBe(1)
    const at = (path: string) => buf.fields.find((f) => f.path === path)!.offset
    expect(flat[at('position') + 2]).toBe(3)
    expect(flat[at('mode')]).toBe(1)
    expect(flat[at('armed')]).toBe(1)
    expect(flat[at('gains.offset')]).toBe(-3)
    expect(buf.size).toBe(3 + 3 + 4 + 1 + 1 + 1 + 3)
    expect(() => buf.reader().readInto(new Float64Array(3))).toThrow(OptionError)
  })

  it('converts compatible units and refuses others', () => {
    const buf = StateBuffer.create(Drone)
    buf.publish({ ...state, position: { value: [100, 250, 0], unit: 'cm' }, velocity: { value: [36, 0, 0], unit: 'km/h' } })
    const v = buf.latest()!.value
    expect(v.position[0]).toBeCloseTo(1)
    expect(v.position[1]).toBeCloseTo(2.5)
    expect(v.velocity[0]).toBeCloseTo(10)
    const Angles = schema({ yaw: f64({ unit: 'rad' }) })
    const a = StateBuffer.create(Angles)
    a.publish({ yaw: { value: 180, unit: 'deg' } })
    expect(a.latest()!.value.yaw).toBeCloseTo(Math.PI)
    expect(() => a.publish({ yaw: { value: 1, unit: 'kg' } })).toThrow(/Expected `yaw` in a unit convertible to rad, got kg/)
    expect(() => schema({ x: f64({ unit: 'furlongs per zorg' }) })).toThrow(OptionError)
  })

  it('every bad state is a SchemaError naming the field, and the buffer is unchanged', () => {
    const buf = StateBuffer.create(Drone)
    buf.publish(state)
    const cases: [unknown, string, RegExp][] = [
      [{ ...state, battery: Number.NaN }, 'battery', /finite number/],
      [{ ...state, battery: Infinity }, 'battery', /finite number/],
      [{ ...state, battery: 101 }, 'battery', /<= 100/],
      [{ ...state, battery: -1 }, 'battery', />= 0/],
      [{ ...state, mode: 'landing' }, 'mode', /one of "idle", "armed", "flying", got `"landing"`/],
      [{ ...state, position: [1, 2] }, 'position', /3 numbers, got 2/],
      [{ ...state, position: [1, 2, Number.NaN] }, 'position[2]', /finite number/],
      [{ ...state, armed: 1 }, 'armed', /a boolean/],
      [{ ...state, gains: { ...state.gains, steps: -1 } }, 'gains.steps', /unsigned 32-bit integer/],
      [{ ...state, gains: { ...state.gains, offset: 2.5 } }, 'gains.offset', /32-bit integer/],
      [{ ...state, gains: { ...state.gains, kp: 1e300 } }, 'gains.kp', /float32 range/],
      [{ ...state, extra: 1 }, 'extra', /unknown field `extra`/],
      [{ ...state, gains: { kp: 1, steps: 1 } }, 'gains.offset', /present, got it missing/],
      [{ ...state, battery: { value: 50, unit: 'm' } }, 'battery', /convertible to %/],
      [{ ...state, gains: { ...state.gains, kp: { value: 1, unit: 'm' } } }, 'gains.kp', /has no unit/],
      [null, '', /to be an object, got `null`/],
      [{ ...state, gains: 5 }, 'gains', /gains to be an object/],
    ]
    for (const [bad, path, message] of cases) {
      let error: unknown
      try {
        buf.publish(bad as never)
      } catch (e) {
        error = e
      }
      expect(error, path).toBeInstanceOf(SchemaError)
      expect((error as SchemaError).path, path).toBe(path)
      expect((error as SchemaError).message, path).toMatch(message)
    }
    expect(buf.version).toBe(1)
    expect(buf.latest()!.value).toEqual(state)
  })

  it('readers report fresh (new version) and stale (older than maxAgeMs)', () => {
    const buf = StateBuffer.create(Drone)
    const reader = buf.reader({ maxAgeMs: 20 })
    expect(reader.read()).toBeUndefined()
    buf.publish(state)
    const first = reader.read()!
    expect(first.fresh).toBe(true)
    expect(first.stale).toBe(false)
    expect(reader.read()!.fresh).toBe(false) // same version again
    buf.publish(state, { timestamp: performance.timeOrigin + performance.now() - 100 })
    const old = reader.read()!
    expect(old.fresh).toBe(true)
    expect(old.stale).toBe(true)
    expect(old.ageMs).toBeGreaterThanOrEqual(100)
    const flat = new Float64Array(buf.size)
    expect(reader.readInto(flat)).toBe(2)
    expect(reader.fresh).toBe(false)
    expect(reader.stale).toBe(true)
    const s = buf.stats()
    expect(s.freshReads).toBe(2)
    expect(s.staleReads).toBe(2)
    expect(s.reads).toBe(4)
    expect(() => buf.reader({ maxAgeMs: -1 })).toThrow(OptionError)
  })

  it('readNewInto copies only a version newer than the last one read, and counts every call as readInto does', () => {
    const buf = StateBuffer.create(Drone)
    const reader = buf.reader({ maxAgeMs: 20 })
    const flat = new Float64Array(buf.size)
    expect(reader.readNewInto(flat)).toBe(0) // nothing published
    buf.publish(state)
    expect(reader.readNewInto(flat)).toBe(1)
    expect(reader.fresh).toBe(true)
    const copied = flat.slice()
    flat.fill(-1) // a poll with nothing new leaves the target as it is
    expect(reader.readNewInto(flat)).toBe(0)
    expect(reader.fresh).toBe(false)
    expect([...flat].every((x) => x === -1)).toBe(true)
    // Another reader's reads and readInto do not count as this reader's.
    buf.reader().readInto(new Float64Array(buf.size))
    expect(reader.readNewInto(flat)).toBe(0)
    buf.publish(state, { timestamp: performance.timeOrigin + performance.now() - 100 })
    expect(reader.readNewInto(flat)).toBe(2)
    expect([...flat]).toEqual([...copied])
    expect(reader.fresh && reader.stale).toBe(true)
    expect(reader.readNewInto(flat)).toBe(0)
    expect(reader.stale).toBe(true) // its age is still checked
    expect(reader.ageMs).toBeGreaterThanOrEqual(100)
    expect(reader.lastVersion).toBe(2)
  })

  it('history is newest first and at() finds versions still in the ring', () => {
    const buf = StateBuffer.create(Drone, { history: 4 })
    for (let i = 0; i < 20; i++) buf.publish({ ...state, battery: i })
    const history = buf.history(4)
    expect(history.map((e) => e.version)).toEqual([20, 19, 18, 17])
    expect(history.map((e) => e.value.battery)).toEqual([19, 18, 17, 16])
    expect(buf.at(20)?.value.battery).toBe(19)
    expect(buf.at(1)).toBeUndefined() // overwritten long ago
    expect(buf.at(21)).toBeUndefined() // not yet
    expect(buf.stats().historyCapacity).toBeGreaterThanOrEqual(4)
    expect(() => StateBuffer.create(Drone, { history: 0 })).toThrow(/`history` to be an integer from 1/)
  })

  it('waitForVersion times out, then succeeds', () => {
    const buf = StateBuffer.create(Drone)
    expect(buf.waitForVersion(1, 20)).toBe(false)
    buf.publish(state)
    expect(buf.waitForVersion(1, 20)).toBe(true)
  })

  it('stats count updates per source and the update rate', () => {
    const buf = StateBuffer.create(Drone)
    for (let i = 0; i < 10; i++) buf.publish(state, { source: i % 2 ? 'sim' : 'estimator' })
    const s = buf.stats()
    expect(s.updates).toBe(10)
    expect(s.sources).toEqual({ estimator: 5, sim: 5 })
    expect(s.updateRateHz).toBeGreaterThan(0)
    expect(s.lastUpdateAgeMs).toBeGreaterThanOrEqual(0)
    expect(() => buf.publish(state, { source: 'x'.repeat(21) })).toThrow(/at most 20 UTF-8 bytes/)
    for (let i = 0; i < 6; i++) buf.publish(state, { source: `s${i}` })
    expect(() => buf.publish(state, { source: 'one-too-many' })).toThrow(/at most 8 distinct sources/)
    expect(buf.publish(state, { source: 'sim' })).toBe(17) // the failed updates published nothing
  })

  it('handles carry the schema; attach checks it', () => {
    const buf = StateBuffer.create(Drone)
    buf.publish(state)
    const clone = structuredClone(buf.handle)
    const attached = StateBuffer.attach(clone, Drone)
    expect(attached.latest()!.value).toEqual(state)
    expect(StateBuffer.attach(clone).latest()!.value).toEqual(state)
    const Other = schema({ x: f64() })
    expect(() => StateBuffer.attach(clone, Other as never)).toThrow(/another schema/)
    expect(() => StateBuffer.attach({ ...clone, schema: Other } as never)).toThrow(HandleError)
    expect(() => StateBuffer.attach({ ...clone, schema: undefined } as never)).toThrow(/carrying its schema/)
    expect(() => StateBuffer.attach({ ...clone, layoutVersion: 9 } as never)).toThrow(/layout version/)
  })

  it('schema builders refuse bad definitions', () => {
    expect(() => schema({})).toThrow(/at least one field/)
    expect(() => schema({ 'bad name': f64() } as never)).toThrow(/identifiers/)
    expect(() => enumOf([])).toThrow(OptionError)
    expect(() => enumOf(['a', 'a'])).toThrow(/distinct/)
    expect(() => vec(0)).toThrow(OptionError)
    expect(() => f64({ min: 2, max: 1 })).toThrow(/min/)
  })
})

describe('StateBuffer versions past 2^32', () => {
  it('keep increasing across the wrap of the 32-bit published-version word', async () => {
    const { SlotMeta, StateArea, StateWord } = await import('../src/state/layout.js')
    const Flat = schema({ x: f64() })
    const buf = StateBuffer.create(Flat, { history: 4 })
    // Pretend 2^32 - 2 updates happened: write that version's slot and publish it.
    const words = new Int32Array(buf.handle.buffer)
    const f = new Float64Array(buf.handle.buffer)
    const slots = words[StateWord.SLOTS]!
    const start = 2 ** 32 - 2
    const base = StateArea.RING / 8 + (start % slots) * (SlotMeta.WORDS + 1)
    f[base + SlotMeta.VERSION] = start
    f[base + SlotMeta.TIMESTAMP] = performance.timeOrigin + performance.now()
    f[base + SlotMeta.WORDS] = -1
    Atomics.store(words, StateWord.PUB, start | 0)
    expect(buf.version).toBe(start)
    const reader = buf.reader()
    const flat = new Float64Array(1)
    const poller = buf.reader()
    const polled = new Float64Array(1)
    for (let i = 1; i <= 6; i++) {
      expect(buf.publish({ x: i })).toBe(start + i) // 2^32 - 1, 2^32 (PUB word 0), 2^32 + 1, ...
      expect(reader.readInto(flat)).toBe(start + i)
      expect(flat[0]).toBe(i)
      expect(buf.latest()!.version).toBe(start + i)
      expect(poller.readNewInto(polled)).toBe(start + i)
      expect(poller.readNewInto(polled)).toBe(0)
      expect(polled[0]).toBe(i)
    }
    expect(buf.history(3).map((e) => e.version)).toEqual([start + 6, start + 5, start + 4])
    expect(buf.at(start + 2)?.value.x).toBe(2) // the version whose low 32 bits are 0
    expect(buf.waitForVersion(start + 6, 10)).toBe(true)
  })

  it('updateRateHz falls when the writers go silent (a dead writer does not look alive)', async () => {
    const buf = StateBuffer.create(schema({ x: f64() }))
    for (let i = 0; i < 20; i++) {
      buf.publish({ x: i })
      await new Promise((r) => setTimeout(r, 2))
    }
    const live = buf.stats().updateRateHz
    await new Promise((r) => setTimeout(r, 400))
    const silent = buf.stats().updateRateHz
    expect(live).toBeGreaterThan(0)
    expect(silent).toBeLessThan(live / 3)
  })

  it('three seconds after a 100 Hz writer died, updateRateHz is at most one update per silence (issue 15 item 20: it said 17 Hz)', () => {
    const buf = StateBuffer.create(schema({ x: f64() }), { history: 64 })
    const died = performance.timeOrigin + performance.now() - 3000
    for (let i = 0; i < 64; i++) buf.publish({ x: i }, { timestamp: died - (63 - i) * 10 })
    const rate = buf.stats().updateRateHz
    expect(rate).toBeGreaterThan(0)
    expect(rate).toBeLessThanOrEqual(1000 / 3000 + 1e-9) // the silence has lasted at least 3 s by now
  })
})

describe('StateBuffer read loop (generated per schema and ring size)', () => {
  it.each([
    ['a view per slot', 16],
    ['slots at a computed base', 300],
  ])('readInto and latest return the state just published, over two laps of the ring (%s, history %i)', (_form, history) => {
    const Mixed = schema({ x: f64(), v: vec(3), n: i32() })
    const buf = StateBuffer.create(Mixed, { history })
    const laps = 2 * (buf.stats().historyCapacity + 1)
    const reader = buf.reader()
    const flat = new Float64Array(buf.size)
    for (let i = 1; i <= laps; i++) {
      const timestamp = 1_000_000 + i
      expect(buf.publish({ x: i / 2, v: [i, -i, 2 * i], n: i }, { timestamp, source: i % 2 ? 'odd' : 'even' })).toBe(i)
      expect(reader.readInto(flat)).toBe(i)
      expect(Array.from(flat)).toEqual([i / 2, i, -i, 2 * i, i])
      expect(reader.timestamp).toBe(timestamp)
      expect(reader.fresh).toBe(true)
      const latest = buf.latest()!
      expect(latest).toMatchObject({ version: i, timestamp, source: i % 2 ? 'odd' : 'even', value: { x: i / 2, v: [i, -i, 2 * i], n: i } })
    }
    expect(reader.readInto(flat)).toBe(laps)
    expect(reader.fresh).toBe(false)
    expect(buf.stats().reads).toBe(2 * laps + 1) // latest() counts too
  })
})
