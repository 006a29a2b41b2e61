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
 * A slot names its thread, and ids are reused (memory/thread.ts): the owner
 * counts its id in before it claims a slot and out after it frees it, and
 * {@link forgetDead} pins a dead id before it frees its slot (so no slot ever
 * names a stranger, whose count it would then be taken for).
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
 * Counts one in for the calling thread of `domain`: `words[total]` + 1, then
 * its share ({@link shareIn}).
 * @returns the slot's index, for {@link countOut}; -1 if every slot is taken
 */
export function countIn(words: Int32Array, total: number, first: number, domain: Domain): number {
  Atomics.add(words, total, 1)
  return shareIn(words, first, domain)
}

/**
 * The second half of {@link countIn}, for a caller that raised the total
 * itself: + 1 to the calling thread's slot among the
 * {@link THREAD_COUNT_SLOTS} words from `first`, claiming a free one if it
 * has none.
 * @returns the slot's index; -1 if every slot is taken
 */
export function shareIn(words: Int32Array, first: number, domain: Domain): number {
  const tid = domain.tid
  let free = -1
  for (let k = first; k < first + THREAD_COUNT_SLOTS; k++) {
    const v = Atomics.load(words, k)
    if ((v & TID_MASK) === tid && v !== 0) {
      Atomics.add(words, k, ONE)
      return k
    }
    if (v === 0 && free < 0) free = k
  }
  if (free < 0) return -1
  domain.naming() // before our id enters a slot (memory/thread.ts)
  for (let k = free; k < first + THREAD_COUNT_SLOTS; k++) {
    if (Atomics.compareExchange(words, k, 0, tid | ONE) === 0) return k
  }
  domain.unnamed()
  return -1
}

/** Counts one out for the calling thread of `domain`, whose {@link countIn} returned `slot`. */
export function countOut(words: Int32Array, total: number, slot: number, domain: Domain): void {
  const tid = domain.tid
  if (slot >= 0 && Atomics.sub(words, slot, ONE) - ONE === tid) {
    Atomics.store(words, slot, 0)
    domain.unnamed() // after our id left the slot
  }
  Atomics.sub(words, total, 1)
}

/**
 * Gives back the shares of threads marked dead in `domain`. Each dead id is
 * pinned, and its state read again, before its slot is freed.
 * @returns how much was subtracted from the total
 */
export function forgetDead(words: Int32Array, total: number, first: number, domain: Domain): number {
  let forgotten = 0
  for (let k = first; k < first + THREAD_COUNT_SLOTS; k++) {
    const v = Atomics.load(words, k)
    const tid = v & TID_MASK
    if (v === 0 || !domain.isDead(tid)) continue
    domain.pin(tid)
    try {
      // Pinned and still dead: the slot's value, if unchanged, is the dead thread's.
      if (domain.isDead(tid) && Atomics.compareExchange(words, k, v, 0) === v) {
        Atomics.sub(words, total, v >>> 16)
        forgotten += v >>> 16
        domain.cleared(tid)
      }
    } finally {
      domain.unpin(tid)
    }
  }
  return forgotten
}
