/**
 * What the threads of `threadstate demo` agree on: the rates, the state
 * schemas (with units), the flight state machine, the operator triggers, the
 * status snapshot, the registry every shared object travels in, and what a
 * worker is given and reports.
 *
 * ```
 *  estimator (worker, 100 Hz) --pose--> controller (worker, 1 kHz) --command-->
 *       |                                  |  reads `gains` under an RWLock
 *       | pose age                         +--telemetry (loop stats, reads)-->
 *       v
 *  supervisor (worker, 100 Hz): StateMachine init -> ready -> flying -> landed,
 *       estop from anywhere (watchdog, operator); operator TriggerFlags;
 *       publishes the `status` SnapshotStore at 10 Hz
 *  main: spawns and supervises the workers, is the operator, serves GET /status
 *       and GET /metrics, draws the live view, checks the run
 * ```
 *
 * All shared objects reach the workers in one `StateManager` handle; the
 * gains' words are a plain Float64Array next to it (the RWLock guards them).
 *
 * @module
 */
import {
  bool,
  f64,
  quat,
  schema,
  u32,
  vec3,
  type RateLoopStats,
  type RWLock,
  type SnapshotStore,
  type StateBuffer,
  type StateMachine,
  type StateMachineOptions,
  type StateManagerHandle,
  type TriggerFlags,
  type Watchdog,
} from '../../index.js'

/** Rate of the estimator's publications, in Hz. */
export const ESTIMATOR_HZ = 100
/** Rate of the controller's loop, in Hz. */
export const CONTROLLER_HZ = 1000
/** Rate of the supervisor's loop, in Hz. */
export const SUPERVISOR_HZ = 100
/** The controller calls a state older than this stale (5 estimator periods), in ms. */
export const STALE_AFTER_MS = 50
/** The watchdog expires when the estimator's latest state is older than this, in ms. */
export const WATCHDOG_TIMEOUT_MS = 250
/**
 * Before the first pose, silence is start-up (a worker being spawned), up to
 * this long after the supervisor started, in ms; past it, an estimator that
 * never published (it died or never came up) is an emergency too.
 */
export const STARTUP_DEADLINE_MS = 3000
/** The supervisor publishes the status every this many ticks (10 Hz), and on every machine change. */
export const STATUS_EVERY_TICKS = 10
/** The controller publishes its telemetry every this many ticks (20 Hz). */
export const TELEMETRY_EVERY_TICKS = 50

/** The estimator's output: a drone state, with the checksum the controller verifies. */
export const DroneState = schema({
  /** Simulation time. */
  time: f64({ unit: 's' }),
  /** The estimator's own count of states (1, 2, ...). */
  seq: u32(),
  position: vec3({ unit: 'm' }),
  velocity: vec3({ unit: 'm/s' }),
  /** Unit quaternion [w, x, y, z]. */
  attitude: quat(),
  angularVelocity: vec3({ unit: 'rad/s' }),
  /** `checksumOf` every other word of the flat state. */
  checksum: u32(),
})

/** The controller's output. */
export const Command = schema({
  /** Version of the pose it was computed from. */
  stateVersion: u32(),
  acceleration: vec3({ unit: 'm/s^2' }),
  /** Distance from the reference, by the state read. */
  trackingError: f64({ unit: 'm' }),
  /** True when the controller holds (not flying, or its input is stale): zero command. */
  hold: bool(),
})

/** The controller's figures, published every {@link TELEMETRY_EVERY_TICKS} ticks. */
export const Telemetry = schema({
  ticks: u32(),
  achievedHz: f64({ unit: 'Hz' }),
  jitterP50Ms: f64({ unit: 'ms' }),
  jitterP99Ms: f64({ unit: 'ms' }),
  jitterMaxMs: f64({ unit: 'ms' }),
  overruns: u32(),
  skipped: u32(),
  reads: u32(),
  freshReads: u32(),
  staleReads: u32(),
  /** Reads whose checksum did not match (must stay 0). */
  tornReads: u32(),
  /** Ticks that commanded a hold. */
  holds: u32(),
  /** Version of the last pose read. */
  lastVersion: u32(),
})

/** States of the flight machine. */
export const FLIGHT_STATES = ['init', 'ready', 'flying', 'landed', 'estop'] as const
/** A state of the flight machine. */
export type FlightState = (typeof FLIGHT_STATES)[number]

/** The flight machine: `estop` is reachable from every state and is final for the run. */
export const FLIGHT_MACHINE: StateMachineOptions<FlightState> = {
  states: FLIGHT_STATES,
  initial: 'init',
  transitions: { init: ['ready'], ready: ['flying'], flying: ['landed'] },
  anyTo: ['estop'],
}

/** Operator triggers (set by main, taken by the supervisor) and `shutdown`, which every worker tests. */
export const OPERATOR_TRIGGERS = ['takeoff', 'land', 'estop', 'shutdown'] as const
/** An operator trigger. */
export type OperatorTrigger = (typeof OPERATOR_TRIGGERS)[number]

/** Float64 words of the controller gains, guarded by the `gains` RWLock. */
export const GainWord = {
  /** Position gain, 1/s². */
  KP: 0,
  /** Velocity gain, 1/s. */
  KD: 1,
  /** Largest commanded acceleration, m/s². */
  MAX_ACCEL: 2,
  /** Times the operator retuned. */
  RETUNES: 3,
  WORDS: 4,
} as const

/** The gains the run starts with. */
export const INITIAL_GAINS = { kp: 4, kd: 3, maxAccel: 8 } as const

/** One transition, as the status shows it. */
export interface StatusTransition {
  readonly from: FlightState
  readonly to: FlightState
  readonly reason: string
  /** Milliseconds since the epoch. */
  readonly at: number
}

/** The status snapshot the supervisor publishes and `GET /status` serves. */
export interface DemoStatus {
  /** When the supervisor built it, ms since the epoch. */
  readonly at: number
  readonly machine: {
    readonly state: FlightState
    readonly inStateMs: number
    readonly transitions: number
    readonly rejected: number
    readonly history: readonly StatusTransition[]
  }
  readonly estimator: {
    /** Latest pose version (0: none yet). */
    readonly version: number
    /** Age of the latest pose, ms (-1: none yet). */
    readonly ageMs: number
    readonly stale: boolean
  }
  readonly controller: {
    /** Latest command version. */
    readonly commands: number
    readonly hold: boolean
    readonly trackingErrorM: number
    readonly achievedHz: number
    readonly jitterP99Ms: number
    readonly reads: number
    readonly staleReads: number
    readonly tornReads: number
  }
  readonly watchdog: {
    readonly timeoutMs: number
    readonly expired: boolean
    readonly expiries: number
  }
  /** Threads of the domain, and how many were marked dead. */
  readonly threads: { readonly threads: number; readonly dead: number }
}

/** The status before the supervisor's first publication. */
export function initialStatus(): DemoStatus {
  return {
    at: performance.timeOrigin + performance.now(),
    machine: { state: 'init', inStateMs: 0, transitions: 0, rejected: 0, history: [] },
    estimator: { version: 0, ageMs: -1, stale: false },
    controller: { commands: 0, hold: true, trackingErrorM: 0, achievedHz: 0, jitterP99Ms: 0, reads: 0, staleReads: 0, tornReads: 0 },
    watchdog: { timeoutMs: WATCHDOG_TIMEOUT_MS, expired: false, expiries: 0 },
    threads: { threads: 0, dead: 0 },
  }
}

/** Every shared object of the demo, by its name in the registry. */
export type DemoObjects = {
  /** The estimator's output. */
  readonly pose: StateBuffer<typeof DroneState>
  /** The controller's output. */
  readonly command: StateBuffer<typeof Command>
  /** The controller's figures. */
  readonly telemetry: StateBuffer<typeof Telemetry>
  /** The supervisor's status snapshot. */
  readonly status: SnapshotStore<DemoStatus>
  /** The flight machine. */
  readonly machine: StateMachine<FlightState>
  /** Operator triggers. */
  readonly operator: TriggerFlags<OperatorTrigger>
  /** Expires when the pose is older than {@link WATCHDOG_TIMEOUT_MS}. */
  readonly watchdog: Watchdog
  /** Guards the gains' words. */
  readonly gains: RWLock
}

/** The worker roles; each is a script beside this module (`<role>.js`). */
export type Role = 'estimator' | 'controller' | 'supervisor'

/** A worker's `workerData`. */
export interface WorkerSetup {
  readonly role: Role
  /** The registry: every object of {@link DemoObjects}. */
  readonly registry: StateManagerHandle<DemoObjects>
  /** The gains' words ({@link GainWord}), guarded by the registry's `gains` RWLock. */
  readonly gainWords: Float64Array
  /** Seed of the estimator's noise. */
  readonly seed: number
}

/** What the estimator reports when it stops (it does not when it is killed). */
export interface EstimatorReport {
  readonly role: 'estimator'
  readonly published: number
  readonly loop: RateLoopStats
}

/** What the controller reports when it stops. */
export interface ControllerReport {
  readonly role: 'controller'
  readonly loop: RateLoopStats
  readonly reads: number
  readonly freshReads: number
  readonly staleReads: number
  readonly tornReads: number
  readonly holds: number
  /** Version of the last pose read. */
  readonly lastVersion: number
  /** Lowest and highest version read while the input was stale (0: none). */
  readonly staleVersions: readonly [number, number]
  /** Gains in effect at the end (kp) and how many retunes the controller saw. */
  readonly kp: number
  readonly retunesSeen: number
}

/** One watchdog expiry, as the supervisor saw it. */
export interface ExpiryReport {
  /** Silence when it was noticed, ms. */
  readonly ageMs: number
  /** Whether its estop transition was the one that moved the machine. */
  readonly stopped: boolean
}

/** What the supervisor reports when it stops. */
export interface SupervisorReport {
  readonly role: 'supervisor'
  readonly loop: RateLoopStats
  readonly publications: number
  readonly expiries: readonly ExpiryReport[]
  /** Operator triggers taken, in order, and whether each moved the machine. */
  readonly triggers: readonly { readonly trigger: OperatorTrigger; readonly moved: boolean }[]
}

/** Any worker's report. */
export type RoleReport = EstimatorReport | ControllerReport | SupervisorReport

/** What a worker posts when it stops. */
export type WorkerMessage =
  | { readonly ok: true; readonly report: RoleReport }
  | { readonly ok: false; readonly error: { readonly name: string; readonly message: string } }

/** Offsets of the pose's fields in its flat form (`buffer.fields`, what `readInto` fills). */
export interface PoseOffsets {
  readonly time: number
  readonly seq: number
  readonly position: number
  readonly velocity: number
  readonly attitude: number
  readonly angularVelocity: number
  readonly checksum: number
}

/** Looks the offsets up in the buffer's flat layout. */
export function poseOffsets(fields: readonly { readonly path: string; readonly offset: number }[]): PoseOffsets {
  const at = (path: string): number => {
    const field = fields.find((f) => f.path === path)
    if (field === undefined) throw new Error(`Expected a pose field \`${path}\`, got ${fields.map((f) => f.path).join(', ')}`)
    return field.offset
  }
  return {
    time: at('time'),
    seq: at('seq'),
    position: at('position'),
    velocity: at('velocity'),
    attitude: at('attitude'),
    angularVelocity: at('angularVelocity'),
    checksum: at('checksum'),
  }
}
