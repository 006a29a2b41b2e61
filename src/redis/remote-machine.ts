/**
 * One thread's link between a state machine's mirror (a StateMachine in
 * this process's shared memory) and its truth on the server: transitions
 * (the MACHINE_TRANSITION script), read-your-writes (the thread applies its
 * own transition to the mirror if the mirror is right before it, else
 * catches up), and catching up from the stream.
 *
 * The mirror is only ever moved forward one transition at a time by a
 * compareExchange of its state word (`machineMirrorOf`), so the bridge and
 * every writing thread may apply the same transition: one of them does.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { machineMirrorOf, type MachineMirror, type StateMachine, type Transition } from '../machine/state-machine.js'
import { SEQ_MASK } from '../machine/layout.js'
import type { RedisLink } from './client.js'
import { evalScript } from './call.js'
import { RemoteObject, Status, operationKey, type RemoteSpec } from './remote.js'
import { MACHINE_TRANSITION } from './machine-scripts.js'

/** `(a - b) mod 2^24` below this: a is at or after b. */
const HALF_LAP = (SEQ_MASK + 1) / 2

/** A transition's outcome: its version, or the server's version and state when it was refused. */
export type TransitionResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly current: number; readonly state: number }

/** A stream entry of the machine, decoded. */
export interface MachineEntry {
  readonly version: number
  readonly from: number
  readonly to: number
  readonly at: number
  readonly threadId: number
  readonly reason: string
}

/** One thread's access to a remote state machine. */
export class RemoteMachine extends RemoteObject {
  readonly mirror: MachineMirror
  /** The highest server version this thread has seen (the mirror keeps transitions modulo 2^24). */
  private latest = 0

  constructor(
    spec: RemoteSpec,
    readonly machine: StateMachine<string>,
    status: Int32Array,
    link: () => Promise<RedisLink>,
  ) {
    super(spec, status, link)
    this.mirror = machineMirrorOf(machine)
  }

  /** The mirror's version in full (its transition count), given the newest server version this thread saw. */
  version(): number {
    const seq = this.mirror.seq()
    // Another thread of the process may have applied past what this one saw.
    const ahead = (seq - this.latest) & SEQ_MASK
    if (ahead < HALF_LAP) return this.latest + ahead
    return this.latest - ((this.latest - seq) & SEQ_MASK)
  }

  /** Notes a server version seen. */
  private seen(version: number): void {
    if (version > this.latest) this.latest = version
  }

  /**
   * Moves to state `to` if the server's state may (and, with `from` >= 0, is
   * `from`): `column` is `to`'s column of the allowed table. On success the
   * mirror holds the transition (or a later one) when this resolves; refused,
   * it holds at least what the server had. `timestamp` is on this
   * machine's clock (ms since the epoch); default: the server's now.
   */
  async transition(to: number, from: number, column: string, reason: string, threadId: number, timestamp?: number): Promise<TransitionResult> {
    this.checkNotLost()
    const operationId = randomUUID()
    const k = this.keys
    const micros = timestamp === undefined ? '' : String(Math.round((timestamp + this.spec.clockOffsetMs) * 1000))
    const reply = await this.run<[number, number, number, Buffer | string, number?]>(
      (link) =>
        evalScript(
          link,
          MACHINE_TRANSITION,
          [k.meta, k.log, operationKey(this.spec.tag, operationId)],
          [this.spec.epoch, operationId, this.spec.operationTtlMs, this.spec.streamLength, to, from, column, reason, threadId, micros],
        ),
      operationId,
    )
    const version = reply[1]
    this.seen(version)
    if (reply[0] !== 1) {
      this.mirror.reject()
      await this.catchUp(version)
      return { ok: false, current: version, state: reply[2] }
    }
    if (reply[4] === 1 || this.mirror.apply(version, reply[2], to, threadId, this.localTime(reply[3]), reason) === 'gap') await this.catchUp(version)
    else Atomics.add(this.status, Status.OWN, 1)
    return { ok: true, version }
  }

  /**
   * Applies stream entries read by the bridge, in order (catching up first
   * on a gap). @returns the entries, decoded, in commit order
   * @throws RedisDataLostError (and marks the object lost) for an entry of another epoch's stream
   */
  async applyEntries(entries: readonly (readonly [string, readonly Buffer[]])[]): Promise<MachineEntry[]> {
    const out: MachineEntry[] = []
    for (const [, fields] of entries) {
      if (this.foreignEntry(fields)) this.checkNotLost() // throws: another epoch's stream
      const entry = this.decode(fields)
      this.seen(entry.version)
      if (this.apply(entry) === 'gap') await this.catchUp(entry.version)
      out.push(entry)
    }
    return out
  }

  private apply(e: MachineEntry): 'applied' | 'had' | 'gap' {
    const applied = this.mirror.apply(e.version, e.from, e.to, e.threadId, e.at, e.reason)
    if (applied === 'applied') Atomics.add(this.status, Status.BRIDGED, 1)
    return applied
  }

  /** Decodes a stream entry's fields. */
  decode(fields: readonly Buffer[]): MachineEntry {
    let version = 0
    let from = 0
    let to = 0
    let at = 0
    let threadId = 0
    let reason = ''
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!.toString()
      const value = fields[i + 1]!
      if (name === 'v') version = Number(value.toString())
      else if (name === 'f') from = Number(value.toString())
      else if (name === 's') to = Number(value.toString())
      else if (name === 't') at = this.localTime(value)
      else if (name === 'p') threadId = Number(value.toString())
      else if (name === 'r') reason = value.toString()
    }
    return { version, from, to, at, threadId, reason }
  }

  /**
   * Brings the mirror to at least `target` from the stream. Transitions the
   * stream no longer holds (trimmed) are skipped: the mirror jumps to the
   * state before the oldest one it holds.
   */
  async catchUp(target: number): Promise<void> {
    this.seen(target)
    const behind = target - this.version()
    if (behind <= 0) return
    const newest = await this.run<[Buffer, Buffer[]][]>((link) => link.send(['XREVRANGE', this.keys.log, '+', '-', 'COUNT', Math.min(behind + 8, this.spec.streamLength + 8)]))
    const entries = newest.reverse().map(([, fields]) => {
      if (this.foreignEntry(fields)) this.checkNotLost()
      return this.decode(fields)
    })
    const first = entries[0]
    if (first === undefined) {
      await this.reload()
      return
    }
    this.seen(entries[entries.length - 1]!.version)
    if (first.version > this.version() + 1 && this.mirror.reset(first.version - 1, first.from)) Atomics.add(this.status, Status.RELOADS, 1)
    for (const e of entries) this.apply(e)
    if (this.version() < target) await this.reload()
  }

  /** Sets the mirror to the server's state and version (no history), if it is behind. */
  async reload(): Promise<void> {
    const [version, state] = await this.meta(['version', 'state'])
    const v = Number(version?.toString() ?? '0')
    this.seen(v)
    if (this.mirror.reset(v, Number(state?.toString() ?? '0'))) Atomics.add(this.status, Status.RELOADS, 1)
  }

  /** Resolves once the mirror holds every transition the server had when called. @returns that version */
  async sync(): Promise<number> {
    this.checkNotLost()
    const version = await this.serverVersion()
    await this.catchUp(version)
    return version
  }

  /** A decoded entry as the machine's public {@link Transition}. */
  static transitionOf<S extends string>(states: readonly S[], e: MachineEntry): Transition<S> {
    return { from: states[e.from]!, to: states[e.to]!, at: e.at, threadId: e.threadId, reason: e.reason, seq: e.version & SEQ_MASK }
  }
}
