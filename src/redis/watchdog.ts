/**
 * RedisWatchdog: a Watchdog whose kicks and expiries live on a Redis server,
 * judged on the server's clock only. A kick stores the server's TIME
 * (WATCHDOG_KICK in machine-scripts.ts); a watcher's check compares the
 * server's TIME with the latest kick and, when `timeoutMs` has passed,
 * declares the silence by moving `fired` to that kick's time in the same
 * script (WATCHDOG_CHECK): a compare-and-set on the server, so of every
 * watching process exactly one calls its handler per silence, and never
 * before `timeoutMs` of server time (a client's clock never enters it).
 *
 * A watcher's timer is only a guess of when to ask: it asks at the moment
 * the watchdog would expire if no kick came (from the server's answer), and
 * every `timeoutMs / 2` while expired (to notice the kick that re-arms it).
 *
 * @module
 */
import { HandleError, OptionError, describe } from '../errors.js'
import type { WatchdogExpiry } from '../runtime/watchdog.js'
import { evalScript } from './call.js'
import { RedisDataLostError } from './errors.js'
import { WATCHDOG_CHECK, WATCHDOG_KICK } from './machine-scripts.js'
import { RemoteObject, Status, attachedLink, attachingRemote, checkRemoteHandle, type RemoteHandle } from './remote.js'

/** Longest delay `setTimeout` takes. */
const MAX_TIMER_MS = 0x7fffffff

/** The structured-cloneable handle of a RedisWatchdog: `RedisWatchdog.attach(handle)` in a worker. */
export interface RedisWatchdogHandle extends RemoteHandle {
  /** Always `'RedisWatchdog'`. */
  readonly kind: 'RedisWatchdog'
  /** The silence after which it expires (ms). */
  readonly timeoutMs: number
}

/** Options of `RedisDomain.watchdog`. */
export interface RedisWatchdogOptions {
  /** Silence after which the watchdog expires, in ms of the server's clock: a finite number > 0; every process must open it with the same. */
  readonly timeoutMs: number
  /** Called once per silence across every watching process, in the process whose check declared it (see {@link RedisWatchdog.start}). */
  readonly onExpire?: (expiry: WatchdogExpiry) => void
  /**
   * Whether the timers of `start()` keep a Node process alive.
   * @default true
   */
  readonly keepAlive?: boolean
}

/** Options of {@link RedisWatchdog.attach}. */
export type RedisWatchdogWatchOptions = Omit<RedisWatchdogOptions, 'timeoutMs'>

/** Figures of a RedisWatchdog, read from the server. */
export interface RedisWatchdogStats {
  /** Kicks from every process. */
  readonly kicks: number
  /** Expiries declared, by every watcher of every process. */
  readonly expiries: number
  /** Time since the last kick (or creation), in ms of the server's clock. */
  readonly lastKickAgeMs: number
  /** Whether the watchdog is expired now. */
  readonly expired: boolean
  /** The timeout, in ms. */
  readonly timeoutMs: number
  /** Whether this object's timers are watching. */
  readonly watching: boolean
  /** Handlers this object called. */
  readonly fired: number
  /** Checks of this object's timers that failed (no answer, say); they go on. */
  readonly checkErrors: number
}

/** Checks the watching options. @throws OptionError */
export function checkRedisWatchOptions(options: unknown): RedisWatchdogWatchOptions {
  if (typeof options !== 'object' || options === null) throw new OptionError(`Expected watchdog options, got ${describe(options)}`)
  const { onExpire, keepAlive } = options as RedisWatchdogWatchOptions
  if (onExpire !== undefined && typeof onExpire !== 'function') throw new OptionError(`Expected \`onExpire\` to be a function or undefined, got ${describe(onExpire)}`)
  if (keepAlive !== undefined && typeof keepAlive !== 'boolean') throw new OptionError(`Expected \`keepAlive\` to be a boolean or undefined, got ${describe(keepAlive)}`)
  return options as RedisWatchdogWatchOptions
}

/** Checks `timeoutMs`. @throws OptionError */
export function checkWatchdogTimeout(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new OptionError(`Expected \`timeoutMs\` to be a finite number > 0, got ${describe(value)}`)
  return value
}

/** What the check script answered. */
interface CheckReply {
  /** 1 declared by this call, 2 expired and declared before, 0 not expired. */
  readonly state: number
  /** Latest kick and now, in us of the server's clock. */
  readonly lastUs: number
  readonly nowUs: number
  readonly expiries: number
  readonly kicks: number
}

/**
 * A watchdog on a Redis server, shared by every process that opens it
 * (`RedisDomain.watchdog(name, { timeoutMs, onExpire })`): kick it from any
 * process or thread; every process that watches it (`start()`) asks the
 * server, and the handler runs once per silence across all of them, never
 * before `timeoutMs` of the **server's** time since the last kick.
 *
 * Differences from the in-memory `Watchdog`: `kick()` and `check()`
 * are async (one script each; a kick costs a round trip, so kick at the
 * rate a silence must be noticed, not in a 1 kHz loop); `expired`,
 * `lastKickAgeMs` and the figures are read from the server (`stats()`);
 * there is no `source` (kick where the data is written); a handler that
 * throws in a timer's check is an uncaught exception, as in memory; a
 * watcher that cannot reach the server declares nothing (another process
 * may), and its timer goes on asking.
 *
 * @example
 * ```ts
 * const dog = await redis.watchdog('lidar', { timeoutMs: 500, onExpire: () => fsm.transition('estop', { reason: 'lidar silent' }) })
 * dog.start()               // in every supervising process: one of them fires per silence
 * await dog.kick()          // in the lidar process, per scan
 * ```
 */
export class RedisWatchdog {
  /** Send this to a worker; `RedisWatchdog.attach(handle)` there. */
  readonly handle: RedisWatchdogHandle
  /** Silence after which the watchdog expires, in ms of the server's clock. */
  readonly timeoutMs: number
  private readonly remote: RemoteWatchdog
  private readonly keepAlive: boolean
  private onExpire: ((expiry: WatchdogExpiry) => void) | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private active = false
  private firedHere = 0
  private checkErrors = 0

  /** @internal use `RedisDomain.watchdog` or {@link RedisWatchdog.attach} */
  constructor(handle: RedisWatchdogHandle, remote: RemoteWatchdog | undefined, options: RedisWatchdogWatchOptions) {
    this.handle = handle
    this.timeoutMs = handle.timeoutMs
    this.remote = remote ?? new RemoteWatchdog(handle.spec, new Int32Array(handle.status), attachedLink(handle))
    this.onExpire = options.onExpire
    this.keepAlive = options.keepAlive ?? true
  }

  /**
   * Rebuilds the watchdog from its handle in another thread of the same
   * process: to kick it, or to watch it from there (with `options`).
   * @throws HandleError for something that is not such a handle; OptionError for a bad option
   */
  static attach(handle: RedisWatchdogHandle, options: RedisWatchdogWatchOptions = {}): RedisWatchdog {
    const watch = checkRedisWatchOptions(options)
    return attachingRemote('RedisWatchdog', () => {
      // One plain copy, checked, is all the watchdog reads (remote.ts copyRemoteHandle).
      const copy = checkRemoteHandle(handle, 'RedisWatchdog') as unknown as RedisWatchdogHandle
      try {
        checkWatchdogTimeout(copy.timeoutMs)
      } catch (error) {
        throw new HandleError(`Expected a RedisWatchdog handle with a valid \`timeoutMs\`, got: ${(error as Error).message}`)
      }
      return new RedisWatchdog(copy, undefined, watch)
    })
  }

  /** The name it was opened by. */
  get name(): string {
    return this.handle.spec.name
  }

  /** Whether the data on the server was found gone or replaced. */
  get lost(): boolean {
    return Atomics.load(this.remote.status, Status.LOST) !== 0
  }

  /** Whether this object's timers are watching. */
  get watching(): boolean {
    return this.active
  }

  /**
   * Records a kick at the server's time now (never moving the last kick
   * back): re-arms an expired watchdog.
   * @returns the kick's time, in ms since the epoch on this machine's clock
   * @throws RedisDataLostError, RedisConnectionError as every Redis call
   */
  async kick(): Promise<number> {
    return this.remote.localTime(await this.remote.kick())
  }

  /**
   * Asks the server now: if no kick came for `timeoutMs` of its time and
   * nobody declared this silence yet, declares it and calls the handler.
   * @returns whether the watchdog is expired
   * @throws whatever the handler throws; RedisDataLostError, RedisConnectionError
   */
  async check(): Promise<boolean> {
    const reply = await this.remote.check()
    if (reply.state === 1) this.fire(reply)
    return reply.state !== 0
  }

  /**
   * Sets the handler and starts watching with timers (see {@link start}).
   * @throws OptionError if `onExpire` is not a function
   */
  watch(onExpire: (expiry: WatchdogExpiry) => void): void {
    if (typeof onExpire !== 'function') throw new OptionError(`Expected \`onExpire\` to be a function, got ${describe(onExpire)}`)
    this.onExpire = onExpire
    this.start()
  }

  /**
   * Starts watching with timers: a check at the moment the watchdog would
   * expire (from the server's last answer), and every `timeoutMs / 2`
   * while expired. **Keeps a Node process alive** while watching unless
   * `keepAlive: false`. Does nothing if already watching.
   * @throws OptionError if there is no handler
   */
  start(): void {
    if (this.onExpire === undefined) {
      throw new OptionError('Expected an `onExpire` handler to start watching (redis.watchdog(name, { onExpire }) or watch(onExpire)), got none')
    }
    if (this.active) return
    this.active = true
    this.schedule(0)
  }

  /** Stops this object's timers. `check()` and `kick()` keep working. */
  stop(): void {
    this.active = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Figures, read from the server (declares nothing). */
  async stats(): Promise<RedisWatchdogStats> {
    const [last, expiries, kicks] = await this.remote.meta(['last', 'expiries', 'kicks'])
    const nowUs = await this.remote.now()
    const ageMs = (nowUs - Number(last?.toString() ?? '0')) / 1000
    return {
      kicks: Number(kicks?.toString() ?? '0'),
      expiries: Number(expiries?.toString() ?? '0'),
      lastKickAgeMs: ageMs,
      expired: ageMs >= this.timeoutMs,
      timeoutMs: this.timeoutMs,
      watching: this.active,
      fired: this.firedHere,
      checkErrors: this.checkErrors,
    }
  }

  private fire(reply: CheckReply): void {
    this.firedHere++
    this.onExpire?.({
      ageMs: (reply.nowUs - reply.lastUs) / 1000,
      lastKickTime: this.remote.localTime(reply.lastUs),
      timeoutMs: this.timeoutMs,
      expiries: reply.expiries,
    })
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    if (!this.active) return
    this.remote.check().then(
      (reply) => {
        if (!this.active) return
        // Not expired: ask again when it would be, if no kick comes (server time; timers may fire early: then it re-arms).
        this.schedule(reply.state === 0 ? this.timeoutMs - (reply.nowUs - reply.lastUs) / 1000 : this.timeoutMs / 2)
        if (reply.state === 1) this.fire(reply) // scheduled first, so a throwing handler does not end the watch
      },
      (error: unknown) => {
        this.checkErrors++
        if (error instanceof RedisDataLostError || error instanceof OptionError) {
          // Nothing left to watch (`lost` says so), or the domain was closed: a timer asking
          // for ever would keep the process alive.
          this.stop()
          return
        }
        if (this.active) this.schedule(this.timeoutMs / 2)
      },
    )
  }

  private schedule(ms: number): void {
    const delay = Math.min(Math.max(Math.ceil(ms), 1), MAX_TIMER_MS)
    const timer = setTimeout(this.onTimer, delay)
    if (!this.keepAlive) (timer as { unref?: () => void }).unref?.()
    this.timer = timer
  }
}

/** One thread's access to a remote watchdog: its scripts, with the retries of every Redis object. */
export class RemoteWatchdog extends RemoteObject {
  /** A kick. @returns its time (us, server clock) */
  async kick(): Promise<Buffer> {
    this.checkNotLost()
    return this.run<Buffer>((link) => evalScript(link, WATCHDOG_KICK, [this.keys.meta], [this.spec.epoch]))
  }

  /** A check (may declare the expiry). */
  async check(): Promise<CheckReply> {
    this.checkNotLost()
    const [state, last, now, expiries, kicks] = await this.run<[number, Buffer, Buffer, number, number]>((link) =>
      evalScript(link, WATCHDOG_CHECK, [this.keys.meta], [this.spec.epoch]),
    )
    return { state, lastUs: Number(last.toString()), nowUs: Number(now.toString()), expiries, kicks }
  }

  /** The server's time now (us). */
  async now(): Promise<number> {
    const [seconds, micros] = await this.run<[Buffer, Buffer]>((link) => link.send(['TIME']))
    return Number(seconds.toString()) * 1e6 + Number(micros.toString())
  }
}
