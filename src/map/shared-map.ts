/**
 * SharedMap: a string-keyed map in shared memory that every thread reads and
 * writes, with atomic multi-key updates, consistent multi-key reads, per-key
 * versions and change events. This file is the facade: checks, then one call
 * into the part that does the work.
 *
 * - `layout.ts`: the buffers, the control words, the block formats, and the
 *   protocol in prose;
 * - `reader.ts`: optimistic lookups and copies validated by the sequence word;
 * - `writer.ts`: the writers' lock, commits, the undo journal, rollback and
 *   recovery after a dead writer; `table.ts`: the allocator and hash table a
 *   commit changes;
 * - `change-log.ts`: the records `subscribe()` reads, encoder and decoder;
 * - `transaction.ts`: `transaction()`'s view.
 *
 * @module
 */
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import type { WritableMap } from '../contracts.js'
import { HandleError, OptionError, describe } from '../errors.js'
import { allocateRegion, attaching, checkHandle, makeHandle } from '../memory/handle.js'
import { SMALL_OBJECT_MAX_BYTES, growableBuffer } from '../memory/growable.js'
import type { DeepReadonly } from '../encoding/freeze.js'
import { domainOf } from '../memory/thread.js'
import { checkValidator, validateWith, type StandardSchemaV1 } from '../encoding/standard-schema.js'
import { waitForVersion, waitForVersionAsync, type VersionWords } from '../sync/version-wait.js'
import { ReadFence, SeqWord } from '../sync/seqlock.js'
import { checkKey, type MapChangeEvent, type MapEntry, type SetManyOptions, type SharedMapHandle, type SharedMapOptions, type SharedMapStats } from './api.js'
import { followChanges, liveSubscribers, type ChangeLogSource } from './change-log.js'
import { ARENA_START, FREE_HEADS_WORD, MAP_CONTROL_BYTES, MIN_TABLE, MapWord, NUM_CLASSES, Table, classOf, classSize, hashKey, newSeed } from './layout.js'
import { MapMemory } from './memory.js'
import { MapReader } from './reader.js'
import { pow2 } from './table.js'
import { runTransaction, type MapTransaction, type TransactionHost } from './transaction.js'
import { DELETE, collectChanges, prepare, type Changes, type Prepared } from './value.js'
import { MapCommitter } from './writer.js'
import { writeTimeoutOf } from '../sync/writer-lock.js'

export { KeyError } from './api.js'
export type { MapChange, MapChangeEvent, MapEntry, SetManyOptions, SharedMapHandle, SharedMapOptions, SharedMapStats } from './api.js'
export { FROZEN_CACHE_KEYS } from './frozen-cache.js'
export type { MapTransaction } from './transaction.js'

const DEFAULT_MAX_BYTES = 256 << 20
const DEFAULT_LOG_BYTES = 256 << 10
/** The change log of a small map (`maxBytes` <= SMALL_OBJECT_MAX_BYTES): one page, not 256 KiB per map. */
const SMALL_LOG_BYTES = 4096

/**
 * Checks, on attach, what the map's code relies on to stay in bounds and to
 * end its loops: the bump pointer inside the data buffer, the table a
 * power-of-two block inside the arena with at least one empty slot (probes
 * end at one), the entry count, and an undo journal no longer than its
 * buffer. A forged or scribbled map is refused with HandleError instead of
 * hanging a writer (the readers bound their probes anyway: copy.ts).
 *
 * Another thread may be committing meanwhile, and a commit passes through
 * states that fail these checks (a delete clears its slots before it lowers
 * the count; `clear()` moves the bump pointer back before it empties the
 * free lists; a table block freed by a rebuild is reused). So only two
 * bounds, which every state keeps, are checked here directly (each read in
 * the order the writer changes them); the rest ({@link mapMemoryProblem})
 * is read like any consistent read of the map, through its sequence word and
 * after 64 lost tries under the writers' lock (a
 * writer that died mid-commit has its commit undone first).
 */
function checkMapBounds(handle: SharedMapHandle): void {
  const ctl = new Int32Array(handle.buffer, handle.byteOffset, MAP_CONTROL_BYTES / 4)
  // The writer grows the data buffer before it raises TOP, and the journal before it counts a record in it.
  const top = Atomics.load(ctl, MapWord.TOP)
  const bytes = handle.data.byteLength
  const journal = Atomics.load(ctl, MapWord.JOURNAL_LEN)
  const journalBytes = handle.journal.byteLength
  if (top < ARENA_START || top > bytes || (top & 15) !== 0) throw badMemory(`bump pointer is ${top} (data buffer of ${bytes} bytes)`)
  if (journal < 0 || 8 * journal > journalBytes) throw badMemory(`undo journal holds ${journal} records (${journalBytes} bytes)`)
}

function badMemory(what: string): HandleError {
  return new HandleError(`Expected a SharedMap handle pointing at a well-formed map, got memory whose ${what}: the handle is forged or the memory scribbled`)
}

/** What is wrong with a consistent state of the map's memory (`ctl` its control words), or '' (see {@link checkMapBounds}). */
function mapMemoryProblem(handle: SharedMapHandle, ctl: Int32Array): string {
  const top = ctl[MapWord.TOP]!
  const bytes = handle.data.byteLength
  if (top < ARENA_START || top > bytes || (top & 15) !== 0) return `bump pointer is ${top} (data buffer of ${bytes} bytes)`
  const table = ctl[MapWord.TABLE]!
  const count = ctl[MapWord.COUNT]!
  for (let c = 0; c < NUM_CLASSES; c++) {
    const head = ctl[FREE_HEADS_WORD + c]!
    if (head !== 0 && (head < ARENA_START || (head & 15) !== 0 || head + classSize(c) > top)) return `free list ${c} starts at ${head}`
  }
  if (table === 0) return count !== 0 ? `entry count is ${count} without a table` : ''
  if (table < ARENA_START || (table & 15) !== 0 || table + Table.SLOTS > top) return `table offset is ${table}`
  const d32 = new Int32Array(handle.data, 0, bytes >> 2)
  const capacity = d32[(table + Table.CAPACITY) >> 2]!
  if (capacity < MIN_TABLE || (capacity & (capacity - 1)) !== 0 || table + Table.SLOTS + 8 * capacity > top) return `table of ${capacity} slots at ${table}`
  const slots = (table + Table.SLOTS) >> 2
  let used = 0
  for (let i = 0; i < capacity; i++) if (d32[slots + 2 * i + 1] !== 0) used++
  if (used === capacity || count < 0 || count > used) return `table has ${used} of ${capacity} slots used for ${count} entries`
  return ''
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new OptionError(`Expected \`${name}\` to be an integer from ${min} to ${max}, got ${describe(value)}`)
  }
  return value
}

/**
 * The commit path of a map, for the one role that writes a map other than
 * through its public methods: a mirror of a remote map (map/mirror.ts),
 * which applies commits at versions assigned elsewhere. Not exported from
 * the package.
 */
export let committerOf: (map: SharedMap<unknown>) => MapCommitter

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
export class SharedMap<V = unknown> implements WritableMap<V> {
  /** The structured-cloneable handle. */
  readonly handle: SharedMapHandle<V>
  private readonly m: MapMemory
  private readonly reader: MapReader
  private readonly writer: MapCommitter
  private readonly validator: StandardSchemaV1<V> | undefined
  private readonly versionWords: VersionWords
  /** What `transaction()` may do with this map (lock held): read committed entries, prepare values. */
  private readonly transactionHost: TransactionHost<V>
  private readonly changeSource: ChangeLogSource

  static {
    committerOf = (map) => map.writer
  }

  private constructor(handle: SharedMapHandle<V>, validator: StandardSchemaV1<V> | undefined, writeTimeoutMs: number) {
    this.handle = handle
    const m = (this.m = new MapMemory(handle.buffer, handle.byteOffset, handle.data))
    const seq = new SeqWord(m.ctl, MapWord.SEQ, new ReadFence())
    this.writer = new MapCommitter(m, handle, seq, writeTimeoutMs)
    this.reader = new MapReader(m, seq, this.writer.lock)
    this.validator = validator
    this.versionWords = { words: m.ctl, pub: MapWord.SEQ, waiters: MapWord.WAITERS, latestVersion: () => this.version }
    this.transactionHost = {
      readCommitted: (key) => {
        const e = this.writer.table.entryOf(key, hashKey(key, this.m.seed))
        return e === 0 ? undefined : (this.reader.entryLocked(e) as MapEntry<V>)
      },
      prepare: (value) => this.prepare(value),
    }
    this.changeSource = {
      memory: m,
      reader: this.reader,
      log: handle.log,
      domain: domainOf(handle.domain),
      waitForVersionAsync: (version, options) => this.waitForVersionAsync(version, options),
    }
  }

  /**
   * Creates an empty map.
   * @throws OptionError for an option out of range
   */
  static create<V = unknown>(options: SharedMapOptions<V> = {}): SharedMap<V> {
    if (typeof options !== 'object' || options === null) throw new OptionError(`Expected an options object, got ${describe(options)}`)
    const maxBytes = checkInteger(options.maxBytes ?? DEFAULT_MAX_BYTES, 'maxBytes', 1 << 12, 2 ** 31 - 2 ** 16)
    const logBytes = checkInteger(options.changeLogBytes ?? (maxBytes <= SMALL_OBJECT_MAX_BYTES ? SMALL_LOG_BYTES : DEFAULT_LOG_BYTES), 'changeLogBytes', 1 << 12, 1 << 30)
    if ((logBytes & (logBytes - 1)) !== 0) throw new OptionError(`Expected \`changeLogBytes\` to be a power of two, got ${logBytes}`)
    const capacity = checkInteger(options.initialCapacity ?? 8, 'initialCapacity', 0, 1 << 26)
    const validator = checkValidator(options.validate) as StandardSchemaV1<V> | undefined
    const writeTimeoutMs = writeTimeoutOf(options.writeTimeoutMs)
    const slots = Math.max(MIN_TABLE, pow2(2 * capacity))
    const tableBytes = Table.SLOTS + 8 * slots
    const initial = Math.min(maxBytes, Math.ceil((ARENA_START + tableBytes * 1.25 + capacity * 64) / 4096) * 4096)
    if (initial < ARENA_START + tableBytes + 64) {
      throw new OptionError(`Expected \`maxBytes\` (${maxBytes}) to hold a table for \`initialCapacity\` ${capacity}, got too few bytes`)
    }
    // A small map (maxBytes <= SMALL_OBJECT_MAX_BYTES) gets fixed-length buffers of their full
    // size and takes no memory mapping; a larger one growable buffers within the mapping budget.
    const arenaBytes = Math.floor(maxBytes / 16) * 16
    const journalBytes = Math.max(4096, Math.floor(maxBytes / 8) * 8)
    const small = maxBytes <= SMALL_OBJECT_MAX_BYTES
    const data = small ? new SharedArrayBuffer(arenaBytes) : growableBuffer(initial, arenaBytes, 'SharedMap')
    const journal = small ? new SharedArrayBuffer(journalBytes) : growableBuffer(4096, journalBytes, 'SharedMap')
    const log = new SharedArrayBuffer(logBytes)
    const control = allocateRegion('SharedMap', MAP_CONTROL_BYTES)
    MapCommitter.place(control.buffer)
    const ctl = new Int32Array(control.buffer)
    // The first table, written before anybody else can see the map.
    const d32 = new Int32Array(data)
    d32[ARENA_START >> 2] = classSize(classOf(tableBytes))
    d32[(ARENA_START + Table.CAPACITY) >> 2] = slots
    ctl[MapWord.TABLE] = ARENA_START
    ctl[MapWord.SEED] = newSeed()
    ctl[MapWord.TOP] = ARENA_START + d32[ARENA_START >> 2]!
    const handle: SharedMapHandle<V> = { ...makeHandle('SharedMap', control, domainOf().buffer), data, journal, log }
    return new SharedMap<V>(handle, validator, writeTimeoutMs)
  }

  /**
   * Rebuilds a map from its handle, in any thread. A `validate` schema is not
   * carried by the handle: pass it again to validate writes here too.
   * @throws HandleError if the handle is invalid
   * @throws OptionError for a bad `writeTimeoutMs`
   */
  static attach<V = unknown>(
    handle: SharedMapHandle<V>,
    options: { readonly validate?: StandardSchemaV1<V>; readonly writeTimeoutMs?: number } = {},
  ): SharedMap<V> {
    const writeTimeoutMs = writeTimeoutOf(options.writeTimeoutMs)
    const validator = checkValidator(options.validate) as StandardSchemaV1<V> | undefined
    return attaching('SharedMap', () => SharedMap.attachChecked<V>(handle, validator, writeTimeoutMs))
  }

  /** {@link attach} after its options: checks run on a plain copy of the handle (memory/handle.ts). */
  private static attachChecked<V>(handle: SharedMapHandle<V>, validator: StandardSchemaV1<V> | undefined, writeTimeoutMs: number): SharedMap<V> {
    const checked = checkHandle(handle, 'SharedMap', MAP_CONTROL_BYTES) as SharedMapHandle<V>
    const { data, journal, log } = checked as { data?: unknown; journal?: unknown; log?: unknown }
    // data and journal: growable, or fixed-length for a small map (memory/growable.ts); the code
    // bounds everything by their byteLength / maxByteLength, which both kinds have.
    for (const [name, buffer, growable] of [['data', data, undefined], ['journal', journal, undefined], ['log', log, false]] as const) {
      if (!(buffer instanceof SharedArrayBuffer) || (growable !== undefined && buffer.growable !== growable)) {
        throw new HandleError(
          `Expected a SharedMap handle whose \`${name}\` is a ${growable === false ? 'fixed-length ' : ''}SharedArrayBuffer, got ${describe(buffer)}`,
        )
      }
    }
    const logBytes = (log as SharedArrayBuffer).byteLength
    if (logBytes < 4096 || (logBytes & (logBytes - 1)) !== 0) {
      throw new HandleError(`Expected a SharedMap handle whose \`log\` is a power of two of at least 4096 bytes, got ${logBytes} bytes`)
    }
    checkMapBounds(checked)
    domainOf(checked.domain)
    const map = new SharedMap<V>(checked, validator, writeTimeoutMs)
    const problem = map.reader.read(() => mapMemoryProblem(checked, map.m.ctl))
    if (problem !== '') throw badMemory(problem)
    return map
  }

  // ---- reading (no lock: reader.ts) --------------------------------------------------

  /** The value of `key` (a private copy), or undefined. Takes no lock. */
  get(key: string): V | undefined {
    checkKey(key)
    return this.reader.get(key) as V | undefined
  }

  /**
   * The value of `key`, deep-frozen and shared by every call in this thread
   * until the key is written again, or undefined. Takes no lock. Where `get`
   * decodes a fresh private copy on every call, a repeated `getFrozen` of an
   * unchanged object or array costs a lookup and a version check: use it for
   * values read far more often than written (status records, registries).
   * Each thread keeps the values of at most {@link FROZEN_CACHE_KEYS} keys
   * (the oldest are dropped). The mutating methods of Maps, Sets, Dates,
   * RegExps, typed arrays and DataViews inside it throw `TypeError`, but a
   * typed array's elements cannot be made read-only: do not write them, or
   * use `get`.
   *
   * @example
   * ```ts
   * const camera = cameras.getFrozen('cam-7') // same object until 'cam-7' is set again
   * ```
   */
  getFrozen(key: string): DeepReadonly<V> | undefined {
    checkKey(key)
    return this.reader.getFrozen(key) as DeepReadonly<V> | undefined
  }

  /** Whether `key` is present. */
  has(key: string): boolean {
    checkKey(key)
    return this.reader.has(key)
  }

  /** The value of `key` with the version of the commit that wrote it, or undefined. */
  getEntry(key: string): MapEntry<V> | undefined {
    checkKey(key)
    return this.reader.getEntry(key) as MapEntry<V> | undefined
  }

  /** The values of `keys`, all from one version (undefined where absent). */
  getMany(keys: readonly string[]): (V | undefined)[] {
    for (const key of keys) checkKey(key)
    return this.reader.getMany(keys) as (V | undefined)[]
  }

  /** A private copy of the whole map at one version. */
  snapshot(): Map<string, V> {
    return this.reader.snapshot() as Map<string, V>
  }

  /** Entries of a consistent copy of the map (writes meanwhile neither skip nor repeat keys). */
  entries(): IterableIterator<[string, V]> {
    return this.snapshot().entries()
  }

  /** Keys of a consistent copy of the map. */
  keys(): IterableIterator<string> {
    return this.reader.keys().values()
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
    return this.reader.size()
  }

  /** Latest version: the number of commits so far. */
  get version(): number {
    return this.reader.version()
  }

  // ---- writing (one commit each, under the writers' lock: writer.ts) -------------------------
  // A sync write waits at most `writeTimeoutMs` for the lock (TimeoutError);
  // its `*Async` form waits without blocking the event loop.

  /**
   * Sets `key` to `value`.
   * @returns the new version
   * @throws EncodeError / ValidationError / CapacityError, changing nothing
   */
  set(key: string, value: V): number {
    checkKey(key)
    return this.writer.commitLocked([[key, this.prepare(value)]])
  }

  /**
   * Deletes `key`.
   * @returns true if it was present (and a new version was committed)
   */
  delete(key: string): boolean {
    checkKey(key)
    const writer = this.writer
    return writer.locked(() => {
      if (writer.table.entryOf(key, hashKey(key, this.m.seed)) === 0) return false
      writer.commit([[key, DELETE]])
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
    return this.writer.commitLocked(collectChanges(entries, options, this.prepareValue))
  }

  /**
   * Async form of {@link set}: the value is validated and encoded first, then
   * the writers' lock is awaited without blocking the event loop (at most
   * `timeoutMs`, default `writeTimeoutMs`), so a supervising thread sees a
   * dead writer's exit and takes the lock over.
   * @returns the new version
   * @throws TimeoutError if another writer held the map all that time
   * @throws the signal's reason when aborted (nothing written)
   */
  async setAsync(key: string, value: V, options?: AsyncWaitOptions): Promise<number> {
    checkKey(key)
    const changes: Changes = [[key, this.prepare(value)]]
    return this.writer.lockedAsync(() => this.writer.commit(changes), options)
  }

  /** Async form of {@link setMany} (see {@link setAsync}). @returns the new version */
  async setManyAsync(
    entries: Readonly<Record<string, V>> | ReadonlyMap<string, V> | Iterable<readonly [string, V]>,
    options: SetManyOptions & AsyncWaitOptions = {},
  ): Promise<number> {
    const list = collectChanges(entries, options, this.prepareValue)
    return this.writer.lockedAsync(() => this.writer.commit(list), options)
  }

  /** Async form of {@link delete} (see {@link setAsync}). @returns true if it was present */
  async deleteAsync(key: string, options?: AsyncWaitOptions): Promise<boolean> {
    checkKey(key)
    const writer = this.writer
    return writer.lockedAsync(() => {
      if (writer.table.entryOf(key, hashKey(key, this.m.seed)) === 0) return false
      writer.commit([[key, DELETE]])
      return true
    }, options)
  }

  /**
   * Async form of {@link transaction}: the lock is awaited without blocking,
   * then `fn` runs synchronously with it held, as in `transaction`.
   * @returns what `fn` returns
   */
  async transactionAsync<R>(fn: (tx: MapTransaction<V>) => R, options?: AsyncWaitOptions): Promise<R> {
    if (typeof fn !== 'function') throw new OptionError(`Expected a transaction function, got ${describe(fn)}`)
    return this.writer.lockedAsync(() => {
      const { result, changes } = runTransaction(this.transactionHost, fn)
      if (changes.length > 0) this.writer.commit(changes)
      return result
    }, options)
  }

  /** Deletes every entry in one commit. @returns the new version */
  clear(): number {
    return this.writer.locked(() => this.writer.commit('clear'))
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
    return this.writer.locked(() => {
      const { result, changes } = runTransaction(this.transactionHost, fn)
      if (changes.length > 0) this.writer.commit(changes)
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
    const writer = this.writer
    return writer.locked(() => {
      if (writer.table.entryVersion(key, hashKey(key, this.m.seed)) !== expectedVersion) return false
      writer.commit([[key, prepared]])
      return true
    })
  }

  /** Deletes `key` only if the version of its entry is `expectedVersion`. @returns true if it was deleted */
  compareAndDelete(key: string, expectedVersion: number): boolean {
    checkKey(key)
    const writer = this.writer
    return writer.locked(() => {
      if (expectedVersion === 0 || writer.table.entryVersion(key, hashKey(key, this.m.seed)) !== expectedVersion) return false
      writer.commit([[key, DELETE]])
      return true
    })
  }

  /** {@link prepare}, bound once (setMany passes it on each call). */
  private readonly prepareValue = (value: V): Prepared => this.prepare(value)

  /** Validates and encodes a value, before any lock is taken. */
  private prepare(value: V): Prepared {
    const checked = this.validator ? validateWith(this.validator, value, 'SharedMap') : value
    return prepare(checked)
  }

  // ---- waiting and events -------------------------------------------------------------

  /** Blocks until the version is at least `version`, at most `timeoutMs`; false on timeout. */
  waitForVersion(version: number, timeoutMs?: number): boolean {
    return waitForVersion(this.versionWords, version, timeoutMs)
  }

  /** Async form of {@link waitForVersion}; keeps a Node process alive while waiting. */
  waitForVersionAsync(version: number, options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    return waitForVersionAsync(this.versionWords, version, options)
  }

  /**
   * Change events, one per commit after the subscription starts (at the
   * first `next()`), in commit order, with the values written. If the
   * subscriber falls behind by more than half the change log, or the map is
   * cleared, it gets a `reset` event listing the whole map instead. Ends on
   * `break` or when `signal` aborts. **Keeps a Node process alive** while it
   * waits for the next commit (a subscription is work in progress): end it
   * with `break`, `return()` or the signal when you are done.
   */
  subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<MapChangeEvent<V>, void, undefined> {
    checkWaitOptions(options)
    return followChanges<V>(this.changeSource, options.signal)
  }

  // ---- stats ------------------------------------------------------------------------

  /** Figures summed over every thread. */
  stats(): SharedMapStats {
    const ctl = this.m.ctl
    return {
      ...this.reader.figures(),
      dataBytes: this.handle.data.byteLength,
      maxBytes: this.handle.data.maxByteLength,
      readRetries: Atomics.load(ctl, MapWord.READ_RETRIES),
      lockedReads: Atomics.load(ctl, MapWord.LOCKED_READS),
      longestRetryStreak: Atomics.load(ctl, MapWord.LONGEST_RETRY_STREAK),
      writersDied: Atomics.load(ctl, MapWord.WRITERS_DIED),
      rollbacks: Atomics.load(ctl, MapWord.ROLLBACKS),
      tableGrows: Atomics.load(ctl, MapWord.TABLE_GROWS),
      subscribers: liveSubscribers(ctl, this.changeSource.domain),
    }
  }
}
