/**
 * One thread's link between a snapshot store's mirror (a SnapshotStore in
 * this process's shared memory) and its truth on the server: publishes
 * (the SNAPSHOT_PUBLISH script) and catching up. Snapshots replace each
 * other whole, so a mirror needs only the newest: it publishes a version
 * whenever it is newer than what it holds, and the bridge applies just the
 * last entry of each batch it reads.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { snapshotMirrorOf, type SnapshotMirror, type SnapshotStore } from '../snapshot/snapshot-store.js'
import type { RedisLink } from './client.js'
import { evalScript } from './call.js'
import { RemoteObject, Status, operationKey, type RemoteSpec, versionOf } from './remote.js'
import { SNAPSHOT_PUBLISH } from './scripts.js'
import { fenceArgs, type RedisWriteOptions } from './lock-engine.js'

/** A publish's outcome: its version, or the server's version when the expected one was not met. */
export type PublishResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly current: number }

/** One thread's access to a remote snapshot store. */
export class RemoteSnapshot extends RemoteObject {
  readonly mirror: SnapshotMirror

  constructor(
    spec: RemoteSpec,
    readonly store: SnapshotStore<unknown>,
    status: Int32Array,
    link: () => Promise<RedisLink>,
  ) {
    super(spec, status, link)
    this.mirror = snapshotMirrorOf(store)
  }

  /**
   * Publishes encoded bytes as the next version, if the server's version is
   * `expected` (-1: whatever it is). On success the mirror holds it (or a
   * later version) when this resolves.
   */
  async publish(bytes: Uint8Array, flags: number, source: string | undefined, expected: number, options?: RedisWriteOptions): Promise<PublishResult> {
    const fence = fenceArgs(options, this.spec)
    this.checkNotLost()
    const operationId = randomUUID()
    const k = this.keys
    const reply = await this.run<[number, number, number?, Buffer?]>(
      (link) =>
        evalScript(
          link,
          SNAPSHOT_PUBLISH,
          [k.meta, k.log, operationKey(this.spec.tag, operationId)],
          [this.spec.epoch, operationId, this.spec.operationTtlMs, this.spec.streamLength, expected, source ?? '', flags, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), ...fence],
        ),
      operationId,
    )
    if (reply[0] !== 1) {
      await this.catchUp(reply[1])
      return { ok: false, current: reply[1] }
    }
    const version = reply[1]
    if (reply[2] === 1) await this.catchUp(version)
    else if (this.mirror.publishAt(version, bytes, flags, this.localTime(reply[3]!), source)) Atomics.add(this.status, Status.OWN, 1)
    return { ok: true, version }
  }

  protected override localVersion(): number {
    return this.store.version
  }

  /**
   * Applies the newest of stream entries read by the bridge.
   * @throws RedisDataLostError (the store marked lost) if they show versions going back
   */
  applyEntries(entries: readonly (readonly [string, readonly Buffer[]])[]): void {
    for (const [id, fields] of entries) {
      if (this.foreignEntry(fields)) return // another epoch's stream: marked lost, not applied
      if (!this.saw(id, versionOf(fields))) this.versionsWentBack(`stream entry ${id} at version ${versionOf(fields)} after ${this.store.version}`)
    }
    const last = entries[entries.length - 1]
    if (last === undefined) return
    const f = fieldsOf(last[1])
    if (this.mirror.publishAt(Number(f['v']!.toString()), f['d']!, Number(f['f']!.toString()), this.localTime(f['t']!), sourceOf(f['s']))) {
      Atomics.add(this.status, Status.BRIDGED, 1)
    }
  }

  /** Brings the mirror to at least `target` (the server's latest snapshot). */
  async catchUp(target: number): Promise<void> {
    if (this.store.version >= target) return
    const [version, value, flags, ts, source] = await this.meta(['version', 'value', 'flags', 'ts', 'source'])
    if (version == null || value == null || flags == null || ts == null) return
    if (this.mirror.publishAt(Number(version.toString()), value, Number(flags.toString()), this.localTime(ts), sourceOf(source))) {
      Atomics.add(this.status, Status.RELOADS, 1)
    }
  }

  /** Resolves once the mirror holds the snapshot the server had when called. @returns that version */
  async sync(): Promise<number> {
    this.checkNotLost()
    const version = await this.serverVersion()
    await this.catchUp(version)
    return version
  }
}

/** A stream entry's fields by name. */
function fieldsOf(fields: readonly Buffer[]): Record<string, Buffer> {
  const out: Record<string, Buffer> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!.toString()] = fields[i + 1]!
  return out
}

function sourceOf(source: Buffer | null | undefined): string | undefined {
  return source == null || source.length === 0 ? undefined : source.toString()
}
