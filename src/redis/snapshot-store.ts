/**
 * RedisSnapshotStore: a SnapshotStore whose truth is on a Redis server,
 * shared by every process that opens it by name; `get()` reads a mirror in
 * this process's shared memory (an unchanged snapshot costs one atomic
 * load, as in memory).
 *
 * @module
 */
import type { WritableSnapshot } from '../contracts.js'
import { OptionError, describe } from '../errors.js'
import { checkValidator, validateWith, type StandardSchemaV1 } from '../encoding/standard-schema.js'
import { encodeWithFlags } from '../encoding/values.js'
import { SnapshotStore, type PublishOptions, type Snapshot, type SnapshotEvent, type SnapshotStoreHandle } from '../snapshot/snapshot-store.js'
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import { Publisher, type PublisherOptions } from '../snapshot/publisher.js'
import { Status, attachedLink, attachingRemote, catchUpFigures, checkRemoteHandle, type RemoteHandle } from './remote.js'
import { RemoteSnapshot } from './remote-snapshot.js'
import type { RedisWriteOptions } from './lock-engine.js'
import type { DeepReadonly } from '../encoding/freeze.js'

/** The structured-cloneable handle of a RedisSnapshotStore: `RedisSnapshotStore.attach(handle)` in a worker. */
export interface RedisSnapshotStoreHandle<T = unknown> extends RemoteHandle {
  /** Always `'RedisSnapshotStore'`. */
  readonly kind: 'RedisSnapshotStore'
  /** The mirror (its type carries the snapshot type `T`). */
  readonly mirror: SnapshotStoreHandle<T>
}


/** Options of `RedisDomain.snapshotStore`. */
export interface RedisSnapshotStoreOptions<T> {
  /** The first snapshot, if the store does not exist yet (version 1); ignored if it does. */
  readonly initial: T
  /** Most bytes the mirror may take (default 64 MiB). */
  readonly maxBytes?: number
  /** A Standard Schema validator every snapshot published in this process must pass. */
  readonly validate?: StandardSchemaV1<T>
  /** Snapshots kept in the stream (exactly; default 16): entries hold whole snapshots. */
  readonly streamLength?: number
}

/** Figures of a RedisSnapshotStore in this process. */
export interface RedisSnapshotStoreStats {
  /** Latest version in this process's mirror. */
  readonly version: number
  /** Snapshots the bridge applied to the mirror... */
  readonly bridged: number
  /** ...this process's publishing threads applied themselves... */
  readonly ownApplied: number
  /** ...and catch-ups (sync, a lost publish race, a retry). */
  readonly catchUps: number
  /** Publishes resent after a lost connection (deduplicated on the server). */
  readonly retries: number
  /** Whether the data on the server was found gone or replaced. */
  readonly lost: boolean
  /** Age of the latest snapshot (ms), on the server's clock. */
  readonly lastPublishAgeMs: number
}

/**
 * A whole-object snapshot on a Redis server, shared by every process that
 * opens it (`RedisDomain.snapshotStore(name, { initial })`), read from a
 * mirror in this process's shared memory. Implements the same contract as
 * {@link SnapshotStore} (`WritableSnapshot`): `publish` resolves with the
 * version the server assigned; `modify` is optimistic (it re-runs `fn` when
 * another publish came first, so `fn` must have no side effects).
 *
 * @example
 * ```ts
 * const runtime = await redis.snapshotStore('runtime', { initial: { agents: [] } })
 * await runtime.publish({ agents })
 * runtime.get() // deep-frozen, from the mirror
 * ```
 */
export class RedisSnapshotStore<T = unknown> implements WritableSnapshot<T> {
  /** Send this to a worker; `RedisSnapshotStore.attach(handle)` there. */
  readonly handle: RedisSnapshotStoreHandle<T>
  private readonly mirror: SnapshotStore<T>
  private readonly remote: RemoteSnapshot
  private readonly validator: StandardSchemaV1<T> | undefined
  private readonly status: Int32Array

  /** @internal use `RedisDomain.snapshotStore` or {@link RedisSnapshotStore.attach} */
  constructor(handle: RedisSnapshotStoreHandle<T>, remote: RemoteSnapshot | undefined, validator: StandardSchemaV1<T> | undefined) {
    this.handle = handle
    this.mirror = remote ? (remote.store as SnapshotStore<T>) : SnapshotStore.attach<T>(handle.mirror)
    this.status = new Int32Array(handle.status)
    this.remote =
      remote ??
      new RemoteSnapshot(handle.spec, this.mirror as SnapshotStore<unknown>, this.status, attachedLink(handle))
    this.validator = validator
  }

  /**
   * Rebuilds the store from its handle in another thread of the same process
   * (the same mirror; publishes through this thread's own connection).
   * @throws HandleError for something that is not such a handle, or one from another threadstate version
   */
  static attach<T = unknown>(handle: RedisSnapshotStoreHandle<T>, options: { readonly validate?: StandardSchemaV1<T> } = {}): RedisSnapshotStore<T> {
    const validator = checkValidator(options.validate) as StandardSchemaV1<T> | undefined
    // One plain copy, checked, is all the store reads (remote.ts copyRemoteHandle).
    return attachingRemote('RedisSnapshotStore', () => new RedisSnapshotStore<T>(checkRemoteHandle(handle, 'RedisSnapshotStore') as unknown as RedisSnapshotStoreHandle<T>, undefined, validator))
  }


  /** The name it was opened by. */
  get name(): string {
    return this.handle.spec.name
  }

  /** The latest snapshot, deep-frozen; the same object until a new version. From the mirror. */
  get(): DeepReadonly<T> {
    return this.mirror.get()
  }

  /** The latest snapshot with its version, timestamp (this machine's clock) and source. */
  latest(): Snapshot<T> {
    return this.mirror.latest()
  }

  /** The latest version this process's mirror holds. */
  get version(): number {
    return this.mirror.version
  }

  /** Whether the data on the server was found gone or replaced. */
  get lost(): boolean {
    return Atomics.load(this.status, Status.LOST) !== 0
  }

  /** Resolves true once the mirror holds `version`, false after `timeoutMs`. */
  waitForVersionAsync(version: number, options?: AsyncWaitOptions): Promise<boolean> {
    return this.mirror.waitForVersionAsync(version, options)
  }

  /** New snapshots of any process, coalesced (`skipped` counts versions passed over). */
  subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<SnapshotEvent<T>, void, undefined> {
    checkWaitOptions(options)
    return this.remote.whileNotLost((signal) => this.mirror.subscribe({ signal }), options.signal)
  }

  /** Resolves once the mirror holds the snapshot the server had when called. @returns that version */
  sync(): Promise<number> {
    return this.remote.sync()
  }

  /**
   * Publishes `value` as the next version.
   * @returns the version the server assigned
   * @throws EncodeError / ValidationError before anything is sent
   */
  async publish(value: T | DeepReadonly<T>, options: PublishOptions & RedisWriteOptions = {}): Promise<number> {
    const { bytes, flags } = this.encode(value)
    const result = await this.remote.publish(bytes, flags, checkSource(options.source), -1, options)
    return result.ok ? result.version : result.current
  }

  /**
   * Read-modify-write, optimistic: `fn` gets the latest snapshot and returns
   * the next; it is published only if nobody published meanwhile (in any
   * process), else `fn` runs again on the newer one.
   * @returns the version
   */
  async modify(fn: (previous: DeepReadonly<T>) => T | DeepReadonly<T>, options: PublishOptions & RedisWriteOptions = {}): Promise<number> {
    if (typeof fn !== 'function') throw new OptionError(`Expected a function, got ${describe(fn)}`)
    const source = checkSource(options.source)
    for (;;) {
      const latest = this.mirror.latest()
      const next = fn(latest.value)
      if (next instanceof Promise) {
        next.catch(() => {})
        throw new OptionError('Expected a synchronous modify function, got one that returned a Promise: nothing was published')
      }
      const { bytes, flags } = this.encode(next)
      const result = await this.remote.publish(bytes, flags, source, latest.version, options)
      if (result.ok) return result.version
    }
  }

  /**
   * A throttling publisher (as `SnapshotStore.publisher`): offer every
   * tick's state; it publishes every `everyTicks` offers, on a `significant`
   * change, and never more often than `minIntervalMs`. `offer` returns the
   * publication's promise (or 0 when held back); an unawaited rejection is
   * yours to catch.
   */
  publisher(options: PublisherOptions<T>): Publisher<T, Promise<number>> {
    return new Publisher<T, Promise<number>>((value) => this.publish(value), () => this.get(), options)
  }

  /** Figures of this process's mirror and bridge. */
  stats(): RedisSnapshotStoreStats {
    const s = this.status
    return {
      version: this.mirror.version,
      ...catchUpFigures(s),
      lastPublishAgeMs: this.mirror.stats().lastPublishAgeMs,
    }
  }

  private encode(value: T | DeepReadonly<T>): { bytes: Uint8Array; flags: number } {
    return encodeWithFlags(this.validator ? validateWith(this.validator, value, 'RedisSnapshotStore') : value)
  }
}

function checkSource(source: unknown): string | undefined {
  if (source === undefined) return undefined
  if (typeof source !== 'string' || source.length === 0 || new TextEncoder().encode(source).length > 20) {
    throw new OptionError(`Expected \`source\` to be a non-empty string of at most 20 UTF-8 bytes, got ${describe(source)}`)
  }
  return source
}
