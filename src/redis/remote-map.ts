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
import { evalScript, replyError, withRetries } from './call.js'
import { RedisDataLostError } from './errors.js'
import { MAP_COMMIT, MAP_SNAPSHOT } from './scripts.js'
import { changesBlob, changesFrom, keyBytes, keyFrom, valueFrom } from './wire.js'

/** The server-side names and settings of one object (structured-cloneable: part of a handle). */
export interface RemoteSpec {
  /** The object's name (unique in its namespace). */
  readonly name: string
  /** `{namespace:name}`: the hash tag every key of the object starts with. */
  readonly tag: string
  /** What messages call it, e.g. `RedisSharedMap 'status'`. */
  readonly what: string
  /** The epoch the object had when this process opened it. */
  readonly epoch: string
  /** Write timeout (ms). */
  readonly timeoutMs: number
  /** Stream entries kept (MAXLEN ~). */
  readonly streamLength: number
  /** How long the server keeps a write's operation record (ms). */
  readonly operationTtlMs: number
}

/** Status words shared by every thread of the process (the handle's `status` buffer). */
export const enum Status {
  /** 1 once the object's data was found gone or replaced (RedisDataLostError). */
  LOST = 0,
  /** Commits applied from the stream by the bridge. */
  BRIDGED = 1,
  /** Reloads of the whole map (the stream did not reach back far enough, or a fresh open). */
  RELOADS = 2,
  /** Commits this process's threads applied themselves (read-your-writes). */
  OWN = 3,
  /** Writes retried after a lost connection. */
  RETRIES = 4,
  WORDS = 5,
}

/** A commit's outcome: its version, or the server's version when a check failed. */
export type CommitResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly current: number }

/** The keys of an object. */
export function keysOf(tag: string): { meta: string; data: string; ver: string; log: string } {
  return { meta: `${tag}:meta`, data: `${tag}:data`, ver: `${tag}:ver`, log: `${tag}:log` }
}

/** One thread's access to a remote map. */
export class RemoteMap {
  readonly mirror: MapMirror
  private readonly keys: ReturnType<typeof keysOf>

  constructor(
    readonly spec: RemoteSpec,
    map: SharedMap<unknown>,
    readonly status: Int32Array,
    /** This thread's command connection. */
    private readonly link: () => Promise<RedisLink>,
  ) {
    this.mirror = new MapMirror(map)
    this.keys = keysOf(spec.tag)
  }

  /** Throws RedisDataLostError if the data was found gone (by any thread). */
  checkNotLost(): void {
    if (Atomics.load(this.status, Status.LOST) !== 0) {
      throw new RedisDataLostError(`Expected ${this.spec.what} to still hold its data on the server, got it gone or replaced (found earlier): open it again`)
    }
  }

  /** Marks the object lost for every thread of the process. */
  markLost(): void {
    Atomics.store(this.status, Status.LOST, 1)
    Atomics.notify(this.status, Status.LOST)
  }

  /**
   * Commits `changes` if every key of `checks` still has its expected
   * version (0: absent, -1: present). On success the mirror holds the
   * commit (or a later version) when this resolves.
   */
  async commit(checks: readonly (readonly [string, number])[], changes: Changes | 'clear'): Promise<CommitResult> {
    this.checkNotLost()
    const operationId = randomUUID()
    const k = this.keys
    const flat: (string | Buffer | number)[] = []
    for (const [key, expected] of checks) flat.push(keyBytes(key), expected)
    const clear = changes === 'clear'
    const blob = clear ? Buffer.alloc(0) : changesBlob(changes)
    let tries = 0
    const reply = (await withRetries(
      async () => {
        if (tries++ > 0) Atomics.add(this.status, Status.RETRIES, 1)
        return evalScript(
          await this.link(),
          MAP_COMMIT,
          [k.meta, k.data, k.ver, k.log, `${this.spec.tag}:op:${operationId}`],
          [this.spec.epoch, operationId, this.spec.operationTtlMs, this.spec.streamLength, clear ? '1' : '0', checks.length, ...flat, blob],
        )
      },
      { timeoutMs: this.spec.timeoutMs, what: this.spec.what, operationId },
    ).catch((error: unknown) => {
      if (error instanceof RedisDataLostError) this.markLost()
      throw error
    })) as [number, number, number?]
    if (reply[0] !== 1) {
      // Lost a check: let this thread see what beat it.
      await this.catchUp(reply[1])
      return { ok: false, current: reply[1] }
    }
    const version = reply[1]
    const replayed = reply[2] === 1
    if (replayed || this.mirror.apply(version, changes) === 'gap') await this.catchUp(version)
    else Atomics.add(this.status, Status.OWN, 1)
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
    if (clear) return this.mirror.apply(version, 'clear')
    return this.mirror.apply(version, blob === undefined ? [] : changesFrom(blob))
  }

  /** Applies stream entries in order; reloads the whole map on a gap. @returns whether it reloaded */
  async applyEntries(entries: readonly (readonly [string, readonly Buffer[]])[]): Promise<boolean> {
    for (const [, fields] of entries) {
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
      const link = await this.link()
      const newest = (await withRetries(() => link.send(['XREVRANGE', this.keys.log, '+', '-', 'COUNT', count]), {
        timeoutMs: this.spec.timeoutMs,
        what: this.spec.what,
      })) as [Buffer, Buffer[]][]
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
    const link = await this.link()
    const reply = (await withRetries(() => evalScript(link, MAP_SNAPSHOT, [k.meta, k.data, k.ver, k.log], [this.spec.epoch]), {
      timeoutMs: this.spec.timeoutMs,
      what: this.spec.what,
    }).catch((error: unknown) => {
      if (error instanceof RedisDataLostError) this.markLost()
      throw error
    })) as [Buffer, Buffer, Buffer[], Buffer[]]
    const version = Number(reply[0].toString())
    const versions = new Map<string, number>()
    for (let i = 0; i + 1 < reply[3].length; i += 2) versions.set(keyFrom(reply[3][i]!), Number(reply[3][i + 1]!.toString()))
    const entries: [string, Prepared, number][] = []
    for (let i = 0; i + 1 < reply[2].length; i += 2) {
      const key = keyFrom(reply[2][i]!)
      entries.push([key, valueFrom(reply[2][i + 1]!), versions.get(key) ?? version])
    }
    if (this.mirror.reload(version, entries, force)) Atomics.add(this.status, Status.RELOADS, 1)
    return reply[1].toString()
  }

  /** The server's version of the object, after checking its epoch. */
  async serverVersion(): Promise<number> {
    const link = await this.link()
    const [epoch, version] = (await withRetries(() => link.send(['HMGET', this.keys.meta, 'epoch', 'version']), {
      timeoutMs: this.spec.timeoutMs,
      what: this.spec.what,
    })) as [Buffer | null, Buffer | null]
    if (epoch === null || epoch.toString() !== this.spec.epoch) {
      this.markLost()
      throw replyError(new Error(`THREADSTATE_EPOCH ${epoch === null ? 'nil' : epoch.toString()}`), this.spec.what)
    }
    return Number(version?.toString() ?? '0')
  }

  /** Resolves once the mirror holds every commit the server had when called. @returns that version */
  async sync(): Promise<number> {
    this.checkNotLost()
    const version = await this.serverVersion()
    await this.catchUp(version)
    return version
  }
}

/** The version field of a stream entry. */
function versionOf(fields: readonly Buffer[]): number {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === 'v') return Number(fields[i + 1]!.toString())
  return NaN
}

