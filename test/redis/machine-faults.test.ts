/**
 * The state machine and trigger flags when a connection is cut after a
 * write reached the server and before its reply (test/redis/proxy.ts): the
 * write is retried with its operation id and answered from the server's
 * record, so a transition (with `from`) is made once and its caller told
 * true, and a `take` that took a flag is told so on its retry.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedisDomain } from '../../src/redis/index.js'
import { startFaultProxy, type FaultProxy } from './proxy.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const NAMESPACE = 'machine-faults'

/** Resolves with `promise`'s value, or rejects after `ms` naming `what` (a bound only a bug breaks). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
    }),
  ])
}

describeRedis('state machine and trigger flags with replies cut', () => {
  let server: RedisServer
  let proxy: FaultProxy
  beforeAll(async () => {
    server = await startRedisServer()
    proxy = await startFaultProxy({ port: server.port })
  })
  afterAll(async () => {
    await proxy?.close()
    await server?.stop()
  })

  it('each transition and take cut once after the server ran it: made once, its caller told so', async () => {
    const cut = await RedisDomain.connect({ url: proxy.url, namespace: NAMESPACE, timeoutMs: 5000, commandTimeoutMs: 1000 })
    const truth = await RedisDomain.connect({ url: server.url, namespace: NAMESPACE })
    try {
      const definition = { states: ['a', 'b'], initial: 'a', transitions: { a: ['b'], b: ['a'] } } as const
      const fsm = await cut.stateMachine('toggle', definition)
      const rounds = 12
      for (let i = 0; i < rounds; i++) {
        const from = i % 2 === 0 ? 'a' : 'b'
        const cutting = proxy.cutAfterRequest('EVALSHA')
        // The retry (same operation id) finds the record: true, not a refusal from the state it moved to.
        expect(await within(fsm.transition(from === 'a' ? 'b' : 'a', { from, reason: `r${i}` }), 10_000, `transition ${i}`), `transition ${i}`).toBe(true)
        await within(cutting, 5_000, `the cut of transition ${i}`)
      }
      expect(fsm.stats().retries).toBeGreaterThanOrEqual(rounds)
      const check = await truth.stateMachine('toggle', definition)
      expect(await check.sync()).toBe(rounds) // each transition made once
      expect(check.history().map((t) => t.reason)).toEqual(Array.from({ length: rounds }, (_, i) => `r${i}`))
      expect(fsm.state).toBe('a')

      const flags = await cut.triggerFlags('flags', ['go'])
      for (let i = 0; i < 6; i++) {
        await flags.set('go')
        const cutting = proxy.cutAfterRequest('EVALSHA')
        expect(await within(flags.take('go'), 10_000, `take ${i}`), `take ${i}`).toBe(true)
        await within(cutting, 5_000, `the cut of take ${i}`)
      }
      expect(flags.test('go')).toBe(false)
    } finally {
      await cut.close()
      await truth.close()
    }
  }, 120_000)
})
