/**
 * What main and the runtime bench workers agree on (as kinds.ts and
 * map-kinds.ts do for the other suites): the machine every state-machine
 * bench uses, the KIND values of a round, the bench's own control words, the
 * `workerData` shapes and the results layouts. Kept apart from the worker
 * scripts so that main can import it without running a worker's top level.
 *
 * @module
 */
import type { StateMachineDefinition, StateMachineHandle } from 'threadstate'
import { Ctl, type CrewData } from './crew.js'
import type { GuardedStateHandle } from './runtime-guarded.js'

// ---- the state machine of the transition and race benches --------------------

/** The machine's states: the control stack of the README (seed 003). */
export type MachineState = 'init' | 'ready' | 'walking' | 'stopped' | 'estop'

/** Its definition, the same for the StateMachine and the Mutex-guarded variable. */
export const MACHINE: StateMachineDefinition<MachineState> = {
  states: ['init', 'ready', 'walking', 'stopped', 'estop'],
  initial: 'init',
  transitions: { init: ['ready'], ready: ['walking'], walking: ['stopped'], stopped: ['ready'], estop: ['init'] },
  anyTo: ['estop'],
}

/** From each state, the allowed state the benches move to: ready → walking → stopped → ready … */
export const NEXT: Readonly<Record<MachineState, MachineState>> = {
  init: 'ready',
  ready: 'walking',
  walking: 'stopped',
  stopped: 'ready',
  estop: 'init',
}

// ---- the loop worker (runtime-loop.ts) -------------------------------------------

/** Rate of every loop bench, Hz. */
export const LOOP_HZ = 1000

/** KIND values of a loop round: which loop the worker runs for COUNT ms. */
export const LoopKind = {
  /** `for (;;) { tick(); Atomics.wait(word, 0, 0, period) }`: relative sleeps, no deadlines. */
  Naive: 1,
  /** `new RateLoop({ hz, spinMs }).runFor(COUNT)`, spinMs from {@link LoopWord.SPIN_US}. */
  RateLoop: 2,
} as const

/** The loop bench's own control words. */
export const LoopWord = {
  /** Main -> worker, per RateLoop round: spinMs in µs, or -1 to leave it at its default. */
  SPIN_US: Ctl.FREE,
} as const

/** `workerData` of `runtime-loop.ts`. */
export interface LoopData extends CrewData {
  /** See {@link LoopResults}; sized for the longest round main asks for. */
  readonly results: SharedArrayBuffer
}

/**
 * Layout of a loop round's results (Float64), written by the worker at the
 * end of the round:
 *
 * ```
 *  TICKS .. CPU_MS     header: counters and the RateLoop's own stats() (NaN for the naive loop)
 *  HEADER ..           jitter of tick i, ms (start − the time the loop aimed it at)
 *  HEADER + capacity.. deadline error of tick i, ms (start − its deadline on the absolute 1 kHz grid)
 * ```
 */
export const LoopResults = {
  TICKS: 0,
  SKIPPED: 1,
  OVERRUNS: 2,
  /** stats().achievedHz (RateLoop only). */
  ACHIEVED_HZ: 3,
  /** stats() jitter percentiles, max and mean, ms (RateLoop only). */
  P50: 4,
  P99: 5,
  MAX: 6,
  MEAN: 7,
  /** Longest tick body, ms (RateLoop only). */
  LONGEST: 8,
  /** process.cpuUsage() user + system over the run, ms (process-wide: main idles in Atomics.waitAsync meanwhile). */
  CPU_MS: 9,
  /** Wall time of the run, ms. */
  ELAPSED: 10,
  HEADER: 16,
  /** Ticks a round of `durationMs` can hold (one per period, and a margin). */
  capacity: (durationMs: number): number => Math.ceil((durationMs * LOOP_HZ) / 1000) + 16,
  bytes: (durationMs: number): number => 8 * (LoopResults.HEADER + 2 * LoopResults.capacity(durationMs)),
  /** Ticks a results buffer holds. */
  capacityOf: (results: SharedArrayBuffer): number => (results.byteLength / 8 - LoopResults.HEADER) / 2,
} as const

/**
 * Where a loop's ticks go: jitter and deadline error of tick i, in the two
 * sample arrays of a {@link LoopResults} buffer (the worker's) or of plain
 * arrays (main's loops). Ticks past the capacity are counted, not stored.
 */
export class TickLog {
  /** Ticks recorded (stored or not). */
  count = 0
  readonly jitter: Float64Array
  readonly deadline: Float64Array

  /** On `results` (a LoopResults buffer) or, without it, on fresh arrays. */
  constructor(capacity: number, results?: SharedArrayBuffer) {
    const buffer = results ?? new ArrayBuffer(8 * 2 * capacity)
    const at = results ? LoopResults.HEADER * 8 : 0
    this.jitter = new Float64Array(buffer, at, capacity)
    this.deadline = new Float64Array(buffer, at + 8 * capacity, capacity)
  }

  /** Records one tick: its jitter and its deadline error, ms. */
  add(jitterMs: number, deadlineErrorMs: number): void {
    const i = this.count++
    if (i < this.jitter.length) {
      this.jitter[i] = jitterMs
      this.deadline[i] = deadlineErrorMs
    }
  }

  /** The stored samples. */
  samples(): { jitter: Float64Array; deadline: Float64Array } {
    const n = Math.min(this.count, this.jitter.length)
    return { jitter: this.jitter.subarray(0, n), deadline: this.deadline.subarray(0, n) }
  }
}

// ---- racing transitions (runtime-racer.ts) --------------------------------------------

/** KIND values of a race round: what the racers move, flat out until STOP. */
export const RaceKind = {
  /** `fsm.transition(NEXT[s], { from: s })` after `s = fsm.state`. */
  StateMachine: 1,
  /** The same through the Mutex-guarded variable (runtime-guarded.ts). */
  Guarded: 2,
} as const

/** `workerData` of `runtime-racer.ts`. */
export interface RaceData extends CrewData {
  readonly machine: StateMachineHandle<MachineState>
  readonly guarded: GuardedStateHandle
  /** See {@link RaceResults}. */
  readonly results: SharedArrayBuffer
}

/**
 * Layout of a race round's results (Float64), reset by main before each round:
 *
 * ```
 *  2i      transitions worker i made
 *  2i + 1  transitions refused to worker i (another racer moved first)
 * ```
 */
export const RaceResults = {
  MADE: 0,
  REFUSED: 1,
  bytes: (workers: number): number => 16 * workers,
} as const
