/**
 * The estimator worker of `threadstate demo`: publishes a simulated drone
 * state (the reference figure eight plus seeded sensor noise) at 100 Hz in the
 * `pose` StateBuffer, each with a checksum of its other fields, until the
 * operator's `shutdown` trigger (or until the main thread terminates it: the
 * kill scenario).
 *
 * @module
 */
import { RateLoop } from '../../index.js'
import { Noise, checksumOf, headingOf, newReference, referenceAt } from './flight.js'
import { ESTIMATOR_HZ, poseOffsets } from './protocol.js'
import { runRole } from './role.js'

/** Standard deviations of the simulated sensor noise. */
const NOISE = { positionM: 0.02, velocityMps: 0.05, yawRateRadps: 0.01 } as const

runRole(({ registry, setup }) => {
  const pose = registry.get('pose')
  const operator = registry.get('operator')
  const noise = new Noise(setup.seed)
  const ref = newReference()
  const o = poseOffsets(pose.fields)
  // The state is built in its flat form (what readInto gives the controller),
  // so the checksum is computed over exactly the words the controller checks.
  // The publish() input's vectors are views of the flat array.
  const flat = new Float64Array(pose.size)
  const view = (offset: number, length: number): Float64Array => flat.subarray(offset, offset + length)
  const position = view(o.position, 3)
  const velocity = view(o.velocity, 3)
  const attitude = view(o.attitude, 4)
  const angularVelocity = view(o.angularVelocity, 3)
  const state = { time: 0, seq: 0, position, velocity, attitude, angularVelocity, checksum: 0 }
  let published = 0

  const loop = new RateLoop({
    hz: ESTIMATOR_HZ,
    onTick: ({ index }) => {
      if (operator.test('shutdown')) return false
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
      pose.publish(state, { source: 'estimator' })
      published++
    },
  })
  const stats = loop.runFor(Infinity)
  return { role: 'estimator', published, loop: stats }
})
