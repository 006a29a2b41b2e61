/**
 * RedisSharedMap: a SharedMap whose truth is on a Redis server, shared by
 * every process that opens it by name, and read at memory speed from a
 * mirror in this process's shared memory.
 *
 * Reads (`get`, `getMany`, `snapshot`, `version`, `subscribe`, ...) are the
 * mirror's: synchronous, no network, from any thread of the process.
 * Writes are one script each on the server (scripts.ts), resolve with the
 * version the server assigned, and are in the mirror of the writing thread
 * when they resolve (read-your-writes). Every process's bridge applies
 * every commit to its mirror in version order.
 *
 * @module
 */
import type { WritableMap } from '../contracts.js'
import { OptionError, ThreadstateError, describe } from '../errors.js'
import { checkValidator, validateWith, type StandardSchemaV1 } from '../encoding/standard-schema.js'
import { checkKey, type MapChangeEvent, type MapEntry, type SetManyOptions, type SharedMapHandle } from '../map/api.js'
import { SharedMap, type MapTransaction } from '../map/shared-map.js'
import { runTransaction } from '../map/transaction.js'
import { DELETE, collectChanges, prepare, type Changes, type Prepared } from '../map/value.js'
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import type { DeepReadonly } from '../encoding/freeze.js'
import { RemoteMap } from './remote-map.js'
import type { RedisWriteOptions } from './lock-engine.js'
import { Status, attachedLink, attachingRemote, checkRemoteHandle, statusFigures, type RemoteHandle } from './remote.js'

/** The structured-cloneable handle of a RedisSharedMap: send it to a worker, `RedisSharedMap.attach` it there. */
export interface RedisSharedMapHandle<V = unknown> extends RemoteHandle {
  /** Always `'RedisSharedMap'`. */
  readonly kind: 'RedisSharedMap'
  /** The mirror (its type carries the value type `V`). */
  readonly mirror: SharedMapHandle<V>
}


/** Figures of a RedisSharedMap: the mirror's, plus the bridge's work. */
export interface RedisSharedMapStats {
  /** Latest version in this process's mirror. */
  readonly version: number
  /** Entries in the mirror. */
  readonly size: number
  /** Commits applied to the mirror from the stream by the bridge... */
  readonly bridged: number
  /** ...and by this process's writing threads themselves (read-your-writes). */
  readonly ownApplied: number
  /** Whole-map reloads (opening, and when the stream no longer reached back far enough). */
  readonly reloads: number
  /** Writes resent after a lost connection (deduplicated on the server). */
  readonly retries: number
  /** Whether the data on the server was found gone or replaced. */
  readonly lost: boolean
}

/** Options of `RedisDomain.sharedMap`. */
export interface RedisSharedMapOptions<V> {
  /** Bytes of the mirror's change log: how far a subscriber may fall behind before a reset event (default 256 KiB). */
  readonly changeLogBytes?: number
  /** Most bytes the mirror may take (default 256 MiB). */
  readonly maxBytes?: number
  /** A Standard Schema validator run on every value written in this process. */
  readonly validate?: StandardSchemaV1<V>
}

/**
 * A string-keyed map on a Redis server, shared by every process that opens
 * it (`RedisDomain.sharedMap(name)`), read from a mirror in this process's
 * shared memory. Implements the same contract as {@link SharedMap}
 * (`WritableMap`): writes resolve with the version the server assigned;
 * `transaction` is optimistic (it re-runs `fn` after a conflict, so `fn`
 * must have no side effects).
 *
 * @example
 * ```ts
 * const status = await redis.sharedMap<boolean>('status')
 * await status.set('qsfp_service', true)   // the version Redis assigned
 * status.get('qsfp_service')               // true: from the mirror, no network
 * new Worker(url, { workerData: { status: status.handle } }) // RedisSharedMap.attach there
 * ```
 */
export class RedisSharedMap<V = unknown> implements WritableMap<V> {
  /** Send this to a worker; `RedisSharedMap.attach(handle)` there. */
  readonly handle: RedisSharedMapHandle<V>
  /** The name it was opened by (every process that opens this name in the namespace shares it). */
  get name(): string {
    return this.handle.spec.name
  }

  /** The mirror: an ordinary SharedMap in this process's shared memory (read it, never write it). */
  private readonly mirror: SharedMap<V>
  private readonly remote: RemoteMap
  private readonly validator: StandardSchemaV1<V> | undefined
  private readonly status: Int32Array

  /** @internal use `RedisDomain.sharedMap` or {@link RedisSharedMap.attach} */
  constructor(handle: RedisSharedMapHandle<V>, remote: RemoteMap | undefined, validator: StandardSchemaV1<V> | undefined) {
    this.handle = handle
    this.mirror = remote ? (remote.mirror.map as SharedMap<V>) : SharedMap.attach<V>(handle.mirror)
    this.status = new Int32Array(handle.status)
    this.remote =
      remote ??
      new RemoteMap(handle.spec, this.mirror as SharedMap<unknown>, this.status, attachedLink(handle))
    this.validator = validator
  }

  /**
   * Rebuilds the map from its handle in another thread of the same process:
   * the same mirror (no copy), and writes through this thread's own
   * connection (opened at the first write, shared by every object of the
   * thread; {@link closeThreadConnections} closes it).
   * @throws HandleError for something that is not such a handle, or one from another threadstate version
   */
  static attach<V = unknown>(handle: RedisSharedMapHandle<V>, options: { readonly validate?: StandardSchemaV1<V> } = {}): RedisSharedMap<V> {
    const validator = checkValidator(options.validate) as StandardSchemaV1<V> | undefined
    // One plain copy, checked, is all the map reads (remote.ts copyRemoteHandle).
    return attachingRemote('RedisSharedMap', () => new RedisSharedMap<V>(checkRemoteHandle(handle, 'RedisSharedMap') as unknown as RedisSharedMapHandle<V>, undefined, validator))
  }


  // ---- reads: the mirror's -------------------------------------------------------------

  /** The value of `key` (a private copy), or undefined. From the mirror: no network. */
  get(key: string): V | undefined {
    return this.mirror.get(key)
  }

  /** The value of `key`, deep-frozen and shared by this thread's reads until the key is written again. */
  getFrozen(key: string): DeepReadonly<V> | undefined {
    return this.mirror.getFrozen(key)
  }

  /** Whether `key` is present. */
  has(key: string): boolean {
    return this.mirror.has(key)
  }

  /** The value of `key` with the version of the commit that wrote it. */
  getEntry(key: string): MapEntry<V> | undefined {
    return this.mirror.getEntry(key)
  }

  /** The values of `keys`, all from one version. */
  getMany(keys: readonly string[]): (V | undefined)[] {
    return this.mirror.getMany(keys)
  }

  /** A private copy of the whole map at one version. */
  snapshot(): Map<string, V> {
    return this.mirror.snapshot()
  }

  /** Entries of a consistent copy. */
  entries(): IterableIterator<[string, V]> {
    return this.mirror.entries()
  }

  /** Keys of a consistent copy. */
  keys(): IterableIterator<string> {
    return this.mirror.keys()
  }

  /** Values of a consistent copy. */
  values(): IterableIterator<V> {
    return this.mirror.values()
  }

  /** Same as {@link entries}. */
  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.mirror.entries()
  }

  /** Number of entries. */
  get size(): number {
    return this.mirror.size
  }

  /** The latest version this process's mirror holds (the server may be ahead: {@link sync}). */
  get version(): number {
    return this.mirror.version
  }

  /** Whether the data on the server was found gone or replaced (writes reject with RedisDataLostError). */
  get lost(): boolean {
    return Atomics.load(this.status, Status.LOST) !== 0
  }

  /** Resolves true once the mirror holds `version`, false after `timeoutMs`. */
  waitForVersionAsync(version: number, options?: AsyncWaitOptions): Promise<boolean> {
    return this.mirror.waitForVersionAsync(version, options)
  }

  /**
   * Resolves once this process's mirror holds every commit the server had
   * when `sync` was called (a linearizable read follows).
   * @returns that version
   */
  sync(): Promise<number> {
    return this.remote.sync()
  }

  /**
   * One event per commit of any process, in version order, from the first
   * `next()`; a `reset` event (the whole map) after a clear, after falling
   * further behind than the mirror's change log keeps, and after the mirror
   * reloaded (the stream no longer reached back far enough). Ends on `break`
   * or when `signal` aborts.
   */
  subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<MapChangeEvent<V>, void, undefined> {
    checkWaitOptions(options)
    return this.remote.whileNotLost((signal) => this.mirror.subscribe({ signal }), options.signal)
  }

  // ---- writes: one script each ---------------------------------------------------------

  // Every write takes `{ fence: lease }` (RedisWriteOptions): refused with
  // StaleFenceError, nothing written, if a later lease of that lock wrote here.

  /** Sets `key`. @returns the version the server assigned @throws StaleFenceError for a `fence` a later lease overtook */
  async set(key: string, value: V, options?: RedisWriteOptions): Promise<number> {
    checkKey(key)
    return this.committed(await this.remote.commit([], [[key, this.prepare(value)]], options))
  }

  /** Deletes `key`. @returns true if it was present (and a commit was made) */
  async delete(key: string, options?: RedisWriteOptions): Promise<boolean> {
    checkKey(key)
    return (await this.remote.commit([[key, -1]], [[key, DELETE]], options)).ok
  }

  /** Sets several keys and deletes others in one commit. @returns the version */
  async setMany(entries: Readonly<Record<string, V>> | ReadonlyMap<string, V> | Iterable<readonly [string, V]>, options: SetManyOptions & RedisWriteOptions = {}): Promise<number> {
    const changes = collectChanges(entries, options, (value) => this.prepare(value))
    return this.committed(await this.remote.commit([], changes, options))
  }

  /** Deletes every entry in one commit. @returns the version */
  async clear(options?: RedisWriteOptions): Promise<number> {
    return this.committed(await this.remote.commit([], 'clear', options))
  }

  /** Sets `key` only if its entry's version is `expectedVersion` (0: absent). Exactly one racer wins, across processes. */
  async compareAndSet(key: string, expectedVersion: number, value: V, options?: RedisWriteOptions): Promise<boolean> {
    checkKey(key)
    checkVersion(expectedVersion)
    return (await this.remote.commit([[key, expectedVersion]], [[key, this.prepare(value)]], options)).ok
  }

  /** Deletes `key` only if its entry's version is `expectedVersion`. */
  async compareAndDelete(key: string, expectedVersion: number, options?: RedisWriteOptions): Promise<boolean> {
    checkKey(key)
    checkVersion(expectedVersion)
    if (expectedVersion === 0) return false
    return (await this.remote.commit([[key, expectedVersion]], [[key, DELETE]], options)).ok
  }

  /**
   * Reads and writes several keys atomically, optimistically: `fn` runs
   * against the mirror (synchronously, the mirror held still), its writes
   * commit only if no key it read changed meanwhile on the server (in any
   * process); otherwise the mirror catches up and `fn` runs again. So `fn`
   * must have no side effects and must not return a Promise. A transaction
   * that only reads is checked on the server the same way (one round trip),
   * so its answer is never one a lagging mirror made up.
   * @returns what `fn` returned in the run that committed
   */
  async transaction<R>(fn: (tx: MapTransaction<V>) => R, options?: RedisWriteOptions): Promise<R> {
    if (typeof fn !== 'function') throw new OptionError(`Expected a transaction function, got ${describe(fn)}`)
    for (;;) {
      const reads = new Map<string, number>()
      const mirror = this.mirror
      const { result, changes } = this.remote.mirror.held(() =>
        runTransaction<V, R>(
          {
            readCommitted: (key) => {
              const entry = mirror.getEntry(key)
              if (!reads.has(key)) reads.set(key, entry?.version ?? 0)
              return entry
            },
            prepare: (value) => this.prepare(value),
          },
          fn,
        ),
      )
      // Even a transaction that writes nothing has its reads checked on the
      // server: this process's mirror may be behind another process's commit.
      if (changes.length === 0 && reads.size === 0) return result
      if ((await this.remote.commit([...reads], changes as Changes, options)).ok) return result
    }
  }

  /** Figures of this process's mirror and bridge. */
  stats(): RedisSharedMapStats {
    const s = this.status
    return {
      version: this.mirror.version,
      size: this.mirror.size,
      ...statusFigures(s),
    }
  }

  private committed(result: { readonly ok: boolean; readonly version?: number }): number {
    if (!result.ok || result.version === undefined) throw new ThreadstateError('Expected a write without checks to commit, got a failed check')
    return result.version
  }

  private prepare(value: V): Prepared {
    return prepare(this.validator ? validateWith(this.validator, value, 'RedisSharedMap') : value)
  }
}

function checkVersion(version: number): void {
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    throw new OptionError(`Expected an entry version (an integer >= 0), got ${describe(version)}`)
  }
}
