/**
 * The worker of the `runtime/loop-worker` bench: runs a 1 kHz loop for COUNT
 * ms per round, one kind per round (KIND, see runtime-kinds.ts), and records
 * every tick:
 *
 * - Naive: `for (;;) { tick; Atomics.wait(word, 0, 0, period) }`, the loop
 *   one writes without a scheduler: each sleep is relative to the end of the
 *   previous tick, so every oversleep shifts all later ticks.
 * - RateLoop: `new RateLoop({ hz, spinMs }).runFor(COUNT)` in blocking mode
 *   (a worker's default), spinMs from the SPIN_US word (-1: its default).
 *
 * Both ticks do the same thing: read `performance.now()` first, then record
 *
 * - jitter: that clock − the time the loop aimed the tick at (RateLoop: its
 *   deadline; naive: the previous tick's start + one period, what a relative
 *   sleep aims at);
 * - deadline error: that clock − the tick's deadline on the absolute grid
 *   `start + k × period` (RateLoop: the deadline it served, so the same as
 *   its jitter; naive: k = ticks so far, so its error is the drift).
 *
 * The RateLoop's own `stats()` go to the header for comparison. Nothing else
 * runs in this worker, and main waits in `Atomics.waitAsync` meanwhile.
 *
 * @module
 */
import { workerData } from 'node:worker_threads'
import { RateLoop, type TickInfo } from 'threadstate'
import { serveRounds } from './crew.js'
import { LOOP_HZ, LoopKind, LoopResults, LoopWord, TickLog, type LoopData } from './runtime-kinds.js'

const PERIOD_MS = 1000 / LOOP_HZ

function main(data: LoopData): Promise<void> {
  const control = new Int32Array(data.control)
  const header = new Float64Array(data.results, 0, LoopResults.HEADER)
  const capacity = LoopResults.capacityOf(data.results)
  const sleeper = new Int32Array(new SharedArrayBuffer(4))

  function runNaive(durationMs: number, log: TickLog): void {
    const start = performance.now()
    let aimed = start
    for (let k = 0; ; k++) {
      const t = performance.now()
      if (t - start >= durationMs) break
      log.add(t - aimed, t - (start + k * PERIOD_MS))
      aimed = t + PERIOD_MS
      Atomics.wait(sleeper, 0, 0, PERIOD_MS)
    }
    header[LoopResults.TICKS] = log.count
    header[LoopResults.SKIPPED] = 0
    header[LoopResults.OVERRUNS] = 0
    for (const i of [LoopResults.ACHIEVED_HZ, LoopResults.P50, LoopResults.P99, LoopResults.MAX, LoopResults.MEAN, LoopResults.LONGEST]) header[i] = Number.NaN
  }

  function runRateLoop(durationMs: number, spinUs: number, log: TickLog): void {
    const onTick = (info: TickInfo): void => {
      const t = performance.now()
      log.add(t - info.scheduledTime, t - info.scheduledTime)
    }
    const loop = new RateLoop(spinUs < 0 ? { hz: LOOP_HZ, onTick } : { hz: LOOP_HZ, spinMs: spinUs / 1000, onTick })
    if (!loop.blocking) throw new Error('Expected a RateLoop in a worker to block by default, got timer scheduling')
    const s = loop.runFor(durationMs)
    if (s.ticks !== log.count) throw new Error(`Expected stats().ticks to equal the ${log.count} ticks run, got ${s.ticks}`)
    header[LoopResults.TICKS] = s.ticks
    header[LoopResults.SKIPPED] = s.skipped
    header[LoopResults.OVERRUNS] = s.overruns
    header[LoopResults.ACHIEVED_HZ] = s.achievedHz
    header[LoopResults.P50] = s.jitterP50Ms
    header[LoopResults.P99] = s.jitterP99Ms
    header[LoopResults.MAX] = s.jitterMaxMs
    header[LoopResults.MEAN] = s.jitterMeanMs
    header[LoopResults.LONGEST] = s.longestTickMs
  }

  return serveRounds(control, (kind, durationMs) => {
    const log = new TickLog(capacity, data.results)
    const cpu = process.cpuUsage()
    const t0 = performance.now()
    if (kind === LoopKind.Naive) runNaive(durationMs, log)
    else if (kind === LoopKind.RateLoop) runRateLoop(durationMs, Atomics.load(control, LoopWord.SPIN_US), log)
    else throw new Error(`Expected a LoopKind, got ${kind}`)
    header[LoopResults.ELAPSED] = performance.now() - t0
    const used = process.cpuUsage(cpu)
    header[LoopResults.CPU_MS] = (used.user + used.system) / 1000
    if (log.count > capacity) throw new Error(`Expected at most ${capacity} ticks in ${durationMs} ms, got ${log.count}`)
  })
}

await main(workerData as LoopData)
