/**
 * The reading side of a SharedMap: optimistic reads validated by the map's
 * sequence word (the {@link SeqWord} of `sync/seqlock.ts`, which owns the
 * odd check, the loop and the ARM64 fence), then decoding.
 *
 * A read copies what it needs while writers may be changing the map (the
 * bounds-checked steps of `copy.ts`) and accepts the copy only if SEQ was
 * even and unchanged around it; values are decoded after that, from the
 * private copy. A reader that loses {@link OPTIMISTIC_TRIES} tries in a row
 * reads under the writers' lock, so it is never starved (Linux's
 * `read_seqbegin_or_lock`).
 *
 * @module
 */
import type { SharedMapStats } from './api.js'
import { ThreadstateError } from '../errors.js'
import { atomicMax } from '../memory/atomics.js'
import { RETRY as SEQLOCK_RETRY, type Retry, type SeqWord } from '../sync/seqlock.js'
import type { WriterLock } from '../sync/writer-lock.js'
import { MapCopier, Pending, type Copied } from './copy.js'
import { FROZEN_CACHE_KEYS, FrozenCache } from './frozen-cache.js'
import { ARENA_START, MapF64, MapWord, OPTIMISTIC_TRIES, hashKey } from './layout.js'
import type { MapMemory } from './memory.js'

/**
 * seqlock.ts's RETRY as a constant of this module. Compared with the
 * imported binding, TurboFan (Node 20) loads it from its module cell and
 * calls the generic StrictEqual builtin on the read's hot path (seen with
 * --print-opt-code; ~1-2 ns of a ~40 ns get); a module constant compares by
 * reference, as it did before the map read through seqlock.ts.
 */
const RETRY: Retry = SEQLOCK_RETRY

/** What {@link MapReader.readKey} reads of a key's entry (getFrozen has a loop of its own). */
const Kind = {
  /** The value (get). */
  VALUE: 0,
  /** Whether it is there (has). */
  PRESENT: 1,
  /** Value and version (getEntry). */
  ENTRY: 2,
} as const
type Kind = (typeof Kind)[keyof typeof Kind]

/** The consistent part of a map's figures (the rest are counters read on their own). */
export type TableFigures = Pick<SharedMapStats, 'size' | 'version' | 'writes' | 'tableCapacity' | 'usedBytes' | 'freeBytes'>

/** One thread's reader of one map. */
export class MapReader {
  private readonly ctl: Int32Array
  /** The map's hash seed. */
  private readonly seed: number
  private readonly copy: MapCopier
  /** This thread's frozen values for getFrozen(). */
  private readonly frozen = new FrozenCache(FROZEN_CACHE_KEYS)

  constructor(
    private readonly m: MapMemory,
    private readonly seq: SeqWord,
    private readonly lock: WriterLock,
  ) {
    this.ctl = m.ctl
    this.seed = m.seed
    this.copy = new MapCopier(m)
  }

  /** Counts one lost try (and forgets what it copied). Bound once: passed to every read. */
  private readonly lostTry = (): void => {
    this.copy.rewind()
    Atomics.add(this.ctl, MapWord.READ_RETRIES, 1)
  }

  // ---- one key: get, getFrozen, has, getEntry -------------------------------------------

  /** The value of `key` (a private copy), or undefined. */
  get(key: string): unknown {
    return this.copy.resolve(this.readKey(key, Kind.VALUE))
  }

  /**
   * The value of `key` deep-frozen, shared by every call in this thread until
   * the key is written again: an entry's version is that of the commit that
   * wrote it, and versions only grow, so (key, version) names one value for
   * ever and a cached value is returned only while the map holds that write.
   * Its own copy of {@link readKey}'s loop: through readKey (the cache
   * check as one more kind, its findings in fields) it measured 10-23 %
   * slower than before the split, this way within a few percent.
   */
  getFrozen(key: string): unknown {
    const hash = hashKey(key, this.seed)
    const seq = this.seq
    const copy = this.copy
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s = seq.begin()
      if ((s & 1) === 0) {
        const e = copy.lookup(key, hash)
        let version = 0
        let value: unknown = RETRY
        let hit = false
        if (e === 0) value = undefined
        else if (e > 0) {
          version = copy.version(e)
          const cached = this.frozen.get(key, version)
          if (cached !== undefined) {
            value = cached.value
            hit = true
          } else {
            copy.rewind()
            value = copy.value(e)
          }
        }
        // SEQ unchanged: the entry (and so its version) was the committed one.
        if (value !== RETRY && seq.validate(s)) {
          if (tries > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return hit ? value : this.keepFrozen(key, version, value)
        }
      }
      this.lostTry()
    }
    return this.getFrozenStarved(key, hash)
  }

  /** {@link getFrozen} after {@link OPTIMISTIC_TRIES} lost tries (as {@link readKeyStarved}). */
  private getFrozenStarved(key: string, hash: number): unknown {
    const entry = this.read(() => this.copyKey(key, hash, Kind.ENTRY) as Copied | undefined | Retry, OPTIMISTIC_TRIES)
    return entry === undefined ? undefined : this.keepFrozen(key, entry.version, entry.value)
  }

  /** Decodes a validated copy frozen and caches it as `key`'s value at `version` (primitives pass through). */
  private keepFrozen(key: string, version: number, value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    const frozen = this.copy.resolveFrozen(value)
    this.frozen.set(key, version, frozen)
    return frozen
  }

  /** Whether `key` is present. */
  has(key: string): boolean {
    return this.readKey(key, Kind.PRESENT) as boolean
  }

  /** The value of `key` with its entry's version, or undefined. */
  getEntry(key: string): Copied | undefined {
    const entry = this.readKey(key, Kind.ENTRY) as Copied | undefined
    return entry === undefined ? undefined : { value: this.copy.resolve(entry.value), version: entry.version }
  }

  /**
   * One key's read (get, has, getEntry): {@link read}'s protocol with the
   * loop of SeqWord.read written out around its begin() and validate() (the
   * odd check and the fence stay in seqlock.ts), so a read allocates
   * nothing. Through read(), with an attempt closure per call or one bound
   * per instance (key and hash passed in fields), these reads measured 8-17 %
   * slower than before the split (get of a number ~37 -> ~40 ns, has ~36 ->
   * ~42 ns, interleaved runs on this machine); the hot paths may lose at
   * most 5 %. Retry counting and the fallback are read()'s.
   */
  private readKey(key: string, kind: Kind): unknown {
    const hash = hashKey(key, this.seed)
    const seq = this.seq
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s = seq.begin()
      if ((s & 1) === 0) {
        const r = this.copyKey(key, hash, kind)
        if (r !== RETRY && seq.validate(s)) {
          if (tries > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return r
        }
      }
      this.lostTry()
    }
    return this.readKeyStarved(key, hash, kind)
  }

  /** {@link readKey} after {@link OPTIMISTIC_TRIES} lost tries (its closure kept out of readKey, which then allocates nothing). */
  private readKeyStarved(key: string, hash: number, kind: Kind): unknown {
    return this.read(() => this.copyKey(key, hash, kind), OPTIMISTIC_TRIES)
  }

  /** The copy step of {@link readKey}: what `kind` asks for of `key`'s entry, or RETRY. */
  private copyKey(key: string, hash: number, kind: Kind): unknown {
    const copy = this.copy
    const e = copy.lookup(key, hash)
    if (e <= 0) return e < 0 ? RETRY : kind === Kind.PRESENT ? false : undefined
    if (kind === Kind.PRESENT) return true
    copy.rewind()
    return kind === Kind.VALUE ? copy.value(e) : copy.entry(e)
  }

  // ---- several keys, the whole map, the counters -------------------------------------

  /** The values of `keys`, all from one version (undefined where absent). */
  getMany(keys: readonly string[]): unknown[] {
    const hashes = keys.map((key) => hashKey(key, this.seed))
    const copy = this.copy
    const values = this.read(() => {
      const values: unknown[] = []
      for (let i = 0; i < keys.length; i++) {
        const e = copy.lookup(keys[i]!, hashes[i]!)
        if (e < 0) return RETRY
        const value = e === 0 ? undefined : copy.value(e)
        if (value === RETRY) return RETRY
        values.push(value)
      }
      return values
    })
    return values.map((value) => copy.resolve(value))
  }

  /** Every entry at one version, decoded. */
  snapshot(): Map<string, unknown> {
    const map = new Map<string, unknown>()
    for (const [key, value] of this.read(this.copyAll)) map.set(key, this.copy.resolve(value))
    return map
  }

  /** Every key at one version. */
  keys(): string[] {
    return this.read(this.copyKeys).map(([key]) => key)
  }

  /** Number of entries. */
  size(): number {
    return this.read(this.copyCount)
  }

  /** Latest version. */
  version(): number {
    return this.read(this.copyVersion)
  }

  /** The figures that must agree with each other, from one version. */
  figures(): TableFigures {
    return this.read(this.copyFigures)
  }

  // The copy steps that take no argument, bound once (a read then allocates no closure).
  /** Every entry copied (values still {@link Pending} where packed); also the change log's whole-map read, inside {@link read}. */
  readonly copyAll = (): [string, unknown][] | Retry => this.copy.all()
  private readonly copyKeys = (): [string, unknown][] | Retry => this.copy.all(true)
  private readonly copyCount = (): number => this.ctl[MapWord.COUNT]!
  private readonly copyVersion = (): number => this.m.ctlF64[MapF64.VERSION]!
  private readonly copyFigures = (): TableFigures | Retry => {
    const tableCapacity = this.copy.tableCapacity()
    if (tableCapacity === RETRY) return RETRY
    return {
      size: this.ctl[MapWord.COUNT]!,
      version: this.m.ctlF64[MapF64.VERSION]!,
      writes: this.m.ctlF64[MapF64.WRITES]!,
      tableCapacity,
      usedBytes: this.ctl[MapWord.TOP]! - ARENA_START,
      freeBytes: this.ctl[MapWord.FREE_BYTES]!,
    }
  }

  /** Decodes a value copied by the read that just ended ({@link copyAll}). */
  resolve(value: unknown): unknown {
    return this.copy.resolve(value)
  }

  /**
   * The value and version of entry `e`, decoded, with the writers' lock held
   * (a transaction's read: nothing changes the map meanwhile).
   */
  entryLocked(e: number): Copied {
    this.copy.rewind()
    const copied = this.copy.entry(e)
    if (copied === RETRY) throw corrupted()
    return { value: this.copy.resolve(copied.value), version: copied.version }
  }

  // ---- the protocol --------------------------------------------------------------------

  /**
   * Runs `attempt` under the sequence word (SeqWord.read) until it copies a
   * consistent state, and returns what it copied (decode it before the next
   * read: the scratch is reused). After {@link OPTIMISTIC_TRIES} lost tries
   * (`lostBefore` more were lost by the caller already) it runs `attempt`
   * under the writers' lock instead.
   */
  read<R>(attempt: () => R | Retry, lostBefore = 0): R {
    this.copy.rewind()
    const r = this.seq.read(attempt, OPTIMISTIC_TRIES, this.lostTry)
    if (r !== RETRY) {
      const lost = lostBefore + this.seq.lost
      if (lost > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, lost)
      return r
    }
    atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, lostBefore + OPTIMISTIC_TRIES)
    this.lock.lock() // spins on a thread that may not block (Mutex.lockWriter)
    let locked: R | Retry
    try {
      Atomics.add(this.ctl, MapWord.LOCKED_READS, 1)
      this.m.refresh()
      this.copy.rewind()
      locked = attempt()
    } finally {
      this.lock.unlock()
    }
    if (locked === RETRY) throw corrupted()
    return locked
  }
}

function corrupted(): ThreadstateError {
  return new ThreadstateError('Expected a well-formed map under its lock, got inconsistent memory: the map is corrupted')
}
