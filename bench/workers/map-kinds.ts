/**
 * What main and the map bench workers agree on (as kinds.ts does for the
 * other suites): the KIND values of a writer round, the `workerData` shapes
 * and the results layout. Kept apart from the worker scripts so that main can
 * import it without running a worker's top level.
 *
 * @module
 */
import type { SharedMapHandle } from 'threadstate'
import type { CrewData } from './crew.js'
import type { MutexTableHandle } from './map-table.js'
import type { Reading } from './map-values.js'

/** KIND values of a writer round: which map the writer worker writes flat out until STOP. */
export const MapWriterKind = {
  /** `SharedMap.set` of the pools' keys. */
  SharedMap: 1,
  /** `MutexTable.set` of the same keys (map-table.ts). */
  MutexTable: 2,
  /** A `set` request/response to the owner worker per write (map-rpc.ts), over a MessagePort. */
  Rpc: 3,
} as const

/**
 * `workerData` of `map-writer.ts`. Its MessagePort to the owner comes in a
 * `{ op: 'port' }` message before it reports READY.
 */
export interface MapWriterData extends CrewData {
  readonly map: SharedMapHandle<number | Reading>
  readonly table: MutexTableHandle
  /** See {@link MapWriterResults}. */
  readonly results: SharedArrayBuffer
}

/**
 * Layout of the writer's results buffer (Float64), reset by main before each
 * round:
 *
 * ```
 *  WRITES   writes the writer completed this round (one set each)
 * ```
 */
export const MapWriterResults = { WRITES: 0, BYTES: 8 } as const

/**
 * `workerData` of `map-owner.ts`: nothing beyond the crew's. The owner builds
 * its `Map` from map-values.ts; the writer's MessagePort comes in a
 * `{ op: 'port' }` message.
 */
export type MapOwnerData = CrewData
