/**
 * The Redis-backed locks (src/redis/locks.ts) in one process: the AsyncLock
 * and AsyncReadWriteLock contract suites (test/contract/lock.contract.ts)
 * with a peer in a second RedisDomain (its own connections and bridge, and
 * a holder identity of its own, as another process), then what only leases
 * add: fences, self re-lock, unlock by a non-holder, reentrant nesting,
 * semaphore permits, an expired lease reported as RedisOwnerDiedError,
 * fenced writes of threadstate's own objects.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DeadlockError, LockError, OwnerDiedError, type AsyncLock, type AsyncReadWriteLock } from '../../src/index.js'
import { LeaseLostError, RedisDomain, RedisOwnerDiedError, StaleFenceError, type RedisMutex, type RedisRWLock } from '../../src/redis/index.js'
import { describeAsyncLock, describeAsyncReadWriteLock } from '../contract/lock.contract.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

describeRedis('Redis locks', () => {
  let server: RedisServer
  let one: RedisDomain
  let two: RedisDomain
  let n = 0
  beforeAll(async () => {
    server = await startRedisServer()
    one = await RedisDomain.connect({ url: server.url, namespace: 'locks' })
    two = await RedisDomain.connect({ url: server.url, namespace: 'locks' })
  })
  afterAll(async () => {
    await one?.close()
    await two?.close()
    await server?.stop()
  })

  describeAsyncLock('RedisMutex', {
    create: () => one.mutex(`m-${n++}`, { leaseMs: 2_000 }),
    peer: (lock: AsyncLock<unknown>) => two.mutex((lock as RedisMutex).name, { leaseMs: 2_000 }),
  })

  describeAsyncLock('RedisReentrantMutex', {
    create: () => one.reentrantMutex(`r-${n++}`, { leaseMs: 2_000 }),
    peer: (lock: AsyncLock<unknown>) => two.reentrantMutex((lock as RedisMutex).name, { leaseMs: 2_000 }),
  })

  describeAsyncReadWriteLock('RedisRWLock', {
    create: () => one.rwlock(`rw-${n++}`, { leaseMs: 2_000 }),
    peer: (lock: AsyncReadWriteLock<unknown>) => two.rwlock((lock as RedisRWLock).name, { leaseMs: 2_000 }),
  })

  it('fences grow with every acquisition, by any holder', async () => {
    const a = await one.mutex('fences')
    const b = await two.mutex('fences')
    let last = 0
    for (let i = 0; i < 20; i++) {
      const lock = i % 2 ? a : b
      const lease = await lock.lockAsync()
      if (lease === false) throw new Error('not acquired')
      expect(lease.fence).toBeGreaterThan(last)
      last = lease.fence
      await lock.unlock()
    }
  })

  it('self re-lock of a mutex is a DeadlockError; a reentrant mutex nests; unlock by a non-holder is a LockError', async () => {
    const m = await one.mutex('self')
    const other = await two.mutex('self')
    await m.withLockAsync(async () => {
      await expect(m.tryLock()).rejects.toThrow(DeadlockError)
      await expect(m.lockAsync()).rejects.toThrow(DeadlockError)
      await expect(m.withLockAsync(() => 1)).rejects.toThrow(DeadlockError)
      await expect(other.unlock()).rejects.toThrow(LockError)
    })
    const r = await one.reentrantMutex('nest')
    const seen = await r.withLockAsync(async (outer) => r.withLockAsync(async (inner) => [outer.fence === inner.fence, r.depth]))
    expect(seen).toEqual([true, 2])
    expect(r.depth).toBe(0)
    expect(await r.tryLock()).toBeTruthy()
    expect(await r.tryLock()).toBeTruthy()
    expect(r.depth).toBe(2)
    await r.unlock()
    await r.unlock()
    await expect(r.unlock()).rejects.toThrow(LockError)
  })

  it('an expired lease: its signal aborts, the next holder gets RedisOwnerDiedError, markConsistent clears it, fenced writes of the old holder are refused', async () => {
    const map = await one.sharedMap<number>('fenced')
    const a = await one.mutex('expire', { leaseMs: 300 })
    const b = await two.mutex('expire', { leaseMs: 300 })
    const old = await a.lockAsync()
    if (old === false) throw new Error('not acquired')
    // Freeze the holder's renewals (as a paused process would), by stopping its timer's effect: make the server expire it.
    const stop = (a as unknown as { engine: { renew: () => Promise<void> } }).engine
    stop.renew = async () => {}
    const error = await b.lockAsync({ timeoutMs: 5_000 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(RedisOwnerDiedError)
    expect(error).toBeInstanceOf(OwnerDiedError)
    const died = error as RedisOwnerDiedError
    expect(died.holding).toBe(true)
    expect(died.deadHolder).toBe(a.holderIdentity)
    expect(died.deadFence).toBe(old.fence)
    expect(died.lease!.fence).toBeGreaterThan(old.fence)
    expect(b.isPoisoned).toBe(true)
    await map.set('x', 2, { fence: died.lease! })
    await expect(map.set('x', 1, { fence: old })).rejects.toThrow(StaleFenceError)
    expect(map.get('x')).toBe(2)
    await b.markConsistent()
    await b.unlock()
    await expect(a.unlock()).rejects.toThrow(LockError)
    expect(await b.withLockAsync(() => 'clean', { timeoutMs: 5_000 })).toBe('clean')
    void LeaseLostError
  })

  it('semaphore: permits counted across holders, FIFO, released', async () => {
    const s1 = await one.semaphore('sem', { permits: 3 })
    const s2 = await two.semaphore('sem', { permits: 3 })
    expect(await s1.acquireAsync(2)).toBeTruthy()
    expect(await s2.tryAcquire(2)).toBe(false)
    expect(await s2.tryAcquire(1)).toBeTruthy()
    const waiting = s2.acquireAsync(2, { timeoutMs: 10_000 })
    await s1.release(1)
    await new Promise((r) => setTimeout(r, 50))
    await s1.release(1)
    expect(await waiting).toBeTruthy()
    expect(s2.held).toBe(3)
    await s2.release(3)
    await expect(s2.release(1)).rejects.toThrow(LockError)
  })
})
