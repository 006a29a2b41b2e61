/**
 * The Redis-backed tests' server: a real, throwaway `redis-server` per call (bench/redis-server.ts,
 * the project's one starter: a free loopback port, no persistence, its own temp dir, the faults a
 * test can inject), and {@link describeRedis}, which runs a suite only where a server binary exists
 * (locally a named skip, in CI a failure).
 */
import { describe, it } from 'vitest'
import { redisUnavailable, startRedisProcess, type RedisProcess } from '../../bench/redis-server.js'

export { redisUnavailable }

/** A running `redis-server` started by {@link startRedisServer}. */
export type RedisServer = RedisProcess

const BINARY = 'redis-server'

/**
 * What {@link describeRedis} does with a suite: `'run'` it when a server is available; without
 * one, `'skip'` it locally but `'fail'` in CI (where a missing server is a broken setup, never
 * a reason to pass).
 */
export function redisSuiteMode(options: { ci: boolean; available: boolean }): 'run' | 'skip' | 'fail' {
  if (options.available) return 'run'
  return options.ci ? 'fail' : 'skip'
}

/** Whether `env` says this is CI: `CI` set to anything but empty, `0` or `false` (`CI=true` in .ci/run). */
export function isCI(env: NodeJS.ProcessEnv): boolean {
  const value = (env['CI'] ?? '').trim().toLowerCase()
  return value !== '' && value !== '0' && value !== 'false'
}

/**
 * `describe` for suites needing a server: runs them normally when redis-server exists; otherwise,
 * locally, a `describe.skip` whose name says why ("no redis-server on PATH: install it (apt-get
 * install redis-server)"); with CI=true in the environment a missing server is a FAILING
 * test, never a skip.
 */
export const describeRedis: (name: string, fn: () => void) => void = (name, fn) => {
  const why = redisUnavailable()
  switch (redisSuiteMode({ ci: isCI(process.env), available: why === undefined })) {
    case 'run':
      describe(name, fn)
      return
    case 'skip':
      describe.skip(`${name} (skipped: ${why})`, fn)
      return
    case 'fail':
      describe(name, () => {
        it(`needs ${BINARY} (CI must not skip it)`, () => {
          throw new Error(`CI=${process.env['CI']}: ${why} (in CI a missing server fails these suites; .ci/run installs it)`)
        })
      })
      return
  }
}

/**
 * Starts a `redis-server` on a free 127.0.0.1 port, without persistence, in a new temp dir;
 * resolves once it answers PING. Every server still running when this process exits is killed.
 * @throws Error if there is no redis-server ({@link redisUnavailable}), or it does not start
 */
export function startRedisServer(): Promise<RedisServer> {
  return startRedisProcess()
}
