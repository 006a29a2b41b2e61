/**
 * RateLoop: calls a function at a fixed rate (up to 10 kHz) on absolute
 * deadlines, and measures how well it kept them.
 *
 * ```
 *  deadline(k) = start + k * 1000 / hz        (absolute: errors never add up)
 *
 *  blocking:  ... Atomics.wait ............ spin | tick k | Atomics.wait ... spin | tick k+1
 *  timer:     ... setTimeout .............. poll | tick k | setTimeout ..... poll | tick k+1
 *                                      spinMs -->|                        -->|
 * ```
 *
 * Two ways to wait for a deadline. **Blocking** (a worker): sleep with
 * `Atomics.wait` on a private word nobody notifies until `spinMs` before the
 * deadline, then spin on the clock; the sleep overshoots by ~0.1 ms here, so
 * the spin absorbs it and 1 kHz keeps microsecond jitter. **Timer** (a main
 * thread): `setTimeout` until `spinMs` before the deadline, then poll the clock
 * from event-loop turns (`setImmediate`, or a `MessageChannel` message to
 * itself where there is none: browsers), so the event loop keeps running
 * between polls. An async run lets the event loop turn at least once per
 * tick, even when it is behind. Node's `setTimeout` fires up to ~2 ms early or
 * late, hence the re-check and the poll.
 *
 * A tick that starts after later deadlines have passed (a long `onTick`, an
 * oversleep, a descheduled thread) runs once, for the latest passed deadline;
 * the ones before it are counted in `skipped` and never run in a burst. Ticks
 * never run early, so jitter (actual start - deadline) is >= 0. Jitter goes to
 * a log-linear histogram of fixed size (32 buckets per octave, <= ~3 % error),
 * so a loop can run for days without its statistics growing.
 *
 * @module
 */
import { BlockingNotAllowedError, OptionError, ThreadstateError, describe } from '../errors.js'
import { nativeThreadId } from '#platform'
import { now } from '../memory/clock.js'
import { threadMayBlock } from '../sync/wait.js'

/** Highest rate a RateLoop accepts, in Hz. */
export const MAX_HZ = 10_000

/** Longest single `Atomics.wait` in an async blocking run: the event loop runs at least this often. */
const ASYNC_BLOCK_SLICE_MS = 10

/** What `onTick` receives. */
export interface TickInfo {
  /** Index of the deadline this tick serves: `scheduledTime = start + index * 1000 / hz`. */
  readonly index: number
  /** The deadline, on the calling thread's monotonic clock (`performance.now()`, ms). */
  readonly scheduledTime: number
  /** When the tick started, on the same clock (never before `scheduledTime`). */
  readonly actualTime: number
  /** `actualTime - scheduledTime`, in ms. */
  readonly jitterMs: number
  /** Deadlines dropped just before this tick because the loop was behind. */
  readonly skipped: number
}

/** Options of a {@link RateLoop}. */
export interface RateLoopOptions {
  /** Ticks per second: a finite number > 0 and <= 10000. */
  readonly hz: number
  /**
   * Called on every tick. Return `false` to end the run (as `stop()` does).
   * A throw ends the run too, and is rethrown by `runFor` (or rejects the
   * promise of `runForAsync` / `start`).
   */
  readonly onTick: (info: TickInfo) => boolean | void
  /**
   * Wait for deadlines by blocking the thread (`Atomics.wait` + spin: precise)
   * or with timers (never blocks the event loop). `true` on a thread where
   * `Atomics.wait` is forbidden (a browser main thread) throws
   * `BlockingNotAllowedError`.
   * @default true in a worker, false on a main thread (Node's may block, but should not)
   */
  readonly blocking?: boolean
  /**
   * How long before each deadline to stop sleeping and watch the clock: a
   * busy spin when blocking, macrotask polls (the event loop keeps running,
   * but the thread stays busy) with timers. 0 sleeps right up to the deadline:
   * cheaper, but the oversleep becomes jitter (~0.1 ms with `Atomics.wait`,
   * ~1-2 ms with `setTimeout` here).
   * @default 0.2 when blocking, 1 with timers
   */
  readonly spinMs?: number
}

/** Figures of the current run of a {@link RateLoop}, or of its last one. */
export interface RateLoopStats {
  /** How the loop waits for deadlines. */
  readonly mode: 'blocking' | 'timer'
  /** Whether a run is going on. */
  readonly running: boolean
  /** The rate asked for, in Hz. */
  readonly hz: number
  /** Ticks run. */
  readonly ticks: number
  /** Deadlines dropped because the loop was behind (never run late in a burst). */
  readonly skipped: number
  /** Ticks whose `onTick` ran longer than one period. */
  readonly overruns: number
  /** Length of the run so far, in ms. */
  readonly elapsedMs: number
  /** `ticks` per second of `elapsedMs`. */
  readonly achievedHz: number
  /** Median jitter (tick start - deadline), in ms (NaN before the first tick). */
  readonly jitterP50Ms: number
  /** 99th percentile of the jitter, in ms (NaN before the first tick). */
  readonly jitterP99Ms: number
  /** Largest jitter, in ms (exact; NaN before the first tick). */
  readonly jitterMaxMs: number
  /** Mean jitter, in ms (exact; NaN before the first tick). */
  readonly jitterMeanMs: number
  /** Longest `onTick`, in ms. */
  readonly longestTickMs: number
}

// Jitter histogram, in nanoseconds: values below 2^SUB_BITS get a bucket each;
// above, each octave [2^e, 2^(e+1)) has 2^SUB_BITS buckets (relative error <=
// 1/2^SUB_BITS), up to 2^MAX_EXP ns (~9.8 hours); larger values share the last.
const SUB_BITS = 5
const SUB = 1 << SUB_BITS
const MAX_EXP = 45
const BUCKETS = SUB + (MAX_EXP - SUB_BITS) * SUB

function bucketOf(ns: number): number {
  if (ns < SUB) return ns < 0 ? 0 : Math.floor(ns)
  const e = Math.floor(Math.log2(ns))
  if (e >= MAX_EXP) return BUCKETS - 1
  const sub = Math.floor(ns / 2 ** (e - SUB_BITS)) - SUB
  return SUB + (e - SUB_BITS) * SUB + Math.min(sub, SUB - 1)
}

/** Midpoint of a bucket, in ns. */
function valueOf(bucket: number): number {
  if (bucket < SUB) return bucket + 0.5
  const e = Math.floor((bucket - SUB) / SUB) + SUB_BITS
  const width = 2 ** (e - SUB_BITS)
  return 2 ** e + ((bucket - SUB) % SUB) * width + width / 2
}

/** One run's counters. */
class Run {
  readonly start: number
  readonly durationMs: number
  /** Deadlines before the end of the run (Infinity for an endless run). */
  readonly deadlines: number
  ticks = 0
  skipped = 0
  overruns = 0
  longestTickMs = 0
  jitterSumMs = 0
  jitterMaxMs = 0
  /** `skipped` when the previous tick ran (the difference goes into the next TickInfo). */
  skippedReported = 0
  finishedAt = Number.NaN
  readonly histogram = new Float64Array(BUCKETS)

  constructor(start: number, durationMs: number, hz: number) {
    this.start = start
    this.durationMs = durationMs
    let n = Math.ceil((durationMs * hz) / 1000)
    // The loop tests `k * 1000 / hz >= durationMs`; count with the same arithmetic.
    if (Number.isFinite(n)) {
      while (n > 0 && ((n - 1) * 1000) / hz >= durationMs) n--
      while ((n * 1000) / hz < durationMs) n++
    }
    this.deadlines = n
  }

  percentile(p: number): number {
    if (this.ticks === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil(p * this.ticks))
    let seen = 0
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.histogram[b]!
      if (seen >= rank) return Math.min(valueOf(b) / 1e6, this.jitterMaxMs)
    }
    return this.jitterMaxMs
  }
}

/** A word nobody ever notifies: `Atomics.wait` on it is a precise sleep. */
let sleeper: Int32Array | undefined


/** Whether the calling thread is a main thread (Node's, or a window's), not a worker. */
function onMainThread(): boolean {
  const native = nativeThreadId()
  if (native !== undefined) return native === 0
  return typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'undefined'
}

function sleepBlocking(ms: number): void {
  sleeper ??= new Int32Array(new SharedArrayBuffer(4))
  Atomics.wait(sleeper, 0, 0, ms)
}

interface Port {
  onmessage: ((event: unknown) => void) | null
  postMessage(message: unknown): void
  close(): void
}

/** `setImmediate` where the runtime has it (Node, Bun, Deno), read from the global object: the core imports nothing from Node. */
const immediate = (globalThis as unknown as { setImmediate?: (callback: () => void) => unknown }).setImmediate

/**
 * Yields to the event loop for one turn. Where `setImmediate` exists, with
 * it: a callback queued from the check phase runs in the next turn, after
 * timers, I/O and other ports' messages. A message to itself (what browsers
 * have, and what this used before) is not a turn in Node: a port drains its
 * queue, messages posted meanwhile included, ~1,000 of them before the event
 * loop moves on, so a `stop()` sent by message took seconds to get through
 * and a `setInterval` in the same worker never fired. Else a timer.
 */
class Yielder {
  private readonly ports: { port1: Port; port2: Port } | undefined
  private resume: (() => void) | undefined

  constructor() {
    const Channel = (globalThis as unknown as { MessageChannel?: new () => { port1: Port; port2: Port } }).MessageChannel
    this.ports = immediate === undefined && Channel ? new Channel() : undefined
    if (this.ports) {
      this.ports.port1.onmessage = () => {
        const resume = this.resume
        this.resume = undefined
        resume?.()
      }
    }
  }

  next(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (immediate !== undefined) immediate(resolve)
      else if (this.ports) {
        this.resume = resolve
        this.ports.port2.postMessage(null)
      } else setTimeout(resolve, 0)
    })
  }

  close(): void {
    this.ports?.port1.close()
    this.ports?.port2.close()
  }
}

function checkOptions(options: RateLoopOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected RateLoop options { hz, onTick }, got ${describe(options)}`)
  }
  const { hz, onTick, blocking, spinMs } = options
  if (typeof hz !== 'number' || !Number.isFinite(hz) || hz <= 0 || hz > MAX_HZ) {
    throw new OptionError(`Expected \`hz\` to be a finite number > 0 and <= ${MAX_HZ}, got ${describe(hz)}`)
  }
  if (typeof onTick !== 'function') throw new OptionError(`Expected \`onTick\` to be a function, got ${describe(onTick)}`)
  if (blocking !== undefined && typeof blocking !== 'boolean') {
    throw new OptionError(`Expected \`blocking\` to be a boolean or undefined, got ${describe(blocking)}`)
  }
  if (spinMs !== undefined && !(typeof spinMs === 'number' && Number.isFinite(spinMs) && spinMs >= 0)) {
    throw new OptionError(`Expected \`spinMs\` to be a finite number >= 0 or undefined, got ${describe(spinMs)}`)
  }
}

function checkDuration(durationMs: number): void {
  if (typeof durationMs !== 'number' || Number.isNaN(durationMs) || durationMs < 0) {
    throw new OptionError(`Expected \`durationMs\` to be a number >= 0 (Infinity: until stop()), got ${describe(durationMs)}`)
  }
}

/**
 * Calls `onTick` at a fixed rate on absolute deadlines (no drift), in a worker
 * by blocking (`Atomics.wait`, then a short spin: 1 kHz with microsecond
 * jitter) and on a main thread with timers (never blocks the event loop).
 * A tick that finds later deadlines passed serves the latest of them and
 * skips the others (counted, never run in a burst). `stats()` reports ticks,
 * achieved rate, jitter percentiles and overruns, in fixed memory.
 *
 * A run is `runFor(ms)` (blocking threads only), `runForAsync(ms)` or
 * `start()`; it ends after `ms`, on `stop()`, or when `onTick` returns
 * `false`. Each run starts a new schedule and new statistics. An async run in
 * blocking mode still yields to the event loop before every sleep (messages,
 * and a `stop()` they trigger, get through; each sleep is cut into slices of
 * 10 ms at most).
 *
 * @example
 * ```ts
 * // in a worker: a 1 kHz controller that stops on an emergency flag
 * const loop = new RateLoop({
 *   hz: 1000,
 *   onTick: ({ index }) => {
 *     if (Atomics.load(flags, ESTOP) !== 0) return false
 *     control(reader.readInto(state), index)
 *   },
 * })
 * loop.runFor(60_000)            // blocks this worker for a minute (or until ESTOP)
 * console.log(loop.stats())      // { ticks, achievedHz, jitterP50Ms, jitterP99Ms, jitterMaxMs, overruns, ... }
 *
 * // on a main thread: timers, the event loop keeps running
 * const ui = new RateLoop({ hz: 60, onTick: draw })
 * const done = ui.start()
 * button.onclick = () => ui.stop()
 * await done
 * ```
 */
export class RateLoop {
  /** Ticks per second asked for. */
  readonly hz: number
  /** Length of one period, in ms. */
  readonly periodMs: number
  /** Whether deadlines are waited for by blocking the thread (else with timers). */
  readonly blocking: boolean
  /** How long before a deadline the loop stops sleeping and watches the clock, in ms. */
  readonly spinMs: number
  private readonly onTick: (info: TickInfo) => boolean | void
  private current: Run | undefined
  private active = false
  private stopRequested = false
  /** Ends the timer sleep in progress, if any. */
  private wake: (() => void) | undefined

  /**
   * @throws OptionError for a bad option (message: what was expected, what came)
   * @throws BlockingNotAllowedError for `blocking: true` where `Atomics.wait` is forbidden
   */
  constructor(options: RateLoopOptions) {
    checkOptions(options)
    const mayBlock = threadMayBlock()
    if (options.blocking === true && !mayBlock) {
      throw new BlockingNotAllowedError(
        'Expected a thread that may block for `blocking: true`, got one where Atomics.wait is not allowed (a browser main thread): leave `blocking` unset',
      )
    }
    this.hz = options.hz
    this.periodMs = 1000 / options.hz
    this.onTick = options.onTick
    this.blocking = options.blocking ?? (mayBlock && !onMainThread())
    this.spinMs = Math.min(options.spinMs ?? (this.blocking ? 0.2 : 1), this.periodMs)
  }

  /** Whether a run is going on. */
  get running(): boolean {
    return this.active
  }

  /**
   * Runs the loop for `durationMs` (Infinity: until `stop()` or `onTick`
   * returns false), blocking the calling thread between ticks. Only `stop()`
   * called from `onTick` can end it early: the thread sees no messages
   * meanwhile.
   * @returns the run's statistics
   * @throws BlockingNotAllowedError on a loop with timer scheduling (use {@link runForAsync})
   * @throws whatever `onTick` throws (the run ends)
   */
  runFor(durationMs: number): RateLoopStats {
    checkDuration(durationMs)
    if (!this.blocking) {
      throw new BlockingNotAllowedError(
        'Expected a RateLoop with blocking scheduling for runFor(), got one with timer scheduling (a main thread, or `blocking: false`): use runForAsync() or start(), or pass `blocking: true` where the thread may block',
      )
    }
    const run = this.begin(durationMs)
    const spinMs = this.spinMs
    try {
      for (let k = 0; ; k++) {
        const deadline = this.deadline(run, k)
        if (deadline >= run.start + durationMs) {
          this.blockUntil(run.start + durationMs, spinMs)
          break
        }
        this.blockUntil(deadline, spinMs)
        k = this.tick(run, k)
        if (k < 0) break
      }
    } finally {
      this.end(run)
    }
    return this.stats()
  }

  /**
   * Runs the loop for `durationMs` (Infinity: until `stop()` or `onTick`
   * returns false) without blocking the event loop longer than one wait slice
   * (blocking mode: <= 10 ms; timer mode: one poll).
   * @returns the run's statistics, once it has ended
   */
  async runForAsync(durationMs: number): Promise<RateLoopStats> {
    checkDuration(durationMs)
    const run = this.begin(durationMs)
    const yielder = new Yielder()
    try {
      for (let k = 0; ; k++) {
        const deadline = this.deadline(run, k)
        if (deadline >= run.start + durationMs) {
          await this.waitUntilAsync(run.start + durationMs, yielder)
          break
        }
        // At least one event-loop turn per tick, even when behind (a tick
        // longer than the period): messages and a stop() they call get through.
        if (!(await this.waitUntilAsync(deadline, yielder))) await yielder.next()
        if (this.stopRequested) break
        k = this.tick(run, k)
        if (k < 0) break
      }
    } finally {
      yielder.close()
      this.end(run)
    }
    return this.stats()
  }

  /**
   * Starts an endless run: `runForAsync(Infinity)`.
   * @returns the run's statistics, once `stop()` (or `onTick` returning false) has ended it
   */
  start(): Promise<RateLoopStats> {
    return this.runForAsync(Infinity)
  }

  /**
   * Ends the run before its next tick (at once if it is waiting on a timer).
   * Does nothing when no run is going on.
   */
  stop(): void {
    if (!this.active) return
    this.stopRequested = true
    this.wake?.()
  }

  /** Figures of the current run, or of the last one (zeros before any). */
  stats(): RateLoopStats {
    const run = this.current
    const end = run === undefined ? 0 : Number.isNaN(run.finishedAt) ? now() : run.finishedAt
    const elapsedMs = run === undefined ? 0 : Math.max(0, Math.min(end - run.start, run.durationMs))
    const ticks = run?.ticks ?? 0
    return {
      mode: this.blocking ? 'blocking' : 'timer',
      running: this.active,
      hz: this.hz,
      ticks,
      skipped: run?.skipped ?? 0,
      overruns: run?.overruns ?? 0,
      elapsedMs,
      achievedHz: elapsedMs > 0 ? (ticks * 1000) / elapsedMs : 0,
      jitterP50Ms: run ? run.percentile(0.5) : Number.NaN,
      jitterP99Ms: run ? run.percentile(0.99) : Number.NaN,
      jitterMaxMs: run && ticks > 0 ? run.jitterMaxMs : Number.NaN,
      jitterMeanMs: run && ticks > 0 ? run.jitterSumMs / ticks : Number.NaN,
      longestTickMs: run?.longestTickMs ?? 0,
    }
  }

  private begin(durationMs: number): Run {
    if (this.active) {
      throw new ThreadstateError('Expected a RateLoop that is not running, got one that is: stop() it and let its run end first')
    }
    this.active = true
    this.stopRequested = false
    const run = new Run(now(), durationMs, this.hz)
    this.current = run
    return run
  }

  private end(run: Run): void {
    run.finishedAt = now()
    this.active = false
    this.wake = undefined
  }

  private deadline(run: Run, k: number): number {
    return run.start + (k * 1000) / this.hz
  }

  /**
   * Runs the tick for deadline `k`, or for a later one: if later deadlines
   * have passed too, serves the latest of them and counts the others as
   * skipped (one clock read decides and measures, so no tick starts a whole
   * period late). When the run's end has passed, runs nothing and counts the
   * deadlines left as skipped.
   * @returns the index served, or -1 when the run must end
   */
  private tick(run: Run, k: number): number {
    const actual = now()
    let latest = Math.floor(((actual - run.start) * this.hz) / 1000)
    if (latest >= run.deadlines) {
      run.skipped += run.deadlines - k
      return -1
    }
    if (latest > k && this.deadline(run, latest) > actual) latest-- // rounding: never serve a future deadline
    if (latest > k) {
      run.skipped += latest - k
      k = latest
    }
    const scheduled = this.deadline(run, k)
    const jitter = actual > scheduled ? actual - scheduled : 0
    run.histogram[bucketOf(jitter * 1e6)]!++
    run.jitterSumMs += jitter
    if (jitter > run.jitterMaxMs) run.jitterMaxMs = jitter
    const skipped = run.skipped - run.skippedReported
    run.skippedReported = run.skipped
    let result: boolean | void
    try {
      result = this.onTick({ index: k, scheduledTime: scheduled, actualTime: actual, jitterMs: jitter, skipped })
    } finally {
      const duration = now() - actual
      run.ticks++
      if (duration > run.longestTickMs) run.longestTickMs = duration
      if (duration > this.periodMs) run.overruns++
    }
    return result === false || this.stopRequested ? -1 : k
  }

  /** Sleeps (Atomics.wait) until `spinMs` before `deadline`, then spins to it. */
  private blockUntil(deadline: number, spinMs: number): void {
    for (;;) {
      const remaining = deadline - now()
      if (remaining <= 0) return
      if (remaining > spinMs) sleepBlocking(remaining - spinMs)
    }
  }

  /** Waits for `deadline` without holding the event loop longer than a slice. @returns whether it let the event loop turn */
  private async waitUntilAsync(deadline: number, yielder: Yielder): Promise<boolean> {
    const spinMs = this.spinMs
    let turned = false
    for (;;) {
      if (this.stopRequested) return turned
      const remaining = deadline - now()
      if (remaining <= 0) return turned
      if (this.blocking) {
        if (remaining <= spinMs) {
          this.blockUntil(deadline, spinMs) // a spin of at most spinMs
          return turned
        }
        // Let the event loop run (messages, a stop() they call), then sleep one slice.
        await yielder.next()
        turned = true
        if (this.stopRequested) return turned
        const left = deadline - now() - spinMs
        if (left > 0) sleepBlocking(left < ASYNC_BLOCK_SLICE_MS ? left : ASYNC_BLOCK_SLICE_MS)
      } else if (remaining > spinMs) {
        await this.sleepTimer(remaining - spinMs)
        turned = true
      } else {
        await yielder.next() // poll: one macrotask at a time, the event loop keeps running
        turned = true
      }
    }
  }

  private sleepTimer(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined
        resolve()
      }, ms)
      this.wake = () => {
        clearTimeout(timer)
        this.wake = undefined
        resolve()
      }
    })
  }
}
