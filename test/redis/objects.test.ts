/**
 * What the Redis-backed objects add to the contracts: opening by name,
 * kinds and schemas checked on the server, options and handles checked
 * before anything is sent, a closed domain, the throttling publisher,
 * stats, and clocks.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HandleError, OptionError, f64, schema, vec3 } from '../../src/index.js'
import { RedisDataLostError, RedisDomain, RedisShapeError, RedisSharedMap, RedisSnapshotStore, RedisStateBuffer } from '../../src/redis/index.js'
import { closeThreadConnections, threadLink } from '../../src/redis/thread-links.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const Pose = schema({ position: vec3({ unit: 'm' }), battery: f64() })
const Other = schema({ position: vec3({ unit: 'm' }) })

describeRedis('Redis objects', () => {
  let server: RedisServer
  let domain: RedisDomain
  let n = 0
  const name = () => `obj-${n++}`
  beforeAll(async () => {
    server = await startRedisServer()
    domain = await RedisDomain.connect({ url: server.url, namespace: 'objects' })
  })
  afterAll(async () => {
    await domain?.close()
    await server?.stop()
  })

  it('opening a name twice in a domain gives the same object; another domain shares its data', async () => {
    const id = name()
    const map = await domain.sharedMap<number>(id)
    expect(await domain.sharedMap<number>(id)).toBe(map)
    await map.set('a', 1)
    const other = await RedisDomain.connect({ url: server.url, namespace: 'objects' })
    try {
      const same = await other.sharedMap<number>(id)
      expect(same.get('a')).toBe(1) // loaded when opened
      expect(same.version).toBe(map.version)
    } finally {
      await other.close()
    }
  })

  it('a name is one kind of object with one schema: anything else is a RedisShapeError', async () => {
    const id = name()
    await domain.sharedMap(id)
    const other = await RedisDomain.connect({ url: server.url, namespace: 'objects' })
    try {
      await expect(other.snapshotStore(id, { initial: {} })).rejects.toThrow(RedisShapeError)
      await expect(other.stateBuffer(id, Pose)).rejects.toThrow(RedisShapeError)
      const state = name()
      await domain.stateBuffer(state, Pose)
      await expect(other.stateBuffer(state, Other)).rejects.toThrow(/another schema/)
      expect(await other.stateBuffer(state, Pose)).toBeInstanceOf(RedisStateBuffer)
    } finally {
      await other.close()
    }
  })

  it('bad options and names are OptionErrors before anything is sent', async () => {
    await expect(RedisDomain.connect({ url: server.url, timeoutMs: -1 })).rejects.toThrow(OptionError)
    // A timer cannot hold 2^31 ms or more (it fires after 1 ms): such a timeout would end every command at once.
    await expect(RedisDomain.connect({ url: server.url, timeoutMs: 2 ** 31 })).rejects.toThrow(/from 1 to 2\^31-1/)
    await expect(RedisDomain.connect({ url: server.url, commandTimeoutMs: 2 ** 31 })).rejects.toThrow(OptionError)
    await expect(RedisDomain.connect({ url: server.url, namespace: 'a{b}' })).rejects.toThrow(OptionError)
    await expect(RedisDomain.connect({ url: server.url, namespace: 'a:b' })).rejects.toThrow(/without ':'/) // 'a' + 'b:c' and 'a:b' + 'c' would be one key
    await expect(RedisDomain.connect({ url: server.url, timeoutMs: 5000, operationTtlMs: 1000 })).rejects.toThrow(/operationTtlMs/)
    await expect(RedisDomain.connect({ client: { not: 'a client' } })).rejects.toThrow(OptionError)
    expect(() => domain.sharedMap('')).toThrow(OptionError)
    expect(() => domain.sharedMap('x}y')).toThrow(OptionError)
    expect(() => domain.snapshotStore(name(), {} as never)).toThrow(/initial/)
    const store = await domain.snapshotStore(name(), { initial: { n: 0 } })
    await expect(store.publish({ n: 1 }, { source: 'x'.repeat(21) })).rejects.toThrow(OptionError)
    await expect(store.modify(() => Promise.resolve({ n: 2 }) as never)).rejects.toThrow(OptionError)
    expect(store.version).toBe(1)
    const pose = await domain.stateBuffer(name(), Pose)
    await expect(pose.publish({ position: [0, 0, 0], battery: 1 }, { timestamp: Number.NaN })).rejects.toThrow(OptionError)
    expect(pose.version).toBe(0)
  })

  it('handles: another kind or another format is a HandleError; a good one attaches to the same mirror', async () => {
    const map = await domain.sharedMap<number>(name())
    await map.set('k', 7)
    expect(() => RedisSharedMap.attach({ ...map.handle, format: 99 })).toThrow(HandleError)
    expect(() => RedisSharedMap.attach({ kind: 'SharedMap' } as never)).toThrow(HandleError)
    expect(() => RedisSnapshotStore.attach(map.handle as never)).toThrow(HandleError)
    const attached = RedisSharedMap.attach<number>(map.handle)
    expect(attached.get('k')).toBe(7)
    const pose = await domain.stateBuffer(name(), Pose)
    expect(() => RedisStateBuffer.attach(pose.handle, Other)).toThrow(HandleError)
    expect(RedisStateBuffer.attach(pose.handle, Pose).version).toBe(0)
  })

  it("an attached handle's writes use a connection with that handle's command timeout, never one opened for another's", async () => {
    // A thread opens one connection per server and command timeout: the first handle attached there
    // (a forged one with a 1 ms timeout, say) does not set the timeout of every other object's writes.
    const map = await domain.sharedMap<number>(name())
    const link = map.handle.link!
    const a = threadLink(link, 1)
    const b = threadLink(link, map.handle.commandTimeoutMs)
    expect(a).not.toBe(b)
    expect(threadLink(link, map.handle.commandTimeoutMs)).toBe(b)
    const attached = RedisSharedMap.attach<number>(map.handle)
    await attached.set('k', 1) // through b, whatever a's timeout does
    expect(map.get('k')).toBe(1)
    await closeThreadConnections()
  })

  it("the publisher throttles a RedisSnapshotStore's publications (every N offers, or on a significant change)", async () => {
    const store = await domain.snapshotStore(name(), { initial: { tick: 0, mode: 'idle' } })
    const pub = store.publisher({ everyTicks: 5, significant: (a, b) => a.mode !== b.mode })
    const versions: number[] = []
    for (let tick = 1; tick <= 12; tick++) {
      const v = pub.offer({ tick, mode: tick < 8 ? 'idle' : 'flying' })
      if (v !== 0) versions.push(await v)
    }
    expect(versions).toEqual([2, 3]) // tick 5 (every 5 offers), tick 8 (the mode changed); 9..12 are 4 offers: held back
    expect(store.get()).toEqual({ tick: 8, mode: 'flying' })
    expect(pub.pending).toBe(true)
    expect(await pub.flush()).toBe(4)
    expect(store.get()).toEqual({ tick: 12, mode: 'flying' })
  })

  it("timestamps are on this machine's clock: a fresh publish is young, an explicit timestamp is kept", async () => {
    const stats = domain.stats()
    expect(Math.abs(stats.clockOffsetMs)).toBeLessThan(60_000) // same machine: the clocks agree within any bound a bug could not break
    expect(stats.clockErrorMs).toBeGreaterThanOrEqual(0)
    const pose = await domain.stateBuffer(name(), Pose)
    const before = performance.timeOrigin + performance.now()
    await pose.publish({ position: [1, 2, 3], battery: 50 })
    const after = performance.timeOrigin + performance.now()
    const t = pose.latest()!.timestamp
    expect(t).toBeGreaterThanOrEqual(before - 2 * stats.clockErrorMs - 1)
    expect(t).toBeLessThanOrEqual(after + 2 * stats.clockErrorMs + 1)
    const old = after - 10_000
    await pose.publish({ position: [1, 2, 3], battery: 50 }, { timestamp: old })
    expect(Math.abs(pose.latest()!.timestamp - old)).toBeLessThan(0.01)
    expect(pose.reader({ maxAgeMs: 5000 }).read()!.stale).toBe(true)
  })

  it('data lost on the server (its keys deleted): the bridge finds it when idle; subscriptions end with RedisDataLostError, writes reject, reads keep the last state', async () => {
    const id = name()
    const map = await domain.sharedMap<number>(id)
    const store = await domain.snapshotStore(name(), { initial: { n: 0 } })
    await map.set('a', 1)
    const events = map.subscribe()
    const first = events.next()
    const storeEvents = store.subscribe()
    const storeFirst = storeEvents.next()
    await map.set('a', 2)
    expect((await first).value).toMatchObject({ version: 2 })
    const other = await RedisDomain.connect({ url: server.url, namespace: 'objects' })
    try {
      const raw = (await other.sharedMap(id)).handle.spec.tag
      const client = new (await import('ioredis')).Redis(server.url)
      await client.del(`${raw}:meta`, `${raw}:data`, `${raw}:ver`, `${raw}:log`, `${store.handle.spec.tag}:meta`)
      client.disconnect()
    } finally {
      await other.close()
    }
    await expect(events.next()).rejects.toThrow(RedisDataLostError) // within the bridge's idle check (~1 s)
    await expect(storeFirst).rejects.toThrow(RedisDataLostError)
    expect(map.lost).toBe(true)
    expect(map.get('a')).toBe(2)
    await expect(map.set('a', 3)).rejects.toThrow(RedisDataLostError)
    await expect(store.publish({ n: 1 })).rejects.toThrow(RedisDataLostError)
    const late = map.subscribe()
    await expect(late.next()).rejects.toThrow(RedisDataLostError)
  })

  it("recreated under the same name while this process stayed connected: the old snapshot store and state buffer never take the new epoch's commits", async () => {
    const storeName = name()
    const bufferName = name()
    const store = await domain.snapshotStore(storeName, { initial: { n: 0 } })
    const buf = await domain.stateBuffer(bufferName, Pose)
    await store.publish({ n: 1 })
    await buf.publish({ position: [1, 1, 1], battery: 1 })
    const client = new (await import('ioredis')).Redis(server.url)
    for (const tag of [store.handle.spec.tag, buf.handle.spec.tag]) await client.del(`${tag}:meta`, `${tag}:log`)
    client.disconnect()
    const other = await RedisDomain.connect({ url: server.url, namespace: 'objects' })
    try {
      const store2 = await other.snapshotStore(storeName, { initial: { n: 100 } })
      const buf2 = await other.stateBuffer(bufferName, Pose)
      for (let i = 1; i <= 10; i++) {
        await store2.publish({ n: 100 + i })
        await buf2.publish({ position: [9, 9, 9], battery: 50 + i })
      }
      // The bridge reads the recreated streams right away (it never disconnected): it must refuse them.
      for (let waited = 0; !(store.lost && buf.lost) && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20))
      expect(store.lost && buf.lost).toBe(true)
      expect(store.get()).toEqual({ n: 1 })
      expect(store.version).toBe(2)
      expect(buf.version).toBe(1)
      expect(buf.latest()!.value.battery).toBe(1)
    } finally {
      await other.close()
    }
  })

  it('a closed domain: reads keep the last state, writes reject with an OptionError at once', async () => {
    const other = await RedisDomain.connect({ url: server.url, namespace: 'objects' })
    const map = await other.sharedMap<number>(name())
    await map.set('a', 1)
    await other.close()
    expect(map.get('a')).toBe(1)
    await expect(map.set('a', 2)).rejects.toThrow(/closed/)
    expect(() => other.sharedMap(name())).toThrow(/closed/)
    await other.close() // twice is fine
  })
})
