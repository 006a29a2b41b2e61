/**
 * The flight plots of the demos' dashboards (`threadstate demo` and
 * `threadstate demo-fleet`): the drone's position against its reference,
 * the controller's tracking error and its loop jitter. Read only while a
 * page is open, from the latest pose, command and telemetry.
 *
 * @module
 */
import type { DashboardPlot } from '../../node/index.js'
import { newReference, referenceAt } from './flight.js'

/** Something with a latest value: a StateBuffer, in memory or on Redis. */
interface Latest<V> {
  latest(): { readonly value: V } | undefined
}

/** The objects the plots read. */
export interface FlightSources {
  /** The estimator's output. */
  readonly pose: Latest<{ readonly time: number; readonly position: readonly number[] }>
  /** The controller's output. */
  readonly command: Latest<{ readonly trackingError: number }>
  /** The controller's loop figures. */
  readonly telemetry: Latest<{ readonly jitterP50Ms: number; readonly jitterP99Ms: number; readonly jitterMaxMs: number }>
}

/** The three plots, by title. */
export function flightPlots({ pose, command, telemetry }: FlightSources): Record<string, DashboardPlot> {
  const ref = newReference()
  return {
    'drone position vs reference (m)': () => {
      const p = pose.latest()?.value
      if (p === undefined) return undefined
      referenceAt(p.time, ref)
      const [x = 0, y = 0, z = 0] = p.position
      return { x, y, z, 'x ref': ref.position[0]!, 'y ref': ref.position[1]!, 'z ref': ref.position[2]! }
    },
    'tracking error (m)': () => {
      const c = command.latest()?.value
      return c === undefined ? undefined : { error: c.trackingError }
    },
    'controller loop jitter (ms)': () => {
      const t = telemetry.latest()?.value
      return t === undefined ? undefined : { p50: t.jitterP50Ms, p99: t.jitterP99Ms, max: t.jitterMaxMs }
    },
  }
}
