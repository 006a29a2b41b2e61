/**
 * `SharedMap.transaction`: reads under the writers' lock, writes buffered
 * and applied in one commit when the function returns.
 *
 * @module
 */
import { OptionError } from '../errors.js'
import { checkKey, type MapEntry } from './api.js'
import { DELETE, type Changes, type Prepared } from './value.js'

/** The view of a map inside `SharedMap.transaction`: reads see the transaction's own writes. */
export interface MapTransaction<V> {
  /** The value of `key` (a private copy), or undefined. */
  get(key: string): V | undefined
  /** Whether `key` is present. */
  has(key: string): boolean
  /** The value and the version of the commit that wrote it (0 for a write of this transaction). */
  getEntry(key: string): MapEntry<V> | undefined
  /** Sets `key` when the transaction commits. @throws EncodeError / ValidationError at once */
  set(key: string, value: V): void
  /** Deletes `key` when the transaction commits; false if it is absent. */
  delete(key: string): boolean
}

/** What a transaction needs from its map, with the writers' lock held. */
export interface TransactionHost<V> {
  /** The committed value of `key` and its version, or undefined if absent. */
  readCommitted(key: string): MapEntry<V> | undefined
  /** Validates and encodes a value. @throws EncodeError / ValidationError */
  prepare(value: V): Prepared
}

/** The transaction view: buffered writes over committed reads. */
class Transaction<V> implements MapTransaction<V> {
  /** The writes, applied in one commit when the function returns. */
  readonly changes = new Map<string, Prepared | typeof DELETE>()
  private readonly written = new Map<string, V>()

  constructor(private readonly host: TransactionHost<V>) {}

  get(key: string): V | undefined {
    return this.getEntry(key)?.value
  }

  has(key: string): boolean {
    return this.getEntry(key) !== undefined
  }

  getEntry(key: string): MapEntry<V> | undefined {
    checkKey(key)
    const change = this.changes.get(key)
    if (change === DELETE) return undefined
    if (change !== undefined) return { value: this.written.get(key) as V, version: 0 }
    return this.host.readCommitted(key)
  }

  set(key: string, value: V): void {
    checkKey(key)
    this.changes.set(key, this.host.prepare(value))
    this.written.set(key, value)
  }

  delete(key: string): boolean {
    const present = this.has(key)
    this.changes.set(key, DELETE)
    this.written.delete(key)
    return present
  }
}

/**
 * Runs `fn` on a transaction over `host` (writers' lock held by the caller).
 * @returns what `fn` returned, and the changes to commit (none if it wrote nothing)
 * @throws what `fn` throws; OptionError if it returned a Promise (nothing is committed)
 */
export function runTransaction<V, R>(host: TransactionHost<V>, fn: (tx: MapTransaction<V>) => R): { result: R; changes: Changes } {
  const tx = new Transaction(host)
  const result = fn(tx)
  if (result instanceof Promise) {
    result.catch(() => {})
    throw new OptionError('Expected a synchronous transaction function, got one that returned a Promise: nothing was committed')
  }
  return { result, changes: [...tx.changes] }
}
