/**
 * The public types of SharedMap (re-exported by `shared-map.ts`), and the
 * key check every entry point makes before touching shared memory.
 *
 * @module
 */
import { ThreadstateError, describe } from '../errors.js'
import type { Handle } from '../memory/handle.js'
import type { StandardSchemaV1 } from '../encoding/standard-schema.js'

/** Key of the type-only member that carries a handle's value type. */
declare const valueType: unique symbol

/**
 * Handle of a SharedMap: the control region plus its data, journal and
 * change-log buffers. It carries the map's value type, so
 * `SharedMap.attach(handle)` in a worker infers `V`, and attaching it with
 * another value type does not compile.
 */
export interface SharedMapHandle<V = unknown> extends Handle<'SharedMap'> {
  /**
   * Type only, never present at run time (a handle is plain data): the
   * value type of the map, so that it travels with the handle.
   */
  readonly [valueType]?: V
  /** The arena holding the table and the entries: growable, or fixed-length for a small map (`maxBytes` <= `SMALL_OBJECT_MAX_BYTES`). */
  readonly data: SharedArrayBuffer
  /** The undo journal of the commit in progress: growable, or fixed-length for a small map. */
  readonly journal: SharedArrayBuffer
  /** The change-log ring read by subscribers. */
  readonly log: SharedArrayBuffer
}

/** Options of `SharedMap.create`. */
export interface SharedMapOptions<V> {
  /** Entries to make room for up front (the table and arena grow past it as needed). @default 8 */
  readonly initialCapacity?: number
  /**
   * Most bytes the arena (table and entries) may grow to; a write that would
   * need more throws `CapacityError` and changes nothing.
   *
   * Up to `SMALL_OBJECT_MAX_BYTES` (65,536) the map's buffers are
   * fixed-length and allocated in full up front (arena and undo journal
   * `maxBytes` each, change log 4 KiB): such a map takes no memory mapping of its own,
   * so a process can hold as many as memory allows (a map per connection,
   * per device). Above it, address space is reserved and the buffers grow
   * into it; each such map costs memory mappings, and when the process is
   * near its limit `create` throws `MappingLimitError` (README, "How many
   * objects").
   * @default 268435456 (256 MiB)
   */
  readonly maxBytes?: number
  /**
   * Bytes of the change-log ring that `subscribe()` reads (a power of two).
   * A subscriber that falls more than half of it behind gets a `reset`
   * event with the whole map instead of the changes it missed.
   * @default 262144 (256 KiB); 4096 for a map whose `maxBytes` is at most `SMALL_OBJECT_MAX_BYTES`
   */
  readonly changeLogBytes?: number
  /** A Standard Schema validator (zod, valibot, arktype, ...) every value must pass. Not carried to other threads. */
  readonly validate?: StandardSchemaV1<V>
  /**
   * How long a write in this thread waits for the map's writers' lock
   * (another writer's commit) before it throws `TimeoutError`; finite, so a
   * write never hangs for ever. The `*Async` writes wait without blocking.
   * Not carried to other threads (give it to `attach` there).
   * @default 10_000 (DEFAULT_WRITE_TIMEOUT_MS)
   */
  readonly writeTimeoutMs?: number
}

/** A value with the version of the commit that last wrote its key. */
export interface MapEntry<V> {
  /** A private copy of the value. */
  readonly value: V
  /** Version of the commit that wrote it. */
  readonly version: number
}

/** One change in a {@link MapChangeEvent}. */
export interface MapChange<V> {
  /** The key. */
  readonly key: string
  /** The new value (absent when `deleted`). */
  readonly value?: V
  /** The key was deleted. */
  readonly deleted?: true
}

/** An event of `SharedMap.subscribe`: the changes of one commit. */
export interface MapChangeEvent<V> {
  /** The version the commit produced. */
  readonly version: number
  /** What it changed. */
  readonly changes: readonly MapChange<V>[]
  /**
   * The map was cleared, or this subscriber fell too far behind: `changes`
   * then lists every entry of the map at `version`; drop what you had.
   */
  readonly reset?: true
}

/** Options of `SharedMap.setMany`. */
export interface SetManyOptions {
  /** Keys to delete in the same atomic commit (a key may not also be set). */
  readonly delete?: Iterable<string>
}

/** Figures of a SharedMap, summed over every thread. */
export interface SharedMapStats {
  /** Entries. */
  readonly size: number
  /** Latest version (commits so far). */
  readonly version: number
  /** Commits (set, setMany, delete, clear, transaction, compareAndSet). */
  readonly writes: number
  /** Slots of the hash table (kept at most half full). */
  readonly tableCapacity: number
  /** Bytes of the arena handed out (table, live entries and free blocks). */
  readonly usedBytes: number
  /** Bytes of those on free lists, waiting for reuse. */
  readonly freeBytes: number
  /** Bytes of the data buffer now. */
  readonly dataBytes: number
  /** The most the arena may grow to. */
  readonly maxBytes: number
  /** Optimistic reads that had to retry because a writer was active. */
  readonly readRetries: number
  /** Reads that gave up retrying and read under the writers' lock. */
  readonly lockedReads: number
  /**
   * The most optimistic tries one read lost to writers. A read falls back to
   * the writers' lock after 64 (128 for `get`), so on threads that may block
   * this stays at most that.
   */
  readonly longestRetryStreak: number
  /** Commits rolled back because their writer's thread died. */
  readonly writersDied: number
  /** Commits rolled back because they threw (e.g. `CapacityError`). */
  readonly rollbacks: number
  /** Times the table was rebuilt larger. */
  readonly tableGrows: number
  /** Live subscriptions. */
  readonly subscribers: number
}

/** A key that is not a string. */
export class KeyError extends ThreadstateError {
  /** Always `'KeyError'`. */
  override name = 'KeyError'
}

/** Throws {@link KeyError} unless `key` is a string. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new KeyError(`Expected a string key, got ${describe(key)}`)
}
