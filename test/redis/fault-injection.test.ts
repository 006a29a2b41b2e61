/**
 * Redis-backed objects under faults, on a real redis-server: a connection
 * cut after a write reached the server and before its reply (a TCP proxy),
 * the server paused past the write timeout, the server restarted without its
 * data, and the bridge's connection killed mid-stream. What must hold: a
 * write is applied at most once and its caller learns the outcome or gets
 * RedisOutcomeUnknownError; nothing waits past its timeout; data lost is an
 * error, never versions going back; a mirror misses no version.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedisConnectionError, RedisDataLostError, RedisDomain, RedisOutcomeUnknownError } from '../../src/redis/index.js'
import { startFaultProxy, type FaultProxy } from './proxy.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

describeRedis('Redis objects under faults', () => {
  let server: RedisServer
  let proxy: FaultProxy
  let n = 0
  const name = () => `fault-${n++}`
  beforeAll(async () => {
    server = await startRedisServer()
    proxy = await startFaultProxy({ port: server.port })
  })
  afterAll(async () => {
    await proxy?.close()
    await server?.stop()
  })

  it('a connection cut between a write and its reply: the write is applied at most once, and the caller gets the version or RedisOutcomeUnknownError', async () => {
    const id = name()
    const cut = await RedisDomain.connect({ url: proxy.url, namespace: 'faults', timeoutMs: 4000, commandTimeoutMs: 1000 })
    const truth = await RedisDomain.connect({ url: server.url, namespace: 'faults' })
    try {
      const map = await cut.sharedMap<number>(id)
      const calls = 20
      let acked = 0
      let unknown = 0
      for (let i = 0; i < calls; i++) {
        const cutting = proxy.cutAfterRequest('evalsha').catch(() => undefined)
        const outcome = await map
          .transaction((tx) => {
            tx.set('n', (tx.get('n') ?? 0) + 1)
            tx.set(`call-${i}`, i)
          })
          .then(
            () => 'acked',
            (error: unknown) => error,
          )
        await cutting
        if (outcome === 'acked') acked++
        else {
          expect(outcome).toBeInstanceOf(RedisOutcomeUnknownError)
          unknown++
        }
      }
      const seen = await truth.sharedMap<number>(id)
      await seen.sync()
      // Each call is one commit at most: a retry answered from its operation record adds none.
      expect(seen.version).toBeLessThanOrEqual(calls)
      expect(seen.version).toBeGreaterThanOrEqual(acked)
      expect(seen.get('n')).toBe(seen.version)
      for (let i = 0; i < calls; i++) if (seen.has(`call-${i}`)) expect(seen.get(`call-${i}`)).toBe(i)
      expect(acked + unknown).toBe(calls)
      expect(map.stats().retries).toBeGreaterThan(0) // the cut writes were resent (with the same operation id)
      await map.sync()
      expect(map.snapshot()).toEqual(seen.snapshot())
    } finally {
      await cut.close()
      await truth.close()
    }
  })

  it('the server paused past the write timeout: the write rejects in time, reads keep working, and after resume it was applied at most once', async () => {
    const id = name()
    const domain = await RedisDomain.connect({ url: server.url, namespace: 'faults', timeoutMs: 800, commandTimeoutMs: 300 })
    try {
      const map = await domain.sharedMap<number>(id)
      await map.set('a', 1)
      server.pause()
      const started = performance.now()
      let error: unknown
      try {
        await map.set('a', 2)
      } catch (e) {
        error = e
      } finally {
        server.resume()
      }
      expect(error instanceof RedisOutcomeUnknownError || error instanceof RedisConnectionError, String(error)).toBe(true)
      expect(performance.now() - started).toBeLessThan(10_000) // bounded by the timeout, never a hang
      expect(map.get('a')).toBe(1) // the mirror still answers
      expect(await map.set('b', 3)).toBeGreaterThan(1)
      await map.sync()
      // 'a' = 2 was applied once or not at all (queued commands run after the resume are deduplicated).
      expect(map.version === 3 ? map.get('a') === 2 : map.version === 2 && map.get('a') === 1).toBe(true)
    } finally {
      await domain.close()
    }
  })

  it('the bridge connection killed mid-stream (CLIENT KILL): the mirror resumes from its last stream id and misses no version', async () => {
    const id = name()
    const reader = await RedisDomain.connect({ url: server.url, namespace: 'faults' })
    const writer = await RedisDomain.connect({ url: server.url, namespace: 'faults' })
    const admin = new Redis(server.url)
    try {
      const mirror = await reader.sharedMap<number>(id)
      const source = await writer.sharedMap<number>(id)
      const controller = new AbortController()
      const versions: number[] = []
      let resets = 0
      const following = (async () => {
        for await (const event of mirror.subscribe({ signal: controller.signal })) {
          if (event.reset) resets++
          versions.push(event.version)
          if (event.version >= 300) break
        }
      })()
      await new Promise((r) => setTimeout(r, 50)) // the subscription has started
      for (let i = 1; i <= 300; i++) {
        await source.set(`k${i % 7}`, i)
        // Kill every connection but the admin's, twice, mid-stream (the writer retries its own).
        if (i === 100 || i === 200) await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
      }
      await following
      controller.abort()
      expect(resets).toBe(0)
      expect(versions).toEqual(Array.from({ length: 300 }, (_, k) => k + 1))
      expect(reader.stats().bridgeErrors).toBeGreaterThan(0) // it really lost its connection
    } finally {
      admin.disconnect()
      await reader.close()
      await writer.close()
    }
  })

  it('the server restarted without its data: writes reject with RedisDataLostError, the object is marked lost, reads keep the last state, versions never restart under it', async () => {
    const id = name()
    const domain = await RedisDomain.connect({ url: server.url, namespace: 'faults', timeoutMs: 3000 })
    try {
      const map = await domain.sharedMap<number>(id)
      await map.setMany({ a: 1, b: 2 })
      const before = map.version
      await server.restartEmpty()
      await expect(map.set('a', 3)).rejects.toThrow(RedisDataLostError)
      expect(map.lost).toBe(true)
      expect(map.snapshot()).toEqual(new Map([['a', 1], ['b', 2]]))
      expect(map.version).toBe(before)
      // Opening the name again (another process, after the loss) starts a new epoch at version 0 ...
      const again = await RedisDomain.connect({ url: server.url, namespace: 'faults' })
      try {
        const fresh = await again.sharedMap<number>(id)
        expect(fresh.version).toBe(0)
        expect(await fresh.set('a', 9)).toBe(1)
        // ... which the old object never takes for its own: its writes still reject.
        await expect(map.set('a', 4)).rejects.toThrow(RedisDataLostError)
        expect(map.version).toBe(before)
      } finally {
        await again.close()
      }
    } finally {
      await domain.close()
    }
  })
})
