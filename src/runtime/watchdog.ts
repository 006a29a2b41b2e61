/**
 * Watchdog: notices that a thread (or a StateBuffer's writer) went silent.
 *
 * ```
 *  Int64 word  0..1  region header (MAGIC, TYPE_TAG=Watchdog, LAYOUT_VERSION, BYTE_LENGTH: 4 Int32 words)
 *              2     LAST_KICK   us since the epoch of the latest kick (creation time before the first)
 *              3     KICKS       kicks so far
 *              4     FIRED_FOR   LAST_KICK value of the last silence declared expired (0: none)
 *              5     EXPIRIES    expiries declared so far
 *              6     TIMEOUT     timeoutMs (a Float64, written once by create())
 * ```
 *
 * Times are on `wallNow()`'s clock (`performance.timeOrigin +
 * performance.now()`), which every thread of a process shares (measured here:
 * no offset between threads within its 0.24 us resolution), stored as whole
 * microseconds in BigInt64 words so that `Atomics` covers them (Float64
 * fields have no atomic access).
 *
 * - `kick()` raises LAST_KICK with a compare-exchange loop that only moves it
 *   forward (two kickers racing never move it back), rounding *up* to the
 *   microsecond: the age a watcher computes is never more than the real one,
 *   so an expiry is never declared before `timeoutMs` has passed.
 * - A watcher declares an expiry when `now - lastActivity >= timeoutMs` by
 *   moving FIRED_FOR from a smaller value to `lastActivity` with a
 *   compare-exchange: only the watcher that wins calls its handler, so each
 *   silence is reported once, whichever thread (or `check()` and timer) sees it
 *   first. A kick changes `lastActivity`, which re-arms the watchdog. TIMEOUT
 *   is a plain field: written before the handle exists, and a handle only
 *   reaches another thread through `postMessage`, which orders it.
 *
 * @module
 */
import { OptionError, ThreadstateError, describe } from '../errors.js'
import { wallNow } from '../memory/clock.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { domainOf } from '../memory/thread.js'
import type { Schema } from '../state/schema.js'
import type { StateBuffer } from '../state/state-buffer.js'

/** Int64 word offsets of a Watchdog region (the header takes words 0 and 1). */
export const WatchdogWord = {
  /** Microseconds since the epoch of the latest kick (creation time before the first); only moves forward. */
  LAST_KICK: 2,
  /** Kicks so far. */
  KICKS: 3,
  /** LAST_KICK value of the last silence declared expired (0: none). */
  FIRED_FOR: 4,
  /** Expiries declared so far. */
  EXPIRIES: 5,
  /** The timeout in ms, a Float64 written once by `create()`. */
  TIMEOUT: 6,
} as const
const WATCHDOG_BYTES = 7 * 8
const LAST_KICK = WatchdogWord.LAST_KICK
const KICKS = WatchdogWord.KICKS
const FIRED_FOR = WatchdogWord.FIRED_FOR
const EXPIRIES = WatchdogWord.EXPIRIES

/** Longest delay `setTimeout` takes (larger ones fire at once). */
const MAX_TIMER_MS = 0x7fffffff

/** Handle of a {@link Watchdog}. */
export type WatchdogHandle = Handle<'Watchdog'>

/** What an `onExpire` handler receives. */
export interface WatchdogExpiry {
  /** Time since the last kick (or update) when the expiry was noticed, in ms (>= `timeoutMs`). */
  readonly ageMs: number
  /** When the last kick (or update) happened, in ms since the epoch (`wallNow()`'s clock). */
  readonly lastKickTime: number
  /** The watchdog's timeout, in ms. */
  readonly timeoutMs: number
  /** Expiries declared so far, this one included. */
  readonly expiries: number
}

/** Options of the watching side: {@link Watchdog.attach} (and, with `timeoutMs`, {@link Watchdog.create}). */
export interface WatchdogWatchOptions {
  /**
   * Called once per silence, in the watching thread, by `check()` or by the
   * timers of `start()`. A throw from it propagates from `check()`, or from
   * the timer (an uncaught exception); the expiry stays declared either way.
   */
  readonly onExpire?: (expiry: WatchdogExpiry) => void
  /**
   * Another source of activity: a function returning the time of the last
   * update (ms since the epoch on `wallNow()`'s clock, e.g. a StateBuffer
   * timestamp), or undefined if there was none yet. Activity is the later of
   * it and the last kick. Local to this object: it does not travel with the
   * handle.
   */
  readonly source?: () => number | undefined
  /**
   * Whether the timers of `start()` keep a Node process alive.
   * @default true
   */
  readonly keepAlive?: boolean
}

/** Options of {@link Watchdog.create}. */
export interface WatchdogOptions extends WatchdogWatchOptions {
  /** Silence after which the watchdog expires, in ms: a finite number > 0. */
  readonly timeoutMs: number
}

/** Options of {@link Watchdog.forStateBuffer}. */
export interface StateBufferWatchdogOptions {
  /** The watchdog expires when the latest state is older than this, in ms. */
  readonly maxAgeMs: number
  /** Called once per silence of the writers (see {@link WatchdogWatchOptions.onExpire}). */
  readonly onExpire?: (expiry: WatchdogExpiry) => void
  /**
   * Whether the timers of `start()` keep a Node process alive.
   * @default true
   */
  readonly keepAlive?: boolean
}

/** Figures of a {@link Watchdog}. */
export interface WatchdogStats {
  /** Kicks from every thread. */
  readonly kicks: number
  /** Expiries declared, by every watcher. */
  readonly expiries: number
  /** Time since the last kick (or update), in ms. */
  readonly lastKickAgeMs: number
  /** Whether the watchdog is expired now. */
  readonly expired: boolean
  /** The timeout, in ms. */
  readonly timeoutMs: number
  /** Whether this object's timers are watching (`start()` / `watch()`). */
  readonly watching: boolean
}

function toMicros(ms: number): bigint {
  return BigInt(Math.ceil(ms * 1000))
}

function checkWatchOptions(options: WatchdogWatchOptions): void {
  const { onExpire, source, keepAlive } = options
  if (onExpire !== undefined && typeof onExpire !== 'function') {
    throw new OptionError(`Expected \`onExpire\` to be a function or undefined, got ${describe(onExpire)}`)
  }
  if (source !== undefined && typeof source !== 'function') {
    throw new OptionError(`Expected \`source\` to be a function or undefined, got ${describe(source)}`)
  }
  if (keepAlive !== undefined && typeof keepAlive !== 'boolean') {
    throw new OptionError(`Expected \`keepAlive\` to be a boolean or undefined, got ${describe(keepAlive)}`)
  }
}

function checkTimeout(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(`Expected \`${name}\` to be a finite number > 0, got ${describe(value)}`)
  }
  return value
}

/**
 * A watchdog shared between threads: the watched side calls `kick()` from
 * any thread; the watching side calls its handler once when no kick came for
 * `timeoutMs`, never earlier. After an expiry the watchdog stays expired until
 * a kick re-arms it; the next silence of `timeoutMs` fires the handler again.
 * It is armed at `create()`: with no kick at all, it expires `timeoutMs` after
 * creation.
 *
 * Watch with timers (`start()` / `watch(onExpire)`: never blocks the event
 * loop; one timer per `timeoutMs` while kicks come, wakes at the deadline) or
 * by calling `check()` yourself, e.g. in a `RateLoop` tick. Handlers run
 * in the watching thread and hold no lock. Several watchers (threads, or
 * `check()` and timers) report each silence once between them.
 *
 * @example
 * ```ts
 * const dog = Watchdog.create({ timeoutMs: 100, onExpire: ({ ageMs }) => estop(`sensor silent for ${ageMs} ms`) })
 * dog.start()
 * new Worker(url, { workerData: { dog: dog.handle } })
 * // in the sensor worker:
 * const dog = Watchdog.attach(workerData.dog)
 * for (;;) { publish(read()); dog.kick() }
 * ```
 */
export class Watchdog {
  /** Bytes a Watchdog occupies in its buffer. */
  static readonly BYTE_LENGTH = WATCHDOG_BYTES
  /** The structured-cloneable handle. */
  readonly handle: WatchdogHandle
  /** Silence after which the watchdog expires, in ms. */
  readonly timeoutMs: number
  private readonly words: BigInt64Array
  private readonly source: (() => number | undefined) | undefined
  private readonly keepAlive: boolean
  private onExpire: ((expiry: WatchdogExpiry) => void) | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private active = false

  private constructor(handle: WatchdogHandle, options: WatchdogWatchOptions) {
    this.handle = handle
    this.words = new BigInt64Array(handle.buffer, handle.byteOffset, WATCHDOG_BYTES / 8)
    this.timeoutMs = new Float64Array(handle.buffer, handle.byteOffset, WATCHDOG_BYTES / 8)[WatchdogWord.TIMEOUT]!
    this.onExpire = options.onExpire
    this.source = options.source
    this.keepAlive = options.keepAlive ?? true
    domainOf(handle.domain)
  }

  /**
   * Creates a watchdog, armed now. Watching starts with `start()` or
   * `watch(onExpire)`, or happens in your own `check()` calls.
   * @throws OptionError for a bad option
   */
  static create(options: WatchdogOptions): Watchdog {
    if (typeof options !== 'object' || options === null) {
      throw new OptionError(`Expected Watchdog options { timeoutMs }, got ${describe(options)}`)
    }
    const timeoutMs = checkTimeout(options.timeoutMs, 'timeoutMs')
    checkWatchOptions(options)
    const region = allocateRegion('Watchdog', WATCHDOG_BYTES)
    new Float64Array(region.buffer, region.byteOffset, WATCHDOG_BYTES / 8)[WatchdogWord.TIMEOUT] = timeoutMs
    Atomics.store(new BigInt64Array(region.buffer, region.byteOffset, WATCHDOG_BYTES / 8), LAST_KICK, toMicros(wallNow()))
    return new Watchdog(makeHandle('Watchdog', region, domainOf().buffer), options)
  }

  /**
   * Rebuilds a watchdog from its handle, in any thread: to kick it, or to
   * watch it from there (with `options`). A `source` (as `forStateBuffer`
   * sets) is a function and does not travel with the handle: a watchdog
   * attached without one counts only kicks, so pass the `source` again to
   * watch a StateBuffer's age from another thread.
   * @throws HandleError if `handle` is not a valid Watchdog handle
   * @throws OptionError for a bad option
   */
  static attach(handle: WatchdogHandle, options: WatchdogWatchOptions = {}): Watchdog {
    const checked = attaching('Watchdog', () => checkHandle(handle, 'Watchdog', WATCHDOG_BYTES))
    checkWatchOptions(options)
    return new Watchdog(checked, options)
  }

  /**
   * A watchdog on a StateBuffer's writers: it expires when the buffer's latest
   * state is older than `maxAgeMs` (by its publication timestamp; before the
   * first update, by the watchdog's creation time). Kicks count as activity
   * too. Each check reads the buffer with a reader of its own (counted in the
   * buffer's `reads`; no lock, no allocation).
   *
   * @example
   * ```ts
   * const dog = Watchdog.forStateBuffer(pose, { maxAgeMs: 50, onExpire: () => holdPosition() })
   * dog.start()
   * ```
   * @throws OptionError for a bad option
   */
  static forStateBuffer<S extends Schema>(buffer: StateBuffer<S>, options: StateBufferWatchdogOptions): Watchdog {
    if (typeof options !== 'object' || options === null) {
      throw new OptionError(`Expected Watchdog options { maxAgeMs }, got ${describe(options)}`)
    }
    const maxAgeMs = checkTimeout(options.maxAgeMs, 'maxAgeMs')
    const { onExpire, keepAlive } = options
    checkWatchOptions({ onExpire, keepAlive } as WatchdogWatchOptions)
    const reader = buffer.reader()
    const scratch = new Float64Array(buffer.size)
    const source = (): number | undefined => (reader.readInto(scratch) === 0 ? undefined : reader.timestamp)
    return Watchdog.create({
      timeoutMs: maxAgeMs,
      source,
      ...(onExpire === undefined ? {} : { onExpire }),
      ...(keepAlive === undefined ? {} : { keepAlive }),
    })
  }

  /** Records a kick now (from any thread): re-arms an expired watchdog. ~0.1 us. */
  kick(): void {
    const words = this.words
    const t = toMicros(wallNow())
    // Forward only: a kicker that read the clock earlier but stores later never moves it back.
    let seen = Atomics.load(words, LAST_KICK)
    while (seen < t) {
      const previous = Atomics.compareExchange(words, LAST_KICK, seen, t)
      if (previous === seen) break
      seen = previous
    }
    Atomics.add(words, KICKS, 1n)
  }

  /**
   * Checks now, in the calling thread: if no kick came for `timeoutMs`,
   * declares the expiry and calls the handler, once per silence (whoever
   * checks first). Cheap enough for every tick of a 1 kHz loop.
   * @returns whether the watchdog is expired
   * @throws whatever the handler throws
   */
  check(): boolean {
    const last = this.lastActivity()
    const ageMs = wallNow() - Number(last) / 1000
    if (ageMs < this.timeoutMs) return false
    this.declare(last, ageMs)
    return true
  }

  /** Whether no kick came for `timeoutMs` (reads only; the handler is not called). */
  get expired(): boolean {
    return this.lastKickAgeMs >= this.timeoutMs
  }

  /** Time since the last kick (or the source's last update, or creation), in ms. */
  get lastKickAgeMs(): number {
    return wallNow() - Number(this.lastActivity()) / 1000
  }

  /** Whether this object's timers are watching. */
  get watching(): boolean {
    return this.active
  }

  /**
   * Sets the handler and starts watching with timers (see {@link start}).
   * @throws OptionError if `onExpire` is not a function
   */
  watch(onExpire: (expiry: WatchdogExpiry) => void): void {
    if (typeof onExpire !== 'function') {
      throw new OptionError(`Expected \`onExpire\` to be a function, got ${describe(onExpire)}`)
    }
    this.onExpire = onExpire
    this.start()
  }

  /**
   * Starts watching with timers: one at the moment the watchdog would expire,
   * re-armed when a kick has moved that moment; while expired, a poll every
   * `timeoutMs / 2` notices the kick that re-arms it in time to report the
   * next silence on time. Never blocks the event loop. Does nothing if
   * already watching. **Keeps a Node process alive** while watching, by
   * default and on purpose: a watchdog that silently stopped because nothing
   * else was pending would miss the silence it exists for. Pass
   * `keepAlive: false` (a background watchdog that must not hold the process
   * open), or call `stop()`.
   * @throws OptionError if there is no handler (`create({ onExpire })` or `watch(onExpire)`)
   */
  start(): void {
    if (this.onExpire === undefined) {
      throw new OptionError('Expected an `onExpire` handler to start watching (Watchdog.create({ onExpire }) or watch(onExpire)), got none')
    }
    if (this.active) return
    this.active = true
    this.onTimer()
  }

  /** Stops this object's timers. `check()` and `kick()` keep working. */
  stop(): void {
    this.active = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Figures: kicks and expiries from every thread, age of the last kick. */
  stats(): WatchdogStats {
    const ageMs = this.lastKickAgeMs
    return {
      kicks: Number(Atomics.load(this.words, KICKS)),
      expiries: Number(Atomics.load(this.words, EXPIRIES)),
      lastKickAgeMs: ageMs,
      expired: ageMs >= this.timeoutMs,
      timeoutMs: this.timeoutMs,
      watching: this.active,
    }
  }

  /** The last activity in us: the later of the last kick and the source's last update. */
  private lastActivity(): bigint {
    const kicked = Atomics.load(this.words, LAST_KICK)
    if (this.source === undefined) return kicked
    const updated = this.source()
    if (updated === undefined) return kicked
    if (typeof updated !== 'number' || !Number.isFinite(updated)) {
      throw new ThreadstateError(`Expected the watchdog's \`source\` to return a finite timestamp (ms since the epoch) or undefined, got ${describe(updated)}`)
    }
    const us = toMicros(updated)
    return us > kicked ? us : kicked
  }

  /** Declares the silence since `last` expired, unless some watcher already did; the winner calls the handler. */
  private declare(last: bigint, ageMs: number): void {
    const words = this.words
    let fired = Atomics.load(words, FIRED_FOR)
    while (fired < last) {
      const previous = Atomics.compareExchange(words, FIRED_FOR, fired, last)
      if (previous === fired) {
        const expiries = Number(Atomics.add(words, EXPIRIES, 1n)) + 1
        this.onExpire?.({ ageMs, lastKickTime: Number(last) / 1000, timeoutMs: this.timeoutMs, expiries })
        return
      }
      fired = previous
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    if (!this.active) return
    const last = this.lastActivity()
    const ageMs = wallNow() - Number(last) / 1000
    if (ageMs < this.timeoutMs) {
      // Timers may fire early (Node: up to ~2 ms): this just re-arms for the rest.
      this.schedule(this.timeoutMs - ageMs)
      return
    }
    // Schedule first, so a throwing handler does not end the watch.
    this.schedule(this.timeoutMs / 2)
    this.declare(last, ageMs)
  }

  private schedule(ms: number): void {
    const delay = Math.min(Math.max(Math.ceil(ms), 1), MAX_TIMER_MS)
    const timer = setTimeout(this.onTimer, delay)
    if (!this.keepAlive) (timer as { unref?: () => void }).unref?.()
    this.timer = timer
  }
}
