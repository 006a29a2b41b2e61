/**
 * Waiting for a version of a versioned object (StateBuffer, SnapshotStore):
 * both publish by storing a published-version word PUB and notify sleepers on
 * it when a WAITERS count says someone sleeps.
 *
 * A waiter increments WAITERS, re-reads PUB, and sleeps only while PUB keeps
 * the value it read; the writer stores PUB, then reads WAITERS. By sequential
 * consistency either the writer sees the waiter (and notifies) or the waiter
 * sees the new PUB (and does not sleep): no lost wake-up.
 *
 * @module
 */
import { deadlineOf, sleepWhile, sleepWhileAsync, type AsyncWaitOptions } from '../sync/wait.js'

/** Where a versioned object keeps its words, and how to read its full version. */
export interface VersionWords {
  readonly words: Int32Array
  readonly pub: number
  readonly waiters: number
  /** Full version of the latest published state (0: none). */
  latestVersion(): number
}

/** Blocks until the version is at least `version`, at most `timeoutMs`; false on timeout. */
export function waitForVersion(v: VersionWords, version: number, timeoutMs?: number): boolean {
  const deadline = deadlineOf(timeoutMs)
  const { words, pub: PUB, waiters: WAITERS } = v
  for (;;) {
    if (v.latestVersion() >= version) return true
    Atomics.add(words, WAITERS, 1)
    try {
      const pub = Atomics.load(words, PUB)
      if (v.latestVersion() >= version) return true
      if (!sleepWhile(words, PUB, pub, deadline)) return false
    } finally {
      Atomics.sub(words, WAITERS, 1)
    }
  }
}

/** Async form of {@link waitForVersion}: keeps a Node process alive; rejects with the signal's reason. */
export async function waitForVersionAsync(v: VersionWords, version: number, options: AsyncWaitOptions = {}): Promise<boolean> {
  const deadline = deadlineOf(options.timeoutMs)
  const { words, pub: PUB, waiters: WAITERS } = v
  for (;;) {
    if (v.latestVersion() >= version) return true
    Atomics.add(words, WAITERS, 1)
    try {
      const pub = Atomics.load(words, PUB)
      if (v.latestVersion() >= version) return true
      if (!(await sleepWhileAsync(words, PUB, pub, deadline, options.signal))) return false
    } finally {
      Atomics.sub(words, WAITERS, 1)
    }
  }
}

/** Wakes every thread waiting for a version (call after storing PUB). */
export function notifyVersion(words: Int32Array, pub: number, waiters: number): void {
  if (Atomics.load(words, waiters) !== 0) Atomics.notify(words, pub)
}
