/**
 * The state machine, trigger flags, watchdog and name registry across
 * processes for real (issue 13): 3 forked Node processes with 2 worker
 * threads each (6 racing threads on 2 cores) on one redis-server
 * (fixture: test/fixtures/redis-machine.mjs).
 *
 * - Transitions with `from` raced by all 6 threads: every transition on the
 *   server has exactly one caller that was told true (its reason names it),
 *   every process's onTransition listener heard the server's log exactly, in
 *   commit order, and the 6 threads' history (stamped on the machine's
 *   monotonic clock) is linearizable against the machine's definition. An
 *   estop sent without `from` in the middle of the race is never lost.
 * - Trigger flags set and taken by all 6 threads: each flag that went from
 *   clear to set was taken exactly once (exact counts).
 * - A watchdog watched by the 3 processes: each silence fires exactly one
 *   handler in all, never before timeoutMs of server time.
 * - Names reserved by the 3 processes at once: exactly one winner per name.
 *
 * Broken variants run once against this file (docs/verification.md).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedisDomain } from '../../src/redis/index.js'
import type { WatchdogExpiry } from '../../src/index.js'
import { checkLinearizable, type Operation } from '../lin/checker.js'
import { machineModel, type MachineInput } from '../lin/models.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-machine.mjs', import.meta.url))
const PROCESSES = 3
const THREADS = 2
const NAMESPACE = 'machine-procs'
const definition = {
  states: ['a', 'b', 'c', 'estop'],
  initial: 'a',
  transitions: { a: ['b', 'c'], b: ['c', 'a'], c: ['a', 'b'] },
  anyTo: ['estop'],
} as const
const allowed = (from: string, to: string) => (to === 'estop' && from !== 'estop') || ((definition.transitions as Record<string, readonly string[]>)[from] ?? []).includes(to)

interface RaceResult {
  readonly proc: number
  readonly threads: { ops: Operation<MachineInput, unknown>[]; wins: string[] }[]
  readonly heard: [number, string, string, string][]
  readonly server: number
  readonly state: string
  readonly history: [number, string, string][]
  /** The machine's figures in that process (printed when a check fails). */
  readonly stats: unknown
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describeRedis('3 processes x 2 threads: state machine, trigger flags, watchdog, names', () => {
  let server: RedisServer
  let children: ChildProcess[] = []
  let client: ReturnType<typeof createClient>
  const fires: (WatchdogExpiry & { proc: number })[] = []

  /** Sends `message` to every process and resolves with their results (in process order). */
  const all = <R,>(message: object, ms = 120_000): Promise<R[]> =>
    within(
      Promise.all(
        children.map(
          (child) =>
            new Promise<R>((resolve, reject) => {
              const on = (m: { result?: R; error?: string }) => {
                if (m.result === undefined && m.error === undefined) return
                child.off('message', on)
                if (m.error !== undefined) reject(new Error(m.error))
                else resolve(m.result as R)
              }
              child.on('message', on)
              child.send(message)
            }),
        ),
      ),
      ms,
      `every process answering ${Object.keys(message)[0]}`,
    )

  beforeAll(async () => {
    server = await startRedisServer()
    client = createClient({ url: server.url })
    await client.connect()
    const base = process.hrtime.bigint()
    children = Array.from({ length: PROCESSES }, (_, proc) =>
      fork(FIXTURE, [], {
        env: { ...process.env, URL: server.url, NAMESPACE, PROC: String(proc), THREADS: String(THREADS), BASE: String(base) },
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
    for (const child of children) child.on('message', (m: { fire?: WatchdogExpiry & { proc: number } }) => m.fire && fires.push(m.fire))
    await within(Promise.all(children.map((c) => new Promise((resolve) => c.on('message', (m: { ready?: boolean }) => m.ready && resolve(true))))), 30_000, 'the processes starting')
  }, 60_000)

  afterAll(async () => {
    await Promise.all(
      children.map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        if (child.connected) child.send({ exit: true })
        await Promise.race([exited, sleep(10_000)])
        if (child.exitCode === null) child.kill('SIGKILL')
      }),
    )
    await client?.quit()
    await server?.stop()
  })

  it('transitions with `from` raced by 6 threads: one winner per transition, every listener hears the log in commit order, linearizable; the estop is never lost', async () => {
    const games = 4
    const attempts = 40
    for (let game = 0; game < games; game++) {
      // The estop comes from a different thread each game, in the middle of the race.
      const estopBy = (game % PROCESSES) * 10 + (game % THREADS)
      await all({ open: { game } })
      const raced = await all<Pick<RaceResult, 'threads'>>({ race: { game, attempts, estopBy, estopAt: attempts / 2 } })
      const reports = await all<Omit<RaceResult, 'threads'>>({ report: { game } })
      const results: RaceResult[] = reports.map((r, i) => ({ ...r, threads: raced[i]!.threads }))
      const entries = (await client.xRange(`{${NAMESPACE}:race-${game}}:log`, '-', '+')) ?? []
      const log = entries.map((e) => e!.message as Record<string, string>)
      const wins = results.flatMap((r) => r.threads.flatMap((t) => t.wins))
      // Exactly one caller was told true per committed transition, and no caller was told true for one not committed.
      expect(wins.sort()).toEqual(log.map((m) => m['r']).sort())
      expect(log.map((m) => Number(m['v']))).toEqual(log.map((_, i) => i + 1))
      // The estop (sent without `from`, racing moves) committed, and nothing left it.
      const estop = log.findIndex((m) => m['s'] === '3')
      expect(estop, 'the estop is in the log').toBeGreaterThanOrEqual(0)
      expect(log[estop]!['r']).toBe(`${estopBy}:${attempts / 2}`)
      expect(estop).toBe(log.length - 1)
      for (const r of results) {
        expect(r.server).toBe(log.length)
        expect(r.state, `process ${r.proc}`).toBe('estop')
        // Every process's listener heard the server's log, each transition once, in commit order.
        const states = definition.states as readonly string[]
        expect(r.heard, `process ${r.proc}'s listener`).toEqual(log.map((m, i) => [i + 1, states[Number(m['f'])], states[Number(m['s'])], m['r']]))
        // The mirror's history: the newest transitions, as the log has them (an entry whose writer was preempted may be left out, as in memory).
        expect(r.history.at(-1)?.[0], JSON.stringify([r.proc, r.history.slice(-4), log.length, r.heard.slice(-2), r.stats])).toBe(log.length)
        for (const [seq, to, reason] of r.history) expect([to, reason]).toEqual([states[Number(log[seq - 1]!['s'])], log[seq - 1]!['r']])
      }
      const history = results.flatMap((r) => r.threads.flatMap((t) => t.ops))
      const check = checkLinearizable(history, machineModel(definition.initial, allowed))
      expect(check, `game ${game}: ${JSON.stringify(check)}`).toMatchObject({ linearizable: true })
      expect(log.length).toBeGreaterThan(2) // a race, not a walkover
    }
  }, 300_000)

  it('trigger flags set and taken by 6 threads in 3 processes: every flag set was taken exactly once', async () => {
    const rounds = 60
    const results = await all<{ threads: { newlySet: number; taken: number }[] }>({ flags: { game: 0, rounds } })
    const domain = await RedisDomain.connect({ url: server.url, namespace: NAMESPACE })
    try {
      const flags = await domain.triggerFlags('flags-0', ['calibrate', 'walk', 'stop'])
      const left = (await flags.takeAll()).length
      const newlySet = results.flatMap((r) => r.threads).reduce((n, t) => n + t.newlySet, 0)
      const taken = results.flatMap((r) => r.threads).reduce((n, t) => n + t.taken, 0)
      // Each clear -> set change was made by one set() told false; each set -> clear by one taker told true.
      expect(taken + left).toBe(newlySet)
      expect(newlySet).toBeGreaterThan(rounds) // flags were set and taken many times
    } finally {
      await domain.close()
    }
  }, 120_000)

  it('a watchdog watched by 3 processes: each silence fires exactly one handler, never before timeoutMs of server time', async () => {
    const timeoutMs = 300
    const silences = 3
    const domain = await RedisDomain.connect({ url: server.url, namespace: NAMESPACE })
    try {
      const dog = await domain.watchdog('dog', { timeoutMs })
      let kicking = true
      const kicker = (async () => {
        while (kicking) {
          await dog.kick()
          await sleep(30)
        }
      })()
      await all({ watch: { name: 'dog', timeoutMs } })
      await sleep(2 * timeoutMs) // watched while kicked: no fire
      expect(fires).toHaveLength(0)
      kicking = false
      await kicker
      for (let s = 1; s <= silences; s++) {
        await within(
          (async () => {
            while (fires.length < s) await sleep(10)
          })(),
          30_000,
          `silence ${s} firing`,
        )
        await sleep(3 * timeoutMs) // every process checks several times more: no second fire
        expect(fires, `silence ${s}`).toHaveLength(s)
        await dog.kick()
      }
      await all({ unwatch: true })
      const stats = await dog.stats()
      expect(stats.expiries).toBe(silences)
      expect(fires.map((f) => f.expiries)).toEqual(Array.from({ length: silences }, (_, i) => i + 1))
      for (const f of fires) expect(f.ageMs).toBeGreaterThanOrEqual(timeoutMs)
    } finally {
      await domain.close()
    }
  }, 120_000)

  it('names reserved by 3 processes at once: exactly one winner per name', async () => {
    const count = 50
    for (let game = 0; game < 3; game++) {
      const results = await all<{ proc: number; won: string[] }>({ names: { game, count } })
      const won = results.flatMap((r) => r.won).sort()
      expect(won).toEqual(Array.from({ length: count }, (_, i) => `name-${game}-${i}`).sort())
    }
  }, 120_000)
})
