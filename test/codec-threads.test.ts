/**
 * The value codec across threads. msgpackr's native string extractor
 * (msgpackr-extract) keeps process-wide state that every thread loading it
 * resets: a decode in one worker while another worker starts could throw or
 * return a wrong string. threadstate uses msgpackr's pure-JS build
 * (src/encoding/values.ts); these tests hold it to that.
 */
import { describe, expect, it } from 'vitest'
import { run, spawn, STRESS } from './helpers.js'

const FIXTURE = 'codec-worker.mjs'

describe('value codec across threads', () => {
  it('threadstate never turns on the native extractor (deterministic: the old import of `msgpackr` did)', async () => {
    expect(await run<boolean>('nativeExtractor', {}, FIXTURE)).toBe(false)
  })

  it('decoding workers get every value right while other workers start and load msgpackr', async () => {
    const stop = new Int32Array(new SharedArrayBuffer(4))
    const decoders = [0, 1].map(() => spawn<{ n: number; errors: number; wrong: number }>('decode', { stop }, FIXTURE))
    for (let i = 0; i < 30 * STRESS; i++) {
      const starter = spawn('load', { module: 'msgpackr' }, FIXTURE)
      await starter.result
      await starter.exited
    }
    Atomics.store(stop, 0, 1)
    const results = await Promise.all(decoders.map(async (d) => {
      const outcome = await d.result
      if (!outcome.ok) throw new Error(`${outcome.error.name}: ${outcome.error.message}`)
      return outcome.value
    }))
    expect(results.reduce((n, r) => n + r.errors, 0)).toBe(0)
    expect(results.reduce((n, r) => n + r.wrong, 0)).toBe(0)
    expect(results.every((r) => r.n >= 1000)).toBe(true)
  })
})
