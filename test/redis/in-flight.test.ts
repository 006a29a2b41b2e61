/**
 * The bridge keeps out of this thread's writes (src/redis/in-flight.ts): it
 * waits until the writes in flight are answered and their continuations
 * ran (the writer applies its own commit first), and never longer than
 * BRIDGE_DEFER_MS when writes never stop. No server needed.
 */
import { describe, expect, it } from 'vitest'
import { BRIDGE_DEFER_MS, writeEnded, writeStarted, writesSettled } from '../../src/redis/in-flight.js'

describe('the bridge defers to writes in flight', () => {
  it('no write in flight: no wait at all', () => {
    expect(writesSettled()).toBeUndefined()
  })

  it('waits for the last write to end, and runs after the write’s own continuation', async () => {
    const order: string[] = []
    writeStarted()
    writeStarted()
    const settled = writesSettled()!.then(() => order.push('bridge'))
    writeEnded()
    await new Promise((resolve) => setImmediate(resolve))
    expect(order).toEqual([]) // one write still in flight
    const write = Promise.resolve().then(() => {
      writeEnded()
      // The writer goes on in microtasks after its reply (applies its commit, resolves the caller).
      return Promise.resolve().then(() => order.push('writer'))
    })
    await Promise.all([write, settled])
    expect(order).toEqual(['writer', 'bridge'])
  })

  it('writes that never stop hold the bridge back at most BRIDGE_DEFER_MS (a bound, not a rate: it only has to end)', async () => {
    writeStarted()
    try {
      const started = performance.now()
      await writesSettled()
      expect(performance.now() - started).toBeGreaterThanOrEqual(BRIDGE_DEFER_MS - 1)
    } finally {
      writeEnded()
    }
    expect(writesSettled()).toBeUndefined()
  })
})
