/**
 * SnapshotStore: one or more writers replace a whole JSON-like object
 * atomically; any number of readers in any thread read it without a lock.
 * Layout and protocol: `layout.ts`.
 *
 * @module
 */
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import type { WritableSnapshot } from '../contracts.js'
import { CapacityError, HandleError, OptionError, ThreadstateError, describe } from '../errors.js'
import { decodeFrozen, encodeWithFlags, isMapsForm, type Encoded } from '../encoding/values.js'
import { freezeTree, type DeepReadonly } from '../encoding/freeze.js'
import { now, wallNow } from '../memory/clock.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { dataBuffer } from '../memory/growable.js'
import { domainOf } from '../memory/thread.js'
import { Source, SourceTable } from '../memory/sources.js'
import { checkValidator, validateWith, type StandardSchemaV1 } from '../encoding/standard-schema.js'
import { waitForVersion, waitForVersionAsync, type VersionWords } from '../sync/version-wait.js'
import { FlooredRing, ReadFence, RETRY, RetryWords, VersionRing } from '../sync/seqlock.js'
import { WriterLock, writeTimeoutOf } from '../sync/writer-lock.js'
import { CONTROL_BYTES, SNAPSHOT_MAX_RETRIES, SNAPSHOT_SLOTS, SlotInfo, SnapArea, SnapF64, SnapWord } from './layout.js'
import { Publisher, type PublisherOptions } from './publisher.js'
import { findGap, type Extent } from './regions.js'

/** Key of the type-only member that carries a handle's snapshot type. */
declare const valueType: unique symbol

/**
 * Handle of a {@link SnapshotStore}: the control region plus the data
 * buffer. It carries the snapshot type, so `SnapshotStore.attach(handle)`
 * in a worker infers `T`, and attaching it with another type does not compile.
 */
export interface SnapshotStoreHandle<T = unknown> extends Handle<'SnapshotStore'> {
  /**
   * Type only, never present at run time (a handle is plain data): the
   * snapshot type of the store, so that it travels with the handle.
   */
  readonly [valueType]?: T
  /** The buffer holding the encoded snapshots: growable, or fixed-length for a store whose `maxBytes` is at most `SMALL_OBJECT_MAX_BYTES`. */
  readonly data: SharedArrayBuffer
}

/** Options of {@link SnapshotStore.create}. */
export interface SnapshotStoreOptions<T> {
  /** The first snapshot (version 1). */
  readonly initial: T
  /**
   * Most bytes the data buffer may grow to (all slots together). Older
   * snapshots' memory is reused, so what must fit is the latest snapshot plus
   * the one being published: `n` bytes encoded always fit when
   * `2n + latest <= maxBytes`, usually when `n + latest <= maxBytes`; a
   * publish that does not fit throws `CapacityError` and changes nothing.
   *
   * Up to `SMALL_OBJECT_MAX_BYTES` (65,536) the data buffer is fixed-length
   * and allocated in full up front: such a store takes no memory mapping of
   * its own, so a process can hold as many as memory allows (a store per
   * row, per camera, per connection). Above it, `maxBytes` of address space
   * is reserved and the buffer grows into it as snapshots need; each such
   * store costs memory mappings, and when the process is near its limit
   * `create` throws `MappingLimitError` (README, "How many objects").
   * @default 67108864 (64 MiB)
   */
  readonly maxBytes?: number
  /** A Standard Schema validator (zod, valibot, arktype, ...) every snapshot must pass. Not carried to other threads. */
  readonly validate?: StandardSchemaV1<T>
  /**
   * How long a `publish`/`modify` in this thread waits for the store's
   * writers' lock (another writer) before it throws `TimeoutError`; finite,
   * so a write never hangs for ever. `publishAsync` waits without blocking.
   * Not carried to other threads (give it to `attach` there).
   * @default 10_000 (DEFAULT_WRITE_TIMEOUT_MS)
   */
  readonly writeTimeoutMs?: number
}

/** Options of {@link SnapshotStore.publish}. */
export interface PublishOptions {
  /** Who publishes (interned: at most 8 names of <= 20 UTF-8 bytes per store). */
  readonly source?: string
}

/** A snapshot with its version and publication metadata. */
export interface Snapshot<T> {
  /** The snapshot, deep-frozen; the same object for every read of this version in this thread. */
  readonly value: DeepReadonly<T>
  /** 1 for the initial snapshot, then +1 per publish. */
  readonly version: number
  /** Publication time, ms since the epoch, on a clock shared by all threads. */
  readonly timestamp: number
  /** Who published it, if the publish named a source. */
  readonly source: string | undefined
}

/** An event of {@link SnapshotStore.subscribe}. */
export interface SnapshotEvent<T> extends Snapshot<T> {
  /** Versions published since the previous event and not delivered (coalesced). */
  readonly skipped: number
}

/** Figures of a SnapshotStore, summed over every thread. */
export interface SnapshotStoreStats {
  /** Latest version. */
  readonly version: number
  /** Snapshots published, the initial one included. */
  readonly publishes: number
  /** Encoded bytes of all of them. */
  readonly bytesPublished: number
  /** Encoded size of the latest snapshot. */
  readonly lastBytes: number
  /** Bytes of the data buffer now, and the most it may grow to. */
  readonly dataBytes: number
  /** The most the data buffer may grow to. */
  readonly maxBytes: number
  /** Times a slot needed a larger region. */
  readonly grows: number
  /** Snapshots decoded (each thread decodes each version it reads once). */
  readonly decodes: number
  /** Age of the latest snapshot, in ms. */
  readonly lastPublishAgeMs: number
  /** Publishes per source name. */
  readonly sources: Readonly<Record<string, number>>
  /** Publishes that found the previous writer dead mid-publish (and recovered). */
  readonly writersDied: number
  /**
   * Copies readers threw away because the writer lapped them mid-copy (it
   * published 3 or more versions during one copy: the store has 4 slots),
   * summed over threads. Compare with `decodes`, the copies that were kept.
   */
  readonly readRetries: number
  /** The most retries one read needed before it got a whole copy. */
  readonly longestRetryStreak: number
}

const PUB = SnapWord.PUB
const WAITERS = SnapWord.WAITERS
const DEFAULT_MAX_BYTES = 64 << 20
const MIN_REGION = 256

/**
 * A fixed-length view of the data buffer as it is now: a length-tracking
 * view of a growable buffer costs ~10 ns per element read instead of ~1 ns
 * (DESIGN.md), so views are rebuilt when the buffer has grown instead.
 */
function fixedView(data: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(data, 0, data.byteLength)
}

function roundUp(n: number): number {
  return Math.ceil(n / 64) * 64
}

/** The writing side of a store used as the mirror of a remote one (threadstate/redis). */
export interface SnapshotMirror {
  /**
   * Publishes encoded bytes as `version` with the remote publication's
   * timestamp and source, if the store holds an older version (or, with
   * `replace`, the same one: a new mirror's first snapshot gets its remote
   * timestamp and source).
   * @returns whether it published
   */
  publishAt(version: number, bytes: Uint8Array, flags: number, timestamp: number, source: string | undefined, replace?: boolean): boolean
}

/**
 * The mirror role of a store (threadstate/redis): versions assigned
 * elsewhere. Not exported from the package. Assigned by SnapshotStore's
 * static block.
 */
export let snapshotMirrorOf: (store: SnapshotStore<unknown>) => SnapshotMirror

/**
 * A whole-object snapshot shared between threads: the runtime loop publishes
 * its state, HTTP handlers in any worker read a consistent, deep-frozen copy.
 *
 * - `get()` of an unchanged snapshot costs one atomic load: each thread
 *   decodes a version once and returns the same object until it changes.
 * - Readers take no lock, never see a half-written snapshot, and are not
 *   starved by a fast writer (a ring of 4 slots).
 * - Values are JSON-like plus `Date`, `Map`, `Set`, `BigInt`, typed arrays,
 *   `undefined`; anything else throws `EncodeError` naming its path, and a
 *   `validate` schema is checked, before anything shared changes.
 *
 * @example
 * ```ts
 * const store = SnapshotStore.create({ initial: { agents: [], tick: 0 } })
 * new Worker(url, { workerData: { status: store.handle } })
 * store.publish({ agents, tick })                  // runtime loop
 * // HTTP handler in a worker:
 * const status = SnapshotStore.attach<Status>(workerData.status)
 * res.end(JSON.stringify(status.get()))
 * ```
 */
export class SnapshotStore<T = unknown> implements WritableSnapshot<T> {
  /** The structured-cloneable handle. */
  readonly handle: SnapshotStoreHandle<T>
  private readonly words: Int32Array
  private readonly f64: Float64Array
  private readonly writer: WriterLock
  private readonly ring: FlooredRing
  /**
   * The same ring without FLOOR, for {@link version}: a slot's metadata is
   * never given away (only its region's bytes are), so reading a slot's
   * version needs the lag check alone (one atomic load fewer).
   */
  private readonly versions: VersionRing
  private readonly retries: RetryWords
  private readonly sources: SourceTable
  private readonly validator: StandardSchemaV1<T> | undefined
  private readonly versionWords: VersionWords
  private readonly maxBytes: number
  /** Whether this thread's last encoded snapshot was small (encodeWithFlags's `small`: the walk writes such values itself). */
  private smallValues = true
  /** View over the data buffer, rebuilt when the buffer has grown. */
  private data: Uint8Array
  private scratch = new Uint8Array(MIN_REGION)
  /** This thread's decoded latest snapshot, and the PUB it was read at. */
  private cachedPub = 0
  private cached: Snapshot<T> | undefined
  /**
   * What this thread last published, while it may still be the latest: the
   * encoder's private copy of the value (`Encoded.tree`), frozen and cached
   * by the next read if PUB has not moved since, instead of a decode of the
   * bytes just written (a 2 KB status: ~1 us against ~9 us).
   */
  private own: { readonly tree: object; readonly pub: number; readonly version: number; readonly timestamp: number; readonly source: number } | undefined

  static {
    snapshotMirrorOf = (store) => ({
      publishAt(version, bytes, flags, timestamp, source, replace = false) {
        store.writer.lock()
        try {
          if (store.version > version || (store.version === version && !replace)) return false
          let sourceId = 0
          if (source !== undefined) {
            try {
              sourceId = store.sources.intern(source, 'SnapshotStore')
            } catch {
              // More distinct sources than a store keeps names for, across processes: published unnamed.
            }
          }
          store.publishLocked({ bytes, flags }, undefined, { version, timestamp, sourceId })
          return true
        } finally {
          store.writer.unlock()
        }
      },
    })
  }

  private constructor(handle: SnapshotStoreHandle<T>, validator: StandardSchemaV1<T> | undefined, writeTimeoutMs: number) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, CONTROL_BYTES / 4)
    this.f64 = new Float64Array(handle.buffer, handle.byteOffset, CONTROL_BYTES / 8)
    // A writer that died mid-publish left a slot that was never published and
    // is rewritten in full by the next publish: nothing to repair but the count.
    this.writer = new WriterLock(
      handle.buffer,
      handle.byteOffset + SnapArea.MUTEX,
      handle.domain,
      () => {
        Atomics.add(this.words, SnapWord.WRITERS_DIED, 1)
      },
      'SnapshotStore',
      writeTimeoutMs,
    )
    this.ring = new FlooredRing(this.words, PUB, WAITERS, SNAPSHOT_SLOTS, new ReadFence(), SnapWord.FLOOR)
    this.versions = new VersionRing(this.words, PUB, WAITERS, SNAPSHOT_SLOTS, this.ring.fence)
    this.retries = new RetryWords(this.words, SnapWord.READ_RETRIES, SnapWord.LONGEST_RETRY_STREAK)
    this.sources = new SourceTable(handle.buffer, handle.byteOffset, SnapArea.SOURCES, SnapWord.SOURCES_USED)
    this.validator = validator
    this.maxBytes = handle.data.maxByteLength
    this.data = fixedView(handle.data)
    this.versionWords = { words: this.words, pub: PUB, waiters: WAITERS, latestVersion: () => this.version }
  }

  /**
   * Creates a store holding `initial` as version 1.
   * @throws EncodeError / ValidationError if `initial` cannot be stored
   * @throws CapacityError if it does not fit in `maxBytes`
   */
  static create<T>(options: SnapshotStoreOptions<T>): SnapshotStore<T> {
    if (typeof options !== 'object' || options === null || !('initial' in options)) {
      throw new OptionError(`Expected options with an \`initial\` snapshot, got ${describe(options)}`)
    }
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    if (!Number.isInteger(maxBytes) || maxBytes < SNAPSHOT_SLOTS * MIN_REGION || maxBytes > 2 ** 31 - 1) {
      throw new OptionError(`Expected \`maxBytes\` to be an integer from ${SNAPSHOT_SLOTS * MIN_REGION} to 2^31 - 1, got ${describe(maxBytes)}`)
    }
    const validator = checkValidator(options.validate) as StandardSchemaV1<T> | undefined
    const writeTimeoutMs = writeTimeoutOf(options.writeTimeoutMs)
    const initial = validator ? validateWith(validator, options.initial, 'SnapshotStore') : options.initial
    const { bytes, flags } = encodeWithFlags(initial)
    let region = roundUp(Math.max(MIN_REGION, bytes.length * 2))
    if (SNAPSHOT_SLOTS * region > maxBytes) region = Math.floor(maxBytes / SNAPSHOT_SLOTS / 64) * 64
    if (bytes.length > region) {
      throw new CapacityError(
        `Expected an initial snapshot of at most ${region} bytes encoded (maxBytes ${maxBytes} over ${SNAPSHOT_SLOTS} slots), got ${bytes.length}`,
      )
    }
    const dataLength = SNAPSHOT_SLOTS * region
    // Fixed-length (all of maxBytes) for a small store, else growable within the mapping budget.
    const data = dataBuffer(dataLength, maxBytes, 'SnapshotStore')
    const control = allocateRegion('SnapshotStore', CONTROL_BYTES)
    const words = new Int32Array(control.buffer)
    const f64 = new Float64Array(control.buffer)
    const perSlot = region
    for (let k = 0; k < SNAPSHOT_SLOTS; k++) {
      const meta = SnapArea.META + k * SlotInfo.BYTES
      words[meta / 4 + SlotInfo.OFFSET] = k * perSlot
      words[meta / 4 + SlotInfo.CAPACITY] = perSlot
    }
    Atomics.store(words, SnapWord.SLOTS, SNAPSHOT_SLOTS)
    Atomics.store(words, SnapWord.END, SNAPSHOT_SLOTS * perSlot)
    WriterLock.place(control.buffer, SnapArea.MUTEX)
    // Version 1 in slot 1, published directly (nobody else can see the store yet).
    const meta = SnapArea.META + 1 * SlotInfo.BYTES
    new Uint8Array(data, 0, dataLength).set(bytes, words[meta / 4 + SlotInfo.OFFSET]!)
    f64[meta / 8 + SlotInfo.VERSION] = 1
    f64[meta / 8 + SlotInfo.TIMESTAMP] = wallNow()
    words[meta / 4 + SlotInfo.LENGTH] = bytes.length
    words[meta / 4 + SlotInfo.FLAGS] = flags
    f64[SnapF64.PUBLISHES] = 1
    f64[SnapF64.BYTES_PUBLISHED] = bytes.length
    Atomics.store(words, SnapWord.PUB, 1)
    const handle: SnapshotStoreHandle<T> = { ...makeHandle('SnapshotStore', control, domainOf().buffer), data }
    return new SnapshotStore<T>(handle, validator, writeTimeoutMs)
  }

  /**
   * Rebuilds a store from its handle, in any thread. A `validate` schema is
   * not carried by the handle: pass it again to validate publishes here too.
   * @throws HandleError if the handle is invalid
   * @throws OptionError for a bad `writeTimeoutMs`
   */
  static attach<T = unknown>(
    handle: SnapshotStoreHandle<T>,
    options: { readonly validate?: StandardSchemaV1<T>; readonly writeTimeoutMs?: number } = {},
  ): SnapshotStore<T> {
    const writeTimeoutMs = writeTimeoutOf(options.writeTimeoutMs)
    const validator = checkValidator(options.validate) as StandardSchemaV1<T> | undefined
    return attaching('SnapshotStore', () => {
      const checked = checkHandle(handle, 'SnapshotStore', CONTROL_BYTES) as SnapshotStoreHandle<T>
      const data = (checked as { data?: unknown }).data
      // Growable, or fixed-length for a small store (memory/growable.ts): checkSlots bounds every
      // region by what this buffer is or may grow to, whichever it is.
      if (!(data instanceof SharedArrayBuffer)) {
        throw new HandleError(`Expected a SnapshotStore handle whose \`data\` is a SharedArrayBuffer, got ${describe(data)}`)
      }
      checkSlots(checked, data)
      domainOf(checked.domain)
      return new SnapshotStore<T>(checked, validator, writeTimeoutMs)
    })
  }

  // ---- reading --------------------------------------------------------------

  /**
   * The latest snapshot, deep-frozen. The same object until a new version is
   * published: an unchanged snapshot costs one atomic load.
   */
  get(): DeepReadonly<T> {
    if (Atomics.load(this.words, PUB) === this.cachedPub && this.cached !== undefined) return this.cached.value
    return this.refresh().value
  }

  /** The latest snapshot with its version, timestamp and source. */
  latest(): Snapshot<T> {
    if (Atomics.load(this.words, PUB) === this.cachedPub && this.cached !== undefined) return this.cached
    return this.refresh()
  }

  /** Version of the latest snapshot. */
  get version(): number {
    const version = this.versions.read(this.slotVersion, SNAPSHOT_MAX_RETRIES)
    if (version === RETRY) throw starved()
    return version
  }

  /** Copy step of {@link version}: the version in slot `p`. */
  private readonly slotVersion = (p: number): number => this.f64[metaOf(p) / 8 + SlotInfo.VERSION]!

  /** Copies, checks and decodes the latest snapshot into this thread's cache. */
  private refresh(): Snapshot<T> {
    const own = this.own
    if (own !== undefined) {
      this.own = undefined
      if (Atomics.load(this.words, PUB) === own.pub) {
        // Still the latest, and this thread's own: no copy, no decode (no DECODES count).
        const value = freezeTree(own.tree) as DeepReadonly<T>
        this.cached = { value, version: own.version, timestamp: own.timestamp, source: this.sources.name(own.source) }
        this.cachedPub = own.pub
        return this.cached
      }
    }
    const copied = this.ring.read(this.copySlot, SNAPSHOT_MAX_RETRIES, this.retries)
    if (copied === RETRY) throw starved()
    // The copy is whole: decode the private bytes.
    const value = decodeFrozen(this.scratch.subarray(0, copied.length), copied.flags) as DeepReadonly<T>
    Atomics.add(this.words, SnapWord.DECODES, 1)
    this.cached = { value, version: copied.version, timestamp: copied.timestamp, source: this.sources.name(copied.source) }
    this.cachedPub = this.ring.pub
    return this.cached
  }

  /**
   * Copy step of {@link refresh}: slot `p`'s metadata and bytes into the
   * private scratch buffer. Metadata read while a writer re-homes the slot can
   * be nonsense (an offset past the end): then RETRY.
   */
  private readonly copySlot = (p: number): CopiedSlot | typeof RETRY => {
    const words = this.words
    const f64 = this.f64
    const meta = metaOf(p)
    const version = f64[meta / 8 + SlotInfo.VERSION]!
    const timestamp = f64[meta / 8 + SlotInfo.TIMESTAMP]!
    const offset = words[meta / 4 + SlotInfo.OFFSET]!
    const length = words[meta / 4 + SlotInfo.LENGTH]!
    const source = words[meta / 4 + SlotInfo.SOURCE]!
    const flags = words[meta / 4 + SlotInfo.FLAGS]!
    if (offset + length > this.data.length) this.data = fixedView(this.handle.data) // grown since
    if (offset < 0 || length < 0 || offset + length > this.data.length) return RETRY
    if (this.scratch.length < length) this.scratch = new Uint8Array(Math.max(length, this.scratch.length * 2))
    this.scratch.set(this.data.subarray(offset, offset + length))
    return { version, timestamp, length, source, flags }
  }

  // ---- writing --------------------------------------------------------------

  /**
   * Validates, encodes and publishes `value` as the next version.
   * @returns the new version
   * @throws EncodeError naming the path of a value that cannot be stored
   * @throws ValidationError if the store's `validate` schema refuses it
   * @throws CapacityError if it does not fit in `maxBytes`
   * @throws TimeoutError if another writer held the store for `writeTimeoutMs`
   */
  publish(value: T | DeepReadonly<T>, options?: PublishOptions): number {
    const checked = this.validator ? validateWith(this.validator, value, 'SnapshotStore') : value
    const encoded = this.encode(checked)
    this.writer.lock()
    try {
      return this.publishLocked(encoded, options?.source)
    } finally {
      this.writer.unlock()
    }
  }

  /**
   * Async form of {@link publish}: validates and encodes `value`, then waits
   * for the writers' lock without blocking the event loop (at most
   * `timeoutMs`, default `writeTimeoutMs`), so a supervising thread sees a
   * dead writer's exit and takes the lock over.
   * @returns the new version
   * @throws TimeoutError if another writer held the store all that time
   * @throws the signal's reason when aborted (nothing published)
   */
  async publishAsync(value: T | DeepReadonly<T>, options?: PublishOptions & AsyncWaitOptions): Promise<number> {
    const checked = this.validator ? validateWith(this.validator, value, 'SnapshotStore') : value
    const encoded = this.encode(checked)
    await this.writer.lockAsync(options)
    try {
      return this.publishLocked(encoded, options?.source)
    } finally {
      this.writer.unlock()
    }
  }

  /**
   * Serialized read-modify-write: `fn` gets the latest snapshot (frozen) and
   * returns the next one, while other writers wait.
   * @returns the new version
   */
  modify(fn: (previous: DeepReadonly<T>) => T | DeepReadonly<T>, options?: PublishOptions): number {
    this.writer.lock()
    try {
      const next = fn(this.get())
      const checked = this.validator ? validateWith(this.validator, next, 'SnapshotStore') : next
      return this.publishLocked(this.encode(checked), options?.source)
    } finally {
      this.writer.unlock()
    }
  }

  /**
   * A throttling publisher: offer every tick's state, and it publishes every
   * `everyTicks` offers, on a `significant` change, and never more often than
   * `minIntervalMs` (seed 004's "every N ticks or on significant change").
   */
  publisher(options: PublisherOptions<T>): Publisher<T> {
    return new Publisher<T>((value) => this.publish(value), () => this.get(), options)
  }

  /** Encodes a value to publish, guessing its size from the last one (encodeWithFlags's `small`). */
  private encode(value: unknown): Encoded {
    const encoded = encodeWithFlags(value, this.smallValues)
    this.smallValues = isMapsForm(encoded.bytes)
    return encoded
  }

  /**
   * Publishes encoded bytes as version `at.version` (default: the next) with
   * `at.timestamp` (default: now). Lock held.
   */
  private publishLocked(
    { bytes, flags, tree }: { readonly bytes: Uint8Array; readonly flags: number; readonly tree?: object | undefined },
    source: string | undefined,
    at?: { readonly version: number; readonly timestamp: number; readonly sourceId: number },
  ): number {
    const words = this.words
    const f64 = this.f64
    const sourceId = at !== undefined ? at.sourceId : source === undefined ? 0 : this.sources.intern(source, 'SnapshotStore')
    const ring = this.ring
    const latest = f64[metaOf(ring.published()) / 8 + SlotInfo.VERSION]!
    const meta = metaOf(ring.nextSlot())
    let offset = words[meta / 4 + SlotInfo.OFFSET]!
    const capacity = words[meta / 4 + SlotInfo.CAPACITY]!
    if (bytes.length > capacity || capacity === 0) offset = this.rehome(meta, bytes.length, capacity)
    if (this.data.length < offset + bytes.length) this.data = fixedView(this.handle.data)
    this.data.set(bytes, offset)
    const version = at !== undefined ? at.version : latest + 1
    const timestamp = at !== undefined ? at.timestamp : wallNow()
    f64[meta / 8 + SlotInfo.VERSION] = version
    f64[meta / 8 + SlotInfo.TIMESTAMP] = timestamp
    words[meta / 4 + SlotInfo.LENGTH] = bytes.length
    words[meta / 4 + SlotInfo.SOURCE] = sourceId
    words[meta / 4 + SlotInfo.FLAGS] = flags
    f64[SnapF64.PUBLISHES]!++
    f64[SnapF64.BYTES_PUBLISHED]! += bytes.length
    this.sources.count(sourceId)
    ring.publish()
    this.own = tree === undefined ? undefined : { tree, pub: ring.published(), version, timestamp, source: sourceId }
    return version
  }

  /**
   * Gives slot `meta` (the next to be written) a region of at least `needed`
   * bytes where no other slot's is, growing the data buffer; when no gap is
   * large enough, the other slots first give up the bytes beyond their
   * snapshots, then the two older snapshots their regions (FLOOR raised
   * first: `layout.ts` says why no reader is hurt). The latest snapshot's
   * region is never taken.
   * @throws CapacityError if even then no gap is large enough
   */
  private rehome(meta: number, needed: number, capacity: number): number {
    const words = this.words
    const maxBytes = this.maxBytes
    const minimum = roundUp(needed)
    let size = roundUp(Math.max(needed, capacity * 2))
    let at = findGap(this.takenRegions(meta), size, maxBytes, 'low')
    if (at < 0) {
      size = minimum
      at = findGap(this.takenRegions(meta), size, maxBytes, 'low')
    }
    if (at < 0) {
      for (let k = 0; k < SNAPSHOT_SLOTS; k++) {
        const other = SnapArea.META + k * SlotInfo.BYTES
        if (other !== meta) words[other / 4 + SlotInfo.CAPACITY] = roundUp(words[other / 4 + SlotInfo.LENGTH]!)
      }
      at = findGap(this.takenRegions(meta), size, maxBytes, 'ends')
      const latest = this.ring.published()
      for (let back = SNAPSHOT_SLOTS - 2; at < 0 && back >= 1; back--) {
        const pub = (latest - back) | 0
        if (((words[SnapWord.FLOOR]! - pub) | 0) <= 0) this.ring.retire((pub + 1) | 0)
        words[metaOf(pub) / 4 + SlotInfo.CAPACITY] = 0
        at = findGap(this.takenRegions(meta), size, maxBytes, 'ends')
      }
    }
    if (at < 0) {
      const latestBytes = words[metaOf(this.ring.published()) / 4 + SlotInfo.LENGTH]!
      throw new CapacityError(
        `Expected a snapshot that fits in maxBytes ${maxBytes} beside the latest one (${latestBytes} bytes, which readers may be copying), got one of ${needed} bytes encoded`,
      )
    }
    return this.place(meta, at, size)
  }

  /** The regions of every slot but `meta`. */
  private takenRegions(meta: number): Extent[] {
    const words = this.words
    const taken: Extent[] = []
    for (let k = 0; k < SNAPSHOT_SLOTS; k++) {
      const other = SnapArea.META + k * SlotInfo.BYTES
      const capacity = words[other / 4 + SlotInfo.CAPACITY]!
      if (other === meta || capacity === 0) continue
      const offset = words[other / 4 + SlotInfo.OFFSET]!
      taken.push({ offset, end: offset + capacity })
    }
    return taken
  }

  /** Gives slot `meta` the region `[at, at + size)`. Offset before capacity: see regions.ts. */
  private place(meta: number, at: number, size: number): number {
    const data = this.handle.data
    if (data.byteLength < at + size) data.grow(Math.min(this.maxBytes, Math.max(at + size, data.byteLength * 2)))
    const words = this.words
    words[meta / 4 + SlotInfo.OFFSET] = at
    words[meta / 4 + SlotInfo.CAPACITY] = size
    if (at + size > words[SnapWord.END]!) Atomics.store(words, SnapWord.END, at + size)
    Atomics.add(words, SnapWord.GROWS, 1)
    return at
  }

  // ---- waiting ----------------------------------------------------------------

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
   * Async iteration over new snapshots (coalescing: each event is the latest
   * at the time; `skipped` says how many versions were passed over). Ends on
   * `break` or when `signal` aborts. Keeps a Node process alive while it
   * waits (a subscription is work in progress).
   */
  async *subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<SnapshotEvent<T>, void, undefined> {
    checkWaitOptions(options)
    const { signal } = options
    let last = this.version
    for (;;) {
      try {
        await this.waitForVersionAsync(last + 1, signal ? { signal } : {})
      } catch (error) {
        if (signal?.aborted) return
        throw error
      }
      const snapshot = this.latest()
      const skipped = snapshot.version - last - 1
      last = snapshot.version
      yield { ...snapshot, skipped }
    }
  }

  // ---- stats --------------------------------------------------------------------

  /** Figures summed over every thread. */
  stats(): SnapshotStoreStats {
    const latest = this.latest()
    const words = this.words
    const f64 = this.f64
    const meta = metaOf(Atomics.load(words, PUB))
    return {
      version: latest.version,
      publishes: f64[SnapF64.PUBLISHES]!,
      bytesPublished: f64[SnapF64.BYTES_PUBLISHED]!,
      lastBytes: words[meta / 4 + SlotInfo.LENGTH]!,
      dataBytes: this.handle.data.byteLength,
      maxBytes: this.maxBytes,
      grows: Atomics.load(words, SnapWord.GROWS),
      decodes: Atomics.load(words, SnapWord.DECODES),
      lastPublishAgeMs: wallNow() - latest.timestamp,
      sources: this.sources.counts(),
      writersDied: Atomics.load(words, SnapWord.WRITERS_DIED),
      readRetries: Atomics.load(words, SnapWord.READ_RETRIES),
      longestRetryStreak: Atomics.load(words, SnapWord.LONGEST_RETRY_STREAK),
    }
  }
}

/** What {@link SnapshotStore.refresh} copied from a slot (its bytes are in the scratch buffer). */
interface CopiedSlot {
  readonly version: number
  readonly timestamp: number
  readonly length: number
  readonly source: number
  readonly flags: number
}

/**
 * Checks, on attach, what reads and publishes rely on: 4 slots, FLOOR not
 * past PUB (else no copy is ever accepted and `version` would spin), and
 * every slot's region and snapshot inside what the data buffer may grow to.
 * A forged or scribbled store is refused with HandleError.
 *
 * A writer may be publishing meanwhile (moving a slot's region, naming a
 * new source), so the fields are read in the order the writer sets them
 * (FLOOR before PUB, a slot's source before the count of names); FLOOR may
 * be PUB + 1 (a publish that retired the oldest slot and has not yet moved
 * PUB, or whose writer died there: the next publish moves PUB); and a
 * problem is reported only if it is still there after
 * {@link CHECK_MS}: a state half written by a publish in progress (its
 * thread preempted, on a busy machine) passes once the publish is done.
 */
function checkSlots(handle: SnapshotStoreHandle, data: SharedArrayBuffer): void {
  let deadline = 0
  for (;;) {
    const problem = slotsProblem(handle, data)
    if (problem === '') return
    if (deadline === 0) deadline = now() + CHECK_MS
    else if (now() > deadline) {
      throw new HandleError(`Expected a SnapshotStore handle pointing at a well-formed store, got memory whose ${problem}: the handle is forged or the memory scribbled`)
    }
  }
}

/** How long {@link checkSlots} looks again at a problem before it refuses a store (ms). */
const CHECK_MS = 100

/** What is wrong with the store's memory as read now, or ''. */
function slotsProblem(handle: SnapshotStoreHandle, data: SharedArrayBuffer): string {
  const words = new Int32Array(handle.buffer, handle.byteOffset, CONTROL_BYTES / 4)
  const slots = Atomics.load(words, SnapWord.SLOTS)
  if (slots !== SNAPSHOT_SLOTS) return `ring has ${slots} slots`
  const floor = Atomics.load(words, SnapWord.FLOOR)
  const pub = Atomics.load(words, PUB)
  if (((floor - pub) | 0) > 1) return `FLOOR ${floor} is past PUB ${pub} + 1`
  const end = Atomics.load(words, SnapWord.END)
  if (end < 0 || end > data.maxByteLength) return `END is ${end} (maxBytes ${data.maxByteLength})`
  for (let k = 0; k < SNAPSHOT_SLOTS; k++) {
    const meta = (SnapArea.META + k * SlotInfo.BYTES) / 4
    const offset = words[meta + SlotInfo.OFFSET]!
    const capacity = words[meta + SlotInfo.CAPACITY]!
    const length = words[meta + SlotInfo.LENGTH]!
    const source = words[meta + SlotInfo.SOURCE]!
    const sources = Atomics.load(words, SnapWord.SOURCES_USED)
    if (sources < 0 || sources > Source.MAX) return `source table holds ${sources} names`
    if (source < 0 || source > sources) return `slot ${k} names source ${source} of ${sources}`
    if (offset < 0 || capacity < 0 || length < 0 || offset + capacity > data.maxByteLength || offset + length > data.byteLength) {
      return `slot ${k} has a region at ${offset} of ${capacity} bytes holding ${length} (data buffer ${data.byteLength} of at most ${data.maxByteLength} bytes)`
    }
  }
  return ''
}

/** A read that never got a whole copy (a writer lapping the ring every time, or scribbled memory). */
function starved(): ThreadstateError {
  return new ThreadstateError(
    `Expected a consistent copy of the snapshot within ${SNAPSHOT_MAX_RETRIES} retries, got the writer lapping ${SNAPSHOT_SLOTS} slots during every copy`,
  )
}

/** Byte offset of the metadata of the slot PUB value `p` points at. */
function metaOf(p: number): number {
  return SnapArea.META + (p & (SNAPSHOT_SLOTS - 1)) * SlotInfo.BYTES
}
