/**
 * A SharedMap as the local mirror of a map whose truth is elsewhere (Redis,
 * `threadstate/redis`): commits arrive with the version the remote side
 * assigned, and are applied only in order. Every thread of the process reads
 * the mirror as it reads any SharedMap (no lock, no network); only this
 * module writes it.
 *
 * @module
 */
import type { SharedMap } from './shared-map.js'
import { committerOf } from './shared-map.js'
import type { Changes, Prepared } from './value.js'
import type { MapCommitter } from './writer.js'

/** What {@link MapMirror.apply} did with a commit. */
export type Applied = 'applied' | 'had' | 'gap'

/** The writing side of a mirror. Any thread of the process may hold one. */
export class MapMirror {
  private readonly writer: MapCommitter

  constructor(readonly map: SharedMap<unknown>) {
    this.writer = committerOf(map)
  }

  /**
   * Applies commit `version` if the mirror holds `version - 1` ('applied');
   * 'had' if it already holds `version` or later (applied by another thread
   * of this process); 'gap' if commits before it are missing (the caller
   * reloads).
   */
  apply(version: number, changes: Changes | 'clear'): Applied {
    const writer = this.writer
    return writer.locked(() => {
      const current = this.map.version
      if (current >= version) return 'had'
      if (current !== version - 1) return 'gap'
      writer.commit(changes)
      return 'applied'
    })
  }

  /**
   * Replaces the whole mirror by the remote map at `version` (entries with
   * the versions of the commits that wrote them), unless it already holds
   * `version` or later. Subscribers get a reset event.
   * @returns whether it reloaded
   */
  reload(version: number, entries: readonly (readonly [string, Prepared, number])[], force = false): boolean {
    const writer = this.writer
    return writer.locked(() => {
      if (!force && this.map.version >= version) return false
      writer.commitReload(version, entries)
      return true
    })
  }

  /** Runs `fn` with the mirror held still (its writers' lock held: nothing is applied meanwhile). */
  held<R>(fn: () => R): R {
    return this.writer.locked(fn)
  }
}
