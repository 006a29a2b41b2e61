/**
 * The lock cases of the `redis` suite (issue 13, Speed), on one server in
 * one run:
 *
 * - `locks`: uncontended lock + unlock, p50/p99, of threadstate's
 *   RedisMutex (`lockAsync` + `unlock`: two scripts, with a fence, a
 *   server-clock lease and owner-died reporting), redis-semaphore's `Mutex`
 *   (`acquire` + `release`: `SET NX PX` + a Lua release, no fence, no
 *   owner-died) and @sesamecare-oss/redlock on one instance (`acquire` +
 *   `release`: a Lua acquire and release, no fence, no owner-died), against
 *   two bare EVALSHA round trips (the floor of any two-step lock). Variants
 *   interleaved sample by sample.
 * - `lock-handoff`: this process holds the lock, another process waits for
 *   it (redis-lock-child.ts); the time from `unlock` here to the waiter's
 *   acquisition there, on CLOCK_MONOTONIC (one clock for both processes):
 *   threadstate (waiter woken by the release notice through its bridge)
 *   against redis-semaphore (its waiter polls every `retryInterval`, 10 ms by
 *   default), and against the floor of any notified hand-off: a bare XADD
 *   here waking the other process's blocked XREAD, which then makes one
 *   EVALSHA round trip (all three after the same 20-30 ms idle wait, whose
 *   cold wake-ups dominate on a VM). Variants alternate.
 *
 * @module
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redlock } from '@sesamecare-oss/redlock'
import { Redis } from 'ioredis'
import { Mutex as SemaphoreMutex } from 'redis-semaphore'
import { RedisDomain } from 'threadstate/redis'
import type { RedisProfile } from './redis.js'
import type { BenchRedis } from './redis-server.js'
import { pooledLatencyRows, type Row } from './report.js'

const childScript = fileURLToPath(new URL('./redis-lock-child.js', import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const L = {
  floor: 'locks: 2 × bare EVALSHA return 1 (ioredis)',
  threadstate: 'locks: RedisMutex lockAsync + unlock (threadstate)',
  semaphore: 'locks: redis-semaphore Mutex acquire + release',
  redlock: 'locks: redlock acquire + release (@sesamecare-oss/redlock, 1 instance)',
} as const

/** Uncontended lock + unlock of threadstate's RedisMutex against redis-semaphore, redlock and two bare round trips. */
export async function locks(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench-locks' })
  const io = new Redis(server.url)
  const forSemaphore = new Redis(server.url)
  const forRedlock = new Redis(server.url)
  try {
    const sha = String(await io.script('LOAD', 'return 1'))
    const mutex = await domain.mutex('uncontended', { leaseMs: 10_000 })
    const semaphore = new SemaphoreMutex(forSemaphore, 'bench-locks:semaphore', { lockTimeout: 10_000, acquireTimeout: 10_000 })
    const redlock = new Redlock([forRedlock], { retryCount: 0 })
    let lastFence = 0
    const variants: { name: string; op: () => Promise<unknown> }[] = [
      {
        name: L.floor,
        op: async () => {
          await io.evalsha(sha, 0)
          await io.evalsha(sha, 0)
        },
      },
      {
        name: L.threadstate,
        op: async () => {
          const lease = await mutex.lockAsync()
          if (lease === false || lease.fence <= lastFence) throw new Error('Expected a lease with a fence above the last one')
          lastFence = lease.fence
          await mutex.unlock()
        },
      },
      {
        name: L.semaphore,
        op: async () => {
          await semaphore.acquire()
          await semaphore.release()
        },
      },
      {
        name: L.redlock,
        op: async () => {
          const lock = await redlock.acquire(['bench-locks:redlock'], 10_000)
          await lock.release()
        },
      },
    ]
    const pooled = new Map<string, number[]>(variants.map((v) => [v.name, []]))
    for (let i = 0; i < p.warmup + p.writeSamples; i++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length]!
        const t0 = performance.now()
        await v.op()
        const elapsed = performance.now() - t0
        if (i >= p.warmup) pooled.get(v.name)!.push(elapsed)
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    const rows = pooledLatencyRows(
      [{ name: L.floor }, { name: L.threadstate, baseline: L.floor }, { name: L.semaphore, baseline: L.floor }, { name: L.redlock, baseline: L.floor }],
      pooled,
      'one uncontended lock + unlock (performance.now() around both awaits)',
      `; variants interleaved sample by sample, ${p.warmup} untimed first`,
    )
    const notes = new Map<string, string>([
      [L.floor, 'two io.evalsha of `return 1` on a bare ioredis connection: the floor of an acquire + a release'],
      [L.threadstate, 'LOCK_ACQUIRE (TIME, prune, FIFO check, fence = max(last + 1, server us), ZADD lease) + LOCK_RELEASE; fence checked strictly increasing'],
      [L.semaphore, 'SET NX PX + a Lua compare-and-delete; no fence, no owner-died, lease on the server (PX)'],
      [L.redlock, 'a Lua SET NX PX + a Lua compare-and-delete on one instance; no fence, no owner-died'],
    ])
    return rows.map((r) => ({ ...r, note: `${notes.get(r.name)}; ${r.note}` }))
  } finally {
    await domain.close()
    io.disconnect()
    forSemaphore.disconnect()
    forRedlock.disconnect()
  }
}

const H = {
  threadstate: 'lock-handoff: RedisMutex unlock → waiter in another process (woken by the release notice)',
  semaphore: 'lock-handoff: redis-semaphore Mutex release → waiter in another process (polls every 10 ms)',
  floor: 'lock-handoff floor: XADD → other process\'s blocked XREAD → its EVALSHA answered (bare ioredis)',
} as const

/** The time from an unlock here to the acquisition by a waiter in another process. */
export async function lockHandoff(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const base = process.hrtime.bigint()
  const now = (): number => Number(process.hrtime.bigint() - base)
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench-handoff' })
  const client = new Redis(server.url)
  const mutex = await domain.mutex('handoff', { leaseMs: 10_000 })
  const semaphore = new SemaphoreMutex(client, 'bench-handoff:semaphore', { lockTimeout: 10_000, acquireTimeout: 10_000 })
  const floorStream = 'bench-handoff:floor'
  const sides = [
    { name: H.threadstate, kind: 'threadstate', lock: { acquire: () => mutex.lockAsync(), release: () => mutex.unlock() } },
    { name: H.semaphore, kind: 'redis-semaphore', lock: { acquire: () => semaphore.acquire(), release: () => semaphore.release() } },
    { name: H.floor, kind: 'floor', lock: { acquire: async () => undefined, release: () => client.xadd(floorStream, '*', 'w', '1') } },
  ] as const
  const children = sides.map((side) => {
    const lockName = side.kind === 'threadstate' ? 'handoff' : side.kind === 'floor' ? floorStream : 'bench-handoff:semaphore'
    const child = fork(childScript, [server.url, 'bench-handoff', lockName, side.kind, String(base)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const inbox: Record<string, unknown>[] = []
    let wake: (() => void) | undefined
    child.on('message', (m: Record<string, unknown>) => {
      inbox.push(m)
      wake?.()
    })
    const next = async (key: string): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 15_000
      for (;;) {
        const i = inbox.findIndex((m) => m[key] !== undefined)
        if (i >= 0) return inbox.splice(i, 1)[0]!
        if (Date.now() > deadline) throw new Error(`Expected '${key}' from redis-lock-child.js within 15 s, got nothing`)
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 100)
        })
      }
    }
    return { child, next }
  })
  try {
    await Promise.all(children.map((c) => c.next('ready')))
    const pooled = new Map<string, number[]>(sides.map((s) => [s.name, []]))
    const samples = Math.max(20, Math.floor(p.propagationSamples / 3))
    const warmup = 5
    for (let i = 0; i < warmup + samples; i++) {
      for (let s = 0; s < sides.length; s++) {
        const side = sides[(i + s) % sides.length]!
        const child = children[(i + s) % sides.length]!
        await side.lock.acquire()
        child.child.send({ wait: i })
        await child.next('waiting')
        // The waiter's first attempt has failed and it waits (queued, or polling) well before this;
        // a random 20-30 ms so the unlock does not fall in step with a poller's 10 ms period.
        await sleep(20 + Math.random() * 10)
        const t0 = now()
        await side.lock.release()
        const acquired = await child.next('acquired')
        if (i >= warmup) pooled.get(side.name)!.push(((acquired['at'] as number) - t0) / 1e6)
        await child.next('released')
      }
    }
    const rows = pooledLatencyRows(
      [{ name: H.floor }, { name: H.threadstate, baseline: H.floor }, { name: H.semaphore, baseline: H.threadstate }],
      pooled,
      'unlock here (stamped before the call) → acquisition in the other process (stamped when its await resolves), CLOCK_MONOTONIC',
      `; the waiter waits 20-30 ms (random) before each unlock; variants alternate, ${warmup} untimed first`,
    )
    return rows
  } finally {
    for (const c of children) c.child.send({ exit: true })
    await sleep(200)
    for (const c of children) c.child.kill()
    await domain.close()
    client.disconnect()
  }
}
