/**
 * A shared count (Condition waiters, SharedMap subscribers) that forgets the
 * share of a thread that died: beside the total, each counting thread keeps
 * its own share in a slot of {@link THREAD_COUNT_SLOTS} words.
 *
 * ```
 *  slot word: thread id (bits 0..15) | that thread's share << 16 (bits 16..30); 0 = free
 * ```
 *
 * - {@link countIn}: total + 1, then the thread's slot + 1 (claimed by CAS
 *   `0 -> tid | 1 << 16` on its first count; only its owner changes a slot
 *   while the owner lives, so the owner's updates need no CAS).
 * - {@link countOut}: the slot - 1 first (freed at 0), then total - 1.
 * - {@link forgetDead}: a slot whose thread is marked dead is freed by CAS
 *   and its share subtracted from the total. A dead thread never runs again,
 *   so nothing else changes that slot meanwhile.
 *
 * Because the total is raised before the slot and lowered after it, a thread
 * killed between the two leaves the total at most one too high (a notify or
 * a logged change that nobody needed), never too low. Threads beyond the
 * slots (more than 32 counting at once) are counted in the total only: their
 * share is not given back if they die.
 *
 * @module
 */
import { TID_MASK, type Domain } from '../memory/thread.js'

/** Threads whose share a count can give back after their death. */
export const THREAD_COUNT_SLOTS = 32

/** Bytes of the slots. */
export const THREAD_COUNT_BYTES = THREAD_COUNT_SLOTS * 4

/** One unit of a slot's share. */
const ONE = 1 << 16

/**
 * Counts one in for thread `tid`: `words[total]` + 1, then its share
 * ({@link shareIn}).
 * @returns the slot's index, for {@link countOut}; -1 if every slot is taken
 */
export function countIn(words: Int32Array, total: number, first: number, tid: number): number {
  Atomics.add(words, total, 1)
  return shareIn(words, first, tid)
}

/**
 * The second half of {@link countIn}, for a caller that raised the total
 * itself: + 1 to thread `tid`'s slot among the {@link THREAD_COUNT_SLOTS}
 * words from `first`, claiming a free one if it has none.
 * @returns the slot's index; -1 if every slot is taken
 */
export function shareIn(words: Int32Array, first: number, tid: number): number {
  let free = -1
  for (let k = first; k < first + THREAD_COUNT_SLOTS; k++) {
    const v = Atomics.load(words, k)
    if ((v & TID_MASK) === tid && v !== 0) {
      Atomics.add(words, k, ONE)
      return k
    }
    if (v === 0 && free < 0) free = k
  }
  for (let k = free; k >= 0 && k < first + THREAD_COUNT_SLOTS; k++) {
    if (Atomics.compareExchange(words, k, 0, tid | ONE) === 0) return k
  }
  return -1
}

/** Counts one out for thread `tid`, whose {@link countIn} returned `slot`. */
export function countOut(words: Int32Array, total: number, slot: number, tid: number): void {
  if (slot >= 0 && Atomics.sub(words, slot, ONE) - ONE === tid) Atomics.store(words, slot, 0)
  Atomics.sub(words, total, 1)
}

/**
 * Gives back the shares of threads marked dead in `domain`.
 * @returns how much was subtracted from the total
 */
export function forgetDead(words: Int32Array, total: number, first: number, domain: Domain): number {
  let forgotten = 0
  for (let k = first; k < first + THREAD_COUNT_SLOTS; k++) {
    const v = Atomics.load(words, k)
    if (v !== 0 && domain.isDead(v & TID_MASK) && Atomics.compareExchange(words, k, v, 0) === v) {
      Atomics.sub(words, total, v >>> 16)
      forgotten += v >>> 16
    }
  }
  return forgotten
}
