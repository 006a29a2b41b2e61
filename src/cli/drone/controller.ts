/**
 * The controller worker of `threadstate demo`: a 1 kHz RateLoop that reads
 * the latest pose with `readInto` (no lock, no allocation), verifies its
 * checksum (a torn read would fail it), copies the gains under the `gains`
 * RWLock's read side, and publishes a PD command in the `command`
 * StateBuffer. It holds (zero command) when the machine is not `flying` or
 * when its input is stale, and goes on reading the last complete state when
 * the estimator dies. Every 50 ticks it publishes its loop figures in
 * `telemetry`.
 *
 * @module
 */
import { RateLoop, type RateLoopStats } from '../../index.js'
import { checksumOf, newReference, pdCommand, referenceAt } from './flight.js'
import { CONTROLLER_HZ, GainWord, STALE_AFTER_MS, TELEMETRY_EVERY_TICKS, poseOffsets } from './protocol.js'
import { runRole } from './role.js'

/** NaN (no tick yet) as 0: schema fields take finite numbers only. */
const finite = (x: number): number => (Number.isFinite(x) ? x : 0)

runRole(({ registry, setup }) => {
  const pose = registry.get('pose')
  const command = registry.get('command')
  const telemetry = registry.get('telemetry')
  const machine = registry.get('machine')
  const operator = registry.get('operator')
  const gainsLock = registry.get('gains')
  const gainWords = setup.gainWords

  const reader = pose.reader({ maxAgeMs: STALE_AFTER_MS })
  const flat = new Float64Array(pose.size)
  const o = poseOffsets(pose.fields)
  const ref = newReference()
  const gains = { kp: 0, kd: 0, maxAccel: 0 }
  let retunesSeen = 0
  // Plain copies under the read lock: the operator rewrites several words at once.
  const copyGains = (): void => {
    gains.kp = gainWords[GainWord.KP]!
    gains.kd = gainWords[GainWord.KD]!
    gains.maxAccel = gainWords[GainWord.MAX_ACCEL]!
    retunesSeen = gainWords[GainWord.RETUNES]!
  }
  const acceleration = new Float64Array(3)
  const out = { stateVersion: 0, acceleration, trackingError: 0, hold: true }
  let reads = 0
  let freshReads = 0
  let staleReads = 0
  let tornReads = 0
  let holds = 0
  let lastVersion = 0
  let staleLow = 0
  let staleHigh = 0
  let ticks = 0

  const publishTelemetry = (stats: RateLoopStats): void => {
    telemetry.publish(
      {
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
      },
      { source: 'controller' },
    )
  }

  const loop: RateLoop = new RateLoop({
    hz: CONTROLLER_HZ,
    onTick: () => {
      if (operator.test('shutdown')) return false
      if (ticks++ % TELEMETRY_EVERY_TICKS === 0) publishTelemetry(loop.stats())
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
      gainsLock.withRead(copyGains)
      referenceAt(flat[o.time]!, ref)
      out.trackingError = pdCommand(ref, flat, o.position, o.velocity, gains, acceleration)
      out.hold = stale || !machine.is('flying')
      if (out.hold) {
        acceleration.fill(0)
        holds++
      }
      out.stateVersion = version
      command.publish(out, { source: 'controller' })
    },
  })
  const stats = loop.runFor(Infinity)
  publishTelemetry(stats)
  return {
    role: 'controller',
    loop: stats,
    reads,
    freshReads,
    staleReads,
    tornReads,
    holds,
    lastVersion,
    staleVersions: [staleLow, staleHigh],
    kp: gains.kp,
    retunesSeen,
  }
})
