/**
 * Waiting on a shared word: deadlines, bounded sync waits, async waits that
 * keep a Node process alive and honour an `AbortSignal`, and the two drivers
 * that run the wait loops of the locks, the semaphore, the barrier and the
 * version waits.
 *
 * Waits are cut into slices of at most {@link SLICE_MS}: after each slice the
 * caller re-checks its condition, including whether the holder of a lock has
 * been marked dead. That bounds how long a waiter can sleep on a lock whose
 * holder died (the robust-mutex requirement) without any thread having to
 * know which locks the dead thread held.
 *
 * **Each wait loop is written once**, as a generator (a {@link WaitLoop}):
 * it checks its condition, and when it has to sleep it yields a
 * {@link Sleep} request ("sleep while `view[index] === value`") and gets back
 * whether a sleep happened (false: the deadline has passed). {@link runWait}
 * drives it with {@link sleepWhile} (`Atomics.wait`, for the blocking forms),
 * {@link runWaitAsync} with {@link sleepWhileAsync} (`Atomics.waitAsync`, for
 * the `*Async` forms), so the sync and async forms of a wait cannot drift
 * apart. What only one form does (spinning, deadlock detection) is a
 * parameter of the loop. Both drivers raise an error of a sleep (an abort,
 * `BlockingNotAllowedError`) at the loop's `yield`, so its `catch` and
 * `finally` clean up as they would around a direct call. Fast paths (an
 * uncontended CAS) stay outside the loops: a generator costs an allocation
 * and a few tens of ns, paid only by waits that already missed the fast
 * path. (`Condition` says in its file why its two waits are not one loop.)
 *
 * @module
 */
import { BlockingNotAllowedError, OptionError, describe } from '../errors.js'
import { now } from '../memory/clock.js'
import { joinedDomains, type Domain } from '../memory/thread.js'

/** Longest single blocking sleep; blocking waiters re-check liveness of the holder this often. */
export const SLICE_MS = 50

/**
 * Longest single sleep of an async wait loop ({@link runWaitAsync},
 * `Condition.waitAsync`). Async waiters do not poll: a release, a notify or a
 * new version wakes them, and so does a death in any domain this thread has
 * joined (each domain's DEATHS word is watched, see {@link sleepWhileAsync}).
 * This slice only bounds what no notify announces (a lock word overwritten
 * by scribbled memory while they sleep), at a cost of one re-check per
 * waiter per slice: 5,000 idle waiters, ~500 re-checks a second.
 */
export const ASYNC_SLICE_MS = 10_000

/** Load-and-check iterations before sleeping (makes short waits ~0.2 us). */
export const SPIN = 100

/**
 * Validates a timeout option and turns it into an absolute deadline on
 * {@link now}'s clock. `undefined` and `Infinity` mean no deadline.
 */
export function deadlineOf(timeoutMs: number | undefined, name = 'timeoutMs'): number {
  if (timeoutMs === undefined || timeoutMs === Infinity) return Infinity
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new OptionError(`Expected \`${name}\` to be a number >= 0 or undefined, got ${describe(timeoutMs)}`)
  }
  return now() + timeoutMs
}

/**
 * Sleeps while `view[index] === value`, for one slice at most and never past
 * `deadline`. Returns false when the deadline has passed (no sleep happened).
 * Callers loop and re-check their condition either way.
 */
export function sleepWhile(view: Int32Array, index: number, value: number, deadline: number): boolean {
  const remaining = deadline - now()
  if (remaining <= 0) return false
  try {
    Atomics.wait(view, index, value, remaining < SLICE_MS ? remaining : SLICE_MS)
  } catch (error) {
    throw blockingNotAllowed(error)
  }
  return true
}

let blockable: boolean | undefined

/**
 * Whether the calling thread may block in `Atomics.wait` (false on a browser
 * main thread): tried once with a zero timeout on a private buffer.
 */
export function threadMayBlock(): boolean {
  if (blockable === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 0)
      blockable = true
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name !== 'TypeError') throw error
      blockable = false
    }
  }
  return blockable
}

/** Turns the TypeError of `Atomics.wait` on a non-blocking thread into a clear error. */
export function blockingNotAllowed(error: unknown): unknown {
  if ((error as { name?: unknown } | null)?.name !== 'TypeError') return error
  return new BlockingNotAllowedError(
    'Expected a thread that may block (a worker), got one where Atomics.wait is not allowed ' +
      '(a browser main thread): use the async form (lockAsync, readLockAsync, writeLockAsync, waitAsync, acquireAsync)',
  )
}

/** Options of every async wait. */
export interface AsyncWaitOptions {
  /**
   * Give up after this many milliseconds.
   * @default Infinity
   */
  readonly timeoutMs?: number
  /** Abort the wait: the promise rejects with `signal.reason`. */
  readonly signal?: AbortSignal
}

const hasWaitAsync = typeof (Atomics as { waitAsync?: unknown }).waitAsync === 'function'
const noop = (): void => {}

/**
 * The async sleeps of this thread in progress, each ended early (as after a
 * wake-up) when a thread is marked dead in a domain this thread has joined:
 * the dead thread may have held what they wait for.
 */
const sleepers = new Set<() => void>()
/** Domains whose DEATHS word this thread watches with a pending `Atomics.waitAsync`. */
const watched = new Set<Domain>()
let asyncSleeps = 0

/**
 * Async sleeps started in this thread so far (each is one re-check of its
 * wait's condition): lets a test count what idle waiters cost. @internal
 */
export function asyncSleepCount(): number {
  return asyncSleeps
}

/**
 * Watches the DEATHS word of every joined domain that is not watched yet
 * (`Domain.markDead` increments it and notifies it). Returns true if it
 * armed a new watch: a death marked between the caller's last check and
 * that moment was seen by no watch, so the caller must check once more.
 *
 * Why no death is missed otherwise: a sleeper checks its condition (the
 * holder is alive), then registers, all in one synchronous turn of this
 * thread. A watch armed before that check with the value DEATHS had then is
 * woken by any later increment (or, if DEATHS already differs, resolves at
 * once), and its callback runs in a later turn, after the registration: it
 * re-arms first (reading DEATHS again), then wakes every registered sleeper,
 * so they re-check after the new watch is in place.
 */
function watchDeaths(): boolean {
  let armed = false
  for (const domain of joinedDomains()) {
    if (watched.has(domain)) continue
    watched.add(domain)
    armDeathWatch(domain)
    armed = true
  }
  return armed
}

function armDeathWatch(domain: Domain): void {
  const words = domain.words
  const i = domain.deathsIndex
  const result = Atomics.waitAsync(words, i, Atomics.load(words, i))
  const changed = (): void => deathsChanged(domain)
  if (result.async) void result.value.then(changed, noop)
  else queueMicrotask(changed)
}

/** A death was marked in `domain`: keep watching while anybody sleeps, and wake every sleeper to re-check. */
function deathsChanged(domain: Domain): void {
  if (sleepers.size === 0) {
    watched.delete(domain)
    return
  }
  armDeathWatch(domain)
  for (const wake of [...sleepers]) wake()
}

/**
 * Async form of {@link sleepWhile}: resolves true after a wake-up, a change of
 * the word, a thread marked dead in a joined domain, or the end of one slice
 * (`sliceMs`, default {@link SLICE_MS}); false when the deadline has passed.
 * Rejects with `signal.reason` when aborted.
 *
 * A pending `Atomics.waitAsync` does not keep Node's event loop alive, so a
 * timer is held for the length of the slice. Where `Atomics.waitAsync` is
 * missing (older Firefox), it polls with timers instead.
 */
export function sleepWhileAsync(
  view: Int32Array,
  index: number,
  value: number,
  deadline: number,
  signal: AbortSignal | undefined,
  sliceMs: number = SLICE_MS,
): Promise<boolean> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  const remaining = deadline - now()
  if (remaining <= 0) return Promise.resolve(false)
  asyncSleeps++
  const slice = remaining < sliceMs ? remaining : sliceMs
  return new Promise<boolean>((resolve, reject) => {
    let onAbort: (() => void) | undefined
    let settled = false
    /** Our `Atomics.waitAsync` is registered on the word (and not yet resolved). */
    let registered = false
    const end = (): void => {
      settled = true
      sleepers.delete(wake)
      clearTimeout(keepAlive)
      if (onAbort) signal?.removeEventListener('abort', onAbort)
      // A registration left behind would take the wake-up of a later
      // notify(word, 1) (a lock's release) that a live waiter needs: wake
      // the word's sleepers (one spurious re-check each) so it resolves now.
      if (registered) Atomics.notify(view, index)
    }
    const finish = (): void => {
      if (settled) return
      end()
      resolve(true)
    }
    /** Ends the sleep early (a death was marked): through the waitAsync itself, so no registration is left behind. */
    const wake = (): void => {
      if (registered) Atomics.notify(view, index)
      else finish()
    }
    // Ref'd timer: keeps the process alive; ends the slice if waitAsync is
    // missing, or if it somehow outlasts its own timeout.
    const keepAlive = setTimeout(finish, hasWaitAsync ? slice + 20 : Math.min(slice, 1))
    if (signal) {
      onAbort = () => {
        if (settled) return
        end()
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
    if (hasWaitAsync) {
      if (watchDeaths()) {
        finish() // a death since the caller's check would have been seen by no watch: check again
        return
      }
      const result = Atomics.waitAsync(view, index, value, slice)
      if (result.async) {
        registered = true
        sleepers.add(wake)
        result.value.then(() => {
          registered = false
          finish()
        }, noop)
      } else finish()
    }
  })
}

/** A wait loop's request: sleep while `view[index] === value` (one slice at most, never past the deadline). */
export interface Sleep {
  /** The shared words. */
  readonly view: Int32Array
  /** Index of the word to sleep on. */
  readonly index: number
  /** The value the loop last read there: a change of the word ends the sleep. */
  readonly value: number
}

/**
 * A wait loop written once for both drivers: yields {@link Sleep} requests,
 * receives whether the sleep happened (false: the deadline has passed, no
 * sleep), and returns the wait's result. Run it with {@link runWait} or
 * {@link runWaitAsync}.
 */
export type WaitLoop<R> = Generator<Sleep, R, boolean>

/** Builds a {@link Sleep} request. */
export function sleepOn(view: Int32Array, index: number, value: number): Sleep {
  return { view, index, value }
}

/**
 * Runs a wait loop on this thread, blocking in {@link sleepWhile} for each
 * request (until `deadline` at most). An error of a sleep
 * (`BlockingNotAllowedError`) is thrown into the loop at its `yield`.
 */
export function runWait<R>(loop: WaitLoop<R>, deadline: number): R {
  let step = loop.next()
  while (step.done !== true) {
    const { view, index, value } = step.value
    let slept: boolean
    try {
      slept = sleepWhile(view, index, value, deadline)
    } catch (error) {
      step = loop.throw(error)
      continue
    }
    step = loop.next(slept)
  }
  return step.value
}

/**
 * Runs a wait loop without blocking the event loop: each request is a
 * {@link sleepWhileAsync} of up to {@link ASYNC_SLICE_MS} (until `deadline`
 * at most): the loop is woken by notifies and deaths, not by polling. An abort before or
 * during a sleep is thrown into the loop at its `yield` as `signal.reason`.
 * A loop that must also notice an abort between sleeps (after a wake-up,
 * before it acts) checks `signal.aborted` itself.
 */
export async function runWaitAsync<R>(loop: WaitLoop<R>, deadline: number, signal: AbortSignal | undefined): Promise<R> {
  let step = loop.next()
  while (step.done !== true) {
    const { view, index, value } = step.value
    let slept: boolean
    try {
      slept = await sleepWhileAsync(view, index, value, deadline, signal, ASYNC_SLICE_MS)
    } catch (error) {
      step = loop.throw(error)
      continue
    }
    step = loop.next(slept)
  }
  return step.value
}

/** Whether `value` behaves as an AbortSignal (checked by shape: signals of another realm count). */
function isSignal(value: unknown): value is AbortSignal {
  const s = value as AbortSignal
  return typeof value === 'object' && value !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function'
}

/**
 * Checks the options of an async wait before anything is armed: an object
 * (or undefined), `timeoutMs` a number >= 0 (or undefined / Infinity),
 * `signal` an AbortSignal (or undefined). A signal of another shape used to
 * fail later, from a library timer, where nobody could catch it.
 * @returns the options (an empty object for undefined)
 * @throws OptionError naming what is wrong
 */
export function checkWaitOptions(options: AsyncWaitOptions | undefined): AsyncWaitOptions {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected wait options ({ timeoutMs?, signal? }) or undefined, got ${describe(options)}`)
  }
  const { timeoutMs, signal } = options
  checkTimeout(timeoutMs)
  if (signal !== undefined && !isSignal(signal)) throw new OptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`)
  return options
}

/**
 * Cheap check of a timeout argument on a fast path (no clock read): throws
 * the same `OptionError` as {@link deadlineOf} for a bad value.
 */
export function checkTimeout(timeoutMs: number | undefined): void {
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0)) deadlineOf(timeoutMs)
}

/**
 * Validates a permit or party count: an integer from 1 to `max`.
 */
export function checkCount(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new OptionError(`Expected \`${name}\` to be an integer from 1 to ${max}, got ${describe(value)}`)
  }
  return value
}
