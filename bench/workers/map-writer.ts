/**
 * The concurrent writer of the map get bench: while main times gets, this
 * worker writes the same keys flat out, one round per map kind (KIND, see
 * map-kinds.ts) until main raises STOP:
 *
 * - SharedMap: `set` of the number and object pools' keys, in turn;
 * - MutexTable: the same through the hand-rolled Mutex table;
 * - Rpc: a `set` request to the owner worker per write, awaiting each reply.
 *
 * Values are those of map-values.ts at an increasing sequence, so every read
 * on main can be checked. It counts completed writes into the results buffer.
 *
 * @module
 */
import { once } from 'node:events'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { SharedMap } from 'threadstate'
import { Ctl, serveRounds } from './crew.js'
import { MapWriterKind, MapWriterResults, type MapWriterData } from './map-kinds.js'
import { RpcClient, type PortMessage } from './map-rpc.js'
import { MutexTable } from './map-table.js'
import { NUMBER_KEYS, OBJECT_KEYS, POOL, numberValue, reading, type Reading } from './map-values.js'

/** Writes between two looks at STOP (one look is an Atomics.load). */
const STOP_EVERY = 16

async function main(data: MapWriterData): Promise<void> {
  if (!parentPort) throw new Error('Expected map-writer.js to run in a worker thread, got the main thread')
  const [message] = (await once(parentPort, 'message')) as [PortMessage]
  const port: MessagePort = message.port
  const rpc = new RpcClient(port)
  const control = new Int32Array(data.control)
  const map = SharedMap.attach(data.map)
  const table = MutexTable.attach<number | Reading>(data.table)
  const results = new Float64Array(data.results)
  let seq = 0

  const stopped = (): boolean => Atomics.load(control, Ctl.STOP) !== 0

  await serveRounds(control, async (kind) => {
    let writes = 0
    if (kind === MapWriterKind.SharedMap) {
      while (!stopped()) {
        for (let k = 0; k < STOP_EVERY; k += 2, seq++) {
          const i = seq & (POOL - 1)
          map.set(NUMBER_KEYS[i]!, numberValue(seq))
          map.set(OBJECT_KEYS[i]!, reading(i, seq))
        }
        writes += STOP_EVERY
      }
    } else if (kind === MapWriterKind.MutexTable) {
      while (!stopped()) {
        for (let k = 0; k < STOP_EVERY; k += 2, seq++) {
          const i = seq & (POOL - 1)
          table.set(NUMBER_KEYS[i]!, numberValue(seq))
          table.set(OBJECT_KEYS[i]!, reading(i, seq))
        }
        writes += STOP_EVERY
      }
    } else if (kind === MapWriterKind.Rpc) {
      while (!stopped()) {
        const i = seq & (POOL - 1)
        await rpc.request({ op: 'set', key: NUMBER_KEYS[i]!, value: numberValue(seq) })
        await rpc.request({ op: 'set', key: OBJECT_KEYS[i]!, value: reading(i, seq) })
        seq++
        writes += 2
      }
    } else {
      throw new Error(`Expected a MapWriterKind, got ${kind}`)
    }
    results[MapWriterResults.WRITES] = writes
  })
  port.close()
}

await main(workerData as MapWriterData)
