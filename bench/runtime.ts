/**
 * The runtime benches (`npm run bench -- runtime`): the fixed-rate loop, the
 * state machine, the trigger flags and the watchdog, each next to what a
 * user would write instead, measured in the same run. These are the figures
 * the rate-loop and state-machine tests only print (issue 5: in the
 * benchmark, not in the tests).
 *
 * - `runtime/loop-worker`: RateLoop at 1 kHz in a worker (blocking; spinMs
 *   default 0.2, 0 and 0.5): jitter, deadline error, ticks/s, overruns,
 *   skipped, against a naive loop sleeping `Atomics.wait(1 ms)` after each
 *   tick (relative sleeps: no deadlines), measured the same way.
 * - `runtime/loop-main`: RateLoop at 1 kHz on the main thread (timers), with
 *   a `setInterval(5)` probe counting how often the event loop got to run,
 *   against `setInterval(1)`.
 * - `runtime/transition`: StateMachine `transition` (cycling through allowed
 *   states) and `state` on one thread, against a Mutex-guarded state
 *   variable with a transitions check.
 * - `runtime/race`: 4 workers racing transitions (read the state, move from
 *   it): transitions/s and refusals, against the same Mutex-guarded variable.
 * - `runtime/flags`: TriggerFlags `set` + `takeAll` against `Atomics.or` +
 *   `Atomics.exchange`.
 * - `runtime/kick`: Watchdog `kick()` against `Atomics.store` of a timestamp.
 *
 * This file holds the profiles and the case list; the loops are in
 * runtime-loops.ts, the single-thread micro-benchmarks in runtime-micro.ts,
 * the race in runtime-threads.ts.
 *
 * @module
 */
import type { MicroProfile } from './micro.js'
import type { BenchCase, RunOptions, Suite } from './report.js'
import { mainLoops, workerLoops } from './runtime-loops.js'
import { flags, kicks, transitions } from './runtime-micro.js'
import { race } from './runtime-threads.js'

/** How long each part runs; `--quick` picks the short profile. */
export interface RuntimeProfile extends MicroProfile {
  /** Length of one worker loop run, ms (one run per variant and round). */
  readonly workerLoopMs: number
  /** Length of one main-thread loop run, ms. */
  readonly mainLoopMs: number
  /** Rounds of every loop variant (order alternating); samples pooled. */
  readonly loopRounds: number
  /** Untimed run of each loop variant first (JIT, first-tick effects), ms. */
  readonly loopWarmupMs: number
  /** Length of one race round, ms. */
  readonly raceWindowMs: number
  /** Race rounds per kind (kinds alternate). */
  readonly raceRuns: number
}

const FULL: RuntimeProfile = {
  microTimeMs: 300,
  microWarmupMs: 100,
  microRounds: 2,
  workerLoopMs: 2000,
  mainLoopMs: 1000,
  loopRounds: 2,
  loopWarmupMs: 200,
  raceWindowMs: 300,
  raceRuns: 5,
}

const QUICK: RuntimeProfile = {
  microTimeMs: 80,
  microWarmupMs: 40,
  microRounds: 1,
  workerLoopMs: 1000,
  mainLoopMs: 1000,
  loopRounds: 1,
  loopWarmupMs: 100,
  raceWindowMs: 150,
  raceRuns: 2,
}

const profileOf = (options: RunOptions): RuntimeProfile => (options.quick ? QUICK : FULL)

/** The runtime benches, selectable by case name. */
export const runtimeSuite: Suite = {
  name: 'runtime',
  cases: [
    {
      name: 'runtime/loop-worker',
      description: 'RateLoop 1 kHz in a worker (spinMs default, 0, 0.5): jitter, deadline error, ticks/s vs a relative Atomics.wait loop',
      run: (options) => workerLoops(profileOf(options)),
    },
    {
      name: 'runtime/loop-main',
      description: 'RateLoop 1 kHz on main (timers) with a setInterval(5) probe vs setInterval(1)',
      run: (options) => mainLoops(profileOf(options)),
    },
    {
      name: 'runtime/transition',
      description: 'StateMachine transition and state read vs a Mutex-guarded state variable',
      run: (options) => transitions(profileOf(options)),
    },
    {
      name: 'runtime/race',
      description: '4 workers racing transitions: transitions/s and refusals vs a Mutex-guarded state variable',
      run: (options) => race(profileOf(options)),
    },
    {
      name: 'runtime/flags',
      description: 'TriggerFlags set + takeAll vs Atomics.or + Atomics.exchange',
      run: (options) => flags(profileOf(options)),
    },
    {
      name: 'runtime/kick',
      description: 'Watchdog kick() vs Atomics.store of a timestamp',
      run: (options) => kicks(profileOf(options)),
    },
  ] satisfies BenchCase[],
}
