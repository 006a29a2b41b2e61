/**
 * SharedMap: a string-keyed map in shared memory that every thread reads and
 * writes, with atomic multi-key updates, consistent multi-key reads, per-key
 * versions and change events. Layout and protocol: `layout.ts`; the writer
 * side: `writer.ts`.
 *
 * @module
 */
import { atomicMax } from '../memory/atomics.js'
import { strongMemoryOrdering } from '#platform'
import { HandleError, OptionError, OwnerDiedError, ThreadstateError, describe } from '../errors.js'
import { decode, decodeRange, decodeRangeFrozen } from '../encoding/values.js'
import { allocateRegion, checkHandle, makeHandle, writeHeader, type Handle } from '../memory/handle.js'
import { domainOf } from '../memory/thread.js'
import { checkValidator, validateWith, type StandardSchemaV1 } from '../shared/standard-schema.js'
import { notifyVersion, waitForVersion, waitForVersionAsync, type VersionWords } from '../shared/version-wait.js'
import { Mutex } from '../sync/mutex.js'
import type { AsyncWaitOptions } from '../sync/wait.js'
import {
  ARENA_START,
  Entry,
  LOG_CHANGE_HEADER,
  LOG_CLEAR,
  LOG_RECORD_HEADER,
  LOG_RESET,
  MAP_CONTROL_BYTES,
  MIN_TABLE,
  MapArea,
  MapF64,
  MapWord,
  OPTIMISTIC_TRIES,
  TAG_DELETED,
  Table,
  ValueTag,
  classOf,
  classSize,
  hashKey,
  valueOffset,
} from './layout.js'
import { FrozenCache } from './frozen-cache.js'
import { MapMemory } from './memory.js'
import { prepare, unitsToString, type Prepared } from './value.js'
import { DELETE, MapWriter, align4, pow2, type Changes } from './writer.js'

/** Handle of a {@link SharedMap}: the control region plus its data, journal and change-log buffers. */
export interface SharedMapHandle extends Handle<'SharedMap'> {
  /** The growable arena holding the table and the entries. */
  readonly data: SharedArrayBuffer
  /** The growable undo journal of the commit in progress. */
  readonly journal: SharedArrayBuffer
  /** The change-log ring read by subscribers. */
  readonly log: SharedArrayBuffer
}

/** Options of {@link SharedMap.create}. */
export interface SharedMapOptions<V> {
  /** Entries to make room for up front (the table and arena grow past it as needed). @default 8 */
  readonly initialCapacity?: number
  /**
   * Most bytes the arena (table and entries) may grow to; a write that would
   * need more throws `CapacityError` and changes nothing.
   * @default 268435456 (256 MiB)
   */
  readonly maxBytes?: number
  /**
   * Bytes of the change-log ring that `subscribe()` reads (a power of two).
   * A subscriber that falls more than half of it behind gets a `reset`
   * event with the whole map instead of the changes it missed.
   * @default 262144 (256 KiB)
   */
  readonly changeLogBytes?: number
  /** A Standard Schema validator (zod, valibot, arktype, ...) every value must pass. Not carried to other threads. */
  readonly validate?: StandardSchemaV1<V>
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

/** An event of {@link SharedMap.subscribe}: the changes of one commit. */
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

/** Options of {@link SharedMap.setMany}. */
export interface SetManyOptions {
  /** Keys to delete in the same atomic commit (a key may not also be set). */
  readonly delete?: Iterable<string>
}

/** The view of a map inside {@link SharedMap.transaction}: reads see the transaction's own writes. */
export interface MapTransaction<V> {
  /** The value of `key` (a private copy), or undefined. */
  get(key: string): V | undefined
  /** Whether `key` is present. */
  has(key: string): boolean
  /** The value and the version of the commit that wrote it (0 for a write of this transaction). */
  getEntry(key: string): MapEntry<V> | undefined
  /** Sets `key` when the transaction commits. @throws EncodeError / ValidationError at once */
  set(key: string, value: V): void
  /** Deletes `key` when the transaction commits; false if it is absent. */
  delete(key: string): boolean
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

const SEQ = MapWord.SEQ
const DEFAULT_MAX_BYTES = 256 << 20
/** Loads of SEQ a reader spends waiting for a commit in progress before counting a retry. */
const ODD_SPIN = 2000
const DEFAULT_LOG_BYTES = 256 << 10
const RETRY: unique symbol = Symbol('retry')
type Retry = typeof RETRY

/** A PACKED value copied into the reader's scratch, decoded once the copy is known to be consistent. */
class Pending {
  constructor(
    readonly start: number,
    readonly length: number,
    /** ValueFlags of the value (does it hold Maps/Sets), for frozen decoding. */
    readonly flags: number,
  ) {}
}

/** Keys whose frozen values one thread keeps for {@link SharedMap.getFrozen}. */
export const FROZEN_CACHE_KEYS = 4096

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new KeyError(`Expected a string key, got ${describe(key)}`)
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OptionError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${describe(value)}`)
  }
  return value
}

/**
 * A concurrent string-keyed map shared by every thread (seed 001's service
 * status dictionary, seed 002's camera registry).
 *
 * - `get` takes no lock: a reader retries if a writer changed the map while
 *   it read, and after 64 tries reads under the writers' lock, so it is
 *   never starved. Values come back as private copies (copy-on-read).
 * - Every write is one atomic commit: `setMany()` of many keys, a
 *   `transaction()` reading and writing several keys, `clear()`. No reader
 *   sees part of one; `getMany`, `snapshot` and iteration see one version.
 * - Values are JSON-like plus `Date`, `Map`, `Set`, `BigInt`, typed arrays,
 *   `undefined`; anything else throws `EncodeError` naming its path before
 *   anything shared changes. A commit that does not fit in `maxBytes` throws
 *   `CapacityError` and is rolled back; so is one whose writer's thread dies.
 * - Keys are any strings: `__proto__`, `constructor` and `''` are ordinary keys.
 *
 * Iteration order is the table's, not insertion order.
 *
 * @example
 * ```ts
 * const status = SharedMap.create<boolean | string>()
 * new Worker(url, { workerData: { status: status.handle } })
 * status.setMany({ qsfp_service: true, sai_cmd: 'run --all' })  // both or neither
 * // in a worker:
 * const status = SharedMap.attach<boolean | string>(workerData.status)
 * status.get('qsfp_service')                                     // true
 * ```
 */
export class SharedMap<V = unknown> implements Iterable<[string, V]> {
  /** The structured-cloneable handle. */
  readonly handle: SharedMapHandle
  private readonly m: MapMemory
  private readonly ctl: Int32Array
  private readonly mutex: Mutex
  private readonly writer: MapWriter
  private readonly validator: StandardSchemaV1<V> | undefined
  private readonly versionWords: VersionWords
  private readonly maxBytes: number
  private readonly fence = new Int32Array(new SharedArrayBuffer(4))
  private scratch = new Uint8Array(256)
  private scratchTop = 0
  private readonly logRing: Uint8Array

  /** This thread's frozen values for getFrozen(). */
  private readonly frozen = new FrozenCache(FROZEN_CACHE_KEYS)

  private constructor(handle: SharedMapHandle, validator: StandardSchemaV1<V> | undefined) {
    this.handle = handle
    this.m = new MapMemory(handle.buffer, handle.byteOffset, handle.data)
    this.ctl = this.m.ctl
    this.mutex = Mutex.attach(
      makeHandle('Mutex', { buffer: handle.buffer, byteOffset: handle.byteOffset + MapArea.MUTEX, byteLength: Mutex.BYTE_LENGTH }, handle.domain),
    )
    this.maxBytes = handle.data.maxByteLength
    this.writer = new MapWriter(this.m, handle.journal, handle.log, this.maxBytes)
    this.validator = validator
    this.logRing = new Uint8Array(handle.log)
    this.versionWords = { words: this.ctl, pub: SEQ, waiters: MapWord.WAITERS, latestVersion: () => this.version }
  }

  /**
   * Creates an empty map.
   * @throws OptionError for an option out of range
   */
  static create<V = unknown>(options: SharedMapOptions<V> = {}): SharedMap<V> {
    if (typeof options !== 'object' || options === null) throw new OptionError(`Expected an options object, got ${describe(options)}`)
    const maxBytes = checkInteger(options.maxBytes ?? DEFAULT_MAX_BYTES, 'maxBytes', 1 << 12, 2 ** 31 - 2 ** 16)
    const logBytes = checkInteger(options.changeLogBytes ?? DEFAULT_LOG_BYTES, 'changeLogBytes', 1 << 12, 1 << 30)
    if ((logBytes & (logBytes - 1)) !== 0) throw new OptionError(`Expected \`changeLogBytes\` to be a power of two, got ${logBytes}`)
    const capacity = checkInteger(options.initialCapacity ?? 8, 'initialCapacity', 0, 1 << 26)
    const validator = checkValidator(options.validate) as StandardSchemaV1<V> | undefined
    const slots = Math.max(MIN_TABLE, pow2(2 * capacity))
    const tableBytes = Table.SLOTS + 8 * slots
    const initial = Math.min(maxBytes, Math.ceil((ARENA_START + tableBytes * 1.25 + capacity * 64) / 4096) * 4096)
    if (initial < ARENA_START + tableBytes + 64) {
      throw new OptionError(`Expected \`maxBytes\` (${maxBytes}) to hold a table for \`initialCapacity\` ${capacity}, got too few bytes`)
    }
    const control = allocateRegion('SharedMap', MAP_CONTROL_BYTES)
    writeHeader('Mutex', control.buffer, MapArea.MUTEX, Mutex.BYTE_LENGTH)
    const data = new SharedArrayBuffer(initial, { maxByteLength: Math.floor(maxBytes / 16) * 16 })
    const journal = new SharedArrayBuffer(4096, { maxByteLength: Math.max(4096, Math.floor(maxBytes / 8) * 8) })
    const log = new SharedArrayBuffer(logBytes)
    const ctl = new Int32Array(control.buffer)
    // The first table, written before anybody else can see the map.
    const d32 = new Int32Array(data)
    d32[ARENA_START >> 2] = classSize(classOf(tableBytes))
    d32[(ARENA_START + Table.CAPACITY) >> 2] = slots
    ctl[MapWord.TABLE] = ARENA_START
    ctl[MapWord.TOP] = ARENA_START + d32[ARENA_START >> 2]!
    const handle: SharedMapHandle = { ...makeHandle('SharedMap', control, domainOf().buffer), data, journal, log }
    return new SharedMap<V>(handle, validator)
  }

  /**
   * Rebuilds a map from its handle, in any thread. A `validate` schema is not
   * carried by the handle: pass it again to validate writes here too.
   * @throws HandleError if the handle is invalid
   */
  static attach<V = unknown>(handle: SharedMapHandle, options: { readonly validate?: StandardSchemaV1<V> } = {}): SharedMap<V> {
    const checked = checkHandle(handle, 'SharedMap', MAP_CONTROL_BYTES) as SharedMapHandle
    const { data, journal, log } = handle as { data?: unknown; journal?: unknown; log?: unknown }
    for (const [name, buffer, growable] of [['data', data, true], ['journal', journal, true], ['log', log, false]] as const) {
      if (!(buffer instanceof SharedArrayBuffer) || buffer.growable !== growable) {
        throw new HandleError(
          `Expected a SharedMap handle whose \`${name}\` is a ${growable ? 'growable' : 'fixed-length'} SharedArrayBuffer, got ${describe(buffer)}`,
        )
      }
    }
    const logBytes = (log as SharedArrayBuffer).byteLength
    if (logBytes < 4096 || (logBytes & (logBytes - 1)) !== 0) {
      throw new HandleError(`Expected a SharedMap handle whose \`log\` is a power of two of at least 4096 bytes, got ${logBytes} bytes`)
    }
    domainOf(checked.domain)
    return new SharedMap<V>(checked, checkValidator(options.validate) as StandardSchemaV1<V> | undefined)
  }

  // ---- reading ------------------------------------------------------------------

  /** The value of `key` (a private copy), or undefined. Takes no lock. */
  get(key: string): V | undefined {
    checkKey(key)
    const hash = hashKey(key)
    const ctl = this.ctl
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s1 = this.settled()
      if ((s1 & 1) === 0) {
        const e = this.lookup(key, hash)
        this.scratchTop = 0
        const value = e > 0 ? this.readValue(e) : e === 0 ? undefined : RETRY
        if (!strongMemoryOrdering) Atomics.exchange(this.fence, 0, 0)
        if (value !== RETRY && Atomics.load(ctl, SEQ) === s1) {
          if (tries > 0) atomicMax(ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return this.resolve(value) as V | undefined
        }
      }
      Atomics.add(ctl, MapWord.READ_RETRIES, 1)
    }
    return this.read(() => {
      const e = this.lookup(key, hash)
      return e > 0 ? this.readValue(e) : e === 0 ? undefined : RETRY
    }, (value) => this.resolve(value) as V | undefined, OPTIMISTIC_TRIES)
  }

  /**
   * The value of `key`, deep-frozen and shared by every call in this thread
   * until the key is written again, or undefined. Takes no lock. Where `get`
   * decodes a fresh private copy on every call, a repeated `getFrozen` of an
   * unchanged object or array costs a lookup and a version check: use it for
   * values read far more often than written (status records, registries).
   * Each thread keeps the values of at most {@link FROZEN_CACHE_KEYS} keys
   * (the oldest are dropped). Typed arrays inside a value cannot be frozen:
   * do not change them, or use `get`.
   *
   * @example
   * ```ts
   * const camera = cameras.getFrozen('cam-7') // same object until 'cam-7' is set again
   * ```
   */
  getFrozen(key: string): Readonly<V> | undefined {
    checkKey(key)
    const hash = hashKey(key)
    const ctl = this.ctl
    // The optimistic loop is written out, as in get(): going through read()
    // would allocate two closures per call on a path that costs ~75 ns.
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s1 = this.settled()
      if ((s1 & 1) === 0) {
        const e = this.lookup(key, hash)
        let version = 0
        let value: unknown = RETRY
        let hit = false
        if (e === 0) value = undefined
        else if (e > 0) {
          version = this.m.f64[(e + Entry.VERSION) >> 3]!
          const cached = this.frozen.get(key, version)
          if (cached !== undefined) {
            value = cached.value
            hit = true
          } else {
            this.scratchTop = 0
            value = this.readValue(e)
          }
        }
        if (!strongMemoryOrdering) Atomics.exchange(this.fence, 0, 0)
        // SEQ unchanged: the entry (and so its version) was the committed one.
        if (value !== RETRY && Atomics.load(ctl, SEQ) === s1) {
          if (tries > 0) atomicMax(ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return (hit ? value : this.keepFrozen(key, version, value)) as Readonly<V> | undefined
        }
      }
      Atomics.add(ctl, MapWord.READ_RETRIES, 1)
    }
    return this.read(
      () => {
        const e = this.lookup(key, hash)
        if (e <= 0) return e === 0 ? undefined : RETRY
        const value = this.readValue(e)
        return value === RETRY ? RETRY : { value, version: this.m.f64[(e + Entry.VERSION) >> 3]! }
      },
      (entry) => (entry === undefined ? undefined : (this.keepFrozen(key, entry.version, entry.value) as Readonly<V>)),
      OPTIMISTIC_TRIES,
    )
  }

  /** Decodes a copied value frozen and caches it as `key`'s value at `version` (primitives pass through). */
  private keepFrozen(key: string, version: number, value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    const frozen = decodeRangeFrozen(this.scratch, value.start, value.start + value.length, value.flags)
    this.frozen.set(key, version, frozen)
    return frozen
  }

  /** Whether `key` is present. */
  has(key: string): boolean {
    checkKey(key)
    const hash = hashKey(key)
    return this.read(() => {
      const e = this.lookup(key, hash)
      return e < 0 ? RETRY : e > 0
    }, (found) => found)
  }

  /** The value of `key` with the version of the commit that wrote it, or undefined. */
  getEntry(key: string): MapEntry<V> | undefined {
    checkKey(key)
    const hash = hashKey(key)
    return this.read(
      () => {
        const e = this.lookup(key, hash)
        if (e <= 0) return e === 0 ? undefined : RETRY
        const value = this.readValue(e)
        return value === RETRY ? RETRY : { value, version: this.m.f64[(e + Entry.VERSION) >> 3]! }
      },
      (entry) => (entry === undefined ? undefined : { value: this.resolve(entry.value) as V, version: entry.version }),
    )
  }

  /** The values of `keys`, all from one version (undefined where absent). */
  getMany(keys: readonly string[]): (V | undefined)[] {
    const hashes = keys.map((key) => {
      checkKey(key)
      return hashKey(key)
    })
    return this.read(
      () => {
        const values: unknown[] = []
        for (let i = 0; i < keys.length; i++) {
          const e = this.lookup(keys[i]!, hashes[i]!)
          if (e < 0) return RETRY
          const value = e === 0 ? undefined : this.readValue(e)
          if (value === RETRY) return RETRY
          values.push(value)
        }
        return values
      },
      (values) => values.map((value) => this.resolve(value) as V | undefined),
    )
  }

  /** A private copy of the whole map at one version. */
  snapshot(): Map<string, V> {
    return this.read(
      () => this.readAll(),
      (entries) => this.toMap(entries),
    )
  }

  /** Entries of a consistent copy of the map (writes meanwhile neither skip nor repeat keys). */
  entries(): IterableIterator<[string, V]> {
    return this.snapshot().entries()
  }

  /** Keys of a consistent copy of the map. */
  keys(): IterableIterator<string> {
    return this.read(
      () => this.readAll(true),
      (entries) => entries.map(([key]) => key),
    ).values()
  }

  /** Values of a consistent copy of the map. */
  values(): IterableIterator<V> {
    return this.snapshot().values()
  }

  /** Same as {@link entries}. */
  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries()
  }

  /** Number of entries. */
  get size(): number {
    return this.read(
      () => this.ctl[MapWord.COUNT]!,
      (n) => n,
    )
  }

  /** Latest version: the number of commits so far. */
  get version(): number {
    return this.read(
      () => this.m.ctlF64[MapF64.VERSION]!,
      (v) => v,
    )
  }

  /**
   * Runs `attempt` under the seqlock until it reads a consistent state, then
   * `finish` on its result outside it. After {@link OPTIMISTIC_TRIES} tries
   * it reads under the writers' lock instead.
   */
  private read<R, T>(attempt: () => R | Retry, finish: (r: R) => T, lostBefore = 0): T {
    const ctl = this.ctl
    for (let lost = lostBefore; ; ) {
      for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++, lost++) {
        const s1 = this.settled()
        if ((s1 & 1) === 0) {
          this.scratchTop = 0
          const r = attempt()
          if (!strongMemoryOrdering) Atomics.exchange(this.fence, 0, 0)
          if (r !== RETRY && Atomics.load(ctl, SEQ) === s1) {
            if (lost > 0) atomicMax(ctl, MapWord.LONGEST_RETRY_STREAK, lost)
            return finish(r)
          }
        }
        Atomics.add(ctl, MapWord.READ_RETRIES, 1)
      }
      atomicMax(ctl, MapWord.LONGEST_RETRY_STREAK, lost)
      this.lock() // spins on a thread that may not block (Mutex.lockWriter)
      let r: R | Retry
      try {
        Atomics.add(ctl, MapWord.LOCKED_READS, 1)
        this.m.refresh()
        this.scratchTop = 0
        r = attempt()
      } finally {
        this.mutex.unlock()
      }
      if (r === RETRY) throw new ThreadstateError('Expected a well-formed map under its lock, got inconsistent memory: the map is corrupted')
      return finish(r)
    }
  }

  /**
   * SEQ, after waiting a few microseconds for a commit in progress (SEQ odd)
   * to end: commits are short, and a reader that gave up at once would fall
   * back to the lock whenever it met one. Still odd if the writer is slow
   * (preempted, or dead).
   */
  private settled(): number {
    const ctl = this.ctl
    let s = Atomics.load(ctl, SEQ)
    for (let spin = 0; (s & 1) !== 0 && spin < ODD_SPIN; spin++) s = Atomics.load(ctl, SEQ)
    return s
  }

  /**
   * Entry offset of `key`: > 0 found, 0 absent, -1 the memory read is not a
   * consistent table (a writer is changing it, or the views are stale).
   * Every offset is bounds-checked before use and the probe is bounded.
   */
  private lookup(key: string, hash: number): number {
    const m = this.m
    const table = this.ctl[MapWord.TABLE]!
    if (table === 0) return 0
    let d32 = m.d32
    if (table < ARENA_START || table + Table.SLOTS > m.d8.length) return this.stale()
    const capacity = d32[(table + Table.CAPACITY) >> 2]!
    if (capacity < MIN_TABLE || (capacity & (capacity - 1)) !== 0 || table + Table.SLOTS + 8 * capacity > m.d8.length) return this.stale()
    d32 = m.d32
    const d16 = m.d16
    const limit = m.d8.length
    const mask = capacity - 1
    const slots = (table + Table.SLOTS) >> 2
    const n = key.length
    for (let probe = 0, i = hash & mask; probe < capacity; probe++, i = (i + 1) & mask) {
      const e = d32[slots + 2 * i + 1]!
      if (e === 0) return 0
      if (d32[slots + 2 * i] !== hash) continue
      if (e < ARENA_START || (e & 15) !== 0 || e + Entry.KEY + 2 * n > limit) return this.stale()
      if (d32[(e + Entry.KEY_LENGTH) >> 2] !== n) continue
      const k = (e + Entry.KEY) >> 1
      let same = true
      for (let j = 0; j < n; j++) {
        if (d16[k + j] !== key.charCodeAt(j)) {
          same = false
          break
        }
      }
      if (same) return e
    }
    return -1
  }

  /** Rebuilds the views if the buffer grew; either way the read is retried. */
  private stale(): number {
    this.m.refresh()
    return -1
  }

  /**
   * Reads the value of entry `e`: primitives directly, PACKED bytes copied
   * into the scratch buffer (decoded by {@link resolve} after the check).
   */
  private readValue(e: number): unknown {
    const m = this.m
    const d32 = m.d32
    const keyLength = d32[(e + Entry.KEY_LENGTH) >> 2]!
    const length = d32[(e + Entry.VALUE_LENGTH) >> 2]!
    const tag = d32[(e + Entry.TAG) >> 2]! & 0xff
    if (tag <= ValueTag.TRUE) return tag === ValueTag.TRUE ? true : tag === ValueTag.FALSE ? false : tag === ValueTag.NULL ? null : undefined
    const at = e + valueOffset(keyLength)
    if (keyLength < 0 || length < 0 || at + length > m.d8.length) return RETRY
    if (tag === ValueTag.NUMBER) return m.f64[at >> 3]
    if (tag === ValueTag.STRING) return unitsToString(m.d16, at >> 1, length >> 1)
    if (tag !== ValueTag.PACKED) return RETRY
    const start = this.scratchTop
    if (this.scratch.length < start + length) {
      const bigger = new Uint8Array(Math.max(start + length, this.scratch.length * 2))
      bigger.set(this.scratch.subarray(0, start))
      this.scratch = bigger
    }
    if (length <= 64) {
      // A loop beats subarray() + set() (which allocates) for small values.
      const d8 = m.d8
      const scratch = this.scratch
      for (let i = 0; i < length; i++) scratch[start + i] = d8[at + i]!
    } else this.scratch.set(m.d8.subarray(at, at + length), start)
    this.scratchTop = start + length
    return new Pending(start, length, d32[(e + Entry.TAG) >> 2]! >>> 8)
  }

  private readKey(e: number): string | Retry {
    const m = this.m
    const n = m.d32[(e + Entry.KEY_LENGTH) >> 2]!
    if (n < 0 || e + Entry.KEY + 2 * n > m.d8.length) return RETRY
    return unitsToString(m.d16, (e + Entry.KEY) >> 1, n)
  }

  /** Every entry: [key, raw value] pairs (keys only if `keysOnly`). */
  private readAll(keysOnly = false): [string, unknown][] | Retry {
    const m = this.m
    const out: [string, unknown][] = []
    const table = this.ctl[MapWord.TABLE]!
    if (table === 0) return out
    if (table < ARENA_START || table + Table.SLOTS > m.d8.length) {
      this.stale()
      return RETRY
    }
    const capacity = m.d32[(table + Table.CAPACITY) >> 2]!
    if (capacity < MIN_TABLE || (capacity & (capacity - 1)) !== 0 || table + Table.SLOTS + 8 * capacity > m.d8.length) {
      this.stale()
      return RETRY
    }
    const d32 = m.d32
    const slots = (table + Table.SLOTS) >> 2
    for (let i = 0; i < capacity; i++) {
      const e = d32[slots + 2 * i + 1]!
      if (e === 0) continue
      if (e < ARENA_START || (e & 15) !== 0 || e + Entry.KEY > m.d8.length) return RETRY
      const key = this.readKey(e)
      if (key === RETRY) return RETRY
      const value = keysOnly ? undefined : this.readValue(e)
      if (value === RETRY) return RETRY
      out.push([key, value])
    }
    return out
  }

  private toMap(entries: [string, unknown][]): Map<string, V> {
    const map = new Map<string, V>()
    for (const [key, value] of entries) map.set(key, this.resolve(value) as V)
    return map
  }

  /** Decodes a {@link Pending} value from the (now validated) scratch copy. */
  private resolve(value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    return decodeRange(this.scratch, value.start, value.start + value.length)
  }

  // ---- writing --------------------------------------------------------------------

  /**
   * Sets `key` to `value`.
   * @returns the new version
   * @throws EncodeError / ValidationError / CapacityError, changing nothing
   */
  set(key: string, value: V): number {
    checkKey(key)
    const changes: Changes = [[key, this.prepare(value)]]
    return this.locked(() => this.apply(changes))
  }

  /**
   * Deletes `key`.
   * @returns true if it was present (and a new version was committed)
   */
  delete(key: string): boolean {
    checkKey(key)
    return this.locked(() => {
      if (this.writer.entryOf(key, hashKey(key)) === 0) return false
      this.apply([[key, DELETE]])
      return true
    })
  }

  /**
   * Sets every entry of `entries` and deletes `options.delete`, in one atomic
   * commit: no reader sees part of it. `entries` is an object (its own
   * enumerable string keys, `__proto__` included when it is an own key), a
   * `Map` or an iterable of `[key, value]` pairs.
   * @returns the new version
   * @throws EncodeError / ValidationError / CapacityError, changing nothing
   * @throws OptionError if a key is both set and deleted
   */
  setMany(entries: Readonly<Record<string, V>> | ReadonlyMap<string, V> | Iterable<readonly [string, V]>, options: SetManyOptions = {}): number {
    const changes = new Map<string, Prepared | typeof DELETE>()
    const pairs: Iterable<readonly [string, V]> =
      entries instanceof Map || Symbol.iterator in Object(entries)
        ? (entries as Iterable<readonly [string, V]>)
        : Object.keys(entries).map((key) => [key, (entries as Record<string, V>)[key]!] as const)
    for (const [key, value] of pairs) {
      checkKey(key)
      changes.set(key, this.prepare(value))
    }
    for (const key of options.delete ?? []) {
      checkKey(key)
      if (changes.has(key) && changes.get(key) !== DELETE) throw new OptionError(`Expected each key to be either set or deleted, got ${describe(key)} in both`)
      changes.set(key, DELETE)
    }
    const list: Changes = [...changes]
    return this.locked(() => this.apply(list))
  }

  /** Deletes every entry in one commit. @returns the new version */
  clear(): number {
    return this.locked(() => this.apply('clear'))
  }

  /**
   * Atomic read-modify-write over several keys: `fn` runs with the writers'
   * lock held, reads through `tx` (seeing its own writes), and its writes
   * commit together when it returns; if it throws, nothing changes. Keep it
   * short and synchronous: no I/O inside (do I/O first, then re-validate with
   * {@link compareAndSet} or a transaction).
   * @returns what `fn` returns
   */
  transaction<R>(fn: (tx: MapTransaction<V>) => R): R {
    if (typeof fn !== 'function') throw new OptionError(`Expected a transaction function, got ${describe(fn)}`)
    return this.locked(() => {
      const tx = new Transaction(this)
      const result = fn(tx)
      if (result instanceof Promise) {
        result.catch(() => {})
        throw new OptionError('Expected a synchronous transaction function, got one that returned a Promise: nothing was committed')
      }
      if (tx.changes.size > 0) this.apply([...tx.changes])
      return result
    })
  }

  /**
   * Sets `key` only if the version of its entry is `expectedVersion`
   * (0: only if absent). Exactly one of several racing callers wins.
   * @returns true if it was set
   */
  compareAndSet(key: string, expectedVersion: number, value: V): boolean {
    checkKey(key)
    const prepared = this.prepare(value)
    return this.locked(() => {
      if (this.entryVersion(key) !== expectedVersion) return false
      this.apply([[key, prepared]])
      return true
    })
  }

  /** Deletes `key` only if the version of its entry is `expectedVersion`. @returns true if it was deleted */
  compareAndDelete(key: string, expectedVersion: number): boolean {
    checkKey(key)
    return this.locked(() => {
      if (expectedVersion === 0 || this.entryVersion(key) !== expectedVersion) return false
      this.apply([[key, DELETE]])
      return true
    })
  }

  /** Version of `key`'s entry, 0 if absent (lock held). */
  private entryVersion(key: string): number {
    const e = this.writer.entryOf(key, hashKey(key))
    return e === 0 ? 0 : this.m.f64[(e + Entry.VERSION) >> 3]!
  }

  /** Reads `key` with the lock held (for transactions). @internal */
  readLocked(key: string): { value: V; version: number } | undefined {
    const e = this.writer.entryOf(key, hashKey(key))
    if (e === 0) return undefined
    this.scratchTop = 0
    const value = this.resolve(this.readValue(e)) as V
    return { value, version: this.m.f64[(e + Entry.VERSION) >> 3]! }
  }

  /** Validates and encodes a value, before any lock is taken. @internal */
  prepare(value: V): Prepared {
    const checked = this.validator ? validateWith(this.validator, value, 'SharedMap') : value
    return prepare(checked)
  }

  /** Runs `fn` holding the writers' lock, recovering from a dead writer first; wakes waiters after. */
  private locked<R>(fn: () => R): R {
    this.lock()
    const before = this.ctl[SEQ]!
    try {
      this.m.refresh()
      return fn()
    } finally {
      const changed = this.ctl[SEQ] !== before
      this.mutex.unlock()
      if (changed) notifyVersion(this.ctl, SEQ, MapWord.WAITERS)
    }
  }

  private lock(): void {
    try {
      this.mutex.lockWriter()
    } catch (error) {
      if (!(error instanceof OwnerDiedError)) throw error
      this.recover()
    }
  }

  private async lockAsync(): Promise<void> {
    try {
      await this.mutex.lockAsync()
    } catch (error) {
      if (!(error instanceof OwnerDiedError)) throw error
      this.recover()
    }
  }

  /**
   * The previous holder of the lock died: undo its unfinished commit (if it
   * died mid-commit) and make SEQ even again. Lock held.
   */
  private recover(): void {
    this.writer.recoverDead()
    const seq = this.ctl[SEQ]!
    if ((seq & 1) !== 0) Atomics.store(this.ctl, SEQ, (seq + 1) | 0)
    Atomics.add(this.ctl, MapWord.WRITERS_DIED, 1)
    this.mutex.markConsistent()
  }

  /** One commit: SEQ odd, the changes, SEQ even. Lock held. @returns the new version */
  private apply(changes: Changes | 'clear'): number {
    const ctl = this.ctl
    const writer = this.writer
    const seq = ctl[SEQ]!
    Atomics.store(ctl, SEQ, (seq + 1) | 0)
    // On weakly ordered CPUs (ARM64) a plain store written after an
    // Atomics.store may become visible before it, so a reader could see a
    // changed table with SEQ still even: a read-modify-write orders them
    // (DESIGN.md, "Do not lean on x86"). x86-64 keeps stores in order.
    if (!strongMemoryOrdering) Atomics.exchange(this.fence, 0, 0)
    try {
      const version = writer.nextVersion()
      if (changes === 'clear') writer.clear()
      else {
        let sets = 0
        for (const [, value] of changes) if (value !== DELETE) sets++
        if (sets > 0) writer.reserve(sets)
        for (const [key, value] of changes) {
          if (value === DELETE) writer.delete(key, hashKey(key))
          else writer.set(key, hashKey(key), value, version)
        }
      }
      writer.setVersion(version)
      writer.log(version, changes)
      writer.commit()
      Atomics.store(ctl, SEQ, (seq + 2) | 0)
      return version
    } catch (error) {
      writer.rollback()
      Atomics.add(ctl, MapWord.ROLLBACKS, 1)
      Atomics.store(ctl, SEQ, (seq + 2) | 0)
      throw error
    }
  }

  // ---- waiting and events -------------------------------------------------------------

  /** Blocks until the version is at least `version`, at most `timeoutMs`; false on timeout. */
  waitForVersion(version: number, timeoutMs?: number): boolean {
    return waitForVersion(this.versionWords, version, timeoutMs)
  }

  /** Async form of {@link waitForVersion}; keeps a Node process alive while waiting. */
  waitForVersionAsync(version: number, options: AsyncWaitOptions = {}): Promise<boolean> {
    return waitForVersionAsync(this.versionWords, version, options)
  }

  /**
   * Change events, one per commit after the subscription starts (at the
   * first `next()`), in commit order, with the values written. If the
   * subscriber falls behind by more than half the change log, or the map is
   * cleared, it gets a `reset` event listing the whole map instead. Ends on
   * `break` or when `signal` aborts.
   */
  async *subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<MapChangeEvent<V>, void, undefined> {
    const { signal } = options
    if (signal?.aborted) return
    await this.lockAsync()
    let position: number
    let version: number
    try {
      Atomics.add(this.ctl, MapWord.SUBSCRIBERS, 1)
      position = this.ctl[MapWord.LOG_HEAD]!
      version = this.m.ctlF64[MapF64.VERSION]!
    } finally {
      this.mutex.unlock()
    }
    try {
      for (;;) {
        try {
          await this.waitForVersionAsync(version + 1, signal ? { signal } : {})
        } catch (error) {
          if (signal?.aborted) return
          throw error
        }
        const from = position
        const got = this.read(
          () => this.readLog(from),
          (r) => r,
        )
        if (got.reset) {
          position = got.head
          version = got.version
          yield { version, changes: this.toChanges(got.entries), reset: true }
          continue
        }
        position = got.head
        for (const event of this.parseLog(got.bytes)) {
          if (event === 'reset') {
            const all = this.read(
              () => this.readLog(position, true),
              (r) => r,
            )
            if (!all.reset) throw new ThreadstateError('Expected a whole-map read, got change records')
            position = all.head
            version = all.version
            yield { version, changes: this.toChanges(all.entries), reset: true }
            break
          }
          if (event.version <= version) continue
          version = event.version
          yield event
        }
      }
    } finally {
      Atomics.sub(this.ctl, MapWord.SUBSCRIBERS, 1)
    }
  }

  /**
   * The change-log bytes from `position` to the head, or (if they were
   * overwritten, or `whole`) the whole map with the head and version.
   */
  private readLog(
    position: number,
    whole = false,
  ): { reset: false; bytes: Uint8Array; head: number } | { reset: true; entries: [string, unknown][]; head: number; version: number } | Retry {
    const ring = this.logRing
    const head = this.ctl[MapWord.LOG_HEAD]!
    const n = (head - position) >>> 0
    if (whole || n > ring.length / 2) {
      const entries = this.readAll()
      if (entries === RETRY) return RETRY
      return { reset: true, entries, head, version: this.m.ctlF64[MapF64.VERSION]! }
    }
    const bytes = new Uint8Array(n)
    const start = position & (ring.length - 1)
    const first = Math.min(n, ring.length - start)
    bytes.set(ring.subarray(start, start + first))
    if (first < n) bytes.set(ring.subarray(0, n - first), first)
    return { reset: false, bytes, head }
  }

  private toChanges(entries: [string, unknown][]): MapChange<V>[] {
    return entries.map(([key, value]) => ({ key, value: this.resolve(value) as V }))
  }

  /** Parses change records (copied privately, so decoding is safe); 'reset' for a reset record. */
  private *parseLog(bytes: Uint8Array): Generator<MapChangeEvent<V> | 'reset'> {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let at = 0; at + LOG_RECORD_HEADER <= bytes.length; ) {
      const size = view.getInt32(at, true)
      const n = view.getInt32(at + 4, true)
      const version = view.getFloat64(at + 8, true)
      if (size < LOG_RECORD_HEADER || at + size > bytes.length) {
        throw new ThreadstateError(`Expected a well-formed change record at ${at}, got size ${size}: the change log is corrupted`)
      }
      if (n === LOG_RESET) {
        yield 'reset'
        return
      }
      if (n === LOG_CLEAR) {
        yield { version, changes: [], reset: true }
        at += size
        continue
      }
      const changes: MapChange<V>[] = []
      let p = at + LOG_RECORD_HEADER
      for (let i = 0; i < n; i++) {
        const keyLength = view.getInt32(p, true)
        const tag = view.getInt32(p + 4, true)
        const length = view.getInt32(p + 8, true)
        p += LOG_CHANGE_HEADER
        let key = ''
        for (let j = 0; j < keyLength; j++) key += String.fromCharCode(view.getUint16(p + 2 * j, true))
        p += align4(2 * keyLength)
        if (tag === TAG_DELETED) {
          changes.push({ key, deleted: true })
          continue
        }
        changes.push({ key, value: decodeLogged(view, bytes, p, tag & 0xff, length) as V })
        p += align4(length)
      }
      yield { version, changes }
      at += size
    }
  }

  // ---- stats ------------------------------------------------------------------------

  /** Figures summed over every thread. */
  stats(): SharedMapStats {
    const core = this.read(
      () => {
        const table = this.ctl[MapWord.TABLE]!
        const capacity = table === 0 ? 0 : this.m.d32[(table + Table.CAPACITY) >> 2]
        if (capacity === undefined) {
          this.stale()
          return RETRY
        }
        return {
          size: this.ctl[MapWord.COUNT]!,
          version: this.m.ctlF64[MapF64.VERSION]!,
          writes: this.m.ctlF64[MapF64.WRITES]!,
          tableCapacity: capacity,
          usedBytes: this.ctl[MapWord.TOP]! - ARENA_START,
          freeBytes: this.ctl[MapWord.FREE_BYTES]!,
        }
      },
      (r) => r,
    )
    const ctl = this.ctl
    return {
      ...core,
      dataBytes: this.handle.data.byteLength,
      maxBytes: this.maxBytes,
      readRetries: Atomics.load(ctl, MapWord.READ_RETRIES),
      lockedReads: Atomics.load(ctl, MapWord.LOCKED_READS),
      longestRetryStreak: Atomics.load(ctl, MapWord.LONGEST_RETRY_STREAK),
      writersDied: Atomics.load(ctl, MapWord.WRITERS_DIED),
      rollbacks: Atomics.load(ctl, MapWord.ROLLBACKS),
      tableGrows: Atomics.load(ctl, MapWord.TABLE_GROWS),
      subscribers: Atomics.load(ctl, MapWord.SUBSCRIBERS),
    }
  }
}

/** Decodes a value of a change record. */
function decodeLogged(view: DataView, bytes: Uint8Array, at: number, tag: number, length: number): unknown {
  switch (tag) {
    case ValueTag.UNDEFINED:
      return undefined
    case ValueTag.NULL:
      return null
    case ValueTag.FALSE:
      return false
    case ValueTag.TRUE:
      return true
    case ValueTag.NUMBER:
      return view.getFloat64(at, true)
    case ValueTag.STRING: {
      let s = ''
      for (let j = 0; j < length >> 1; j++) s += String.fromCharCode(view.getUint16(at + 2 * j, true))
      return s
    }
    default:
      return decode(bytes.subarray(at, at + length))
  }
}

/** The transaction view: buffered writes over reads under the lock. */
class Transaction<V> implements MapTransaction<V> {
  /** The writes, applied in one commit when the function returns. */
  readonly changes = new Map<string, Prepared | typeof DELETE>()
  private readonly written = new Map<string, V>()

  constructor(private readonly map: SharedMap<V>) {}

  get(key: string): V | undefined {
    return this.getEntry(key)?.value
  }

  has(key: string): boolean {
    return this.getEntry(key) !== undefined
  }

  getEntry(key: string): MapEntry<V> | undefined {
    checkKey(key)
    const change = this.changes.get(key)
    if (change === DELETE) return undefined
    if (change !== undefined) return { value: this.written.get(key) as V, version: 0 }
    return this.map.readLocked(key)
  }

  set(key: string, value: V): void {
    checkKey(key)
    this.changes.set(key, this.map.prepare(value))
    this.written.set(key, value)
  }

  delete(key: string): boolean {
    const present = this.has(key)
    this.changes.set(key, DELETE)
    this.written.delete(key)
    return present
  }
}
