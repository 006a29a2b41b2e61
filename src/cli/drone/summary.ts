/**
 * The end of `threadstate demo`: what the run did, in a few lines, and the
 * checks that decide the exit code. Every check could fail: each compares a
 * figure read from shared memory, or a worker's report, with what the
 * scenario must produce.
 *
 * @module
 */
import type { Transition } from '../../index.js'
import { count, hz, ms, percent, seconds, type Style } from './format.js'
import {
  CONTROLLER_HZ,
  ESTIMATOR_HZ,
  WATCHDOG_TIMEOUT_MS,
  type ControllerReport,
  type DemoObjects,
  type EstimatorReport,
  type FlightState,
  type SupervisorReport,
} from './protocol.js'
import type { Sample } from './view.js'

/** What the two endpoints answered at the end of the run. */
export interface EndpointCheck {
  readonly statusCode: number
  /** `machine.state` of the served status, if it parsed. */
  readonly statusState: string | undefined
  readonly metricsCode: number
  /** Sample lines in the metrics text. */
  readonly series: number
  /** Objects (of {@link DemoObjects}) with no series. */
  readonly missing: readonly string[]
  /** Why the endpoints could not be checked, if they could not. */
  readonly error?: string
}

/** The estimator's kill, as the main thread saw it. */
export interface KillRecord {
  /** When `terminate()` was called, ms since the start. */
  readonly atMs: number
  /** Exit code of the worker (undefined until it exited). */
  readonly exitCode: number | undefined
  /** Thread ids superviseWorker marked dead. */
  readonly markedDead: readonly number[]
}

/** Everything the summary needs. */
export interface RunRecord {
  readonly ranMs: number
  readonly killEstimatorAfterMs: number | undefined
  readonly interrupted: boolean
  readonly estimator: EstimatorReport | undefined
  readonly controller: ControllerReport | undefined
  readonly supervisor: SupervisorReport | undefined
  /** Worker errors and hangs. */
  readonly failures: readonly string[]
  readonly kill: KillRecord | undefined
  /** The machine's history, oldest first. */
  readonly transitions: readonly Transition<FlightState>[]
  /** Wall-clock time of the start (transition times are wall-clock). */
  readonly startedAt: number
  /** The last sample, after the workers stopped. */
  readonly final: Sample
  readonly endpoints: EndpointCheck
  /** The operator's retune: its time and the kp it set (undefined if none happened). */
  readonly retune: { readonly atMs: number; readonly kp: number } | undefined
}

/** One check of the run. */
export interface Check {
  readonly ok: boolean
  readonly text: string
}

/** Summary lines and checks of a run. */
export interface Summary {
  readonly lines: readonly string[]
  readonly checks: readonly Check[]
}

const OBJECT_NAMES: readonly (keyof DemoObjects)[] = ['pose', 'command', 'telemetry', 'status', 'machine', 'operator', 'watchdog', 'gains']

/** Names of the objects `/metrics` must cover. */
export function objectNames(): readonly string[] {
  return OBJECT_NAMES
}

/** "init -> ready (0.3 s) -> flying (0.4 s)". */
function path(record: RunRecord): string {
  const [first] = record.transitions
  if (first === undefined) return 'init (no transition)'
  return [first.from, ...record.transitions.map((t) => `${t.to} (${seconds(t.at - record.startedAt)})`)].join(' -> ')
}

/** Builds the summary of `record`. */
export function summarize(record: RunRecord, s: Style): Summary {
  const { estimator, controller: c, supervisor, final, kill } = record
  const pose = final.pose
  const lines: string[] = []
  const checks: Check[] = []
  const check = (ok: boolean, text: string): void => void checks.push({ ok, text })
  const row = (label: string, text: string): void => void lines.push(`  ${s.bold(label.padEnd(11))} ${text}`)

  const scenario = kill ? `the estimator killed at ${seconds(kill.atMs)}` : 'a clean run'
  lines.push(s.bold(`Summary: ${seconds(record.ranMs)}, ${scenario}${record.interrupted ? ' (interrupted)' : ''}`))
  if (kill) {
    const dead = kill.markedDead.length > 0 ? `superviseWorker marked thread ${kill.markedDead.join(', ')} dead` : 'no thread marked dead'
    row('estimator', `${count(pose.updates)} states (v1 .. v${count(pose.version)}), then killed (exit code ${kill.exitCode ?? '?'}); ${dead}`)
  } else {
    const rate = estimator ? hz(estimator.loop.achievedHz) : '?'
    row('estimator', `${count(pose.updates)} states at ${rate} (v1 .. v${count(pose.version)}), each with a checksum of its fields`)
  }
  if (c) {
    const l = c.loop
    row(
      'controller',
      `${count(l.ticks)} ticks at ${hz(l.achievedHz)}; jitter p50 ${ms(l.jitterP50Ms)}, p99 ${ms(l.jitterP99Ms)}, ` +
        `max ${ms(l.jitterMaxMs)}; ${l.overruns} overruns, ${l.skipped} skipped`,
    )
    const staleOf =
      c.staleReads === 0
        ? ''
        : c.staleVersions[0] === c.staleVersions[1]
          ? `, all of v${count(c.staleVersions[0])}`
          : ` (v${count(c.staleVersions[0])} .. v${count(c.staleVersions[1])})`
    row(
      'reads',
      `${count(c.reads)} by the controller (readInto): ${count(c.freshReads)} fresh, ${count(c.staleReads)} stale${staleOf}; ` +
        `${count(c.tornReads)} torn (checksum verified on every read); ${count(pose.readRetries)} retries`,
    )
    row('commands', `${count(final.commandVersion)} published; held on ${count(c.holds)} ticks (not flying, or stale input)`)
  }
  const g = final.gains
  const retune = record.retune ? `; the operator retuned once at ${seconds(record.retune.atMs)}` : ''
  row('gains', `RWLock read every tick: ${count(g.reads)} reads, ${percent(g.readsContended, g.reads)} waited (longest ${ms(g.readWaitMaxMs)})${retune}`)
  row('machine', path(record))
  const expiries = supervisor?.expiries ?? []
  const firstExpiry = expiries[0]
  row(
    'watchdog',
    firstExpiry === undefined
      ? `no expiry (timeout ${ms(WATCHDOG_TIMEOUT_MS)})`
      : `expired after ${ms(firstExpiry.ageMs)} without a pose (timeout ${ms(WATCHDOG_TIMEOUT_MS)}); ${expiries.length} ${expiries.length === 1 ? 'expiry' : 'expiries'}`,
  )
  const e = record.endpoints
  row(
    'http',
    e.error ??
      `GET /status ${e.statusCode} (machine ${e.statusState ?? '?'}), GET /metrics ${e.metricsCode} (${count(e.series)} series)`,
  )

  // ---- checks -------------------------------------------------------------------
  for (const failure of record.failures) check(false, failure)
  const expected = kill ? ['controller', 'supervisor'] : ['estimator', 'controller', 'supervisor']
  const reported = { estimator, controller: c, supervisor }
  const missing = expected.filter((role) => reported[role as keyof typeof reported] === undefined)
  check(missing.length === 0, missing.length === 0 ? `every worker ran and reported (${expected.join(', ')})` : `no report from ${missing.join(', ')}`)
  const reads = c?.reads ?? 0
  check(
    reads > 0 && c?.tornReads === 0,
    `no torn reads: ${count(c?.tornReads ?? 0)} of ${count(reads)} reads failed the checksum`,
  )
  const toEstop = record.transitions.find((t) => t.to === 'estop')
  if (kill) {
    check(
      kill.markedDead.length === 1,
      `the estimator was terminated at ${seconds(kill.atMs)}; superviseWorker marked ${kill.markedDead.length} thread dead`,
    )
    const byWatchdog = toEstop !== undefined && toEstop.reason.startsWith('watchdog')
    const after = toEstop === undefined ? '' : `, ${ms(toEstop.at - record.startedAt - kill.atMs)} after the kill`
    check(
      byWatchdog && firstExpiry !== undefined && firstExpiry.stopped && firstExpiry.ageMs >= WATCHDOG_TIMEOUT_MS,
      byWatchdog
        ? `the watchdog drove the machine to estop${after} (${toEstop.reason})`
        : `the watchdog did not drive the machine to estop (it is ${final.machine.state})`,
    )
    check(
      c !== undefined && c.staleReads > 0 && c.lastVersion === pose.version && c.staleVersions[1] === pose.version,
      `the controller kept reading the last complete state (v${count(pose.version)}), flagged stale: ` +
        `${count(c?.staleReads ?? 0)} stale reads, last read v${count(c?.lastVersion ?? 0)}`,
    )
    check(final.command?.hold === true, `the controller holds: last command ${final.command?.hold ? 'is a hold' : 'is NOT a hold'}`)
  } else {
    const landed = ['init', 'ready', 'flying', 'landed'].join(' -> ')
    const went = [record.transitions[0]?.from ?? 'init', ...record.transitions.map((t) => t.to)].join(' -> ')
    check(went === landed, `the machine went ${went}${went === landed ? ', no estop' : ` (expected ${landed})`}`)
    check(expiries.length === 0, `the watchdog stayed quiet: ${expiries.length === 0 ? 'no expiry' : `${expiries.length} expiries`}`)
    // Rates are reported, not checked: on a busy machine (a shared CI runner, both cores loaded) a
    // 1 kHz loop gets what the scheduler gives it, and every check above holds at any rate.
    const estimatorHz = estimator?.loop.achievedHz ?? 0
    const controllerHz = c?.loop.achievedHz ?? 0
    if (estimatorHz < ESTIMATOR_HZ / 2 || controllerHz < CONTROLLER_HZ / 2) {
      row('rates', `below half the targets (estimator ${hz(estimatorHz)} of ${hz(ESTIMATOR_HZ)}, controller ${hz(controllerHz)} of ${hz(CONTROLLER_HZ)}): the machine is busy; no check depends on it`)
    }
  }
  if (record.retune !== undefined && c !== undefined) {
    check(
      c.retunesSeen === 1 && c.kp === record.retune.kp,
      `the controller picked up the retune through the RWLock (kp ${c.kp}, ${c.retunesSeen} retune seen)`,
    )
  }
  const finalState = final.machine.state
  check(
    e.error === undefined && e.statusCode === 200 && e.statusState === finalState && e.metricsCode === 200 && e.missing.length === 0,
    e.error ??
      `GET /status served the last snapshot (machine ${e.statusState}) and GET /metrics every object` +
        (e.missing.length > 0 ? ` except ${e.missing.join(', ')}` : ''),
  )
  return { lines, checks }
}
