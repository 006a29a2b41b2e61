/**
 * The `threadstate/redis` benches (`npm run bench -- redis`, issue 12
 * "Speed"), each next to what it costs at least, or what a user would use
 * instead, measured in the same run against a `redis-server` the case
 * starts itself (a free loopback port, no persistence, a temp dir:
 * redis-server.ts) and stops when it ends:
 *
 * - `redis/read`: mirror reads (`RedisSharedMap.get` of a number,
 *   `RedisStateBuffer` `reader().readInto`) against the in-memory objects
 *   (target within 1.5×), a bare ioredis `GET` round trip (≥ 100× slower)
 *   and node-redis's client-side cache hit (RESP3 tracking; ≥ 20× slower).
 * - `redis/write`: p50/p99 of `set`, `setMany` of 10 keys, `transaction`,
 *   `RedisSnapshotStore.publish` of ~2 KB, `RedisStateBuffer.publish`,
 *   against a bare ioredis `EVALSHA` of `return 1` (target p50 within 1.5×).
 * - `redis/propagation`: a write in this process visible in another
 *   process's mirror (a child process), one-way and round trip ÷ 2, against
 *   a bare `XADD` waking a blocked `XREAD` between the same two processes.
 * - `redis/throughput`: 64 concurrent `set`s, wave after wave, against an
 *   ioredis pipeline of 64 `HSET`s.
 * - `redis/worker`: a `set` from a worker thread through its own connection
 *   (thread-links.ts) against the same write forwarded to the main thread by
 *   `postMessage`; also with the main thread busy.
 * - `redis/locks`, `redis/lock-handoff` (issue 13): uncontended lock +
 *   unlock against redis-semaphore and redlock, and the hand-off from an
 *   unlock to a waiter in another process (redis-locks.ts).
 * - `redis/transition` (issue 13): a state machine transition, a trigger
 *   flag set + take and a watchdog kick against a bare `EVALSHA`
 *   (redis-machine.ts).
 *
 * Without a `redis-server` binary every case returns one row saying it was
 * skipped and why; so does a case whose client libraries (ioredis, redis:
 * optional peers of the package, which ships dist/bench for `threadstate
 * bench`) are not installed: the case modules are imported only when a case
 * runs. This file holds the profiles, the case list and the server's
 * lifetime; the cases are in redis-micro.ts (on main) and redis-procs.ts
 * (with a child process or a worker).
 *
 * @module
 */
import { redisUnavailable, startBenchRedis, type BenchRedis } from './redis-server.js'
import type { MicroProfile } from './micro.js'
import type { BenchCase, Row, RunOptions, Suite } from './report.js'

/** How long each part runs; `--quick` picks the short profile. */
export interface RedisProfile extends MicroProfile {
  /** Timed writes per variant (`write`), after {@link RedisProfile.warmup} untimed ones. */
  readonly writeSamples: number
  /** Untimed samples per variant before the timed ones (`write`, `propagation`, `worker`). */
  readonly warmup: number
  /** Timed samples per variant of `propagation`. */
  readonly propagationSamples: number
  /** Runs per variant of `throughput` (variants alternate) and the length of one. */
  readonly throughputRuns: number
  readonly throughputRunMs: number
  /** Timed writes per variant and phase of `worker`. */
  readonly workerSamples: number
}

const FULL: RedisProfile = {
  microTimeMs: 300,
  microWarmupMs: 100,
  microRounds: 2,
  writeSamples: 2000,
  warmup: 50,
  propagationSamples: 600,
  throughputRuns: 5,
  throughputRunMs: 300,
  workerSamples: 1000,
}

const QUICK: RedisProfile = {
  microTimeMs: 80,
  microWarmupMs: 40,
  microRounds: 1,
  writeSamples: 300,
  warmup: 30,
  propagationSamples: 150,
  throughputRuns: 2,
  throughputRunMs: 150,
  workerSamples: 200,
}

const profileOf = (options: RunOptions): RedisProfile => (options.quick ? QUICK : FULL)

/** The case modules, imported when a case runs (they import ioredis and redis). */
type Cases = typeof import('./redis-micro.js') & typeof import('./redis-procs.js') & typeof import('./redis-locks.js') & typeof import('./redis-machine.js')

async function loadCases(): Promise<Cases> {
  const [micro, procs, locks, machine] = await Promise.all([import('./redis-micro.js'), import('./redis-procs.js'), import('./redis-locks.js'), import('./redis-machine.js')])
  return { ...micro, ...procs, ...locks, ...machine }
}

/** The first line of an error's message. */
function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!
}

/**
 * Runs `fn` against a fresh server and stops it after; without a
 * redis-server binary, when one does not start, or without the client
 * libraries, one row saying the case was skipped and why.
 */
async function withServer(name: string, fn: (cases: Cases, server: BenchRedis) => Promise<Row[]>): Promise<Row[]> {
  let server: BenchRedis
  let cases: Cases
  try {
    const missing = redisUnavailable()
    if (missing !== undefined) throw new Error(missing)
    try {
      cases = await loadCases()
    } catch (error) {
      throw new Error(`the bench's Redis clients (ioredis, redis) could not be loaded: ${reason(error)}`)
    }
    server = await startBenchRedis()
  } catch (error) {
    const why = reason(error)
    return [
      {
        name: `${name}: skipped (${why})`,
        measurement: { kind: 'value', value: 0, unit: 'count', what: `nothing measured: ${why}` },
        note: `skipped: ${why}`,
      },
    ]
  }
  try {
    return await fn(cases, server)
  } finally {
    await server.stop()
  }
}

/** The Redis benches, selectable by case name. */
export const redisSuite: Suite = {
  name: 'redis',
  cases: [
    {
      name: 'redis/read',
      description: 'mirror get / readInto vs in-memory SharedMap / StateBuffer, ioredis GET, node-redis client-side cache hit',
      run: (options) => withServer('read', (cases, server) => cases.reads(server, profileOf(options))),
    },
    {
      name: 'redis/write',
      description: 'p50/p99 of set, setMany(10), transaction, snapshot publish 2 KB, state publish vs bare EVALSHA',
      run: (options) => withServer('write', (cases, server) => cases.writes(server, profileOf(options))),
    },
    {
      name: 'redis/propagation',
      description: 'a set visible in another process\'s mirror (one-way, round trip / 2) vs XADD -> blocked XREAD',
      run: (options) => withServer('propagation', (cases, server) => cases.propagation(server, profileOf(options))),
    },
    {
      name: 'redis/throughput',
      description: '64 concurrent sets, wave after wave, vs an ioredis pipeline of 64 HSETs',
      run: (options) => withServer('throughput', (cases, server) => cases.throughput(server, profileOf(options))),
    },
    {
      name: 'redis/worker',
      description: 'set from a worker: its own connection vs forwarded to main by postMessage (main idle, main busy)',
      run: (options) => withServer('worker', (cases, server) => cases.workerWrites(server, profileOf(options))),
    },
    {
      name: 'redis/locks',
      description: 'uncontended lock + unlock: RedisMutex vs redis-semaphore Mutex vs redlock vs 2 bare EVALSHA (issue 13)',
      run: (options) => withServer('locks', (cases, server) => cases.locks(server, profileOf(options))),
    },
    {
      name: 'redis/lock-handoff',
      description: 'unlock here -> waiter acquires in another process: RedisMutex vs redis-semaphore Mutex (issue 13)',
      run: (options) => withServer('lock-handoff', (cases, server) => cases.lockHandoff(server, profileOf(options))),
    },
    {
      name: 'redis/transition',
      description: 'RedisStateMachine.transition (with and without from), trigger flag set + take, watchdog kick vs bare EVALSHA (issue 13)',
      run: (options) => withServer('transition', (cases, server) => cases.transitions(server, profileOf(options))),
    },
  ] satisfies BenchCase[],
}
