/**
 * The Redis locks under faults, on a real redis-server (issue 13, Evidence):
 *
 * - The server killed and restarted without data while a lease is held:
 *   the holder's signal aborts (its renewal is refused: the hold is gone),
 *   its unlock is a LockError, and the fences issued after the restart are
 *   above every fence issued before (they seed from the server's clock).
 * - The connection cut mid-acquire (test/redis/proxy.ts: the acquire script
 *   ran on the server, its reply was dropped): the retry of the same
 *   attempt is answered with the hold it got, so the acquirer holds the
 *   lock, exactly one hold exists, and nothing is reported as a dead owner.
 * - Every attempt cut until the acquirer gives up (RedisOutcomeUnknownError):
 *   the hold the server granted without the acquirer learning it is
 *   cancelled once the connection is back, so the next acquirer gets the
 *   lock clean (no OwnerDiedError about a ghost nobody held).
 *
 * Broken variants run once (docs/verification.md): the fence as a plain
 * counter (`fence + 1`, no clock seed): after the restart the fence went
 * back to 1 (the restart test failed); a new attempt id per retry (not
 * idempotent): the retry queued behind its own ghost hold and got
 * RedisOwnerDiedError about itself once the ghost's lease expired (the
 * single-cut test failed); no cancel after a failed attempt: the next
 * acquirer got RedisOwnerDiedError naming the acquirer that gave up (the
 * give-up test failed).
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { LockError } from '../../src/index.js'
import { LeaseLostError, RedisDomain, RedisOutcomeUnknownError, type RedisLease } from '../../src/redis/index.js'
import { startFaultProxy, type FaultProxy } from './proxy.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const settled = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value, error: undefined as unknown }),
    (error: unknown) => ({ value: undefined, error }),
  )

describeRedis('Redis locks under faults', () => {
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

  it('the server restarted without data: the held lease is lost (signal, LockError on unlock) and fences never go back', async () => {
    const domain = await RedisDomain.connect({ url: server.url, namespace: 'restart', timeoutMs: 5_000 })
    try {
      const mutex = await domain.mutex('ledger', { leaseMs: 600 })
      let last = 0
      for (let i = 0; i < 50; i++) {
        const lease = (await mutex.lockAsync()) as RedisLease
        expect(lease.fence).toBeGreaterThan(last)
        last = lease.fence
        await mutex.unlock()
      }
      const held = (await mutex.lockAsync()) as RedisLease
      last = held.fence
      await server.restartEmpty()
      const reason = await new Promise<unknown>((resolve) => {
        if (held.signal.aborted) resolve(held.signal.reason)
        held.signal.addEventListener('abort', () => resolve(held.signal.reason), { once: true })
      })
      expect(reason).toBeInstanceOf(LeaseLostError)
      await expect(mutex.unlock()).rejects.toThrow(LockError)
      const after = (await mutex.lockAsync({ timeoutMs: 10_000 })) as RedisLease
      expect(after).toBeTruthy()
      expect(after.fence).toBeGreaterThan(last)
      await mutex.unlock()
    } finally {
      await domain.close()
    }
  }, 60_000)

  it('the connection cut after the acquire ran: the retry gets the same hold (no ghost, no owner died)', async () => {
    const cut = await RedisDomain.connect({ url: proxy.url, namespace: 'cut', timeoutMs: 10_000 })
    const other = await RedisDomain.connect({ url: server.url, namespace: 'cut' })
    try {
      const a = await cut.mutex('once', { leaseMs: 2_000 })
      const b = await other.mutex('once', { leaseMs: 2_000 })
      const cutting = proxy.cutAfterRequest('evalsha')
      const got = await settled(a.lockAsync({ timeoutMs: 10_000 }))
      await cutting
      expect(got.error).toBeUndefined()
      const lease = got.value as RedisLease
      expect(lease).toBeTruthy()
      const state = await b.stateAsync()
      expect(state.holds).toHaveLength(1)
      expect(state.holds[0]!.fence).toBe(lease.fence)
      expect(state.poisoned).toBe('')
      expect(await b.tryLock()).toBe(false)
      await a.unlock()
      const next = await settled(b.lockAsync({ timeoutMs: 10_000 }))
      expect(next.error).toBeUndefined()
      expect((next.value as RedisLease).fence).toBeGreaterThan(lease.fence)
      await b.unlock()
    } finally {
      await cut.close()
      await other.close()
    }
  }, 60_000)

  it('every attempt cut until the acquirer gives up: what the server granted unknowingly is cancelled, the next acquirer gets it clean', async () => {
    const cut = await RedisDomain.connect({ url: proxy.url, namespace: 'giveup', timeoutMs: 1_500 })
    const other = await RedisDomain.connect({ url: server.url, namespace: 'giveup' })
    try {
      const a = await cut.mutex('ghost', { leaseMs: 3_000 })
      const b = await other.mutex('ghost', { leaseMs: 3_000 })
      let cutting = true
      let cuts = 0
      const cutter = (async () => {
        while (cutting) {
          await proxy.cutAfterRequest('evalsha').catch(() => {})
          cuts++
        }
      })()
      const got = await settled(a.lockAsync({ timeoutMs: 10_000 }))
      cutting = false
      expect(got.error).toBeInstanceOf(RedisOutcomeUnknownError)
      expect(cuts).toBeGreaterThan(0)
      // The server did grant the first attempt (it ran; only its replies were cut).
      // The cancel sent after giving up (its first send cut by the last armed cut, then resent) releases it.
      const next = await settled(b.lockAsync({ timeoutMs: 20_000 }))
      expect(next.error).toBeUndefined()
      expect(next.value).toBeTruthy()
      const state = await b.stateAsync()
      expect(state.holds).toHaveLength(1)
      expect(state.holds[0]!.hold.startsWith(b.holderIdentity)).toBe(true)
      await b.unlock()
      void cutter
    } finally {
      proxy.cutAll()
      await cut.close()
      await other.close()
    }
  }, 60_000)
})
