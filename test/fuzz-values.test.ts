/**
 * Hostile values against every object that stores them (issue 15, the
 * fuzzers of `npm run verify`): a worker (test/fixtures/hostile-values.mjs)
 * writes generated values to SnapshotStore (publish, modify), SharedMap
 * (set, setMany) and StateBuffer (publish) and reads them back through a
 * second attached instance: nesting at and past MAX_DEPTH, sizes at and past
 * maxBytes, getters and Proxies that answer differently after their first
 * read, throwing getters, revoked Proxies, Proxies claiming Map/Date/typed
 * array prototypes, lone surrogates, -0, holes, symbols, functions, BigInt,
 * cycles and shared references, typed arrays and views, class instances.
 * Each write is an exact round trip (util.isDeepStrictEqual) of what one
 * read gave, or a threadstate error that changed nothing (EncodeError where
 * the value cannot be stored, CapacityError past maxBytes); every call is
 * watched (10 s) for hangs. 400 cases in `npm test`, x THREADSTATE_STRESS
 * in `npm run verify`.
 *
 * Broken variant: the encoder before decc5fe (check, then let msgpackr read
 * again), run from a copy of 7f815aa's tree: see docs/verification.md
 * section 10 for what it reported.
 */
import { describe, expect, it } from 'vitest'
import { STRESS, spawn } from './helpers.js'

/** Runs a fixture worker whose calls count in progress[1]; fails naming the case if one call does not return in `watchMs`. */
export async function watched<T>(name: string, data: Record<string, unknown>, fixture: string, watchMs = 10_000): Promise<T> {
  const progress = data['progress'] as Int32Array
  const worker = spawn<T>(name, data, fixture)
  let finished = false
  const done = worker.result.finally(() => {
    finished = true
  })
  let last = -1
  let since = performance.now()
  while (!finished) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const calls = Atomics.load(progress, 1)
    if (calls !== last) {
      last = calls
      since = performance.now()
    } else if (performance.now() - since > watchMs) {
      await worker.worker.terminate()
      throw new Error(`${name}: case ${Atomics.load(progress, 0)} hung in call ${calls}`)
    }
  }
  const outcome = await done
  if (!outcome.ok) throw new Error(outcome.error.message)
  return outcome.value
}

describe('fuzzing hostile values', () => {
  it('SnapshotStore, SharedMap and StateBuffer writes: an exact round trip of one read, or a threadstate error that changes nothing; none hangs', async () => {
    const cases = 400 * STRESS
    const progress = new Int32Array(new SharedArrayBuffer(8))
    const result = await watched<{ failures: string[]; outcomes: Record<string, number>; calls: number }>('hostile-values', { seed: 15, cases, progress }, 'hostile-values.mjs')
    console.log(`${cases} hostile-value cases, ${result.calls} calls:\n${Object.entries(result.outcomes).sort().map(([k, v]) => `  ${k}: ${v}`).join('\n')}`)
    expect(result.failures).toEqual([])
    // The generator reached every verdict.
    const seen = Object.keys(result.outcomes).join('\n')
    for (const wanted of [/tree ok -> ok/, /tree refuse -> EncodeError/, /depth past MAX_DEPTH refuse -> EncodeError/, /depth at MAX_DEPTH ok -> ok/, /size past maxBytes capacity -> CapacityError/]) {
      expect(seen).toMatch(wanted)
    }
  }, 300_000)
})
