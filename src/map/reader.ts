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
import { ThreadstateError } from '../errors.js'
import { atomicMax } from '../memory/atomics.js'
import { RETRY, type Retry, type SeqWord } from '../sync/seqlock.js'
import type { WriterLock } from '../sync/writer-lock.js'
import { MapCopier, Pending, type Copied } from './copy.js'
import { FROZEN_CACHE_KEYS, FrozenCache } from './frozen-cache.js'
import { ARENA_START, MapF64, MapWord, OPTIMISTIC_TRIES, hashKey } from './layout.js'
import type { MapMemory } from './memory.js'

/** The consistent part of a map's figures (the rest are counters read on their own). */
export interface TableFigures {
  readonly size: number
  readonly version: number
  readonly writes: number
  readonly tableCapacity: number
  readonly usedBytes: number
  readonly freeBytes: number
}

/** One thread's reader of one map. */
export class MapReader {
  private readonly ctl: Int32Array
  private readonly copy: MapCopier
  /** This thread's frozen values for getFrozen(). */
  private readonly frozen = new FrozenCache(FROZEN_CACHE_KEYS)

  constructor(
    private readonly m: MapMemory,
    private readonly seq: SeqWord,
    private readonly lock: WriterLock,
  ) {
    this.ctl = m.ctl
    this.copy = new MapCopier(m)
  }

  /** Counts one lost try (and forgets what it copied). Bound once: passed to every read. */
  private readonly lostTry = (): void => {
    this.copy.rewind()
    Atomics.add(this.ctl, MapWord.READ_RETRIES, 1)
  }

  // ---- the hot reads ----------------------------------------------------------------
  //
  // get and getFrozen write the loop of SeqWord.read out with its begin() and
  // validate() (the fence stays in seqlock.ts): through read() with an attempt
  // bound once per instance, key and hash passed in fields, get of a number
  // measured 8-11 % slower than before the split (~37 ns -> ~41 ns, three
  // interleaved runs) and getFrozen 18-27 %; this way within a few percent.
  // The hot paths may lose at most 5 %. Retry counting and the fallback are
  // those of read().

  /** The value of `key` (a private copy), or undefined. */
  get(key: string): unknown {
    const hash = hashKey(key)
    const seq = this.seq
    const copy = this.copy
    for (let tries = 0; tries < OPTIMISTIC_TRIES; tries++) {
      const s = seq.begin()
      if ((s & 1) === 0) {
        const value = copy.valueOf(key, hash)
        if (value !== RETRY && seq.validate(s)) {
          if (tries > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, tries)
          return copy.resolve(value)
        }
      }
      this.lostTry()
    }
    return this.read(
      () => copy.valueOf(key, hash),
      (value) => copy.resolve(value),
      OPTIMISTIC_TRIES,
    )
  }

  /**
   * The value of `key` deep-frozen, shared by every call in this thread until
   * the key is written again: an entry's version is that of the commit that
   * wrote it, and versions only grow, so (key, version) names one value for
   * ever and a cached value is returned only while the map holds that write.
   */
  getFrozen(key: string): unknown {
    const hash = hashKey(key)
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
    return this.read(
      () => {
        const e = copy.lookup(key, hash)
        return e <= 0 ? (e === 0 ? undefined : RETRY) : copy.entry(e)
      },
      (entry) => (entry === undefined ? undefined : this.keepFrozen(key, entry.version, entry.value)),
      OPTIMISTIC_TRIES,
    )
  }

  /** Decodes a validated copy frozen and caches it as `key`'s value at `version` (primitives pass through). */
  private keepFrozen(key: string, version: number, value: unknown): unknown {
    if (!(value instanceof Pending)) return value
    const frozen = this.copy.resolveFrozen(value)
    this.frozen.set(key, version, frozen)
    return frozen
  }

  // ---- the other reads ---------------------------------------------------------------

  /** Whether `key` is present. */
  has(key: string): boolean {
    const hash = hashKey(key)
    return this.read(
      () => {
        const e = this.copy.lookup(key, hash)
        return e < 0 ? RETRY : e > 0
      },
      (found) => found,
    )
  }

  /** The value of `key` with its entry's version, or undefined. */
  getEntry(key: string): Copied | undefined {
    const hash = hashKey(key)
    const copy = this.copy
    return this.read(
      () => {
        const e = copy.lookup(key, hash)
        return e <= 0 ? (e === 0 ? undefined : RETRY) : copy.entry(e)
      },
      (entry) => (entry === undefined ? undefined : { value: copy.resolve(entry.value), version: entry.version }),
    )
  }

  /** The values of `keys`, all from one version (undefined where absent). */
  getMany(keys: readonly string[]): unknown[] {
    const hashes = keys.map(hashKey)
    const copy = this.copy
    return this.read(
      () => {
        const values: unknown[] = []
        for (let i = 0; i < keys.length; i++) {
          const e = copy.lookup(keys[i]!, hashes[i]!)
          if (e < 0) return RETRY
          const value = e === 0 ? undefined : copy.value(e)
          if (value === RETRY) return RETRY
          values.push(value)
        }
        return values
      },
      (values) => values.map((value) => copy.resolve(value)),
    )
  }

  /** Every entry at one version, decoded. */
  snapshot(): Map<string, unknown> {
    const copy = this.copy
    return this.read(
      () => copy.all(),
      (entries) => {
        const map = new Map<string, unknown>()
        for (const [key, value] of entries) map.set(key, copy.resolve(value))
        return map
      },
    )
  }

  /** Every key at one version. */
  keys(): string[] {
    return this.read(
      () => this.copy.all(true),
      (entries) => entries.map(([key]) => key),
    )
  }

  /** Number of entries. */
  size(): number {
    return this.read(
      () => this.ctl[MapWord.COUNT]!,
      (n) => n,
    )
  }

  /** Latest version. */
  version(): number {
    return this.read(
      () => this.m.ctlF64[MapF64.VERSION]!,
      (v) => v,
    )
  }

  /** The figures that must agree with each other, from one version. */
  figures(): TableFigures {
    return this.read(
      () => {
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
      },
      (r) => r,
    )
  }

  /** Every entry copied (values still {@link Pending} where packed): for the change log's whole-map read, inside {@link read}. */
  copyAll(): [string, unknown][] | Retry {
    return this.copy.all()
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
   * Runs `attempt` under the sequence word until it copies a consistent
   * state, then `finish` on its result outside it. After
   * {@link OPTIMISTIC_TRIES} lost tries (`lostBefore` more were lost by the
   * caller already) it runs `attempt` under the writers' lock instead.
   */
  read<R, T>(attempt: () => R | Retry, finish: (r: R) => T, lostBefore = 0): T {
    this.copy.rewind()
    const r = this.seq.read(attempt, OPTIMISTIC_TRIES, this.lostTry)
    if (r !== RETRY) {
      const lost = lostBefore + this.seq.lost
      if (lost > 0) atomicMax(this.ctl, MapWord.LONGEST_RETRY_STREAK, lost)
      return finish(r)
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
    return finish(locked)
  }
}

function corrupted(): ThreadstateError {
  return new ThreadstateError('Expected a well-formed map under its lock, got inconsistent memory: the map is corrupted')
}
