/**
 * One thread's link between a map's mirror (a SharedMap in this process's
 * shared memory) and its truth on the server: commits (the MAP_COMMIT
 * script), read-your-writes (the thread applies its own commit to the
 * mirror if the mirror is right before it, else catches up), catching up
 * from the stream, and reloading the whole map when the stream no longer
 * reaches back far enough.
 *
 * Any thread may hold one (the mirror's writers' lock orders them, and a
 * commit is applied only at the version after the mirror's): the process's
 * bridge, and every thread that writes.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { MapMirror, type Applied } from '../map/mirror.js'
import type { SharedMap } from '../map/shared-map.js'
import type { Changes, Prepared } from '../map/value.js'
import type { RedisLink } from './client.js'
import { evalScript } from './call.js'
import { RemoteObject, Status, operationKey, versionOf, type RemoteSpec } from './remote.js'
import { MAP_COMMIT, MAP_SNAPSHOT } from './scripts.js'
import { changesBlob, changesFrom, keyBytes, keyFrom, valueFrom } from './wire.js'
import { fenceArgs, type RedisWriteOptions } from './lock-engine.js'

/** A commit's outcome: its version, or the server's version when a check failed. */
export type CommitResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly current: number }

/** One thread's access to a remote map. */
export class RemoteMap extends RemoteObject {
  readonly mirror: MapMirror
  constructor(spec: RemoteSpec, map: SharedMap<unknown>, status: Int32Array, link: () => Promise<RedisLink>) {
    super(spec, status, link)
    this.mirror = new MapMirror(map)
  }

  protected override localVersion(): number {
    return this.mirror.map.version
  }

  /**
   * Commits `changes` if every key of `checks` still has its expected
   * version (0: absent, -1: present). On success the mirror holds the
   * commit (or a later version) when this resolves. A `fence` refused is a
   * StaleFenceError (nothing written).
   */
  async commit(checks: readonly (readonly [string, number])[], changes: Changes | 'clear', options?: RedisWriteOptions): Promise<CommitResult> {
    const fence = fenceArgs(options, this.spec)
    this.checkNotLost()
    const operationId = randomUUID()
    const k = this.keys
    const flat: (string | Buffer | number)[] = []
    for (const [key, expected] of checks) flat.push(keyBytes(key), expected)
    const clear = changes === 'clear'
    const blob = clear ? Buffer.alloc(0) : changesBlob(changes)
    const reply = await this.run<[number, number, number?]>(
      (link) =>
        evalScript(
          link,
          MAP_COMMIT,
          [k.meta, k.data, k.ver, k.log, operationKey(this.spec.tag, operationId)],
          [this.spec.epoch, operationId, this.spec.operationTtlMs, this.spec.streamLength, clear ? '1' : '0', checks.length, ...flat, blob, ...fence],
        ),
      operationId,
    )
    if (reply[0] === 2) return { ok: true, version: reply[1] }
    if (reply[0] !== 1) {
      // Lost a check: let this thread see what beat it.
      await this.catchUp(reply[1])
      return { ok: false, current: reply[1] }
    }
    const version = reply[1]
    const replayed = reply[2] === 1
    if (replayed) {
      await this.catchUp(version)
      return { ok: true, version }
    }
    let applied = this.mirror.apply(version, changes)
    if (applied === 'gap') {
      // Another process committed right before: the bridge may hold that
      // entry already, its work deferred until this write was answered
      // (in-flight.ts). Give it a turn before asking the server.
      await new Promise((resolve) => setImmediate(resolve))
      applied = this.mirror.apply(version, changes)
      if (applied === 'gap') await this.catchUp(version)
    }
    if (applied === 'applied') Atomics.add(this.status, Status.OWN, 1)
    return { ok: true, version }
  }

  /** Applies one stream entry's commit to the mirror. */
  applyEntry(fields: readonly Buffer[]): Applied {
    let version = 0
    let clear = false
    let blob: Buffer | undefined
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!.toString()
      if (name === 'v') version = Number(fields[i + 1]!.toString())
      else if (name === 'c') clear = fields[i + 1]!.toString() === '1'
      else if (name === 'd') blob = fields[i + 1]
    }
    // Most often the writing thread of this process applied it already: skip decoding then.
    if (this.mirror.map.version >= version) return 'had'
    if (clear) return this.mirror.apply(version, 'clear')
    return this.mirror.apply(version, blob === undefined ? [] : changesFrom(blob))
  }

  /**
   * Applies stream entries in order; reloads the whole map on a gap.
   * @returns whether it reloaded
   * @throws RedisDataLostError (and marks the object lost) for entries of another epoch's stream
   */
  async applyEntries(entries: readonly (readonly [string, readonly Buffer[]])[]): Promise<boolean> {
    for (const [id, fields] of entries) {
      if (this.foreignEntry(fields)) this.checkNotLost() // throws RedisDataLostError: another epoch's stream
      // Without this check, the bridge (blocked in XREAD from its last id, so never disconnected
      // by a FLUSHALL or a DEL of the keys) applied the commits of an object recreated under the
      // same name on top of the old state, as soon as their versions passed the mirror's: a map
      // of two epochs' keys at a version neither had. The idle epoch check came too late.
      if (!this.saw(id, versionOf(fields))) {
        await this.serverVersion() // RedisDataLostError (marked lost) if the epoch changed or the version is below the mirror's
        // Same epoch, the version not below the mirror's, yet a later entry with an older version:
        // the history this process applied was replaced (acknowledged commits lost, then others).
        this.versionsWentBack(`stream entry ${id} at version ${versionOf(fields)} after ${this.mirror.map.version}`)
      }
      if (this.applyEntry(fields) === 'gap') {
        await this.reload()
        return true
      }
    }
    return false
  }

  /** Brings the mirror to at least `target` from the stream (or a reload if the stream no longer reaches back). */
  async catchUp(target: number): Promise<void> {
    const map = this.mirror.map
    for (let count = Math.max(8, target - map.version + 8); map.version < target; count *= 4) {
      if (count > 2 * this.spec.streamLength + 64) {
        await this.reload()
        return
      }
      const newest = await this.run<[Buffer, Buffer[]][]>((link) => link.send(['XREVRANGE', this.keys.log, '+', '-', 'COUNT', count]))
      const entries = newest.reverse()
      const first = entries.length > 0 ? versionOf(entries[0]![1]) : Infinity
      if (first > map.version + 1) {
        // The stream no longer reaches back to the mirror's next commit (or holds fewer entries than asked: trimmed).
        if (entries.length < count) {
          await this.reload()
          return
        }
        continue
      }
      if (await this.applyEntries(entries.map(([id, fields]) => [id.toString(), fields] as const))) return
      if (map.version < target) {
        await this.reload()
        return
      }
    }
  }

  /**
   * Replaces the mirror by the server's whole map (MAP_SNAPSHOT) unless the
   * mirror already holds that version. @returns the id of the stream's last entry at that version
   */
  async reload(force = false): Promise<string> {
    const k = this.keys
    // What the mirror held before asking: the server had all of it (it may apply more meanwhile).
    const local = this.mirror.map.version
    const reply = await this.run<[Buffer, Buffer, Buffer[], Buffer[]]>((link) => evalScript(link, MAP_SNAPSHOT, [k.meta, k.data, k.ver, k.log], [this.spec.epoch]))
    const version = Number(reply[0].toString())
    const last = reply[1].toString()
    // The script checked the epoch; a version below what the mirror held, or a last entry that
    // cannot follow the entries seen, is the same epoch's history replaced (commits lost).
    if (version < local) this.versionsWentBack(`version ${version} on the server with this process at ${local}`)
    if (!this.saw(last, version)) this.versionsWentBack(`stream entry ${last} at version ${version}`)
    const versions = new Map<string, number>()
    for (let i = 0; i + 1 < reply[3].length; i += 2) versions.set(keyFrom(reply[3][i]!), Number(reply[3][i + 1]!.toString()))
    const entries: [string, Prepared, number][] = []
    for (let i = 0; i + 1 < reply[2].length; i += 2) {
      const key = keyFrom(reply[2][i]!)
      entries.push([key, valueFrom(reply[2][i + 1]!), versions.get(key) ?? version])
    }
    if (this.mirror.reload(version, entries, force)) Atomics.add(this.status, Status.RELOADS, 1)
    return last
  }

  /** Resolves once the mirror holds every commit the server had when called. @returns that version */
  async sync(): Promise<number> {
    this.checkNotLost()
    const version = await this.serverVersion()
    await this.catchUp(version)
    return version
  }
}
