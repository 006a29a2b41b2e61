/**
 * The naive mutex the lock benches compare Mutex against: what a user writes
 * after reading the `Atomics.wait` docs. Lock is CAS 0 -> 1 (sleep on the word
 * while it is 1); unlock is store 0 plus `Atomics.notify` on *every* release,
 * because the word does not say whether anyone sleeps.
 *
 * It is correct (a release always wakes a sleeper, and a waiter only sleeps
 * while the word is still 1), but every unlock pays for a notify (~36 ns here
 * even when nobody waits): the cost Drepper's three-state word avoids. It has
 * no robustness, no owner check and no timeout; it exists only as a baseline.
 *
 * Shared by the main thread (uncontended bench) and the crew workers
 * (contended and hand-off benches).
 *
 * @module
 */

/** Index of the lock word in a naive mutex's buffer. */
const WORD = 0
const FREE = 0
const LOCKED = 1

/** A naive always-notify mutex over one Int32 word. Baseline only. */
export class NaiveMutex {
  /** The shared word; send `buffer` to another thread and wrap it there. */
  readonly buffer: SharedArrayBuffer
  private readonly words: Int32Array

  /** Wraps `buffer` (4 bytes), or allocates a new one. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.buffer = buffer
    this.words = new Int32Array(buffer, 0, 1)
  }

  /** Takes the lock, sleeping on the word while another thread holds it. */
  lock(): void {
    while (Atomics.compareExchange(this.words, WORD, FREE, LOCKED) !== FREE) {
      Atomics.wait(this.words, WORD, LOCKED)
    }
  }

  /** Releases the lock and wakes one sleeper, whether or not one sleeps. */
  unlock(): void {
    Atomics.store(this.words, WORD, FREE)
    Atomics.notify(this.words, WORD, 1)
  }
}
