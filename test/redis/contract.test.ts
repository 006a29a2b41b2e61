/**
 * The contract suites (test/contract/*.contract.ts) against the Redis-backed
 * implementations, on a real redis-server started for this file. A "peer"
 * is the same object opened through a second RedisDomain: its own
 * connections, bridge and mirror, as another process would have.
 */
import { afterAll, beforeAll } from 'vitest'
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
  let n = 0
  beforeAll(async () => {
    server = await startRedisServer()
    one = await RedisDomain.connect({ url: server.url, namespace: 'contract' })
    two = await RedisDomain.connect({ url: server.url, namespace: 'contract' })
  })
  afterAll(async () => {
    await one?.close()
    await two?.close()
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
})
