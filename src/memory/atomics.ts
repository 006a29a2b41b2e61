/**
 * Small atomic helpers over shared Int32 words.
 *
 * @module
 */

/**
 * Raises `words[index]` to `value` if it is lower (a compare-and-swap loop:
 * concurrent raisers all end with the largest value stored).
 */
export function atomicMax(words: Int32Array, index: number, value: number): void {
  let current = Atomics.load(words, index)
  while (current < value) {
    const seen = Atomics.compareExchange(words, index, current, value)
    if (seen === current) return
    current = seen
  }
}
