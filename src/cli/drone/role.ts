/**
 * The frame of every worker of `threadstate demo`: attach the registry from
 * `workerData`, run the role, post its report (or its error) to the main
 * thread, release the registry.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { StateManager } from '../../index.js'
import type { DemoObjects, RoleReport, WorkerMessage, WorkerSetup } from './protocol.js'

/** What a role's body gets. */
export interface RoleContext {
  /** The registry, typed: `registry.get('pose')` is the pose StateBuffer. */
  readonly registry: StateManager<DemoObjects>
  /** The rest of `workerData`. */
  readonly setup: WorkerSetup
}

/** Runs `body` as this worker's role and posts a {@link WorkerMessage} when it returns or throws. */
export function runRole(body: (context: RoleContext) => RoleReport): void {
  const setup = workerData as WorkerSetup
  let registry: StateManager<DemoObjects> | undefined
  let message: WorkerMessage
  try {
    registry = StateManager.attach<DemoObjects>(setup.registry)
    message = { ok: true, report: body({ registry, setup }) }
  } catch (error) {
    const { name, message: text } = error instanceof Error ? error : new Error(String(error))
    message = { ok: false, error: { name, message: text } }
  } finally {
    registry?.close()
  }
  parentPort?.postMessage(message)
}
