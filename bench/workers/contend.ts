/**
 * Worker of the contended-throughput bench: hammers one lock with the
 * smallest useful critical section (a plain increment of a shared counter)
 * until main sets STOP, then reports how many critical sections it ran.
 *
 * Why this shape: with nothing to do outside the lock, every thread is always
 * contending, which is the worst case for the lock word and the case where
 * the protocol (spin, then sleep; notify only when needed) matters most. The
 * plain counter doubles as a correctness check: main compares its final value
 * with the sum of the reported counts, which only match under mutual exclusion.
 *
 * @module
 */
import { workerData } from 'node:worker_threads'
import { Mutex } from 'threadstate'
import { Ctl, serveRounds } from './crew.js'
import { ContendKind, ContendResults, type ContendData } from './kinds.js'
import { NaiveMutex } from './naive-mutex.js'
import { loadMultithreading } from '../peers-lib.js'

/** Critical sections between two reads of STOP (keeps the STOP load off the hot path). */
const UNROLL = 16

async function main(data: ContendData): Promise<void> {
  const control = new Int32Array(data.control)
  const counter = new Int32Array(data.results, ContendResults.COUNTER_WORD * 4, 1)
  const counts = new Float64Array(data.results, ContendResults.COUNTS_BYTE)
  const mutex = Mutex.attach(data.mutex)
  const fairMutex = data.fairMutex === undefined ? undefined : Mutex.attach(data.fairMutex)
  const naive = new NaiveMutex(data.naive)
  const peer = data.multithreading === undefined ? undefined : new (await loadMultithreading()).Mutex<void>(undefined, data.multithreading)

  function runMutex(m: Mutex = mutex): number {
    let n = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < UNROLL; k++) {
        m.lock()
        counter[0]!++
        m.unlock()
      }
      n += UNROLL
    }
    return n
  }

  function runNaive(): number {
    let n = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < UNROLL; k++) {
        naive.lock()
        counter[0]!++
        naive.unlock()
      }
      n += UNROLL
    }
    return n
  }

  /** The `peers` suite: multithreading's Mutex, used as its README shows (a guard per acquisition, disposed to release). */
  function runMultithreading(): number {
    if (peer === undefined) throw new Error('Expected a multithreading lock buffer in workerData for ContendKind.Multithreading')
    let n = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < UNROLL; k++) {
        const guard = peer.blockingLock()
        counter[0]!++
        guard.dispose()
      }
      n += UNROLL
    }
    return n
  }

  return serveRounds(control, (kind) => {
    if (kind === ContendKind.FairMutex && fairMutex === undefined) throw new Error('Expected a fair Mutex handle in workerData for ContendKind.FairMutex')
    counts[data.index] =
      kind === ContendKind.Mutex
        ? runMutex()
        : kind === ContendKind.FairMutex
          ? runMutex(fairMutex)
          : kind === ContendKind.Multithreading
            ? runMultithreading()
            : runNaive()
  })
}

await main(workerData as ContendData)
