/**
 * Where `worker.terminate()` can stop a thread: the platform fact the
 * thread-id counts (src/memory/thread.ts) and the RWLock overflow ledger
 * (src/sync/reader-slots.ts) rely on. Measured on Node 20 here with workers
 * running one loop flat out, killed at random moments:
 *
 * - never between two plain typed-array statements (`plain`: 0 of 40
 *   kills landed between the two counters around a plain step), so a plain
 *   count written right after a compareExchange is never missing;
 * - at an `Atomics` call, *before* its effect (`atomics`: about a quarter of
 *   the kills landed between the counters, and in every one of them the
 *   Atomics.add had not happened), so a count written right before a
 *   compareExchange is left behind when the thread is stopped there: the id
 *   leak docs/verification.md ("Thread ids reused") measures.
 *
 * If a later runtime stops threads between plain statements, or after an
 * Atomics call's effect, the first or the last assertion fails: then the
 * counts' and the ledger's arguments no longer hold as written.
 */
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'

const KILLS = 40
const FIXTURE = new URL('./fixtures/termination-points-worker.mjs', import.meta.url)

async function killAtRandom(step: 'plain' | 'atomics'): Promise<{ between: number; effectDone: number }> {
  let between = 0
  let effectDone = 0
  for (let i = 0; i < KILLS; i++) {
    const x = new Int32Array(new SharedArrayBuffer(8))
    const w = new Int32Array(new SharedArrayBuffer(4))
    const worker = new Worker(FIXTURE, { workerData: { step, x: x.buffer, w: w.buffer } })
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    await new Promise((resolve) => worker.once('message', resolve))
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10))
    await worker.terminate()
    await exited
    if (x[0] !== x[1]) {
      between++
      // x[0] counts the steps begun, x[1] those finished: w says whether the step took effect.
      if (w[0] === x[0]) effectDone++
    }
    expect(x[0]! - x[1]!).toBeLessThanOrEqual(1)
  }
  return { between, effectDone }
}

describe('where terminate() stops a thread (the premise of the id counts and the overflow ledger)', () => {
  it('never between two plain statements', async () => {
    expect((await killAtRandom('plain')).between).toBe(0)
  })

  it('at an Atomics call, before it takes effect', async () => {
    const { between, effectDone } = await killAtRandom('atomics')
    console.log(`atomics: ${between} of ${KILLS} kills landed at the Atomics call`)
    expect(effectDone).toBe(0)
  })
})
