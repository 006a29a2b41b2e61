/**
 * The simulated flight of `threadstate demo`: the reference trajectory both
 * the estimator (truth + noise) and the controller (setpoint) use, seeded
 * sensor noise, the PD law, and the checksum that makes a torn read visible.
 * Plain arithmetic, no allocation on the per-tick paths.
 *
 * @module
 */

/** A 3-vector as a small Float64Array (reused, never allocated per tick). */
export type Vec3 = Float64Array

/** Position, velocity and acceleration of the reference at one instant. */
export interface Reference {
  /** Metres. */
  readonly position: Vec3
  /** Metres per second. */
  readonly velocity: Vec3
  /** Metres per second squared. */
  readonly acceleration: Vec3
}

/** A reference whose vectors are filled in place by {@link referenceAt}. */
export function newReference(): Reference {
  return { position: new Float64Array(3), velocity: new Float64Array(3), acceleration: new Float64Array(3) }
}

/** Half-width of the figure eight, in metres. */
const SPAN_M = 2
/** Cruise altitude, in metres. */
const ALTITUDE_M = 1.5
/** One figure eight takes this long, in seconds. */
const LAP_S = 8
const W = (2 * Math.PI) / LAP_S

/**
 * The reference at `t` seconds: a figure eight (lemniscate of Gerono) at
 * 1.5 m, one lap per 8 s, with a slow 10 cm bob. Written into `out`.
 */
export function referenceAt(t: number, out: Reference): Reference {
  const s = Math.sin(W * t)
  const c = Math.cos(W * t)
  const s2 = Math.sin(2 * W * t)
  const c2 = Math.cos(2 * W * t)
  const sb = Math.sin(0.5 * W * t)
  const cb = Math.cos(0.5 * W * t)
  const { position: p, velocity: v, acceleration: a } = out
  p[0] = SPAN_M * s
  p[1] = (SPAN_M / 2) * s2
  p[2] = ALTITUDE_M + 0.1 * sb
  v[0] = SPAN_M * W * c
  v[1] = SPAN_M * W * c2
  v[2] = 0.05 * W * cb
  a[0] = -SPAN_M * W * W * s
  a[1] = -2 * SPAN_M * W * W * s2
  a[2] = -0.025 * W * W * sb
  return out
}

/**
 * Heading of a velocity as a unit quaternion [w, x, y, z] (yaw only), and
 * the yaw rate given the acceleration, written into `quat` and `rate`.
 */
export function headingOf(velocity: Vec3, acceleration: Vec3, quat: Float64Array, rate: Vec3): void {
  const vx = velocity[0]!
  const vy = velocity[1]!
  const yaw = Math.atan2(vy, vx)
  quat[0] = Math.cos(yaw / 2)
  quat[1] = 0
  quat[2] = 0
  quat[3] = Math.sin(yaw / 2)
  const speed2 = vx * vx + vy * vy
  rate[0] = 0
  rate[1] = 0
  rate[2] = speed2 > 1e-9 ? (vx * acceleration[1]! - vy * acceleration[0]!) / speed2 : 0
}

/**
 * Seeded Gaussian noise (mulberry32 + Box-Muller): the same run every time
 * for the same seed.
 */
export class Noise {
  private state: number
  private spare = Number.NaN

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** A uniform number in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) | 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** A normal sample with standard deviation `sigma`. */
  gaussian(sigma: number): number {
    if (!Number.isNaN(this.spare)) {
      const z = this.spare
      this.spare = Number.NaN
      return z * sigma
    }
    const u = 1 - this.uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    const theta = 2 * Math.PI * this.uniform()
    this.spare = r * Math.sin(theta)
    return r * Math.cos(theta) * sigma
  }
}

/** Controller gains (the parameter set the operator may retune). */
export interface Gains {
  /** Position gain, 1/s². */
  readonly kp: number
  /** Velocity gain, 1/s. */
  readonly kd: number
  /** Largest commanded acceleration, m/s². */
  readonly maxAccel: number
}

/**
 * The PD law with feed-forward: `a = a_ref + kp (p_ref - p) + kd (v_ref - v)`,
 * its norm clamped to `maxAccel`, for the position and velocity found at
 * `positionAt` and `velocityAt` in a flat state. Writes `out`; returns the
 * position error norm (the tracking error, in metres).
 */
export function pdCommand(
  ref: Reference,
  flat: ArrayLike<number>,
  positionAt: number,
  velocityAt: number,
  gains: Gains,
  out: Vec3,
): number {
  let error2 = 0
  let norm2 = 0
  for (let i = 0; i < 3; i++) {
    const e = ref.position[i]! - flat[positionAt + i]!
    error2 += e * e
    const a = ref.acceleration[i]! + gains.kp * e + gains.kd * (ref.velocity[i]! - flat[velocityAt + i]!)
    out[i] = a
    norm2 += a * a
  }
  const norm = Math.sqrt(norm2)
  if (norm > gains.maxAccel) for (let i = 0; i < 3; i++) out[i] = (out[i]! * gains.maxAccel) / norm
  return Math.sqrt(error2)
}

// The checksum hashes the bits of each Float64 word: alias one double as two uint32s.
const word = new Float64Array(1)
const halves = new Uint32Array(word.buffer)

/**
 * FNV-1a over the bits of `flat[0 .. size)`, skipping word `skip` (where the
 * checksum itself is stored). A copy that mixes two versions of the state
 * (a torn read) fails it: every version has fresh noise in every field.
 * @returns an unsigned 32-bit integer
 */
export function checksumOf(flat: ArrayLike<number>, size: number, skip: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < size; i++) {
    if (i === skip) continue
    word[0] = flat[i]!
    h = Math.imul(h ^ halves[0]!, 0x01000193)
    h = Math.imul(h ^ halves[1]!, 0x01000193)
  }
  return h >>> 0
}
