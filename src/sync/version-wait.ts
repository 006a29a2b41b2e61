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
 * The writer's read of WAITERS must not be performed before its store of PUB
 * is visible (store then load: the one order x86-64 does not keep by
 * itself). With `Atomics.load` (as `VersionRing.publish` reads it) that is
 * given. It is also given, for a plain read (~1 ns instead of ~7 here),
 * after a read-modify-write of this thread between the two:
 *
 * - {@link wakeAfterRelease}: the writer released its writer lock (a
 *   read-modify-write on the lock word) after storing PUB. On x86-64 that is
 *   a locked instruction, a full barrier; on ARM64 an acquire-release
 *   exclusive pair (or CASAL), which the PUB store-release cannot pass
 *   (RCsc) and the plain load after it cannot pass (acquire).
 * - {@link wakeAfterChange}: the change itself was the read-modify-write (a
 *   StateMachine's compareExchange of its state word). On x86-64 it is a
 *   full barrier; on ARM64 a plain load may pass its store half, so there
 *   the read stays an `Atomics.load`.
 *
 * V8 keeps a plain typed-array load after an Atomics call in program order
 * (both are on its effect chain), so the compiler does not undo either.
 *
 * @module
 */
import { strongMemoryOrdering } from '#platform'
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

/** Wakes every thread waiting on `pub`, for a writer that stored it, then released its writer lock (module comment). */
export function wakeAfterRelease(words: Int32Array, pub: number, waiters: number): void {
  if (words[waiters] !== 0) Atomics.notify(words, pub)
}

// A module-local copy: TurboFan folds a module's own `const` (see sync/seqlock.ts, STRONG).
const STRONG: boolean = strongMemoryOrdering

/** Wakes every thread waiting on `word`, for a writer whose change of it was a read-modify-write (module comment). */
export function wakeAfterChange(words: Int32Array, word: number, waiters: number): void {
  if ((STRONG ? words[waiters] : Atomics.load(words, waiters)) !== 0) Atomics.notify(words, word)
}
