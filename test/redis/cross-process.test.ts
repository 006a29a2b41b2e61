/**
 * Several processes for real (issue 12): 3 Node processes with 2 worker
 * threads each (6 writers on 2 cores), sharing one RedisSharedMap through a
 * real redis-server. Every thread runs read-modify-write transactions on
 * shared counters and checksummed multi-key records; each process's main
 * thread subscribes; the history of the counter is checked for
 * linearizability. Then one process is killed with SIGKILL mid-run.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { RedisDomain } from '../../src/redis/index.js'
import { STRESS } from '../helpers.js'
import { checkLinearizable, type Operation } from '../lin/checker.js'
import { counterModel, type CounterInput } from '../lin/models.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-cross.mjs', import.meta.url))
const THREADS = 2

interface ThreadResult {
  readonly thread: number
  readonly acks: number
  readonly mixed: number
  readonly reads: number
  readonly history: Operation<CounterInput, unknown>[]
}
interface ProcessResult {
  readonly proc: number
  readonly threads: ThreadResult[]
  readonly mixed: number
  readonly versionsSeen: number
  readonly first: number
  readonly last: number
  readonly server: number
  readonly gaps: number
  readonly resets: number
  readonly snapshot: Record<string, unknown>
}

/** A child process of the fixture, with the acknowledgements it printed so far. */
function startProcess(url: string, name: string, proc: number, rounds: number) {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, URL: url, NAME: name, PROC: String(proc), THREADS: String(THREADS), ROUNDS: String(rounds) },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const acks = new Array<number>(THREADS).fill(0)
  let out = ''
  let onDone: () => void = () => {}
  const workersDone = new Promise<void>((resolve) => (onDone = resolve))
  let onAck: () => void = () => {}
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    for (const m of chunk.matchAll(/^ack (\d+) (\d+)$/gm)) acks[Number(m[1])] = Math.max(acks[Number(m[1])]!, Number(m[2]))
    if (/^workers done$/m.test(out)) onDone()
    onAck()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    acks,
    workersDone,
    exited,
    /** Resolves once the process acknowledged at least `n` increments in all. */
    acked: (n: number) =>
      new Promise<void>((resolve) => {
        onAck = () => acks.reduce((a, b) => a + b, 0) >= n && resolve()
        onAck()
      }),
    result: async (): Promise<ProcessResult> => {
      child.stdin!.end('go\n')
      await exited
      const line = /^result (.*)$/m.exec(out)
      if (!line) throw new Error(`process ${proc} printed no result:\n${out.slice(-2000)}`)
      return JSON.parse(line[1]!) as ProcessResult
    },
  }
}

describeRedis('several processes on one RedisSharedMap', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('3 processes x 2 threads: exact totals, 0 mixed reads anywhere, every subscriber sees every version in order', async () => {
    const rounds = 40 * STRESS
    const procs = [0, 1, 2].map((p) => startProcess(server.url, 'shared', p, rounds))
    await Promise.all(procs.map((p) => p.workersDone))
    const results = await Promise.all(procs.map((p) => p.result()))
    const total = 3 * THREADS * rounds
    for (const r of results) {
      expect(r.mixed, `process ${r.proc}`).toBe(0)
      expect(r.threads.every((t) => t.acks === rounds && t.reads > 0)).toBe(true)
      expect(r.snapshot['total']).toBe(total) // read after sync(): every process agrees
      for (let p = 0; p < 3; p++) for (let t = 0; t < THREADS; t++) expect(r.snapshot[`count:${p}:${t}`]).toBe(rounds)
      // Every commit of every process, in order, from the subscription's start to the end.
      expect(r.gaps, `process ${r.proc}`).toBe(0)
      expect(r.resets).toBe(0)
      expect(r.last).toBe(r.server)
      expect(r.versionsSeen).toBe(r.last - r.first + 1)
      // Each round is two commits: the transaction and the record.
      expect(r.server).toBe(2 * total)
    }
    // The increments (each returns the total it made) and sync()ed reads during and after the run,
    // of all 6 threads, stamped by one Redis counter: a linearizable history of a fetch-and-add counter.
    const history = results.flatMap((r) => r.threads.flatMap((t) => t.history))
    expect(history.length).toBe(total + Math.floor(rounds / 2) * 3 * THREADS + 3 * THREADS)
    const check = checkLinearizable(history, counterModel)
    expect(check.linearizable, JSON.stringify(check)).toBe(true)
  })

  it('one process killed with SIGKILL mid-run loses nothing that was acknowledged; the survivors are exact', async () => {
    const rounds = 60 * STRESS
    const procs = [0, 1, 2].map((p) => startProcess(server.url, 'killed', p, rounds))
    await procs[1]!.acked(THREADS * 10)
    procs[1]!.child.kill('SIGKILL')
    await procs[1]!.exited
    const ackedByKilled = [...procs[1]!.acks]
    await Promise.all([procs[0]!.workersDone, procs[2]!.workersDone])
    const results = await Promise.all([procs[0]!.result(), procs[2]!.result()])
    const truth = await RedisDomain.connect({ url: server.url, namespace: 'cross' })
    try {
      const map = await truth.sharedMap<number>('killed')
      await map.sync()
      const counts = [0, 1, 2].flatMap((p) => Array.from({ length: THREADS }, (_, t) => map.get(`count:${p}:${t}`) ?? 0))
      // Atomic transactions: the total is the sum of the per-thread counts, always.
      expect(map.get('total')).toBe(counts.reduce((a, b) => a + b, 0))
      // The survivors: exactly their acknowledged increments.
      for (const p of [0, 2]) for (let t = 0; t < THREADS; t++) expect(map.get(`count:${p}:${t}`)).toBe(rounds)
      // The killed one: every increment it acknowledged is there. (No upper bound from here: acks
      // still on their way to this process die with it; test/redis/processes.test.ts checks that
      // nothing was applied twice with a per-thread last-round key.)
      for (let t = 0; t < THREADS; t++) expect(map.get(`count:1:${t}`) ?? 0).toBeGreaterThanOrEqual(ackedByKilled[t]!)
      for (const r of results) {
        expect(r.mixed).toBe(0)
        expect(r.gaps).toBe(0)
      }
    } finally {
      await truth.close()
    }
  })
})
