/**
 * The controller process of `threadstate demo-fleet`: the 1 kHz loop of
 * `threadstate demo`, reading the pose from this process's mirror of the
 * `pose` RedisStateBuffer (`readInto`: no lock, no network, no allocation),
 * verifying its checksum (a torn read would fail it), and taking the gains
 * from the mirror of the `gains` RedisSnapshotStore (one snapshot: never
 * half of a write). It publishes a PD command for each new pose (a Redis
 * write per pose, at most one in flight), holds when the machine is not
 * `flying` or its input is stale, and publishes its loop figures in
 * `telemetry` at 20 Hz.
 *
 * @module
 */
import { RateLoop, type RateLoopStats } from '../../index.js'
import { checksumOf, newReference, pdCommand, referenceAt } from '../drone/flight.js'
import { CONTROLLER_HZ, TELEMETRY_EVERY_TICKS, poseOffsets } from '../drone/protocol.js'
import { codecOf } from '../../state/codec.js'
import type { ChildContext } from './process.js'
import { FLEET_STALE_AFTER_MS, type FleetControllerReport } from './protocol.js'

/** NaN (no tick yet) as 0: schema fields take finite numbers only. */
const finite = (x: number): number => (Number.isFinite(x) ? x : 0)

/** Runs the controller until `shutdown`. */
export async function runController({ objects }: ChildContext): Promise<FleetControllerReport> {
  const { pose, command, telemetry, machine, operator, gains } = objects
  const codec = codecOf(pose.schema)
  const o = poseOffsets(codec.fields)
  const reader = pose.reader({ maxAgeMs: FLEET_STALE_AFTER_MS })
  const flat = new Float64Array(codec.size)
  const ref = newReference()
  const acceleration = new Float64Array(3)
  const out = { stateVersion: 0, acceleration, trackingError: 0, hold: true }
  let reads = 0
  let freshReads = 0
  let staleReads = 0
  let tornReads = 0
  let holds = 0
  let commands = 0
  let writeErrors = 0
  let lastVersion = 0
  let commandedVersion = 0
  let staleLow = 0
  let staleHigh = 0
  let ticks = 0
  let commandInFlight = false
  let telemetryInFlight = false

  const publishTelemetry = (stats: RateLoopStats): Promise<unknown> | undefined => {
    if (telemetryInFlight) return undefined
    telemetryInFlight = true
    const values = {
      ticks: stats.ticks,
      achievedHz: stats.achievedHz,
      jitterP50Ms: finite(stats.jitterP50Ms),
      jitterP99Ms: finite(stats.jitterP99Ms),
      jitterMaxMs: finite(stats.jitterMaxMs),
      overruns: stats.overruns,
      skipped: stats.skipped,
      reads,
      freshReads,
      staleReads,
      tornReads,
      holds,
      lastVersion,
    }
    return telemetry
      .publish(values, { source: 'controller' })
      .catch(() => writeErrors++)
      .finally(() => (telemetryInFlight = false))
  }

  const loop: RateLoop = new RateLoop({
    hz: CONTROLLER_HZ,
    blocking: true,
    spinMs: 0,
    onTick: () => {
      if (operator.test('shutdown')) return false
      if (ticks++ % TELEMETRY_EVERY_TICKS === 0) void publishTelemetry(loop.stats())
      const version = reader.readInto(flat)
      if (version === 0) return // nothing published yet
      reads++
      lastVersion = version
      if (reader.fresh) freshReads++
      const stale = reader.stale
      if (stale) {
        staleReads++
        if (staleLow === 0) staleLow = version
        staleHigh = version
      }
      if (flat[o.checksum] !== checksumOf(flat, flat.length, o.checksum)) tornReads++
      referenceAt(flat[o.time]!, ref)
      out.trackingError = pdCommand(ref, flat, o.position, o.velocity, gains.get(), acceleration)
      out.hold = stale || !machine.is('flying')
      if (out.hold) {
        acceleration.fill(0)
        holds++
      }
      // One command per pose version (a Redis write each), one in flight at a time; a hold is sent once.
      if (commandInFlight || (version === commandedVersion && !(out.hold && command.latest()?.value.hold === false))) return
      out.stateVersion = version
      commandedVersion = version
      commandInFlight = true
      command
        .publish(out, { source: 'controller' })
        .then(() => commands++, () => writeErrors++)
        .finally(() => (commandInFlight = false))
    },
  })
  const stats = await loop.runForAsync(Infinity)
  while (telemetryInFlight || commandInFlight) await new Promise((resolve) => setTimeout(resolve, 5))
  await publishTelemetry(stats)
  const final = gains.get()
  return {
    role: 'controller',
    ticks: stats.ticks,
    achievedHz: stats.achievedHz,
    jitterP99Ms: finite(stats.jitterP99Ms),
    reads,
    freshReads,
    staleReads,
    tornReads,
    holds,
    commands,
    lastVersion,
    staleVersions: [staleLow, staleHigh],
    kp: final.kp,
    kd: final.kd,
    retunesSeen: final.retunes,
    writeErrors,
  }
}
