/**
 * The Redis locks across real processes (issue 13, Evidence), on a real
 * redis-server; children are test/fixtures/redis-locks.mjs (fork, IPC).
 *
 * - Mutual exclusion: 3 processes x 2 worker threads (6 holders on 2
 *   cores), each thread a holder of its own through an attached handle,
 *   doing a non-atomic read-modify-write (GET, a yield, SET) of a plain
 *   Redis key under one RedisMutex: the total is exact; the critical
 *   sections, ordered by their start on the machine's monotonic clock, never
 *   overlap and their fences grow strictly (fences in the real-time order of
 *   acquisition). The same run without the lock loses updates (the check
 *   can fail).
 * - A holder process SIGKILLed: the next acquirer gets RedisOwnerDiedError
 *   naming it (holding the lock).
 * - A holder process SIGSTOPped past its lease, then SIGCONTed: the new
 *   holder gets RedisOwnerDiedError and its fenced write succeeds; the old
 *   holder's signal aborts (LeaseLostError) and its next fenced write is
 *   refused (StaleFenceError); the map keeps the new holder's value.
 *
 * Broken variants run once against these checks (docs/verification.md):
 * the fixture without the lock (LOCKED=0) loses updates (the exclusion test
 * asserts it here); LOCK_ACQUIRE with PRUNE not poisoning an expired
 * exclusive hold: no OwnerDiedError after the SIGKILL (the kill test
 * failed); MAP_COMMIT without its fence check: the SIGSTOPped holder's late
 * write went through and overwrote the new holder's (the pause test failed).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { OwnerDiedError } from '../../src/index.js'
import { RedisDomain, RedisOwnerDiedError } from '../../src/redis/index.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-locks.mjs', import.meta.url))
const NAMESPACE = 'lockprocs'
const PROCESSES = 3
const THREADS = 2

const live = new Set<ChildProcess>()

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
    }),
  ])
}

function start(env: Record<string, string>) {
  const child = fork(FIXTURE, [], { env: { ...process.env, NAMESPACE, ...env }, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  live.add(child)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    }),
  )
  const failed = exited.then(({ code, signal }) => {
    throw new Error(`a child exited (${code ?? signal}) early`)
  })
  failed.catch(() => {})
  const message = <T>(type: string): Promise<T> =>
    Promise.race([new Promise<T>((resolve) => child.on('message', (m: Record<string, unknown>) => m[type] !== undefined && resolve(m[type] as T))), failed])
  return { child, exited, message }
}

type Section = [fence: number, start: number, end: number]

describeRedis('Redis locks across processes', () => {
  let server: RedisServer
  let domain: RedisDomain
  beforeAll(async () => {
    server = await startRedisServer()
    domain = await RedisDomain.connect({ url: server.url, namespace: NAMESPACE })
  })
  afterEach(() => {
    for (const child of live) {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
    }
  })
  afterAll(async () => {
    await domain?.close()
    await server?.stop()
  })

  async function run(name: string, locked: boolean, rounds: number) {
    const key = `plain:${name}`
    const procs = Array.from({ length: PROCESSES }, () =>
      start({ URL: server.url, NAME: name, MODE: 'exclusion', THREADS: String(THREADS), ROUNDS: String(rounds), KEY: key, LOCKED: locked ? '1' : '0' }),
    )
    await within(Promise.all(procs.map((p) => p.message('ready'))), 30_000, 'the processes starting')
    const results = procs.map((p) => p.message<{ holders: string[]; sections: Section[] }>('result'))
    for (const p of procs) p.child.send({ go: true })
    const all = await within(Promise.all(results), 120_000, 'the rounds')
    for (const p of procs) expect((await p.exited).code).toBe(0)
    const redis = new Redis(server.url)
    const total = Number(await redis.get(key))
    redis.disconnect()
    return { total, holders: all.flatMap((r) => r.holders), sections: all.flatMap((r) => r.sections) }
  }

  it('3 processes x 2 threads: a read-modify-write of a plain key under the mutex is exact; sections never overlap and fences grow in real-time order; without the lock updates are lost', async () => {
    const rounds = 60
    const expected = PROCESSES * THREADS * rounds
    const { total, holders, sections } = await run('exclusion', true, rounds)
    expect(total).toBe(expected)
    // Six holders, six identities (process-unique domain id + thread id).
    expect(new Set(holders).size).toBe(PROCESSES * THREADS)
    expect(sections).toHaveLength(expected)
    sections.sort((a, b) => a[1] - b[1])
    let overlaps = 0
    let fenceInversions = 0
    for (let i = 1; i < sections.length; i++) {
      if (sections[i]![1] < sections[i - 1]![2]) overlaps++
      if (sections[i]![0] <= sections[i - 1]![0]) fenceInversions++
    }
    expect(overlaps).toBe(0)
    expect(fenceInversions).toBe(0)

    // The broken variant: the same rounds without the lock lose updates.
    const unlocked = await run('unlocked', false, rounds)
    expect(unlocked.total).toBeLessThan(expected)
  }, 240_000)

  it('a holder process SIGKILLed: the next acquirer gets RedisOwnerDiedError naming it, holding the lock', async () => {
    const child = start({ URL: server.url, NAME: 'killed', MODE: 'hold', ACTION: 'hang', LEASE_MS: '1000' })
    const held = await within(child.message<{ fence: number; holder: string }>('held'), 30_000, 'the child acquiring')
    const mutex = await domain.mutex('killed', { leaseMs: 1000 })
    expect(await mutex.tryLock()).toBe(false)
    child.child.kill('SIGKILL')
    await child.exited
    const killedAt = performance.now()
    const error = await mutex.lockAsync({ timeoutMs: 30_000 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    const tookMs = performance.now() - killedAt
    expect(error).toBeInstanceOf(RedisOwnerDiedError)
    expect(error).toBeInstanceOf(OwnerDiedError)
    const died = error as RedisOwnerDiedError
    expect(died.holding).toBe(true)
    expect(died.deadHolder).toBe(held.holder)
    expect(died.deadFence).toBe(held.fence)
    expect(died.lease!.fence).toBeGreaterThan(held.fence)
    expect(mutex.isHeldByCurrentThread).toBe(true)
    await mutex.markConsistent()
    await mutex.unlock()
    expect((await mutex.stateAsync()).poisoned).toBe('')
    console.log(`owner died reported ${Math.round(tookMs)} ms after the SIGKILL (lease 1000 ms)`)
  }, 60_000)

  it('a holder SIGSTOPped past its lease, then SIGCONTed: its signal aborts, its fenced write is refused, the new holder’s succeeds', async () => {
    const child = start({ URL: server.url, NAME: 'paused', MODE: 'hold', ACTION: 'write', LEASE_MS: '600', MAP: 'fenced' })
    const held = await within(child.message<{ fence: number; holder: string }>('held'), 30_000, 'the child acquiring and writing')
    const late = child.message<{ writeError: string; aborted: string; writes: number }>('late')
    child.child.kill('SIGSTOP')
    const map = await domain.sharedMap<{ by: string; fence: number }>('fenced')
    const mutex = await domain.mutex('paused', { leaseMs: 600 })
    const error = await mutex.lockAsync({ timeoutMs: 30_000 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(RedisOwnerDiedError)
    const died = error as RedisOwnerDiedError
    expect(died.deadHolder).toBe(held.holder)
    const lease = died.lease!
    await map.set('x', { by: 'parent', fence: lease.fence }, { fence: lease })
    child.child.kill('SIGCONT')
    const report = await within(late, 30_000, 'the resumed child reporting')
    expect(report.writeError).toBe('StaleFenceError')
    expect(report.aborted).toBe('LeaseLostError')
    expect(report.writes).toBeGreaterThan(0)
    await map.sync()
    expect(map.get('x')).toEqual({ by: 'parent', fence: lease.fence })
    expect(lease.signal.aborted).toBe(false)
    await mutex.markConsistent()
    await mutex.unlock()
    expect((await child.exited).code).toBe(0)
  }, 60_000)
})
