/**
 * TriggerFlags: a small named set of flags in one shared word (seed 003's
 * `calibrate`, `walk`, `stop` triggers), set by any thread and consumed by a
 * supervisor with one atomic read-and-clear, so no flag set concurrently is
 * ever lost.
 *
 * Layout: `layout.ts` (FLAGS, bit i = names[i]; WAITERS; SETS, times a flag was set).
 *
 * @module
 */
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import { HandleError, OptionError, describe } from '../errors.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { domainOf } from '../memory/thread.js'
import { waitUntil, waitUntilAsync } from '../sync/version-wait.js'
import { FLAGS_BYTES, FlagsWord } from './layout.js'

const FLAGS = FlagsWord.FLAGS
const WAITERS = FlagsWord.WAITERS
const SETS = FlagsWord.SETS

/** Handle of {@link TriggerFlags}: the region plus the flag names. */
export interface TriggerFlagsHandle<F extends string = string> extends Handle<'TriggerFlags'> {
  /** The flag names, bit i for names[i]. */
  readonly names: readonly F[]
}

function checkNames(names: unknown): readonly string[] {
  if (!Array.isArray(names) || names.length === 0 || names.length > 31 || !names.every((n) => typeof n === 'string')) {
    throw new OptionError(`Expected 1 to 31 flag names, got ${describe(names)}`)
  }
  if (new Set(names).size !== names.length) throw new OptionError(`Expected unique flag names, got ${describe(names)}`)
  return names as readonly string[]
}

/** Figures of {@link TriggerFlags}. */
export interface TriggerFlagsStats<F extends string = string> {
  /** The flags set now. */
  readonly set: F[]
  /** Times any flag was set. */
  readonly sets: number
}

/**
 * Named flags shared by every thread: `set` from anywhere, `takeAll()` to
 * read and clear them in one atomic step.
 *
 * @example
 * ```ts
 * const triggers = TriggerFlags.create(['calibrate', 'walk', 'stop'])
 * triggers.set('walk')                     // any thread
 * for (const t of triggers.takeAll()) ...  // supervisor: each set flag exactly once
 * ```
 */
export class TriggerFlags<F extends string = string> {
  /** The structured-cloneable handle. */
  readonly handle: TriggerFlagsHandle<F>
  /** The flag names. */
  readonly names: readonly F[]
  private readonly words: Int32Array
  private readonly bits: ReadonlyMap<string, number>

  private constructor(handle: TriggerFlagsHandle<F>) {
    this.handle = handle
    this.names = handle.names
    this.words = new Int32Array(handle.buffer, handle.byteOffset, FLAGS_BYTES / 4)
    this.bits = new Map(handle.names.map((n, i) => [n, 1 << i]))
  }

  /** Creates the flags, all clear. @throws OptionError for bad names (1 to 31, unique) */
  static create<const F extends string>(names: readonly F[]): TriggerFlags<F> {
    const checked = checkNames(names) as readonly F[]
    return new TriggerFlags<F>({ ...makeHandle('TriggerFlags', allocateRegion('TriggerFlags', FLAGS_BYTES), domainOf().buffer), names: [...checked] })
  }

  /** Rebuilds the flags from their handle, in any thread. @throws HandleError if the handle is invalid */
  static attach<F extends string = string>(handle: TriggerFlagsHandle<F>): TriggerFlags<F> {
    return attaching('TriggerFlags', () => {
      const checked = checkHandle(handle, 'TriggerFlags', FLAGS_BYTES) as TriggerFlagsHandle<F>
      try {
        checkNames(checked.names)
      } catch (error) {
        throw new HandleError(`Expected a TriggerFlags handle with valid names, got: ${(error as Error).message}`)
      }
      domainOf(checked.domain)
      return new TriggerFlags<F>(checked)
    })
  }

  private bit(name: F): number {
    const bit = this.bits.get(name)
    if (bit === undefined) throw new OptionError(`Expected a flag of ${JSON.stringify(this.names)}, got ${describe(name)}`)
    return bit
  }

  /** Sets `name`; returns whether it was already set. Wakes waiters. */
  set(name: F): boolean {
    const bit = this.bit(name)
    const old = Atomics.or(this.words, FLAGS, bit)
    Atomics.add(this.words, SETS, 1)
    if (Atomics.load(this.words, WAITERS) !== 0) Atomics.notify(this.words, FLAGS)
    return (old & bit) !== 0
  }

  /** Whether `name` is set (without clearing it). */
  test(name: F): boolean {
    return (Atomics.load(this.words, FLAGS) & this.bit(name)) !== 0
  }

  /** Clears `name`; returns whether it was set (so exactly one of several takers gets it). */
  take(name: F): boolean {
    const bit = this.bit(name)
    return (Atomics.and(this.words, FLAGS, ~bit) & bit) !== 0
  }

  /** Reads and clears every flag in one atomic step; returns those that were set. */
  takeAll(): F[] {
    const old = Atomics.exchange(this.words, FLAGS, 0)
    return old === 0 ? [] : this.names.filter((_, i) => (old & (1 << i)) !== 0)
  }

  /** The flags set now (without clearing them). */
  peek(): F[] {
    const now = Atomics.load(this.words, FLAGS)
    return this.names.filter((_, i) => (now & (1 << i)) !== 0)
  }

  /** Blocks until some flag is set, at most `timeoutMs`; false on timeout. Does not clear. */
  waitAny(timeoutMs?: number): boolean {
    return waitUntil(this.words, FLAGS, WAITERS, () => Atomics.load(this.words, FLAGS) !== 0, timeoutMs)
  }

  /** Async form of {@link waitAny}. */
  waitAnyAsync(options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    return waitUntilAsync(this.words, FLAGS, WAITERS, () => Atomics.load(this.words, FLAGS) !== 0, options)
  }

  /** Figures: flags set now and how many times any was set. */
  stats(): TriggerFlagsStats<F> {
    return { set: this.peek(), sets: Atomics.load(this.words, SETS) }
  }
}
