/**
 * What main and the crew workers agree on, bench by bench: the KIND values a
 * round may ask for, the bench's own control words (from `Ctl.FREE` on) and
 * the shape of its `workerData`. Kept apart from the worker scripts so that
 * main can import it without running a worker's top level.
 *
 * @module
 */
import type { MutexHandle, SnapshotStoreHandle, StateBufferHandle } from 'threadstate'
import { Ctl, type CrewData } from './crew.js'
import type { State25 } from './payload.js'
import type { AgentStatus } from './status.js'

// ---- contended throughput (contend.ts) --------------------------------------

/** KIND values of a contended round: which lock the crew hammers. */
export const ContendKind = { Mutex: 1, Naive: 2, Multithreading: 3, FairMutex: 4 } as const

/** `workerData` of `contend.ts`. */
export interface ContendData extends CrewData {
  /** The Mutex under test. */
  readonly mutex: MutexHandle
  /** A `{ fair: true }` Mutex, if that kind runs. */
  readonly fairMutex?: MutexHandle
  /** Buffer of the naive mutex. */
  readonly naive: SharedArrayBuffer
  /** The lock word of a `multithreading` Mutex (the `peers` suite), if that kind runs. */
  readonly multithreading?: SharedArrayBuffer
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

// ---- StateBuffer: the 100 Hz owner (state-owner.ts) ------------------------

/**
 * `workerData` of `state-owner.ts`: the thread that owns the state. It
 * publishes version after version at {@link OWNER_HZ} into the StateBuffer,
 * the seqlock word and the Mutex-protected copy, and answers `postMessage`
 * requests with its current state, while main measures reads of each.
 */
export interface OwnerData extends CrewData {
  readonly state: StateBufferHandle<typeof State25>
  /** Buffer of the one-word seqlock (seqlock.ts). */
  readonly seqlock: SharedArrayBuffer
  /** The Mutex that guards {@link OwnerData.copy}. */
  readonly mutex: MutexHandle
  /** 25 Float64: the state, written and read only under {@link OwnerData.mutex}. */
  readonly copy: SharedArrayBuffer
}

/** Rate the owner publishes at (the estimator of DESIGN.md). */
export const OWNER_HZ = 100

/** What the owner answers a request (any message) with. */
export interface OwnerReply {
  readonly version: number
  readonly state: { readonly a: readonly number[] }
}

// ---- StateBuffer: flat-out writer and readers (state-readers.ts) -----------

/** KIND values of a readers round: what the writer writes and the readers read. */
export const ReadersKind = {
  /** `update()` flat out; readers `readInto()` and verify. */
  StateBuffer: 1,
  /** The one-word seqlock flat out; readers read it and verify. */
  Seqlock: 2,
  /** The seqlock flat out; readers copy without checking (a broken reader: torn copies must show up). */
  Unchecked: 3,
} as const

/** Worker 0 writes; workers 1.. read. */
export const READERS_WRITER = 0

/** The readers bench's own control words. */
export const ReadersWord = {
  /** Main -> crew, per round: readers 1..READERS read, the others sit the round out. */
  READERS: Ctl.FREE,
} as const

/** `workerData` of `state-readers.ts`. */
export interface ReadersData extends CrewData {
  readonly state: StateBufferHandle<typeof State25>
  /** Buffer of the one-word seqlock. */
  readonly seqlock: SharedArrayBuffer
  /** See {@link ReadersResults}. */
  readonly results: SharedArrayBuffer
}

/**
 * Histogram of a reader's batch means: log buckets 2 % wide, bucket i holding
 * [GROWTH^(i-1), GROWTH^i) ns, from 1 ns to ~390 ms (bucket 0: below 1 ns).
 */
const GROWTH = 1.02
const BUCKETS = 1000
/** Float64 words before a block's histogram. */
const FIELDS = 8

/**
 * Layout of the readers bench's results buffer: one block of Float64 per
 * worker, reset by main before each round.
 *
 * ```
 *  block i:  OPS        writer: versions written; reader: reads returned
 *            RETRIES    reader: failed copies it counted (seqlock kinds; the StateBuffer counts its own)
 *            TORN       reader: reads whose payload was not one version, or not the version returned
 *            BACKWARDS  reader: reads older than the reader's previous read
 *            MAX_NS     reader: slowest batch, mean ns per read
 *            HISTOGRAM  reader: batches by mean ns per read (see bucketOf; 2 % wide)
 * ```
 */
export const ReadersResults = {
  OPS: 0,
  RETRIES: 1,
  TORN: 2,
  BACKWARDS: 3,
  MAX_NS: 4,
  HISTOGRAM: FIELDS,
  BUCKETS,
  /**
   * Reads timed together: one read (~30-60 ns) costs about what one
   * `performance.now()` costs, so readers time batches and record the mean.
   */
  BATCH: 16,
  BLOCK_WORDS: FIELDS + BUCKETS,
  bytes: (workers: number): number => workers * (FIELDS + BUCKETS) * 8,
} as const

/** Histogram bucket of a batch whose mean read took `ns`. */
export function bucketOf(ns: number): number {
  if (!(ns >= 1)) return 0
  return Math.min(BUCKETS - 1, Math.floor(Math.log(ns) / Math.log(GROWTH)) + 1)
}

/** Upper edge of bucket `i`, in ns (Infinity for the open last bucket). */
export function bucketUpperNs(i: number): number {
  return i >= BUCKETS - 1 ? Infinity : GROWTH ** i
}

// ---- StateBuffer: wake-up latency (state-wake.ts) --------------------------

/** KIND values of a wake-up round: how the waiter waits and the notifier wakes it. */
export const WakeKind = {
  /** Waiter in `Atomics.wait` on a word; notifier stores and notifies. */
  WaitFloor: 1,
  /** Waiter blocked in `waitForVersion`; notifier calls `update`. */
  WaitForVersion: 2,
  /** Waiter awaiting `Atomics.waitAsync` on a word; notifier stores and notifies. */
  WaitAsyncFloor: 3,
  /** Waiter awaiting `waitForVersionAsync`; notifier calls `update`. */
  WaitForVersionAsync: 4,
  /** Waiter awaiting the next event of a `subscribe()` iterator; notifier calls `update`. */
  Subscribe: 5,
} as const

/** Roles in a wake-up crew (worker index). */
export const WakeRole = { Notifier: 0, Waiter: 1 } as const

/** The wake-up bench's own control words. */
export const WakeWord = {
  /** Notifier -> waiter: sample s may start. */
  ARMED: Ctl.FREE,
  /** Waiter -> notifier: about to wait for sample s. */
  ENTERING: Ctl.FREE + 1,
  /** Waiter -> notifier: woke for sample s and recorded it. */
  WOKEN: Ctl.FREE + 2,
  /** The word the floor variants wait on (the notifier stores s). */
  RAW: Ctl.FREE + 3,
  /** Main -> notifier, per round: busy time, µs, between "the waiter is going to sleep" and the wake-up. */
  SETTLE_US: Ctl.FREE + 4,
} as const

/** `workerData` of `state-wake.ts`. */
export interface WakeData extends CrewData {
  readonly state: StateBufferHandle<typeof State25>
  /**
   * Float64 slot 0: shared-clock stamp the notifier takes just before
   * `update` (or the raw notify); slots 1..COUNT: the waiter's latency per
   * sample, in ms.
   */
  readonly stamps: SharedArrayBuffer
}

// ---- SnapshotStore: first read and broadcast (snapshot-readers.ts) ---------

/** KIND values of a snapshot readers round. */
export const SnapshotKind = {
  /**
   * Reader 0 waits in `waitForVersion`, then times one of: `get()` (copy +
   * decode + freeze), `JSON.parse` or msgpackr's `unpack` of the previous
   * version's status, in turn from sample to sample.
   */
  FirstRead: 1,
  /** Every reader waits in `waitForVersion`, then `get()`s and stamps the shared clock. */
  StoreBroadcast: 2,
  /** Every reader awaits main's `postMessage` of the status and stamps the clock on receipt. */
  MessageBroadcast: 3,
} as const

/** The snapshot readers bench's own control words. */
export const SnapshotWord = {
  /** Main -> readers: sample s may start. */
  ARMED: Ctl.FREE,
  /** Readers -> main: readers about to wait for sample s (each adds 1; main resets it per sample). */
  ENTERING: Ctl.FREE + 1,
  /** Readers -> main: readers that have the object of sample s (each adds 1; main resets it per sample). */
  WOKEN: Ctl.FREE + 2,
  /** Main -> readers, per round: which status (index into {@link SnapshotReadersData.stores}). */
  SIZE: Ctl.FREE + 3,
  /** Main -> readers, per sample: the `tick` the object of sample s carries. */
  TICK: Ctl.FREE + 4,
  /** Main -> readers, per round: readers 0..READERS-1 take part, the others sit the round out. */
  READERS: Ctl.FREE + 5,
} as const

/** `workerData` of `snapshot-readers.ts`. */
export interface SnapshotReadersData extends CrewData {
  /** One store per status size, in the order of the SIZE word. */
  readonly stores: readonly SnapshotStoreHandle<AgentStatus>[]
  /** See {@link SnapshotResults}. */
  readonly results: SharedArrayBuffer
}

/**
 * Layout of the snapshot readers' results buffer: one block of Float64 per
 * worker, written for every sample before the worker adds 1 to WOKEN.
 *
 * ```
 *  block i:  ARRIVED    shared-clock stamp once the reader has the object (after get() / on 'message')
 *            GET_MS     FirstRead and StoreBroadcast: the get() call alone
 *            PARSE_MS   FirstRead: JSON.parse of the previous version's JSON text
 *            UNPACK_MS  FirstRead: msgpackr unpack alone of the previous version's bytes
 *            (FirstRead writes NaN for the two it did not time this sample)
 * ```
 */
export const SnapshotResults = {
  ARRIVED: 0,
  GET_MS: 1,
  PARSE_MS: 2,
  UNPACK_MS: 3,
  BLOCK_WORDS: 4,
  bytes: (workers: number): number => workers * 4 * 8,
} as const
