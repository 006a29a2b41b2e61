/**
 * Typed errors thrown by threadstate. Every error says what was expected and
 * what came, so a failure in another thread can be read without a debugger.
 *
 * @module
 */

/** Base class of every error threadstate throws on purpose. */
export class ThreadstateError extends Error {
  /** Always `'ThreadstateError'`. */
  override name = 'ThreadstateError'
}

/**
 * A handle passed to `X.attach()` is not a valid handle of that kind: wrong
 * type, another layout version, out-of-range offsets or corrupted memory.
 */
export class HandleError extends ThreadstateError {
  /** Always `'HandleError'`. */
  override name = 'HandleError'
}

/** Misuse of a lock: e.g. `unlock()` by a thread that does not hold it. */
export class LockError extends ThreadstateError {
  /** Always `'LockError'`. */
  override name = 'LockError'
}

/**
 * Waiting for the lock would never end, so the call throws instead of
 * hanging. Two cases:
 *
 * - **Self-deadlock**, thrown at once: the calling thread holds what it
 *   waits for. A `lock()` / `tryLock()` of a non-reentrant mutex it holds, a
 *   `writeLock()` / `tryWriteLock()` of an RWLock whose write lock it holds,
 *   a `readLock()` under its own write lock, or an upgrade (`writeLock()`
 *   while it holds a read lock: the writer would wait for its own reader).
 *   {@link DeadlockError.cycle} is empty.
 * - **A cycle of threads**, found by deadlock detection: threads blocked in
 *   `lock()` / `writeLock()` without a timeout, each waiting for a lock the
 *   next one holds. One of them, the one with the smallest thread id, gets
 *   this error (after a few sleep slices, ~200-300 ms) so that it can
 *   release what it holds and let the others go on.
 *   {@link DeadlockError.cycle} names the threads.
 */
export class DeadlockError extends LockError {
  /** Always `'DeadlockError'`. */
  override name = 'DeadlockError'
  /**
   * The cycle of blocked threads (thread ids in the lock's domain), starting
   * with the thread this error was thrown in, each waiting for a lock the next
   * one holds (the last for the first). Empty for a self-deadlock.
   */
  readonly cycle: readonly number[]
  /**
   * @param cycle the threads of the cycle, this thread first; omit for a self-deadlock
   */
  constructor(message: string, cycle: readonly number[] = []) {
    super(message)
    this.cycle = Object.freeze([...cycle])
  }
}

/**
 * The previous holder of the lock died (its thread was terminated or crashed)
 * while holding it. The lock **is now held by the caller**: repair what it
 * protects, call `markConsistent()`, then unlock. Unlocking without
 * `markConsistent()` leaves the lock poisoned, and the next acquirer gets this
 * error again.
 */
export class OwnerDiedError extends LockError {
  /** Always `'OwnerDiedError'`. */
  override name = 'OwnerDiedError'
  /** Thread id (in the lock's domain) of the holder that died, 0 if unknown. */
  readonly deadOwner: number
  /**
   * Whether the caller now holds the lock (true for every exclusive
   * acquisition; false for a read lock refused because a writer died).
   */
  readonly holding: boolean
  constructor(message: string, deadOwner: number, holding = true) {
    super(message)
    this.deadOwner = deadOwner
    this.holding = holding
  }
}

/** A barrier was broken: a party timed out or was aborted while waiting. `reset()` repairs it. */
export class BarrierBrokenError extends ThreadstateError {
  /** Always `'BarrierBrokenError'`. */
  override name = 'BarrierBrokenError'
}

/** An option or argument has the wrong type or range. */
export class OptionError extends ThreadstateError {
  /** Always `'OptionError'`. */
  override name = 'OptionError'
}

/** Describes a value for an "expected X, got Y" message: `` `NaN` (number) ``. */
export function describe(value: unknown): string {
  if (value === null) return '`null`'
  if (value === undefined) return '`undefined`'
  const type = typeof value
  if (type === 'string') {
    const s = value as string
    return `\`${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)}\` (string)`
  }
  if (type === 'number' || type === 'boolean' || type === 'bigint') {
    return `\`${String(value)}\` (${type})`
  }
  if (type === 'function') return 'a function'
  if (type === 'symbol') return `\`${String(value)}\` (symbol)`
  // A hostile value (a revoked Proxy, a throwing `length` or `constructor` getter) must not turn the
  // error being described into another one.
  try {
    if (Array.isArray(value)) return `an array of length ${String((value as unknown[]).length)}`
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name
    return typeof ctor === 'string' && ctor !== 'Object' ? `a ${ctor}` : 'an object'
  } catch {
    return 'an object that throws when inspected (a revoked Proxy or a throwing getter)'
  }
}

/**
 * A call that cannot return `false` (`withLock`, `guard`, `acquire` in a
 * helper) ran out of time waiting.
 */
export class TimeoutError extends ThreadstateError {
  /** Always `'TimeoutError'`. */
  override name = 'TimeoutError'
}

/**
 * A blocking call (`lock()`, `readLock()`, `wait()`, `acquire()`) had to
 * sleep on a thread that may not block: a browser main thread forbids
 * `Atomics.wait`. Use the async form there.
 */
export class BlockingNotAllowedError extends ThreadstateError {
  /** Always `'BlockingNotAllowedError'`. */
  override name = 'BlockingNotAllowedError'
}

/** A snapshot (or map value) would not fit in the object's `maxBytes`. Nothing shared was changed. */
export class CapacityError extends ThreadstateError {
  /** Always `'CapacityError'`. */
  override name = 'CapacityError'
}

/**
 * Creating the object would need a growable buffer the process has no room
 * for: on Linux, its memory mappings (`vm.max_map_count`) are nearly used up,
 * and going on would make V8 abort the process; elsewhere, the thread holds
 * `DEFAULT_GROWABLE_BUDGET` growable buffers. Nothing was created. Objects
 * whose `maxBytes` is at most `SMALL_OBJECT_MAX_BYTES` need no growable
 * buffer: give that to objects you make many of (README, "How many objects").
 */
export class MappingLimitError extends CapacityError {
  /** Always `'MappingLimitError'`. */
  override name = 'MappingLimitError'
}

/** One issue a Standard Schema validator reported. */
export interface ValidationIssue {
  /** What is wrong. */
  readonly message: string
  /** Where: keys (or `{ key }` segments) from the root of the value. */
  readonly path?: readonly unknown[]
}

/** A value was refused by the object's `validate` schema (any Standard Schema validator). */
export class ValidationError extends ThreadstateError {
  /** Always `'ValidationError'`. */
  override name = 'ValidationError'
  /** The validator's issues, as it reported them. */
  readonly issues: readonly ValidationIssue[]
  constructor(message: string, issues: readonly ValidationIssue[]) {
    super(message)
    this.issues = issues
  }
}
