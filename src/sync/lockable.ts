/**
 * `withLock`, `withLockAsync` and the disposable guard, written once over any
 * lock that has `lock`, `lockAsync`, `unlock` and `markConsistent` (the
 * async-mutex habit: thin wrappers over one core).
 *
 * @module
 */
import { OwnerDiedError, TimeoutError } from '../errors.js'
import type { AsyncWaitOptions } from './wait.js'

/** Options of `withLock` / `withLockAsync` / `guard`. */
export interface WithLockOptions extends AsyncWaitOptions {
  /**
   * Called, while holding the lock, when its previous holder died. Repair the
   * protected data here; when it returns, the lock is marked consistent and
   * the body runs. Without it, the lock is released (still poisoned) and the
   * `OwnerDiedError` is thrown.
   */
  readonly recover?: (error: OwnerDiedError) => void
}

/** The core a lock provides for the helpers. */
export interface LockCore {
  lock(timeoutMs?: number): boolean
  lockAsync(options?: AsyncWaitOptions): Promise<boolean>
  unlock(): void
  markConsistent(): void
}

/** Normalizes the `timeoutMs | options` argument of `withLock`. */
export function withLockOptions(arg: number | WithLockOptions | undefined): WithLockOptions {
  return typeof arg === 'number' ? { timeoutMs: arg } : (arg ?? {})
}

function timeout(what: string, options: WithLockOptions): TimeoutError {
  return new TimeoutError(`Expected to acquire the ${what} within ${options.timeoutMs} ms, got a timeout`)
}

/** Handles an acquisition error: recovers an OwnerDiedError or rethrows it. */
function afterOwnerDied(core: LockCore, error: unknown, options: WithLockOptions): void {
  if (!(error instanceof OwnerDiedError) || !error.holding) throw error
  if (!options.recover) {
    core.unlock()
    throw error
  }
  try {
    options.recover(error)
  } catch (failure) {
    core.unlock()
    throw failure
  }
  core.markConsistent()
}

/** Acquires `core` (recovering a dead holder if asked), or throws `TimeoutError`. */
export function acquireOrThrow(core: LockCore, what: string, options: WithLockOptions): void {
  let ok: boolean
  try {
    ok = core.lock(options.timeoutMs)
  } catch (error) {
    afterOwnerDied(core, error, options)
    return
  }
  if (!ok) throw timeout(what, options)
}

/** Async form of {@link acquireOrThrow}. */
export async function acquireOrThrowAsync(core: LockCore, what: string, options: WithLockOptions): Promise<void> {
  let ok: boolean
  try {
    ok = await core.lockAsync(options)
  } catch (error) {
    afterOwnerDied(core, error, options)
    return
  }
  if (!ok) throw timeout(what, options)
}

/** Runs `fn` holding `core`; releases it however `fn` ends. */
export function runLocked<T>(core: LockCore, what: string, fn: () => T, options: WithLockOptions): T {
  acquireOrThrow(core, what, options)
  try {
    return fn()
  } finally {
    core.unlock()
  }
}

/** Runs async `fn` holding `core`; releases it however `fn` ends. */
export async function runLockedAsync<T>(
  core: LockCore,
  what: string,
  fn: () => T | Promise<T>,
  options: WithLockOptions,
): Promise<T> {
  await acquireOrThrowAsync(core, what, options)
  try {
    return await fn()
  } finally {
    core.unlock()
  }
}

/**
 * A held lock that releases itself at the end of a `using` block.
 *
 * @example
 * ```ts
 * {
 *   using _held = mutex.guard()
 *   counter[0]++
 * } // unlocked here, even if the block throws
 * ```
 */
export class LockGuard implements Disposable {
  private released = false
  /** @internal */
  constructor(private readonly core: { unlock(): void }) {}

  /** Releases the lock now (once; later calls do nothing). */
  release(): void {
    if (this.released) return
    this.released = true
    this.core.unlock()
  }

  /** Same as {@link release}; called by `using`. */
  [Symbol.dispose](): void {
    this.release()
  }
}
