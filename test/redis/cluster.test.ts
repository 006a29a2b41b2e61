/**
 * threadstate/redis on a real Redis Cluster (3 primaries, 1 replica each, started by
 * test/redis/cluster.ts): the contract suites of the three objects and of the locks (the state
 * machine's: machine-cluster.test.ts), objects spread over the
 * primaries, a worker thread writing through its own cluster connection, and a primary killed
 * mid-run: writes resume once its replica took over, nothing acknowledged is lost, the bridge
 * follows the stream to its new primary. (A failover that loses acknowledged commits is reported,
 * never silent: test/redis/rollback.test.ts makes one deterministically.)
 */
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  RedisConnectionError,
  RedisDataLostError,
  RedisDomain,
  RedisOutcomeUnknownError,
  type RedisSharedMap,
  type RedisSnapshotStore,
  type RedisStateBuffer,
} from '../../src/redis/index.js'
import type { Schema, WritableMap, WritableSnapshot, WritableState } from '../../src/index.js'
import type { AsyncLock, AsyncReadWriteLock } from '../../src/index.js'
import type { RedisMutex, RedisRWLock } from '../../src/redis/index.js'
import { describeAsyncLock, describeAsyncReadWriteLock } from '../contract/lock.contract.js'
import { describeWritableMap } from '../contract/map.contract.js'
import { describeWritableSnapshot } from '../contract/snapshot.contract.js'
import { describeWritableState } from '../contract/state.contract.js'
import { startClusterDomains, type RedisCluster } from './cluster.js'
import { describeRedis } from './server.js'

describeRedis('threadstate/redis on a Redis Cluster', () => {
  let cluster: RedisCluster
  let one: RedisDomain
  let two: RedisDomain
  let close: () => Promise<void> = async () => {}
  let n = 0
  beforeAll(async () => {
    ;({ cluster, one, two, close } = await startClusterDomains('cluster', { primaries: 3, replicas: 1 }))
  }, 60_000)
  afterAll(() => close())

  describe('contracts', () => {
    describeWritableMap('RedisSharedMap on a cluster', {
      create: (options) => one.sharedMap(`map-${n++}`, options),
      peer: <V>(map: WritableMap<V>) => two.sharedMap<V>((map as RedisSharedMap<V>).name),
      overrunCommits: 200,
    })
    describeWritableSnapshot('RedisSnapshotStore on a cluster', {
      create: (initial) => one.snapshotStore(`snapshot-${n++}`, { initial }),
      peer: <T>(store: WritableSnapshot<T>) => two.snapshotStore<T>((store as RedisSnapshotStore<T>).name, { initial: undefined as T }),
    })
    // The locks: each lock's keys and release stream in the slot of its own hash tag.
    describeAsyncLock('RedisMutex on a cluster', {
      create: () => one.mutex(`m-${n++}`, { leaseMs: 2_000 }),
      peer: (lock: AsyncLock<unknown>) => two.mutex((lock as RedisMutex).name, { leaseMs: 2_000 }),
    })
    describeAsyncReadWriteLock('RedisRWLock on a cluster', {
      create: () => one.rwlock(`rw-${n++}`, { leaseMs: 2_000 }),
      peer: (lock: AsyncReadWriteLock<unknown>) => two.rwlock((lock as RedisRWLock).name, { leaseMs: 2_000 }),
    })
    describeWritableState('RedisStateBuffer on a cluster', {
      create: <S extends Schema>(s: S, options: { readonly history: number }) => one.stateBuffer(`state-${n++}`, s, options),
      peer: <S extends Schema>(buf: WritableState<S>) => {
        const b = buf as unknown as RedisStateBuffer<S>
        return two.stateBuffer(b.name, b.schema)
      },
    })
  })

  it('objects live in the slots of their hash tags, spread over the primaries', async () => {
    const owners = new Set<number>()
    for (let i = 0; i < 12; i++) {
      const map = await one.sharedMap<number>(`spread-${i}`)
      await map.set('x', i)
      owners.add(await cluster.primaryOf(`{cluster:spread-${i}}:meta`))
    }
    // Twelve hash tags over three primaries: CRC16 puts them on more than one (deterministic for these names).
    expect(owners.size).toBeGreaterThan(1)
    expect(one.stats().bridgeErrors).toBe(0)
  })

  it('a worker thread attaches and writes through its own cluster connection; the main mirror sees every write', async () => {
    const map = await one.sharedMap<number>('from-worker')
    const source = `
      const { parentPort, workerData } = require('node:worker_threads')
      ;(async () => {
        const { RedisSharedMap, closeThreadConnections } = await import(workerData.module)
        const map = RedisSharedMap.attach(workerData.handle)
        for (let i = 1; i <= 50; i++) await map.transaction((tx) => { tx.set('n', (tx.get('n') ?? 0) + 1) })
        await closeThreadConnections()
        parentPort.postMessage('done')
      })().catch((error) => parentPort.postMessage(String(error && error.stack || error)))
    `
    const module = new URL('../../dist/redis/index.js', import.meta.url).href
    const workers = [0, 1].map(() => new Worker(source, { eval: true, workerData: { handle: map.handle, module } }))
    const results = await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
    expect(results).toEqual(['done', 'done'])
    await map.sync()
    expect(map.get('n')).toBe(100)
  })

  it('a primary killed mid-run (its replica in sync): writes resume after the replica takes over, nothing acknowledged is lost, the bridge follows the new primary', async () => {
    const map = await one.sharedMap<number>('failover')
    const owner = await cluster.primaryOf('{cluster:failover}:meta')
    const acked: number[] = []
    const versions: number[] = []
    let failedInGap = 0
    let lost: unknown
    let killedAt = -1
    for (let i = 1; acked.length < 60 && i < 100_000; i++) {
      if (i === 30) {
        // The replica holds every acknowledged write: a failover that loses none (a lossy one is the
        // rollback test's: test/redis/rollback.test.ts).
        await cluster.replicasInSync(owner)
        cluster.kill(owner)
        killedAt = acked.length
      }
      try {
        await map.set(`w${i}`, i)
        acked.push(i)
        versions.push(map.version)
      } catch (error) {
        if (error instanceof RedisDataLostError) {
          lost = error
          break
        }
        // The slot has no primary until the replica is promoted (~cluster-node-timeout): the write
        // rejects within its deadline, saying whether it may have been applied.
        expect(error).toSatisfy((e: unknown) => e instanceof RedisConnectionError || e instanceof RedisOutcomeUnknownError)
        failedInGap++
      }
    }
    expect(killedAt).toBe(29)
    // Versions seen in this process never went back.
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]!)
    await cluster.waitHealthy()
    expect(await cluster.primaryOf('{cluster:failover}:meta')).not.toBe(owner)
    // Nothing was lost, so nothing is reported: writes resumed on the new primary.
    expect(lost).toBeUndefined()
    expect(acked.length).toBe(60)
    const fresh = await RedisDomain.connect({ cluster: cluster.startup, namespace: 'cluster' })
    try {
      const seen = await fresh.sharedMap<number>('failover')
      await seen.sync()
      expect(acked.filter((i) => seen.get(`w${i}`) !== i)).toEqual([])
      expect(seen.version).toBe(map.version)
      // This process's bridge follows the stream on its new primary: another domain's write arrives.
      const v = await seen.set('after', 1)
      expect(await map.waitForVersionAsync(v, { timeoutMs: 20_000 })).toBe(true)
      expect(map.get('after')).toBe(1)
    } finally {
      await fresh.close()
    }
    console.log(`failover: ${acked.length} acknowledged, ${failedInGap} rejected while the slot had no primary`)
  }, 90_000)
})
