/**
 * Locks on a Redis server, shared by every process (and thread) that opens
 * them by name: {@link RedisMutex}, {@link RedisReentrantMutex},
 * {@link RedisRWLock}, {@link RedisSemaphore}. Each hold is a lease on the
 * server's clock, renewed in the background while held, with a fencing
 * token (`lease.fence`) and a signal that aborts when the lease is lost.
 * The server's side is lock-scripts.ts; one thread's side lock-engine.ts.
 *
 * A holder is a thread: `host:pid:thread:domain`. As in memory, async tasks
 * of one thread exclude each other (a second `lockAsync` of a thread waits
 * for the first's `unlock`, which any task of the thread may call), and
 * the thread that holds a mutex may not take it again: `tryLock()` there,
 * and `lockAsync()` / `withLockAsync()` inside one of its own
 * `withLockAsync()` bodies, throw DeadlockError at once (that body's async
 * context is known: AsyncLocalStorage), where a reentrant mutex nests.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { AsyncLock, AsyncReadWriteLock } from '../contracts.js'
import { DeadlockError, HandleError, LockError, OptionError, TimeoutError, describe } from '../errors.js'
import { now } from '../memory/clock.js'
import { checkWaitOptions, deadlineOf, type AsyncWaitOptions } from '../sync/wait.js'
import type { LinkDescriptor, RedisLink } from './client.js'
import { RedisOwnerDiedError } from './errors.js'
import { LockEngine, LockWord, namespaceOf, type Hold, type LockKind, type LockSpec, type RedisLease } from './lock-engine.js'
import { MAX_TIMER_MS, attachingRemote, checkNameAndTag, copyRemoteHandle, numberField, stringField } from './remote.js'
import { threadLink } from './thread-links.js'

export type { RedisLease } from './lock-engine.js'

/** The structured-cloneable handle of a Redis-backed lock: send it to a worker, `attach` it there (the worker is a holder of its own). */
export interface RedisLockHandle {
  /** `'RedisMutex'`, `'RedisReentrantMutex'`, `'RedisRWLock'` or `'RedisSemaphore'`. */
  readonly kind: 'RedisMutex' | 'RedisReentrantMutex' | 'RedisRWLock' | 'RedisSemaphore'
  /** The handle format; another library version's handle is refused. */
  readonly format: number
  /** Status words shared by the process's threads (the bridge's wake-ups). */
  readonly status: SharedArrayBuffer
  /** The lock on the server. */
  readonly spec: LockSpec
  /** How a worker opens its own connection (undefined: only the domain's thread can use the lock). */
  readonly link: LinkDescriptor | undefined
  /** Timeout of one command (ms). */
  readonly commandTimeoutMs: number
}

/** Options of `RedisDomain.mutex`, `reentrantMutex` and `rwlock`. */
export interface RedisLockOptions {
  /**
   * Lease length in ms on the server's clock: a holder that stops renewing
   * (its process died, froze, or lost the network) loses the lock this long
   * after its last renewal; renewals run every third of it.
   * @default 10000
   */
  readonly leaseMs?: number
}

/** Options of `RedisDomain.semaphore`. */
export interface RedisSemaphoreOptions extends RedisLockOptions {
  /** Number of permits (every process must open it with the same number: RedisShapeError otherwise). */
  readonly permits: number
}

/** Options of the `with*Async` helpers of the Redis-backed locks. */
export interface RedisWithLockOptions extends AsyncWaitOptions {
  /**
   * Called holding the lock when its previous holder's lease expired
   * without an unlock: repair the protected data (it may be async); when it
   * returns, the lock is marked consistent and the body runs. Without it,
   * the lock is released (still poisoned) and the RedisOwnerDiedError thrown.
   */
  readonly recover?: (error: RedisOwnerDiedError) => void | Promise<void>
}

/** The `withLockAsync` bodies in progress in this async context (nesting and self-deadlock checks). */
const inside = new AsyncLocalStorage<ReadonlySet<object>>()

function within<R>(key: object, fn: () => R): R {
  const store = inside.getStore()
  return inside.run(new Set([...(store ?? []), key]), fn)
}

function isWithin(key: object): boolean {
  return inside.getStore()?.has(key) === true
}

/** @internal Checks a lease length. */
export function checkLeaseMs(value: unknown): number {
  const v = value ?? 10_000
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 30 || v > 2 ** 31 - 1) {
    throw new OptionError(`Expected \`leaseMs\` to be an integer from 30 to 2^31-1, got ${describe(value)}`)
  }
  return v
}

/** The server-side kind of each lock handle kind. */
const LOCK_KIND: Readonly<Record<RedisLockHandle['kind'], LockKind>> = {
  RedisMutex: 'mutex',
  RedisReentrantMutex: 'reentrant-mutex',
  RedisRWLock: 'rwlock',
  RedisSemaphore: 'semaphore',
}

/**
 * A plain copy of a lock handle of `kind`, with everything a later read
 * relies on checked on the copy (remote.ts `copyRemoteHandle`: one read of
 * each field; a getter, a Proxy or a forged field is a HandleError, never
 * another error later).
 * @throws HandleError
 */
function checkHandle(handle: unknown, kind: RedisLockHandle['kind']): RedisLockHandle {
  return attachingRemote(kind, () => {
    const copy = copyRemoteHandle(handle, kind, LockWord.WORDS * 4)
    const spec = copy['spec'] as Record<string, unknown>
    checkNameAndTag(spec, kind)
    stringField(spec, kind, 'spec.what')
    stringField(spec, kind, 'spec.domainId')
    if (spec['kind'] !== LOCK_KIND[kind]) throw new HandleError(`Expected a ${kind} handle whose \`spec.kind\` is '${LOCK_KIND[kind]}', got ${describe(spec['kind'])}`)
    const one = kind !== 'RedisSemaphore'
    numberField(spec, kind, 'spec.permits', one ? '1' : 'a positive integer', (n) => (one ? n === 1 : Number.isSafeInteger(n) && n > 0))
    numberField(spec, kind, 'spec.leaseMs', 'an integer from 30 to 2^31-1 (ms)', (n) => Number.isInteger(n) && n >= 30 && n <= 2 ** 31 - 1)
    numberField(spec, kind, 'spec.timeoutMs', 'an integer from 1 to 2^31-1 (ms)', (n) => Number.isInteger(n) && n > 0 && n <= MAX_TIMER_MS)
    return copy as unknown as RedisLockHandle
  })
}

function attachedLink(handle: RedisLockHandle): () => Promise<RedisLink> {
  return () =>
    handle.link === undefined
      ? Promise.reject(new OptionError(`Expected ${handle.spec.what} to be used where its RedisDomain is, or a domain connected by \`url\`/client options a worker can reuse, got a client threadstate cannot describe`))
      : threadLink(handle.link, handle.commandTimeoutMs)
}

/**
 * A FIFO gate of one thread's async tasks: at most one passes at a time
 * (the thread's holder slot of an exclusive lock). Waits time out and abort.
 */
class LocalGate {
  private busy = false
  private readonly waiting: (() => void)[] = []

  /** Enters, waiting until `deadline`. @returns false on timeout @throws the signal's reason */
  enter(deadline: number, signal: AbortSignal | undefined): Promise<boolean> | boolean {
    if (signal?.aborted) throw signal.reason
    if (!this.busy) {
      this.busy = true
      return true
    }
    return new Promise<boolean>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const turn = (): void => {
        cleanup()
        resolve(true)
      }
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const i = this.waiting.indexOf(turn)
        if (i >= 0) this.waiting.splice(i, 1)
      }
      const onAbort = (): void => {
        cleanup()
        reject(signal!.reason)
      }
      this.waiting.push(turn)
      if (deadline !== Infinity) {
        timer = setTimeout(() => {
          cleanup()
          resolve(false)
        }, Math.max(0, deadline - now()))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Enters if nobody is inside, without waiting. */
  tryEnter(): boolean {
    if (this.busy) return false
    this.busy = true
    return true
  }

  /** Leaves: the next waiter (if any) enters. */
  leave(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.busy = false
  }
}

/** What every Redis-backed lock kind shares: its handle, engine and status. */
abstract class RedisLockBase {
  /** Send this to a worker; `attach` it there (the worker thread becomes a holder of its own). */
  readonly handle: RedisLockHandle
  /** @internal */
  protected readonly engine: LockEngine

  /** @internal */
  protected constructor(handle: RedisLockHandle, link: (() => Promise<RedisLink>) | undefined) {
    this.handle = handle
    this.engine = new LockEngine(handle.spec, new Int32Array(handle.status), link ?? attachedLink(handle))
  }

  /** The lock's name. */
  get name(): string {
    return this.handle.spec.name
  }

  /** The namespace of the domain that opened it (a lock's identity is namespace and name). */
  get namespace(): string {
    return namespaceOf(this.handle.spec)
  }

  /** This lock's lease length in ms (`leaseMs` when opened). */
  get leaseMs(): number {
    return this.handle.spec.leaseMs
  }

  /** This thread's identity as a holder: `host:pid:thread:domain`. */
  get holderIdentity(): string {
    return this.engine.identity
  }

  /**
   * Whether a holder died (its lease expired without an unlock) as last
   * learnt in this process, and nobody here has called `markConsistent()`
   * since (a snapshot; {@link stateAsync} asks the server).
   */
  get isPoisoned(): boolean {
    return Atomics.load(this.engine.status, LockWord.POISONED) !== 0
  }

  /**
   * The lock as the server sees it now: the last fence issued, the poisoned
   * hold (`''` if none), the holds with their remaining lease, and the
   * number of waiters.
   */
  stateAsync(): ReturnType<LockEngine['state']> {
    return this.engine.state()
  }

  /** @internal */
  protected timeout(what: string, options: AsyncWaitOptions): TimeoutError {
    return new TimeoutError(`Expected to acquire ${what} of ${this.handle.spec.what} within ${options.timeoutMs} ms, got a timeout`)
  }
}

/**
 * Runs `fn` under an acquisition made by `acquire`, recovering a dead holder
 * if asked, and releasing however `fn` ends (a lost lease at release is a
 * LockError, unless `fn` threw: its error is kept).
 */
async function runHeld<R>(
  acquire: () => Promise<RedisLease | false>,
  release: () => Promise<void>,
  markConsistent: () => Promise<void>,
  key: object,
  fn: (lease: RedisLease) => R | Promise<R>,
  options: RedisWithLockOptions,
  timeout: () => TimeoutError,
): Promise<R> {
  let lease: RedisLease | false
  try {
    lease = await acquire()
  } catch (error) {
    if (!(error instanceof RedisOwnerDiedError) || !error.holding || error.lease === undefined) throw error
    if (options.recover === undefined) {
      await release()
      throw error
    }
    try {
      await options.recover(error)
    } catch (failure) {
      await release().catch(() => {})
      throw failure
    }
    await markConsistent()
    lease = error.lease
  }
  if (lease === false) throw timeout()
  const held = lease
  let result: R
  try {
    result = await within(key, () => fn(held))
  } catch (error) {
    await release().catch(() => {})
    throw error
  }
  await release()
  return result
}

/**
 * A mutual-exclusion lock on a Redis server (`RedisDomain.mutex(name)`),
 * shared by every process and thread that opens it. Implements the same
 * contract as the in-memory `Mutex` (`AsyncLock`), with leases:
 *
 * - `lockAsync()` resolves with a {@link RedisLease} (false on timeout):
 *   `lease.fence` is a fencing token, `lease.signal` aborts when the lease
 *   is lost. The lease is renewed in the background while held.
 * - A holder whose lease expired without an unlock (its process died, froze
 *   or lost the network) is reported to the next acquirer with
 *   `RedisOwnerDiedError` (an `OwnerDiedError`; the caller holds the lock);
 *   `markConsistent()` clears it.
 * - Waiters queue in FIFO order on the server and are woken by the release
 *   (through the process's bridge), not by polling.
 *
 * @example
 * ```ts
 * const ledger = await redis.mutex('ledger', { leaseMs: 5_000 })
 * await ledger.withLockAsync(async (lease) => {
 *   await accounts.set('alice', 10, { fence: lease }) // refused if a later holder already wrote
 * }, { recover: async (died) => { await repair() } })
 * ```
 */
export class RedisMutex extends RedisLockBase implements AsyncLock<RedisLease> {
  private readonly gate = new LocalGate()
  private hold: Hold | undefined
  private nesting = 0
  /** @internal */
  protected readonly reentrant: boolean = false

  /** @internal */
  constructor(handle: RedisLockHandle, link?: () => Promise<RedisLink>) {
    super(handle, link)
  }

  /**
   * Rebuilds the lock from its handle in another thread (a holder of its own).
   * @throws HandleError if `handle` is not a RedisMutex handle
   */
  static attach(handle: RedisLockHandle): RedisMutex {
    return attachingRemote('RedisMutex', () => new RedisMutex(checkHandle(handle, 'RedisMutex')))
  }

  /** This thread's lease while it holds the lock. */
  get lease(): RedisLease | undefined {
    return this.hold?.lease
  }

  /** Whether this thread holds the lock. */
  get isHeldByCurrentThread(): boolean {
    return this.hold !== undefined
  }

  /**
   * Whether the lock is held, as this process last saw it: true while a
   * thread here holds it, or since an attempt here found it held; false
   * after a release here or a release notice (a snapshot; a holder elsewhere
   * that nobody here ran into is not seen: {@link stateAsync} asks the server).
   */
  get isLocked(): boolean {
    return this.hold !== undefined || Atomics.load(this.engine.status, LockWord.SEEN_HELD) !== 0
  }

  private selfDeadlock(op: string): DeadlockError {
    return new DeadlockError(
      `Expected ${op} on ${this.handle.spec.what} by a task that does not hold it, got the holder itself (${this.engine.identity}): waiting would never end. Use reentrantMutex for nested locking`,
    )
  }

  /** Nests one level (reentrant) or throws DeadlockError. */
  private again(op: string): RedisLease {
    if (!this.reentrant) throw this.selfDeadlock(op)
    this.nesting++
    return this.hold!.lease
  }

  /**
   * Acquires the lock, waiting (FIFO) without blocking the event loop.
   * @returns the lease, or false after `timeoutMs`
   * @throws DeadlockError inside this mutex's own `withLockAsync` body (a reentrant mutex nests there)
   * @throws RedisOwnerDiedError (holding: `error.lease` is yours) if the previous holder's lease expired without an unlock
   * @throws the signal's reason when aborted
   */
  async lockAsync(options: AsyncWaitOptions = {}): Promise<RedisLease | false> {
    options = checkWaitOptions(options)
    const deadline = deadlineOf(options.timeoutMs)
    if (this.hold !== undefined && isWithin(this)) return this.again('lockAsync()')
    if (!(await this.gate.enter(deadline, options.signal))) return false
    return this.take({ deadline, signal: options.signal, wait: true })
  }

  /**
   * Acquires the lock if that needs no waiting (one round trip).
   * @returns the lease, or false if it is held
   * @throws DeadlockError if this thread holds it (a reentrant mutex nests)
   * @throws RedisOwnerDiedError (holding) if the previous holder's lease expired without an unlock
   */
  async tryLock(): Promise<RedisLease | false> {
    if (this.hold !== undefined) return this.again('tryLock()')
    if (!this.gate.tryEnter()) return false
    return this.take({ deadline: 0, signal: undefined, wait: false })
  }

  private async take(options: { deadline: number; signal: AbortSignal | undefined; wait: boolean }): Promise<RedisLease | false> {
    let hold: Hold | false
    try {
      hold = await this.engine.acquire('w', 1, options)
    } catch (error) {
      if (error instanceof RedisOwnerDiedError && error.holding) {
        this.hold = this.engine.holdOf(error.lease!)
        this.nesting = 1
      } else this.gate.leave()
      throw error
    }
    if (hold === false) {
      this.gate.leave()
      return false
    }
    this.hold = hold
    this.nesting = 1
    return hold.lease
  }

  /**
   * Releases the lock (one nesting level of a reentrant mutex).
   * @throws LockError if this thread does not hold it, or if its lease was lost meanwhile (what ran under it may have overlapped another holder)
   */
  async unlock(): Promise<void> {
    const hold = this.hold
    if (hold === undefined) throw new LockError(`Expected unlock() by the holder of ${this.handle.spec.what}, got a thread that does not hold it (${this.engine.identity})`)
    if (this.nesting > 1) {
      this.nesting--
      return
    }
    this.hold = undefined
    this.nesting = 0
    try {
      await this.engine.release(hold)
    } finally {
      this.gate.leave()
    }
  }

  /**
   * After a RedisOwnerDiedError: declares the protected data repaired, so
   * later acquirers are not told again.
   * @throws LockError if this thread does not hold the lock
   */
  async markConsistent(): Promise<void> {
    if (this.hold === undefined) throw new LockError(`Expected markConsistent() by the holder of ${this.handle.spec.what}, got a thread that does not hold it`)
    await this.engine.markConsistent(this.hold)
  }

  /**
   * Runs `fn(lease)` holding the lock; releases it however `fn` ends.
   * @throws TimeoutError if not acquired within `timeoutMs`
   * @throws RedisOwnerDiedError if the previous holder died and no `recover` was given (the lock is released, still poisoned)
   * @throws DeadlockError if called inside this mutex's own body (a reentrant mutex nests)
   */
  async withLockAsync<R>(fn: (lease: RedisLease) => R | Promise<R>, options: RedisWithLockOptions = {}): Promise<R> {
    if (this.hold !== undefined && isWithin(this)) {
      const lease = this.again('withLockAsync()')
      try {
        return await fn(lease)
      } finally {
        this.nesting--
      }
    }
    return runHeld(
      () => this.lockAsync(options),
      () => this.unlock(),
      () => this.markConsistent(),
      this,
      fn,
      options,
      () => this.timeout('the lock', options),
    )
  }

  /** Nesting depth of this thread's hold (0: not held). */
  get depth(): number {
    return this.hold === undefined ? 0 : this.nesting
  }
}

/**
 * A {@link RedisMutex} its holder may take again: `tryLock()` by the
 * holding thread and `lockAsync()` / `withLockAsync()` inside one of its own
 * `withLockAsync()` bodies nest instead of throwing DeadlockError; each needs
 * its own `unlock()` (the helpers unlock for you). Other async tasks of the
 * thread still wait, as in memory.
 */
export class RedisReentrantMutex extends RedisMutex {
  /** @internal */
  protected override readonly reentrant: boolean = true

  /**
   * Rebuilds the lock from its handle in another thread.
   * @throws HandleError if `handle` is not a RedisReentrantMutex handle
   */
  static override attach(handle: RedisLockHandle): RedisReentrantMutex {
    return attachingRemote('RedisReentrantMutex', () => new RedisReentrantMutex(checkHandle(handle, 'RedisReentrantMutex')))
  }
}

/**
 * A readers-writer lock on a Redis server (`RedisDomain.rwlock(name)`):
 * many readers or one writer, writer-preferring (a reader arriving while a
 * writer waits queues behind it), each read hold a lease of its own that
 * expires on its own. A writer whose lease expired without an unlock
 * poisons the lock: the next writer gets RedisOwnerDiedError (holding) and
 * readers are refused (RedisOwnerDiedError, not holding) until a writer
 * calls `markConsistent()`, as in memory.
 */
export class RedisRWLock extends RedisLockBase implements AsyncReadWriteLock<RedisLease> {
  private readonly writers = new LocalGate()
  private writeHold: Hold | undefined
  private readonly readHolds: Hold[] = []
  private readonly readKey = {}

  /** @internal */
  constructor(handle: RedisLockHandle, link?: () => Promise<RedisLink>) {
    super(handle, link)
  }

  /**
   * Rebuilds the lock from its handle in another thread.
   * @throws HandleError if `handle` is not a RedisRWLock handle
   */
  static attach(handle: RedisLockHandle): RedisRWLock {
    return attachingRemote('RedisRWLock', () => new RedisRWLock(checkHandle(handle, 'RedisRWLock')))
  }

  /**
   * Takes a read hold (a lease of its own), waiting without blocking.
   * @returns the lease, or false after `timeoutMs`
   * @throws DeadlockError inside this lock's own `withWriteAsync` body
   * @throws RedisOwnerDiedError (not holding) if a writer died and nobody marked the lock consistent
   */
  async readLockAsync(options: AsyncWaitOptions = {}): Promise<RedisLease | false> {
    options = checkWaitOptions(options)
    if (this.writeHold !== undefined && isWithin(this)) throw this.deadlock('readLockAsync()', 'under its own write lock')
    const hold = await this.engine.acquire('r', 1, { deadline: deadlineOf(options.timeoutMs), signal: options.signal, wait: true })
    if (hold === false) return false
    this.readHolds.push(hold)
    return hold.lease
  }

  /**
   * Releases a read hold of this thread: `lease`'s, or the oldest.
   * @throws LockError if this thread holds no (such) read hold, or its lease was lost
   */
  async readUnlock(lease?: RedisLease): Promise<void> {
    const i = lease === undefined ? 0 : this.readHolds.findIndex((h) => h.lease === lease)
    const hold = this.readHolds[i]
    if (hold === undefined || i < 0) throw new LockError(`Expected readUnlock() by a thread holding a read lock of ${this.handle.spec.what}, got one that holds none${lease === undefined ? '' : ' with that lease'}`)
    this.readHolds.splice(i, 1)
    await this.engine.release(hold)
  }

  /**
   * Takes the write hold, waiting without blocking.
   * @returns the lease, or false after `timeoutMs`
   * @throws DeadlockError inside this lock's own `withWriteAsync` or `withReadAsync` body (an upgrade would wait for itself)
   * @throws RedisOwnerDiedError (holding) if the previous writer's lease expired without an unlock
   */
  async writeLockAsync(options: AsyncWaitOptions = {}): Promise<RedisLease | false> {
    options = checkWaitOptions(options)
    if (this.writeHold !== undefined && isWithin(this)) throw this.deadlock('writeLockAsync()', 'that already holds the write lock')
    if (isWithin(this.readKey)) throw this.deadlock('writeLockAsync()', 'holding a read lock (an upgrade waits for its own reader)')
    const deadline = deadlineOf(options.timeoutMs)
    if (!(await this.writers.enter(deadline, options.signal))) return false
    let hold: Hold | false
    try {
      hold = await this.engine.acquire('w', 1, { deadline, signal: options.signal, wait: true })
    } catch (error) {
      if (error instanceof RedisOwnerDiedError && error.holding) this.writeHold = this.engine.holdOf(error.lease!)
      else this.writers.leave()
      throw error
    }
    if (hold === false) {
      this.writers.leave()
      return false
    }
    this.writeHold = hold
    return hold.lease
  }

  /**
   * Releases the write hold.
   * @throws LockError if this thread does not hold it, or its lease was lost
   */
  async writeUnlock(): Promise<void> {
    const hold = this.writeHold
    if (hold === undefined) throw new LockError(`Expected writeUnlock() by the writer of ${this.handle.spec.what}, got a thread that does not hold the write lock`)
    this.writeHold = undefined
    try {
      await this.engine.release(hold)
    } finally {
      this.writers.leave()
    }
  }

  /**
   * After a RedisOwnerDiedError: the writer declares the data repaired.
   * @throws LockError if this thread does not hold the write lock
   */
  async markConsistent(): Promise<void> {
    if (this.writeHold === undefined) throw new LockError(`Expected markConsistent() by the writer of ${this.handle.spec.what}, got a thread that does not hold the write lock`)
    await this.engine.markConsistent(this.writeHold)
  }

  /** Runs `fn(lease)` under a read hold. @throws TimeoutError if not acquired within `timeoutMs` */
  withReadAsync<R>(fn: (lease: RedisLease) => R | Promise<R>, options: RedisWithLockOptions = {}): Promise<R> {
    let held: RedisLease | false = false
    return runHeld(
      async () => (held = await this.readLockAsync(options)),
      () => this.readUnlock(held || undefined),
      () => Promise.resolve(),
      this.readKey,
      fn,
      options,
      () => this.timeout('a read lock', options),
    )
  }

  /** Runs `fn(lease)` under the write hold (`recover` runs first after a writer died). @throws TimeoutError if not acquired within `timeoutMs` */
  withWriteAsync<R>(fn: (lease: RedisLease) => R | Promise<R>, options: RedisWithLockOptions = {}): Promise<R> {
    return runHeld(
      () => this.writeLockAsync(options),
      () => this.writeUnlock(),
      () => this.markConsistent(),
      this,
      fn,
      options,
      () => this.timeout('the write lock', options),
    )
  }

  /** Whether this thread holds the write lock. */
  get isWriteLocked(): boolean {
    return this.writeHold !== undefined
  }

  /** Read holds of this thread. */
  get readHoldCount(): number {
    return this.readHolds.length
  }

  private deadlock(op: string, why: string): DeadlockError {
    return new DeadlockError(`Expected ${op} on ${this.handle.spec.what} by a task that can wait, got one ${why}: waiting would never end`)
  }
}

/**
 * A counting semaphore on a Redis server (`RedisDomain.semaphore(name, {
 * permits })`): each permit taken is a lease of its own on the server's
 * clock. Unlike in memory, the permits of a holder that died (or froze, or
 * lost the network) come back by themselves when their leases expire.
 */
export class RedisSemaphore extends RedisLockBase {
  private readonly holds: Hold[] = []

  /** @internal */
  constructor(handle: RedisLockHandle, link?: () => Promise<RedisLink>) {
    super(handle, link)
  }

  /**
   * Rebuilds the semaphore from its handle in another thread.
   * @throws HandleError if `handle` is not a RedisSemaphore handle
   */
  static attach(handle: RedisLockHandle): RedisSemaphore {
    return attachingRemote('RedisSemaphore', () => new RedisSemaphore(checkHandle(handle, 'RedisSemaphore')))
  }

  /** The number of permits. */
  get permits(): number {
    return this.handle.spec.permits
  }

  private checkN(n: unknown): number {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > this.permits) {
      throw new OptionError(`Expected \`n\` to be an integer from 1 to ${this.permits} (the permits of ${this.handle.spec.what}), got ${describe(n)}`)
    }
    return n
  }

  /** Takes `n` permits if they are free now and nobody queues ahead (one round trip). @returns their lease, or false */
  async tryAcquire(n = 1): Promise<RedisLease | false> {
    const hold = await this.engine.acquire('s', this.checkN(n), { deadline: 0, signal: undefined, wait: false })
    if (hold === false) return false
    this.holds.push(hold)
    return hold.lease
  }

  /**
   * Takes `n` permits, waiting (FIFO) without blocking.
   * @returns their lease, or false after `timeoutMs`
   */
  async acquireAsync(n = 1, options: AsyncWaitOptions = {}): Promise<RedisLease | false> {
    n = this.checkN(n)
    options = checkWaitOptions(options)
    const hold = await this.engine.acquire('s', n, { deadline: deadlineOf(options.timeoutMs), signal: options.signal, wait: true })
    if (hold === false) return false
    this.holds.push(hold)
    return hold.lease
  }

  /**
   * Gives back `n` permits this thread holds (oldest first).
   * @throws LockError if this thread holds fewer, or a lease was lost (its permits had already come back)
   */
  async release(n = 1): Promise<void> {
    n = this.checkN(n)
    if (this.held < n) throw new LockError(`Expected release(${n}) by a thread holding ${n} permit(s) of ${this.handle.spec.what}, got one holding ${this.held}`)
    let lost: unknown
    while (n > 0) {
      const hold = this.holds[0]!
      const count = Math.min(n, hold.members.length)
      if (count === hold.members.length) this.holds.shift()
      n -= count
      await this.engine.release(hold, count).catch((error: unknown) => (lost ??= error))
    }
    if (lost !== undefined) throw lost
  }

  /** Permits this thread holds. */
  get held(): number {
    return this.holds.reduce((sum, h) => sum + h.members.length, 0)
  }

  /** Runs `fn(lease)` holding `n` permits; gives them back however it ends. @throws TimeoutError if not acquired within `timeoutMs` */
  async withPermitsAsync<R>(fn: (lease: RedisLease) => R | Promise<R>, n = 1, options: AsyncWaitOptions = {}): Promise<R> {
    let hold: Hold | undefined
    return runHeld(
      async () => {
        const lease = await this.acquireAsync(n, options)
        if (lease !== false) hold = this.holds[this.holds.length - 1]
        return lease
      },
      async () => {
        const i = hold === undefined ? -1 : this.holds.indexOf(hold)
        if (i < 0) throw new LockError(`Expected the permits of ${this.handle.spec.what} to still be held, got them released`)
        this.holds.splice(i, 1)
        await this.engine.release(hold!)
      },
      () => Promise.resolve(),
      this,
      fn,
      options,
      () => this.timeout(`${n} permit(s)`, options),
    )
  }
}
