/**
 * The contracts of threadstate's objects: what every implementation of a
 * kind promises, whatever holds the truth (this process's shared memory
 * today; Redis, behind `threadstate/redis`, next).
 *
 * Each object class declares the contract it meets (`implements`), and the
 * behaviour tests are written against these interfaces (test/contract/*: one
 * suite per contract, parameterised by a factory), so a second
 * implementation is held to the same files. Where implementations must
 * differ, the difference is written here, not discovered by a user:
 *
 * - **Reads are synchronous everywhere** (from shared memory, or from a
 *   process's local mirror of the remote truth); **writes are
 *   {@link Awaitable}**: the in-memory objects return their result at once,
 *   a remote one resolves it when the server has committed. Code written
 *   against a contract `await`s every write and works with both.
 * - **Versions** start at 1 for the first write (0: nothing written yet),
 *   grow by one per commit and never go back; a write resolves with the
 *   version it produced, and once it has, a read in the same thread sees
 *   that version or a later one (read-your-writes).
 * - **Transactions** (`WritableMap.transaction`): the function sees its own
 *   writes and all of them commit together or none. In memory it runs once,
 *   synchronously, under the writers' lock; an optimistic implementation may
 *   run it again after a conflict, so it must have no side effects and must
 *   not return a Promise.
 * - **Blocking forms** (`lock(timeoutMs)`, `waitForVersion`) exist only where
 *   a thread can block on shared memory: they are not part of these
 *   contracts; every wait here has an async form with a timeout and a signal.
 * - **Figures** (`stats()`) are per implementation and not part of the
 *   contracts.
 *
 * @module
 */
import type { MapChangeEvent, MapEntry, MapTransaction, SetManyOptions } from './map/shared-map.js'
import type { PublishOptions, Snapshot, SnapshotEvent } from './snapshot/snapshot-store.js'
import type { ReaderOptions, StateEntry, StateReader } from './state/reader.js'
import type { Infer, Input, Schema } from './state/schema.js'
import type { StatePublishOptions, StateEvent, SubscribeOptions } from './state/state-buffer.js'
import type { Transition, TransitionOptions } from './machine/state-machine.js'
import type { WithLockOptions } from './sync/lockable.js'
import type { AsyncWaitOptions } from './sync/wait.js'
import type { DeepReadonly } from './encoding/freeze.js'

/** A result that is ready (in memory) or comes later (a remote commit): `await` it either way. */
export type Awaitable<T> = T | Promise<T>

/** Options of every `subscribe()`: it ends when `signal` aborts (or on `break`). */
export interface SubscriptionOptions {
  /** Ends the subscription. */
  readonly signal?: AbortSignal
}

/** Something whose version grows by one per commit, read without a lock, and waited for. */
export interface VersionedReadable {
  /** The latest version: +1 per commit, never going back (0 when nothing was ever committed). */
  readonly version: number
  /**
   * Resolves true once the version is at least `version`, false after
   * `timeoutMs`; rejects with the signal's reason when aborted.
   */
  waitForVersionAsync(version: number, options?: AsyncWaitOptions): Promise<boolean>
}

/** The read side of a shared string-keyed map. */
export interface ReadableMap<V> extends VersionedReadable, Iterable<[string, V]> {
  /** The value of `key` (a private copy), or undefined. */
  get(key: string): V | undefined
  /** The value of `key`, deep-frozen and shared by the reads of this thread until the key is written again. */
  getFrozen(key: string): DeepReadonly<V> | undefined
  /** Whether `key` is present. */
  has(key: string): boolean
  /** The value with the version of the commit that wrote it. */
  getEntry(key: string): MapEntry<V> | undefined
  /** The values of `keys`, all from one version. */
  getMany(keys: readonly string[]): (V | undefined)[]
  /** A private copy of the whole map at one version. */
  snapshot(): Map<string, V>
  /** Entries of a consistent copy. */
  entries(): IterableIterator<[string, V]>
  /** Keys of a consistent copy. */
  keys(): IterableIterator<string>
  /** Values of a consistent copy. */
  values(): IterableIterator<V>
  /** Number of entries. */
  readonly size: number
  /**
   * One event per commit after the subscription starts, in commit order, with
   * the values written; a `reset` event (the whole map) after a clear or when
   * the subscriber fell further behind than the implementation keeps.
   */
  subscribe(options?: SubscriptionOptions): AsyncGenerator<MapChangeEvent<V>, void, undefined>
}

/** A shared map every holder may write: each write is one atomic commit. */
export interface WritableMap<V> extends ReadableMap<V> {
  /** Sets `key`. @returns the commit's version */
  set(key: string, value: V): Awaitable<number>
  /** Deletes `key`. @returns true if it was present (and a commit was made) */
  delete(key: string): Awaitable<boolean>
  /** Sets several keys and deletes others in one commit: no reader sees part of it. @returns the version */
  setMany(
    entries: Readonly<Record<string, V>> | ReadonlyMap<string, V> | Iterable<readonly [string, V]>,
    options?: SetManyOptions,
  ): Awaitable<number>
  /** Deletes every entry in one commit. @returns the version */
  clear(): Awaitable<number>
  /** Sets `key` only if its entry's version is `expectedVersion` (0: absent). Exactly one racer wins. */
  compareAndSet(key: string, expectedVersion: number, value: V): Awaitable<boolean>
  /** Deletes `key` only if its entry's version is `expectedVersion`. */
  compareAndDelete(key: string, expectedVersion: number): Awaitable<boolean>
  /**
   * Reads and writes several keys atomically (see the module comment: `fn`
   * may run more than once where the implementation is optimistic).
   */
  transaction<R>(fn: (tx: MapTransaction<V>) => R): Awaitable<R>
}

/** The read side of a whole-object snapshot. */
export interface SnapshotSource<T> extends VersionedReadable {
  /** The latest snapshot, deep-frozen; the same object until a new version. */
  get(): DeepReadonly<T>
  /** The latest snapshot with its version, timestamp and source. */
  latest(): Snapshot<T>
  /** New snapshots, coalesced (`skipped` counts the versions passed over). */
  subscribe(options?: SubscriptionOptions): AsyncGenerator<SnapshotEvent<T>, void, undefined>
}

/** A whole-object snapshot replaced atomically by its writers. */
export interface WritableSnapshot<T> extends SnapshotSource<T> {
  /** Publishes `value` as the next version. @returns the version */
  publish(value: T | DeepReadonly<T>, options?: PublishOptions): Awaitable<number>
  /** Serialized read-modify-write: `fn` gets the latest snapshot and returns the next. @returns the version */
  modify(fn: (previous: DeepReadonly<T>) => T | DeepReadonly<T>, options?: PublishOptions): Awaitable<number>
}

/** The read side of a typed, versioned state with a history. */
export interface StateSource<S extends Schema> extends VersionedReadable {
  /** The latest state with its metadata; undefined before the first publish. */
  latest(): StateEntry<Infer<S>> | undefined
  /** A reader with its own freshness and staleness bookkeeping (`readInto`, `read`). */
  reader(options?: ReaderOptions): StateReader<S>
  /** Version `version`, if it is still in the history. */
  at(version: number): StateEntry<Infer<S>> | undefined
  /** The last `n` versions still in the history, newest first. */
  history(n?: number): StateEntry<Infer<S>>[]
  /** New versions: the latest (coalesced) or every one in order, with overruns reported. */
  subscribe(options?: SubscribeOptions): AsyncGenerator<StateEvent<Infer<S>>, void, undefined>
}

/** A typed, versioned state that one or more writers publish. */
export interface WritableState<S extends Schema> extends StateSource<S> {
  /** Validates and publishes a whole new state. @returns the version */
  publish(state: Input<S>, options?: StatePublishOptions): Awaitable<number>
}

/** A state machine shared by every holder: transitions are atomic compare-and-sets. */
export interface SharedStateMachine<S extends string> {
  /** The state names, in definition order. */
  readonly states: readonly S[]
  /** The current state. */
  readonly state: S
  /** Whether the machine is in `state` now. */
  is(state: S): boolean
  /** The states `state` (default: the current one) may move to. */
  allowedFrom(state?: S): S[]
  /** Whether `from` -> `to` is allowed by the definition. */
  canTransition(to: S, from?: S): boolean
  /** Moves to `to` if allowed (and, with `from`, only from there). Of racers from one state exactly one wins. */
  transition(to: S, options?: TransitionOptions<S>): Awaitable<boolean>
  /** {@link transition}, rejecting with `TransitionError` instead of answering false. */
  transitionOrThrow(to: S, options?: TransitionOptions<S>): Awaitable<void>
  /** The last `n` committed transitions, oldest first. */
  history(n?: number): Transition<S>[]
  /** Resolves true once the machine is in `state`, false after `timeoutMs`. */
  waitForAsync(state: S, options?: AsyncWaitOptions): Promise<boolean>
  /** Every transition committed after the subscription starts, by any holder, in order. */
  subscribe(options?: SubscriptionOptions): AsyncGenerator<Transition<S>, void, undefined>
}

/**
 * A mutual-exclusion lock that reports a holder that died (`OwnerDiedError`
 * to the next acquirer, the lock held) and refuses a release by a non-holder
 * (`LockError`).
 *
 * `Held` is what an acquisition gives: `true` in memory; a lease (fence,
 * signal) for a remote lock (`threadstate/redis`), whose `tryLock` needs a
 * round trip (Awaitable) and whose `isLocked` / `isPoisoned` are this
 * process's last view of the server (a snapshot either way).
 */
export interface AsyncLock<Held = true> {
  /** Acquires, waiting without blocking the event loop. @returns what was acquired (truthy), false on timeout */
  lockAsync(options?: AsyncWaitOptions): Promise<Held | false>
  /** Acquires if that needs no waiting. @returns what was acquired (truthy), or false */
  tryLock(): Awaitable<Held | false>
  /** Releases. */
  unlock(): Awaitable<void>
  /** Runs `fn` holding the lock (`recover` runs first after an owner died). */
  withLockAsync<R>(fn: () => R | Promise<R>, options?: WithLockOptions): Promise<R>
  /** After an `OwnerDiedError`: the protected data is repaired. */
  markConsistent(): Awaitable<void>
  /** Whether somebody holds the lock (a snapshot). */
  readonly isLocked: boolean
  /** Whether a holder died and nobody has called `markConsistent()` since. */
  readonly isPoisoned: boolean
}

/** A readers-writer lock: many readers or one writer; a writer is never starved by readers. `Held` as in {@link AsyncLock}. */
export interface AsyncReadWriteLock<Held = true> {
  /** Acquires a read hold, waiting without blocking. @returns what was acquired (truthy), false on timeout */
  readLockAsync(options?: AsyncWaitOptions): Promise<Held | false>
  /** Releases a read hold. */
  readUnlock(): Awaitable<void>
  /** Acquires the write hold, waiting without blocking. @returns what was acquired (truthy), false on timeout */
  writeLockAsync(options?: AsyncWaitOptions): Promise<Held | false>
  /** Releases the write hold. */
  writeUnlock(): Awaitable<void>
  /** Runs `fn` under a read hold. */
  withReadAsync<R>(fn: () => R | Promise<R>, options?: WithLockOptions): Promise<R>
  /** Runs `fn` under the write hold. */
  withWriteAsync<R>(fn: () => R | Promise<R>, options?: WithLockOptions): Promise<R>
  /** Whether a writer holds it (a snapshot; a remote lock: this thread). */
  readonly isWriteLocked: boolean
}

/** Counting permits. */
export interface AsyncSemaphore {
  /** Takes `n` permits if they are free now. */
  tryAcquire(n?: number): boolean
  /** Takes `n` permits, waiting without blocking. @returns false on timeout */
  acquireAsync(n?: number, options?: AsyncWaitOptions): Promise<boolean>
  /** Gives back `n` permits. */
  release(n?: number): Awaitable<void>
  /** Permits free now (a snapshot). */
  readonly available: number
}
