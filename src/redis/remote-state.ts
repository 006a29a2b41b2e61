/**
 * One thread's link between a state buffer's mirror (a StateBuffer in this
 * process's shared memory) and its truth on the server: publishes (the
 * STATE_PUBLISH script), applying stream entries in version order (so
 * `history`, `at` and `subscribe({ mode: 'every' })` see every version), and
 * catching up. A mirror that finds versions gone from the stream (it fell
 * further behind than the stream keeps) jumps over them: its every-mode
 * subscribers then get `overrun`, as in memory when they fall behind.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { Schema } from '../state/schema.js'
import { stateMirrorOf, type StateBuffer, type StateMirror } from '../state/state-buffer.js'
import type { RedisLink } from './client.js'
import { evalScript } from './call.js'
import { RemoteObject, Status, operationKey, type RemoteSpec, versionOf } from './remote.js'
import { STATE_PUBLISH } from './scripts.js'
import { fenceArgs, type RedisWriteOptions } from './lock-engine.js'

/** One thread's access to a remote state buffer. */
export class RemoteState extends RemoteObject {
  readonly mirror: StateMirror

  constructor(
    spec: RemoteSpec,
    readonly buffer: StateBuffer<Schema>,
    status: Int32Array,
    link: () => Promise<RedisLink>,
  ) {
    super(spec, status, link)
    this.mirror = stateMirrorOf(buffer)
  }

  /**
   * Publishes a flat state (validated) as the next version, stamped
   * `timestamp` (this machine's clock; default: the server's now). On
   * success the mirror holds it (or a later version) when this resolves.
   * @returns the version
   */
  async publish(state: Float64Array, timestamp: number | undefined, source: string | undefined, options?: RedisWriteOptions): Promise<number> {
    const fence = fenceArgs(options, this.spec)
    this.checkNotLost()
    const operationId = randomUUID()
    const k = this.keys
    const micros = timestamp === undefined ? '' : String(Math.round((timestamp + this.spec.clockOffsetMs) * 1000))
    const bytes = Buffer.from(state.buffer, state.byteOffset, state.byteLength)
    const reply = await this.run<[number, number, number?, Buffer?]>(
      (link) =>
        evalScript(
          link,
          STATE_PUBLISH,
          [k.meta, k.log, operationKey(this.spec.tag, operationId)],
          [this.spec.epoch, operationId, this.spec.operationTtlMs, this.spec.streamLength, micros, source ?? '', bytes, ...fence],
        ),
      operationId,
    )
    const version = reply[1]
    if (reply[2] !== 1 && this.buffer.version === version - 1) {
      if (this.mirror.publishAt(version, state, this.localTime(reply[3]!), source)) Atomics.add(this.status, Status.OWN, 1)
    } else await this.catchUp(version)
    return version
  }

  protected override localVersion(): number {
    return this.buffer.version
  }

  /**
   * Applies stream entries (in order). @returns how many were new to the mirror
   * @throws RedisDataLostError (the buffer marked lost) if they show versions going back
   */
  applyEntries(entries: readonly (readonly [string, readonly Buffer[]])[]): number {
    let applied = 0
    for (const [id, fields] of entries) {
      if (this.foreignEntry(fields)) return applied // another epoch's stream: marked lost, not applied
      if (!this.saw(id, versionOf(fields))) this.versionsWentBack(`stream entry ${id} at version ${versionOf(fields)} after ${this.buffer.version}`)
      let version = 0
      let ts: Buffer | undefined
      let source: Buffer | undefined
      let data: Buffer | undefined
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name = fields[i]!.toString()
        if (name === 'v') version = Number(fields[i + 1]!.toString())
        else if (name === 't') ts = fields[i + 1]
        else if (name === 's') source = fields[i + 1]
        else if (name === 'd') data = fields[i + 1]
      }
      if (data === undefined || ts === undefined || version <= this.buffer.version) continue
      const state = new Float64Array(data.length / 8)
      new Uint8Array(state.buffer).set(data)
      if (this.mirror.publishAt(version, state, this.localTime(ts), source === undefined || source.length === 0 ? undefined : source.toString())) applied++
    }
    return applied
  }

  /**
   * Brings the mirror to at least `target`: the versions it lacks from the
   * stream, in order (jumping over those the stream no longer has).
   */
  async catchUp(target: number): Promise<void> {
    const missing = target - this.buffer.version
    if (missing <= 0) return
    const count = Math.min(missing + 8, this.spec.streamLength + 128)
    const newest = await this.run<[Buffer, Buffer[]][]>((link) => link.send(['XREVRANGE', this.keys.log, '+', '-', 'COUNT', count]))
    const applied = this.applyEntries(newest.reverse().map(([id, fields]) => [id.toString(), fields] as const))
    if (applied > 0) Atomics.add(this.status, Status.RELOADS, 1)
  }

  /** Resolves once the mirror holds the version the server had when called. @returns that version */
  async sync(): Promise<number> {
    this.checkNotLost()
    const version = await this.serverVersion()
    await this.catchUp(version)
    return version
  }
}
