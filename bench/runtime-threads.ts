/**
 * The `runtime/race` case (see runtime.ts for the suite): 4 racer workers
 * (workers/runtime-racer.ts) move one machine round its cycle flat out, each
 * reading the state and asking to move from it, so a racer that read before
 * another moved is refused. The StateMachine against the Mutex-guarded
 * variable (workers/runtime-guarded.ts), rounds alternating. 4 busy threads
 * share the 2 cores.
 *
 * Checks after every round: the transitions the racers made equal the
 * machine's own count (StateMachine `stats().transitions`, the guarded
 * variable's plain counter under its lock, which a lock letting two threads
 * in would get wrong), and so do the refusals (`stats().rejected`).
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises'
import { StateMachine } from 'threadstate'
import { formatRate, summarize, type Row } from './report.js'
import type { RuntimeProfile } from './runtime.js'
import { Crew } from './workers/crew.js'
import { GuardedState } from './workers/runtime-guarded.js'
import { MACHINE, RaceKind, RaceResults } from './workers/runtime-kinds.js'

const racerScript = new URL('./workers/runtime-racer.js', import.meta.url)
const RACERS = 4
/** StateMachine transitions are counted modulo 2^24 (the seq in the state word). */
const SEQ_MASK = 0xffffff

/** What one kind accumulated over its rounds. */
class RaceTally {
  readonly rates: number[] = []
  made = 0
  refused = 0
  minShare = 1
}

/** The machine's own counters: transitions and refusals so far. */
type Counts = () => { transitions: number; refused: number }

async function raceRound(crew: Crew, kind: number, windowMs: number, results: SharedArrayBuffer, counts: Counts, into: RaceTally | undefined): Promise<void> {
  const all = new Float64Array(results)
  const before = counts()
  crew.start(kind, 0, () => all.fill(0))
  const t0 = performance.now()
  await delay(windowMs) // the measurement window, not a step ordering: racers stop on STOP
  crew.stop()
  const elapsed = performance.now() - t0
  await crew.finished()
  const after = counts()
  let made = 0
  let refused = 0
  const perRacer: number[] = []
  for (let i = 0; i < RACERS; i++) {
    made += all[2 * i + RaceResults.MADE]!
    refused += all[2 * i + RaceResults.REFUSED]!
    perRacer.push(all[2 * i + RaceResults.MADE]!)
  }
  const counted = kind === RaceKind.StateMachine ? (after.transitions - before.transitions) & SEQ_MASK : (after.transitions - before.transitions) | 0
  if (counted !== made) throw new Error(`Expected the machine to count the ${made} transitions the racers made, got ${counted}`)
  const refusedCounted = (after.refused - before.refused) | 0
  if (refusedCounted !== refused) throw new Error(`Expected the machine to count the ${refused} refusals the racers saw, got ${refusedCounted}`)
  if (!into) return
  into.rates.push(made / (elapsed / 1000))
  into.made += made
  into.refused += refused
  into.minShare = Math.min(into.minShare, ...perRacer.map((m) => m / made))
}

const R = {
  guarded: `race ${RACERS} workers: Mutex-guarded variable`,
  machine: `race ${RACERS} workers: StateMachine`,
} as const

/** 4 workers racing transitions: StateMachine against the Mutex-guarded variable. */
export async function race(p: RuntimeProfile): Promise<Row[]> {
  const fsm = StateMachine.create(MACHINE)
  const guarded = GuardedState.create(MACHINE)
  const results = new SharedArrayBuffer(RaceResults.bytes(RACERS))
  const crew = new Crew(racerScript, RACERS, { machine: fsm.handle, guarded: guarded.handle, results })
  const kinds = [
    {
      kind: RaceKind.Guarded,
      name: R.guarded,
      counts: () => guarded.counts(),
      tally: new RaceTally(),
      how: 's = state (lock, read, unlock), then transition(NEXT[s], s) (lock, compare, store, unlock)',
    },
    {
      kind: RaceKind.StateMachine,
      name: R.machine,
      counts: () => {
        const s = fsm.stats()
        return { transitions: s.transitions, refused: s.rejected }
      },
      tally: new RaceTally(),
      how: 's = fsm.state, then fsm.transition(NEXT[s], { from: s }): one compareExchange, a log entry',
    },
  ]
  try {
    await crew.ready()
    for (const k of kinds) await raceRound(crew, k.kind, p.raceWindowMs / 4, results, k.counts, undefined)
    for (let run = 0; run < p.raceRuns; run++) {
      for (const k of run % 2 === 0 ? kinds : [...kinds].reverse()) await raceRound(crew, k.kind, p.raceWindowMs, results, k.counts, k.tally)
    }
    await crew.close()
  } catch (error) {
    await crew.terminate()
    throw error
  }
  const pct = (fraction: number): string => `${(100 * fraction).toFixed(1)} %`
  const rows: Row[] = []
  for (const k of kinds) {
    const t = k.tally
    const s = summarize(t.rates)
    const baseline = k.kind === RaceKind.StateMachine ? R.guarded : undefined
    rows.push({
      name: `${k.name}, transitions/s`,
      measurement: { kind: 'throughput', opsPerSec: s.median, minOpsPerSec: s.min, maxOpsPerSec: s.max, runs: s.count },
      ...(baseline === undefined ? {} : { baseline: `${baseline}, transitions/s` }),
      note:
        `${k.how}; ${s.count} runs of ${p.raceWindowMs} ms from ${formatRate(s.min)} to ${formatRate(s.max)}; ` +
        `smallest per-racer share ${pct(t.minShare)} (fair: ${pct(1 / RACERS)}); ${RACERS} busy threads on 2 cores`,
    })
    rows.push({
      name: `${k.name}, refused`,
      measurement: { kind: 'value', value: (100 * t.refused) / (t.made + t.refused), unit: '%', what: 'refused ÷ attempts (another racer moved first), all runs' },
      ...(baseline === undefined ? {} : { baseline: `${baseline}, refused` }),
      note: `${t.refused} of ${t.made + t.refused} attempts; ${formatRate((t.made + t.refused) / ((s.count * p.raceWindowMs) / 1000))} attempts`,
    })
  }
  return rows
}
