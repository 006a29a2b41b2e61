/**
 * A child process of `threadstate demo-fleet` (forked by ./demo.ts as
 * `process.js <role> <setup JSON>`): connects to the Redis server, opens the
 * fleet's objects by name, runs its role until the operator's `shutdown`
 * flag, sends its report over the IPC channel and exits.
 *
 * It never outlives the parent: when the IPC channel closes (the parent
 * exited, however it died) the child exits at once. Ctrl-C on a terminal
 * reaches the whole process group; the child ignores it and lets the parent
 * decide (it kills its children).
 *
 * @module
 */
import { RedisDomain } from '../../redis/index.js'
import { runController } from './controller.js'
import { runFlight } from './flight.js'
import { openFleet, type ChildMessage, type ChildSetup, type FleetObjects, type FleetReport, type FleetRole, type ParentMessage } from './protocol.js'
import { runSupervisor } from './supervisor.js'

/** What a role's body gets. */
export interface ChildContext {
  readonly redis: RedisDomain
  readonly objects: FleetObjects
  readonly setup: ChildSetup
  /** Sends a message to the parent. */
  send(message: ChildMessage): void
  /** Calls `handler` for each message of the parent. */
  onMessage(handler: (message: ParentMessage) => void): void
}

const ROLES: Readonly<Record<FleetRole, (context: ChildContext) => Promise<FleetReport>>> = {
  flight: runFlight,
  controller: runController,
  supervisor: runSupervisor,
}

/** Sends `message` and resolves once it is handed to the channel (or the channel is gone). */
function sendNow(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
}

async function main(): Promise<void> {
  const role = process.argv[2] as FleetRole
  const body = ROLES[role]
  if (body === undefined) throw new Error(`Expected a role (${Object.keys(ROLES).join(', ')}), got \`${String(role)}\``)
  const setup = JSON.parse(process.argv[3] ?? '{}') as ChildSetup
  const redis = await RedisDomain.connect({ url: setup.url, namespace: setup.namespace })
  try {
    const objects = await openFleet(redis)
    const context: ChildContext = {
      redis,
      objects,
      setup,
      send: (message) => void sendNow(message),
      onMessage: (handler) => void process.on('message', (message) => handler(message as ParentMessage)),
    }
    const report = body(context)
    await sendNow({ type: 'ready' })
    await sendNow({ type: 'report', report: await report })
  } finally {
    await Promise.race([redis.close(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())])
  }
}

process.on('SIGINT', () => {}) // the parent ends the run
process.on('disconnect', () => process.exit(1)) // the parent is gone: never an orphan
main().then(
  () => process.exit(0),
  async (error: unknown) => {
    const { name, message } = error instanceof Error ? error : new Error(String(error))
    await sendNow({ type: 'error', error: { name, message } })
    process.exit(1)
  },
)
