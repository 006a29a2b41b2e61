/**
 * What `threadstate demo` shows while it runs: on a terminal, a panel
 * redrawn in place (ANSI) five times a second; elsewhere (a pipe, a file, a
 * CI log), one plain line per second and one per event.
 *
 * Everything shown is read by the main thread from shared memory, without a
 * lock: the objects' `stats()`, the controller's telemetry StateBuffer, the
 * machine's state word.
 *
 * @module
 */
import type {
  DomainCounts,
  Infer,
  RWLockStats,
  StateBufferStats,
  StateMachineStats,
  WatchdogStats,
} from '../../index.js'
import { ANSI, PLAIN, count, hz, ms, percent, seconds, vector, type Style } from './format.js'
import type { Command, FlightState, Telemetry } from './protocol.js'

/** What the view shows: figures read from the shared objects at one moment. */
export interface Sample {
  /** Milliseconds since the run started. */
  readonly atMs: number
  readonly machine: StateMachineStats<FlightState>
  readonly pose: StateBufferStats
  /** Latest command version (commands published). */
  readonly commandVersion: number
  readonly command: Infer<typeof Command> | undefined
  /** The controller's latest telemetry. */
  readonly telemetry: Infer<typeof Telemetry> | undefined
  readonly gains: RWLockStats
  readonly watchdog: WatchdogStats
  readonly threads: DomainCounts
  /** Latest status snapshot version. */
  readonly statusVersion: number
}

/** Something that happened, for the event list (and a line of its own in plain mode). */
export interface DemoEvent {
  /** Milliseconds since the run started. */
  readonly atMs: number
  readonly text: string
  /** Alarms are shown in red. */
  readonly alarm?: boolean
}

/** The fixed part of the view. */
export interface ViewSetup {
  /** Base URL of the status server. */
  readonly url: string
  readonly durationMs: number
  readonly killEstimatorAfterMs: number | undefined
}

/** Where the view writes: a stream (stdout). */
export interface Output {
  write(text: string): unknown
  /** Terminal width, when it is one. */
  readonly columns?: number
}

/** Events listed in the panel. */
const PANEL_EVENTS = 7
const LIVE_EVERY_MS = 200
const PLAIN_EVERY_MS = 1000

/** An ANSI CSI escape sequence (colours, cursor moves) at the start of a string. */
// eslint-disable-next-line no-control-regex -- matching the ESC control character is the point
const ESCAPE = /^\x1b\[[0-9;?]*[A-Za-z]/

/** Length of `text` as shown (ANSI escapes take no room). */
function visibleLength(text: string): number {
  let length = 0
  for (let i = 0; i < text.length; ) {
    const escape = text.charCodeAt(i) === 0x1b ? ESCAPE.exec(text.slice(i)) : null
    if (escape) i += escape[0].length
    else {
      length++
      i++
    }
  }
  return length
}

/** Cuts `text` to `width` visible characters, keeping escapes and resetting styles after a cut. */
function fit(text: string, width: number): string {
  if (visibleLength(text) <= width) return text
  let out = ''
  let shown = 0
  for (let i = 0; i < text.length && shown < width - 1; ) {
    const escape = text.charCodeAt(i) === 0x1b ? ESCAPE.exec(text.slice(i)) : null
    if (escape) {
      out += escape[0]
      i += escape[0].length
    } else {
      out += text[i++]
      shown++
    }
  }
  return `${out}…\x1b[0m`
}

function styleState(state: FlightState, s: Style): string {
  const name = state.toUpperCase()
  if (state === 'flying') return s.green(s.bold(name))
  if (state === 'estop') return s.red(s.bold(name))
  if (state === 'landed') return s.cyan(s.bold(name))
  return s.yellow(s.bold(name))
}

/** Per-second rate of a counter between two samples (NaN without a previous one). */
function rate(now: number, before: number | undefined, dtMs: number): number {
  return before === undefined || dtMs <= 0 ? Number.NaN : ((now - before) * 1000) / dtMs
}

/**
 * The estimator's rate: updates between the two samples. (The buffer's own
 * `updateRateHz` spans the versions in its ring, so it still says 100 Hz
 * after the writer died; `lastUpdateAgeMs` tells that.)
 */
function poseHz(x: Sample, before: Sample | undefined): number {
  return before === undefined ? x.pose.updateRateHz : rate(x.pose.updates, before.pose.updates, x.atMs - before.atMs)
}

/** A count per second, or a dash before there are two samples. */
const perSecond = (value: number): string => (Number.isNaN(value) ? '—' : count(value))

/**
 * The live view. `start()` begins the periodic output, `event()` reports a
 * happening, `stop()` draws the last frame (the panel stays on screen).
 */
export class LiveView {
  private readonly style: Style
  private readonly events: DemoEvent[] = []
  private previous: Sample | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private drawn = 0

  /**
   * @param live redraw a panel in place (a terminal) rather than print plain lines
   * @param sample reads the figures shown
   */
  constructor(
    private readonly out: Output,
    private readonly live: boolean,
    private readonly setup: ViewSetup,
    private readonly sample: () => Sample,
    colour = live,
  ) {
    this.style = colour ? ANSI : PLAIN
  }

  /** Prints the header (plain mode) or the first frame (live), then refreshes periodically. */
  start(): void {
    if (this.live) {
      this.out.write('\x1b[?25l') // hide the cursor while redrawing
      this.frame()
    } else {
      const { url, durationMs, killEstimatorAfterMs } = this.setup
      const kill = killEstimatorAfterMs === undefined ? '' : `; the estimator is killed at ${seconds(killEstimatorAfterMs)}`
      this.out.write(`threadstate demo: a drone control stack on 4 threads for ${seconds(durationMs)}${kill}\n`)
      this.out.write(`status:  ${url}/status\nmetrics: ${url}/metrics\n`)
    }
    this.timer = setInterval(() => this.frame(), this.live ? LIVE_EVERY_MS : PLAIN_EVERY_MS)
  }

  /** Reports an event: listed in the panel, or printed at once in plain mode. */
  event(event: DemoEvent): void {
    this.events.push(event)
    if (!this.live) this.out.write(`${this.eventLine(event)}\n`)
  }

  /** Stops refreshing and draws the final frame (live) or line (plain). Idempotent. */
  stop(): void {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    this.frame()
    if (this.live) this.out.write('\x1b[?25h')
  }

  /** Restores the terminal (the cursor) without drawing: for an abrupt exit. */
  restore(): void {
    if (this.live) this.out.write('\x1b[?25h')
  }

  private frame(): void {
    const sample = this.sample()
    if (this.live) this.draw(this.panel(sample, this.previous))
    else this.out.write(`${this.plainLine(sample, this.previous)}\n`)
    this.previous = sample
  }

  private draw(lines: readonly string[]): void {
    const columns = this.out.columns
    const width = columns !== undefined && columns > 0 ? Math.max(40, columns - 1) : 120
    let text = this.drawn > 0 ? `\x1b[${this.drawn}F` : '' // back to the panel's first line
    for (const line of lines) text += `\x1b[2K${fit(line, width)}\n`
    this.out.write(`${text}\x1b[J`)
    this.drawn = lines.length
  }

  private eventLine(event: DemoEvent): string {
    const s = this.style
    const text = event.alarm ? s.red(event.text) : event.text
    return `${seconds(event.atMs).padStart(7)}  ${text}`
  }

  private panel(x: Sample, before: Sample | undefined): string[] {
    const s = this.style
    const { url, durationMs, killEstimatorAfterMs } = this.setup
    const dt = before === undefined ? 0 : x.atMs - before.atMs
    const t = x.telemetry
    const w = x.watchdog
    const row = (label: string, text: string): string => ` ${s.bold(label.padEnd(11))} ${text}`
    const kill = killEstimatorAfterMs === undefined ? '' : ` · estimator killed at ${seconds(killEstimatorAfterMs)}`
    const watchdog = w.expired ? s.red(s.bold('EXPIRED')) : s.green('ok')
    const stale = (t?.staleReads ?? 0) > 0 ? s.yellow(`${count(t!.staleReads)} stale`) : '0 stale'
    const torn = (t?.tornReads ?? 0) > 0 ? s.red(`${count(t!.tornReads)} torn`) : '0 torn'
    const c = x.command
    const holding = c === undefined || c.hold ? s.yellow('HOLD') : s.green('tracking')
    const dead = x.threads.dead > 0 ? s.red(`${x.threads.dead} exited (marked dead)`) : 'none exited'
    const lines = [
      `${s.bold('threadstate demo')} · drone control stack on 4 threads · ${seconds(x.atMs)} / ${seconds(durationMs)}${kill}`,
      s.dim(`dashboard ${url}/ · GET ${url}/status · GET ${url}/metrics · Ctrl-C ends the run early`),
      '',
      row(
        'machine',
        `${styleState(x.machine.state, s)} for ${seconds(x.machine.inStateMs)} · ${x.machine.transitions} transitions · ` +
          `watchdog ${watchdog} (pose age ${ms(w.lastKickAgeMs)} / ${ms(w.timeoutMs)}, ${w.expiries === 1 ? '1 expiry' : `${w.expiries} expiries`})`,
      ),
      row(
        'estimator',
        `pose v${count(x.pose.version)} · ${hz(poseHz(x, before))} · age ${ms(x.pose.lastUpdateAgeMs)} · ` +
          `${count(x.pose.freshReads)} fresh / ${count(x.pose.staleReads)} stale reads by all readers`,
      ),
      row(
        'controller',
        t === undefined
          ? s.dim('starting')
          : `${hz(t.achievedHz)} · ${count(t.ticks)} ticks · jitter p50 ${ms(t.jitterP50Ms)} p99 ${ms(t.jitterP99Ms)} ` +
              `max ${ms(t.jitterMaxMs)} · ${t.overruns} overruns · ${t.skipped} skipped`,
      ),
      row(
        'reads',
        `${perSecond(rate(x.pose.reads, before?.pose.reads, dt))}/s on the pose · controller ${count(t?.reads ?? 0)}: ` +
          `${count(t?.freshReads ?? 0)} fresh, ${stale}, ${torn} · ${count(x.pose.readRetries)} retries`,
      ),
      row(
        'command',
        `v${count(x.commandVersion)} · ${hz(rate(x.commandVersion, before?.commandVersion, dt))} · ` +
          `a = ${vector(c?.acceleration ?? [0, 0, 0])} m/s² · error ${((c?.trackingError ?? 0) * 100).toFixed(1)} cm · ${holding}`,
      ),
      row(
        'gains lock',
        `RWLock · ${count(x.gains.reads)} reads, ${percent(x.gains.readsContended, x.gains.reads)} waited ` +
          `(max ${ms(x.gains.readWaitMaxMs)}) · ${x.gains.write.acquisitions} ${x.gains.write.acquisitions === 1 ? 'write' : 'writes'}`,
      ),
      row('threads', `${x.threads.threads} in the domain, ${dead} · status snapshot v${count(x.statusVersion)}`),
      '',
      s.dim(' events'),
      ...this.events.slice(-PANEL_EVENTS).map((e) => this.eventLine(e)),
    ]
    return lines
  }

  private plainLine(x: Sample, before: Sample | undefined): string {
    const t = x.telemetry
    const loop =
      t === undefined
        ? 'controller starting'
        : `controller ${hz(t.achievedHz)}, jitter p50 ${ms(t.jitterP50Ms)} / p99 ${ms(t.jitterP99Ms)} / max ${ms(t.jitterMaxMs)}`
    const reads =
      t === undefined ? '' : ` | reads ${count(t.reads)}: ${count(t.freshReads)} fresh, ${count(t.staleReads)} stale, ${count(t.tornReads)} torn`
    return (
      `${seconds(x.atMs).padStart(7)}  ${x.machine.state.padEnd(6)} | pose v${x.pose.version}, ${hz(poseHz(x, before))}, ` +
      `age ${ms(x.pose.lastUpdateAgeMs)} | ${loop}${reads} | gains RWLock ${percent(x.gains.readsContended, x.gains.reads)} waited | ` +
      `watchdog ${x.watchdog.expired ? 'EXPIRED' : 'ok'}`
    )
  }
}
