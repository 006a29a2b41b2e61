/**
 * The dashboard's feed: Server-Sent Events (`GET /dashboard/feed`), one
 * frame per tick with every object's `stats()`, the recent transitions of
 * each state machine, the serving thread's event-loop delay and the
 * program's own plot series.
 *
 * Why SSE rather than polling a JSON URL: the server decides the cadence, so
 * a frame is read and encoded **once per tick for all clients** (polling
 * clients would ask at their own times, and each question would either
 * re-read the objects or be answered with a frame of some age); one
 * long-lived request per tab instead of four a second; `EventSource`
 * reconnects by itself; and it is plain HTTP/1.1 text (no WebSocket
 * upgrade, no dependency). Rates (updates/s, reads/s) are differences of
 * the counters between two frames, computed by the page, so the server does
 * no per-client work at all.
 *
 * Cost to the observed program: nothing runs while no page is open. With
 * pages open, the serving thread reads each object's figures from shared
 * memory without a lock (as `/metrics` does) once per tick, encodes one JSON
 * string and writes the same bytes to every client; a client that does not
 * keep up (its socket buffer full) skips frames instead of queueing them,
 * and at most `maxClients` pages are served at once (503 beyond).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { OptionError, describe } from '../../errors.js'
import { RateLoop } from '../../index.js'

/** Anything with figures the dashboard can show: every threadstate object (in-memory or Redis), a RateLoop. */
export interface DashboardObject {
  /** The object's figures; a promise is awaited (a Redis watchdog's). */
  stats(): object | Promise<object>
  /** The object's handle: its `type` (or a Redis handle's `kind`) names the kind shown. */
  readonly handle?: {
    /** Kind of an in-memory object (`StateBuffer`, `Mutex`, ...). */
    readonly type?: string
    /** Kind of a Redis-backed object (`RedisStateBuffer`, ...). */
    readonly kind?: string
  }
}

/** A registry of named objects (a `StateManager`, in memory or on Redis): every name it lists is shown. */
export interface DashboardRegistry {
  /** The names of the objects, in the order to show them. */
  names(): readonly string[]
  /** The object of one name. */
  get(name: string): unknown
}

/** Where the dashboard's objects come from: a registry, a record of objects, or a function returning one (called every tick). */
export type DashboardSource = DashboardRegistry | Readonly<Record<string, DashboardObject>> | (() => Readonly<Record<string, DashboardObject>>)

/** A plot: called every tick, returns its series' current values (undefined: no point this tick). */
export type DashboardPlot = () => Readonly<Record<string, number>> | undefined

/** Options of the dashboard (`serveStatus({ dashboard })`). */
export interface DashboardOptions {
  /** The objects to show. @default the objects of `metrics`, if given */
  readonly objects?: DashboardSource
  /**
   * Charts of the program's own figures, by title: each function returns the
   * series' values at this tick (e.g. `{ x, y, z }` of a position).
   * @example
   * ```ts
   * plots: { 'tracking error (m)': () => ({ error: command.latest()?.value.trackingError ?? 0 }) }
   * ```
   */
  readonly plots?: Readonly<Record<string, DashboardPlot>>
  /**
   * The age a reader of an object calls stale (its `maxAgeMs`), by object
   * name: the page draws the object's age against it. A Watchdog's own
   * `timeoutMs` is used without this.
   */
  readonly maxAgeMs?: Readonly<Record<string, number>>
  /** Milliseconds between frames, 20 to 10,000. @default 250 */
  readonly intervalMs?: number
  /** Most pages connected at once; more get 503. @default 8 */
  readonly maxClients?: number
  /** Title of the page. @default 'threadstate' */
  readonly title?: string
}

/** Default of {@link DashboardOptions.intervalMs}. */
export const DEFAULT_INTERVAL_MS = 250
/** Shortest {@link DashboardOptions.intervalMs}. */
const MIN_INTERVAL_MS = 20
/** Longest {@link DashboardOptions.intervalMs}: a stream quiet for longer than the server's idle timeout (30 s) would be cut. */
const MAX_INTERVAL_MS = 10_000
/** Default of {@link DashboardOptions.maxClients}. */
export const DEFAULT_MAX_CLIENTS = 8
/** Transitions of each state machine sent in every frame. */
const TRANSITIONS_SENT = 16
/** A client waits this long before reconnecting after the stream broke (the SSE `retry:` field). */
const RETRY_MS = 2000

/** One object in a frame. */
export interface FrameObject {
  /** Its name. */
  readonly name: string
  /** Its kind: handle type (`StateBuffer`), Redis kind (`RedisStateBuffer`), `RateLoop`, or `object`. */
  readonly kind: string
  /** Its `stats()`, or undefined if they threw (then `error` says why). */
  readonly stats?: object
  /** Why `stats()` failed. */
  readonly error?: string
  /** {@link DashboardOptions.maxAgeMs} of this object. */
  readonly maxAgeMs?: number
  /** A state machine's states, in declaration order. */
  readonly states?: readonly string[]
  /** A state machine's latest transitions, oldest first. */
  readonly transitions?: readonly {
    /** State left. */
    readonly from: string
    /** State entered. */
    readonly to: string
    /** When, ms since the epoch. */
    readonly at: number
    /** Why. */
    readonly reason: string
  }[]
}

/** What one SSE event carries (as JSON). */
export interface DashboardFrame {
  /** Frame number, from 1. */
  readonly seq: number
  /** When it was read, ms since the epoch. */
  readonly at: number
  /** Milliseconds between frames. */
  readonly intervalMs: number
  /** Event-loop delay of the thread serving the page since the previous frame, ms (a blocked main thread shows here). */
  readonly loop: {
    /** Median. */
    readonly p50Ms: number
    /** 99th percentile. */
    readonly p99Ms: number
    /** Largest. */
    readonly maxMs: number
  }
  /** The objects, in source order. */
  readonly objects: readonly FrameObject[]
  /** Each plot's values at this frame (a plot that threw or returned undefined is absent). */
  readonly plots: Readonly<Record<string, Readonly<Record<string, number>>>>
}

interface Client {
  readonly res: ServerResponse
  /** Its socket buffer is full: frames are skipped until it drains. */
  blocked: boolean
}

function isRegistry(source: unknown): source is DashboardRegistry {
  const r = source as Partial<DashboardRegistry> | null
  return typeof r === 'object' && r !== null && typeof r.names === 'function' && typeof r.get === 'function'
}

function kindOf(object: DashboardObject): string {
  if (object instanceof RateLoop) return 'RateLoop'
  const h = object.handle
  return (typeof h?.type === 'string' && h.type) || (typeof h?.kind === 'string' && h.kind) || 'object'
}

/** A state machine's extra figures, if `object` is one (in memory or on Redis). */
function machineParts(object: unknown): Pick<FrameObject, 'states' | 'transitions'> {
  const m = object as { states?: unknown; history?: unknown } | null
  if (typeof m !== 'object' || m === null || !Array.isArray(m.states) || typeof m.history !== 'function') return {}
  const history = (m.history as (n: number) => readonly { from: string; to: string; at: number; reason: string }[]).call(m, TRANSITIONS_SENT)
  return { states: m.states as string[], transitions: history.map(({ from, to, at, reason }) => ({ from, to, at, reason })) }
}

function checkPositiveInteger(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new OptionError(`Expected \`dashboard.${name}\` to be an integer from 1 to ${max}, got ${describe(value)}`)
  }
  return value
}

/** Checks {@link DashboardOptions} (before the server listens). */
export function checkDashboardOptions(options: DashboardOptions): void {
  if (typeof options !== 'object' || options === null) throw new OptionError(`Expected \`dashboard\` to be an options object or false, got ${describe(options)}`)
  const { intervalMs } = options
  if (intervalMs !== undefined && (typeof intervalMs !== 'number' || !Number.isInteger(intervalMs) || intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_INTERVAL_MS)) {
    throw new OptionError(`Expected \`dashboard.intervalMs\` to be an integer from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS}, got ${describe(intervalMs)}`)
  }
  if (options.maxClients !== undefined) checkPositiveInteger('maxClients', options.maxClients, 1000)
  const { objects, plots, maxAgeMs } = options
  if (objects !== undefined && typeof objects !== 'function' && (typeof objects !== 'object' || objects === null)) {
    throw new OptionError(`Expected \`dashboard.objects\` to be a StateManager, a record of objects with stats() or a function returning one, got ${describe(objects)}`)
  }
  for (const [title, plot] of Object.entries(plots ?? {})) {
    if (typeof plot !== 'function') throw new OptionError(`Expected \`dashboard.plots[${JSON.stringify(title)}]\` to be a function, got ${describe(plot)}`)
  }
  for (const [name, ms] of Object.entries(maxAgeMs ?? {})) {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw new OptionError(`Expected \`dashboard.maxAgeMs[${JSON.stringify(name)}]\` to be a finite number > 0, got ${describe(ms)}`)
  }
  if (options.title !== undefined && typeof options.title !== 'string') throw new OptionError(`Expected \`dashboard.title\` to be a string, got ${describe(options.title)}`)
}

/** JSON that turns Infinity and NaN into null (JSON.stringify does that too) and BigInt into a string. */
function encode(frame: DashboardFrame): Buffer {
  const json = JSON.stringify(frame, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  // One `data:` line: JSON.stringify without indentation never emits a newline.
  return Buffer.from(`id: ${frame.seq}\ndata: ${json}\n\n`)
}

/**
 * Reads frames while at least one page is connected and writes each, encoded
 * once, to every connected page. Used by `serveStatus`.
 */
export class DashboardFeed {
  /** Milliseconds between frames. */
  readonly intervalMs: number
  /** Most pages at once. */
  readonly maxClients: number
  /** Frames read and encoded so far (one per tick with clients, whatever their number). */
  encodes = 0
  private readonly objects: () => Readonly<Record<string, unknown>>
  private readonly plots: readonly [string, DashboardPlot][]
  private readonly maxAgeMs: Readonly<Record<string, number>>
  private readonly clients = new Set<Client>()
  private timer: NodeJS.Timeout | undefined
  private delay: IntervalHistogram | undefined
  private collecting = false
  private last: Buffer | undefined
  private seq = 0

  /** @param options checked with {@link checkDashboardOptions} */
  constructor(options: DashboardOptions, fallback: (() => Readonly<Record<string, DashboardObject>>) | undefined) {
    checkDashboardOptions(options)
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS
    const source = options.objects
    if (source === undefined) this.objects = fallback ?? (() => ({}))
    else if (typeof source === 'function') this.objects = source
    else if (isRegistry(source)) this.objects = () => Object.fromEntries(source.names().map((name) => [name, source.get(name)]))
    else this.objects = () => source as Readonly<Record<string, DashboardObject>>
    this.plots = Object.entries(options.plots ?? {})
    this.maxAgeMs = { ...options.maxAgeMs }
  }

  /** Pages connected now. */
  get clientCount(): number {
    return this.clients.size
  }

  /** Serves `GET /dashboard/feed`: a 503 past the cap, else an event stream that lasts until the page goes. */
  serve(req: IncomingMessage, res: ServerResponse, headers: Readonly<Record<string, string>>): void {
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' }).end()
      return
    }
    if (this.clients.size >= this.maxClients) {
      res
        .writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(Math.ceil(RETRY_MS / 1000)) })
        .end(`too many dashboards connected (at most ${this.maxClients})\n`)
      return
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    res.write(`retry: ${RETRY_MS}\n\n`)
    if (this.last !== undefined) res.write(this.last)
    const client: Client = { res, blocked: false }
    this.clients.add(client)
    res.on('drain', () => (client.blocked = false))
    res.once('close', () => {
      this.clients.delete(client)
      if (this.clients.size === 0) this.stop()
    })
    this.start()
  }

  /** Ends every stream and stops reading frames. */
  close(): void {
    for (const client of this.clients) client.res.end()
    this.clients.clear()
    this.stop()
  }

  private start(): void {
    if (this.timer !== undefined) return
    this.delay = monitorEventLoopDelay({ resolution: 20 })
    this.delay.enable()
    this.timer = setInterval(() => void this.tick(), this.intervalMs)
    this.timer.unref()
    void this.tick()
  }

  private stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.last = undefined // a page that comes later gets a fresh frame, not one from when the last page left
    this.delay?.disable()
    this.delay = undefined
  }

  private async tick(): Promise<void> {
    if (this.collecting) return // a slow (Redis) stats() still pending: skip this tick
    this.collecting = true
    try {
      const frame = await this.frame()
      const bytes = encode(frame)
      this.encodes++
      this.last = bytes
      for (const client of this.clients) {
        if (client.blocked) continue // it does not keep up: skip, never queue
        if (!client.res.write(bytes)) client.blocked = true
      }
    } finally {
      this.collecting = false
    }
  }

  /** Reads one frame. */
  private async frame(): Promise<DashboardFrame> {
    const at = performance.timeOrigin + performance.now()
    const delay = this.delay
    const loop = delay === undefined || delay.count === 0
      ? { p50Ms: 0, p99Ms: 0, maxMs: 0 }
      : { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 }
    delay?.reset()
    let entries: [string, unknown][]
    try {
      entries = Object.entries(this.objects())
    } catch (error) {
      entries = [['objects', { stats: () => { throw error } }]]
    }
    const objects = await Promise.all(
      entries.map(async ([name, object]): Promise<FrameObject> => {
        const o = object as DashboardObject
        const kind = typeof o === 'object' && o !== null ? kindOf(o) : 'object'
        const maxAgeMs = this.maxAgeMs[name]
        const base = { name, kind, ...(maxAgeMs === undefined ? {} : { maxAgeMs }) }
        try {
          if (typeof o?.stats !== 'function') return { ...base, error: 'no stats()' }
          const stats = await o.stats()
          return { ...base, stats, ...machineParts(o) }
        } catch (error) {
          return { ...base, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
        }
      }),
    )
    const plots: Record<string, Readonly<Record<string, number>>> = {}
    for (const [title, plot] of this.plots) {
      try {
        const values = plot()
        if (values !== undefined) plots[title] = values
      } catch {
        // A plot that throws has no point this tick.
      }
    }
    return { seq: ++this.seq, at, intervalMs: this.intervalMs, loop, objects, plots }
  }
}
