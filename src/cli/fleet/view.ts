/**
 * What `threadstate demo-fleet` shows while it runs, as `threadstate demo`
 * does: on a terminal, a panel redrawn in place five times a second;
 * elsewhere (a pipe, a CI log), one plain line per second and one per event.
 * Every figure is read from the parent's own mirrors of the Redis objects
 * (synchronous, no round trip), except the watchdog's, which lives on the
 * server and is refreshed by the caller.
 *
 * @module
 */
import type { Infer, StateMachineStats } from '../../index.js'
import { ANSI, PLAIN, count, hz, ms, seconds, vector, type Style } from '../drone/format.js'
import type { Command, FlightState, Telemetry } from '../drone/protocol.js'
import type { Output } from '../drone/view.js'
import type { FleetGains, FleetRole } from './protocol.js'

/** One moment of the run, as the parent's mirrors show it. */
export interface FleetSample {
  /** Milliseconds since the run started. */
  readonly atMs: number
  readonly machine: StateMachineStats<FlightState>
  readonly poseVersion: number
  /** Age of the latest pose (server timestamp on this clock), ms; NaN before the first. */
  readonly poseAgeMs: number
  readonly commandVersion: number
  readonly command: Infer<typeof Command> | undefined
  readonly telemetry: Infer<typeof Telemetry> | undefined
  readonly gains: FleetGains
  /** The gains lock's holder as last seen, or undefined. */
  readonly gainsHolder: string | undefined
  readonly watchdog: { readonly expired: boolean; readonly lastKickAgeMs: number; readonly expiries: number; readonly timeoutMs: number }
  /** Child processes: role, pid and whether it is alive. */
  readonly processes: readonly { readonly role: FleetRole; readonly pid: number; readonly alive: boolean }[]
  /** Stream entries this process's bridge applied. */
  readonly bridged: number
}

/** Something that happened. */
export interface FleetEvent {
  readonly atMs: number
  readonly text: string
  readonly alarm?: boolean
}

const PANEL_EVENTS = 8
const LIVE_EVERY_MS = 200
const PLAIN_EVERY_MS = 1000

function styleState(state: FlightState, s: Style): string {
  const name = state.toUpperCase()
  if (state === 'flying') return s.green(s.bold(name))
  if (state === 'estop') return s.red(s.bold(name))
  if (state === 'landed') return s.cyan(s.bold(name))
  return s.yellow(s.bold(name))
}

/** An ANSI CSI escape sequence (colours, cursor moves) at the start of a string. */
// eslint-disable-next-line no-control-regex -- matching the ESC control character is the point
const ESCAPE = /^\x1b\[[0-9;?]*[A-Za-z]/

/** Cuts `text` to `width` visible characters (a wrapped line would break the redraw), keeping escapes. */
function fit(text: string, width: number): string {
  const plain = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') // eslint-disable-line no-control-regex -- ESC is the point
  if (plain.length <= width) return text
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

/** Per-second rate of a counter between two samples (NaN without a previous one). */
const rate = (now: number, before: number | undefined, dtMs: number): number =>
  before === undefined || dtMs <= 0 ? Number.NaN : ((now - before) * 1000) / dtMs

/** The live view of the fleet demo. */
export class FleetView {
  private readonly style: Style
  private readonly events: FleetEvent[] = []
  private previous: FleetSample | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private drawn = 0

  /**
   * @param live redraw a panel in place rather than print plain lines
   * @param header the first line (what runs, where)
   */
  constructor(
    private readonly out: Output,
    private readonly live: boolean,
    private readonly header: string,
    private readonly sample: () => FleetSample,
    colour = live,
  ) {
    this.style = colour ? ANSI : PLAIN
  }

  /** Prints the header (plain) or the first frame (live), then refreshes periodically. */
  start(): void {
    if (this.live) {
      this.out.write('\x1b[?25l')
      this.frame()
    } else this.out.write(`${this.header}\n`)
    this.timer = setInterval(() => this.frame(), this.live ? LIVE_EVERY_MS : PLAIN_EVERY_MS)
  }

  /** Reports an event: listed in the panel, or printed at once in plain mode. */
  event(event: FleetEvent): void {
    this.events.push(event)
    if (!this.live) this.out.write(`${this.eventLine(event)}\n`)
  }

  /** Stops refreshing and draws the last frame. Idempotent. */
  stop(): void {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    this.frame()
    if (this.live) this.out.write('\x1b[?25h')
  }

  /** Restores the cursor without drawing (an abrupt end). */
  restore(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
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
    let text = this.drawn > 0 ? `\x1b[${this.drawn}F` : ''
    for (const line of lines) text += `\x1b[2K${fit(line, width)}\n`
    this.out.write(`${text}\x1b[J`)
    this.drawn = lines.length
  }

  private eventLine(event: FleetEvent): string {
    const text = event.alarm ? this.style.red(event.text) : event.text
    return `${seconds(event.atMs).padStart(7)}  ${text}`
  }

  private panel(x: FleetSample, before: FleetSample | undefined): string[] {
    const s = this.style
    const dt = before === undefined ? 0 : x.atMs - before.atMs
    const t = x.telemetry
    const w = x.watchdog
    const c = x.command
    const row = (label: string, text: string): string => ` ${s.bold(label.padEnd(11))} ${text}`
    const watchdog = w.expired ? s.red(s.bold('EXPIRED')) : s.green('ok')
    const holding = c === undefined || c.hold ? s.yellow('HOLD') : s.green('tracking')
    const torn = (t?.tornReads ?? 0) > 0 ? s.red(`${count(t!.tornReads)} torn`) : '0 torn'
    const processes = x.processes.map((p) => `${p.role} ${p.pid}${p.alive ? '' : ` ${s.red('killed')}`}`).join(' · ')
    return [
      this.header,
      s.dim('Ctrl-C ends the run (every child process is killed)'),
      '',
      row(
        'machine',
        `${styleState(x.machine.state, s)} for ${seconds(x.machine.inStateMs)} · ${x.machine.transitions} transitions · ` +
          `watchdog ${watchdog} (last kick ${ms(w.lastKickAgeMs)} ago / ${ms(w.timeoutMs)}, ${w.expiries} ${w.expiries === 1 ? 'expiry' : 'expiries'})`,
      ),
      row('estimator', `pose v${count(x.poseVersion)} · ${hz(rate(x.poseVersion, before?.poseVersion, dt))} · age ${ms(x.poseAgeMs)} (server clock)`),
      row(
        'controller',
        t === undefined
          ? s.dim('starting')
          : `${hz(t.achievedHz)} · ${count(t.ticks)} ticks · jitter p50 ${ms(t.jitterP50Ms)} p99 ${ms(t.jitterP99Ms)} · ` +
              `${count(t.reads)} reads: ${count(t.freshReads)} fresh, ${count(t.staleReads)} stale, ${torn}`,
      ),
      row(
        'command',
        `v${count(x.commandVersion)} · ${hz(rate(x.commandVersion, before?.commandVersion, dt))} · a = ${vector(c?.acceleration ?? [0, 0, 0])} m/s² · ${holding}`,
      ),
      row(
        'gains',
        `kp ${x.gains.kp} kd ${x.gains.kd} by ${x.gains.by} · lock ${x.gainsHolder === undefined ? 'free' : `held by ${x.gainsHolder}`}`,
      ),
      row('processes', `${processes} · bridge ${count(x.bridged)} entries`),
      '',
      s.dim(' events'),
      ...this.events.slice(-PANEL_EVENTS).map((e) => this.eventLine(e)),
    ]
  }

  private plainLine(x: FleetSample, before: FleetSample | undefined): string {
    const t = x.telemetry
    const dt = before === undefined ? 0 : x.atMs - before.atMs
    const loop = t === undefined ? 'controller starting' : `controller ${hz(t.achievedHz)}, ${count(t.reads)} reads (${count(t.staleReads)} stale, ${count(t.tornReads)} torn)`
    return (
      `${seconds(x.atMs).padStart(7)}  ${x.machine.state.padEnd(6)} | pose v${x.poseVersion}, ${hz(rate(x.poseVersion, before?.poseVersion, dt))}, ` +
      `age ${ms(x.poseAgeMs)} | ${loop} | gains kp ${x.gains.kp} (${x.gains.by}) | watchdog ${x.watchdog.expired ? 'EXPIRED' : 'ok'}`
    )
  }
}
