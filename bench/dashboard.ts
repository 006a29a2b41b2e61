/**
 * The dashboard bench (`npm run bench -- dashboard`): what the live
 * dashboard (serveStatus's `GET /`, its Server-Sent Events feed) costs the
 * program it observes. In one run, windows alternate between no dashboard
 * and 5 dashboards connected (5 SSE streams in a child process that parses
 * every frame, as a page does), with at the default 250 ms interval a frame
 * of a StateBuffer, a Mutex, a StateMachine and a Watchdog:
 *
 * - `dashboard/cost`: a worker publishing a StateBuffer in a tight loop
 *   (updates/s) and, at the same time, a worker running a 1 kHz RateLoop
 *   that reads it (jitter p50 / p99 of each window), each with its "no
 *   dashboard" baseline; the serving (main) thread's event-loop utilization
 *   (the share of the window it was busy: all the dashboard's work runs
 *   there, so the difference between the two is what serving 5 pages
 *   costs, and per frame); and the feed's figures (frames encoded, frames
 *   delivered, bytes per frame).
 *
 * @module
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { Mutex, StateBuffer, StateMachine, Watchdog, type RateLoopStats } from 'threadstate'
import { serveStatus } from 'threadstate/node'
import { summarize, type BenchCase, type Row, type RunOptions, type Suite } from './report.js'
import { BenchState } from './workers/dashboard-state.js'

/** Dashboards connected in the "with" windows. */
const PAGES = 5

interface Profile {
  /** Length of one window, ms. */
  readonly windowMs: number
  /** Windows of each kind (they alternate, the order flipping every round). */
  readonly rounds: number
}

const FULL: Profile = { windowMs: 1500, rounds: 6 }
const QUICK: Profile = { windowMs: 600, rounds: 3 }

function ask<T>(worker: Worker, message: object): Promise<T> {
  const reply = once(worker, 'message') as Promise<[T]>
  worker.postMessage(message)
  return reply.then(([m]) => m)
}

async function cost(profile: Profile): Promise<Row[]> {
  const pose = StateBuffer.create(BenchState, { history: 8 })
  const mutex = Mutex.create()
  const machine = StateMachine.create({ states: ['idle', 'busy'], initial: 'idle', transitions: { idle: ['busy'], busy: ['idle'] } })
  const watchdog = Watchdog.forStateBuffer(pose, { maxAgeMs: 100 })
  const server = await serveStatus({ dashboard: { objects: { pose, mutex, machine, watchdog } } })
  const clients = fork(new URL('./dashboard-clients.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const workerUrl = new URL('./workers/dashboard-worker.js', import.meta.url)
  const writer = new Worker(workerUrl, { workerData: { pose: pose.handle } })
  const looper = new Worker(workerUrl, { workerData: { pose: pose.handle } })
  const tell = <T>(message: object): Promise<T> => {
    const reply = once(clients, 'message') as Promise<[T]>
    clients.send(message)
    return reply.then(([m]) => m)
  }
  const rates = { off: [] as number[], on: [] as number[] }
  const p50 = { off: [] as number[], on: [] as number[] }
  const p99 = { off: [] as number[], on: [] as number[] }
  const busy = { off: [] as number[], on: [] as number[] }
  let delivered = 0
  let bytes = 0
  let encodedFrames = 0
  try {
    for (let round = 0; round < profile.rounds + 1; round++) {
      const order: ('off' | 'on')[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off']
      for (const phase of order) {
        const framesBefore = server.dashboardFrames
        if (phase === 'on') await tell({ connect: `${server.url}/dashboard/feed`, count: PAGES })
        const start = performance.eventLoopUtilization()
        const [w, l] = await Promise.all([
          ask<{ updates: number }>(writer, { kind: 'writer', windowMs: profile.windowMs }),
          ask<{ stats: RateLoopStats }>(looper, { kind: 'loop', windowMs: profile.windowMs }),
        ])
        const utilization = performance.eventLoopUtilization(performance.eventLoopUtilization(), start).utilization
        if (phase === 'on') {
          const done = await tell<{ frames: number; bytes: number }>({ disconnect: true })
          if (round > 0) {
            delivered += done.frames
            bytes += done.bytes
            encodedFrames += server.dashboardFrames - framesBefore
          }
        }
        if (round === 0) continue // warm-up round
        rates[phase].push((w.updates * 1000) / profile.windowMs)
        p50[phase].push(l.stats.jitterP50Ms)
        p99[phase].push(l.stats.jitterP99Ms)
        busy[phase].push(utilization)
      }
    }
  } finally {
    clients.kill()
    await Promise.all([writer.terminate(), looper.terminate()])
    await server.close()
  }
  const throughput = (xs: number[]) => {
    const s = summarize(xs)
    return { kind: 'throughput' as const, opsPerSec: s.median, minOpsPerSec: s.min, maxOpsPerSec: s.max, runs: s.count }
  }
  const jitter = (a: number[], b: number[]) => ({
    kind: 'latency' as const,
    medianMs: summarize(a).median,
    p99Ms: summarize(b).median,
    samples: a.length,
    sample: 'one window: its p50 (median column) and p99 (p99 column), median over windows',
  })
  const noDashboard = 'StateBuffer update loop in a worker, no dashboard'
  const noDashboardLoop = 'RateLoop 1 kHz jitter in a worker, no dashboard'
  const perPage = delivered / PAGES
  const busyOff = summarize(busy.off).median
  const busyOn = summarize(busy.on).median
  const framesPerWindow = encodedFrames / profile.rounds
  const perFrameUs = ((busyOn - busyOff) * profile.windowMs * 1000) / Math.max(1, framesPerWindow)
  const noDashboardBusy = 'serving thread busy, no dashboard'
  return [
    { name: noDashboard, measurement: throughput(rates.off) },
    {
      name: `StateBuffer update loop in a worker, ${PAGES} dashboards`,
      measurement: throughput(rates.on),
      baseline: noDashboard,
      note: `windows of ${profile.windowMs} ms alternating with the baseline's; the RateLoop below ran at the same time`,
    },
    { name: noDashboardLoop, measurement: jitter(p50.off, p99.off) },
    { name: `RateLoop 1 kHz jitter in a worker, ${PAGES} dashboards`, measurement: jitter(p50.on, p99.on), baseline: noDashboardLoop },
    { name: noDashboardBusy, measurement: { kind: 'value', value: busyOff * 100, unit: '%', what: 'main thread event-loop utilization over a window, median over windows' } },
    {
      name: `serving thread busy, ${PAGES} dashboards`,
      measurement: { kind: 'value', value: busyOn * 100, unit: '%', what: 'main thread event-loop utilization over a window, median over windows' },
      baseline: noDashboardBusy,
      note: `the difference is the feed's work: ~${perFrameUs.toFixed(0)} µs of the serving thread per frame for ${PAGES} pages (read 4 objects' stats, encode once, write ${PAGES} times), ${(1000 / profile.windowMs * framesPerWindow).toFixed(1)} frames/s`,
    },
    {
      name: `feed: frames encoded for ${PAGES} dashboards`,
      measurement: { kind: 'value', value: encodedFrames, unit: 'count', what: `frames read and encoded by the server while ${PAGES} pages were connected` },
      note: `each page received ${Math.round(perPage)} frames: one encoding served all ${PAGES}`,
    },
    {
      name: 'feed: bytes per frame',
      measurement: { kind: 'value', value: delivered === 0 ? 0 : Math.round(bytes / delivered), unit: 'bytes', what: 'SSE bytes received ÷ frames received (4 objects)' },
    },
  ]
}

/** The dashboard bench, selectable by case name. */
export const dashboardSuite: Suite = {
  name: 'dashboard',
  cases: [
    {
      name: 'dashboard/cost',
      description: `StateBuffer write loop and 1 kHz RateLoop jitter in workers, with ${PAGES} dashboards connected vs none, alternating windows`,
      run: (options: RunOptions) => cost(options.quick ? QUICK : FULL),
    },
  ] satisfies BenchCase[],
}
