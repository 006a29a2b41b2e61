/**
 * The private `redis-server` of `threadstate demo-fleet` when no `--redis`
 * is given: the bench suite's (bench/redis-server.ts, built to
 * dist/bench/ and shipped with the package), loaded by URL as
 * `threadstate bench` loads the benchmarks: a free 127.0.0.1 port, no
 * persistence, its own temp dir, stopped by pid (and killed if this
 * process exits first). A type test (test/cli-fleet.test.ts) checks that
 * bench/redis-server.ts still matches {@link BenchRedisModule}.
 *
 * @module
 */

/** A running server. */
export interface PrivateRedis {
  readonly url: string
  readonly pid: number
  /** Stops it and removes its temp dir; idempotent. */
  stop(): Promise<void>
}

/** What the demo uses of dist/bench/redis-server.js. */
export interface BenchRedisModule {
  /** Why no server can be started here (no `redis-server` on PATH), or undefined. */
  redisUnavailable(): string | undefined
  /** Starts one; resolves once it answers PING. */
  startBenchRedis(): Promise<PrivateRedis>
}

const MODULE_URL = new URL('../../bench/redis-server.js', import.meta.url)

/** How to get a server, for the message when there is none. */
export const INSTALL_HINT =
  'threadstate demo-fleet needs a Redis server (7.0 or later, or Valkey): install redis-server ' +
  '(Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) so the demo can start a private one, ' +
  'or pass --redis redis://host:port to use one you run'

/**
 * Starts a private server.
 * @returns the server, or a string saying why none could be started
 */
export async function startPrivateRedis(): Promise<PrivateRedis | string> {
  let bench: BenchRedisModule
  try {
    bench = (await import(MODULE_URL.href)) as BenchRedisModule
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND') {
      return `Expected the server starter at ${MODULE_URL.pathname}, found none: run \`npm run build\` in the repository, or pass --redis <url>`
    }
    throw error
  }
  const why = bench.redisUnavailable()
  if (why !== undefined) return `${INSTALL_HINT} (${why})`
  return bench.startBenchRedis()
}
