/**
 * Waiting for a version of a versioned object (StateBuffer, SnapshotStore,
 * SharedMap): each publishes by storing a published-version word PUB and
 * notifies sleepers on it when a WAITERS count says someone sleeps.
 * {@link waitUntil} is the same wait for any condition that changes only
 * together with one word (a StateMachine's state, TriggerFlags).
 *
 * A waiter increments WAITERS, re-reads PUB, and sleeps only while PUB keeps
 * the value it read; the writer stores PUB, then reads WAITERS. By sequential
 * consistency either the writer sees the waiter (and notifies) or the waiter
 * sees the new PUB (and does not sleep): no lost wake-up.
 *
 * @module
 */
import { deadlineOf, runWait, runWaitAsync, sleepOn, type AsyncWaitOptions, type WaitLoop } from './wait.js'

/** Where a versioned object keeps its words, and how to read its full version. */
export interface VersionWords {
  readonly words: Int32Array
  readonly pub: number
  readonly waiters: number
  /** Full version of the latest published state (0: none). */
  latestVersion(): number
}

/**
 * Blocks until `done()` holds, sleeping on `words[word]` (whose writers
 * notify when `words[waiters]` is non-zero), at most `timeoutMs`; false on
 * timeout. The protocol of the module comment, for any condition that can
 * only change together with that word.
 */
export function waitUntil(words: Int32Array, word: number, waiters: number, done: () => boolean, timeoutMs?: number): boolean {
  const deadline = deadlineOf(timeoutMs)
  if (done()) return true
  return runWait(until(words, word, waiters, done), deadline)
}

/** Async form of {@link waitUntil}: keeps a Node process alive; rejects with the signal's reason. */
export async function waitUntilAsync(
  words: Int32Array,
  word: number,
  waiters: number,
  done: () => boolean,
  options: AsyncWaitOptions = {},
): Promise<boolean> {
  const deadline = deadlineOf(options.timeoutMs)
  if (done()) return true
  return runWaitAsync(until(words, word, waiters, done), deadline, options.signal)
}

/**
 * The wait of {@link waitUntil} and {@link waitUntilAsync}, once `done()`
 * has been found false: count in `waiters`, re-read the word, re-check, sleep
 * while the word keeps its value; check again after each sleep.
 */
function* until(words: Int32Array, word: number, waiters: number, done: () => boolean): WaitLoop<boolean> {
  for (;;) {
    Atomics.add(words, waiters, 1)
    try {
      const seen = Atomics.load(words, word)
      if (done()) return true
      if (!(yield sleepOn(words, word, seen))) return false
    } finally {
      Atomics.sub(words, waiters, 1)
    }
    if (done()) return true
  }
}

/** Blocks until the version is at least `version`, at most `timeoutMs`; false on timeout. */
export function waitForVersion(v: VersionWords, version: number, timeoutMs?: number): boolean {
  return waitUntil(v.words, v.pub, v.waiters, () => v.latestVersion() >= version, timeoutMs)
}

/** Async form of {@link waitForVersion}: keeps a Node process alive; rejects with the signal's reason. */
export function waitForVersionAsync(v: VersionWords, version: number, options: AsyncWaitOptions = {}): Promise<boolean> {
  return waitUntilAsync(v.words, v.pub, v.waiters, () => v.latestVersion() >= version, options)
}

/** Wakes every thread waiting for a version (call after storing PUB). */
export function notifyVersion(words: Int32Array, pub: number, waiters: number): void {
  if (Atomics.load(words, waiters) !== 0) Atomics.notify(words, pub)
}
