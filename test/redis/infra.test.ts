/**
 * Tests of the Redis test infrastructure itself: test/redis/server.ts (a real redis-server per
 * suite, pause / restart-empty faults, describeRedis's run/skip/fail choice) and
 * test/redis/proxy.ts (cutting a connection after a request reached the server and before its
 * reply reached the client).
 */
import { Redis, type RedisOptions } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFaultProxy, type FaultProxy } from './proxy.js'
import { describeRedis, isCI, redisSuiteMode, startRedisServer, type RedisServer } from './server.js'

describe('describeRedis', () => {
  it('runs where a server exists, skips locally without one, fails in CI without one', () => {
    expect(redisSuiteMode({ ci: false, available: true })).toBe('run')
    expect(redisSuiteMode({ ci: true, available: true })).toBe('run')
    expect(redisSuiteMode({ ci: false, available: false })).toBe('skip')
    expect(redisSuiteMode({ ci: true, available: false })).toBe('fail')
  })

  it('reads CI from the environment', () => {
    expect(isCI({ CI: 'true' })).toBe(true)
    expect(isCI({ CI: '1' })).toBe(true)
    expect(isCI({})).toBe(false)
    expect(isCI({ CI: '' })).toBe(false)
    expect(isCI({ CI: 'false' })).toBe(false)
    expect(isCI({ CI: '0' })).toBe(false)
  })
})

describeRedis('a real redis-server', () => {
  let server: RedisServer
  let proxy: FaultProxy
  const clients: Redis[] = []

  /**
   * A client that fails fast and deterministically: no offline queue, no retry of a request,
   * no resend of unanswered commands after a reconnect, and (unless overridden) no reconnect.
   */
  const client = async (url: string, options: Pick<RedisOptions, 'commandTimeout' | 'retryStrategy'> = {}): Promise<Redis> => {
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: () => null,
      ...options,
    })
    redis.on('error', () => {}) // errors reach the commands; without a listener ioredis logs them
    clients.push(redis)
    await redis.connect()
    return redis
  }

  beforeAll(async () => {
    server = await startRedisServer()
    proxy = await startFaultProxy({ port: server.port })
  })

  afterAll(async () => {
    for (const redis of clients) redis.disconnect()
    await proxy?.close()
    await server?.stop()
  })

  it('serves SET/GET on 127.0.0.1', async () => {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    const redis = await client(server.url)
    expect(await redis.set('infra:k', 'v')).toBe('OK')
    expect(await redis.get('infra:k')).toBe('v')
  })

  it('restartEmpty: a new process on the same port, without the data', async () => {
    const redis = await client(server.url)
    await redis.set('infra:restart', 'v')
    const { port, pid } = server
    await server.restartEmpty()
    expect(server.port).toBe(port)
    expect(server.pid).not.toBe(pid)
    expect(() => process.kill(pid, 0)).toThrow() // the old process is gone
    await expect(redis.get('infra:restart')).rejects.toThrow() // its connection died with it
    const fresh = await client(server.url)
    expect(await fresh.get('infra:restart')).toBeNull()
  })

  it('pause: commands time out; resume: they are answered again', async () => {
    const redis = await client(server.url, { commandTimeout: 200 })
    await redis.set('infra:pause', 'v')
    server.pause()
    try {
      const started = performance.now()
      await expect(redis.get('infra:pause')).rejects.toThrow('Command timed out')
      expect(performance.now() - started).toBeGreaterThanOrEqual(150)
    } finally {
      server.resume()
    }
    // The late reply goes to the timed-out command (still first in line); this one gets its own.
    expect(await redis.get('infra:pause')).toBe('v')
  })

  it('cutAfterRequest: the command runs once, its reply never arrives, the client sees the connection close', async () => {
    const direct = await client(server.url)
    await direct.del('infra:cut')
    const before = proxy.connections
    const redis = await client(proxy.url)
    expect(proxy.connections).toBe(before + 1)
    const cut = proxy.cutAfterRequest('INCR')
    await expect(redis.incr('infra:cut')).rejects.toThrow('Connection is closed.')
    await cut
    expect(await direct.get('infra:cut')).toBe('1')
    expect(redis.status).toBe('end')
    await expect.poll(() => proxy.connections).toBe(before)
  })

  it('cutAfterRequest with reconnects on: the command is rejected, not resent; the client reconnects', async () => {
    const direct = await client(server.url)
    await direct.del('infra:cut-reconnect')
    const redis = await client(proxy.url, { retryStrategy: () => 10 })
    const cut = proxy.cutAfterRequest('infra:cut-reconnect')
    await expect(redis.incr('infra:cut-reconnect')).rejects.toThrow(/max retries per request/i)
    await cut
    await expect.poll(() => redis.status).toBe('ready')
    expect(await direct.get('infra:cut-reconnect')).toBe('1')
    expect(await redis.incr('infra:cut-reconnect')).toBe(2)
    redis.disconnect() // or it would reconnect after the next test's cutAll
  })

  it("cutAfterRequest with ioredis's defaults: the unanswered command is resent after the reconnect and runs twice", async () => {
    // Not a property of this infrastructure but the hazard it exists to expose: a client that
    // resends what was not answered (autoResendUnfulfilledCommands, on by default) applies a
    // non-idempotent write twice.
    const direct = await client(server.url)
    await direct.del('infra:cut-defaults')
    const redis = new Redis(proxy.url, { lazyConnect: true })
    redis.on('error', () => {})
    clients.push(redis)
    await redis.connect()
    const cut = proxy.cutAfterRequest('infra:cut-defaults')
    expect(await redis.incr('infra:cut-defaults')).toBe(2)
    await cut
    expect(await direct.get('infra:cut-defaults')).toBe('2')
    redis.disconnect()
  })

  it('cutAll: every proxied connection closes', async () => {
    await expect.poll(() => proxy.connections).toBe(0)
    const a = await client(proxy.url)
    const b = await client(proxy.url)
    expect(proxy.connections).toBe(2)
    proxy.cutAll()
    await expect.poll(() => [a.status, b.status]).toEqual(['end', 'end'])
    await expect.poll(() => proxy.connections).toBe(0)
  })

  it('stop: idempotent, kills the process, frees the port', async () => {
    const other = await startRedisServer()
    expect(other.port).not.toBe(server.port)
    const { pid } = other
    await Promise.all([other.stop(), other.stop()])
    await other.stop()
    expect(() => process.kill(pid, 0)).toThrow()
    expect(() => other.pause()).toThrow(/stopped/)
    await expect(other.restartEmpty()).rejects.toThrow(/stopped/)
  })
})
