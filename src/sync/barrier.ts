/**
 * Barrier: N parties wait until all have arrived, then all go on; reusable.
 *
 * ```
 *  Int32 word  0..3 header | 4 PARTIES | 5 ARRIVED | 6 GENERATION | 7 BROKEN
 * ```
 *
 * Generation counting (the sense-reversing barrier with a counter instead of a
 * flag): a party reads GENERATION, then increments ARRIVED. The one that
 * brings ARRIVED to PARTIES is the leader: it resets ARRIVED to 0 *before*
 * incrementing GENERATION (so nobody of the next round can arrive into the
 * old count) and wakes everyone sleeping on GENERATION. The others sleep
 * while GENERATION keeps the value they read.
 *
 * A party that times out or is aborted breaks the barrier (BROKEN = 1):
 * every party waiting in that generation gets `BarrierBrokenError`, as do
 * later arrivals until `reset()`.
 *
 * @module
 */
import { BarrierBrokenError } from '../errors.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { Header } from '../memory/layout.js'
import { domainOf } from '../memory/thread.js'
import { checkWaitOptions, checkCount, deadlineOf, runWait, runWaitAsync, sleepOn, type AsyncWaitOptions, type WaitLoop } from './wait.js'

/** Word offsets of a Barrier region. */
export const BarrierWord = {
  PARTIES: Header.WORDS,
  ARRIVED: Header.WORDS + 1,
  GENERATION: Header.WORDS + 2,
  BROKEN: Header.WORDS + 3,
} as const
const BARRIER_BYTES = (Header.WORDS + 4) * 4

/** Handle of a {@link Barrier}. */
export type BarrierHandle = Handle<'Barrier'>

/** What a party learns when the barrier opens. */
export interface BarrierPassage {
  /** True for exactly one party per generation: the last to arrive. */
  readonly leader: boolean
  /** The generation that just completed (0, 1, 2, ...). */
  readonly generation: number
}

/**
 * A reusable barrier for a fixed number of parties (threads or tasks).
 *
 * @example
 * ```ts
 * const barrier = Barrier.create({ parties: 4 })
 * // in each of 4 workers, every step:
 * const { leader } = barrier.wait()
 * if (leader) publishStepResult()
 * ```
 */
export class Barrier {
  /** Bytes a Barrier occupies in its buffer. */
  static readonly BYTE_LENGTH = BARRIER_BYTES
  /** The structured-cloneable handle. */
  readonly handle: BarrierHandle
  private readonly words: Int32Array

  private constructor(handle: BarrierHandle) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, BARRIER_BYTES / 4)
    domainOf(handle.domain)
  }

  /** Creates a barrier for `parties` parties. */
  static create(options: { readonly parties: number }): Barrier {
    const parties = checkCount(options?.parties, 'parties', 0x7fffffff)
    const barrier = new Barrier(makeHandle('Barrier', allocateRegion('Barrier', BARRIER_BYTES), domainOf().buffer))
    Atomics.store(barrier.words, BarrierWord.PARTIES, parties)
    return barrier
  }

  /**
   * Rebuilds a barrier from its handle, in any thread.
   * @throws HandleError if `handle` is not a valid Barrier handle
   */
  static attach(handle: BarrierHandle): Barrier {
    return attaching('Barrier', () => new Barrier(checkHandle(handle, 'Barrier', BARRIER_BYTES)))
  }

  /** Number of parties. */
  get parties(): number {
    return Atomics.load(this.words, BarrierWord.PARTIES)
  }

  /** Parties waiting in the current generation. */
  get waiting(): number {
    return Atomics.load(this.words, BarrierWord.ARRIVED)
  }

  /** Whether a party timed out or was aborted since the last `reset()`. */
  get isBroken(): boolean {
    return Atomics.load(this.words, BarrierWord.BROKEN) !== 0
  }

  /** Arrives; returns the passage if this party completed the generation. */
  private arrive(): { generation: number; passage?: BarrierPassage } {
    const words = this.words
    this.throwIfBroken()
    const generation = Atomics.load(words, BarrierWord.GENERATION)
    const arrived = Atomics.add(words, BarrierWord.ARRIVED, 1) + 1
    if (arrived < Atomics.load(words, BarrierWord.PARTIES)) return { generation }
    Atomics.store(words, BarrierWord.ARRIVED, 0)
    Atomics.add(words, BarrierWord.GENERATION, 1)
    Atomics.notify(words, BarrierWord.GENERATION)
    return { generation, passage: { leader: true, generation } }
  }

  private passedOrBroken(generation: number): BarrierPassage | undefined {
    if (Atomics.load(this.words, BarrierWord.GENERATION) !== generation) return { leader: false, generation }
    this.throwIfBroken()
    return undefined
  }

  private throwIfBroken(): void {
    if (Atomics.load(this.words, BarrierWord.BROKEN) !== 0) {
      throw new BarrierBrokenError('Expected an intact barrier, got a broken one: a party timed out or was aborted; call reset()')
    }
  }

  private breakIt(): void {
    Atomics.store(this.words, BarrierWord.BROKEN, 1)
    Atomics.notify(this.words, BarrierWord.GENERATION)
  }

  /**
   * Arrives and waits for the other parties, at most `timeoutMs`. Blocks the
   * thread: on a main thread use {@link waitAsync}.
   *
   * @returns the passage, or `undefined` if this party timed out (which
   *   breaks the barrier for the others)
   * @throws BarrierBrokenError if the barrier is or becomes broken
   */
  wait(timeoutMs?: number): BarrierPassage | undefined {
    const deadline = deadlineOf(timeoutMs)
    const { generation, passage } = this.arrive()
    if (passage) return passage
    return runWait(this.passing(generation), deadline)
  }

  /**
   * The wait of a party that arrived in `generation` and did not complete it,
   * for {@link wait} and {@link waitAsync}: sleep while GENERATION keeps that
   * value. A party that gives up (timeout, abort) breaks the barrier, unless
   * the generation completed or broke meanwhile.
   */
  private *passing(generation: number): WaitLoop<BarrierPassage | undefined> {
    for (;;) {
      const done = this.passedOrBroken(generation)
      if (done) return done
      let slept: boolean
      try {
        slept = yield sleepOn(this.words, BarrierWord.GENERATION, generation)
      } catch (error) {
        if (this.passedOrBroken(generation)) throw error
        this.breakIt()
        throw error
      }
      if (!slept) {
        const late = this.passedOrBroken(generation)
        if (late) return late
        this.breakIt()
        return undefined
      }
    }
  }

  /**
   * Async form of {@link wait}: never blocks the event loop.
   * @returns the passage, or `undefined` on timeout (breaking the barrier)
   * @throws BarrierBrokenError if the barrier is or becomes broken
   * @throws the signal's reason when aborted (breaking the barrier)
   */
  async waitAsync(options: AsyncWaitOptions = {}): Promise<BarrierPassage | undefined> {
    options = checkWaitOptions(options)
    const deadline = deadlineOf(options.timeoutMs)
    if (options.signal?.aborted) throw options.signal.reason
    const { generation, passage } = this.arrive()
    if (passage) return passage
    return runWaitAsync(this.passing(generation), deadline, options.signal)
  }

  /**
   * Repairs a broken barrier for a new round. Call it only when no party
   * waits: a party still waiting may see either the break or a passage.
   */
  reset(): void {
    const words = this.words
    Atomics.store(words, BarrierWord.ARRIVED, 0)
    Atomics.add(words, BarrierWord.GENERATION, 1)
    Atomics.store(words, BarrierWord.BROKEN, 0)
  }
}
