/**
 * Node-only helpers (`threadstate/node`). Never imported by the core.
 *
 * @module
 */
export { superviseWorker, type SupervisedExit, type SuperviseOptions } from './supervise.js'
export {
  SnapshotFileError,
  loadSnapshot,
  persistSnapshots,
  restoreSnapshotStore,
  saveSnapshot,
  writeSnapshotFile,
  type PersistOptions,
  type RestoredStore,
  type SavedSnapshot,
  type Persistence,
  type SaveOptions,
  type SnapshotFile,
} from './persist.js'
export { ThreadstateMetrics, type HasStats, type MetricsOptions, type MetricsSource } from './metrics.js'
export { serveStatus, toJson, type StatusServer, type StatusServerOptions } from './status-server.js'
export {
  type DashboardFrame,
  type DashboardObject,
  type DashboardOptions,
  type DashboardPlot,
  type DashboardRegistry,
  type DashboardSource,
  type FrameObject,
} from './dashboard/feed.js'
