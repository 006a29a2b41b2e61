/**
 * Worker of `dashboard/cost` (bench/dashboard.ts). Told `{ kind: 'writer',
 * windowMs }` it publishes the StateBuffer in a tight loop for that long and
 * posts how many updates it made; told `{ kind: 'loop', windowMs }` it runs
 * a 1 kHz RateLoop reading the StateBuffer for that long and posts the
 * loop's stats. Between windows it waits for the next message.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { RateLoop, StateBuffer, type StateBufferHandle } from 'threadstate'
import type { BenchState } from './dashboard-state.js'

const pose = StateBuffer.attach((workerData as { pose: StateBufferHandle<typeof BenchState> }).pose)
const state = { x: 0, y: 0, z: 0, n: 0 }
const scratch = new Float64Array(pose.size)
const reader = pose.reader({ maxAgeMs: 50 })

parentPort!.on('message', (m: { kind: 'writer' | 'loop'; windowMs: number }) => {
  if (m.kind === 'writer') {
    const end = performance.now() + m.windowMs
    let updates = 0
    while (performance.now() < end) {
      for (let i = 0; i < 256; i++) {
        state.n++
        state.x = state.n * 0.001
        pose.publish(state)
      }
      updates += 256
    }
    parentPort!.postMessage({ updates })
  } else {
    const loop = new RateLoop({ hz: 1000, onTick: () => void reader.readInto(scratch) })
    parentPort!.postMessage({ stats: loop.runFor(m.windowMs) })
  }
})
