/**
 * One thread's side of a Redis-backed lock (locks.ts): acquisition attempts
 * and the wait between them, the holds it got, their renewal in the
 * background, and their release. Every kind (mutex, reentrant mutex,
 * rwlock, semaphore) is this engine with another `mode` and `n`
 * (lock-scripts.ts has the server's side).
 *
 * Waiting: a failed attempt joins the lock's FIFO queue on the server and
 * answers how long until something there expires; the waiter then sleeps on
 * the WAKES word of the lock's status buffer (shared by every thread of the
 * process) until the bridge bumps it (it read a release notice from the
 * lock's stream) or that time has passed, and tries again. No polling: an
 * idle waiter re-checks only when a lease or a waiter could have expired.
 * The WAKES value is read before the attempt, so a release between the
 * attempt and the sleep ends the sleep at once (no lost wake-up).
 *
 * @module
 */
import { hostname } from 'node:os'
import { threadId } from 'node:worker_threads'
import { LockError, OptionError, OwnerDiedError, ThreadstateError, describe } from '../errors.js'
import { now } from '../memory/clock.js'
import { sleepWhileAsync } from '../sync/wait.js'
import type { RedisLink } from './client.js'
import { evalScript, isReply, replyError, sendGate, withRetries } from './call.js'
import { LeaseLostError, RedisOwnerDiedError } from './errors.js'
import { LOCK_ACQUIRE, LOCK_CANCEL, LOCK_CONSISTENT, LOCK_RELEASE, LOCK_RENEW, LOCK_STATE } from './lock-scripts.js'
import type { Script } from './scripts.js'

/** The kinds of lock on the server (a lock opened as one kind refuses the others: RedisShapeError). */
export type LockKind = 'mutex' | 'reentrant-mutex' | 'rwlock' | 'semaphore'

/** Where a lock lives and how it behaves (structured-cloneable: part of a lock's handle). */
export interface LockSpec {
  /** The lock's name in its namespace. */
  readonly name: string
  /** `{namespace:name}`. */
  readonly tag: string
  /** For messages, e.g. `RedisMutex 'ledger'`. */
  readonly what: string
  /** The kind on the server. */
  readonly kind: LockKind
  /** Permits (1 except for a semaphore). */
  readonly permits: number
  /** Lease length (ms, on the server's clock). */
  readonly leaseMs: number
  /** Deadline of one command with its retries (ms): the domain's `timeoutMs`. */
  readonly timeoutMs: number
  /** The domain's process-unique id (with the thread id, a holder's identity). */
  readonly domainId: string
}

/** Words of a lock's status buffer, shared by every thread of the process. */
export const enum LockWord {
  /** Bumped (and notified) by the bridge for each release notice read from the lock's stream. */
  WAKES = 0,
  /** 1 while a thread here holds the lock, or an attempt here last found it held; 0 after a release seen here. */
  SEEN_HELD = 1,
  /** 1 after an OwnerDiedError here, until markConsistent() here. */
  POISONED = 2,
  WORDS = 4,
}

/** A lease on a Redis-backed lock: what a holder needs while it holds. */
export interface RedisLease {
  /** The lock's name (what a fenced write names, with its namespace). */
  readonly lock: string
  /** The namespace of the lock (two namespaces' locks of one name are two locks, also to a fenced write). */
  readonly namespace: string
  /**
   * The fencing token: strictly greater than every fence of this lock
   * issued before, to any holder, ever (even after Redis lost the lock's
   * data). Pass the lease as `{ fence: lease }` to a threadstate write, or
   * compare it in your own store (README).
   */
  readonly fence: number
  /** Aborts (with LeaseLostError) when the lease is lost: renewal refused or not possible before it expired. Stop writing. */
  readonly signal: AbortSignal
  /** This holder's identity: `host:pid:thread:domain`. */
  readonly holder: string
  /** Permits held (1 except for a semaphore). */
  readonly permits: number
}

/** One hold on the server (`stateAsync()`). */
export interface RedisLockHold {
  /** The hold: `<holder identity>#<attempt>#<permit>`. */
  readonly hold: string
  /** What is left of its lease on the server's clock (ms; 0 or less: expired, not yet taken over). */
  readonly expiresInMs: number
  /** `'w'` exclusive (a mutex, a writer), `'r'` a reader, `'s'` a semaphore permit. */
  readonly mode: string
  /** The fence it was acquired with. */
  readonly fence: number
}

/** A lock as the server sees it now (`stateAsync()`). */
export interface RedisLockState {
  /** The last fence issued. */
  readonly fence: number
  /** `''`, or the hold (and fence) of an exclusive holder whose lease expired without an unlock, until `markConsistent()`. */
  readonly poisoned: string
  /** The holds now. */
  readonly holds: readonly RedisLockHold[]
  /** Waiters in the queue. */
  readonly waiters: number
}

/**
 * The lease a holder gets. Its `signal` is made on first use: an
 * AbortController costs more than the rest of an uncontended acquisition's
 * work in this thread (~5 µs with the garbage it leaves, measured), and most
 * holders never look at it. A lease lost before anyone asked hands out a
 * signal already aborted with the same reason.
 */
class Lease implements RedisLease {
  #controller: AbortController | undefined
  #lost: LeaseLostError | undefined

  constructor(
    readonly lock: string,
    readonly namespace: string,
    readonly fence: number,
    readonly holder: string,
    readonly permits: number,
  ) {
    Object.freeze(this)
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController()
    if (this.#lost !== undefined && !this.#controller.signal.aborted) this.#controller.abort(this.#lost)
    return this.#controller.signal
  }

  /** Whether the lease was lost here. */
  get isLost(): boolean {
    return this.#lost !== undefined
  }

  /** Ends the lease here (once): its signal aborts with `reason`. */
  lose(reason: LeaseLostError): void {
    if (this.#lost !== undefined) return
    this.#lost = reason
    this.#controller?.abort(reason)
  }
}

/** A hold this thread got. */
export interface Hold {
  readonly lease: Lease
  /** The attempt id (`<holder>#<n>`). */
  readonly attempt: string
  /** Its holds on the server (`<attempt>#<i>`), one per permit; emptied as they are released. */
  readonly members: string[]
  /** The mode it was taken in. */
  readonly mode: 'w' | 'r' | 's'
  /** This thread's clock: the lease certainly ended on the server by then (the send time of the last renewal that succeeded + leaseMs). */
  validUntil: number
}

/** Options of one acquisition. */
export interface AcquireOptions {
  readonly deadline: number
  readonly signal: AbortSignal | undefined
  /** false: a single attempt (try*) that does not queue. */
  readonly wait: boolean
}

let attempts = 0

/** The identity of this thread as a holder of locks opened through domain `domainId`. */
export function holderIdentity(domainId: string): string {
  return `${hostname()}:${process.pid}:${threadId}:${domainId}`
}

/** Parses the thread id out of a holder identity (0 if unreadable). */
function threadOf(identity: string): number {
  const parts = identity.split(':')
  const tid = Number(parts[parts.length - 2])
  return Number.isInteger(tid) ? tid : 0
}

/** The keys of the lock with hash tag `tag`, in the order the scripts take them (the stream last). */
export function lockKeys(tag: string): string[] {
  return [`${tag}:meta`, `${tag}:holders`, `${tag}:info`, `${tag}:queue`, `${tag}:qexp`, `${tag}:log`]
}

/** One thread's engine for one lock. */
export class LockEngine {
  /** This thread's identity as a holder. */
  readonly identity: string
  private readonly keys: string[]
  private readonly holds = new Set<Hold>()
  private timer: ReturnType<typeof setInterval> | undefined
  private renewing = false

  constructor(
    readonly spec: LockSpec,
    readonly status: Int32Array,
    private readonly link: () => Promise<RedisLink>,
  ) {
    this.identity = holderIdentity(spec.domainId)
    this.keys = lockKeys(spec.tag)
  }

  /**
   * Runs one lock script: sent once directly (bounded by the connection's
   * command timeout), and only after a failure to get an answer retried
   * within the domain's `timeoutMs` like every write (the scripts are
   * idempotent: an acquisition by its attempt id, a release by its holds).
   * The direct first try spares the uncontended path the retry loop's timer.
   */
  private async run<T>(script: Script, args: readonly (string | number)[], operationId?: string): Promise<T> {
    try {
      return (await evalScript(await this.link(), script, this.keys, args)) as T
    } catch (error) {
      if (isReply(error)) throw replyError(error, this.spec.what)
      if (error instanceof ThreadstateError) throw error
    }
    // A failure while getting the connection applied nothing (sendGate, call.ts).
    const { attempt, sent } = sendGate(() => this.link(), (link) => evalScript(link, script, this.keys, args))
    return withRetries(attempt, { timeoutMs: this.spec.timeoutMs, what: this.spec.what, sent, ...(operationId === undefined ? {} : { operationId }) }) as Promise<T>
  }

  /**
   * Acquires `n` permits in `mode`, waiting (queued, FIFO) until
   * `deadline` unless `wait` is false.
   * @returns the hold, or false (timeout, or busy for a try)
   * @throws RedisOwnerDiedError (holding: its `hold` is this thread's) when an exclusive holder's lease expired without an unlock
   * @throws RedisOwnerDiedError (not holding) for a read refused because a writer died
   * @throws the signal's reason when aborted
   */
  async acquire(mode: 'w' | 'r' | 's', n: number, options: AcquireOptions): Promise<Hold | false> {
    const attempt = `${this.identity}#${++attempts}`
    const { spec } = this
    let queued = false
    try {
      for (;;) {
        if (options.signal?.aborted) throw options.signal.reason
        const seen = Atomics.load(this.status, LockWord.WAKES)
        const sent = now()
        // The attempt id doubles as the operation id: a retry of an attempt that acquired is answered with its hold.
        const reply = await this.run<[number, number, Buffer | string, number]>(
          LOCK_ACQUIRE,
          [spec.kind, spec.permits, attempt, mode, n, spec.leaseMs, options.wait ? 1 : 0, Math.max(spec.leaseMs, 1000)],
          attempt,
        )
        if (reply[0] === 1) {
          queued = false
          const hold = this.held(attempt, mode, n, Number(reply[1]), sent)
          const poisoned = reply[2].toString()
          if (poisoned !== '') {
            Atomics.store(this.status, LockWord.POISONED, 1)
            throw this.ownerDied(poisoned, hold)
          }
          return hold
        }
        if (reply[0] === 4) throw this.ownerDied(reply[1].toString(), undefined)
        Atomics.store(this.status, LockWord.SEEN_HELD, 1)
        if (!options.wait) return false
        queued = true
        const left = options.deadline - now()
        if (left <= 0) return false
        await this.sleep(seen, Math.min(left, Number(reply[1])), options.signal)
      }
    } catch (error) {
      if (!(error instanceof OwnerDiedError)) queued = true // an attempt whose outcome is unknown may hold: cancel it too
      throw error
    } finally {
      if (queued) this.cancel(attempt, n)
    }
  }

  /** Sleeps until the bridge reports a release (WAKES changes from `seen`) or `ms` pass. */
  private async sleep(seen: number, ms: number, signal: AbortSignal | undefined): Promise<void> {
    const until = now() + ms
    while (Atomics.load(this.status, LockWord.WAKES) === seen && now() < until) {
      await sleepWhileAsync(this.status, LockWord.WAKES, seen, until, signal)
    }
  }

  /** Leaves the queue (and releases what the attempt may have got unknowingly), in the background, retried within the command timeout. */
  private cancel(attempt: string, n: number): void {
    this.run(LOCK_CANCEL, [attempt, n]).catch(() => {
      // Unreachable server: the queue entry and any hold expire on their own (leaseMs).
    })
  }

  private held(attempt: string, mode: 'w' | 'r' | 's', n: number, fence: number, sent: number): Hold {
    const members = n === 1 ? [`${attempt}#1`] : Array.from({ length: n }, (_, i) => `${attempt}#${i + 1}`)
    const hold: Hold = {
      attempt,
      members,
      mode,
      validUntil: sent + this.spec.leaseMs,
      lease: new Lease(this.spec.name, namespaceOf(this.spec), fence, this.identity, n),
    }
    this.holds.add(hold)
    Atomics.store(this.status, LockWord.SEEN_HELD, 1)
    this.startRenewing()
    return hold
  }

  private ownerDied(poisoned: string, hold: Hold | undefined): RedisOwnerDiedError {
    const [member = '', fence = '0'] = poisoned.split(' ')
    const deadHolder = member.slice(0, member.lastIndexOf('#'))
    const holding = hold !== undefined
    return new RedisOwnerDiedError(
      holding
        ? `The ${this.spec.what} was acquired, but its previous holder (${deadHolder}, fence ${fence}) lost its lease without unlocking (its process died, froze or lost the network): ` +
            'you now hold it; repair what it protects, call markConsistent(), then unlock()'
        : `Expected a read lock of ${this.spec.what}, got a lock whose writer (${deadHolder}, fence ${fence}) lost its lease without unlocking: a writer must repair it and call markConsistent() first`,
      threadOf(deadHolder),
      holding,
      deadHolder,
      Number(fence),
      hold?.lease,
    )
  }

  /**
   * Releases `hold` (or `count` of its permits).
   * @throws LockError if its lease was lost (taken over after it expired, or gone with the server's data)
   */
  async release(hold: Hold, count = hold.members.length): Promise<void> {
    const members = hold.members.splice(0, count)
    if (hold.members.length === 0) this.forget(hold)
    const released = await this.run<number>(LOCK_RELEASE, members)
    if (this.holds.size === 0) Atomics.store(this.status, LockWord.SEEN_HELD, 0)
    if (released < members.length) {
      throw new LockError(
        `Expected to release a held lease of ${this.spec.what} (fence ${hold.lease.fence}), got a lease already lost: it expired and was taken over, or the server lost it; ` +
          'what ran under it may have overlapped another holder',
      )
    }
  }

  /** After an OwnerDiedError: the holder declares the data repaired. @throws LockError if `hold`'s lease was lost */
  async markConsistent(hold: Hold): Promise<void> {
    const ok = await this.run<number>(LOCK_CONSISTENT, [hold.members[0] ?? ''])
    if (ok !== 1) throw new LockError(`Expected markConsistent() by the holder of ${this.spec.what}, got a lease already lost`)
    Atomics.store(this.status, LockWord.POISONED, 0)
  }

  /** The lock as the server sees it. */
  async state(): Promise<RedisLockState> {
    const [fence, poisoned, flat, waiters] = await this.run<[Buffer, Buffer, (Buffer | number)[], number]>(LOCK_STATE, [])
    const holds: RedisLockHold[] = []
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const [mode = '', f = '0'] = flat[i + 2]!.toString().split(' ')
      holds.push({ hold: flat[i]!.toString(), expiresInMs: Number(flat[i + 1]), mode, fence: Number(f) })
    }
    return { fence: Number(fence.toString()), poisoned: poisoned.toString(), holds, waiters: Number(waiters) }
  }

  /** The hold of `lease` (a lease this engine handed out). */
  holdOf(lease: RedisLease): Hold | undefined {
    for (const hold of this.holds) if (hold.lease === lease) return hold
    return undefined
  }

  /**
   * Drops `hold` from renewal. The renewal timer stays armed until its next
   * round finds nothing held (renew() stops it then): a thread that locks
   * and unlocks back to back would otherwise arm and clear a timer each time.
   */
  private forget(hold: Hold): void {
    this.holds.delete(hold)
  }

  /** Ends a lease here: its signal aborts with `reason`; the hold stays until released. */
  private lose(hold: Hold, reason: string): void {
    if (hold.lease.isLost) return
    hold.lease.lose(new LeaseLostError(`Expected the lease of ${this.spec.what} (fence ${hold.lease.fence}) to still be held, got it lost: ${reason}. Stop writing under it`))
  }

  private startRenewing(): void {
    if (this.timer !== undefined) return
    const every = Math.max(1, Math.floor(this.spec.leaseMs / 3))
    this.timer = setInterval(() => void this.renew(), every)
    // A held lease does not keep the process alive; its expiry is the server's business.
    this.timer.unref?.()
  }

  /** One renewal round: leases past their local deadline are lost at once; the others renewed in one script. */
  private async renew(): Promise<void> {
    if (this.holds.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
      return
    }
    const t = now()
    for (const hold of this.holds) if (t >= hold.validUntil) this.lose(hold, `not renewed within its ${this.spec.leaseMs} ms (this process was paused, or the server unreachable)`)
    if (this.renewing) return
    const live = [...this.holds].filter((h) => !h.lease.isLost && h.members.length > 0)
    if (live.length === 0) return
    this.renewing = true
    try {
      const members = live.flatMap((h) => h.members)
      const sent = now()
      const results = await withRetries(async () => evalScript(await this.link(), LOCK_RENEW, this.keys, [this.spec.leaseMs, ...members]), {
        // Past a third of the lease a renewal is no use: the next round sends a fresh one.
        timeoutMs: Math.max(1, Math.floor(this.spec.leaseMs / 3)),
        what: this.spec.what,
      }) as number[]
      let at = 0
      for (const hold of live) {
        const ok = hold.members.every((_, i) => Number(results[at + i]) === 1)
        at += hold.members.length
        if (ok) hold.validUntil = sent + this.spec.leaseMs
        else this.lose(hold, 'the server refused to renew it (it expired on the server clock, or the server lost it)')
      }
    } catch {
      // Unreachable for now: the next round tries again; the local deadline ends the lease if none gets through.
    } finally {
      this.renewing = false
    }
  }
}

/**
 * What a fenced write carries: the lock's name, its namespace, and a fence
 * of it (a {@link RedisLease} is one). The object refuses the write
 * (StaleFenceError, nothing written) if a write fenced by a later fence of
 * that lock already reached it.
 */
export interface FenceToken {
  /** The lock's name. */
  readonly lock: string
  /** The fence (`lease.fence`). */
  readonly fence: number
  /**
   * The lock's namespace. A lease carries its own; a token without one
   * names the lock of that name in the namespace of the object written.
   */
  readonly namespace?: string
}

/** Options every write of a Redis-backed object takes. */
export interface RedisWriteOptions {
  /** Refuse the write (StaleFenceError) if a later lease of the same lock already wrote to this object: pass the lease you hold. */
  readonly fence?: FenceToken
}

/** The namespace of an object or lock, from its name and hash tag `{namespace:name}`. */
export function namespaceOf(spec: { readonly name: string; readonly tag: string }): string {
  return spec.tag.slice(1, spec.tag.length - spec.name.length - 2)
}

const isKeyPart = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && !/[{}]/.test(value)

/**
 * The two script arguments of `options.fence` for a write to `object`
 * (`''` and `0` for an unfenced write). The first names the lock by its
 * hash tag, `{namespace:name}`: the object keeps the highest fence of each
 * lock in the field `fence:{namespace:name}`, so same-named locks of two
 * namespaces fencing writes to one object do not share (a fence of one
 * refusing the other's current holder), and a token without a namespace
 * lands in the same field as a lease of that lock.
 * @throws OptionError
 */
export function fenceArgs(options: RedisWriteOptions | undefined, object: { readonly name: string; readonly tag: string }): [string, string] {
  const token = options?.fence
  if (token === undefined) return ['', '0']
  if (typeof token !== 'object' || token === null || !isKeyPart(token.lock) || !Number.isSafeInteger(token.fence) || token.fence < 1) {
    throw new OptionError(`Expected \`fence\` to be a lease ({ lock, fence }: a lock name without '{' or '}' and a positive integer fence), got ${describe(token)}`)
  }
  const namespace = token.namespace ?? namespaceOf(object)
  if (!isKeyPart(namespace) || namespace.includes(':')) {
    throw new OptionError(`Expected \`fence.namespace\` to be a namespace (a non-empty string without ':', '{' or '}'), got ${describe(token.namespace)}`)
  }
  return [`{${namespace}:${token.lock}}`, String(token.fence)]
}
