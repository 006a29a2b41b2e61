/**
 * Versions never go back, even when the epoch stays: a server that comes back with an older copy
 * of an object (a failover to a replica that had not received the last commits, a restore from an
 * older dump) keeps the epoch the object was created with, so the epoch check alone does not see
 * it. Made deterministic here with DUMP and RESTORE of the object's keys: every kind must report
 * RedisDataLostError (when its bridge next checks while idle, and at once when a stream entry
 * shows a version below the mirror's), keep its last state readable, and never show a lower
 * version.
 *
 * Broken variant run once (2026-12-06): without the version check in `RemoteObject.serverVersion`
 * and the stream-order check (`RemoteObject.saw`), all six tests fail: no kind noticed within 15 s,
 * each kept answering from a history the server no longer had.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedisDataLostError, RedisDomain } from '../../src/redis/index.js'
import { f64, schema } from '../../src/index.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it holds (a bound only a bug can break: the idle check runs each second). */
async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Expected ${what} within ${timeoutMs} ms`)
    await sleep(20)
  }
}

interface Kind {
  readonly name: string
  /** Opens the object `name` in `domain`. */
  open(domain: RedisDomain, name: string): Promise<{ write(i: number): Promise<unknown>; readonly version: number; stats(): { lost: boolean }; last(): number | undefined }>
}

const Pose = schema({ x: f64() })

const kinds: Kind[] = [
  {
    name: 'RedisSharedMap',
    async open(domain, name) {
      const map = await domain.sharedMap<number>(name)
      return { write: (i) => map.set('n', i), get version() { return map.version }, stats: () => map.stats(), last: () => map.get('n') }
    },
  },
  {
    name: 'RedisSnapshotStore',
    async open(domain, name) {
      const store = await domain.snapshotStore<{ n: number }>(name, { initial: { n: 0 } })
      return { write: (i) => store.publish({ n: i }), get version() { return store.version }, stats: () => store.stats(), last: () => store.get().n }
    },
  },
  {
    name: 'RedisStateBuffer',
    async open(domain, name) {
      const buffer = await domain.stateBuffer(name, Pose, { history: 4 })
      return { write: (i) => buffer.publish({ x: i }), get version() { return buffer.version }, stats: () => buffer.stats(), last: () => buffer.latest()?.value.x }
    },
  },
]

describeRedis('versions never go back, even with the epoch unchanged', () => {
  let server: RedisServer
  let raw: Redis
  beforeAll(async () => {
    server = await startRedisServer()
    raw = new Redis(server.url)
  })
  afterAll(async () => {
    raw?.disconnect()
    await server?.stop()
  })

  /** DUMPs every key of object `name`; the returned function RESTOREs them (REPLACE), deleting keys made since. */
  async function snapshotOf(name: string): Promise<() => Promise<void>> {
    const tag = `{rollback:${name}}`
    const keys = [`${tag}:meta`, `${tag}:data`, `${tag}:ver`, `${tag}:log`]
    const dumps = await Promise.all(keys.map((key) => raw.dumpBuffer(key)))
    return async () => {
      for (let i = 0; i < keys.length; i++) {
        const dump = dumps[i]
        if (dump === null || dump === undefined) await raw.del(keys[i]!)
        else await raw.restore(keys[i]!, 0, dump, 'REPLACE')
      }
    }
  }

  for (const kind of kinds) {
    it(`${kind.name}: restored to an older copy, it reports RedisDataLostError when idle, keeps its last state, and never shows a lower version`, async () => {
      const domain = await RedisDomain.connect({ url: server.url, namespace: 'rollback' })
      try {
        const object = await kind.open(domain, `idle-${kind.name}`)
        for (let i = 1; i <= 5; i++) await object.write(i)
        const dumped = object.version
        const restore = await snapshotOf(`idle-${kind.name}`)
        for (let i = 6; i <= 10; i++) await object.write(i)
        const top = object.version
        expect(top).toBe(dumped + 5)
        await restore()
        await eventually(() => object.stats().lost, `${kind.name} to be found lost by its idle check`)
        await expect(object.write(11)).rejects.toBeInstanceOf(RedisDataLostError)
        expect(object.version).toBe(top)
        expect(object.last()).toBe(10)
      } finally {
        await domain.close()
      }
    })

    it(`${kind.name}: restored to an older copy and written by another process, the stream shows it at once; the mirror is not taken back`, async () => {
      const domain = await RedisDomain.connect({ url: server.url, namespace: 'rollback' })
      const other = await RedisDomain.connect({ url: server.url, namespace: 'rollback' })
      try {
        const object = await kind.open(domain, `entry-${kind.name}`)
        for (let i = 1; i <= 5; i++) await object.write(i)
        const dumped = object.version
        const restore = await snapshotOf(`entry-${kind.name}`)
        for (let i = 6; i <= 10; i++) await object.write(i)
        const top = object.version
        await restore()
        // Another process opens it now (at the dumped version) and writes the next with a new stream id.
        const theirs = await kind.open(other, `entry-${kind.name}`)
        expect(theirs.version).toBe(dumped)
        await theirs.write(600)
        await eventually(() => object.stats().lost, `${kind.name} to be found lost from the stream`)
        expect(object.version).toBe(top)
        expect(object.last()).toBe(10)
      } finally {
        await domain.close()
        await other.close()
      }
    })
  }
})
