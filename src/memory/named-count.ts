/**
 * This thread's NAMED count as a one-element view (memory/thread.ts: a thread
 * adds one there before the compareExchange that writes its id into a word
 * others act on, and takes one off after the one that clears it).
 *
 * Why a view of its own: lock+unlock and a state machine's transition count
 * in and out on every call, and `count[0]++` on a view made once costs less
 * than `domain.words[domain.namedIndex]++` (no index to load and check
 * against a 2 MiB array): StateMachine transition went from +11 % to +3 % of
 * before the counting (bench/ab.mjs and a min-of-40-rounds loop, same run).
 *
 * @module
 */
import type { Domain } from './thread.js'

const views = new WeakMap<Domain, Int32Array>()

/** This thread's count of words naming it in `domain`, as `view[0]` (one view per domain and thread). */
export function namedCount(domain: Pick<Domain, 'words' | 'namedIndex'>): Int32Array {
  let view = views.get(domain as Domain)
  if (view === undefined) {
    view = domain.words.subarray(domain.namedIndex, domain.namedIndex + 1)
    views.set(domain as Domain, view)
  }
  return view
}
