/**
 * What `demo.ts` (main thread) and `worker.ts` (workers) agree on: the
 * handshake flags, the layouts of the shared arrays each scene uses, the task
 * a worker is given in `workerData`, and the report it posts back.
 *
 * Every shared array is a plain typed array over a SharedArrayBuffer; the
 * indices below are the only place their layouts are written down.
 *
 * @module
 */
import type { MutexHandle, ReentrantMutexHandle, RWLockHandle } from '../../index.js'

/**
 * Int32 handshake words (one `flags` array per scene). Steps between threads
 * are ordered by these, never by sleeps:
 *
 * ```
 *  worker: add(READY) + notify  ->  main: waits until READY == n
 *  main:   store(GO, 1) + notify ->  workers leave their Atomics.wait and run
 *  main:   store(STOP, 1) + notify -> workers finish the iteration and report
 * ```
 */
export const Flag = {
  /** Workers that are attached and waiting for GO (a count). */
  READY: 0,
  /** Raised by the main thread: start. */
  GO: 1,
  /** Raised by the main thread: stop and report. */
  STOP: 2,
  /** Raised by the dying worker once it holds the mutex mid-update. */
  HOLDING: 3,
  /** Readers inside the RWLock's read side right now (a count). */
  INSIDE: 4,
  /** Never raised: a worker parks on it until it is terminated. */
  PARK: 5,
  /** Words in a flags array. */
  WORDS: 8,
} as const

/** Int32 words of the seed-003 emergency-stop state. */
export const Stop = {
  /** Set by the shutdown command (a "trigger flag" of the seed). */
  SHUTDOWN_TRIG: 0,
  /** 1 once the emergency stop is active. */
  EMERGENCY_ACTIVE: 1,
  /** Current state machine state: one of {@link FsmState}. */
  FSM_STATE: 2,
  WORDS: 3,
} as const

/** States of the seed's state machine that the demo uses. */
export const FsmState = { READY: 1, E_STOP: 2 } as const

/**
 * Int32 words of the two-account ledger of the dead-holder scene. A transfer
 * writes an undo log (UNDO_*) before it touches A or B, and clears UNDO_VALID
 * when done, so whoever finds a half-done transfer can roll it back.
 */
export const Ledger = {
  A: 0,
  B: 1,
  UNDO_VALID: 2,
  UNDO_A: 3,
  UNDO_B: 4,
  WORDS: 5,
  /** A + B, always, outside a transfer. */
  TOTAL: 100,
} as const

/** Int32 words of the record the RWLock scene shares: every word holds the version. */
export const RECORD_WORDS = 64

/** What a worker is asked to do (its `workerData`). */
export type Task =
  | {
      /** Increment `counter[0]` until STOP, under `mutex` or with no lock at all. */
      readonly task: 'count'
      readonly mutex: MutexHandle | undefined
      readonly counter: Float64Array
      readonly flags: Int32Array
    }
  | {
      /** The seed-003 callback: take the lock, then call a function that takes it again. */
      readonly task: 'emergencyStop'
      readonly lock:
        | { readonly kind: 'Mutex'; readonly handle: MutexHandle }
        | { readonly kind: 'ReentrantMutex'; readonly handle: ReentrantMutexHandle }
      readonly state: Int32Array
    }
  | {
      /**
       * Opposite lock order: take `first`, count itself in READY, wait until
       * both workers hold their first lock, then take `second` (no timeout).
       */
      readonly task: 'lockPair'
      readonly first: MutexHandle
      readonly second: MutexHandle
      readonly flags: Int32Array
    }
  | {
      /** Take the mutex, start a transfer, raise HOLDING, park until terminated. */
      readonly task: 'dieHolding'
      readonly mutex: MutexHandle
      readonly ledger: Int32Array
      readonly flags: Int32Array
    }
  | {
      /** Transfer 1 between the accounts under the mutex until STOP. */
      readonly task: 'transfer'
      readonly mutex: MutexHandle
      readonly ledger: Int32Array
      readonly flags: Int32Array
    }
  | {
      /**
       * First meet the other readers inside the read lock (proof that readers
       * share it), then copy the record under a read lock until STOP; count
       * torn copies.
       */
      readonly task: 'read'
      readonly rw: RWLockHandle
      readonly record: Int32Array
      readonly flags: Int32Array
      readonly readers: number
    }
  | {
      /** Bump the record's version under the write lock every `pauseMs` until STOP. */
      readonly task: 'write'
      readonly rw: RWLockHandle
      readonly record: Int32Array
      readonly flags: Int32Array
      readonly pauseMs: number
    }

/** Report of a `count` task. */
export interface CountReport {
  /** Increments this worker made (its own tally, not shared). */
  readonly increments: number
}

/** Report of an `emergencyStop` task. */
export type EmergencyStopReport =
  | { readonly outcome: 'stopped'; readonly deepestNesting: number; readonly ms: number }
  | {
      readonly outcome: 'threw'
      readonly error: string
      readonly message: string
      readonly ms: number
      /** Whether the lock was still held after the error left the outer withLock. */
      readonly lockedAfter: boolean
    }

/** Report of a `lockPair` task. */
export type LockPairReport =
  | { readonly outcome: 'both'; readonly ms: number }
  | { readonly outcome: 'threw'; readonly error: string; readonly message: string; readonly ms: number }

/** Report of a `transfer` task. */
export interface TransferReport {
  readonly transfers: number
}

/** Report of a `read` task. */
export interface ReadReport {
  readonly reads: number
  /** Copies whose words were not all equal (a write seen half-done). */
  readonly torn: number
  /** Most readers seen inside the read side at once (including this one). */
  readonly maxInside: number
}

/** Report of a `write` task. */
export interface WriteReport {
  readonly updates: number
  /** Write sections that found a reader inside (must be 0). */
  readonly readersInside: number
}

/** What a worker posts when its task ends. */
export type WorkerReport<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: { readonly name: string; readonly message: string } }
