/**
 * The machinery of `threadstate demo-locks` that is not a scene: output with ✓/✗
 * checks, worker spawning and clean-up, the READY/GO/STOP handshake and
 * number formatting. Scenes live in demo.ts.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { Flag, type Task, type WorkerReport } from './protocol.js'

/** The worker script, beside this module (dist/cli/locks/worker.js once built). */
const WORKER_URL = new URL('./worker.js', import.meta.url)

/** Marks of a passed and a failed check. */
export const OK = '✓'
export const FAIL = '✗'
/** Output width; longer lines are wrapped. */
const WIDTH = 100

/** Joins a number to its unit so that {@link wrap} never separates them. */
const GLUE = '\u00a0'

/** Splits `text` into lines of at most `width` characters, at spaces (not at {@link GLUE}). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let current = ''
  for (const word of text.split(' ')) {
    if (current !== '' && current.length + 1 + word.length > width) {
      lines.push(current)
      current = word
    } else {
      current = current === '' ? word : `${current} ${word}`
    }
  }
  lines.push(current)
  return lines.map((line) => line.replaceAll(GLUE, ' '))
}

/** A running demo worker. */
export interface Spawned<T> {
  readonly worker: Worker
  /** The task's report; rejects if the task threw or the worker exited without one. */
  readonly result: Promise<T>
}

/** What every scene gets: output, checks, workers, and its share of the time. */
export class DemoRun {
  checks = 0
  failures = 0
  private readonly workers = new Set<Worker>()

  constructor(
    readonly durationMs: number,
    private readonly print: (line: string) => void,
  ) {}

  /** Longest any single step may take before the demo calls it hung. */
  get stepTimeoutMs(): number {
    return 10_000 + this.durationMs
  }

  /** A share of the total duration, in ms. */
  share(fraction: number): number {
    return Math.max(50, Math.round(this.durationMs * fraction))
  }

  /** Prints `text` wrapped to {@link WIDTH} columns, every line indented by `indent` spaces. */
  line(text = '', indent = 0): void {
    for (const line of wrap(text, WIDTH - indent)) this.print(' '.repeat(indent) + line)
  }

  /** Prints a check line marked ✓ or ✗ and counts it. */
  check(ok: boolean, text: string): boolean {
    this.checks++
    if (!ok) this.failures++
    const [first = '', ...more] = wrap(text, WIDTH - 5)
    this.print(`   ${ok ? OK : FAIL} ${first}`)
    for (const line of more) this.print(`     ${line}`)
    return ok
  }

  spawn<T>(task: Task): Spawned<T> {
    const worker = new Worker(WORKER_URL, { workerData: task })
    this.workers.add(worker)
    worker.once('exit', () => this.workers.delete(worker))
    const result = new Promise<T>((resolve, reject) => {
      worker.once('message', (report: WorkerReport<T>) => {
        if (report.ok) resolve(report.value)
        else reject(new Error(`${task.task} worker failed: ${report.error.name}: ${report.error.message}`))
      })
      worker.once('error', reject)
      // Does nothing if the report came first.
      worker.once('exit', (code) => reject(new Error(`${task.task} worker exited (code ${code}) without a report`)))
    })
    result.catch(() => {}) // awaited later (or never, for a worker that is killed)
    return { worker, result }
  }

  /** Terminates the workers still running (called after each scene). */
  async cleanUp(): Promise<void> {
    await Promise.all([...this.workers].map((worker) => worker.terminate()))
  }
}

// ---- handshakes -------------------------------------------------------------

export function newFlags(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Flag.WORDS * 4))
}

export function raise(flags: Int32Array, index: number): void {
  Atomics.store(flags, index, 1)
  Atomics.notify(flags, index)
}

/**
 * Waits, without blocking the event loop, until `flags[index] >= atLeast`.
 * A pending `Atomics.waitAsync` does not keep Node alive (DESIGN.md), so a
 * timer is held for each slice. Returns early once `signal` is aborted (the
 * caller stopped caring).
 */
export async function whenFlag(
  flags: Int32Array,
  index: number,
  atLeast: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const current = Atomics.load(flags, index)
    if (current >= atLeast || signal?.aborted) return
    const remaining = deadline - performance.now()
    if (remaining <= 0) {
      throw new Error(`Expected flag ${index} to reach ${atLeast} within ${timeoutMs} ms, got ${current}`)
    }
    const slice = Math.min(remaining, 50)
    const wait = Atomics.waitAsync(flags, index, current, slice)
    if (!wait.async) continue
    const keepAlive = setTimeout(() => {}, slice + 5)
    await wait.value
    clearTimeout(keepAlive)
  }
}

/**
 * {@link whenFlag}, but rejects as soon as `failure` rejects (a worker that
 * failed before raising the flag).
 */
export async function untilFlagOrFailure(
  flags: Int32Array,
  index: number,
  atLeast: number,
  timeoutMs: number,
  failure: Promise<unknown>,
): Promise<void> {
  const done = new AbortController()
  try {
    await Promise.race([whenFlag(flags, index, atLeast, timeoutMs, done.signal), failure])
  } finally {
    done.abort()
  }
}

/** Rejects with a clear message if `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Expected ${what} within ${ms} ms, got nothing`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Starts the workers together (READY -> GO), lets them run `ms`, raises STOP
 * and returns their reports.
 */
export async function runFor<T>(
  run: DemoRun,
  workers: readonly Spawned<T>[],
  flags: Int32Array,
  ms: number,
): Promise<T[]> {
  const reports = Promise.all(workers.map((w) => w.result))
  await untilFlagOrFailure(flags, Flag.READY, workers.length, run.stepTimeoutMs, reports)
  raise(flags, Flag.GO)
  await delay(ms)
  raise(flags, Flag.STOP)
  return within(reports, run.stepTimeoutMs, 'the workers to report')
}

// ---- formatting -------------------------------------------------------------

/** 1234567 -> "1,234,567". */
export const count = (n: number): string => n.toLocaleString('en-US')
/** `part` as a percentage of `whole`, with more decimals for small values. */
export function percent(part: number, whole: number): string {
  const p = whole === 0 ? 0 : (100 * part) / whole
  return `${p === 0 || p >= 1 ? p.toFixed(1) : p >= 0.01 ? p.toFixed(2) : `<${GLUE}0.01`}${GLUE}%`
}
export const millis = (ms: number): string => `${ms < 1 ? ms.toFixed(2) : ms.toFixed(1)}${GLUE}ms`
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}${GLUE}s`
export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)
