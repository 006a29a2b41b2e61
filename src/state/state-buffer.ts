/**
 * StateBuffer: a typed, versioned state that writers publish and any number
 * of readers read without locks and without ever seeing a torn value. Layout
 * and protocol: `layout.ts`; the read paths: `view.ts`.
 *
 * @module
 */
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import type { WritableState } from '../contracts.js'
import { HandleError, OptionError, describe } from '../errors.js'
import { wallNow } from '../memory/clock.js'
import { allocateRegion, attaching, checkHandle, copyHandle, makeHandle, type Handle } from '../memory/handle.js'
import { domainOf } from '../memory/thread.js'
import { WriterLock, writeTimeoutOf } from '../sync/writer-lock.js'
import { waitForVersion, waitForVersionAsync, type VersionWords } from '../sync/version-wait.js'
import { codecOf, fingerprintOf, type Codec, type FlatField } from './codec.js'
import { SlotMeta, StateArea, StateF64, StateWord, stateBytes } from './layout.js'
import { StateReader, type ReaderOptions, type StateEntry } from './reader.js'
import { schema as makeSchema, type Infer, type Input, type Schema } from './schema.js'
import { StateView } from './view.js'

/** Most ring slots (a history of 65,535 versions). */
const MAX_SLOTS = 65536

/** Handle of a {@link StateBuffer}: a plain handle that also carries the schema. */
export interface StateBufferHandle<S extends Schema = Schema> extends Handle<'StateBuffer'> {
  /** The schema the buffer was made with. */
  readonly schema: S
}

/** Options of {@link StateBuffer.create}. */
export interface StateBufferOptions {
  /**
   * Versions kept for `history()` / `at()` / `subscribe({ mode: 'every' })`,
   * at least. The ring has one slot per version kept plus one for the
   * publish in progress, rounded up to a power of two (4 at least), so
   * `stats().historyCapacity` is that power of two minus one: `history: 16`
   * keeps 31, `history: 32` keeps 63, `history: 31` keeps 31.
   * @default 16
   */
  readonly history?: number
  /**
   * How long a `publish` in this thread waits for the buffer's writers' lock
   * (another writer's publish) before it throws `TimeoutError`; finite, so a
   * write never hangs for ever. `publishAsync` waits without blocking.
   * @default 10_000 (DEFAULT_WRITE_TIMEOUT_MS)
   */
  readonly writeTimeoutMs?: number
}

/** Options of {@link StateBuffer.attach}. */
export interface StateBufferAttachOptions {
  /** As {@link StateBufferOptions.writeTimeoutMs}, for this thread's buffer object. @default 10_000 */
  readonly writeTimeoutMs?: number
}

/** Options of {@link StateBuffer.publish}. */
export interface StatePublishOptions {
  /** Who publishes (interned: at most 8 distinct names of <= 20 UTF-8 bytes per buffer). */
  readonly source?: string
  /** Publication time in ms since the epoch; default: now (a ~40 ns clock read). */
  readonly timestamp?: number
}

/** An event of {@link StateBuffer.subscribe}. */
export interface StateEvent<T> extends StateEntry<T> {
  /** Versions between the previous event and this one that were not delivered. */
  readonly skipped: number
  /** In `every` mode: the subscriber fell further behind than the ring holds. */
  readonly overrun: boolean
}

/** Options of {@link StateBuffer.subscribe}. */
export interface SubscribeOptions {
  /** Ends the iteration (without an error). */
  readonly signal?: AbortSignal
  /**
   * `latest`: one event per wake-up with the newest state (coalescing, reports
   * `skipped`). `every`: each version in order from the ring (reports
   * `overrun` when versions were lost).
   * @default 'latest'
   */
  readonly mode?: 'latest' | 'every'
}

/** Figures of a StateBuffer, summed over every thread. */
export interface StateBufferStats {
  /** Latest version. */
  readonly version: number
  /** Updates published. */
  readonly updates: number
  /** Reads by every reader (`readInto`, `read`, `latest`). */
  readonly reads: number
  /** Reads of a version the reader had not read before. */
  readonly freshReads: number
  /** Reads older than the reader's `maxAgeMs`. */
  readonly staleReads: number
  /** Copies retried because the writer lapped them (every retry, all threads). */
  readonly readRetries: number
  /** Most retries one read needed. */
  readonly longestRetryStreak: number
  /** Updates per second over the versions in the ring (falling while the writers are silent). */
  readonly updateRateHz: number
  /** Age of the latest state, in ms (NaN before the first publish). */
  readonly lastUpdateAgeMs: number
  /** Updates per source name. */
  readonly sources: Readonly<Record<string, number>>
  /** Updates that found the previous writer dead mid-update (and recovered). */
  readonly writersDied: number
  /** Versions `history()` can return. */
  readonly historyCapacity: number
}

// Module-level primitives for the publish path (a property of an imported
// object is a lookup on every use).
const PUB = StateWord.PUB
const WAITERS = StateWord.WAITERS
const VERSION = SlotMeta.VERSION
const TIMESTAMP = SlotMeta.TIMESTAMP
const SOURCE = SlotMeta.SOURCE
const PAYLOAD = SlotMeta.WORDS
const UPDATES = StateF64.UPDATES

/** The writing side of a buffer used as the mirror of a remote one (threadstate/redis). */
export interface StateMirror {
  /** The buffer's codec (validates and flattens states). */
  readonly codec: Codec
  /**
   * Publishes a flat state as `version` with the remote publication's
   * timestamp and source, if the buffer holds an older version; a version
   * more than one ahead jumps (the versions between are not in the history).
   * @returns whether it published
   */
  publishAt(version: number, state: Float64Array, timestamp: number, source: string | undefined): boolean
}

/**
 * The mirror role of a buffer (threadstate/redis): versions assigned
 * elsewhere. Not exported from the package. Assigned by StateBuffer's
 * static block.
 */
export let stateMirrorOf: (buffer: StateBuffer<Schema>) => StateMirror

/** A generated write of a slot (`StateView.compileWrite`): `(state, pub, timestamp) => version`. */
type SlotWrite = (s: Float64Array, pub: number, ts: number) => number

/**
 * A typed, versioned state shared between threads: the estimator publishes,
 * controllers read at 1 kHz. Readers take no lock and never block the
 * writer; no read ever returns a torn state; a writer terminated mid-publish
 * never stalls readers (they keep the last complete version). Several writers
 * are serialized by a writer lock (a Mutex in the buffer's memory).
 *
 * @example
 * ```ts
 * const buf = StateBuffer.create(Drone, { history: 16 })
 * buf.publish(state, { source: 'estimator' })        // -> version
 * const r = buf.reader({ maxAgeMs: 20 })
 * const { value, fresh, stale } = r.read()!
 * new Worker(url, { workerData: { drone: buf.handle } })
 * // in the worker: StateBuffer.attach(workerData.drone, Drone)
 * ```
 */
export class StateBuffer<S extends Schema = Schema> implements WritableState<S> {
  /** The structured-cloneable handle (it carries the schema). */
  readonly handle: StateBufferHandle<S>
  /** The schema. */
  readonly schema: S
  private readonly view: StateView
  private readonly codec: Codec
  private readonly writer: WriterLock
  private readonly versionWords: VersionWords
  private readonly scratch: Float64Array
  private readonly latestScratch: Float64Array
  /** The locked parts of {@link publish} and {@link publishFrom}, generated on first use (`StateView.compileWrite`). */
  private writeState: SlotWrite | undefined = undefined
  private writeFlat: SlotWrite | undefined = undefined
  private lastLatest = 0

  static {
    stateMirrorOf = (buffer) => ({
      codec: buffer.codec,
      publishAt(version, state, timestamp, source) {
        const view = buffer.view
        const ring = view.ring
        buffer.writer.lock()
        try {
          const f = view.f64
          const latest = f[view.slotOf(ring.published()) + VERSION]!
          if (version <= latest) return false
          let sourceId = 0
          if (source !== undefined) {
            try {
              sourceId = view.sources.intern(source, 'StateBuffer')
            } catch {
              // More distinct sources than a buffer keeps names for, across processes: published unnamed.
            }
          }
          const base = view.slotOf(ring.nextSlot())
          f[base + VERSION] = version
          f[base + TIMESTAMP] = timestamp
          f[base + SOURCE] = sourceId
          f.set(state, base + PAYLOAD)
          f[UPDATES]!++
          view.sources.count(sourceId)
          // A jump over versions the remote source no longer has: the new
          // version goes to the next slot all the same (the ring's write
          // order is what keeps reads whole), and DELTA says where it is.
          if (version !== latest + 1) Atomics.store(view.words, StateWord.DELTA, (version - ring.published() - 1) | 0)
          ring.publish()
          return true
        } finally {
          buffer.writer.unlock()
        }
      },
    })
  }

  private constructor(handle: StateBufferHandle<S>, codec: Codec, writeTimeoutMs: number) {
    this.handle = handle
    this.schema = handle.schema
    this.codec = codec
    const domain = domainOf(handle.domain)
    this.view = new StateView(handle.buffer, handle.byteOffset, handle.byteLength, codec, domain)
    // A writer that died mid-publish left a slot that was never published and
    // is rewritten in full by the next publish: nothing to repair but the count.
    this.writer = new WriterLock(
      handle.buffer,
      handle.byteOffset + StateArea.MUTEX,
      handle.domain,
      () => {
        Atomics.add(this.view.words, StateWord.WRITERS_DIED, 1)
      },
      'StateBuffer',
      writeTimeoutMs,
    )
    this.scratch = new Float64Array(codec.size)
    const view = this.view
    this.versionWords = { words: view.words, pub: PUB, waiters: WAITERS, latestVersion: () => view.latestVersion() }
    this.latestScratch = new Float64Array(codec.size)
  }

  /** Creates an empty buffer (no version yet) for states of `schema`. */
  static create<S extends Schema>(schema: S, options: StateBufferOptions = {}): StateBuffer<S> {
    const history = options.history ?? 16
    if (!Number.isInteger(history) || history < 1 || history > MAX_SLOTS - 1) {
      throw new OptionError(`Expected \`history\` to be an integer from 1 to ${MAX_SLOTS - 1}, got ${describe(history)}`)
    }
    const writeTimeoutMs = writeTimeoutOf(options.writeTimeoutMs)
    const codec = codecOf(schema)
    let slots = 4
    while (slots < history + 1) slots *= 2
    const region = allocateRegion('StateBuffer', stateBytes(slots, codec.size))
    const words = new Int32Array(region.buffer)
    Atomics.store(words, StateWord.SLOTS, slots)
    Atomics.store(words, StateWord.SIZE, codec.size)
    Atomics.store(words, StateWord.HASH, codec.hash)
    WriterLock.place(region.buffer, StateArea.MUTEX)
    const handle = { ...makeHandle('StateBuffer', region, domainOf().buffer), schema: structuredClone(schema) }
    return new StateBuffer(handle, codec, writeTimeoutMs)
  }

  /**
   * Rebuilds a buffer from its handle, in any thread. With `schema`, checks
   * that it is the schema the buffer was made with.
   * @throws HandleError if the handle is invalid or the schema differs
   * @throws OptionError for a bad `writeTimeoutMs`
   */
  static attach<S extends Schema>(handle: StateBufferHandle<S>, schema?: S, options: StateBufferAttachOptions = {}): StateBuffer<S> {
    const writeTimeoutMs = writeTimeoutOf((options as StateBufferAttachOptions | null)?.writeTimeoutMs)
    return attaching('StateBuffer', () => StateBuffer.attachChecked(handle, schema, writeTimeoutMs))
  }

  /** {@link attach} after its options: checks run on a plain copy of the handle (memory/handle.ts). */
  private static attachChecked<S extends Schema>(handle: StateBufferHandle<S>, schema: S | undefined, writeTimeoutMs: number): StateBuffer<S> {
    if (typeof handle !== 'object' || handle === null) throw new HandleError(`Expected a StateBuffer handle carrying its schema, got ${describe(handle)}`)
    const h = copyHandle(handle, 'StateBuffer') as Partial<StateBufferHandle<S>>
    if (typeof h.schema !== 'object' || h.schema === null) {
      throw new HandleError(`Expected a StateBuffer handle carrying its schema, got ${describe(handle)}`)
    }
    let codec: Codec
    try {
      codec = codecOf(makeSchema(h.schema.shape as S['shape']))
    } catch (error) {
      throw new HandleError(`Expected a StateBuffer handle carrying a valid schema, got: ${(error as Error).message}`)
    }
    // The ring length is in memory; read it only where a header can be, and let
    // checkHandle report anything else.
    const offset = h.byteOffset
    const readable =
      h.buffer instanceof SharedArrayBuffer && typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 &&
      offset % 8 === 0 && offset + StateArea.MUTEX <= h.buffer.byteLength
    const slots = readable ? Atomics.load(new Int32Array(h.buffer as SharedArrayBuffer, offset, 8), StateWord.SLOTS) : 0
    // The ring protocol needs S a power of two >= 4 (a lag bound of S - 2 >= 2;
    // with S = 1 no copy is ever whole and `version` would spin).
    if (readable && !(slots >= 4 && slots <= MAX_SLOTS && (slots & (slots - 1)) === 0)) {
      throw new HandleError(`Expected a StateBuffer handle pointing at a ring of 4 to ${MAX_SLOTS} slots (a power of two), got memory saying ${slots}: the handle is forged or the memory scribbled`)
    }
    const checked = checkHandle(h, 'StateBuffer', stateBytes(slots, codec.size)) as StateBufferHandle<S>
    if (Atomics.load(new Int32Array(checked.buffer, checked.byteOffset, 16), StateWord.HASH) !== codec.hash) {
      throw new HandleError('Expected a StateBuffer handle whose schema matches its memory, got a different schema')
    }
    if (schema !== undefined) {
      const expected = fingerprintOf(schema)
      if (expected !== codec.fingerprint) {
        throw new HandleError(
          `Expected a StateBuffer of the given schema, got one of another schema (expected ${expected.slice(0, 120)}, got ${codec.fingerprint.slice(0, 120)})`,
        )
      }
    }
    return new StateBuffer(checked, codec, writeTimeoutMs)
  }

  /** Float64 words of one flat state (the length `readInto` needs). */
  get size(): number {
    return this.codec.size
  }

  /** The flat layout: each field's path, offset and length in `readInto`'s array. */
  get fields(): readonly FlatField[] {
    return this.codec.fields
  }

  /**
   * Validates `state` and publishes it as the next version. Nothing shared is
   * touched if it is invalid.
   * @returns the new version (strictly increasing; 1 for the first publish)
   * @throws SchemaError naming the field, if `state` does not match the schema
   * @throws TimeoutError if another writer held the buffer for `writeTimeoutMs`
   */
  publish(state: Input<S>, options?: StatePublishOptions): number {
    this.codec.validateInto(state, this.scratch)
    const timestamp = options === undefined || options.timestamp === undefined ? wallNow() : options.timestamp
    if (!Number.isFinite(timestamp)) throw new OptionError(`Expected \`timestamp\` to be a finite number, got ${describe(timestamp)}`)
    const source = options?.source
    const write = this.writeState ?? this.compileWrite(false)
    this.writer.lock()
    return this.publishLocked(write, this.scratch, timestamp, source)
  }

  /**
   * The fast write, the counterpart of `reader.readInto`: publishes a state
   * already flat (layout order and the fields' units: see {@link fields}) as
   * the next version. No object walk and no unit conversion: one unrolled
   * pass checks every word (finite, integer kinds, float32 range, min/max,
   * booleans 0 or 1, enum indexes) as it copies it into the next slot,
   * under the writers' lock, each word read once (a `flat` in shared memory
   * that another thread changes meanwhile cannot slip an unchecked word
   * in). Nothing is published if a word is refused.
   *
   * @example
   * ```ts
   * const flat = new Float64Array(buffer.size)
   * flat[0] = x; flat[1] = y; // ... the estimator's output, in layout order
   * buffer.publishFrom(flat, { timestamp: t })
   * ```
   * @returns the new version
   * @throws OptionError if `flat` is not a Float64Array of at least {@link size} words, or `timestamp` is not finite
   * @throws SchemaError naming the field and its flat word, if a word is refused
   * @throws TimeoutError if another writer held the buffer for `writeTimeoutMs`
   */
  publishFrom(flat: Float64Array, options?: StatePublishOptions): number {
    if (!(flat instanceof Float64Array) || flat.length < this.codec.size) {
      throw new OptionError(`Expected a Float64Array of at least ${this.codec.size} words (buffer.size), got ${flat instanceof Float64Array ? `${flat.length} words` : describe(flat)}`)
    }
    const timestamp = options === undefined || options.timestamp === undefined ? wallNow() : options.timestamp
    if (!Number.isFinite(timestamp)) throw new OptionError(`Expected \`timestamp\` to be a finite number, got ${describe(timestamp)}`)
    const write = this.writeFlat ?? this.compileWrite(true)
    this.writer.lock()
    return this.publishLocked(write, flat, timestamp, options?.source)
  }

  /**
   * Async form of {@link publish}: waits for the writers' lock without
   * blocking the event loop (at most `timeoutMs`, default `writeTimeoutMs`),
   * so a supervising thread sees a dead writer's exit and takes the lock
   * over. `state` is validated and copied before the wait.
   * @returns the new version
   * @throws SchemaError naming the field, if `state` does not match the schema
   * @throws TimeoutError if another writer held the buffer all that time
   * @throws the signal's reason when aborted (nothing published)
   */
  async publishAsync(state: Input<S>, options?: StatePublishOptions & AsyncWaitOptions): Promise<number> {
    const flat = new Float64Array(this.codec.size)
    this.codec.validateInto(state, flat)
    const timestamp = options === undefined || options.timestamp === undefined ? undefined : options.timestamp
    if (timestamp !== undefined && !Number.isFinite(timestamp)) {
      throw new OptionError(`Expected \`timestamp\` to be a finite number, got ${describe(timestamp)}`)
    }
    const write = this.writeState ?? this.compileWrite(false)
    await this.writer.lockAsync(options)
    return this.publishLocked(write, flat, timestamp ?? wallNow(), options?.source)
  }

  /**
   * The end of every publish, called holding the writers' lock (and
   * releasing it): `write` (a generated write, `StateView.compileWrite`)
   * fills the next slot from `from`, then PUB moves on, the lock is
   * released, and sleepers are woken (VersionRing.wakeAfterRelease). If
   * `write` throws (publishFrom refusing a word), nothing is published, and
   * nothing is counted or interned: the source is interned after the write.
   */
  private publishLocked(write: SlotWrite, from: Float64Array, timestamp: number, source: string | undefined): number {
    const view = this.view
    const ring = view.ring
    let version: number
    try {
      const pub = ring.published()
      version = write(from, pub, timestamp)
      const sourceId = source === undefined ? 0 : view.sources.intern(source, 'StateBuffer')
      const f = view.f64
      f[view.slotOf(pub + 1) + SOURCE] = sourceId
      f[UPDATES]!++
      view.sources.count(sourceId)
      ring.advance(pub)
    } finally {
      this.writer.unlock()
    }
    ring.wakeAfterRelease()
    return version
  }

  /** Generates (once) the write of {@link publish} (`checked` false) or of {@link publishFrom} (true). */
  private compileWrite(checked: boolean): SlotWrite {
    const write = this.view.compileWrite(checked)
    if (checked) this.writeFlat = write
    else this.writeState = write
    return write
  }

  /** The latest state with its metadata; undefined before the first publish. */
  latest(): StateEntry<Infer<S>> | undefined {
    const view = this.view
    const version = view.copyLatest(this.latestScratch)
    if (version === 0) return undefined
    view.count(version !== this.lastLatest, false, view.tries)
    this.lastLatest = version
    return {
      value: this.codec.decode(this.latestScratch, 0) as Infer<S>,
      version,
      timestamp: view.timestamp,
      source: view.sourceName(view.source),
    }
  }

  /** A reader with its own freshness and staleness bookkeeping (one per consumer). */
  reader(options?: ReaderOptions): StateReader<S> {
    return new StateReader<S>(this.view, options)
  }

  /** Version of the latest state (0 before the first publish). */
  get version(): number {
    return this.view.latestVersion()
  }

  /** State `version` if it is still in the ring, else undefined. */
  at(version: number): StateEntry<Infer<S>> | undefined {
    if (!Number.isInteger(version) || version < 1) return undefined
    const view = this.view
    const scratch = new Float64Array(this.codec.size)
    const stamp = view.copyVersion(version, scratch, 0)
    if (stamp === undefined) return undefined
    return { value: this.codec.decode(scratch, 0) as Infer<S>, version, timestamp: stamp.timestamp, source: view.sourceName(stamp.source) }
  }

  /** The last `n` states, newest first; each a consistent copy. */
  history(n = this.view.slots - 1): StateEntry<Infer<S>>[] {
    const out: StateEntry<Infer<S>>[] = []
    let version = this.view.latestVersion()
    const limit = Math.min(n, this.view.slots - 1)
    while (out.length < limit && version >= 1) {
      const entry = this.at(version)
      if (entry === undefined) break // overwritten while we read: older ones are gone too
      out.push(entry)
      version--
    }
    return out
  }

  /**
   * Blocks until the version is at least `version`, at most `timeoutMs`.
   * @returns false on timeout
   */
  waitForVersion(version: number, timeoutMs?: number): boolean {
    return waitForVersion(this.versionWords, version, timeoutMs)
  }

  /**
   * Async form of {@link waitForVersion}: never blocks the event loop, keeps
   * a Node process alive while waiting.
   * @returns false on timeout
   * @throws the signal's reason when aborted
   */
  waitForVersionAsync(version: number, options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    return waitForVersionAsync(this.versionWords, version, options)
  }

  /**
   * Async iteration over new versions (those after the current one). Ends on
   * `break` or when `signal` aborts; keeps a Node process alive meanwhile.
   */
  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<StateEvent<Infer<S>>, void, undefined> {
    checkWaitOptions(options)
    const { signal, mode = 'latest' } = options
    if (mode !== 'latest' && mode !== 'every') {
      throw new OptionError(`Expected \`mode\` to be 'latest' or 'every', got ${describe(mode)}`)
    }
    let last = this.view.latestVersion()
    const capacity = this.view.slots - 1
    for (;;) {
      try {
        await this.waitForVersionAsync(last + 1, signal ? { signal } : {})
      } catch (error) {
        if (signal?.aborted) return
        throw error
      }
      if (mode === 'latest') {
        const entry = this.latest()!
        const skipped = entry.version - last - 1
        last = entry.version
        yield { ...entry, skipped, overrun: false }
        continue
      }
      const newest = this.view.latestVersion()
      let next = last + 1
      while (next <= newest) {
        const entry = this.at(next)
        if (entry !== undefined) {
          yield { ...entry, skipped: 0, overrun: false }
          last = next++
          continue
        }
        // Overwritten before we got to it: go on from the oldest version still in the ring.
        const oldest = Math.max(next + 1, this.view.latestVersion() - capacity + 1)
        const survivor = this.at(oldest)
        if (survivor === undefined) {
          next = oldest
          continue
        }
        yield { ...survivor, skipped: oldest - last - 1, overrun: true }
        last = oldest
        next = oldest + 1
      }
    }
  }

  /** Figures summed over every thread. */
  stats(): StateBufferStats {
    const view = this.view
    const counts = view.readCounts()
    const recent = this.history(view.slots - 1)
    const newest = recent[0]
    const oldest = recent[recent.length - 1]
    const now = wallNow()
    const span = newest && oldest ? newest.timestamp - oldest.timestamp : 0
    let rate = span > 0 ? ((recent.length - 1) * 1000) / span : 0
    // A writer silent for longer than its average gap: the rate is at most
    // one update per silence, so it falls towards 0 as the silence goes on
    // (averaging the silence into the ring's window kept a 100 Hz writer at
    // 17 Hz three seconds after it died, with 64 versions kept).
    const silence = newest ? now - newest.timestamp : 0
    if (recent.length > 1 && silence > span / (recent.length - 1)) rate = Math.min(rate, 1000 / silence)
    const sources = view.sources.counts()
    return {
      version: newest?.version ?? view.latestVersion(),
      updates: view.updates(),
      reads: counts.reads,
      freshReads: counts.fresh,
      staleReads: counts.stale,
      readRetries: counts.retries,
      longestRetryStreak: counts.longestRetryStreak,
      updateRateHz: rate,
      lastUpdateAgeMs: newest ? now - newest.timestamp : Number.NaN,
      sources,
      writersDied: Atomics.load(view.words, StateWord.WRITERS_DIED),
      historyCapacity: view.slots - 1,
    }
  }
}
