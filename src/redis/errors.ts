/**
 * Errors of the Redis-backed objects (`threadstate/redis`). Bad input gets
 * the same errors as in memory (`EncodeError`, `KeyError`, `OptionError`,
 * ...), thrown before anything is sent; these are what only a network and
 * a remote server add.
 *
 * @module
 */
import { ThreadstateError } from '../errors.js'

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
