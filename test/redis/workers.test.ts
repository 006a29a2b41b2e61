/**
 * A RedisSharedMap's handle in worker threads of one process (issue 12): 4
 * workers on 2 cores share the main thread's mirror and write through their
 * own connections. Read-modify-write transactions on one counter must lose
 * nothing and give every caller a different value; multi-key setManys must
 * never be seen half-applied by any thread; each worker reads its own writes;
 * a worker that closes its connections exits on its own; a handle of another
 * format is refused.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { HandleError } from '../../src/index.js'
import { RedisDomain, RedisSharedMap } from '../../src/redis/index.js'
import { STRESS, results, spawn } from '../helpers.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const FIXTURE = 'redis-workers.mjs'
const WORKERS = 4
const RECORD = ['r0', 'r1', 'r2', 'r3', 'r4']

interface Rec {
  readonly by: number
  readonly seq: number
  readonly sum: number
}
const checksum = (by: number, seq: number) => (by * 7919 + seq * 104729) % 1000003
/** Whether getMany(RECORD) returned one whole record (or none yet): keys of two setManys together are a mixed read. */
function whole(values: readonly (Rec | undefined)[]): boolean {
  if (values.every((v) => v === undefined)) return true
  const first = values[0]
  return values.every((v) => v !== undefined && first !== undefined && v.by === first.by && v.seq === first.seq && v.sum === checksum(v.by, v.seq))
}

interface Hammered {
  readonly observed: number[]
  readonly ryw: string[]
  readonly mixed: number
  readonly reads: number
}

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

describeRedis('RedisSharedMap in worker threads', () => {
  let server: RedisServer
  let domain: RedisDomain
  beforeAll(async () => {
    server = await startRedisServer()
    domain = await RedisDomain.connect({ url: server.url, namespace: 'workers' })
  })
  afterAll(async () => {
    await domain?.close()
    await server?.stop()
  })

  it('4 workers (2 cores): transactions lose no increment, no thread sees a mixed record, each worker reads its own writes, workers exit on their own', async () => {
    const rounds = 250 * STRESS
    const map = await domain.sharedMap<number | Rec>('hammer')

    // The main thread follows every version and reads the record while the workers write.
    const controller = new AbortController()
    const versions: number[] = []
    let resets = 0
    const following = (async () => {
      for await (const event of map.subscribe({ signal: controller.signal })) {
        if (event.reset) resets++
        versions.push(event.version)
      }
    })()
    let running = true
    let mainReads = 0
    let mainMixed = 0
    const reading = (async () => {
      while (running) {
        for (let k = 0; k < 50; k++) {
          mainReads++
          if (!whole(map.getMany(RECORD) as (Rec | undefined)[])) mainMixed++
        }
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()

    const workers = Array.from({ length: WORKERS }, (_, id) => spawn<Hammered>('hammer', { handle: map.handle, id, rounds, readsPerRound: 10 }, FIXTURE))
    let out: Hammered[]
    try {
      out = await results(workers)
      // Each worker closed its own connection (closeThreadConnections): nothing keeps its event loop alive.
      const codes = await within(Promise.all(workers.map((w) => w.exited)), 15_000, 'every worker exiting on its own')
      expect(codes).toEqual(new Array(WORKERS).fill(0))
    } finally {
      running = false
      await reading
      for (const w of workers) void w.worker.terminate()
    }

    const last = await map.sync()
    controller.abort()
    await following

    const total = WORKERS * rounds
    expect(map.get('counter')).toBe(total)
    for (let id = 0; id < WORKERS; id++) expect(map.get(`count:${id}`)).toBe(rounds)
    // Every transaction got a value of its own: 1..total, each exactly once (no lost update, no double apply).
    const observed = out.flatMap((o) => o.observed).sort((a, b) => a - b)
    expect(observed).toEqual(Array.from({ length: total }, (_, k) => k + 1))
    expect(mainMixed).toBe(0)
    for (const o of out) {
      expect({ mixed: o.mixed, ryw: o.ryw.slice(0, 5) }).toEqual({ mixed: 0, ryw: [] })
      expect(o.reads).toBe(rounds * 30)
    }
    expect(mainReads).toBeGreaterThan(0)
    // Three commits per round, and the main thread's subscriber saw each, in order.
    expect(last).toBe(3 * total)
    expect(resets).toBe(0)
    expect(versions).toEqual(Array.from({ length: last }, (_, k) => k + 1))
    expect(map.stats()).toMatchObject({ version: last, lost: false, retries: 0 })
  })

  it('a handle of another format is a HandleError, in the main thread and in a worker', async () => {
    const map = await domain.sharedMap<number>('format')
    const foreign = { ...map.handle, format: 99 }
    expect(() => RedisSharedMap.attach(foreign)).toThrow(HandleError)
    expect(() => RedisSharedMap.attach(foreign)).toThrow(/format 1, got format `99`.*another threadstate version/)
    const [inWorker, good] = await results([spawn<string>('attach', { handle: foreign }, FIXTURE), spawn<string>('attach', { handle: map.handle }, FIXTURE)])
    expect(inWorker).toBe('HandleError')
    expect(good).toBe('attached')
  })
})
