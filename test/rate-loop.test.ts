/**
 * RateLoop: 1 kHz in a worker (blocking) with sane jitter and an absolute
 * schedule; start()/stop() on the main thread never blocks the event loop
 * (and the same check catches a loop that does); stop() by a message in a
 * blocking worker; missed deadlines are skipped, not burst; option errors.
 * Jitter figures are printed for the record, only sanity bounds are asserted.
 */
import { describe, expect, it } from 'vitest'
import { BlockingNotAllowedError, OptionError, ThreadstateError } from '../src/index.js'
import { RateLoop, type RateLoopStats, type TickInfo } from '../src/runtime/rate-loop.js'
import { run, signals, spawn, until } from './helpers.js'

const FIXTURE = 'runtime-worker.mjs'

function figures(label: string, s: RateLoopStats): void {
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} us`
  console.info(
    `${label}: ${s.ticks} ticks, ${s.achievedHz.toFixed(1)} Hz, skipped ${s.skipped}, overruns ${s.overruns}, ` +
      `jitter p50 ${us(s.jitterP50Ms)} p99 ${us(s.jitterP99Ms)} max ${us(s.jitterMaxMs)} mean ${us(s.jitterMeanMs)}`,
  )
}

interface LoopRun {
  stats: RateLoopStats
  calls: number
  disorder: number
  early: number
  skippedSeen: number
  lastIndex: number
}

/**
 * What holds at any load (the machine may be busy: a rate is a benchmark's
 * business, bench/runtime-loops.ts): the run ticked, never more often than
 * its deadlines, served or skipped every deadline exactly once, in order,
 * never early and never a whole period late.
 */
function expectSaneRun(r: LoopRun, hz: number, durationMs: number): void {
  const expected = (hz * durationMs) / 1000
  expect(r.stats.mode).toBe('blocking')
  expect(r.stats.ticks).toBe(r.calls)
  expect(r.stats.ticks).toBeGreaterThan(0)
  expect(r.stats.ticks).toBeLessThanOrEqual(expected)
  // Absolute deadlines: every deadline of the run was either served or skipped.
  expect(r.stats.ticks + r.stats.skipped).toBe(expected)
  // Deadlines skipped after the last tick (the thread descheduled as the run ends) are seen by no tick.
  expect(r.skippedSeen).toBeLessThanOrEqual(r.stats.skipped)
  expect(r.lastIndex).toBeLessThan(expected)
  expect(r.disorder).toBe(0)
  expect(r.early).toBe(0)
  // Each tick serves the latest passed deadline: none starts a period late (a burst would).
  expect(r.stats.jitterMaxMs).toBeLessThan(1000 / hz + 0.05)
  expect(r.stats.jitterP50Ms).toBeLessThanOrEqual(r.stats.jitterP99Ms)
  expect(r.stats.jitterP99Ms).toBeLessThanOrEqual(r.stats.jitterMaxMs)
  expect(r.stats.elapsedMs).toBeCloseTo(durationMs, 0)
}

describe('RateLoop in a worker (blocking)', () => {
  it('1 kHz for 2 s with runFor: every deadline served or skipped, in order, never early, never a period late', async () => {
    const r = await run<LoopRun>('rateLoop', { hz: 1000, durationMs: 2000, mode: 'sync' }, FIXTURE)
    figures('worker runFor 1 kHz', r.stats)
    expectSaneRun(r, 1000, 2000)
  })

  it('1 kHz for 1 s with runForAsync (yields to the event loop between ticks)', async () => {
    const r = await run<LoopRun>('rateLoop', { hz: 1000, durationMs: 1000, mode: 'async' }, FIXTURE)
    figures('worker runForAsync 1 kHz', r.stats)
    expectSaneRun(r, 1000, 1000)
  })

  it('runForAsync in a worker lets its event loop turn: a stop() sent by message gets through promptly, a setInterval keeps firing, also when every tick overruns (issue 15 item 16)', async () => {
    for (const [hz, tickMs] of [
      [200, 0.1],
      [1000, 0.1],
      [200, 8], // each tick longer than the 5 ms period: always behind
    ]) {
      const flags = signals()
      const w = spawn<{ latencyMs: number; firedBeforeStop: number; ticks: number }>('stopLatency', { hz, tickMs, flags }, FIXTURE)
      await until(flags, 0, 1) // 20 ticks done
      await new Promise((r) => setTimeout(r, 400)) // long enough for a 50 ms interval to fire several times
      w.worker.postMessage({ sentAt: performance.timeOrigin + performance.now() })
      const outcome = await w.result
      if (!outcome.ok) throw new Error(outcome.error.message)
      const { latencyMs, firedBeforeStop } = outcome.value
      // Bounds only a bug breaks on a loaded machine: the old yield held the message for seconds
      // (4.6 s at 200 Hz, never within 8 s when behind) and the interval fired 0 times.
      expect(latencyMs, `${hz} Hz, ${tickMs} ms ticks`).toBeLessThan(1500)
      expect(firedBeforeStop, `${hz} Hz, ${tickMs} ms ticks`).toBeGreaterThan(0)
    }
  })

  it('start() in a blocking worker is ended by stop() from a message handler', async () => {
    const flags = signals()
    const w = spawn<{ stats: RateLoopStats; ticks: number }>('stopByMessage', { hz: 1000, flags }, FIXTURE)
    await until(flags, 0, 1) // 50 ticks done
    w.worker.postMessage('stop')
    const outcome = await w.result
    if (!outcome.ok) throw new Error(outcome.error.message)
    expect(outcome.value.stats.running).toBe(false)
    expect(outcome.value.stats.mode).toBe('blocking')
    expect(outcome.value.ticks).toBeGreaterThanOrEqual(50)
    expect(outcome.value.stats.ticks).toBe(outcome.value.ticks)
  })
})

/**
 * Runs `loop` while a 5 ms setInterval counts; returns how often it fired
 * during the run.
 */
async function intervalFiresDuring(runLoop: () => unknown): Promise<number> {
  let fired = 0
  const interval = setInterval(() => fired++, 5)
  try {
    await runLoop()
    return fired
  } finally {
    clearInterval(interval)
  }
}

describe('RateLoop on the main thread', () => {
  it('defaults to timers here, and start()/stop() never blocks the event loop (a 5 ms setInterval keeps firing)', async () => {
    let ticks = 0
    const loop = new RateLoop({ hz: 1000, onTick: () => void ticks++ })
    expect(loop.blocking).toBe(false)
    let stats: RateLoopStats | undefined
    const fired = await intervalFiresDuring(async () => {
      const done = loop.start()
      expect(loop.running).toBe(true)
      setTimeout(() => loop.stop(), 300)
      stats = await done
    })
    figures('main thread start() 1 kHz (timers)', stats!)
    expect(stats!.mode).toBe('timer')
    expect(stats!.running).toBe(false)
    expect(stats!.ticks).toBe(ticks)
    // Rates fall on a loaded machine (86 ticks and 236 skipped deadlines were seen in a CI run with
    // other test files and SPIN sharing the 2 cores), so check what holds at any load: the loop ran,
    // every deadline of the 300 ms was served or skipped, and the interval kept firing (a loop that
    // blocked the event loop would let it fire at most once).
    expect(ticks).toBeGreaterThan(10) // ~300 expected
    expect(ticks + stats!.skipped).toBeGreaterThanOrEqual(250)
    expect(fired).toBeGreaterThanOrEqual(5) // ~60 expected
  })

  it('deliberately broken variant: a blocking loop on the main thread is caught by the same check', async () => {
    const loop = new RateLoop({ hz: 1000, blocking: true, onTick: () => {} })
    const fired = await intervalFiresDuring(() => loop.runFor(300))
    expect(fired).toBe(0)
  })

  it('runForAsync ends after its duration and reports the run', async () => {
    const loop = new RateLoop({ hz: 200, onTick: () => {} })
    const stats = await loop.runForAsync(200)
    expect(stats.ticks + stats.skipped).toBe(40)
    expect(stats.ticks).toBeGreaterThanOrEqual(20)
    expect(stats.elapsedMs).toBeCloseTo(200, -1)
    expect(loop.stats()).toMatchObject({ running: false, ticks: stats.ticks })
  })

  it('onTick returning false ends the run; a throw ends it and is rethrown / rejects', async () => {
    let calls = 0
    const loop = new RateLoop({ hz: 1000, onTick: () => ++calls < 5 })
    expect((await loop.runForAsync(10_000)).ticks).toBe(5)
    calls = 0
    const sync = new RateLoop({ hz: 1000, blocking: true, onTick: () => ++calls < 5 })
    expect(sync.runFor(10_000).ticks).toBe(5)
    calls = 0
    const failing = new RateLoop({
      hz: 1000,
      onTick: () => {
        if (++calls === 3) throw new Error('boom')
      },
    })
    await expect(failing.runForAsync(1000)).rejects.toThrow('boom')
    expect(failing.running).toBe(false)
    expect(failing.stats().ticks).toBe(3)
  })
})

describe('RateLoop schedule', () => {
  it('a tick longer than the period is an overrun; missed deadlines are skipped, never run in a burst', () => {
    const ticks: TickInfo[] = []
    const loop = new RateLoop({
      hz: 1000,
      blocking: true, // Node's main thread may block; this test wants exact timing
      onTick: (info) => {
        ticks.push(info)
        if (ticks.length === 11) {
          while (performance.now() < info.actualTime + 3.5) {
            // a 3.5 ms tick at 1 kHz
          }
        }
        return ticks.length < 20 // a few ticks after the long one, however slow the machine
      },
    })
    const stats = loop.runFor(60_000)
    const long = ticks[10]!
    const next = ticks[11]!
    expect(stats.overruns).toBeGreaterThanOrEqual(1)
    expect(stats.longestTickMs).toBeGreaterThanOrEqual(3.5)
    expect(next.index).toBeGreaterThanOrEqual(long.index + 3) // at least two deadlines skipped
    expect(next.skipped).toBe(next.index - long.index - 1)
    // No burst: each tick serves the latest deadline that has passed, so none
    // starts a whole period (or more) late. Running the missed ones would.
    for (const t of ticks) {
      expect(t.actualTime).toBeGreaterThanOrEqual(t.scheduledTime)
      expect(t.jitterMs).toBeLessThan(loop.periodMs + 0.05)
    }
    expect(stats.ticks).toBe(ticks.length)
    expect(stats.skipped).toBe(ticks.reduce((sum, t) => sum + t.skipped, 0)) // every skip reported to the tick after it
  })

  it('stats before any run, and a second run starts a new schedule', async () => {
    const loop = new RateLoop({ hz: 500, onTick: () => {} })
    expect(loop.stats()).toMatchObject({ ticks: 0, skipped: 0, running: false, hz: 500, elapsedMs: 0 })
    expect(loop.stats().jitterP50Ms).toBeNaN()
    await loop.runForAsync(20)
    const second = await loop.runForAsync(20)
    expect(second.ticks + second.skipped).toBe(10)
  })
})

describe('RateLoop errors', () => {
  const onTick = (): void => {}
  it.each([
    [{ hz: 0, onTick }, /Expected `hz` to be a finite number > 0 and <= 10000, got `0` \(number\)/],
    [{ hz: -1, onTick }, /got `-1` \(number\)/],
    [{ hz: Number.NaN, onTick }, /got `NaN` \(number\)/],
    [{ hz: Infinity, onTick }, /got `Infinity` \(number\)/],
    [{ hz: 20_000, onTick }, /got `20000` \(number\)/],
    [{ hz: '1000', onTick }, /got `"1000"` \(string\)/],
    [{ hz: 100 }, /Expected `onTick` to be a function, got `undefined`/],
    [{ hz: 100, onTick, blocking: 'yes' }, /Expected `blocking` to be a boolean or undefined, got `"yes"` \(string\)/],
    [{ hz: 100, onTick, spinMs: -1 }, /Expected `spinMs` to be a finite number >= 0 or undefined, got `-1` \(number\)/],
    [undefined, /Expected RateLoop options \{ hz, onTick \}, got `undefined`/],
  ])('options %j throw OptionError', (options, message) => {
    const make = () => new RateLoop(options as never)
    expect(make).toThrow(OptionError)
    expect(make).toThrow(message)
  })

  it('bad durations throw OptionError (runForAsync rejects)', async () => {
    const loop = new RateLoop({ hz: 100, blocking: true, onTick })
    expect(() => loop.runFor(-1)).toThrow(/Expected `durationMs` to be a number >= 0 \(Infinity: until stop\(\)\), got `-1` \(number\)/)
    expect(() => loop.runFor(Number.NaN)).toThrow(OptionError)
    await expect(loop.runForAsync('10' as never)).rejects.toThrow(OptionError)
  })

  it('runFor on a timer loop throws BlockingNotAllowedError; a second run while running throws', async () => {
    const timer = new RateLoop({ hz: 100, onTick })
    expect(() => timer.runFor(10)).toThrow(BlockingNotAllowedError)
    expect(() => timer.runFor(10)).toThrow(/use runForAsync\(\) or start\(\)/)
    const done = timer.start()
    await expect(timer.runForAsync(10)).rejects.toThrow(ThreadstateError)
    await expect(timer.runForAsync(10)).rejects.toThrow(/Expected a RateLoop that is not running, got one that is/)
    timer.stop()
    await done
    timer.stop() // not running: nothing happens
  })
})
