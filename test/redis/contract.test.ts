/**
 * The contract suites (test/contract/*.contract.ts) against the Redis-backed
 * implementations, on a real redis-server started for this file. A "peer"
 * is the same object opened through a second RedisDomain: its own
 * connections, bridge and mirror, as another process would have. The first
 * domain talks through ioredis (the default), the second through a
 * node-redis client, so every suite runs both client libraries.
 */
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedisDomain, type RedisSharedMap, type RedisSnapshotStore, type RedisStateBuffer } from '../../src/redis/index.js'
import type { Schema, WritableMap, WritableSnapshot, WritableState } from '../../src/index.js'
import { describeWritableMap } from '../contract/map.contract.js'
import { describeWritableSnapshot } from '../contract/snapshot.contract.js'
import { describeWritableState } from '../contract/state.contract.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

describeRedis('contracts on Redis', () => {
  let server: RedisServer
  let one: RedisDomain
  let two: RedisDomain
  let nodeRedis: ReturnType<typeof createClient>
  let n = 0
  beforeAll(async () => {
    server = await startRedisServer()
    one = await RedisDomain.connect({ url: server.url, namespace: 'contract' })
    nodeRedis = createClient({ url: server.url })
    await nodeRedis.connect()
    two = await RedisDomain.connect({ client: nodeRedis, namespace: 'contract' })
  })
  afterAll(async () => {
    await one?.close()
    await two?.close()
    nodeRedis?.destroy()
    await server?.stop()
  })

  describeWritableMap('RedisSharedMap', {
    create: (options) => one.sharedMap(`map-${n++}`, options),
    peer: <V>(map: WritableMap<V>) => two.sharedMap<V>((map as RedisSharedMap<V>).name),
    overrunCommits: 200,
  })

  describeWritableSnapshot('RedisSnapshotStore', {
    create: (initial) => one.snapshotStore(`snapshot-${n++}`, { initial }),
    // The peer opens by name: its `initial` is ignored, the store exists.
    peer: <T>(store: WritableSnapshot<T>) => two.snapshotStore<T>((store as RedisSnapshotStore<T>).name, { initial: undefined as T }),
  })

  describeWritableState('RedisStateBuffer', {
    create: <S extends Schema>(s: S, options: { readonly history: number }) => one.stateBuffer(`state-${n++}`, s, options),
    peer: <S extends Schema>(buf: WritableState<S>) => {
      const b = buf as unknown as RedisStateBuffer<S>
      return two.stateBuffer(b.name, b.schema)
    },
  })

  it('both bridges (ioredis and node-redis) carried the commits, with no failed read', async () => {
    // Runs last (vitest runs a file's tests in order): the suites above made thousands of commits.
    for (const domain of [one, two]) {
      expect(domain.stats().bridgeErrors).toBe(0)
      expect(domain.stats().bridged).toBeGreaterThan(0)
    }
  })
})
