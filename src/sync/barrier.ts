/**
 * Barrier: N parties wait until all have arrived, then all go on; reusable.
 *
 * ```
 *  Int32 word  0..3 header | 4 PARTIES | 5 ARRIVED | 6 GENERATION | 7 BROKEN
 *              8 DEAD_PARTY | 9 RESETS | 10..41 PARTY[32] | 42, 43 pad
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
 * **A party whose thread died** breaks it too, or it would hang the others
 * at the next meeting (or let them through once on its stale arrival). A
 * thread enlists its id in PARTY on its first arrival after a reset (the
 * first {@link PARTY_SLOTS} distinct threads are watched; RESETS tells an
 * object when to enlist again). Every arrival, and every waiter after each
 * sleep (at most a slice: 50 ms blocking; an async waiter is woken by the
 * death itself, see `wait.ts`), looks the enlisted ids up in the domain's
 * thread table: one marked dead is stored in DEAD_PARTY and the barrier
 * broken, so the survivors get `BarrierBrokenError` naming it within the
 * bound a lock's dead holder is reported in. The generation is checked
 * first, so a party that passed and then exited never breaks a round the
 * others completed. `reset()` clears PARTY.
 *
 * A PARTY slot names its thread until `reset()`, so it is counted as such
 * (memory/thread.ts): the id of a party that exited is not reused before the
 * next `reset()`, and the death check never looks up a stranger. DEAD_PARTY
 * is for the error message only: the id of the party that died, which may
 * name another thread by the time it is read.
 *
 * @module
 */
import { BarrierBrokenError } from '../errors.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { Header } from '../memory/layout.js'
import { domainOf, MAX_THREADS, type Domain } from '../memory/thread.js'
import { checkWaitOptions, checkCount, deadlineOf, runWait, runWaitAsync, sleepOn, type AsyncWaitOptions, type WaitLoop } from './wait.js'

/** Word offsets of a Barrier region. */
export const BarrierWord = {
  PARTIES: Header.WORDS,
  ARRIVED: Header.WORDS + 1,
  GENERATION: Header.WORDS + 2,
  BROKEN: Header.WORDS + 3,
  /** Thread id of a party found dead (the barrier broke for it); 0 otherwise. */
  DEAD_PARTY: Header.WORDS + 4,
  /** Incremented by every `reset()`: threads enlist again after it. */
  RESETS: Header.WORDS + 5,
  /** First of {@link PARTY_SLOTS} words: ids of the threads that arrived since the last reset (0: free). */
  PARTY: Header.WORDS + 6,
} as const
/** How many distinct threads a barrier watches for death, from their first arrival after a reset. */
export const PARTY_SLOTS = 32
const BARRIER_BYTES = (BarrierWord.PARTY + PARTY_SLOTS + 2) * 4

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
  private readonly domain: Domain
  /** RESETS when this thread last enlisted in PARTY (-1: never). */
  private enlistedAt = -1

  private constructor(handle: BarrierHandle) {
    this.handle = handle
    this.words = new Int32Array(handle.buffer, handle.byteOffset, BARRIER_BYTES / 4)
    this.domain = domainOf(handle.domain)
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
    this.enlist()
    this.breakIfAPartyDied()
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
      const dead = Atomics.load(this.words, BarrierWord.DEAD_PARTY)
      throw new BarrierBrokenError(
        dead !== 0
          ? `Expected an intact barrier, got one broken by the death of a party's thread (thread ${dead}): call reset() (with a replacement party)`
          : 'Expected an intact barrier, got a broken one: a party timed out or was aborted; call reset()',
      )
    }
  }

  /** Records this thread in PARTY, once per reset (no free slot: it is not watched). */
  private enlist(): void {
    const words = this.words
    const resets = Atomics.load(words, BarrierWord.RESETS)
    if (resets === this.enlistedAt) return
    const domain = this.domain
    const tid = domain.tid
    // The slot names this thread until reset(): counted before the claim (memory/thread.ts).
    domain.naming()
    let claimed = false
    for (let k = BarrierWord.PARTY; k < BarrierWord.PARTY + PARTY_SLOTS; k++) {
      const v = Atomics.load(words, k)
      if (v === tid) break
      if (v === 0 && Atomics.compareExchange(words, k, 0, tid) === 0) {
        claimed = true
        break
      }
    }
    if (!claimed) domain.unnamed()
    this.enlistedAt = resets
  }

  /** Breaks the barrier (and throws) if an enlisted party's thread was marked dead. */
  private breakIfAPartyDied(): void {
    const words = this.words
    for (let k = BarrierWord.PARTY; k < BarrierWord.PARTY + PARTY_SLOTS; k++) {
      const tid = Atomics.load(words, k)
      if (tid === 0) return
      // A slot naming no possible thread (scribbled memory) is a party that will never arrive, as a dead one.
      if (tid < 0 || tid > MAX_THREADS || this.domain.isDead(tid)) {
        Atomics.compareExchange(words, BarrierWord.DEAD_PARTY, 0, tid)
        this.breakIt()
        this.throwIfBroken()
      }
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
      if (this.passedOrBroken(generation) === undefined) this.breakIfAPartyDied()
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
    for (let k = BarrierWord.PARTY; k < BarrierWord.PARTY + PARTY_SLOTS; k++) {
      const party = Atomics.exchange(words, k, 0)
      if (party > 0 && party <= MAX_THREADS) this.domain.cleared(party) // the slot no longer names it (memory/thread.ts)
    }
    Atomics.store(words, BarrierWord.DEAD_PARTY, 0)
    Atomics.add(words, BarrierWord.RESETS, 1)
    Atomics.add(words, BarrierWord.GENERATION, 1)
    Atomics.store(words, BarrierWord.BROKEN, 0)
  }
}
