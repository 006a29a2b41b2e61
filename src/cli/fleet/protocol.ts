/**
 * What the processes of `threadstate demo-fleet` agree on: the Redis
 * objects of the drone stack (names, schemas, definitions), the gains lock,
 * the scene, and the messages a child process and the parent exchange over
 * the `fork` IPC channel.
 *
 * ```
 *  flight process     estimator at 100 Hz --pose (RedisStateBuffer)--> kicks the pose watchdog
 *                     tuner: retunes the gains under the gains lock (the fault scene: killed holding it)
 *  controller process 1 kHz loop reading the pose mirror (readInto, checksum), gains from their
 *                     mirror; a command per new pose (RedisStateBuffer), telemetry at 20 Hz
 *  supervisor process RedisStateMachine init -> ready -> flying -> landed, estop from anywhere;
 *                     watches the RedisWatchdog (estop on expiry); on estop puts safe gains back
 *                     under the gains lock; status snapshot at 10 Hz
 *  parent (operator)  starts redis-server, forks the three, sets the operator's RedisTriggerFlags,
 *                     draws the live view from its own mirrors, kills, checks
 * ```
 *
 * The drone itself (schemas, reference, noise, PD law, checksum) is the one
 * of `threadstate demo` (../drone/).
 *
 * @module
 */
import type { StateMachineOptions } from '../../index.js'
import type { RedisDomain } from '../../redis/index.js'
import { Command, DroneState, FLIGHT_MACHINE, INITIAL_GAINS, OPERATOR_TRIGGERS, Telemetry, type DemoStatus, type FlightState } from '../drone/protocol.js'

/** The gains lock's name (the gains themselves are the `gains` snapshot store). */
export const GAINS_LOCK = 'gains-lock'
/** How long the gains lock's lease lasts without a renewal (ms): a killed holder is declared dead this long after its last renewal. */
export const GAINS_LEASE_MS = 1_000
/** Silence of the pose (ms of the server's clock) after which the watchdog expires. */
export const FLEET_WATCHDOG_MS = 1_000
/** The estimator kicks the watchdog every this many publications (20 Hz). */
export const KICK_EVERY = 5
/** The controller calls a pose older than this stale (ms): a bridge hop and a loaded machine included. */
export const FLEET_STALE_AFTER_MS = 100
/** Before the first pose, the supervisor waits this long (ms) before calling the silence an emergency. */
export const FLEET_STARTUP_DEADLINE_MS = 10_000

/** The controller gains as stored on Redis (one snapshot, so a reader never sees half of one write). */
export interface FleetGains {
  readonly kp: number
  readonly kd: number
  readonly maxAccel: number
  /** Completed retunes. */
  readonly retunes: number
  /** Who wrote them last. */
  readonly by: string
}

/** The gains the run starts with. */
export const START_GAINS: FleetGains = { ...INITIAL_GAINS, retunes: 0, by: 'start' }
/** The operator's retune (the clean scene). */
export const RETUNED = { kp: 5, kd: 3.5 } as const
/** The tuner's retune (the fault scene): its first half is written, the second is its late write. */
export const TUNER_GAINS = { kp: 6, kd: 4 } as const
/** What the supervisor puts back after an emergency stop. */
export const SAFE_GAINS = { kp: 2, kd: 2.5, maxAccel: 4 } as const

/** The flight machine of `threadstate demo`. */
export const FLEET_MACHINE: StateMachineOptions<FlightState> = FLIGHT_MACHINE

/** Every Redis object of the demo, opened by name in every process. */
export async function openFleet(redis: RedisDomain) {
  const [pose, command, telemetry, status, gains, machine, operator, gainsLock] = await Promise.all([
    redis.stateBuffer('pose', DroneState, { history: 16 }),
    redis.stateBuffer('command', Command, { history: 16 }),
    redis.stateBuffer('telemetry', Telemetry, { history: 4 }),
    redis.snapshotStore<FleetStatus | undefined>('status', { initial: undefined }),
    redis.snapshotStore<FleetGains>('gains', { initial: START_GAINS }),
    redis.stateMachine('machine', FLEET_MACHINE),
    redis.triggerFlags('operator', OPERATOR_TRIGGERS),
    redis.mutex(GAINS_LOCK, { leaseMs: GAINS_LEASE_MS }),
  ])
  return { pose, command, telemetry, status, gains, machine, operator, gainsLock }
}

/** The objects {@link openFleet} opens. */
export type FleetObjects = Awaited<ReturnType<typeof openFleet>>

/** The status snapshot the supervisor publishes (the one of `threadstate demo`, without thread counts). */
export type FleetStatus = Omit<DemoStatus, 'threads'>

/** A child process's role; each runs ./process.js with the role as its argument. */
export type FleetRole = 'flight' | 'controller' | 'supervisor'

/** The roles, in start order. */
export const FLEET_ROLES: readonly FleetRole[] = ['supervisor', 'controller', 'flight']

/** What a child gets on its command line (as JSON, the argument after the role). */
export interface ChildSetup {
  readonly url: string
  readonly namespace: string
  /** Seed of the estimator's noise. */
  readonly seed: number
}

/** A dead holder, as the next holder was told (RedisOwnerDiedError). */
export interface OwnerDiedRecord {
  readonly deadHolder: string
  readonly deadFence: number
  /** The fence of the lease that was told. */
  readonly fence: number
  /** ms since the epoch, when it was told. */
  readonly at: number
}

/** The estimator's report. */
export interface FlightReport {
  readonly role: 'flight'
  readonly published: number
  /** Ticks whose publication was skipped: the previous one was still in flight. */
  readonly skipped: number
  readonly kicks: number
  readonly achievedHz: number
}

/** The controller's report. */
export interface FleetControllerReport {
  readonly role: 'controller'
  readonly ticks: number
  readonly achievedHz: number
  readonly jitterP99Ms: number
  readonly reads: number
  readonly freshReads: number
  readonly staleReads: number
  readonly tornReads: number
  readonly holds: number
  readonly commands: number
  readonly lastVersion: number
  readonly staleVersions: readonly [number, number]
  /** Gains in effect at the end (mirror) and the retunes they count. */
  readonly kp: number
  readonly kd: number
  readonly retunesSeen: number
  readonly writeErrors: number
}

/** The supervisor's report. */
export interface FleetSupervisorReport {
  readonly role: 'supervisor'
  readonly ticks: number
  readonly publications: number
  /** Watchdog expiries this process declared (the server picks one declarer per silence). */
  readonly expiries: readonly { readonly ageMs: number; readonly stopped: boolean }[]
  readonly triggers: readonly { readonly trigger: string; readonly moved: boolean }[]
  /** The owner-died report it got when it took the gains lock after an estop, if any. */
  readonly ownerDied: OwnerDiedRecord | undefined
  /** The fence it wrote the safe gains with, if it did. */
  readonly safeFence: number | undefined
}

/** Any child's report. */
export type FleetReport = FlightReport | FleetControllerReport | FleetSupervisorReport

/** The flight process holds the gains lock and has sent the second half of its retune (its late write). */
export interface HoldingMessage {
  readonly type: 'holding'
  /** Its identity, lock and fence. */
  readonly holder: string
  readonly lock: string
  readonly fence: number
  /** The second half of its retune, stamped with its fence: the parent delivers it after the next holder wrote. */
  readonly lateWrite: FleetGains
}

/** A message from a child to the parent. */
export type ChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'event'; readonly text: string; readonly alarm?: boolean }
  | HoldingMessage
  | { readonly type: 'repaired'; readonly ownerDied: OwnerDiedRecord | undefined; readonly fence: number }
  | { readonly type: 'report'; readonly report: FleetReport }
  | { readonly type: 'error'; readonly error: { readonly name: string; readonly message: string } }

/** A message from the parent to a child. */
export type ParentMessage = { readonly type: 'retune' }

/** The pid in a lock holder's identity (`host:pid:thread:domain`), or undefined. */
export function pidOfHolder(holder: string): number | undefined {
  const parts = holder.split(':')
  const pid = Number(parts[parts.length - 3])
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}
