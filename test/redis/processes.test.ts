/**
 * Several processes for real (issue 12): 3 Node processes (fork, IPC) with 2
 * worker threads each, 6 writers on 2 cores, sharing one RedisSharedMap on a
 * real redis-server. Every thread runs read-modify-write transactions on two
 * shared counters and setManys of a checksummed 5-key record; every process's
 * main thread subscribes and reads the record. Exact totals, 0 mixed reads in
 * any thread of any process, every subscriber sees every version in order, and
 * the history of the counters (stamped on the machine's monotonic clock) is
 * linearizable. Then one process is killed with SIGKILL mid-run: every
 * increment it was acknowledged is counted, none twice.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { RedisDomain } from '../../src/redis/index.js'
import { STRESS } from '../helpers.js'
import { checkLinearizable, type Model, type Operation } from '../lin/checker.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-procs.mjs', import.meta.url))
const PROCESSES = 3
const THREADS = 2
const NAMESPACE = 'procs'

/** Counters c0, c1: an increment returns the value it made (fetch-and-add), a read (after sync) the current one. */
type CounterInput = { readonly op: 'increment' | 'read'; readonly key: string }
const counters: Model<number, CounterInput, unknown> = {
  init: () => 0,
  key: (s) => String(s),
  partition: (input) => input.key,
  step(s, input, output) {
    if (input.op === 'increment') return { ok: output === s + 1, next: s + 1 }
    return { ok: output === s, next: s }
  },
}

interface Ack {
  readonly thread: number
  readonly seq: number
  readonly key: string
  readonly value: number
}
interface ThreadResult {
  readonly thread: number
  readonly mixed: number
  readonly reads: number
  readonly history: Operation<CounterInput, unknown>[]
}
interface ProcessResult {
  readonly proc: number
  readonly threads: ThreadResult[]
  readonly mainReads: number
  readonly mainMixed: number
  readonly versions: { count: number; first: number | undefined; last: number | undefined; gaps: number; resets: number }
  readonly server: number
  readonly snapshot: Record<string, unknown>
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

const live = new Set<ChildProcess>()

/** A child process of the fixture, with the acknowledgements it reported so far. */
function startProcess(url: string, name: string, proc: number, rounds: number, base: bigint) {
  const child = fork(FIXTURE, [], {
    env: { ...process.env, URL: url, NAMESPACE, NAME: name, PROC: String(proc), THREADS: String(THREADS), ROUNDS: String(rounds), BASE: String(base) },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  live.add(child)
  const acks: Ack[] = []
  const waiters: { n: number; resolve: () => void }[] = []
  const message = (type: string) => new Promise<unknown>((resolve) => child.on('message', (m: Record<string, unknown>) => m[type] !== undefined && resolve(m[type])))
  child.on('message', (m: { ack?: Ack }) => {
    if (m.ack === undefined) return
    acks.push(m.ack)
    for (const w of waiters) if (acks.length >= w.n) w.resolve()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    }),
  )
  const ready = message('ready')
  const done = message('done')
  const result = message('result') as Promise<ProcessResult>
  // (Raced with `failed` only when asked for: a race nobody awaits would be an unhandled rejection.)
  const failed = exited.then(({ code, signal }) => {
    throw new Error(`process ${proc} exited (${code ?? signal}) before it was done`)
  })
  failed.catch(() => {})
  return {
    child,
    acks,
    exited,
    /** Resolves once the process is ready to start (rejects if it exits first). */
    ready: () => Promise.race([ready, failed]),
    done: () => Promise.race([done, failed]),
    /** Resolves once at least `n` increments were acknowledged in the process. */
    acked: (n: number) => Promise.race([new Promise<void>((resolve) => (acks.length >= n ? resolve() : waiters.push({ n, resolve }))), failed]),
    go: () => child.send({ go: true }),
    /** Tells the process every writer is done; resolves with its result. */
    finish: async (): Promise<ProcessResult> => {
      child.send({ finish: true })
      const out = await Promise.race([result, failed])
      expect((await exited).code).toBe(0)
      return out
    },
  }
}

/** The acknowledged values of counter `key`, ascending. */
const valuesOf = (acks: readonly Ack[], key: string) => acks.filter((a) => a.key === key).map((a) => a.value).sort((a, b) => a - b)

describeRedis('3 processes x 2 threads on one RedisSharedMap', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterEach(() => {
    for (const child of live) child.kill('SIGKILL')
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('exact totals, 0 mixed reads in any thread of any process, every subscriber sees every version in order, a linearizable history', async () => {
    const rounds = 250 * STRESS
    const base = process.hrtime.bigint()
    const procs = Array.from({ length: PROCESSES }, (_, p) => startProcess(server.url, 'run', p, rounds, base))
    await within(Promise.all(procs.map((p) => p.ready())), 30_000, 'the processes starting')
    for (const p of procs) p.go()
    await within(Promise.all(procs.map((p) => p.done())), 50_000, 'the processes finishing their rounds')
    const results = await within(Promise.all(procs.map((p) => p.finish())), 20_000, 'the processes reporting')

    const increments = PROCESSES * THREADS * rounds
    const commits = 2 * increments // a transaction and a record per round
    for (const r of results) {
      // 0 mixed reads, in each worker and in the main thread.
      expect(r.mainMixed, `process ${r.proc}`).toBe(0)
      expect(r.mainReads).toBeGreaterThan(0)
      for (const t of r.threads) {
        expect(t.mixed, `process ${r.proc} thread ${t.thread}`).toBe(0)
        expect(t.reads).toBe(rounds * 20)
      }
      // Every process agrees on the final state (read after sync()).
      expect(r.server).toBe(commits)
      expect(r.snapshot['c0'], `process ${r.proc}`).toBe(increments / 2)
      expect(r.snapshot['c1']).toBe(increments / 2)
      for (let p = 0; p < PROCESSES; p++) for (let t = 0; t < THREADS; t++) expect([r.snapshot[`count:${p}:${t}`], r.snapshot[`last:${p}:${t}`]]).toEqual([rounds, rounds])
      // The subscriber (started before any write) saw versions 1..commits, each once, in order.
      expect(r.versions, `process ${r.proc}`).toEqual({ count: commits, first: 1, last: commits, gaps: 0, resets: 0 })
    }
    // Every acknowledged increment made a value of its own: 1..n of each counter, each exactly once.
    const acks = procs.flatMap((p) => p.acks)
    expect(acks.length).toBe(increments)
    for (const key of ['c0', 'c1']) expect(valuesOf(acks, key)).toEqual(Array.from({ length: increments / 2 }, (_, k) => k + 1))
    // The history of all 6 threads is a legal run of two counters, in real time.
    const history = results.flatMap((r) => r.threads.flatMap((t) => t.history))
    expect(history.length).toBe(increments + PROCESSES * THREADS * Math.floor(rounds / 5))
    const check = checkLinearizable(history, counters)
    expect(check, JSON.stringify(check)).toMatchObject({ linearizable: true, partitions: 2 })
  })

  it('a process killed with SIGKILL mid-run: every increment it was acknowledged is counted, nothing is applied twice', async () => {
    const rounds = 150 * STRESS
    const base = process.hrtime.bigint()
    const procs = Array.from({ length: PROCESSES }, (_, p) => startProcess(server.url, 'killed', p, rounds, base))
    await within(Promise.all(procs.map((p) => p.ready())), 30_000, 'the processes starting')
    for (const p of procs) p.go()
    const victim = procs[1]!
    await within(victim.acked(THREADS * 20), 30_000, 'the victim acknowledging 40 increments')
    victim.child.kill('SIGKILL')
    expect((await victim.exited).signal).toBe('SIGKILL')
    const victimAcks = [...victim.acks]
    expect(victimAcks.length).toBeLessThan(THREADS * rounds) // killed mid-run
    const survivors = [procs[0]!, procs[2]!]
    await within(Promise.all(survivors.map((p) => p.done())), 50_000, 'the survivors finishing their rounds')
    const results = await within(Promise.all(survivors.map((p) => p.finish())), 20_000, 'the survivors reporting')

    const truth = await RedisDomain.connect({ url: server.url, namespace: NAMESPACE })
    try {
      const map = await truth.sharedMap<number>('killed')
      await map.sync()
      const count = (p: number, t: number) => map.get(`count:${p}:${t}`) ?? 0
      const last = (p: number, t: number) => map.get(`last:${p}:${t}`) ?? 0
      const total = (map.get('c0') ?? 0) + (map.get('c1') ?? 0)
      // Atomic transactions: the counters' total is the sum of the per-thread counts.
      let sum = 0
      for (let p = 0; p < PROCESSES; p++) for (let t = 0; t < THREADS; t++) sum += count(p, t)
      expect(total).toBe(sum)
      // The survivors: exactly their rounds, each once.
      for (const p of [0, 2]) for (let t = 0; t < THREADS; t++) expect([count(p, t), last(p, t)]).toEqual([rounds, rounds])
      // The victim: every round it was acknowledged (as far as the parent heard before the kill:
      // acknowledgements still in the pipe are lost with it) is on the server, and every round
      // on the server was applied once: its count is the number of the last round applied.
      let unacked = 0
      for (let t = 0; t < THREADS; t++) {
        const acked = victimAcks.filter((a) => a.thread === t).length
        expect(victimAcks.filter((a) => a.thread === t).map((a) => a.seq)).toEqual(Array.from({ length: acked }, (_, k) => k + 1))
        expect(last(1, t)).toBeGreaterThanOrEqual(acked)
        expect(count(1, t)).toBe(last(1, t))
        unacked += count(1, t) - acked
      }
      // total = acknowledged + applied-but-unacknowledged, and every value of each counter is
      // accounted for: no value was made twice, each acknowledged one is within the final count.
      const acks = [...procs[0]!.acks, ...victimAcks, ...procs[2]!.acks]
      expect(total).toBe(acks.length + unacked)
      for (const key of ['c0', 'c1']) {
        const values = valuesOf(acks, key)
        const final = map.get(key) ?? 0
        expect(new Set(values).size).toBe(values.length)
        expect(values.every((v) => v >= 1 && v <= final)).toBe(true)
      }
      for (const r of results) {
        expect(r.mainMixed).toBe(0)
        for (const t of r.threads) expect(t.mixed).toBe(0)
        expect(r.versions).toMatchObject({ first: 1, gaps: 0, resets: 0, last: r.server })
        expect(r.snapshot).toEqual(Object.fromEntries(map.snapshot()))
      }
    } finally {
      await truth.close()
    }
  })
})
