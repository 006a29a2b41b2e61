/**
 * `threadstate demo`: a drone control stack on four threads (seeds 000 and
 * 003). The main thread creates every shared object, puts them in one
 * StateManager, spawns the estimator, controller and supervisor workers
 * with its handle, serves `GET /status`, `GET /metrics` and the live
 * dashboard at `GET /` (every object, and plots of the drone's position
 * against its reference, the tracking error and the controller's loop
 * jitter; its URL is the first line printed), plays the operator (takeoff,
 * a retune of the gains, land), optionally kills the estimator, shows the
 * run live, and ends with checks that decide the exit code. The threads and
 * what they share: protocol.ts.
 *
 * The main thread never blocks: it waits with `waitForAsync`,
 * `withWriteAsync` and timers, and reads every figure lock-free.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import {
  RWLock,
  SnapshotStore,
  StateBuffer,
  StateMachine,
  StateManager,
  TriggerFlags,
  Watchdog,
  domainOf,
  type Transition,
} from '../../index.js'
import { ThreadstateMetrics, serveStatus, superviseWorker, type DashboardOptions, type StatusServer } from '../../node/index.js'
import { flightPlots } from './dashboard.js'
import { ANSI, PLAIN, ms, type Style } from './format.js'
import {
  Command,
  DroneState,
  FLIGHT_MACHINE,
  GainWord,
  INITIAL_GAINS,
  OPERATOR_TRIGGERS,
  STALE_AFTER_MS,
  Telemetry,
  WATCHDOG_TIMEOUT_MS,
  initialStatus,
  type DemoObjects,
  type DemoStatus,
  type FlightState,
  type RoleReport,
  type Role,
  type WorkerMessage,
  type WorkerSetup,
} from './protocol.js'
import { objectNames, summarize, type EndpointCheck, type KillRecord, type Summary } from './summary.js'
import { LiveView, type Output, type Sample } from './view.js'

/** Options of {@link runDroneDemo}. */
export interface DroneDemoOptions {
  /** How long the run lasts, in ms. @default 10000 */
  readonly durationMs?: number
  /** Terminate the estimator worker this long after the start, in ms (the watchdog scenario). */
  readonly killEstimatorAfterMs?: number
  /** Port of the status server; 0 picks a free one. @default 0 */
  readonly port?: number
  /** Redraw a live panel in place (ANSI) instead of printing plain lines. @default whether stdout is a terminal */
  readonly live?: boolean
  /** Where the output goes. @default process.stdout */
  readonly out?: Output
}

/** Default of {@link DroneDemoOptions.durationMs}. */
export const DEFAULT_DURATION_MS = 10_000
/** The operator retunes the gains to these at half time. */
const RETUNED = { kp: 5, kd: 3.5 } as const
/** Longest the workers may take to start, or to stop once told to. */
const STEP_TIMEOUT_MS = 10_000

const wallNow = (): number => performance.timeOrigin + performance.now()

/** A worker of the demo and what it will post. */
interface RunningRole {
  readonly worker: Worker
  /** Its report; undefined if it exited without one (killed). */
  readonly message: Promise<WorkerMessage | undefined>
}

function spawnRole(role: Role, workerData: Omit<WorkerSetup, 'role'>): RunningRole {
  const worker = new Worker(new URL(`./${role}.js`, import.meta.url), { workerData: { ...workerData, role } })
  const message = new Promise<WorkerMessage | undefined>((resolve) => {
    worker.once('message', resolve)
    worker.once('error', (error) => resolve({ ok: false, error: { name: error.name, message: error.message } }))
    worker.once('exit', () => resolve(undefined)) // does nothing if a message came first
  })
  return { worker, message }
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

/** Waits for every worker's report (they were told to stop); a worker that hangs is terminated. */
async function collectReports(running: ReadonlyMap<Role, RunningRole>): Promise<{ reports: RoleReport[]; failures: string[] }> {
  const reports: RoleReport[] = []
  const failures: string[] = []
  for (const [role, { worker, message }] of running) {
    const got = await within(message, STEP_TIMEOUT_MS, 'timeout' as const)
    if (got === 'timeout') {
      failures.push(`the ${role} worker did not stop within ${STEP_TIMEOUT_MS} ms of shutdown`)
      await worker.terminate()
    } else if (got?.ok === false) failures.push(`the ${role} worker failed: ${got.error.name}: ${got.error.message}`)
    else if (got?.ok) reports.push(got.report)
  }
  return { reports, failures }
}

/** Prints the summary and the checks; returns how many checks failed. */
function printSummary(out: Output, { lines, checks }: Summary, style: Style): number {
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

/** Creates every shared object of the demo. */
function createObjects(): { objects: DemoObjects; gainWords: Float64Array } {
  const pose = StateBuffer.create(DroneState, { history: 16 })
  const gainWords = new Float64Array(new SharedArrayBuffer(GainWord.WORDS * 8))
  gainWords[GainWord.KP] = INITIAL_GAINS.kp
  gainWords[GainWord.KD] = INITIAL_GAINS.kd
  gainWords[GainWord.MAX_ACCEL] = INITIAL_GAINS.maxAccel
  const objects: DemoObjects = {
    pose,
    command: StateBuffer.create(Command, { history: 16 }),
    telemetry: StateBuffer.create(Telemetry, { history: 4 }),
    status: SnapshotStore.create<DemoStatus>({ initial: initialStatus(), maxBytes: 1 << 20 }),
    machine: StateMachine.create<FlightState>(FLIGHT_MACHINE),
    operator: TriggerFlags.create(OPERATOR_TRIGGERS),
    // Main's own view of the watchdog (for /metrics and the panel); the supervisor attaches it.
    watchdog: Watchdog.forStateBuffer(pose, { maxAgeMs: WATCHDOG_TIMEOUT_MS }),
    gains: RWLock.create(),
  }
  return { objects, gainWords }
}

/** The dashboard of the run: every object, and plots of the flight (read only while a page is open). */
function dashboardOf(objects: DemoObjects, threads: object): DashboardOptions {
  return {
    title: 'threadstate demo · drone control stack',
    objects: () => ({ ...objects, threads: threads as { stats(): object } }),
    maxAgeMs: { pose: STALE_AFTER_MS },
    plots: flightPlots(objects),
  }
}

/** Fetches both endpoints once and says what they answered. */
async function checkEndpoints(server: StatusServer): Promise<EndpointCheck> {
  try {
    const signal = AbortSignal.timeout(5_000)
    const status = await fetch(`${server.url}/status`, { signal })
    const body = (await status.json()) as Partial<DemoStatus>
    const metrics = await fetch(`${server.url}/metrics`, { signal })
    const text = await metrics.text()
    const covered = new Set([...text.matchAll(/object="([^"]+)"/g)].map((m) => m[1]))
    return {
      statusCode: status.status,
      statusState: body.machine?.state,
      metricsCode: metrics.status,
      series: text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length,
      missing: objectNames().filter((name) => !covered.has(name)),
    }
  } catch (error) {
    const error_ = `the endpoints did not answer: ${error instanceof Error ? error.message : String(error)}`
    return { statusCode: 0, statusState: undefined, metricsCode: 0, series: 0, missing: [], error: error_ }
  }
}

/**
 * Runs the demo and returns the process exit code: 0 if every check passed,
 * 1 if one failed, 130 if the run was interrupted (Ctrl-C).
 */
export async function runDroneDemo(options: DroneDemoOptions = {}): Promise<number> {
  const durationMs = options.durationMs ?? DEFAULT_DURATION_MS
  const killAfterMs = options.killEstimatorAfterMs
  const out = options.out ?? process.stdout
  const live = options.live ?? (process.stdout.isTTY === true && process.env['TERM'] !== 'dumb')
  const startedAt = wallNow()
  const elapsed = (): number => wallNow() - startedAt

  const { objects, gainWords } = createObjects()
  const { pose, command, telemetry, status, machine, operator, watchdog, gains } = objects
  const registry = StateManager.create()
    .add('pose', pose)
    .add('command', command)
    .add('telemetry', telemetry)
    .add('status', status)
    .add('machine', machine)
    .add('operator', operator)
    .add('watchdog', watchdog)
    .add('gains', gains)
  const domain = domainOf(pose.handle.domain)
  const threads = { stats: () => domain.counts(), handle: { type: 'Domain' } }
  const metrics = new ThreadstateMetrics(() => ({ ...objects, threads }))
  let server: StatusServer
  try {
    server = await serveStatus({ status, metrics, port: options.port ?? 0, dashboard: dashboardOf(objects, threads) })
  } catch (error) {
    registry.close()
    const code = (error as { code?: unknown } | null)?.code
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error
    process.stderr.write(`threadstate demo: cannot serve /status on 127.0.0.1:${options.port}: ${(error as Error).message}\n`)
    return 1
  }

  const sample = (): Sample => ({
    atMs: elapsed(),
    machine: machine.stats(),
    pose: pose.stats(),
    commandVersion: command.version,
    command: command.latest()?.value,
    telemetry: telemetry.latest()?.value,
    gains: gains.stats(),
    watchdog: watchdog.stats(),
    threads: domain.counts(),
    statusVersion: status.version,
  })
  const colour = live && !process.env['NO_COLOR']
  const view = new LiveView(out, live, { url: server.url, durationMs, killEstimatorAfterMs: killAfterMs }, sample, colour)
  const event = (text: string, alarm = false): void => view.event({ atMs: elapsed(), text, alarm })
  const restoreCursor = (): void => view.restore()
  process.once('exit', restoreCursor)
  out.write(`dashboard: ${server.dashboardUrl ?? server.url}\n`) // first, before the view's own lines
  view.start()

  let shuttingDown = false
  // Transitions, by whichever thread makes them.
  const stopWatching = new AbortController()
  const watching = (async () => {
    for await (const t of machine.subscribe({ signal: stopWatching.signal })) {
      event(`machine ${t.from} -> ${t.to}: ${t.reason}`, t.to === 'estop')
      if (t.to === 'ready' && !shuttingDown) {
        operator.set('takeoff') // the operator answers "ready" with a takeoff
        event('operator: takeoff')
      }
    }
  })()

  const setup = { registry: registry.handle, gainWords, seed: 0x5eed }
  const roles: Role[] = ['supervisor', 'controller', 'estimator']
  const running = new Map(roles.map((role) => [role, spawnRole(role, setup)] as const))
  let kill: KillRecord | undefined
  for (const [role, { worker }] of running) {
    superviseWorker(worker, {
      onExit: ({ exitCode, markedDead }) => {
        if (role === 'estimator' && kill !== undefined) kill = { ...kill, exitCode, markedDead }
        if (!shuttingDown) event(`${role} thread exited (code ${exitCode}); superviseWorker marked thread ${markedDead.join(', ') || '-'} dead`, true)
      },
    })
  }
  event(`${roles.join(', ')} workers started; one StateManager handle carries the ${objectNames().length} shared objects`)

  // The operator.
  const timers: NodeJS.Timeout[] = []
  const at = (ms_: number, action: () => void): void => void timers.push(setTimeout(action, Math.max(0, ms_ - elapsed())))
  let retune: { atMs: number; kp: number } | undefined
  at(durationMs / 2, () => {
    const asked = elapsed()
    void gains
      .withWriteAsync(() => {
        gainWords[GainWord.KP] = RETUNED.kp
        gainWords[GainWord.KD] = RETUNED.kd
        gainWords[GainWord.RETUNES] = gainWords[GainWord.RETUNES]! + 1
      })
      .then(
        () => {
          retune = { atMs: asked, kp: RETUNED.kp }
          const change = `kp ${INITIAL_GAINS.kp} -> ${RETUNED.kp}, kd ${INITIAL_GAINS.kd} -> ${RETUNED.kd}`
          event(`operator retuned the gains under the RWLock (${change}; waited ${ms(elapsed() - asked)})`)
        },
        (error: unknown) => event(`operator could not retune the gains: ${String(error)}`, true),
      )
  })
  let landAsked = false
  at(durationMs * 0.9, () => {
    if (!machine.is('flying')) return
    landAsked = true
    operator.set('land')
    event('operator: land')
  })
  if (killAfterMs !== undefined) {
    const terminate = (): void => {
      kill = { atMs: elapsed(), exitCode: undefined, markedDead: [] }
      event('main: terminating the estimator worker', true)
      void running.get('estimator')!.worker.terminate()
    }
    // Not before the estimator's first state: on a busy machine a worker can
    // take longer than `killAfterMs` to start, and the scenario is a
    // publishing estimator that dies (one that never starts is the
    // supervisor's start-up deadline, STARTUP_DEADLINE_MS).
    const whenPublishing = (): void => {
      if (pose.version > 0) terminate()
      else timers.push(setTimeout(whenPublishing, 10))
    }
    at(killAfterMs, whenPublishing)
  }

  // Run, until the duration is over or Ctrl-C.
  let interrupted = false
  let onInterrupt = (): void => {}
  const interrupt = new Promise<void>((resolve) => {
    onInterrupt = () => {
      interrupted = true
      resolve()
    }
  })
  process.once('SIGINT', onInterrupt)
  await Promise.race([delay(durationMs), interrupt])
  process.removeListener('SIGINT', onInterrupt)
  if (!landAsked && machine.is('flying') && kill === undefined) {
    // Ctrl-C, or a takeoff later than the land time: land before stopping.
    landAsked = true
    operator.set('land')
    event(interrupted ? 'operator: land (Ctrl-C)' : 'operator: land')
  }
  if (landAsked) await machine.waitForAsync('landed', { timeoutMs: 1_000 }).catch(() => false)
  const ranMs = elapsed()

  // Stop: every worker sees `shutdown` within one tick and reports.
  shuttingDown = true
  for (const timer of timers) clearTimeout(timer)
  operator.set('shutdown')
  const { reports, failures } = await collectReports(running)
  stopWatching.abort()
  await watching.catch(() => {})
  view.stop()
  const endpoints = await checkEndpoints(server)
  await server.close()
  registry.close()
  process.removeListener('exit', restoreCursor)

  const style = colour ? ANSI : PLAIN
  const find = <R extends Role>(role: R) => reports.find((r): r is Extract<RoleReport, { role: R }> => r.role === role)
  const summary = summarize(
    {
      ranMs,
      killEstimatorAfterMs: killAfterMs,
      interrupted,
      estimator: find('estimator'),
      controller: find('controller'),
      supervisor: find('supervisor'),
      failures,
      kill,
      transitions: machine.history() as Transition<FlightState>[],
      startedAt,
      final: sample(),
      endpoints,
      retune,
    },
    style,
  )
  const failed = printSummary(out, summary, style)
  if (interrupted) return 130
  return failed === 0 ? 0 : 1
}
