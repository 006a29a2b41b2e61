/**
 * The per-thread cache behind `SharedMap.getFrozen`: decoded, deep-frozen
 * values by key, each with the entry version it was decoded from.
 *
 * An entry's version is the version of the commit that last wrote the key,
 * and map versions only grow, so (key, version) names one value for ever: a
 * cached value is returned again only while the map still holds that very
 * write. Bounded: past `limit` keys the oldest insertion is dropped (a FIFO;
 * a hit does not refresh it, so the hot path stays one `Map.get`).
 *
 * @module
 */

/** Keys whose frozen values one thread keeps for `SharedMap.getFrozen` (the oldest are dropped past it). */
export const FROZEN_CACHE_KEYS = 4096

/** One cached value. */
interface Cached {
  readonly version: number
  readonly value: unknown
}

/** Frozen decoded values of one thread, by key. */
export class FrozenCache {
  private readonly entries = new Map<string, Cached>()

  /** @param limit most keys kept */
  constructor(private readonly limit: number) {}

  /** The value decoded from `key`'s write at `version`, or undefined if not cached. */
  get(key: string, version: number): Cached | undefined {
    const cached = this.entries.get(key)
    return cached !== undefined && cached.version === version ? cached : undefined
  }

  /** Keeps `value` as `key`'s value at `version`. */
  set(key: string, version: number, value: unknown): void {
    const entries = this.entries
    if (!entries.has(key) && entries.size >= this.limit) {
      const oldest = entries.keys().next()
      if (oldest.done !== true) entries.delete(oldest.value)
    }
    entries.set(key, { version, value })
  }

  /** Number of keys cached. */
  get size(): number {
    return this.entries.size
  }
}
