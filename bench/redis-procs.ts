/**
 * The `redis` cases with another process or thread (see redis.ts for the
 * suite), main's side:
 *
 * - `propagation`: main is process A; redis-child.ts, forked, is process B.
 *   Per sample A writes and B, waiting, sees it: a `set` of key `p` seen by
 *   B's `waitForVersionAsync`, or (the baseline) an `XADD` seen by B's
 *   blocked `XREAD`. B stamps the arrival, writes an ack back the same way
 *   (`set` of `ack`; `XADD` to another stream) and reports its stamp over
 *   IPC. Two figures per sample:
 *   - one-way: B's arrival − A's stamp before the write, both on
 *     `process.hrtime.bigint()` (CLOCK_MONOTONIC: one clock for every
 *     process of the machine, so no skew to estimate; on two machines this
 *     would not hold);
 *   - round trip ÷ 2: A's stamp when B's ack is visible to A (in A's mirror;
 *     to A's blocked `XREAD`) − A's stamp before the write, halved: the same
 *     path both ways, on A's clock alone (the cross-check of the one-way
 *     figure that needs no shared clock).
 *   The variants alternate sample by sample; after each sample A sleeps
 *   ~1 ms so both sides are back asleep (B in its wait, the bridges and the
 *   bare readers blocked in `XREAD`) before the next write.
 * - `worker`: main opens the map and starts redis-worker.ts, which times a
 *   `set` through its own connection and one forwarded to main by
 *   `postMessage`, alternating; first with main idle, then with main busy
 *   (back-to-back 1 ms tasks of synchronous work, as a busy service would).
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import { Redis } from 'ioredis'
import { RedisDomain } from 'threadstate/redis'
import type { RedisProfile } from './redis.js'
import type { ChildReport } from './redis-child.js'
import type { BenchRedis } from './redis-server.js'
import type { ForwardReply, ForwardRequest, PhaseResult, RedisWorkerData } from './redis-worker.js'
import { formatDuration, pooledLatencyRows, summarize, type Row } from './report.js'

const childScript = fileURLToPath(new URL('./redis-child.js', import.meta.url))
const workerScript = new URL('./redis-worker.js', import.meta.url)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Expected ${what} within ${ms} ms, got nothing`)), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

// ---- propagation --------------------------------------------------------------------

const P = {
  streamOneWay: 'propagation: XADD → blocked XREAD, one-way (bare ioredis)',
  mapOneWay: 'propagation: set → other process\'s mirror, one-way',
  streamRound: 'propagation: XADD → XREAD → XADD → XREAD, round trip ÷ 2',
  mapRound: 'propagation: set → mirror → set → mirror, round trip ÷ 2',
} as const

/** B's IPC messages, in arrival order; B's exit rejects the wait in progress and every later one. */
class Inbox {
  private readonly queue: unknown[] = []
  private waiting: { resolve: (message: unknown) => void; reject: (error: Error) => void } | undefined
  private failure: Error | undefined

  constructor(child: ChildProcess) {
    child.on('message', (message) => {
      const w = this.waiting
      this.waiting = undefined
      if (w) w.resolve(message)
      else this.queue.push(message)
    })
    child.on('exit', (code, signal) => {
      this.failure = new Error(`Expected redis-child.js to keep running, got its exit (code ${code}, signal ${signal})`)
      this.waiting?.reject(this.failure)
      this.waiting = undefined
    })
  }

  next(what: string): Promise<unknown> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift())
    if (this.failure) return Promise.reject(this.failure)
    return within(new Promise((resolve, reject) => (this.waiting = { resolve, reject })), 10_000, what)
  }
}

/** A write in this process visible in another process's mirror, against XADD waking a blocked XREAD there. */
export async function propagation(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const namespace = 'bench'
  const mapName = 'propagation-map'
  const a2b = 'bench:a2b'
  const b2a = 'bench:b2a'
  const base = process.hrtime.bigint()
  const now = (): number => Number(process.hrtime.bigint() - base)
  const domain = await RedisDomain.connect({ url: server.url, namespace })
  const writer = new Redis(server.url, { lazyConnect: true })
  const reader = new Redis(server.url, { lazyConnect: true })
  writer.on('error', () => {})
  reader.on('error', () => {})
  let child: ChildProcess | undefined
  try {
    await Promise.all([writer.connect(), reader.connect()])
    const map = await domain.sharedMap<number>(mapName)
    child = fork(childScript, [server.url, namespace, mapName, a2b, b2a, String(base)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const inbox = new Inbox(child)
    const ready = (await inbox.next('redis-child.js to start')) as { kind: string }
    if (ready.kind !== 'ready') throw new Error(`Expected redis-child.js to say ready, got ${JSON.stringify(ready)}`)

    const samples = new Map<string, number[]>(Object.values(P).map((name) => [name, []]))
    let lastAck = '0-0'
    const report = async (kind: ChildReport['kind'], seq: number): Promise<number> => {
      const r = (await inbox.next(`B's report of ${kind} ${seq}`)) as ChildReport
      if (r.kind !== kind || r.seq !== seq) throw new Error(`Expected B's report of ${kind} ${seq}, got ${JSON.stringify(r)}`)
      if (!(r.oneWayNs > 0)) throw new Error(`Expected a positive one-way time on the shared monotonic clock, got ${r.oneWayNs} ns`)
      return r.oneWayNs
    }
    const viaMap = async (): Promise<[number, number]> => {
      const v0 = map.version
      const acked = map.waitForVersionAsync(v0 + 2, { timeoutMs: 10_000 })
      const t0 = now()
      const write = map.set('p', t0)
      if (!(await acked)) throw new Error(`Expected B's ack at version ${v0 + 2} in this process's mirror within 10 s`)
      const t1 = now()
      const version = await write
      if (version !== v0 + 1 || map.get('ack') !== version) throw new Error(`Expected p at ${v0 + 1} acked by B, got p at ${version}, ack ${map.get('ack')}`)
      return [await report('map', version), (t1 - t0) / 2]
    }
    let seq = 0
    const viaStream = async (): Promise<[number, number]> => {
      const s = seq++
      const acked = reader.xread('BLOCK', 0, 'STREAMS', b2a, lastAck)
      const t0 = now()
      await writer.xadd(a2b, '*', 't', t0, 's', s)
      const reply = await acked
      const t1 = now()
      const entry = reply?.[0]?.[1]?.[0]
      if (entry === undefined || Number(entry[1][1]) !== s) throw new Error(`Expected B's ack of entry ${s}, got ${JSON.stringify(reply)}`)
      lastAck = entry[0]
      return [await report('stream', s), (t1 - t0) / 2]
    }
    for (let i = 0; i < p.warmup + p.propagationSamples; i++) {
      for (const kind of i % 2 === 0 ? (['map', 'stream'] as const) : (['stream', 'map'] as const)) {
        const [oneWay, half] = kind === 'map' ? await viaMap() : await viaStream()
        if (i >= p.warmup) {
          samples.get(kind === 'map' ? P.mapOneWay : P.streamOneWay)!.push(oneWay / 1e6)
          samples.get(kind === 'map' ? P.mapRound : P.streamRound)!.push(half / 1e6)
        }
        await sleep(1)
      }
    }
    const stats = map.stats()
    const rows = pooledLatencyRows(
      [
        { name: P.streamOneWay },
        { name: P.mapOneWay, baseline: P.streamOneWay },
        { name: P.streamRound },
        { name: P.mapRound, baseline: P.streamRound },
      ],
      samples,
      'one write seen by the other process (ns clock stamps)',
      `; ${p.warmup} untimed samples first, variants alternating, ~1 ms pause after each`,
    )
    const notes = new Map<string, string>([
      [P.streamOneWay, 'A: XADD a2b on one bare connection; B: XREAD BLOCK 0 on another, stamps on wake-up: the least a Stream-based bridge can cost; CLOCK_MONOTONIC stamps in both processes'],
      [
        P.mapOneWay,
        `A: map.set('p', stamp); B: its bridge's XREAD wakes, applies the commit to B's mirror, B's waitForVersionAsync resolves and stamps; ` +
          `same clock as the baseline (A's bridge applied ${stats.bridged} commits of B here)`,
      ],
      [P.streamRound, 'A XADDs, B (woken) XADDs an ack to b2a, A\'s blocked XREAD wakes: (A\'s stamps) ÷ 2; B\'s IPC report is sent after its ack'],
      [P.mapRound, 'A sets p, B (woken in waitForVersionAsync) sets ack, A\'s waitForVersionAsync sees it in A\'s mirror: (A\'s stamps) ÷ 2; no shared clock needed'],
    ])
    return rows.map((r) => ({ ...r, note: `${notes.get(r.name)}; ${r.note}` }))
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()))
      child.send('exit')
      await Promise.race([exited, sleep(3_000)])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    writer.disconnect()
    reader.disconnect()
    await domain.close()
  }
}

// ---- worker -------------------------------------------------------------------------

const K = {
  forwarded: 'worker set: forwarded to main (postMessage)',
  own: 'worker set: own connection (thread-links)',
  busyForwarded: 'worker set, main busy: forwarded to main',
  busyOwn: 'worker set, main busy: own connection',
} as const

/** Keeps main's thread busy with back-to-back 1 ms tasks of synchronous work until stopped. */
function busyMain(): () => Promise<number> {
  let running = true
  let tasks = 0
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => (done = resolve))
  const spin = (): void => {
    if (!running) return done()
    const end = performance.now() + 1
    while (performance.now() < end) {
      // busy
    }
    tasks++
    setImmediate(spin)
  }
  setImmediate(spin)
  return async () => {
    running = false
    await finished
    return tasks
  }
}

/** A set from a worker thread through its own connection against the same set forwarded to main by postMessage. */
export async function workerWrites(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench' })
  const channel = new MessageChannel()
  let worker: Worker | undefined
  try {
    const map = await domain.sharedMap<number>('worker-map')
    let forwarded = 0
    channel.port1.on('message', (request: ForwardRequest) => {
      map.set(request.key, request.value).then(
        (version) => {
          forwarded++
          channel.port1.postMessage({ id: request.id, version } satisfies ForwardReply)
        },
        (error: unknown) => {
          console.error('redis/worker: a forwarded set failed:', error)
        },
      )
    })
    const data: RedisWorkerData = { handle: map.handle, port: channel.port2, warmup: p.warmup, samples: p.workerSamples }
    worker = new Worker(workerScript, { workerData: data, transferList: [channel.port2] })
    const live = worker
    let failure: Error | undefined
    let waiting: ((r: PhaseResult) => void) | undefined
    live.on('message', (r: PhaseResult) => waiting?.(r))
    const failed = new Promise<never>((_, reject) => {
      live.once('error', (error) => reject((failure = error)))
      live.once('exit', (code) => reject((failure ??= new Error(`Expected the bench worker to keep running, got its exit (code ${code})`))))
    })
    failed.catch(() => {})
    const phase = async (name: string): Promise<PhaseResult> => {
      const result = new Promise<PhaseResult>((resolve) => (waiting = resolve))
      live.postMessage({ phase: name })
      return within(Promise.race([result, failed]), 60_000, `the worker's ${name} phase`)
    }
    const idle = await phase('idle')
    const stopBusy = busyMain()
    let busy: PhaseResult
    let busyTasks: number
    const t0 = performance.now()
    try {
      busy = await phase('busy')
    } finally {
      busyTasks = await stopBusy()
    }
    const busyMs = performance.now() - t0
    if (failure) throw failure
    const pooled = new Map<string, number[]>([
      [K.forwarded, idle.forwarded],
      [K.own, idle.own],
      [K.busyForwarded, busy.forwarded],
      [K.busyOwn, busy.own],
    ])
    const rows = pooledLatencyRows(
      [
        { name: K.forwarded },
        { name: K.own, baseline: K.forwarded },
        { name: K.busyForwarded },
        { name: K.busyOwn, baseline: K.busyForwarded },
      ],
      pooled,
      'one awaited set in the worker (performance.now() around it)',
      `; ${p.warmup} untimed samples first, the two ways alternating`,
    )
    const main = summarize(busy.forwarded)
    const notes = new Map<string, string>([
      [K.forwarded, `the worker posts { id, key, value } over a MessagePort, main calls map.set and posts back { id, version }, the worker awaits it (${forwarded} forwarded in all)`],
      [K.own, 'RedisSharedMap.attach(handle) in the worker: its first write opens the thread\'s connection (thread-links.ts), each set applies its commit to the shared mirror itself'],
      [
        K.busyForwarded,
        `main busy with back-to-back 1 ms synchronous tasks (${busyTasks} in ${formatDuration(busyMs)}): a request waits for the task running when it lands; max ${formatDuration(main.max)}`,
      ],
      [K.busyOwn, 'same, main busy: the worker\'s set does not need main (3 busy threads on 2 cores: main, the worker, redis-server)'],
    ])
    return rows.map((r) => ({ ...r, note: `${notes.get(r.name)}; ${r.note}` }))
  } finally {
    if (worker) {
      const gone = new Promise<void>((resolve) => worker!.once('exit', () => resolve()))
      worker.postMessage('exit')
      await Promise.race([gone, sleep(3_000)])
      await worker.terminate()
    }
    channel.port1.close()
    await domain.close()
  }
}
