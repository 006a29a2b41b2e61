/**
 * Watchdog: kicked from a worker, it fires once per silence and never before
 * `timeoutMs` has passed since the worker's last kick, and re-arms after a
 * kick; a watchdog on a StateBuffer fires once when its writer stops. Each
 * cross-thread check also runs against a deliberately broken variant that it
 * must catch. Plus: check() semantics, several watchers, handles, options.
 */
import { describe, expect, it } from 'vitest'
import { HandleError, Mutex, OptionError, StateBuffer, ThreadstateError, f64, schema } from '../src/index.js'
import { wallNow } from '../src/memory/clock.js'
import { Watchdog, type WatchdogExpiry } from '../src/runtime/watchdog.js'
import { raise, signals, spawn, until } from './helpers.js'

const FIXTURE = 'runtime-worker.mjs'
/** Flag indices shared with test/fixtures/runtime-worker.mjs. */
const STARTED = 0
const PHASE = 1
const GO = 2
const DONE = 3

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `predicate` (without blocking) until it holds; false after `timeoutMs`. */
async function eventually(predicate: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) return false
    await sleep(5)
  }
  return true
}

interface Fire extends WatchdogExpiry {
  /** When the handler ran (wallNow). */
  readonly at: number
}

/** How long before its timeout a fire came, measured against the worker's own record of its kicks (<= 0: on time). */
function earliness(fire: Fire, kickTimes: readonly number[], timeoutMs: number): number {
  const before = kickTimes.filter((t) => t <= fire.at)
  const lastKick = before.length > 0 ? Math.max(...before) : -Infinity
  return timeoutMs - (fire.at - lastKick)
}

const TIMEOUT = 200
const KICKS = 40 // every 10 ms: 400 ms of kicks, twice the timeout

async function kickedFromWorker(broken: boolean) {
  const fires: Fire[] = []
  const dog = Watchdog.create({ timeoutMs: TIMEOUT, onExpire: (e) => fires.push({ ...e, at: wallNow() }) })
  const flags = signals()
  const times = new Float64Array(new SharedArrayBuffer(2 * KICKS * 8))
  const worker = spawn<{ kicks: number }>('kicker', { handle: dog.handle, flags, times, kicks: KICKS, intervalMs: 10, broken }, FIXTURE)
  try {
    await until(flags, STARTED, 1) // the worker has kicked once: start watching
    dog.start()
    await until(flags, PHASE, 1) // first burst of kicks done
    await eventually(() => fires.length >= 1)
    await sleep(2 * TIMEOUT) // a second report of the same silence would come here
    const firstSilence = fires.length
    raise(flags, GO) // kick again: re-arms
    await until(flags, PHASE, 2)
    await eventually(() => fires.length >= firstSilence + 1, broken ? 3 * TIMEOUT : 5_000)
    await sleep(2 * TIMEOUT)
    dog.stop()
    return { fires, firstSilence, kickTimes: [...times], stats: dog.stats() }
  } finally {
    dog.stop()
    raise(flags, DONE)
    await worker.exited
  }
}

describe('Watchdog kicked from a worker', () => {
  it('fires once per silence, never before timeoutMs after the last kick, and re-arms after a kick', async () => {
    const r = await kickedFromWorker(false)
    expect(r.firstSilence).toBe(1)
    expect(r.fires).toHaveLength(2)
    for (const fire of r.fires) {
      expect(earliness(fire, r.kickTimes, TIMEOUT)).toBeLessThanOrEqual(0) // not early
      expect(earliness(fire, r.kickTimes, TIMEOUT)).toBeGreaterThan(-100) // and not very late
      expect(fire.ageMs).toBeGreaterThanOrEqual(TIMEOUT)
      expect(fire.timeoutMs).toBe(TIMEOUT)
    }
    // The handler saw the worker's last kick of each burst.
    expect(r.fires[0]!.lastKickTime).toBeGreaterThanOrEqual(r.kickTimes[KICKS - 1]!)
    expect(r.fires[0]!.lastKickTime).toBeLessThan(r.kickTimes[KICKS]!)
    expect(r.fires[1]!.lastKickTime).toBeGreaterThanOrEqual(r.kickTimes[2 * KICKS - 1]!)
    expect(r.fires.map((f) => f.expiries)).toEqual([1, 2])
    expect(r.stats).toMatchObject({ kicks: 2 * KICKS, expiries: 2, expired: true, watching: false, timeoutMs: TIMEOUT })
  })

  it('deliberately broken variant (kicks that never reach the watcher) is caught: it fires before the timeout', async () => {
    const r = await kickedFromWorker(true)
    expect(r.fires.length).toBeGreaterThanOrEqual(1)
    expect(Math.max(...r.fires.map((f) => earliness(f, r.kickTimes, TIMEOUT)))).toBeGreaterThan(0)
    expect(r.stats.kicks).toBe(0)
  })
})

const Reading = schema({ x: f64() })
const MAX_AGE = 150

async function watchedWriter(broken: boolean) {
  const buf = StateBuffer.create(Reading)
  const fires: Fire[] = []
  const flags = signals()
  const times = new Float64Array(new SharedArrayBuffer(8))
  const worker = spawn('stateWriter', { handle: buf.handle, flags, times, updates: 80, intervalMs: 5 }, FIXTURE)
  try {
    await until(flags, STARTED, 1) // first update published
    const onExpire = (e: WatchdogExpiry) => fires.push({ ...e, at: wallNow() })
    let first: number | undefined
    const dog = broken
      ? // Broken: reads the buffer's timestamp once and keeps it.
        Watchdog.create({ timeoutMs: MAX_AGE, onExpire, source: () => (first ??= buf.latest()?.timestamp) })
      : Watchdog.forStateBuffer(buf, { maxAgeMs: MAX_AGE, onExpire })
    dog.start()
    await until(flags, PHASE, 1) // the writer stopped
    await eventually(() => fires.length >= 1)
    await sleep(2 * MAX_AGE)
    dog.stop()
    return { fires, stoppedAt: times[0]!, lastUpdate: buf.latest()!.timestamp, updates: buf.version }
  } finally {
    raise(flags, DONE)
    await worker.exited
  }
}

describe('Watchdog.forStateBuffer', () => {
  it('fires once when the writer stops, not before the latest state is maxAgeMs old', async () => {
    const r = await watchedWriter(false)
    expect(r.updates).toBe(80)
    expect(r.fires).toHaveLength(1)
    const fire = r.fires[0]!
    expect(fire.at).toBeGreaterThanOrEqual(r.stoppedAt)
    expect(fire.at - r.lastUpdate).toBeGreaterThanOrEqual(MAX_AGE)
    expect(fire.lastKickTime).toBeCloseTo(r.lastUpdate, 2)
  })

  it('deliberately broken variant (a stale timestamp source) is caught: it fires while the writer still writes', async () => {
    const r = await watchedWriter(true)
    expect(r.fires.length).toBeGreaterThanOrEqual(1)
    expect(r.fires[0]!.at).toBeLessThan(r.stoppedAt)
  })

  it('before the first update, age counts from the watchdog creation; kicks count as activity', async () => {
    const buf = StateBuffer.create(Reading)
    const dog = Watchdog.forStateBuffer(buf, { maxAgeMs: 30 })
    expect(dog.expired).toBe(false)
    await sleep(40)
    expect(dog.check()).toBe(true)
    buf.publish({ x: 1 })
    expect(dog.check()).toBe(false)
    expect(dog.lastKickAgeMs).toBeLessThan(30)
    await sleep(40)
    expect(dog.expired).toBe(true)
    dog.kick()
    expect(dog.expired).toBe(false)
  })
})

describe('Watchdog in one thread', () => {
  it('check() fires the handler once per silence and re-arms on a kick', async () => {
    const fires: WatchdogExpiry[] = []
    const dog = Watchdog.create({ timeoutMs: 30, onExpire: (e) => fires.push(e) })
    expect(dog.check()).toBe(false)
    expect(dog.expired).toBe(false)
    await sleep(40)
    expect(dog.expired).toBe(true) // reading does not fire
    expect(fires).toHaveLength(0)
    expect(dog.check()).toBe(true)
    expect(dog.check()).toBe(true)
    expect(fires).toHaveLength(1)
    expect(fires[0]!.ageMs).toBeGreaterThanOrEqual(30)
    const kickedAt = wallNow()
    dog.kick()
    expect(dog.check()).toBe(false)
    expect(dog.stats()).toMatchObject({ kicks: 1, expiries: 1, expired: false, watching: false })
    await sleep(40)
    expect(dog.check()).toBe(true)
    expect(fires).toHaveLength(2)
    expect(fires[1]!.lastKickTime).toBeGreaterThanOrEqual(kickedAt)
    expect(fires[1]!.expiries).toBe(2)
  })

  it('timers: start() fires once with no kicks; several watchers report each silence once between them', async () => {
    let a = 0
    let b = 0
    const dog = Watchdog.create({ timeoutMs: 20, onExpire: () => a++ })
    const other = Watchdog.attach(dog.handle, { onExpire: () => b++ })
    dog.start()
    other.start()
    expect(dog.watching).toBe(true)
    await eventually(() => a + b >= 1)
    await sleep(60)
    other.check()
    expect(a + b).toBe(1)
    dog.kick()
    await eventually(() => a + b >= 2)
    await sleep(60)
    expect(a + b).toBe(2)
    dog.stop()
    other.stop()
    expect(dog.stats().expiries).toBe(2)
  })

  it('watch(onExpire) sets the handler and starts; stop() from the handler ends the watch', async () => {
    const dog = Watchdog.create({ timeoutMs: 10, keepAlive: false })
    let fired = 0
    dog.watch(() => {
      fired++
      dog.stop()
    })
    await eventually(() => fired === 1)
    expect(dog.watching).toBe(false)
    dog.kick()
    await sleep(40)
    expect(fired).toBe(1)
  })

  it('a source returning a bad timestamp throws ThreadstateError from check()', () => {
    const dog = Watchdog.create({ timeoutMs: 10, source: () => Number.NaN })
    expect(() => dog.check()).toThrow(ThreadstateError)
    expect(() => dog.check()).toThrow(/Expected the watchdog's `source` to return a finite timestamp \(ms since the epoch\) or undefined, got `NaN` \(number\)/)
  })
})

describe('Watchdog handles and options', () => {
  it('attach checks the handle: HandleError for a non-handle, another kind, or other memory', () => {
    const dog = Watchdog.create({ timeoutMs: 100 })
    expect(() => Watchdog.attach({} as never)).toThrow(HandleError)
    expect(() => Watchdog.attach(Mutex.create().handle as never)).toThrow(/Expected a Watchdog handle, got a handle of type `"Mutex"`/)
    expect(() => Watchdog.attach({ ...dog.handle, byteLength: 64 })).toThrow(/Expected a Watchdog handle of 56 bytes, got `byteLength` `64`/)
    expect(() => Watchdog.attach({ ...dog.handle, buffer: new SharedArrayBuffer(56) })).toThrow(/pointing at a Watchdog region/)
    expect(() => Watchdog.attach({ ...dog.handle, layoutVersion: 99 })).toThrow(HandleError)
    const attached = Watchdog.attach(structuredClone(dog.handle))
    expect(attached.timeoutMs).toBe(100)
    attached.kick()
    expect(dog.stats().kicks).toBe(1)
  })

  it.each([
    [undefined, /Expected Watchdog options \{ timeoutMs \}, got `undefined`/],
    [{}, /Expected `timeoutMs` to be a finite number > 0, got `undefined`/],
    [{ timeoutMs: 0 }, /got `0` \(number\)/],
    [{ timeoutMs: -5 }, /got `-5` \(number\)/],
    [{ timeoutMs: Number.NaN }, /got `NaN` \(number\)/],
    [{ timeoutMs: Infinity }, /got `Infinity` \(number\)/],
    [{ timeoutMs: '100' }, /got `"100"` \(string\)/],
    [{ timeoutMs: 100, onExpire: 'x' }, /Expected `onExpire` to be a function or undefined, got `"x"` \(string\)/],
    [{ timeoutMs: 100, source: 5 }, /Expected `source` to be a function or undefined, got `5` \(number\)/],
    [{ timeoutMs: 100, keepAlive: 1 }, /Expected `keepAlive` to be a boolean or undefined, got `1` \(number\)/],
  ])('create(%j) throws OptionError', (options, message) => {
    const make = () => Watchdog.create(options as never)
    expect(make).toThrow(OptionError)
    expect(make).toThrow(message)
  })

  it('start() without a handler, watch() with a non-function, forStateBuffer with a bad maxAgeMs throw OptionError', () => {
    const dog = Watchdog.create({ timeoutMs: 100 })
    expect(() => dog.start()).toThrow(/Expected an `onExpire` handler to start watching/)
    expect(() => dog.watch(123 as never)).toThrow(/Expected `onExpire` to be a function, got `123` \(number\)/)
    expect(dog.watching).toBe(false)
    const buf = StateBuffer.create(Reading)
    expect(() => Watchdog.forStateBuffer(buf, { maxAgeMs: 0 })).toThrow(/Expected `maxAgeMs` to be a finite number > 0, got `0` \(number\)/)
    expect(() => Watchdog.forStateBuffer(buf, { maxAgeMs: 10, onExpire: 'x' as never })).toThrow(OptionError)
  })
})
