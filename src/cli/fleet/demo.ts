/**
 * `threadstate demo-fleet`: the drone stack of `threadstate demo` as three
 * processes on one Redis server (`threadstate/redis`): the flight process
 * (estimator and auto-tuner), the controller and the supervisor, forked
 * from this one, which plays the operator, draws the live view from its own
 * mirrors and ends with checks that decide the exit code. It serves a live
 * dashboard of the Redis-backed objects (its URL is the first line printed;
 * ../drone/dashboard.ts has the flight plots). The processes and what they
 * share: protocol.ts.
 *
 * The fault scene (`killAfterMs`): the tuner takes the gains lock, writes
 * half its retune, hands the other half (stamped with its fence) to this
 * process and is SIGKILLed holding the lock. The pose goes silent, the
 * watchdog fires on the server's clock and the supervisor stops the machine
 * (estop); putting safe gains back, it is told the lock's holder died
 * (RedisOwnerDiedError) and writes them with a newer fence; the dead
 * holder's late write, delivered then, is refused (StaleFenceError).
 *
 * Without `redisUrl` it starts a private `redis-server` (./redis-server.ts)
 * and stops it at the end. Every child dies with the run: they are killed
 * at the end, on Ctrl-C and when this process exits, and they exit on their
 * own when their IPC channel closes.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Transition } from '../../index.js'
import { serveStatus, type StatusServer } from '../../node/index.js'
import { RedisDomain, StaleFenceError } from '../../redis/index.js'
import { flightPlots } from '../drone/dashboard.js'
import { ANSI, PLAIN, ms, type Style } from '../drone/format.js'
import type { FlightState } from '../drone/protocol.js'
import type { Output } from '../drone/view.js'
import {
  FLEET_ROLES,
  FLEET_STALE_AFTER_MS,
  FLEET_WATCHDOG_MS,
  RETUNED,
  openFleet,
  type ChildMessage,
  type ChildSetup,
  type FleetReport,
  type FleetRole,
  type HoldingMessage,
  type ParentMessage,
} from './protocol.js'
import { startPrivateRedis, type PrivateRedis } from './redis-server.js'
import { summarizeFleet, type ChildEnd, type FleetSummary, type KillRecord } from './summary.js'
import { FleetView, type FleetSample } from './view.js'

/** Options of {@link runFleetDemo}. */
export interface FleetDemoOptions {
  /** How long the run lasts, in ms. @default 8000 */
  readonly durationMs?: number
  /** Run the fault scene this long after the start, in ms (not before the first pose). */
  readonly killAfterMs?: number
  /** A Redis server to use (`redis://host:port`); without one a private `redis-server` is started. */
  readonly redisUrl?: string
  /** Redraw a live panel in place (ANSI) instead of printing plain lines. @default whether stdout is a terminal */
  readonly live?: boolean
  /** Where the output goes. @default process.stdout */
  readonly out?: Output
}

/** Default of {@link FleetDemoOptions.durationMs}. */
export const DEFAULT_FLEET_DURATION_MS = 8_000
/** Longest the children may take to connect and open the objects, or to report once told to stop. */
const STEP_TIMEOUT_MS = 20_000
/** After the run's time, how long the fault scene may still take to play out (a loaded machine). */
const SCENE_GRACE_MS = 20_000
/** The fault scene waits at most this long for the takeoff. */
const TAKEOFF_WAIT_MS = 5_000

const wallNow = (): number => performance.timeOrigin + performance.now()

/** A child process and what it sends. */
interface Child {
  readonly role: FleetRole
  readonly process: ChildProcess
  readonly pid: number
  readonly ready: Promise<boolean>
  readonly report: Promise<FleetReport | string>
  readonly exited: Promise<ChildEnd>
  alive: boolean
}

function spawnChild(role: FleetRole, setup: ChildSetup, onMessage: (message: ChildMessage) => void): Child {
  const child = fork(new URL('./process.js', import.meta.url), [role, JSON.stringify(setup)], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const messages: ChildMessage[] = []
  const exited = new Promise<ChildEnd>((resolve) =>
    child.once('exit', (exitCode, signal) => {
      entry.alive = false
      resolve({ role, pid: child.pid ?? 0, exitCode, signal })
    }),
  )
  const first = <T>(pick: (m: ChildMessage) => T | undefined, fallback: T): Promise<T> =>
    new Promise((resolve) => {
      const seen = messages.map(pick).find((v) => v !== undefined)
      if (seen !== undefined) return resolve(seen)
      const listener = (m: ChildMessage): void => {
        const v = pick(m)
        if (v !== undefined) {
          child.off('message', listener)
          resolve(v)
        }
      }
      child.on('message', listener)
      void exited.then(() => resolve(fallback))
    })
  child.on('message', (message: ChildMessage) => {
    messages.push(message)
    onMessage(message)
  })
  const entry: Child = {
    role,
    process: child,
    pid: child.pid ?? 0,
    ready: first((m) => (m.type === 'ready' ? true : m.type === 'error' ? false : undefined), false),
    report: first<FleetReport | string>(
      (m) => (m.type === 'report' ? m.report : m.type === 'error' ? `the ${role} process failed: ${m.error.name}: ${m.error.message}` : undefined),
      `the ${role} process exited without a report`,
    ),
    exited,
    alive: true,
  }
  return entry
}

/** Resolves with `promise`'s value, or with `fallback` after `timeoutMs`. */
async function within<T, F>(promise: Promise<T>, timeoutMs: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), timeoutMs)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function printSummary(out: Output, { lines, checks }: FleetSummary, style: Style): number {
  const print = (line = ''): void => void out.write(`${line}\n`)
  print()
  for (const line of lines) print(line)
  print()
  print(style.bold('Checks'))
  for (const c of checks) print(`  ${c.ok ? '✓' : '✗'} ${c.text}`)
  const failed = checks.filter((c) => !c.ok).length
  print()
  print(failed === 0 ? `✓ All ${checks.length} checks passed.` : `✗ ${failed} of ${checks.length} checks failed.`)
  return failed
}

/**
 * Runs the demo and returns the process exit code: 0 if every check passed,
 * 1 if one failed (or no Redis server could be had), 130 if interrupted.
 */
export async function runFleetDemo(options: FleetDemoOptions = {}): Promise<number> {
  const durationMs = options.durationMs ?? DEFAULT_FLEET_DURATION_MS
  const killAfterMs = options.killAfterMs
  const out = options.out ?? process.stdout
  const live = options.live ?? (process.stdout.isTTY === true && process.env['TERM'] !== 'dumb')

  let server: PrivateRedis | undefined
  let url = options.redisUrl
  if (url === undefined) {
    const started = await startPrivateRedis()
    if (typeof started === 'string') {
      process.stderr.write(`threadstate demo-fleet: ${started}\n`)
      return 1
    }
    server = started
    url = started.url
  }
  const children: Child[] = []
  const killChildren = (): void => {
    for (const child of children) if (child.alive) child.process.kill('SIGKILL')
  }
  process.on('exit', killChildren)
  let redis: RedisDomain | undefined
  const dashboard: { server?: StatusServer } = {}
  try {
    const namespace = `fleet-${randomUUID().slice(0, 8)}`
    redis = await RedisDomain.connect({ url, namespace })
    return await run(redis, { url, namespace, seed: 0x5eed }, children, { durationMs, killAfterMs, out, live, server, dashboard })
  } finally {
    await dashboard.server?.close()
    killChildren()
    await Promise.all(children.map((c) => within(c.exited, 5_000, undefined)))
    process.removeListener('exit', killChildren)
    if (redis !== undefined) await within(redis.close(), 2_000, undefined)
    await server?.stop()
  }
}

interface RunSettings {
  readonly durationMs: number
  readonly killAfterMs: number | undefined
  readonly out: Output
  readonly live: boolean
  readonly server: PrivateRedis | undefined
  /** Where run() leaves its dashboard's server, for the caller to close. */
  readonly dashboard: { server?: StatusServer }
}

async function run(redis: RedisDomain, setup: ChildSetup, children: Child[], settings: RunSettings): Promise<number> {
  const { durationMs, killAfterMs, out, live } = settings
  // The run's clock starts once every child is up (connecting and opening take a while on a loaded machine).
  let startedAt = wallNow()
  const elapsed = (): number => wallNow() - startedAt
  const objects = await openFleet(redis)
  const { pose, command, telemetry, status, gains, machine, operator, gainsLock } = objects
  const watchdog = await redis.watchdog('pose-watchdog', { timeoutMs: FLEET_WATCHDOG_MS })
  const redisName = settings.server === undefined ? setup.url : `a private redis-server (pid ${settings.server.pid}, ${setup.url})`
  // The live dashboard of this process's mirrors (the watchdog's figures are read on the server, 4 times a second while a page is open).
  const shown = { pose, command, telemetry, status, gains, machine, operator, watchdog, redis: { stats: () => redis.stats(), handle: { kind: 'RedisDomain' } } }
  settings.dashboard.server = await serveStatus({
    dashboard: { title: 'threadstate demo-fleet · drone stack on Redis', objects: shown, maxAgeMs: { pose: FLEET_STALE_AFTER_MS }, plots: flightPlots(objects) },
  })
  out.write(`dashboard: ${settings.dashboard.server.dashboardUrl}\n`) // first, before the view's own lines

  let watchdogFigures: FleetSample['watchdog'] = { expired: false, lastKickAgeMs: Number.NaN, expiries: 0, timeoutMs: FLEET_WATCHDOG_MS }
  let gainsHolder: string | undefined
  const sample = (): FleetSample => {
    const p = pose.latest()
    return {
      atMs: elapsed(),
      machine: machine.stats(),
      poseVersion: pose.version,
      poseAgeMs: p === undefined ? Number.NaN : wallNow() - p.timestamp,
      commandVersion: command.version,
      command: command.latest()?.value,
      telemetry: telemetry.latest()?.value,
      gains: gains.get(),
      gainsHolder,
      watchdog: watchdogFigures,
      processes: children.map((c) => ({ role: c.role, pid: c.pid, alive: c.alive })),
      bridged: redis.stats().bridged,
    }
  }
  const scene = killAfterMs === undefined ? '' : `; the flight process is killed holding the gains lock at ${(killAfterMs / 1000).toFixed(1)} s`
  const header = `threadstate demo-fleet: the drone stack as ${FLEET_ROLES.length} processes on ${redisName} for ${(durationMs / 1000).toFixed(1)} s${scene}`
  const colour = live && !process.env['NO_COLOR']
  const view = new FleetView(out, live, header, sample, colour)
  const event = (text: string, alarm = false): void => view.event({ atMs: elapsed(), text, alarm })
  const refreshWatchdog = setInterval(() => {
    watchdog.stats().then(
      (w) => (watchdogFigures = { expired: w.expired, lastKickAgeMs: w.lastKickAgeMs, expiries: w.expiries, timeoutMs: w.timeoutMs }),
      () => {},
    )
  }, 250)
  process.once('exit', () => view.restore())

  // Transitions, by whichever process makes them (the bridge delivers every one in commit order).
  let shuttingDown = false
  const stopWatching = machine.onTransition((t) => {
    event(`machine ${t.from} -> ${t.to}: ${t.reason}`, t.to === 'estop')
    if (t.to === 'ready' && !shuttingDown) {
      event('operator: takeoff')
      operator.set('takeoff').catch((error: unknown) => event(`operator: could not set takeoff: ${String(error)}`, true))
    }
  })

  // The fault scene's record, filled as it plays out.
  let kill: { -readonly [K in keyof KillRecord]: KillRecord[K] } | undefined
  let sceneDone: () => void = () => {}
  const sceneOver = new Promise<void>((resolve) => (sceneDone = resolve))
  let holding: HoldingMessage | undefined
  const deliverLateWrite = async (): Promise<void> => {
    if (kill === undefined || holding === undefined) return
    try {
      await gains.publish(holding.lateWrite, { fence: { lock: holding.lock, fence: holding.fence } })
      kill.lateWrite = { refused: false, error: `the late write (fence ${holding.fence}) was ACCEPTED`, newestFence: undefined }
      event(kill.lateWrite.error, true)
    } catch (error) {
      const refused = error instanceof StaleFenceError
      const text = refused ? `${error.name}: fence ${holding.fence} < ${error.newestFence}` : `${String(error)}`
      kill.lateWrite = { refused, error: text, newestFence: refused ? error.newestFence : undefined }
      event(`operator: delivered the dead tuner's late write (kp ${holding.lateWrite.kp}, kd ${holding.lateWrite.kd}, fence ${holding.fence}): refused, ${text}`)
    }
    sceneDone()
  }
  const onMessage = (role: FleetRole) => (message: ChildMessage) => {
    if (message.type === 'event') event(message.text, message.alarm)
    else if (message.type === 'holding' && kill !== undefined) {
      holding = message
      kill.holder = message.holder
      kill.fence = message.fence
      gainsHolder = message.holder
      event(`flight: the tuner holds the gains lock (fence ${message.fence}), wrote kp ${message.lateWrite.kp} and sent kd ${message.lateWrite.kd} the slow way`)
      kill.killedAtMs = elapsed()
      children.find((c) => c.role === 'flight')?.process.kill('SIGKILL')
      event(`operator: SIGKILL to the flight process (pid ${kill.pid}) while it holds the gains lock`, true)
    } else if (message.type === 'repaired') {
      gainsHolder = undefined
      event(`supervisor: safe gains written under the gains lock with fence ${message.fence}${message.ownerDied ? ', lock marked consistent' : ''}`)
      if (kill !== undefined) void deliverLateWrite()
    } else if (message.type === 'error') event(`${role} process failed: ${message.error.name}: ${message.error.message}`, true)
  }

  for (const role of ['supervisor', 'controller', 'flight'] as const) children.push(spawnChild(role, setup, onMessage(role)))
  const ready = await within(Promise.all(children.map((c) => c.ready)), STEP_TIMEOUT_MS, 'timeout' as const)
  if (ready === 'timeout' || ready.includes(false)) {
    const reasons = await Promise.all(children.map((c) => within(c.report, 100, 'did not start in time')))
    process.stderr.write(`threadstate demo-fleet: the processes did not start: ${reasons.filter((r) => typeof r === 'string').join('; ')}\n`)
    clearInterval(refreshWatchdog)
    stopWatching()
    return 1
  }
  startedAt = wallNow()
  view.start()
  event(`${children.map((c) => `${c.role} (pid ${c.pid})`).join(', ')} started; each opened the ${Object.keys(objects).length} Redis objects by name`)

  // The operator.
  const timers: NodeJS.Timeout[] = []
  const at = (ms_: number, action: () => void): void => void timers.push(setTimeout(action, Math.max(0, ms_ - elapsed())))
  let retuned = false
  if (killAfterMs === undefined) {
    at(durationMs / 2, () => {
      const asked = elapsed()
      gainsLock
        .withLockAsync(async (lease) => {
          const g = gains.get()
          await gains.publish({ ...g, ...RETUNED, retunes: g.retunes + 1, by: 'operator' }, { fence: lease })
          return lease.fence
        }, { timeoutMs: 5_000 })
        .then(
          (fence) => {
            retuned = true
            event(`operator retuned the gains under the gains lock (kp ${RETUNED.kp}, kd ${RETUNED.kd}; fence ${fence}; took ${ms(elapsed() - asked)})`)
          },
          (error: unknown) => event(`operator could not retune the gains: ${String(error)}`, true),
        )
    })
  } else {
    const flight = children.find((c) => c.role === 'flight')!
    const start = (): void => {
      kill = { askedAtMs: elapsed(), pid: flight.pid, holder: undefined, fence: undefined, killedAtMs: undefined, lateWrite: undefined }
      event('operator: asks the flight process to retune the gains')
      flight.process.send({ type: 'retune' } satisfies ParentMessage)
    }
    // Not before the drone flies (or, if it never takes off, not before its first pose and
    // TAKEOFF_WAIT_MS later): the scene is an estimator in flight that dies.
    let waitedMs = 0
    const whenFlying = (): void => {
      if (pose.version > 0 && (machine.is('flying') || waitedMs >= TAKEOFF_WAIT_MS)) start()
      else {
        waitedMs += 10
        timers.push(setTimeout(whenFlying, 10))
      }
    }
    at(killAfterMs, whenFlying)
  }
  let landAsked = false
  at(durationMs * 0.9, () => {
    if (!machine.is('flying') || kill !== undefined) return
    landAsked = true
    event('operator: land')
    operator.set('land').catch((error: unknown) => event(`operator: could not set land: ${String(error)}`, true))
  })

  // Run until the time is over (and the fault scene has played out) or Ctrl-C.
  let interrupted = false
  let onInterrupt = (): void => {}
  const interrupt = new Promise<void>((resolve) => {
    onInterrupt = () => {
      interrupted = true
      resolve()
    }
  })
  process.once('SIGINT', onInterrupt)
  const sleeping = new AbortController()
  await Promise.race([delay(durationMs, undefined, { signal: sleeping.signal }).catch(() => {}), interrupt])
  sleeping.abort() // an interrupted run's timer must not hold the process
  if (!interrupted && killAfterMs !== undefined) {
    const over = await within(Promise.race([sceneOver, interrupt]), SCENE_GRACE_MS, 'timeout' as const)
    if (over === 'timeout') event(`the fault scene did not play out within ${SCENE_GRACE_MS / 1000} s after the run's time`, true)
  }
  process.removeListener('SIGINT', onInterrupt)
  for (const timer of timers) clearTimeout(timer)
  if (interrupted) {
    // Ctrl-C reached the whole process group (the private redis-server too): end now.
    clearInterval(refreshWatchdog)
    view.restore()
    out.write('\nthreadstate demo-fleet: interrupted; every child process was killed\n')
    return 130
  }
  if (landAsked) await machine.waitForAsync('landed', { timeoutMs: 2_000 }).catch(() => false)
  const ranMs = elapsed()

  // Stop: every child sees `shutdown` in its flags' mirror and reports.
  shuttingDown = true
  const failures: string[] = []
  await operator.set('shutdown')
  const reports: FleetReport[] = []
  for (const child of children) {
    if (!child.alive && child.role === 'flight' && kill !== undefined) continue
    const got = await within(child.report, STEP_TIMEOUT_MS, 'timeout' as const)
    if (got === 'timeout') failures.push(`the ${child.role} process did not report within ${STEP_TIMEOUT_MS / 1000} s of shutdown`)
    else if (typeof got === 'string') failures.push(got)
    else reports.push(got)
  }
  for (const child of children) if (child.alive) await within(child.exited, 5_000, undefined)
  for (const child of children) if (child.alive) child.process.kill('SIGKILL')
  const ends = await Promise.all(children.map((c) => c.exited))
  const leftAlive = ends.filter((e) => e.pid > 0 && isAlive(e.pid)).map((e) => e.pid)
  clearInterval(refreshWatchdog)
  stopWatching()
  view.stop()

  await Promise.all([pose.sync(), command.sync(), gains.sync(), status.sync(), machine.sync()])
  const find = <R extends FleetRole>(role: R) => reports.find((r): r is Extract<FleetReport, { role: R }> => r.role === role)
  const style = colour ? ANSI : PLAIN
  const summary = summarizeFleet(
    {
      ranMs,
      interrupted,
      startedAt,
      flight: find('flight'),
      controller: find('controller'),
      supervisor: find('supervisor'),
      failures,
      ends,
      leftAlive,
      kill,
      transitions: machine.history() as Transition<FlightState>[],
      finalState: machine.state,
      poseVersion: pose.version,
      lastCommandHold: command.latest()?.value.hold,
      gains: gains.get(),
      status: status.get() ?? undefined,
      retuned,
      redis: redisName,
    },
    style,
  )
  return printSummary(out, summary, style) === 0 ? 0 : 1
}
