/**
 * The supervisor process of `threadstate demo-fleet`: a 100 Hz loop that
 * takes the operator's triggers (read from the flags' mirror, taken on the
 * server: exactly once across processes), drives the `machine`
 * RedisStateMachine (`init -> ready` once the pose and the commands flow,
 * `takeoff`, `land`, `estop` from anywhere), watches the pose's
 * RedisWatchdog once the first pose is in (its expiry is an emergency stop,
 * declared by exactly one watching process on the server's clock), and
 * publishes the `status` snapshot at 10 Hz.
 *
 * On each watchdog expiry and on an operator's emergency stop (by anyone:
 * `onTransition` sees every process's transitions) it puts safe gains back under the gains lock. If the last
 * holder died holding it, the lock tells it so (RedisOwnerDiedError): it
 * writes the safe gains with its own, newer fence, marks the lock
 * consistent and reports both to the parent.
 *
 * @module
 */
import { RateLoop } from '../../index.js'
import { RedisOwnerDiedError, type RedisLease } from '../../redis/index.js'
import { STATUS_EVERY_TICKS, SUPERVISOR_HZ, type OperatorTrigger } from '../drone/protocol.js'
import type { ChildContext } from './process.js'
import {
  FLEET_STALE_AFTER_MS,
  FLEET_STARTUP_DEADLINE_MS,
  FLEET_WATCHDOG_MS,
  SAFE_GAINS,
  type FleetStatus,
  type FleetSupervisorReport,
  type OwnerDiedRecord,
} from './protocol.js'

const wallNow = (): number => performance.timeOrigin + performance.now()

/** Runs the supervisor until `shutdown`. */
export async function runSupervisor({ redis, objects, send }: ChildContext): Promise<FleetSupervisorReport> {
  const { pose, command, telemetry, status, machine, operator, gains, gainsLock } = objects
  let failure: unknown
  const fail = (error: unknown): void => void (failure ??= error)
  const expiries: { ageMs: number; stopped: boolean }[] = []
  const watchdog = await redis.watchdog('pose-watchdog', {
    timeoutMs: FLEET_WATCHDOG_MS,
    onExpire: ({ ageMs }) => {
      repairAfter() // each silence: a stall before the fault scene must not use up the repair
      machine.transition('estop', { reason: `watchdog: no pose for ${Math.round(ageMs)} ms` }).then(
        (stopped) => void expiries.push({ ageMs, stopped }),
        fail,
      )
    },
  })

  // Safe gains after an emergency stop, under the gains lock (once).
  let ownerDied: OwnerDiedRecord | undefined
  let safeFence: number | undefined
  let repairing: Promise<void> = Promise.resolve()
  const repairAfter = (): void => void (repairing = repairing.then(repair).catch(fail))
  const repair = async (): Promise<void> => {
    let lease: RedisLease | false
    try {
      lease = await gainsLock.lockAsync({ timeoutMs: 20_000 })
    } catch (error) {
      if (!(error instanceof RedisOwnerDiedError && error.holding && error.lease !== undefined)) throw error
      lease = error.lease
      ownerDied = { deadHolder: error.deadHolder, deadFence: error.deadFence, fence: lease.fence, at: wallNow() }
      send({ type: 'event', text: `supervisor: the gains lock says its holder died holding it (${error.deadHolder}, fence ${error.deadFence})`, alarm: true })
    }
    if (lease === false) throw new Error('the gains lock stayed busy for 20 s after the estop')
    try {
      await gains.publish({ ...SAFE_GAINS, retunes: gains.get().retunes, by: 'supervisor (safe)' }, { fence: lease })
      if (ownerDied !== undefined) await gainsLock.markConsistent()
      safeFence = lease.fence
    } finally {
      await gainsLock.unlock()
    }
    send({ type: 'repaired', ownerDied, fence: lease.fence })
  }
  const stopListening = machine.onTransition((t) => {
    if (t.to === 'estop' && !t.reason.startsWith('watchdog')) repairAfter() // the watchdog's own estops repaired in onExpire
  })

  // Triggers: the mirror says whether one is set; take() on the server says whether this process got it.
  const triggers: { trigger: OperatorTrigger; moved: boolean }[] = []
  let busy = false
  const act = (step: () => Promise<void>): void => {
    busy = true
    step()
      .catch(fail)
      .finally(() => (busy = false))
  }
  const take = (trigger: OperatorTrigger, move: () => Promise<boolean>): boolean => {
    if (!operator.test(trigger)) return false
    act(async () => {
      if (await operator.take(trigger)) triggers.push({ trigger, moved: await move() })
    })
    return true
  }

  const buildStatus = (): FleetStatus => {
    const m = machine.stats()
    const t = telemetry.latest()?.value
    const c = command.latest()
    const p = pose.latest()
    const ageMs = p === undefined ? -1 : wallNow() - p.timestamp
    return {
      at: wallNow(),
      machine: {
        state: m.state,
        inStateMs: m.inStateMs,
        transitions: m.transitions,
        rejected: m.rejected,
        history: machine.history(8).map(({ from, to, reason, at }) => ({ from, to, reason, at })),
      },
      estimator: { version: pose.version, ageMs, stale: ageMs > FLEET_STALE_AFTER_MS },
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
      watchdog: { timeoutMs: FLEET_WATCHDOG_MS, expired: ageMs > FLEET_WATCHDOG_MS, expiries: expiries.length },
    }
  }
  let publications = 0
  let statusInFlight = false
  const publishStatus = (): Promise<void> | undefined => {
    if (statusInFlight) return undefined
    statusInFlight = true
    return status
      .publish(buildStatus(), { source: 'supervisor' })
      .then(() => void publications++, fail)
      .finally(() => (statusInFlight = false))
  }

  const startedAt = wallNow()
  let startupExpired = false
  let lastState = machine.state
  let ticks = 0
  const loop = new RateLoop({
    hz: SUPERVISOR_HZ,
    blocking: true,
    spinMs: 0,
    onTick: () => {
      if (failure !== undefined) throw failure
      if (operator.test('shutdown')) return false
      ticks++
      if (!busy) {
        void (
          take('estop', () => machine.transition('estop', { reason: 'operator: estop' })) ||
          take('takeoff', () => machine.transition('flying', { from: 'ready', reason: 'operator: takeoff' })) ||
          take('land', () => machine.transition('landed', { from: 'flying', reason: 'operator: land' })) ||
          (machine.is('init') &&
            pose.version > 0 &&
            command.version > 0 &&
            (act(async () => void (await machine.transition('ready', { from: 'init', reason: 'estimator and controller up' }))), true))
        )
      }
      // Watched once the first pose is in; before it, silence is start-up, up to a deadline.
      if (pose.version > 0) watchdog.start()
      else if (!startupExpired && wallNow() - startedAt > FLEET_STARTUP_DEADLINE_MS) {
        startupExpired = true
        const ageMs = wallNow() - startedAt
        act(async () => void expiries.push({ ageMs, stopped: await machine.transition('estop', { reason: 'watchdog: no pose since start' }) }))
      }
      if (ticks % STATUS_EVERY_TICKS === 0 || machine.state !== lastState) {
        lastState = machine.state
        void publishStatus()
      }
    },
  })
  const stats = await loop.runForAsync(Infinity)
  watchdog.stop()
  stopListening()
  await repairing
  while (statusInFlight) await new Promise((resolve) => setTimeout(resolve, 5))
  await publishStatus()
  if (failure !== undefined) throw failure
  return { role: 'supervisor', ticks: stats.ticks, publications, expiries, triggers, ownerDied, safeFence }
}
