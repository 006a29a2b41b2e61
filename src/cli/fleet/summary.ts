/**
 * The end of `threadstate demo-fleet`: what the run did, in a few lines, and
 * the checks that decide the exit code. Each compares a child's report, the
 * server's data (read after a `sync`) or what the parent saw happen with
 * what the scene must produce.
 *
 * @module
 */
import type { Transition } from '../../index.js'
import { count, hz, ms, seconds, type Style } from '../drone/format.js'
import type { FlightState } from '../drone/protocol.js'
import {
  FLEET_WATCHDOG_MS,
  RETUNED,
  SAFE_GAINS,
  pidOfHolder,
  type FleetControllerReport,
  type FleetGains,
  type FleetRole,
  type FleetStatus,
  type FleetSupervisorReport,
  type FlightReport,
} from './protocol.js'

/** One check of the run. */
export interface FleetCheck {
  readonly ok: boolean
  readonly text: string
}

/** How a child process ended. */
export interface ChildEnd {
  readonly role: FleetRole
  readonly pid: number
  readonly exitCode: number | null
  readonly signal: string | null
}

/** The fault scene, as the parent saw it. */
export interface KillRecord {
  /** When the parent asked for the retune, ms since the start. */
  readonly askedAtMs: number
  /** The flight process's pid. */
  readonly pid: number
  /** The holder and fence it reported while holding the lock (undefined: it never held it). */
  readonly holder: string | undefined
  readonly fence: number | undefined
  /** When SIGKILL was sent, ms since the start. */
  readonly killedAtMs: number | undefined
  /** What became of its late write, delivered after the next holder wrote. */
  readonly lateWrite: { readonly refused: boolean; readonly error: string; readonly newestFence: number | undefined } | undefined
}

/** Everything the summary needs. */
export interface FleetRunRecord {
  readonly ranMs: number
  readonly interrupted: boolean
  readonly startedAt: number
  readonly flight: FlightReport | undefined
  readonly controller: FleetControllerReport | undefined
  readonly supervisor: FleetSupervisorReport | undefined
  /** Child errors and hangs. */
  readonly failures: readonly string[]
  readonly ends: readonly ChildEnd[]
  /** Pids still alive after the run (must be none). */
  readonly leftAlive: readonly number[]
  readonly kill: KillRecord | undefined
  readonly transitions: readonly Transition<FlightState>[]
  readonly finalState: FlightState
  /** The server's pose version at the end. */
  readonly poseVersion: number
  readonly lastCommandHold: boolean | undefined
  readonly gains: FleetGains
  readonly status: FleetStatus | undefined
  readonly retuned: boolean
  readonly redis: string
}

/** Summary lines and checks. */
export interface FleetSummary {
  readonly lines: readonly string[]
  readonly checks: readonly FleetCheck[]
}

function path(record: FleetRunRecord): string {
  const [first] = record.transitions
  if (first === undefined) return 'init (no transition)'
  return [first.from, ...record.transitions.map((t) => `${t.to} (${seconds(t.at - record.startedAt)})`)].join(' -> ')
}

/** Builds the summary of `record`. */
export function summarizeFleet(record: FleetRunRecord, s: Style): FleetSummary {
  const { flight, controller: c, supervisor, kill } = record
  const lines: string[] = []
  const checks: FleetCheck[] = []
  const check = (ok: boolean, text: string): void => void checks.push({ ok, text })
  const row = (label: string, text: string): void => void lines.push(`  ${s.bold(label.padEnd(11))} ${text}`)

  const scenario = kill ? `the flight process killed holding the gains lock at ${seconds(kill.killedAtMs ?? kill.askedAtMs)}` : 'a clean run'
  lines.push(s.bold(`Summary: ${seconds(record.ranMs)} on ${record.redis}, ${scenario}${record.interrupted ? ' (interrupted)' : ''}`))
  row('processes', record.ends.map((e) => `${e.role} ${e.pid} (${e.signal ?? `exit ${e.exitCode ?? '?'}`})`).join(', '))
  row(
    'estimator',
    flight
      ? `${count(flight.published)} states at ${hz(flight.achievedHz)} loop rate, ${count(flight.skipped)} ticks skipped (a write in flight), ${count(flight.kicks)} kicks`
      : `${count(record.poseVersion)} states on the server, then killed`,
  )
  if (c) {
    row('controller', `${count(c.ticks)} ticks at ${hz(c.achievedHz)}, jitter p99 ${ms(c.jitterP99Ms)}; ${count(c.commands)} commands; ${c.writeErrors} write errors`)
    row(
      'reads',
      `${count(c.reads)} from the pose mirror: ${count(c.freshReads)} fresh, ${count(c.staleReads)} stale, ${count(c.tornReads)} torn (checksum on every read)`,
    )
  }
  row('gains', `kp ${record.gains.kp}, kd ${record.gains.kd}, written by ${record.gains.by} (on the server at the end)`)
  row('machine', path(record))
  const expiries = supervisor?.expiries ?? []
  const firstExpiry = expiries[0]
  row('watchdog', firstExpiry === undefined ? `no expiry (timeout ${ms(FLEET_WATCHDOG_MS)}, server clock)` : `expired after ${ms(firstExpiry.ageMs)} of server time without a kick`)
  const died = supervisor?.ownerDied
  if (died) row('owner died', `${died.deadHolder} (fence ${died.deadFence}) reported to the supervisor, whose lease has fence ${died.fence}`)
  if (kill?.lateWrite) row('late write', kill.lateWrite.error)

  // ---- checks ----------------------------------------------------------------
  for (const failure of record.failures) check(false, failure)
  const expected: FleetRole[] = kill ? ['controller', 'supervisor'] : ['flight', 'controller', 'supervisor']
  const reported = { flight, controller: c, supervisor }
  const missing = expected.filter((role) => reported[role] === undefined)
  check(missing.length === 0, missing.length === 0 ? `every process ran and reported (${expected.join(', ')})` : `no report from ${missing.join(', ')}`)
  check((c?.reads ?? 0) > 0 && c?.tornReads === 0, `no torn reads: ${count(c?.tornReads ?? 0)} of ${count(c?.reads ?? 0)} mirror reads failed the checksum`)
  const toEstop = record.transitions.find((t) => t.to === 'estop')
  if (kill) {
    const flightEnd = record.ends.find((e) => e.role === 'flight')
    check(
      kill.fence !== undefined && flightEnd?.signal === 'SIGKILL',
      kill.fence !== undefined
        ? `the flight process (pid ${kill.pid}) took the gains lock (fence ${kill.fence}), wrote half its retune and was killed holding it (${flightEnd?.signal ?? 'not by SIGKILL'})`
        : 'the flight process never reported holding the gains lock',
    )
    check(
      died !== undefined && pidOfHolder(died.deadHolder) === kill.pid && died.deadFence === kill.fence && died.fence > died.deadFence,
      died === undefined
        ? 'the next holder of the gains lock was not told that its holder died'
        : `the next holder was told (RedisOwnerDiedError): dead holder pid ${pidOfHolder(died.deadHolder) ?? '?'}, fence ${died.deadFence}; its own fence ${died.fence}`,
    )
    const late = kill.lateWrite
    check(
      late !== undefined && late.refused && (late.newestFence ?? 0) > (kill.fence ?? Infinity) && record.gains.kp === SAFE_GAINS.kp,
      late === undefined
        ? 'the dead holder\'s late write was never delivered'
        : `the fence refused the dead holder's late write (${late.error}); the server keeps the safe gains (kp ${record.gains.kp}, by ${record.gains.by})`,
    )
    const byWatchdog = toEstop !== undefined && toEstop.reason.startsWith('watchdog')
    check(
      byWatchdog && firstExpiry !== undefined && firstExpiry.stopped && firstExpiry.ageMs >= FLEET_WATCHDOG_MS,
      byWatchdog
        ? `the watchdog drove the machine to estop (${toEstop.reason}), ${ms(toEstop.at - record.startedAt - (kill.killedAtMs ?? 0))} after the kill`
        : `the watchdog did not drive the machine to estop (it is ${record.finalState})`,
    )
    check(
      c !== undefined && c.staleReads > 0 && c.lastVersion === record.poseVersion && c.staleVersions[1] === record.poseVersion,
      `the controller kept reading the last complete state (v${count(record.poseVersion)}), flagged stale: ${count(c?.staleReads ?? 0)} stale reads, last read v${count(c?.lastVersion ?? 0)}`,
    )
    check(
      record.lastCommandHold === true && c?.kp === SAFE_GAINS.kp,
      `the controller holds (last command ${record.lastCommandHold ? 'is a hold' : 'is NOT a hold'}) on the safe gains (kp ${c?.kp ?? '?'})`,
    )
  } else {
    const landed = ['init', 'ready', 'flying', 'landed'].join(' -> ')
    const went = [record.transitions[0]?.from ?? 'init', ...record.transitions.map((t) => t.to)].join(' -> ')
    check(went === landed, `the machine went ${went}${went === landed ? ', no estop' : ` (expected ${landed})`}`)
    check(expiries.length === 0, `the watchdog stayed quiet: ${expiries.length === 0 ? 'no expiry' : `${expiries.length} expiries`}`)
    if (record.retuned) {
      check(
        c !== undefined && c.kp === RETUNED.kp && c.kd === RETUNED.kd && c.retunesSeen === 1,
        `the controller picked up the operator's retune through its gains mirror (kp ${c?.kp ?? '?'}, ${c?.retunesSeen ?? 0} retune seen)`,
      )
    }
  }
  check(
    record.status?.machine.state === record.finalState,
    `the supervisor's last status snapshot shows the final state (${record.status?.machine.state ?? 'none'}; the machine is ${record.finalState})`,
  )
  check(
    record.leftAlive.length === 0 && record.ends.length === 3,
    record.leftAlive.length === 0 ? `no process left behind: ${record.ends.length} children exited` : `processes still alive: ${record.leftAlive.join(', ')}`,
  )
  return { lines, checks }
}
