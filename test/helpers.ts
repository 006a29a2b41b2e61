/**
 * Helpers for cross-thread tests: spawn fixture workers (which import the
 * built package from dist/), collect their results, and order steps with
 * Atomics handshakes instead of sleeps.
 */
import { Worker } from 'node:worker_threads'

/** What a fixture worker posts when it finishes. */
export type WorkerOutcome<T = unknown> =
  | { ok: true; value: T }
  | { ok: false; error: { name: string; message: string } }

/** A running fixture worker. */
export interface RunningWorker<T> {
  readonly worker: Worker
  /** Resolves with the fixture's outcome, or rejects if it exited without one. */
  readonly result: Promise<WorkerOutcome<T>>
  /** Resolves with the exit code. */
  readonly exited: Promise<number>
}

/** Spawns `test/fixtures/<fixture>` (default `worker.mjs`) running `scenario` with `data`. */
export function spawn<T = unknown>(scenario: string, data: Record<string, unknown> = {}, fixture = 'worker.mjs'): RunningWorker<T> {
  const worker = new Worker(new URL(`./fixtures/${fixture}`, import.meta.url), { workerData: { scenario, ...data } })
  let outcome: WorkerOutcome<T> | undefined
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  const result = new Promise<WorkerOutcome<T>>((resolve, reject) => {
    worker.on('message', (m: WorkerOutcome<T>) => {
      outcome = m
      resolve(m)
    })
    worker.once('error', reject)
    void exited.then((code) => {
      if (!outcome) reject(new Error(`worker ${scenario} exited with code ${code} and no result`))
    })
  })
  result.catch(() => {})
  return { worker, result, exited }
}

/** Spawns and returns the fixture's value, throwing its error if it failed. */
export async function run<T = unknown>(scenario: string, data: Record<string, unknown> = {}, fixture = 'worker.mjs'): Promise<T> {
  const outcome = await spawn<T>(scenario, data, fixture).result
  if (!outcome.ok) throw new Error(`${scenario}: ${outcome.error.name}: ${outcome.error.message}`)
  return outcome.value
}

/** The values of several fixture workers, throwing the first failure. */
export async function results<T>(workers: readonly RunningWorker<T>[]): Promise<T[]> {
  return Promise.all(
    workers.map(async (w) => {
      const o = await w.result
      if (!o.ok) throw new Error(`${o.error.name}: ${o.error.message}`)
      return o.value
    }),
  )
}

/** A small array of shared flags for handshakes between threads. */
export function signals(count = 8): Int32Array {
  return new Int32Array(new SharedArrayBuffer(count * 4))
}

/**
 * Waits (without blocking the event loop) until `flags[index] >= value`.
 * Rejects after `timeoutMs`: a test that waits forever is a hung test.
 */
export async function until(flags: Int32Array, index: number, value: number, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const current = Atomics.load(flags, index)
    if (current >= value) return
    const remaining = deadline - performance.now()
    if (remaining <= 0) throw new Error(`timed out waiting for flag ${index} to reach ${value} (is ${current})`)
    const r = Atomics.waitAsync(flags, index, current, Math.min(remaining, 50))
    const keepAlive = setTimeout(() => {}, 60)
    if (r.async) await r.value
    clearTimeout(keepAlive)
  }
}

/** Sets `flags[index] = value` and wakes every thread waiting on it. */
export function raise(flags: Int32Array, index: number, value = 1): void {
  Atomics.store(flags, index, value)
  Atomics.notify(flags, index)
}

/**
 * Multiplier of the stress tests' iteration counts: 1 in `npm test`, more in
 * `npm run stress` (THREADSTATE_STRESS=20).
 */
export const STRESS = Math.max(1, Number(process.env['THREADSTATE_STRESS'] ?? 1) || 1)
