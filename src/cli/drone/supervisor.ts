/**
 * The supervisor worker of `threadstate demo` (seed 003): a 100 Hz loop that
 * takes the operator's triggers, drives the flight StateMachine (`init ->
 * ready` once the estimator and the controller are up, `takeoff`, `land`,
 * `estop` from anywhere), checks the Watchdog on the pose's age (its expiry
 * is an emergency stop), and publishes the status snapshot through a
 * throttling Publisher: every 10 ticks, and at once when the machine moves.
 *
 * @module
 */
import { RateLoop, Watchdog, domainOf } from '../../index.js'
import {
  STALE_AFTER_MS,
  STARTUP_DEADLINE_MS,
  STATUS_EVERY_TICKS,
  SUPERVISOR_HZ,
  type DemoStatus,
  type ExpiryReport,
  type OperatorTrigger,
} from './protocol.js'
import { runRole } from './role.js'

const wallNow = (): number => performance.timeOrigin + performance.now()

runRole(({ registry }) => {
  const pose = registry.get('pose')
  const command = registry.get('command')
  const telemetry = registry.get('telemetry')
  const status = registry.get('status')
  const machine = registry.get('machine')
  const operator = registry.get('operator')
  const domain = domainOf(pose.handle.domain)

  // The watchdog's activity is the pose's publication time: the same source
  // Watchdog.forStateBuffer uses, given here to the shared watchdog the main
  // thread created (a source is local to each attached object).
  const poseReader = pose.reader()
  const scratch = new Float64Array(pose.size)
  const lastPoseTime = (): number | undefined => (poseReader.readInto(scratch) === 0 ? undefined : poseReader.timestamp)
  const expiries: ExpiryReport[] = []
  const watchdog = Watchdog.attach(registry.handleOf('watchdog'), {
    source: lastPoseTime,
    onExpire: ({ ageMs }) => {
      const stopped = machine.transition('estop', { reason: `watchdog: no pose for ${Math.round(ageMs)} ms` })
      expiries.push({ ageMs, stopped })
    },
  })

  const triggers: { trigger: OperatorTrigger; moved: boolean }[] = []
  const take = (trigger: OperatorTrigger, act: () => boolean): void => {
    if (operator.take(trigger)) triggers.push({ trigger, moved: act() })
  }

  const buildStatus = (): DemoStatus => {
    const m = machine.stats()
    const t = telemetry.latest()?.value
    const c = command.latest()
    const poseTime = lastPoseTime()
    const ageMs = poseTime === undefined ? -1 : wallNow() - poseTime
    const w = watchdog.stats()
    return {
      at: wallNow(),
      machine: {
        state: m.state,
        inStateMs: m.inStateMs,
        transitions: m.transitions,
        rejected: m.rejected,
        history: machine.history(8).map(({ from, to, reason, at }) => ({ from, to, reason, at })),
      },
      estimator: { version: pose.version, ageMs, stale: ageMs > STALE_AFTER_MS },
      controller: {
        commands: c?.version ?? 0,
        hold: c?.value.hold ?? true,
        trackingErrorM: c?.value.trackingError ?? 0,
        achievedHz: t?.achievedHz ?? 0,
        jitterP99Ms: t?.jitterP99Ms ?? 0,
        reads: t?.reads ?? 0,
        staleReads: t?.staleReads ?? 0,
        tornReads: t?.tornReads ?? 0,
      },
      watchdog: { timeoutMs: w.timeoutMs, expired: w.expired, expiries: w.expiries },
      threads: domain.counts(),
    }
  }
  const publisher = status.publisher({
    everyTicks: STATUS_EVERY_TICKS,
    significant: (previous, next) => previous.machine.state !== next.machine.state,
  })

  const startedAt = wallNow()
  let startupExpired = false
  const loop = new RateLoop({
    hz: SUPERVISOR_HZ,
    onTick: () => {
      if (operator.test('shutdown')) return false
      take('estop', () => machine.transition('estop', { reason: 'operator: estop' }))
      take('takeoff', () => machine.transition('flying', { from: 'ready', reason: 'operator: takeoff' }))
      take('land', () => machine.transition('landed', { from: 'flying', reason: 'operator: land' }))
      if (machine.is('init') && pose.version > 0 && command.version > 0) {
        machine.transition('ready', { from: 'init', reason: 'estimator and controller up' })
      }
      // Checked once the first pose is in, in every state: a silent estimator
      // is an emergency even before takeoff. Before it, silence is start-up,
      // up to a deadline: an estimator that never publishes is one too.
      if (pose.version > 0) watchdog.check()
      else if (!startupExpired && wallNow() - startedAt > STARTUP_DEADLINE_MS) {
        startupExpired = true
        const ageMs = wallNow() - startedAt
        const stopped = machine.transition('estop', { reason: `watchdog: no pose for ${Math.round(ageMs)} ms since start (start-up deadline ${STARTUP_DEADLINE_MS} ms)` })
        expiries.push({ ageMs, stopped })
      }
      publisher.offer(buildStatus())
    },
  })
  const stats = loop.runFor(Infinity)
  publisher.offer(buildStatus())
  publisher.flush()
  return { role: 'supervisor', loop: stats, publications: publisher.publications, expiries, triggers }
})
