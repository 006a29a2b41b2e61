/**
 * Throttled publication of snapshots (seed 004: publish every N ticks or on a
 * significant change, never so often that encoding slows the loop down).
 *
 * @module
 */
import { OptionError, describe } from '../errors.js'
import { now } from '../memory/clock.js'
import type { DeepReadonly } from '../encoding/freeze.js'

/** When a {@link Publisher} publishes. With no option at all, every offer is published. */
export interface PublisherOptions<T> {
  /** Publish every `everyTicks` offers. */
  readonly everyTicks?: number
  /**
   * Never publish more often than this (a due publication waits for the next
   * offer after the interval, or `flush()`).
   * @default 0
   */
  readonly minIntervalMs?: number
  /** Publish at once (within `minIntervalMs`) when this says the change matters. */
  readonly significant?: (previous: DeepReadonly<T>, next: T) => boolean
}

/**
 * Decides which offered states are published. Use one per writer loop.
 * `R` is what a publication returns: a version, or (a store on a remote
 * server: `RedisSnapshotStore.publisher`) a promise of one.
 *
 * @example
 * ```ts
 * const pub = store.publisher({ everyTicks: 5, minIntervalMs: 100, significant: (a, b) => a.mode !== b.mode })
 * for (;;) { tick(state); pub.offer(state) }
 * ```
 */
export class Publisher<T, R extends number | Promise<number> = number> {
  private readonly publish: (value: T) => R
  private readonly latest: () => DeepReadonly<T>
  private readonly everyTicks: number
  private readonly minIntervalMs: number
  private readonly significant: ((previous: DeepReadonly<T>, next: T) => boolean) | undefined
  private ticks = 0
  private lastAt = -Infinity
  private due = false
  private pendingValue: { value: T } | undefined
  /** Offers seen. */
  offers = 0
  /** Publications made. */
  publications = 0

  /** @internal use `store.publisher()` */
  constructor(publish: (value: T) => R, latest: () => DeepReadonly<T>, options: PublisherOptions<T>) {
    const { everyTicks, minIntervalMs = 0, significant } = options ?? {}
    if (everyTicks !== undefined && (!Number.isInteger(everyTicks) || everyTicks < 1)) {
      throw new OptionError(`Expected \`everyTicks\` to be an integer >= 1, got ${describe(everyTicks)}`)
    }
    if (typeof minIntervalMs !== 'number' || !(minIntervalMs >= 0)) {
      throw new OptionError(`Expected \`minIntervalMs\` to be a number >= 0, got ${describe(minIntervalMs)}`)
    }
    if (significant !== undefined && typeof significant !== 'function') {
      throw new OptionError(`Expected \`significant\` to be a function, got ${describe(significant)}`)
    }
    this.publish = publish
    this.latest = latest
    this.everyTicks = everyTicks ?? (significant === undefined ? 1 : Infinity)
    this.minIntervalMs = minIntervalMs
    this.significant = significant
  }

  /**
   * Offers the current state.
   * @returns the version published (or its promise), or 0 if the policy held it back (it stays pending)
   */
  offer(value: T): R | 0 {
    this.offers++
    this.ticks++
    this.pendingValue = { value }
    if (!this.due) {
      this.due = this.ticks >= this.everyTicks || (this.significant !== undefined && this.significant(this.latest(), value))
    }
    if (!this.due || now() - this.lastAt < this.minIntervalMs) return 0
    return this.flush()
  }

  /** Publishes the pending state now, whatever the policy. @returns its version, 0 if none was pending */
  flush(): R | 0 {
    const pending = this.pendingValue
    if (pending === undefined) return 0
    const version = this.publish(pending.value)
    this.pendingValue = undefined
    this.ticks = 0
    this.due = false
    this.lastAt = now()
    this.publications++
    return version
  }

  /** Whether an offered state has not been published yet. */
  get pending(): boolean {
    return this.pendingValue !== undefined
  }
}
