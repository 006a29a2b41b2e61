/**
 * RedisStateBuffer: a StateBuffer whose truth is on a Redis server, shared
 * by every process that opens it by name (a fleet's drones publishing
 * poses, a control room reading them). Reads (`latest`, `reader().readInto`,
 * `at`, `history`, `subscribe`) are the mirror's, at the speed they have in
 * memory; publishes are one script each and resolve with the version the
 * server assigned. Timestamps are on this machine's clock (the server's
 * clock, offset by the domain's estimate), so `maxAgeMs` and `stale` mean
 * the same in every process.
 *
 * @module
 */
import type { WritableState } from '../contracts.js'
import { OptionError, describe } from '../errors.js'
import type { ReaderOptions, StateEntry, StateReader } from '../state/reader.js'
import type { Infer, Input, Schema } from '../state/schema.js'
import { StateBuffer, type StateBufferHandle, type StateEvent, type StatePublishOptions, type SubscribeOptions } from '../state/state-buffer.js'
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import { RemoteState } from './remote-state.js'
import type { RedisWriteOptions } from './lock-engine.js'
import { Status, attachedLink, attachingRemote, catchUpFigures, checkRemoteHandle, type RemoteHandle } from './remote.js'

/** The structured-cloneable handle of a RedisStateBuffer: `RedisStateBuffer.attach(handle)` in a worker. */
export interface RedisStateBufferHandle<S extends Schema = Schema> extends RemoteHandle {
  /** Always `'RedisStateBuffer'`. */
  readonly kind: 'RedisStateBuffer'
  /** The mirror (it carries the schema). */
  readonly mirror: StateBufferHandle<S>
}


/** Options of `RedisDomain.stateBuffer`. */
export interface RedisStateBufferOptions {
  /** Versions the mirror keeps for `history` / `at` / `subscribe({ mode: 'every' })` (default 16). */
  readonly history?: number
  /** Versions kept in the server's stream (about: MAXLEN ~), which a process that fell behind catches up from (default 1024). */
  readonly streamLength?: number
}

/** Figures of a RedisStateBuffer in this process. */
export interface RedisStateBufferStats {
  /** Latest version in this process's mirror. */
  readonly version: number
  /** Versions the bridge applied to the mirror... */
  readonly bridged: number
  /** ...this process's publishing threads applied themselves... */
  readonly ownApplied: number
  /** ...and catch-ups from the stream. */
  readonly catchUps: number
  /** Publishes resent after a lost connection (deduplicated on the server). */
  readonly retries: number
  /** Whether the data on the server was found gone or replaced. */
  readonly lost: boolean
}

/**
 * A typed, versioned state on a Redis server, shared by every process that
 * opens it (`RedisDomain.stateBuffer(name, schema)`), read from a mirror in
 * this process's shared memory. Implements the same contract as
 * {@link StateBuffer} (`WritableState`).
 *
 * @example
 * ```ts
 * const pose = await redis.stateBuffer('drone-7', Drone, { history: 64 })
 * await pose.publish({ position: [1, 2, 3], mode: 'flying', battery: 80, armed: true })
 * const reader = pose.reader({ maxAgeMs: 50 })
 * reader.read()?.stale // age on the server's clock
 * ```
 */
export class RedisStateBuffer<S extends Schema = Schema> implements WritableState<S> {
  /** Send this to a worker; `RedisStateBuffer.attach(handle)` there. */
  readonly handle: RedisStateBufferHandle<S>
  /** The schema. */
  readonly schema: S
  private readonly mirror: StateBuffer<S>
  private readonly remote: RemoteState
  private readonly status: Int32Array
  private readonly scratch: Float64Array

  /** @internal use `RedisDomain.stateBuffer` or {@link RedisStateBuffer.attach} */
  constructor(handle: RedisStateBufferHandle<S>, remote: RemoteState | undefined) {
    this.handle = handle
    this.mirror = remote ? (remote.buffer as unknown as StateBuffer<S>) : StateBuffer.attach<S>(handle.mirror)
    this.schema = this.mirror.schema
    this.status = new Int32Array(handle.status)
    this.remote =
      remote ??
      new RemoteState(handle.spec, this.mirror as unknown as StateBuffer<Schema>, this.status, attachedLink(handle))
    this.scratch = new Float64Array(this.mirror.size)
  }

  /**
   * Rebuilds the buffer from its handle in another thread of the same
   * process (the same mirror; publishes through this thread's own connection).
   * @throws HandleError for something that is not such a handle, one from another threadstate version, or another schema
   */
  static attach<S extends Schema>(handle: RedisStateBufferHandle<S>, schema?: S): RedisStateBuffer<S> {
    return attachingRemote('RedisStateBuffer', () => {
      // One plain copy, checked, is all the buffer reads (remote.ts copyRemoteHandle).
      const copy = checkRemoteHandle(handle, 'RedisStateBuffer') as unknown as RedisStateBufferHandle<S>
      if (schema !== undefined) StateBuffer.attach(copy.mirror, schema) // checks the schema
      return new RedisStateBuffer<S>(copy, undefined)
    })
  }


  /** The name it was opened by. */
  get name(): string {
    return this.handle.spec.name
  }

  /** Float64 words of one flat state (the length `readInto` needs). */
  get size(): number {
    return this.mirror.size
  }

  /** The latest state with its metadata; undefined before the first publish. From the mirror. */
  latest(): StateEntry<Infer<S>> | undefined {
    return this.mirror.latest()
  }

  /** A reader with its own freshness and staleness bookkeeping, over the mirror. */
  reader(options?: ReaderOptions): StateReader<S> {
    return this.mirror.reader(options)
  }

  /** Version `version`, if the mirror's history still holds it. */
  at(version: number): StateEntry<Infer<S>> | undefined {
    return this.mirror.at(version)
  }

  /** The last `n` versions the mirror holds, newest first. */
  history(n?: number): StateEntry<Infer<S>>[] {
    return this.mirror.history(n)
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

  /** New versions of any process: the latest (coalesced) or every one in order, `overrun` when some were lost. */
  subscribe(options?: SubscribeOptions): AsyncGenerator<StateEvent<Infer<S>>, void, undefined> {
    checkWaitOptions(options)
    return this.remote.whileNotLost((signal) => this.mirror.subscribe({ ...options, signal }), options?.signal)
  }

  /** Resolves once the mirror holds the version the server had when called. @returns that version */
  sync(): Promise<number> {
    return this.remote.sync()
  }

  /**
   * Validates `state` and publishes it as the next version.
   * @returns the version the server assigned
   * @throws SchemaError naming the field, before anything is sent
   */
  async publish(state: Input<S>, options: StatePublishOptions & RedisWriteOptions = {}): Promise<number> {
    this.remote.mirror.codec.validateInto(state, this.scratch)
    const timestamp = options.timestamp
    if (timestamp !== undefined && !Number.isFinite(timestamp)) throw new OptionError(`Expected \`timestamp\` to be a finite number, got ${describe(timestamp)}`)
    const source = options.source
    if (source !== undefined && (typeof source !== 'string' || source.length === 0 || new TextEncoder().encode(source).length > 20)) {
      throw new OptionError(`Expected \`source\` to be a non-empty string of at most 20 UTF-8 bytes, got ${describe(source)}`)
    }
    return this.remote.publish(this.scratch.slice(), timestamp, source, options)
  }

  /** Figures of this process's mirror and bridge. */
  stats(): RedisStateBufferStats {
    const s = this.status
    return {
      version: this.mirror.version,
      ...catchUpFigures(s),
    }
  }
}
