/**
 * The 1 kHz loop cases (see runtime.ts for the suite):
 *
 * - `loop-worker`: one worker (workers/runtime-loop.ts) runs, round after
 *   round, the naive loop and the RateLoop with spinMs at its default, 0 and
 *   0.5; main waits in `Atomics.waitAsync` meanwhile.
 * - `loop-main`: on main, `setInterval(1)` and the RateLoop in timer mode,
 *   each with a `setInterval(5)` probe counting how often the event loop got
 *   to run.
 *
 * Every loop is measured the same way: each tick reads `performance.now()`
 * first and records its **jitter** (that clock − the time the loop aimed the
 * tick at: the RateLoop's deadline, or the previous tick + one period for a
 * loop of relative sleeps and for setInterval) and its **deadline error**
 * (that clock − the tick's deadline on the absolute grid `start + k ×
 * period`: for the RateLoop the deadline it served, so the same as its
 * jitter; for the others k = ticks so far, so the error is their drift).
 * Ticks/s = ticks ÷ the run's length. The RateLoop's own `stats()` are in
 * the notes.
 *
 * @module
 */
import { RateLoop, type RateLoopStats } from 'threadstate'
import { formatDuration, summarize, type Row } from './report.js'
import type { RuntimeProfile } from './runtime.js'
import { Crew } from './workers/crew.js'
import { LOOP_HZ, LoopKind, LoopResults, LoopWord, TickLog } from './workers/runtime-kinds.js'

const PERIOD_MS = 1000 / LOOP_HZ
/** Interval of the main-thread probe, ms. */
const PROBE_MS = 5

/** One loop variant: its label and how to run it. */
interface Variant {
  readonly label: string
  /** Label of the variant it is compared with (undefined: it is the baseline). */
  readonly baseline?: string
  /** How it aims its ticks, for the jitter row's note. */
  readonly how: string
}

/** What a variant accumulated over its rounds. */
class LoopTally {
  readonly jitter: number[] = []
  readonly deadline: number[] = []
  /** Ticks/s of each round. */
  readonly rates: number[] = []
  /** Deadline error of each round's last tick, ms. */
  readonly finalErrors: number[] = []
  /** The RateLoop's stats() of each round. */
  readonly stats: RateLoopStats[] = []
  /** setInterval(5) fires of each round (main-thread loops). */
  readonly probes: number[] = []
  ticks = 0
  skipped = 0
  overruns = 0
  durationMs = 0
  cpuMs = 0
  wallMs = 0

  add(log: TickLog, durationMs: number, cpuMs: number, wallMs: number): void {
    const { jitter, deadline } = log.samples()
    if (jitter.length !== log.count) throw new Error(`Expected every tick stored, got ${jitter.length} of ${log.count}`)
    if (jitter.length === 0) throw new Error('Expected a loop run to tick at least once, got no tick')
    for (const v of jitter) this.jitter.push(v)
    for (const v of deadline) this.deadline.push(v)
    this.finalErrors.push(deadline[deadline.length - 1]!)
    this.rates.push((1000 * log.count) / durationMs)
    this.ticks += log.count
    this.durationMs += durationMs
    this.cpuMs += cpuMs
    this.wallMs += wallMs
  }
}

const us = (ms: number): string => formatDuration(ms)
const list = <T>(values: readonly T[], f: (v: T) => string): string => values.map(f).join(', ')

/** The rows of one loop family: per variant jitter, deadline error, ticks/s (and the probe); p99 ratios against the baseline. */
function loopRows(prefix: string, variants: readonly Variant[], tallies: ReadonlyMap<string, LoopTally>): Row[] {
  const rows: Row[] = []
  const first = variants.find((v) => v.baseline === undefined)!.label
  const names = (label: string): { jitter: string; deadline: string; rate: string; probe: string; p99: string; p99Deadline: string } => ({
    jitter: `${prefix}: ${label}, jitter`,
    deadline: `${prefix}: ${label}, deadline error`,
    rate: `${prefix}: ${label}, ticks/s`,
    probe: `${prefix}: ${label}, setInterval(${PROBE_MS}) fires`,
    p99: `${prefix}: ${label}, p99 jitter ÷ ${first}`,
    p99Deadline: `${prefix}: ${label}, p99 deadline error ÷ ${first}`,
  })
  for (const v of variants) {
    const t = tallies.get(v.label)!
    const n = names(v.label)
    const base = v.baseline === undefined ? undefined : names(v.baseline)
    const j = summarize(t.jitter)
    const d = summarize(t.deadline)
    const r = summarize(t.rates)
    const deadlines = (t.durationMs * LOOP_HZ) / 1000
    const cpu = `CPU ${((100 * t.cpuMs) / t.wallMs).toFixed(0)} % of one core (process.cpuUsage over the run)`
    const own =
      t.stats.length === 0
        ? ''
        : `; stats() per run: ${list(t.stats, (s) => `[p50 ${us(s.jitterP50Ms)}, p99 ${us(s.jitterP99Ms)}, max ${us(s.jitterMaxMs)}, ${s.achievedHz.toFixed(1)} Hz]`)}`
    const counts = t.stats.length === 0 ? `${t.ticks} ticks` : `${t.ticks} ticks, ${t.skipped} skipped, ${t.overruns} overruns`
    rows.push({
      name: n.jitter,
      measurement: { kind: 'latency', medianMs: j.median, p99Ms: j.p99, samples: j.count, sample: 'one tick: its start − the time the loop aimed it at' },
      ...(base ? { baseline: base.jitter } : {}),
      note: `${v.how}; min ${us(j.min)}, max ${us(j.max)}; ${counts} of ${deadlines} deadlines${own}; ${cpu}`,
    })
    rows.push({
      name: n.deadline,
      measurement: { kind: 'latency', medianMs: d.median, p99Ms: d.p99, samples: d.count, sample: 'one tick: its start − its deadline on the absolute grid start + k × period' },
      ...(base ? { baseline: base.deadline } : {}),
      note: `last tick ${list(t.finalErrors, us)} behind its deadline; max ${us(d.max)}`,
    })
    rows.push({
      name: n.rate,
      measurement: { kind: 'throughput', opsPerSec: r.median, minOpsPerSec: r.min, maxOpsPerSec: r.max, runs: r.count },
      ...(base ? { baseline: base.rate } : {}),
      note: `${t.ticks} ticks in ${(t.durationMs / 1000).toFixed(1)} s (${LOOP_HZ} asked per second); ${r.count} runs`,
    })
    if (t.probes.length > 0) {
      const fires = t.probes.reduce((a, b) => a + b, 0)
      rows.push({
        name: n.probe,
        measurement: { kind: 'value', value: fires, unit: 'count', what: `fires of a setInterval(${PROBE_MS}) running beside the loop, all runs` },
        ...(base ? { baseline: base.probe } : {}),
        note: `how often the event loop got to run: ${Math.floor(t.durationMs / PROBE_MS)} if never held up`,
      })
    }
    if (base) {
      const other = tallies.get(v.baseline!)!
      const bj = summarize(other.jitter)
      const bd = summarize(other.deadline)
      rows.push({
        name: n.p99,
        measurement: { kind: 'value', value: j.p99 / bj.p99, unit: '×', what: `p99 jitter ÷ ${v.baseline}'s p99 jitter, same run` },
        note: `p99 ${us(j.p99)} against ${us(bj.p99)}`,
      })
      rows.push({
        name: n.p99Deadline,
        measurement: { kind: 'value', value: d.p99 / bd.p99, unit: '×', what: `p99 deadline error ÷ ${v.baseline}'s p99 deadline error, same run` },
        note: `p99 ${us(d.p99)} against ${us(bd.p99)}; last tick ${list(t.finalErrors, us)} against ${list(other.finalErrors, us)} behind its deadline`,
      })
    }
  }
  return rows
}

// ---- in a worker -----------------------------------------------------------------

const loopScript = new URL('./workers/runtime-loop.js', import.meta.url)

/** A worker loop variant: the KIND and spinMs (µs, -1: default) of its rounds. */
interface WorkerVariant extends Variant {
  readonly kind: number
  readonly spinUs: number
}

const NAIVE = `naive Atomics.wait(${PERIOD_MS} ms)`

const WORKER_VARIANTS: readonly WorkerVariant[] = [
  { label: NAIVE, kind: LoopKind.Naive, spinUs: -1, how: 'each tick, then Atomics.wait(1 ms): aims at the previous tick + 1 ms' },
  { label: 'RateLoop spinMs 0.2 (default)', baseline: NAIVE, kind: LoopKind.RateLoop, spinUs: -1, how: 'Atomics.wait until 0.2 ms before the deadline, then spin' },
  { label: 'RateLoop spinMs 0', baseline: NAIVE, kind: LoopKind.RateLoop, spinUs: 0, how: 'Atomics.wait right up to the deadline, no spin' },
  { label: 'RateLoop spinMs 0.5', baseline: NAIVE, kind: LoopKind.RateLoop, spinUs: 500, how: 'Atomics.wait until 0.5 ms before the deadline, then spin' },
]

/** One worker round of `variant` for `durationMs`; adds it to `into` unless it is a warm-up. */
async function workerRound(crew: Crew, results: SharedArrayBuffer, variant: WorkerVariant, durationMs: number, into: LoopTally | undefined): Promise<void> {
  const header = new Float64Array(results, 0, LoopResults.HEADER)
  await crew.round(variant.kind, durationMs, () => {
    header.fill(0)
    Atomics.store(crew.control, LoopWord.SPIN_US, variant.spinUs)
  })
  if (!into) return
  const log = new TickLog(LoopResults.capacityOf(results), results)
  log.count = header[LoopResults.TICKS]!
  into.add(log, durationMs, header[LoopResults.CPU_MS]!, header[LoopResults.ELAPSED]!)
  if (variant.kind === LoopKind.RateLoop) {
    into.skipped += header[LoopResults.SKIPPED]!
    into.overruns += header[LoopResults.OVERRUNS]!
    into.stats.push({
      mode: 'blocking',
      running: false,
      hz: LOOP_HZ,
      ticks: header[LoopResults.TICKS]!,
      skipped: header[LoopResults.SKIPPED]!,
      overruns: header[LoopResults.OVERRUNS]!,
      elapsedMs: header[LoopResults.ELAPSED]!,
      achievedHz: header[LoopResults.ACHIEVED_HZ]!,
      jitterP50Ms: header[LoopResults.P50]!,
      jitterP99Ms: header[LoopResults.P99]!,
      jitterMaxMs: header[LoopResults.MAX]!,
      jitterMeanMs: header[LoopResults.MEAN]!,
      longestTickMs: header[LoopResults.LONGEST]!,
    })
  }
}

/** RateLoop at 1 kHz in a worker (spinMs default, 0, 0.5) against the naive relative-sleep loop. */
export async function workerLoops(p: RuntimeProfile): Promise<Row[]> {
  const results = new SharedArrayBuffer(LoopResults.bytes(Math.max(p.workerLoopMs, p.loopWarmupMs)))
  const crew = new Crew(loopScript, 1, { results })
  const tallies = new Map(WORKER_VARIANTS.map((v) => [v.label, new LoopTally()]))
  try {
    await crew.ready()
    for (const v of WORKER_VARIANTS) await workerRound(crew, results, v, p.loopWarmupMs, undefined)
    for (let round = 0; round < p.loopRounds; round++) {
      for (const v of round % 2 === 0 ? WORKER_VARIANTS : [...WORKER_VARIANTS].reverse()) {
        await workerRound(crew, results, v, p.workerLoopMs, tallies.get(v.label))
      }
    }
    await crew.close()
  } catch (error) {
    await crew.terminate()
    throw error
  }
  return loopRows(`loop worker ${LOOP_HZ / 1000} kHz`, WORKER_VARIANTS, tallies)
}

// ---- on the main thread -------------------------------------------------------------

const INTERVAL = `setInterval(${PERIOD_MS})`
const TIMERS = 'RateLoop timers, spinMs 1 (default)'

const MAIN_VARIANTS: readonly Variant[] = [
  { label: INTERVAL, how: 'Node reschedules each fire 1 ms after the previous one: aims at the previous tick + 1 ms (negative: early, Node counts whole ms)' },
  { label: TIMERS, baseline: INTERVAL, how: 'setTimeout until 1 ms before the deadline, then polls from macrotasks (at 1 kHz: polls all the time)' },
]

/** `setInterval(1)` for `durationMs`, recording each fire. */
function intervalRun(durationMs: number, log: TickLog): Promise<void> {
  return new Promise<void>((resolve) => {
    const start = performance.now()
    let aimed = start + PERIOD_MS
    let k = 1
    const timer = setInterval(() => {
      const t = performance.now()
      if (t - start >= durationMs) {
        clearInterval(timer)
        resolve()
        return
      }
      log.add(t - aimed, t - (start + k * PERIOD_MS))
      aimed = t + PERIOD_MS
      k++
    }, PERIOD_MS)
  })
}

/** One main-thread run of `label` with the probe beside it; adds it to `into` unless it is a warm-up. */
async function mainRun(label: string, durationMs: number, into: LoopTally | undefined): Promise<void> {
  const log = new TickLog(LoopResults.capacity(durationMs))
  let fires = 0
  const probe = setInterval(() => fires++, PROBE_MS)
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  let stats: RateLoopStats | undefined
  try {
    if (label === TIMERS) {
      const loop = new RateLoop({
        hz: LOOP_HZ,
        onTick: (info) => {
          const t = performance.now()
          log.add(t - info.scheduledTime, t - info.scheduledTime)
        },
      })
      if (loop.blocking) throw new Error('Expected a RateLoop on the main thread to use timers by default, got blocking')
      stats = await loop.runForAsync(durationMs)
      if (stats.ticks !== log.count) throw new Error(`Expected stats().ticks to equal the ${log.count} ticks run, got ${stats.ticks}`)
    } else await intervalRun(durationMs, log)
  } finally {
    clearInterval(probe)
  }
  const wallMs = performance.now() - t0
  const used = process.cpuUsage(cpu)
  if (!into) return
  into.add(log, durationMs, (used.user + used.system) / 1000, wallMs)
  into.probes.push(fires)
  if (stats) {
    into.stats.push(stats)
    into.skipped += stats.skipped
    into.overruns += stats.overruns
  }
}

/** RateLoop at 1 kHz on main (timer mode) against setInterval(1), each with a setInterval(5) probe. */
export async function mainLoops(p: RuntimeProfile): Promise<Row[]> {
  const tallies = new Map(MAIN_VARIANTS.map((v) => [v.label, new LoopTally()]))
  for (const v of MAIN_VARIANTS) await mainRun(v.label, p.loopWarmupMs, undefined)
  for (let round = 0; round < p.loopRounds; round++) {
    for (const v of round % 2 === 0 ? MAIN_VARIANTS : [...MAIN_VARIANTS].reverse()) await mainRun(v.label, p.mainLoopMs, tallies.get(v.label))
  }
  return loopRows(`loop main ${LOOP_HZ / 1000} kHz`, MAIN_VARIANTS, tallies)
}
