/**
 * Errors of the Redis-backed objects (`threadstate/redis`). Bad input gets
 * the same errors as in memory (`EncodeError`, `KeyError`, `OptionError`,
 * ...), thrown before anything is sent; these are what only a network and
 * a remote server add.
 *
 * @module
 */
import { LockError, OwnerDiedError, ThreadstateError } from '../errors.js'
import type { RedisLease } from './lock-engine.js'

/**
 * The server could not be reached (or did not answer) within the timeout,
 * and the write was certainly not applied: it was never sent. Nothing changed.
 */
export class RedisConnectionError extends ThreadstateError {
  /** Always `'RedisConnectionError'`. */
  override name = 'RedisConnectionError'
}

/**
 * A write was sent but no reply arrived within its timeout (the connection
 * dropped, or the server stalled): it may or may not have been applied.
 * It will never be applied twice: every write carries an operation id that
 * the server records with the commit, and retries of it (made by threadstate
 * until the timeout) are answered from that record. Read the object (after
 * `sync()`) to learn what happened.
 */
export class RedisOutcomeUnknownError extends ThreadstateError {
  /** Always `'RedisOutcomeUnknownError'`. */
  override name = 'RedisOutcomeUnknownError'
  /** The write's operation id (the server keeps its record for `operationTtlMs`). */
  readonly operationId: string

  constructor(message: string, operationId: string) {
    super(message)
    this.operationId = operationId
  }
}

/**
 * The object's data on the server is gone or was replaced: its epoch (a
 * random id written when the object was created and checked by every
 * script) is missing or different. Redis lost its data (a restart without
 * persistence, a flush, a failover that lost writes) or somebody deleted
 * the keys. Versions would otherwise start again at 1 and look like a fresh
 * object; instead every write rejects with this error, subscriptions end
 * with it, and the local mirror keeps serving the last state it had (stale,
 * and `lost` says so). Open the object again to start a new epoch.
 */
export class RedisDataLostError extends ThreadstateError {
  /** Always `'RedisDataLostError'`. */
  override name = 'RedisDataLostError'
}

/**
 * The object exists on the server with another kind or shape than the one
 * asked for (a map opened as a snapshot store, a state buffer opened with
 * another schema).
 */
export class RedisShapeError extends ThreadstateError {
  /** Always `'RedisShapeError'`. */
  override name = 'RedisShapeError'
}

/**
 * The lease of a Redis-backed lock ended while its holder still held it:
 * renewal was refused (the lease had expired on the server's clock, or the
 * server lost it) or could not get through before it expired. It is the
 * reason of `lease.signal`: stop writing under that lease; writes fenced
 * with it are refused once a later holder has written.
 */
export class LeaseLostError extends LockError {
  /** Always `'LeaseLostError'`. */
  override name = 'LeaseLostError'
}

/**
 * {@link OwnerDiedError} of a Redis-backed lock: the previous holder's lease
 * expired (on the server's clock) without an unlock: its process died, froze
 * past its lease, or lost the network. As in memory, the caller now holds
 * the lock (`holding`) and the lock stays poisoned until `markConsistent()`.
 */
export class RedisOwnerDiedError extends OwnerDiedError {
  /** Always `'RedisOwnerDiedError'`. */
  override name = 'RedisOwnerDiedError'
  /** The dead holder's identity: `host:pid:thread:domain`. */
  readonly deadHolder: string
  /** The fence of the dead holder's lease (its late writes carry it: refused once yours reached the store). */
  readonly deadFence: number
  /** Your lease, when `holding` (the lock is yours: use its fence and signal, then unlock). */
  readonly lease: RedisLease | undefined

  constructor(message: string, deadOwner: number, holding: boolean, deadHolder: string, deadFence: number, lease: RedisLease | undefined) {
    super(message, deadOwner, holding)
    this.deadHolder = deadHolder
    this.deadFence = deadFence
    this.lease = lease
  }
}

/**
 * A fenced write (`{ fence: lease }`) was refused: a write fenced by a later
 * lease of the same lock already reached the object, so this lease's holder
 * lost the lock (its lease expired, and somebody else acquired and wrote).
 * Nothing was written.
 */
export class StaleFenceError extends LockError {
  /** Always `'StaleFenceError'`. */
  override name = 'StaleFenceError'
  /** The newest fence of that lock the object has seen. */
  readonly newestFence: number

  constructor(message: string, newestFence: number) {
    super(message)
    this.newestFence = newestFence
  }
}
