/**
 * Deadlock detection across threads: a wait-for graph in the domain's shared
 * table, checked by the blocked threads themselves.
 *
 * A thread that sleeps in a blocking acquisition *without a timeout*
 * (`Mutex.lock()`, `ReentrantMutex.lock()`, `RWLock.writeLock()` waiting for
 * another writer) publishes one edge, "I wait for thread H, the holder of the
 * lock I want", and re-verifies it on every wake-up (at least every
 * 50 ms, the sleep slice): it re-reads the lock word and, if H still holds it,
 * counts one *verification* in its edge word. Waits with a timeout, async
 * waits and waits for several holders (a writer draining readers) publish
 * nothing: such a thread may still move, so no cycle through it is reported.
 *
 * ```
 *  domain Int32 words (memory/thread.ts)
 *  WAIT_EDGE[tid]     0 = not blocked | holder tid (bits 0..15) | verifications << 16 (15 bits)
 *  WAIT_EPISODE[tid]  +1 each time the thread publishes a new edge
 * ```
 *
 * A blocked thread follows the edges from itself. When they come back to it,
 * it reads every member's (episode, edge) twice in a row (phase A), and on a
 * later wake-up twice again (phase B). The cycle is confirmed when phase A's
 * reads themselves show the cycle (member k waits for member k + 1: the walk
 * alone is not enough, a member may have moved on since), every member's
 * episode and holder are the same in all four reads, and phase B's first
 * read shows **at least two more verifications** than phase A's second.
 * Why that proves a deadlock (every operation here is sequentially
 * consistent; "reads" are of the shared words above):
 *
 * 1. A member whose episode did not change and whose edge stayed non-zero
 *    stayed inside one acquisition from its publication (before phase A) to
 *    phase B's second read of it: it clears its edge before it returns and
 *    starts a new episode on any new wait or new holder.
 * 2. Ti's second verification after phase A's second read of it loaded the
 *    lock word after its first one had been stored, so after that read, and
 *    before phase B's first read of it: at that moment v, T(i+1) held the
 *    lock Ti wants. So v lies after phase A's first read of T(i+1) and before
 *    phase B's second read of it: inside the interval in which T(i+1) is
 *    known to be blocked (1).
 * 3. A blocked thread neither releases nor takes a lock, so T(i+1) held that
 *    lock for its whole blocked interval, which contains the end of phase A.
 *
 * Hence at the end of phase A every member was asleep, waiting for a lock
 * held by the next member, itself asleep: none of them can ever go on
 * (Coffman's circular wait, established from shared words alone, with no
 * false report whatever the timing). A dead member never verifies again, so
 * a cycle through it is never confirmed; its lock is taken over as usual
 * (OwnerDiedError).
 *
 * One member, the one with the smallest thread id, is the victim: its
 * `lock()` throws `DeadlockError` naming the cycle, so that its caller can
 * release what it holds (a `withLock` body unwinding does) and let the
 * others go on, as PostgreSQL's deadlock detector aborts one transaction.
 * Detection takes four to six sleep slices (~200-300 ms) from the moment the cycle closes; it costs
 * nothing on any path that does not sleep.
 *
 * @module
 */
import type { Domain } from '../memory/thread.js'
import { TID_MASK, WaitGraphWord } from '../memory/thread.js'

const BEAT_SHIFT = 16
const BEAT_MASK = 0x7fff
/** Longest cycle followed (longer chains are not reported). */
const MAX_CYCLE = 64

/** One member of a cycle as first seen. */
interface Seen {
  readonly tid: number
  readonly episode: number
  readonly edge: number
}

/**
 * The wait of one blocking acquisition: publishes its edge, verifies it, and
 * looks for a cycle through it. Create one per acquisition that sleeps;
 * call {@link WaitEdge.clear} when the acquisition ends, however it ends.
 */
export class WaitEdge {
  private readonly words: Int32Array
  private readonly tid: number
  private holder = 0
  private beats = 0
  private first: Seen[] | undefined

  constructor(private readonly domain: Domain) {
    this.words = domain.words
    this.tid = domain.tid
  }

  /**
   * Called just before each sleep, with the holder the caller has just read
   * from the lock word. Publishes or verifies the edge, then advances the
   * detection.
   * @returns the cycle (thread ids, starting with this one) if it is
   *   confirmed and this thread is its victim; undefined otherwise
   */
  beforeSleep(holder: number): readonly number[] | undefined {
    const words = this.words
    const at = WaitGraphWord.EDGE + this.tid
    if (holder !== this.holder) {
      // A new episode: a new wait, or the lock changed hands while we slept.
      this.holder = holder
      this.beats = 0
      this.first = undefined
      Atomics.add(words, WaitGraphWord.EPISODE + this.tid, 1)
      Atomics.store(words, at, holder)
      return undefined
    }
    this.beats = (this.beats + 1) & BEAT_MASK
    Atomics.store(words, at, holder | (this.beats << BEAT_SHIFT))
    return this.detect()
  }

  /** Ends the wait: this thread is no longer blocked. */
  clear(): void {
    if (this.holder !== 0) Atomics.store(this.words, WaitGraphWord.EDGE + this.tid, 0)
    this.holder = 0
  }

  private detect(): readonly number[] | undefined {
    if (this.first === undefined) {
      // Phase A: a cycle, read twice, unchanged in between.
      const cycle = this.cycle()
      if (cycle === undefined) return undefined
      const a = this.snapshot(cycle)
      const b = this.snapshot(cycle)
      // The snapshots must show the cycle itself, not only agree with each other: a member may
      // have moved to a wait for a thread outside the cycle between the walk and the snapshots
      // (a false report SPIN found in the first version: verify/spin/wait-graph.pml).
      if (sameWaits(a, b) && formsCycle(b)) this.first = b
      return undefined
    }
    // Phase B: unchanged, every member verified twice since, and unchanged once more.
    const members = this.first.map((s) => s.tid)
    const c = this.snapshot(members)
    if (!sameWaits(this.first, c)) {
      this.first = undefined // the graph moved: start again
      return undefined
    }
    for (let k = 0; k < c.length; k++) {
      if ((((c[k]!.edge >>> BEAT_SHIFT) - (this.first[k]!.edge >>> BEAT_SHIFT)) & BEAT_MASK) < 2) return undefined
    }
    if (!sameWaits(c, this.snapshot(members))) {
      this.first = undefined
      return undefined
    }
    return Math.min(...members) === this.tid ? members : undefined
  }

  /** Every member's (episode, edge), in cycle order. */
  private snapshot(members: readonly number[]): Seen[] {
    return members.map((tid) => this.read(tid))
  }

  /** The cycle of edges through this thread, if the edges lead back to it. */
  private cycle(): number[] | undefined {
    const words = this.words
    const members = [this.tid]
    let next = this.holder
    while (next !== this.tid) {
      if (members.length >= MAX_CYCLE || members.includes(next) || this.domain.isDead(next)) return undefined
      const edge = Atomics.load(words, WaitGraphWord.EDGE + next)
      if (edge === 0) return undefined // not blocked: it can still release
      members.push(next)
      next = edge & TID_MASK
    }
    return members
  }

  /** A member's (episode, edge), read consistently (episode unchanged around the edge). */
  private read(tid: number): Seen {
    const words = this.words
    for (;;) {
      const episode = Atomics.load(words, WaitGraphWord.EPISODE + tid)
      const edge = Atomics.load(words, WaitGraphWord.EDGE + tid)
      if (Atomics.load(words, WaitGraphWord.EPISODE + tid) === episode) return { tid, episode, edge }
    }
  }
}

/** Whether each member's edge names the next member as the holder it waits for (the last: the first). */
function formsCycle(seen: readonly Seen[]): boolean {
  for (let k = 0; k < seen.length; k++) {
    if ((seen[k]!.edge & TID_MASK) !== seen[(k + 1) % seen.length]!.tid) return false
  }
  return true
}

/** Whether every member is in the same wait (episode, non-zero edge, holder) in both reads. */
function sameWaits(x: readonly Seen[], y: readonly Seen[]): boolean {
  for (let k = 0; k < x.length; k++) {
    const a = x[k]!
    const b = y[k]!
    if (a.episode !== b.episode || a.edge === 0 || b.edge === 0 || (a.edge & TID_MASK) !== (b.edge & TID_MASK)) return false
  }
  return true
}

/** The message of the `DeadlockError` a cycle's victim throws. */
export function cycleMessage(op: string, what: string, cycle: readonly number[]): string {
  const steps = cycle.map((tid, k) => `thread ${tid} waits for thread ${cycle[(k + 1) % cycle.length]}`).join(', ')
  return (
    `Expected ${op} on a ${what} to be able to wait, got a deadlock: ${steps}, each holding the lock the one before it wants. ` +
    `This thread (${cycle[0]}) was chosen to give up: release the locks it holds (a withLock body unwinding does) so the others can go on`
  )
}
