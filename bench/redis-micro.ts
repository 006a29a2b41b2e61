/**
 * The `redis` cases timed on main alone (see redis.ts for the suite):
 *
 * - `read`: tinybench tasks in batches (micro.ts): the mirror's reads next
 *   to the in-memory objects', a bare ioredis `GET` round trip and a
 *   node-redis client-side cache hit.
 * - `write`: one awaited write per sample, the variants interleaved sample
 *   by sample (the order rotating), against a bare `EVALSHA` of `return 1`
 *   on a connection of its own.
 * - `throughput`: waves of 64 concurrent writes, runs alternating, against
 *   an ioredis pipeline of 64 `HSET`s.
 *
 * Every case opens its own `RedisDomain` (namespace `bench`) on the server
 * redis.ts started for it, and closes everything it opened.
 *
 * @module
 */
import { Redis } from 'ioredis'
import { BasicClientSideCache, createClient } from 'redis'
import { SharedMap, StateBuffer } from 'threadstate'
import { RedisDomain } from 'threadstate/redis'
import { measureMicro, perOp, type MicroTask } from './micro.js'
import type { RedisProfile } from './redis.js'
import type { BenchRedis } from './redis-server.js'
import { formatDuration, pooledLatencyRows, summarize, type Row, type Target } from './report.js'
import { PAYLOAD, State25, fillPayload, isWhole } from './workers/payload.js'
import { NUMBER_KEYS, POOL, numberValue } from './workers/map-values.js'
import { agentStatus } from './workers/status.js'

const ISSUE = 'issue 12 (Speed)'
const MASK = POOL - 1
/** Synchronous reads per sample (one is tens of ns). */
const BATCH = 1000
/** Round trips per sample of the `GET` task (one is tens of µs). */
const ROUND_TRIP_BATCH = 20
/** Cache hits per sample of the node-redis task (one is a few µs: an awaited promise and a structuredClone). */
const CACHE_BATCH = 100
/** Keys per setMany() call. */
const MANY = 10
/** Writes in flight per wave of `throughput`. */
const IN_FLIGHT = 64

/** Keeps results alive so the JIT cannot drop the work; checked at the end of each case. */
let sink = 0

function checkSink(): void {
  if (!Number.isFinite(sink)) throw new Error(`Expected the bench's sink to stay finite, got ${sink}`)
}

function medianOf(rows: readonly Row[], name: string): number {
  const m = rows.find((r) => r.name === name)?.measurement
  if (m?.kind !== 'latency') throw new Error(`Expected a latency row named ${name}, got ${m?.kind ?? 'none'}`)
  return m.medianMs
}

/** A `top ÷ bottom` row of two latency rows' medians, checked against `target`. */
function ratioRow(name: string, rows: readonly Row[], top: string, bottom: string, target: Target, note?: string): Row {
  return {
    name,
    measurement: { kind: 'value', value: medianOf(rows, top) / medianOf(rows, bottom), unit: '×', what: `median ${top} ÷ median ${bottom}, same run` },
    target,
    ...(note === undefined ? {} : { note }),
  }
}

const atMost = (limit: number, what: string): Target => ({ metric: 'value', bound: 'atMost', limit, source: `${ISSUE}: ${what}` })
const atLeast = (limit: number, what: string): Target => ({ metric: 'value', bound: 'atLeast', limit, source: `${ISSUE}: ${what}` })

/** A bare ioredis connection (default settings), ready. */
async function bareIoredis(url: string): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true })
  client.on('error', () => {})
  await client.connect()
  return client
}

// ---- read ---------------------------------------------------------------------------

const R = {
  mapGet: 'read: SharedMap.get number (in memory)',
  redisGet: 'read: RedisSharedMap.get number (mirror)',
  stateRead: 'read: StateBuffer readInto (in memory)',
  redisStateRead: 'read: RedisStateBuffer readInto (mirror)',
  ioredisGet: 'read: ioredis GET round trip',
  cacheHit: 'read: node-redis client-side cache hit',
} as const

/**
 * Mirror reads against the in-memory objects, a `GET` round trip and a
 * node-redis client-side cache hit; `÷` rows carry the issue's targets.
 */
export async function reads(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench' })
  const io = await bareIoredis(server.url)
  const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0, evictPolicy: 'LRU', recordStats: true })
  const nodeRedis = createClient({ url: server.url, RESP: 3, clientSideCache: cache })
  nodeRedis.on('error', () => {})
  await nodeRedis.connect()
  try {
    const entries = NUMBER_KEYS.map((key, i): [string, number] => [key, numberValue(i)])
    const map = SharedMap.create<number>({ initialCapacity: 2 * POOL })
    map.setMany(entries)
    const remoteMap = await domain.sharedMap<number>('read-map')
    await remoteMap.setMany(entries)
    const payload = { a: new Array<number>(PAYLOAD).fill(0) }
    fillPayload(payload.a, 7)
    const state = StateBuffer.create(State25, { history: 16 })
    state.publish(payload)
    const remoteState = await domain.stateBuffer('read-state', State25, { history: 16 })
    await remoteState.publish(payload)
    const GET_KEY = 'bench:get'
    const CACHE_KEY = 'bench:cached'
    await io.set(GET_KEY, String(numberValue(3)))
    await io.set(CACHE_KEY, String(numberValue(5)))
    // The first get() of the key is the miss that fills the cache (and turns tracking on for it).
    if ((await nodeRedis.get(CACHE_KEY)) !== String(numberValue(5))) throw new Error('Expected node-redis to read the cached key back')
    const missesBefore = cache.stats().missCount

    const target = new Float64Array(PAYLOAD)
    const reader = state.reader()
    const remoteReader = remoteState.reader()
    let hits = 0
    const checkedRead = (elapsed: number, what: string): ReturnType<typeof perOp> => {
      if (!isWhole(target) || target[0] !== 7) throw new Error(`Expected ${what} to copy the published payload, got another`)
      return perOp(elapsed, BATCH)
    }
    const tasks: MicroTask[] = [
      {
        name: R.mapGet,
        batch: BATCH,
        note: `${POOL} number keys, inline Float64; each value checked to be a number`,
        fn: () => {
          let bad = 0
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) {
            const v = map.get(NUMBER_KEYS[k & MASK]!)
            if (typeof v === 'number') sink += v
            else bad++
          }
          const elapsed = performance.now() - t0
          if (bad !== 0) throw new Error(`Expected every get to return a number, got ${bad} others`)
          return perOp(elapsed, BATCH)
        },
      },
      {
        name: R.redisGet,
        baseline: R.mapGet,
        batch: BATCH,
        note: 'the same keys and values written through Redis (setMany), read from the process\'s mirror: no network',
        fn: () => {
          let bad = 0
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) {
            const v = remoteMap.get(NUMBER_KEYS[k & MASK]!)
            if (typeof v === 'number') sink += v
            else bad++
          }
          const elapsed = performance.now() - t0
          if (bad !== 0) throw new Error(`Expected every mirror get to return a number, got ${bad} others`)
          return perOp(elapsed, BATCH)
        },
      },
      {
        name: R.stateRead,
        batch: BATCH,
        note: '25 doubles, reader().readInto into a Float64Array (checked after the batch)',
        fn: () => {
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) sink += reader.readInto(target)
          return checkedRead(performance.now() - t0, R.stateRead)
        },
      },
      {
        name: R.redisStateRead,
        baseline: R.stateRead,
        batch: BATCH,
        note: 'the same state published through Redis, read from the mirror\'s reader()',
        fn: () => {
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) sink += remoteReader.readInto(target)
          return checkedRead(performance.now() - t0, R.redisStateRead)
        },
      },
      {
        name: R.ioredisGet,
        baseline: R.redisGet,
        batch: ROUND_TRIP_BATCH,
        note: 'await io.get(key) of a number as a string, bare ioredis connection (default settings), one in flight',
        fn: async () => {
          const t0 = performance.now()
          for (let k = 0; k < ROUND_TRIP_BATCH; k++) sink += Number(await io.get(GET_KEY))
          return perOp(performance.now() - t0, ROUND_TRIP_BATCH)
        },
      },
      {
        name: R.cacheHit,
        baseline: R.redisGet,
        batch: CACHE_BATCH,
        note:
          'createClient({ RESP: 3, clientSideCache: new BasicClientSideCache(...) }), await client.get(key) of an unchanged key: ' +
          'every one a hit (cache.stats() checked around each batch); the cache is per connection',
        fn: async () => {
          const before = cache.stats().hitCount
          const t0 = performance.now()
          for (let k = 0; k < CACHE_BATCH; k++) sink += Number(await nodeRedis.get(CACHE_KEY))
          const elapsed = performance.now() - t0
          const got = cache.stats().hitCount - before
          if (got !== CACHE_BATCH) throw new Error(`Expected ${CACHE_BATCH} client-side cache hits per batch, got ${got}`)
          hits += got
          return perOp(elapsed, CACHE_BATCH)
        },
      },
    ]
    const rows = await measureMicro(tasks, p)
    const misses = cache.stats().missCount - missesBefore
    if (misses !== 0) throw new Error(`Expected no client-side cache misses while timing, got ${misses}`)
    checkSink()
    const perGet = medianOf(rows, R.redisGet)
    return [
      ...rows.map((r) =>
        r.name === R.cacheHit ? { ...r, note: `${r.note}; ${hits} hits, 0 misses` } : r.name === R.ioredisGet ? { ...r, note: `${r.note}; one round trip = ${(medianOf(rows, R.ioredisGet) / perGet).toFixed(0)} mirror gets` } : r,
      ),
      ratioRow('read: RedisSharedMap.get ÷ SharedMap.get', rows, R.redisGet, R.mapGet, atMost(1.5, 'mirror get of a number within 1.5× of the in-memory one')),
      ratioRow('read: RedisStateBuffer readInto ÷ StateBuffer readInto', rows, R.redisStateRead, R.stateRead, atMost(1.5, 'mirror readInto within 1.5× of the in-memory one')),
      ratioRow('read: GET round trip ÷ RedisSharedMap.get', rows, R.ioredisGet, R.redisGet, atLeast(100, 'mirror get >= 100× faster than a GET round trip')),
      ratioRow('read: client-side cache hit ÷ RedisSharedMap.get', rows, R.cacheHit, R.redisGet, atLeast(20, 'mirror get >= 20× faster than node-redis\'s client-side cache hit')),
    ]
  } finally {
    await nodeRedis.close().catch(() => nodeRedis.destroy())
    io.disconnect()
    await domain.close()
  }
}

// ---- write --------------------------------------------------------------------------

const W = {
  evalsha: 'write: bare EVALSHA return 1 (ioredis)',
  set: 'write: set number',
  setMany: `write: setMany ${MANY} keys`,
  transaction: 'write: transaction (read + increment)',
  snapshot: 'write: RedisSnapshotStore.publish 2 KB',
  state: 'write: RedisStateBuffer.publish 25 doubles',
} as const

/** One write variant: its row name and one awaited operation (`i`: the sample's index). */
interface WriteVariant {
  readonly name: string
  readonly op: (i: number) => Promise<unknown>
}

/**
 * Runs `warmup + samples` rounds; each round times one awaited operation of
 * every variant, the order rotating round by round. @returns each variant's timed samples (ms)
 */
async function interleaved(variants: readonly WriteVariant[], warmup: number, samples: number): Promise<Map<string, number[]>> {
  const pooled = new Map<string, number[]>(variants.map((v) => [v.name, []]))
  const n = variants.length
  for (let i = 0; i < warmup + samples; i++) {
    for (let j = 0; j < n; j++) {
      const v = variants[(i + j) % n]!
      const t0 = performance.now()
      await v.op(i)
      const elapsed = performance.now() - t0
      if (i >= warmup) pooled.get(v.name)!.push(elapsed)
      // Two turns of the event loop between samples, untimed: the bridge's
      // work for a write is deferred until the write is answered
      // (src/redis/in-flight.ts), and would otherwise land in whichever
      // sample comes next (the bare EVALSHA's, often).
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return pooled
}

/** p50/p99 of each write against a bare EVALSHA round trip of a trivial script on its own connection. */
export async function writes(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench' })
  const io = await bareIoredis(server.url)
  try {
    const sha = String(await io.script('LOAD', 'return 1'))
    const map = await domain.sharedMap<number>('write-map')
    await map.setMany(NUMBER_KEYS.map((key, i): [string, number] => [key, numberValue(i)]))
    const status = agentStatus(2048)
    const statusBytes = Buffer.byteLength(JSON.stringify(status))
    const store = await domain.snapshotStore('write-snapshot', { initial: status })
    const pose = await domain.stateBuffer('write-state', State25, { history: 16 })
    const payload = { a: new Array<number>(PAYLOAD).fill(0) }
    const many: [string, number][] = Array.from({ length: MANY }, () => ['', 0])
    let transactions = 0
    const variants: WriteVariant[] = [
      { name: W.evalsha, op: () => io.evalsha(sha, 0) },
      { name: W.set, op: (i) => map.set(NUMBER_KEYS[i & MASK]!, numberValue(i)) },
      {
        name: W.setMany,
        op: (i) => {
          for (let k = 0; k < MANY; k++) {
            const entry = many[k]!
            entry[0] = NUMBER_KEYS[(i * MANY + k) & MASK]!
            entry[1] = numberValue(i)
          }
          return map.setMany(many)
        },
      },
      {
        name: W.transaction,
        op: async () => {
          await map.transaction((tx) => tx.set('counter', (tx.get('counter') ?? 0) + 1))
          transactions++
        },
      },
      {
        name: W.snapshot,
        op: (i) => {
          status.tick = i
          return store.publish(status)
        },
      },
      {
        name: W.state,
        op: (i) => {
          fillPayload(payload.a, i)
          return pose.publish(payload)
        },
      },
    ]
    const pooled = await interleaved(variants, p.warmup, p.writeSamples)
    if (map.get('counter') !== transactions) throw new Error(`Expected the counter to equal the ${transactions} transactions, got ${map.get('counter')}`)
    const read = new Float64Array(PAYLOAD)
    pose.reader().readInto(read)
    if (!isWhole(read) || read[0] !== p.warmup + p.writeSamples - 1) throw new Error('Expected the mirror to hold the last state published')
    if (store.get().tick !== p.warmup + p.writeSamples - 1) throw new Error('Expected the mirror to hold the last snapshot published')
    const sample = 'one awaited write (performance.now() around it)'
    const order = `; variants interleaved write by write, ${p.warmup} untimed first`
    const rows = pooledLatencyRows(
      [
        { name: W.evalsha },
        { name: W.set, baseline: W.evalsha },
        { name: W.setMany, baseline: W.evalsha },
        { name: W.transaction, baseline: W.evalsha },
        { name: W.snapshot, baseline: W.evalsha },
        { name: W.state, baseline: W.evalsha },
      ],
      pooled,
      sample,
      order,
    )
    const notes = new Map<string, string>([
      [W.evalsha, 'io.evalsha(sha of `return 1`, 0) on its own bare ioredis connection: the floor of any one-script write'],
      [W.set, 'one MAP_COMMIT script (epoch check, op record, HINCRBY, 2 HSET, XADD, SET PX), then applied to the mirror (read-your-writes)'],
      [W.setMany, `${MANY} number keys in one commit`],
      [W.transaction, 'tx.set(counter, tx.get(counter) + 1): runs on the mirror, commits with the read\'s version checked on the server (no conflicts here: one writer)'],
      [W.snapshot, `the agent status of ${statusBytes} B as JSON (bench/workers/status.ts), tick changed per publish`],
      [W.state, 'State25 (25 doubles), payload changed per publish, server timestamp'],
    ])
    const withNotes = rows.map((r) => ({ ...r, note: `${notes.get(r.name)}; ${r.note}` }))
    const target = atMost(1.5, 'write p50 within 1.5× of a bare EVALSHA round trip')
    return [
      ...withNotes,
      ...[W.set, W.setMany, W.transaction, W.snapshot, W.state].map((name) => ratioRow(`${name} ÷ EVALSHA`, rows, name, W.evalsha, target)),
    ]
  } finally {
    io.disconnect()
    await domain.close()
  }
}

// ---- throughput -------------------------------------------------------------------------

const T = {
  pipeline: `throughput: ioredis pipeline of ${IN_FLIGHT} HSET`,
  sets: `throughput: ${IN_FLIGHT} concurrent set`,
  evalsha: `throughput part: ${IN_FLIGHT} concurrent bare EVALSHA return 1`,
} as const

/** Ops/s of runs of `wave` (which does `IN_FLIGHT` operations) back to back for `ms`. */
async function run(wave: (base: number) => Promise<unknown>, ms: number, counter: { base: number }): Promise<number> {
  const t0 = performance.now()
  const end = t0 + ms
  let ops = 0
  let now = t0
  while (now < end) {
    await wave(counter.base)
    counter.base += IN_FLIGHT
    ops += IN_FLIGHT
    now = performance.now()
  }
  return (1000 * ops) / (now - t0)
}

/** One process writing flat out: waves of concurrent sets against an ioredis pipeline of HSETs of the same count. */
export async function throughput(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench' })
  const io = await bareIoredis(server.url)
  try {
    const sha = String(await io.script('LOAD', 'return 1'))
    const map = await domain.sharedMap<number>('throughput-map')
    const pending: Promise<unknown>[] = new Array<Promise<unknown>>(IN_FLIGHT)
    const variants: { name: string; wave: (base: number) => Promise<unknown> }[] = [
      {
        name: T.pipeline,
        wave: (base) => {
          const pipeline = io.pipeline()
          for (let j = 0; j < IN_FLIGHT; j++) pipeline.hset('bench:hash', NUMBER_KEYS[(base + j) & MASK]!, numberValue(base + j))
          return pipeline.exec()
        },
      },
      {
        name: T.sets,
        wave: (base) => {
          for (let j = 0; j < IN_FLIGHT; j++) pending[j] = map.set(NUMBER_KEYS[(base + j) & MASK]!, numberValue(base + j))
          return Promise.all(pending)
        },
      },
      {
        name: T.evalsha,
        wave: () => {
          for (let j = 0; j < IN_FLIGHT; j++) pending[j] = io.evalsha(sha, 0)
          return Promise.all(pending)
        },
      },
    ]
    const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]))
    const counter = { base: 0 }
    // One untimed quarter-length run each (JIT, connections, the bridge's first reads).
    for (const v of variants) await run(v.wave, p.throughputRunMs / 4, counter)
    for (let r = 0; r < p.throughputRuns; r++) {
      for (const v of r % 2 === 0 ? variants : [...variants].reverse()) rates.get(v.name)!.push(await run(v.wave, p.throughputRunMs, counter))
    }
    await map.sync()
    const stats = map.stats()
    const notes = new Map<string, string>([
      [T.pipeline, `io.pipeline() with ${IN_FLIGHT} HSETs of a number, exec(), awaited; the next wave after it`],
      [
        T.sets,
        `${IN_FLIGHT} map.set() started in one tick, Promise.all awaited, then the next wave (each its own MAP_COMMIT EVALSHA: no pipelining or auto-batching in the library); ` +
          `mirror afterwards: ${stats.ownApplied} commits applied by the writer itself, ${stats.bridged} by the bridge`,
      ],
      [T.evalsha, `${IN_FLIGHT} io.evalsha(return 1) started in one tick on the bare connection (not pipelined): the floor of unbatched script calls`],
    ])
    return variants.map((v) => {
      const s = summarize(rates.get(v.name)!)
      return {
        name: v.name,
        measurement: { kind: 'throughput', opsPerSec: s.median, minOpsPerSec: s.min, maxOpsPerSec: s.max, runs: s.count },
        ...(v.name === T.pipeline ? {} : { baseline: T.pipeline }),
        note: `${notes.get(v.name)}; ${s.count} runs of ${formatDuration(p.throughputRunMs)}, variants alternating`,
      }
    })
  } finally {
    io.disconnect()
    await domain.close()
  }
}
