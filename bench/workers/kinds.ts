/**
 * What main and the crew workers agree on, bench by bench: the KIND values a
 * round may ask for, the bench's own control words (from `Ctl.FREE` on) and
 * the shape of its `workerData`. Kept apart from the worker scripts so that
 * main can import it without running a worker's top level.
 *
 * @module
 */
import type { MutexHandle } from 'threadstate'
import { Ctl, type CrewData } from './crew.js'

// ---- contended throughput (contend.ts) --------------------------------------

/** KIND values of a contended round: which lock the crew hammers. */
export const ContendKind = { Mutex: 1, Naive: 2 } as const

/** `workerData` of `contend.ts`. */
export interface ContendData extends CrewData {
  /** The Mutex under test. */
  readonly mutex: MutexHandle
  /** Buffer of the naive mutex. */
  readonly naive: SharedArrayBuffer
  /** See {@link ContendResults}. */
  readonly results: SharedArrayBuffer
}

/**
 * Layout of the contended bench's results buffer:
 *
 * ```
 *  Int32 word 0            the protected counter (plain ++ inside the lock)
 *  Float64 at byte 8 + 8i  critical sections run by worker i this round
 * ```
 */
export const ContendResults = {
  COUNTER_WORD: 0,
  COUNTS_BYTE: 8,
  bytes: (workers: number): number => 8 + 8 * workers,
} as const

// ---- hand-off latency (handoff.ts) -----------------------------------------

/**
 * KIND values of a hand-off round: how the waiter waits and the holder
 * releases. Floors are raw `Atomics.wait`/`waitAsync` + `notify` on a word.
 */
export const HandoffKind = {
  /** Waiter in `Atomics.wait` on a word; holder stores and notifies. */
  WaitFloor: 1,
  /** Naive always-notify mutex. */
  Naive: 2,
  /** Mutex, waiter blocked in `lock()`. */
  Mutex: 3,
  /** Waiter awaiting `Atomics.waitAsync` on a word; holder stores and notifies. */
  WaitAsyncFloor: 4,
  /** Mutex, waiter awaiting `lockAsync()`. */
  MutexAsync: 5,
} as const

/** Roles in a hand-off crew (worker index). */
export const HandoffRole = { Holder: 0, Waiter: 1 } as const

/** The hand-off bench's own control words. */
export const HandoffWord = {
  /** Holder -> waiter: sample s may start (the holder holds the lock). */
  ARMED: Ctl.FREE,
  /** Waiter -> holder: about to call lock() for sample s. */
  ENTERING: Ctl.FREE + 1,
  /** Waiter -> holder: sample s done, lock released. */
  ACQUIRED: Ctl.FREE + 2,
  /** The word the floor variants wait on. */
  RAW: Ctl.FREE + 3,
  /**
   * Main -> holder, per round: busy time, in µs, the holder lets pass once the
   * waiter is on its way to sleep, before releasing (see handoff.ts).
   */
  SETTLE_US: Ctl.FREE + 4,
} as const

/** `workerData` of `handoff.ts`. */
export interface HandoffData extends CrewData {
  /** The Mutex under test. */
  readonly mutex: MutexHandle
  /** Buffer of the naive mutex. */
  readonly naive: SharedArrayBuffer
  /**
   * Float64 slot 0: shared-clock stamp the holder takes just before
   * releasing; slots 1..COUNT: the waiter's latency per sample, in ms.
   */
  readonly stamps: SharedArrayBuffer
}
