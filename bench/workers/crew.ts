/**
 * The round protocol between a bench's main thread and its workers (a
 * "crew"): the control-word layout, the main-side driver (spawn, start a
 * round, await it) and the worker-side loop.
 *
 * Why rounds: spawning a worker costs tens of milliseconds, far more than one
 * measurement, and measurements of a subject and of its baseline should
 * alternate so that a noisy neighbour or a clock-frequency change hits both.
 * So a crew is spawned once, and each round tells it which variant to run.
 *
 * Every step is ordered by an `Atomics.wait`/`notify` handshake on these words
 * (the piscina habit), never by a sleep:
 *
 * ```
 *  Int32 word  0 READY  workers that have attached everything (workers add 1)
 *              1 ROUND  round number; main adds 1 to start a round
 *              2 KIND   what to run this round (bench-specific), EXIT to stop
 *              3 COUNT  how many operations / samples this round (bench-specific)
 *              4 STOP   main sets 1 to end a timed round
 *              5 DONE   workers that finished the round (workers add 1)
 *              6..15    free for the bench (its own handshakes)
 * ```
 *
 * Main writes KIND, COUNT, STOP and DONE *before* it bumps ROUND; a worker
 * reads them *after* it sees ROUND change. Both are sequentially consistent
 * Atomics operations, so the worker sees this round's values.
 *
 * @module
 */
import { Worker } from 'node:worker_threads'

/** Control word indices (Int32) shared by every crew. */
export const Ctl = {
  READY: 0,
  ROUND: 1,
  KIND: 2,
  COUNT: 3,
  STOP: 4,
  DONE: 5,
  /** First word a bench may use for its own handshakes. */
  FREE: 6,
  /** Number of control words. */
  WORDS: 16,
} as const

/** KIND value that makes every worker return from {@link serveRounds}. */
export const EXIT = -1

/** Longest any handshake may take before the bench gives up as hung. */
export const HANDSHAKE_TIMEOUT_MS = 30_000

/** What every crew worker receives in `workerData`, plus its bench's own fields. */
export interface CrewData {
  /** The control words ({@link Ctl}). */
  readonly control: SharedArrayBuffer
  /** This worker's index in the crew, 0-based. */
  readonly index: number
  /** Base subtracted from the shared clock, see {@link sharedClock}. */
  readonly clockBase: number
}

/**
 * A clock every thread of the process shares: `performance.timeOrigin +
 * performance.now()`, minus a common `base` so that the sum keeps sub-ns
 * precision (an epoch-sized double only resolves ~0.24 us).
 *
 * Node 20 workers report the process's `timeOrigin`, so stamps taken in two
 * threads are directly comparable (checked on this machine: ping-pong skew 0
 * within the 0.24 us resolution of the raw sum).
 */
export function sharedClock(base: number): () => number {
  const offset = performance.timeOrigin - base
  return () => offset + performance.now()
}

/**
 * Blocks (worker side) until `words[index] === value`, or throws after
 * {@link HANDSHAKE_TIMEOUT_MS}: a hung bench should fail, not hang.
 */
export function waitUntil(words: Int32Array, index: number, value: number): void {
  const deadline = performance.now() + HANDSHAKE_TIMEOUT_MS
  for (;;) {
    const current = Atomics.load(words, index)
    if (current === value) return
    const remaining = deadline - performance.now()
    if (remaining <= 0) throw new Error(`Expected control word ${index} to become ${value} within ${HANDSHAKE_TIMEOUT_MS} ms, got ${current}`)
    Atomics.wait(words, index, current, remaining)
  }
}

/** Busy-waits (worker side) until `words[index] === value`; for latency-critical steps. */
export function spinUntil(words: Int32Array, index: number, value: number): void {
  const deadline = performance.now() + HANDSHAKE_TIMEOUT_MS
  let k = 0
  while (Atomics.load(words, index) !== value) {
    if (++k % 4096 === 0 && performance.now() > deadline) {
      throw new Error(`Expected control word ${index} to become ${value} within ${HANDSHAKE_TIMEOUT_MS} ms, got ${Atomics.load(words, index)}`)
    }
  }
}

/** Stores `value` at `index` and wakes every thread waiting on it. */
export function raise(words: Int32Array, index: number, value: number): void {
  Atomics.store(words, index, value)
  Atomics.notify(words, index)
}

/**
 * Worker side: announces readiness, then runs `round(kind, count)` once per
 * round until main sends {@link EXIT}. `round` may be async (an async waiter
 * needs its event loop).
 */
export async function serveRounds(
  control: Int32Array,
  round: (kind: number, count: number) => void | Promise<void>,
): Promise<void> {
  Atomics.add(control, Ctl.READY, 1)
  Atomics.notify(control, Ctl.READY)
  let seen = 0
  for (;;) {
    waitUntilChanged(control, Ctl.ROUND, seen)
    seen = Atomics.load(control, Ctl.ROUND)
    const kind = Atomics.load(control, Ctl.KIND)
    if (kind === EXIT) return
    await round(kind, Atomics.load(control, Ctl.COUNT))
    Atomics.add(control, Ctl.DONE, 1)
    Atomics.notify(control, Ctl.DONE)
  }
}

/** Blocks while `words[index] === value`. No timeout: a crew idles between benches. */
function waitUntilChanged(words: Int32Array, index: number, value: number): void {
  while (Atomics.load(words, index) === value) Atomics.wait(words, index, value)
}

/**
 * Main side of a crew: spawns the workers, starts rounds and awaits them
 * without blocking the main event loop (so worker errors are still seen).
 */
export class Crew {
  /** The control words. */
  readonly control: Int32Array
  /** Base of the crew's shared clock (pass to {@link sharedClock} on main). */
  readonly clockBase = Math.floor(performance.timeOrigin)
  private readonly workers: Worker[] = []
  private failure: Error | undefined

  /**
   * @param script the compiled worker script (a URL next to the caller)
   * @param size number of workers
   * @param data bench-specific `workerData` fields, the same for every worker
   */
  constructor(script: URL, size: number, data: Record<string, unknown>) {
    const control = new SharedArrayBuffer(Ctl.WORDS * 4)
    this.control = new Int32Array(control)
    const clockBase = this.clockBase
    for (let index = 0; index < size; index++) {
      const workerData: CrewData & Record<string, unknown> = { ...data, control, index, clockBase }
      const worker = new Worker(script, { workerData })
      worker.on('error', (error) => {
        this.failure ??= error
      })
      worker.on('exit', (code) => {
        if (code !== 0) this.failure ??= new Error(`bench worker ${index} (${script.pathname}) exited with code ${code}`)
      })
      this.workers.push(worker)
    }
  }

  /** The worker at `index`, for benches that also talk to it over `postMessage`. */
  worker(index: number): Worker {
    const worker = this.workers[index]
    if (!worker) throw new Error(`Expected a worker index from 0 to ${this.workers.length - 1}, got ${index}`)
    return worker
  }

  /** Resolves when every worker has attached its objects. */
  ready(): Promise<void> {
    return this.until(Ctl.READY, this.workers.length)
  }

  /**
   * Starts a round. `before` runs after the round's words are reset and
   * before the workers are released (reset bench-specific words there).
   */
  start(kind: number, count: number, before?: () => void): void {
    const c = this.control
    Atomics.store(c, Ctl.KIND, kind)
    Atomics.store(c, Ctl.COUNT, count)
    Atomics.store(c, Ctl.STOP, 0)
    Atomics.store(c, Ctl.DONE, 0)
    before?.()
    Atomics.add(c, Ctl.ROUND, 1)
    Atomics.notify(c, Ctl.ROUND)
  }

  /** Tells a timed round to stop. */
  stop(): void {
    raise(this.control, Ctl.STOP, 1)
  }

  /** Resolves when every worker has finished the current round. */
  finished(): Promise<void> {
    return this.until(Ctl.DONE, this.workers.length)
  }

  /** Runs one round to completion. */
  async round(kind: number, count: number, before?: () => void): Promise<void> {
    this.start(kind, count, before)
    await this.finished()
  }

  /** Sends EXIT and waits for every worker to exit. */
  async close(): Promise<void> {
    const exits = this.workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())))
    this.start(EXIT, 0)
    await Promise.all(exits)
    if (this.failure) throw this.failure
  }

  /** Stops every worker at once (after a failure). */
  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }

  /**
   * Resolves when `control[index] >= value`. Waits with `Atomics.waitAsync`
   * in slices (a pending waitAsync does not keep Node alive, so a timer is
   * held meanwhile) and rejects on a worker failure or after
   * {@link HANDSHAKE_TIMEOUT_MS}. Public for benches with per-sample
   * handshakes driven from main (snapshot-threads.ts).
   */
  async until(index: number, value: number): Promise<void> {
    const deadline = performance.now() + HANDSHAKE_TIMEOUT_MS
    for (;;) {
      if (this.failure) throw this.failure
      const current = Atomics.load(this.control, index)
      if (current >= value) return
      if (performance.now() > deadline) {
        throw new Error(`Expected ${value} bench workers to reach control word ${index} within ${HANDSHAKE_TIMEOUT_MS} ms, got ${current}`)
      }
      const keepAlive = setTimeout(() => {}, 60)
      const wait = Atomics.waitAsync(this.control, index, current, 50)
      if (wait.async) await wait.value
      clearTimeout(keepAlive)
    }
  }
}
