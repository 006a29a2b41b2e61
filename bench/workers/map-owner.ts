/**
 * The thread that owns a plain `Map` in the map benches' `postMessage`
 * alternative: it answers `get`/`set`/`update` requests (map-rpc.ts) from
 * main over its parent port and from the writer worker over a MessagePort,
 * one reply per request, in arrival order.
 *
 * It lives in its event loop, not in a crew round (a thread blocked in
 * `Atomics.wait` never sees a message). Start and end are crew handshakes, as
 * in state-owner.ts: READY once it listens; main's EXIT (crew.close()) is
 * seen by a 20 ms timer, which stops listening so the thread can end.
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { Ctl, EXIT } from './crew.js'
import type { MapOwnerData } from './map-kinds.js'
import { answer, type MapRequest, type PortMessage } from './map-rpc.js'
import { initialEntries } from './map-values.js'

function main(data: MapOwnerData): void {
  const parent = parentPort
  if (!parent) throw new Error('Expected map-owner.js to run in a worker thread, got the main thread')
  const control = new Int32Array(data.control)
  const map = new Map<string, unknown>(initialEntries())
  let writerPort: MessagePort | undefined

  const onParent = (message: MapRequest | PortMessage): void => {
    if (message.op === 'port') {
      const port = message.port
      writerPort = port
      port.on('message', (request: MapRequest) => port.postMessage(answer(map, request)))
      return
    }
    parent.postMessage(answer(map, message))
  }

  parent.on('message', onParent)
  const timer = setInterval(() => {
    if (Atomics.load(control, Ctl.KIND) !== EXIT) return
    clearInterval(timer)
    parent.off('message', onParent)
    writerPort?.close()
  }, 20)
  Atomics.add(control, Ctl.READY, 1)
  Atomics.notify(control, Ctl.READY)
}

main(workerData as MapOwnerData)
