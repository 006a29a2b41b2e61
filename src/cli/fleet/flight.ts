/**
 * The flight process of `threadstate demo-fleet`: the estimator of
 * `threadstate demo` publishing the simulated drone state at 100 Hz in the
 * `pose` RedisStateBuffer (each with the checksum the controller verifies),
 * kicking the pose watchdog every fifth publication, and an auto-tuner.
 *
 * The tuner (the fault scene, on the parent's `retune`) takes the gains
 * lock, writes the first half of its retune with the lease's fence, hands
 * the second half (stamped with the same fence) to the parent, which stands
 * for a slow link and delivers it late, and is then killed by the parent
 * (SIGKILL) while it holds the lock. Its estimator dies with it: the pose
 * goes silent and the watchdog fires.
 *
 * @module
 */
import { RateLoop } from '../../index.js'
import { Noise, checksumOf, headingOf, newReference, referenceAt } from '../drone/flight.js'
import { ESTIMATOR_HZ, poseOffsets } from '../drone/protocol.js'
import { codecOf } from '../../state/codec.js'
import type { ChildContext } from './process.js'
import { FLEET_WATCHDOG_MS, KICK_EVERY, TUNER_GAINS, type FlightReport } from './protocol.js'

/** Standard deviations of the simulated sensor noise (as `threadstate demo`). */
const NOISE = { positionM: 0.02, velocityMps: 0.05, yawRateRadps: 0.01 } as const

/** Runs the estimator until `shutdown`; the tuner answers the parent's `retune`. */
export async function runFlight({ redis, objects, setup, send, onMessage }: ChildContext): Promise<FlightReport> {
  const { pose, operator, gains, gainsLock } = objects
  const watchdog = await redis.watchdog('pose-watchdog', { timeoutMs: FLEET_WATCHDOG_MS })
  const codec = codecOf(pose.schema)
  const o = poseOffsets(codec.fields)
  const noise = new Noise(setup.seed)
  const ref = newReference()
  const flat = new Float64Array(codec.size)
  const view = (offset: number, length: number): Float64Array => flat.subarray(offset, offset + length)
  const position = view(o.position, 3)
  const velocity = view(o.velocity, 3)
  const attitude = view(o.attitude, 4)
  const angularVelocity = view(o.angularVelocity, 3)
  const state = { time: 0, seq: 0, position, velocity, attitude, angularVelocity, checksum: 0 }
  let published = 0
  let skipped = 0
  let kicks = 0
  let writing = false
  let failure: unknown

  onMessage((message) => {
    if (message.type !== 'retune') return
    void (async () => {
      const lease = await gainsLock.lockAsync({ timeoutMs: 5_000 })
      if (lease === false) return send({ type: 'event', text: 'tuner: the gains lock stayed busy for 5 s', alarm: true })
      const current = gains.get()
      await gains.publish({ ...current, kp: TUNER_GAINS.kp, by: 'tuner (half done)' }, { fence: lease })
      send({
        type: 'holding',
        holder: lease.holder,
        lock: lease.lock,
        fence: lease.fence,
        lateWrite: { ...current, kp: TUNER_GAINS.kp, kd: TUNER_GAINS.kd, retunes: current.retunes + 1, by: 'tuner' },
      })
      // Holding (the lease renews in the background) until the parent kills this process.
    })().catch((error: unknown) => send({ type: 'event', text: `tuner failed: ${String(error)}`, alarm: true }))
  })

  // Kicked before the first pose exists: the supervisor starts watching when it sees that pose, and
  // the watchdog was armed when the parent created it, seconds ago (the processes were starting).
  await watchdog.kick()
  kicks++
  const loop = new RateLoop({
    hz: ESTIMATOR_HZ,
    blocking: true,
    spinMs: 0,
    onTick: ({ index }) => {
      if (failure !== undefined) throw failure
      if (operator.test('shutdown')) return false
      if (writing) {
        skipped++ // the previous state is still on its way: one write in flight at a time
        return
      }
      const t = index / ESTIMATOR_HZ
      referenceAt(t, ref)
      headingOf(ref.velocity, ref.acceleration, attitude, angularVelocity)
      for (let i = 0; i < 3; i++) {
        position[i] = ref.position[i]! + noise.gaussian(NOISE.positionM)
        velocity[i] = ref.velocity[i]! + noise.gaussian(NOISE.velocityMps)
      }
      angularVelocity[2] = angularVelocity[2]! + noise.gaussian(NOISE.yawRateRadps)
      state.time = flat[o.time] = t
      state.seq = flat[o.seq] = published + 1
      flat[o.checksum] = 0
      state.checksum = checksumOf(flat, flat.length, o.checksum)
      writing = true
      // publish() copies the state before it returns: the next tick may rewrite it.
      pose
        .publish(state, { source: 'estimator' })
        .then(async () => {
          published++
          // Kick where the data is written: a stalled estimator stops kicking.
          if (published % KICK_EVERY === 1) {
            await watchdog.kick()
            kicks++
          }
        })
        .catch((error: unknown) => (failure = error))
        .finally(() => (writing = false))
    },
  })
  const stats = await loop.runForAsync(Infinity)
  return { role: 'flight', published, skipped, kicks, achievedHz: stats.achievedHz }
}
