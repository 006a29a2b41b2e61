/**
 * Helpers for cross-thread tests: spawn fixture workers (which import the
 * built package from dist/, rebuilt from src/ before the tests by
 * test/global-setup.ts), collect their results, and order steps with
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

/**
 * Failures of spawned workers, by the shared memory they were given: a
 * handshake on that memory ({@link until}) reports the failure at once
 * instead of timing out on a flag nobody will raise.
 */
const failuresBySharedMemory = new WeakMap<SharedArrayBuffer, string>()

function recordFailure(data: Record<string, unknown>, failure: string): void {
  for (const value of Object.values(data)) {
    if (ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer && !failuresBySharedMemory.has(value.buffer)) {
      failuresBySharedMemory.set(value.buffer, failure)
    }
  }
}

/** Throws the failure of a worker that shares `view`'s memory, if one failed. */
function throwIfWorkerFailed(view: Int32Array): void {
  const failure = view.buffer instanceof SharedArrayBuffer ? failuresBySharedMemory.get(view.buffer) : undefined
  if (failure !== undefined) throw new Error(`a worker sharing this memory failed: ${failure}`)
}

/** Spawns `test/fixtures/<fixture>` (default `worker.mjs`) running `scenario` with `data`. */
export function spawn<T = unknown>(scenario: string, data: Record<string, unknown> = {}, fixture = 'worker.mjs'): RunningWorker<T> {
  const worker = new Worker(new URL(`./fixtures/${fixture}`, import.meta.url), { workerData: { scenario, ...data } })
  let outcome: WorkerOutcome<T> | undefined
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  const result = new Promise<WorkerOutcome<T>>((resolve, reject) => {
    worker.on('message', (m: WorkerOutcome<T>) => {
      outcome = m
      if (!m.ok) recordFailure(data, `${scenario}: ${m.error.name}: ${m.error.message}`)
      resolve(m)
    })
    worker.once('error', (error) => {
      recordFailure(data, `${scenario}: ${error.name}: ${error.message}`)
      reject(error)
    })
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
 * Rejects after `timeoutMs` (a test that waits forever is a hung test), or as
 * soon as a worker given the same shared memory has failed.
 */
export async function until(flags: Int32Array, index: number, value: number, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const current = Atomics.load(flags, index)
    if (current >= value) return
    throwIfWorkerFailed(flags)
    const remaining = deadline - performance.now()
    if (remaining <= 0) throw new Error(`timed out waiting for flag ${index} to reach ${value} (is ${current})`)
    const r = Atomics.waitAsync(flags, index, current, Math.min(remaining, 50))
    const keepAlive = setTimeout(() => {}, 60)
    if (r.async) await r.value
    clearTimeout(keepAlive)
  }
}

/**
 * Polls (without blocking the event loop) until `condition()` holds: for a
 * shared state that nobody notifies, produced only by the step awaited (a
 * waiter's bit in a lock word, a counter). Rejects after `timeoutMs`, naming
 * `what`.
 */
export async function pollUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
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

/**
 * Attaches again and again for `ms` (and at least `min` times), yielding to
 * the event loop every `every` attaches; returns how many ran and the
 * messages of those refused. For the attach-while-writing tests.
 */
export async function attachRepeatedly(
  attach: () => unknown,
  ms: number,
  min = 200,
  every = 100,
): Promise<{ attaches: number; refused: string[] }> {
  let attaches = 0
  const refused: string[] = []
  const end = performance.now() + ms
  while (performance.now() < end || attaches < min) {
    try {
      attach()
    } catch (error) {
      refused.push((error as Error).message)
    }
    attaches++
    if (attaches % every === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  return { attaches, refused }
}
