/**
 * StateMachine: a finite state machine shared by every thread, whose
 * transitions are atomic compare-and-set operations on one word.
 *
 * A transition is one `Atomics.compareExchange` of STATE from the state the
 * caller saw to (seq + 1, target): of several threads racing from the same
 * state exactly one wins, and each winner owns a distinct seq. Its entry in
 * the transition log, `seq mod historySize`, is shared with the winners of
 * other laps: the winner claims it (a compareExchange of the entry's
 * sequence word), writes it and releases it, or leaves it out if a newer lap
 * has it or another live writer keeps it (`log.ts`, with the argument that
 * readers of the history never take a torn entry and that no transition
 * waits for another).
 *
 * Listeners run after the transition is committed, in the thread that made
 * it, outside any lock (seed 003's lesson: a callback run under the state
 * lock that calls back into the machine deadlocks).
 *
 * Layout: `layout.ts`; the definition's checks and hash: `definition.ts`.
 * Over ~400 lines: one class with its public types and errors; about half of
 * it is the TSDoc of its API.
 *
 * @module
 */
import type { SharedStateMachine } from '../contracts.js'
import { HandleError, OptionError, ThreadstateError, describe } from '../errors.js'
import { now, wallNow } from '../memory/clock.js'
import { allocateRegion, attaching, checkHandle, copyHandle, makeHandle, type Handle } from '../memory/handle.js'
import { domainOf } from '../memory/thread.js'
import { waitUntilAsync, wakeAfterChange } from '../sync/version-wait.js'
import { blockingNotAllowed, checkWaitOptions, deadlineOf, sleepWhileAsync, type AsyncWaitOptions } from '../sync/wait.js'
import { checkDefinition, definitionHash, type CheckedDefinition } from './definition.js'
import { MachineF64, MachineWord, REASON_UNITS, SEQ_MASK, machineBytes } from './layout.js'
import { TransitionLog } from './log.js'

// Module-level primitives for the transition path (a property of an
// imported object is a lookup on every use).
const STATE = MachineWord.STATE
const WAITERS = MachineWord.WAITERS
const REJECTED = MachineWord.REJECTED
/** The options of a transition given none: one shared object, not a fresh `{}` per call (which escaped into attempt() and cost an allocation per transition). */
const NO_OPTIONS: TransitionOptions<never> = Object.freeze({})

/**
 * How long `subscribe()` waits for the log entry of a transition whose
 * winner has not finished writing it (then the transition is skipped, as
 * `history()` skips it at once), and the slice of each of its sleeps.
 */
const PENDING_WAIT_MS = 1_000
const PENDING_SLICE_MS = 10

/**
 * Checks a transition's `timestamp` option.
 * @throws OptionError unless it is a finite number
 */
export function checkTimestamp(timestamp: unknown): asserts timestamp is number {
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
    throw new OptionError(`Expected \`timestamp\` to be a finite number of ms since the epoch or undefined, got ${describe(timestamp)}`)
  }
}

/** Definition of a {@link StateMachine}. */
export interface StateMachineDefinition<S extends string> {
  /** Every state, by name (at most 255). */
  readonly states: readonly S[]
  /** The state the machine starts in. */
  readonly initial: NoInfer<S>
  /** For each state, the states it may move to. */
  readonly transitions: Readonly<Partial<Record<NoInfer<S>, readonly NoInfer<S>[]>>>
  /** States reachable from every other state (an emergency stop). */
  readonly anyTo?: readonly NoInfer<S>[]
}

/** Options of {@link StateMachine.create}. */
export interface StateMachineOptions<S extends string> extends StateMachineDefinition<S> {
  /** Transitions kept in the shared log for {@link StateMachine.history} (rounded up to a power of two). @default 64 */
  readonly historySize?: number
}

/** Handle of a {@link StateMachine}: the region plus its definition. */
export interface StateMachineHandle<S extends string = string> extends Handle<'StateMachine'> {
  /** The definition, checked against the hash in shared memory by `attach`. */
  readonly definition: StateMachineDefinition<S>
}

/** One committed transition. */
export interface Transition<S extends string = string> {
  /** State left. */
  readonly from: S
  /** State entered. */
  readonly to: S
  /** When, in ms since the epoch on the clock shared by all threads. */
  readonly at: number
  /** threadstate id of the thread that made it. */
  readonly threadId: number
  /** Why (truncated to 48 UTF-16 units), or ''. */
  readonly reason: string
  /** Transition number, 1 for the first (modulo 2^24). */
  readonly seq: number
}

/** Options of {@link StateMachine.transition}. */
export interface TransitionOptions<S extends string> {
  /** Why: kept in the history (48 UTF-16 units at most). */
  readonly reason?: string
  /** Move only if the machine is in this state now (default: whatever state it is in). */
  readonly from?: S
  /**
   * When the transition happened, in ms since the epoch, for its history
   * entry and listeners; default: now, on the clock every thread shares
   * (`performance.timeOrigin + performance.now()`). A clock read is most of
   * an in-memory transition's cost (~40 ns): a control loop that stamps every
   * write of a tick with one time passes it here, as to `StateBuffer.publish`.
   * On Redis the default is the server's clock, and a given time is taken as
   * this machine's clock (corrected by the domain's measured offset).
   */
  readonly timestamp?: number
}

/** Figures of a StateMachine. */
export interface StateMachineStats<S extends string = string> {
  /** Current state. */
  readonly state: S
  /** Transitions committed (modulo 2^24). */
  readonly transitions: number
  /** Transitions refused: not allowed, or another thread moved first. */
  readonly rejected: number
  /** Milliseconds since the current state was entered. */
  readonly inStateMs: number
}

/** A transition that is not allowed; says from, to and what is allowed. */
export class TransitionError extends ThreadstateError {
  /** Always `'TransitionError'`. */
  override name = 'TransitionError'
  constructor(
    message: string,
    /** The state the machine was in. */
    readonly from: string,
    /** The state asked for. */
    readonly to: string,
    /** The states allowed from `from`. */
    readonly allowed: readonly string[],
  ) {
    super(message)
  }
}

/** Listeners threw after a transition was committed; the transition stands. */
export class ListenerError extends ThreadstateError {
  /** Always `'ListenerError'`. */
  override name = 'ListenerError'
  constructor(
    message: string,
    /** What the listeners threw. */
    readonly errors: readonly unknown[],
  ) {
    super(message)
  }
}

/**
 * The mirror role of a machine (threadstate/redis): transitions committed
 * elsewhere (on a server, in order) applied to this machine, never by
 * `transition`. Not exported from the package. Assigned by StateMachine's
 * static block; the in-memory transition path does not change.
 */
export interface MachineMirror {
  /**
   * Applies transition `seq` (from, to: state indices) if the machine is at
   * `seq - 1`, with one compareExchange of STATE (so of several threads
   * applying it, one does), then records it in the log and wakes waiters.
   * @returns 'applied'; 'had' if the machine is at `seq` or later; 'gap' if it is further behind
   */
  apply(seq: number, from: number, to: number, threadId: number, at: number, reason: string): 'applied' | 'had' | 'gap'
  /** Moves the machine to state index `state` at `seq` if it is behind (transitions between are not in the log). @returns whether it moved */
  reset(seq: number, state: number): boolean
  /** Counts a transition refused (the server's answer). */
  reject(): void
  /** The transitions applied so far, modulo 2^24. */
  seq(): number
}

/** See {@link MachineMirror}. */
export let machineMirrorOf: (machine: StateMachine<string>) => MachineMirror

/** `(seq - v) mod 2^24` at least this: v is ahead of `seq`. */
const HALF_LAP = (SEQ_MASK + 1) / 2

/**
 * A state machine shared by every thread (seeds 000 and 003: a supervisor
 * with trigger flags and an emergency stop reachable from any state).
 *
 * @example
 * ```ts
 * const fsm = StateMachine.create({
 *   states: ['init', 'ready', 'walking', 'stopped', 'estop'],
 *   initial: 'init',
 *   transitions: { init: ['ready'], ready: ['walking'], walking: ['stopped'], stopped: ['ready'] },
 *   anyTo: ['estop'],
 * })
 * fsm.transition('ready', { reason: 'calibrated' })  // true: committed
 * fsm.transition('stopped')                           // false: not allowed from 'ready'
 * // any thread, any state:
 * StateMachine.attach(handle).transition('estop', { reason: 'watchdog' })
 * ```
 */
export class StateMachine<S extends string = string> implements SharedStateMachine<S> {
  /** The structured-cloneable handle. */
  readonly handle: StateMachineHandle<S>
  /** The state names, in definition order. */
  readonly states: readonly S[]
  private readonly words: Int32Array
  private readonly f64: Float64Array
  private readonly log: TransitionLog
  private readonly allowed: readonly (readonly boolean[])[]
  private readonly index: ReadonlyMap<string, number>
  private readonly logSize: number
  private readonly listeners = new Set<(t: Transition<S>) => void>()
  /** This thread's id (an instance never leaves the thread that made it). */
  private readonly tid: number

  static {
    machineMirrorOf = (machine) => {
      const words = machine.words
      /** Moves STATE to `next` (seq `want`) if it is exactly one behind (`exact`) or behind at all. */
      const advance = (want: number, next: number, exact: boolean): 'applied' | 'had' | 'gap' => {
        for (;;) {
          const word = Atomics.load(words, STATE)
          const behind = (want - (word >>> 8)) & SEQ_MASK
          if (behind === 0 || behind >= HALF_LAP) return 'had'
          if (exact && behind !== 1) return 'gap'
          // Lost to another thread applying the same (or a later) transition: look again.
          if (Atomics.compareExchange(words, STATE, word, next) === word) return 'applied'
        }
      }
      return {
        apply(seq, from, to, threadId, at, reason) {
          const want = seq & SEQ_MASK
          const applied = advance(want, (want << 8) | to, true)
          if (applied !== 'applied') return applied
          // Claimed under this thread's own id (the log's claim protocol names live threads of
          // this domain); the entry names the thread that made the transition, wherever it ran.
          const log = machine.log
          if (log.claim(want, machine.tid)) {
            log.write(want, from, to, threadId, at, reason)
            log.release(want)
          }
          if (Atomics.load(words, WAITERS) !== 0) Atomics.notify(words, STATE)
          return applied
        },
        reset(seq, state) {
          const want = seq & SEQ_MASK
          if (advance(want, (want << 8) | state, false) !== 'applied') return false
          if (Atomics.load(words, WAITERS) !== 0) Atomics.notify(words, STATE)
          return true
        },
        reject() {
          Atomics.add(words, REJECTED, 1)
        },
        seq() {
          return Atomics.load(words, STATE) >>> 8
        },
      }
    }
  }

  private constructor(handle: StateMachineHandle<S>, spec: CheckedDefinition) {
    this.handle = handle
    const domain = domainOf(handle.domain)
    this.tid = domain.tid
    this.states = spec.states as readonly S[]
    this.allowed = spec.allowed
    this.index = new Map(spec.states.map((s, i) => [s, i]))
    this.words = new Int32Array(handle.buffer, handle.byteOffset, handle.byteLength >> 2)
    this.f64 = new Float64Array(handle.buffer, handle.byteOffset, handle.byteLength >> 3)
    this.logSize = this.words[MachineWord.LOG]!
    this.log = new TransitionLog(handle.buffer, handle.byteOffset, handle.byteLength, this.logSize, domain)
  }

  /**
   * Creates a machine in its `initial` state.
   * @throws OptionError for a definition that names unknown states, has duplicates, ...
   */
  static create<const S extends string>(options: StateMachineOptions<S>): StateMachine<S> {
    const spec = checkDefinition(options)
    const historySize = options.historySize ?? 64
    if (!Number.isInteger(historySize) || historySize < 1 || historySize > 1 << 16) {
      throw new OptionError(`Expected \`historySize\` to be an integer from 1 to 65536, got ${describe(historySize)}`)
    }
    const logSize = 2 ** Math.ceil(Math.log2(historySize))
    const region = allocateRegion('StateMachine', machineBytes(logSize))
    const words = new Int32Array(region.buffer)
    const definition: StateMachineDefinition<S> = {
      states: [...options.states],
      initial: options.initial,
      transitions: Object.fromEntries(Object.entries(options.transitions).map(([k, v]) => [k, [...(v as S[])]])) as unknown as StateMachineDefinition<S>['transitions'],
      anyTo: [...(options.anyTo ?? [])],
    }
    words[MachineWord.STATES] = spec.states.length
    words[MachineWord.LOG] = logSize
    words[MachineWord.DEFINITION] = definitionHash(definition)
    new Float64Array(region.buffer)[MachineF64.CREATED_AT] = wallNow()
    TransitionLog.clear(words, logSize)
    Atomics.store(words, STATE, spec.initial)
    const handle: StateMachineHandle<S> = { ...makeHandle('StateMachine', region, domainOf().buffer), definition }
    return new StateMachine<S>(handle, spec)
  }

  /**
   * Rebuilds a machine from its handle, in any thread.
   * @throws HandleError if the handle is invalid or its definition does not match the shared one
   */
  static attach<S extends string = string>(handle: StateMachineHandle<S>): StateMachine<S> {
    return attaching('StateMachine', () => StateMachine.attachChecked(handle))
  }

  /** {@link attach}'s checks, on a plain copy of the handle (memory/handle.ts). */
  private static attachChecked<S extends string>(original: StateMachineHandle<S>): StateMachine<S> {
    const handle = copyHandle(original, 'StateMachine')
    const definition = handle['definition']
    let spec: CheckedDefinition
    try {
      spec = checkDefinition(definition)
    } catch (error) {
      throw new HandleError(`Expected a StateMachine handle with a valid definition, got one whose definition is invalid: ${(error as Error).message}`)
    }
    const logSize = (handle as { byteLength?: unknown }).byteLength
    const checked = checkHandle(handle, 'StateMachine', typeof logSize === 'number' ? logSize : -1) as StateMachineHandle<S>
    const words = new Int32Array(checked.buffer, checked.byteOffset, checked.byteLength >> 2)
    const n = words[MachineWord.LOG]!
    if (n < 1 || (n & (n - 1)) !== 0 || machineBytes(n) !== checked.byteLength) {
      throw new HandleError(`Expected a StateMachine region of ${machineBytes(n)} bytes for a log of ${n}, got ${checked.byteLength}`)
    }
    if (
      words[MachineWord.DEFINITION] !== definitionHash(definition as StateMachineDefinition<string>) ||
      words[MachineWord.STATES] !== spec.states.length
    ) {
      throw new HandleError('Expected a StateMachine handle whose definition matches the one in shared memory, got a different definition')
    }
    const state = Atomics.load(words, STATE) & 0xff
    if (state >= spec.states.length) {
      throw new HandleError(`Expected a StateMachine handle whose memory holds a state of its definition, got state index ${state} of ${spec.states.length}: the handle is forged or the memory scribbled`)
    }
    domainOf(checked.domain)
    return new StateMachine<S>(checked, spec)
  }

  // ---- reading ------------------------------------------------------------------

  /** The current state. */
  get state(): S {
    return this.states[Atomics.load(this.words, STATE) & 0xff]!
  }

  /** Whether the machine is in `state` now. */
  is(state: S): boolean {
    return this.state === state
  }

  /** The states `state` (default: the current one) may move to. */
  allowedFrom(state: S = this.state): S[] {
    const f = this.indexOf(state, 'allowedFrom')
    return this.states.filter((_, t) => this.allowed[f]![t])
  }

  /** Whether a transition `from` -> `to` is allowed by the definition. */
  canTransition(to: S, from: S = this.state): boolean {
    return this.allowed[this.indexOf(from, 'from')]![this.indexOf(to, 'transition')]!
  }

  private indexOf(state: unknown, what: string): number {
    const i = this.index.get(state as string)
    if (i === undefined) {
      throw new TransitionError(`Expected a state of ${JSON.stringify(this.states)} for ${what}, got ${describe(state)}`, String(this.state), String(state), [])
    }
    return i
  }

  // ---- transitions ----------------------------------------------------------------

  /**
   * Moves to `to` if the definition allows it from the current state (or
   * from `options.from`, if given and current), atomically: of several
   * threads racing, exactly one wins from a given state. Listeners of this
   * instance run after the commit, outside any lock.
   * @returns true if this call made the transition; false if it is not
   *   allowed from the current state, or (with `from`) the machine is not
   *   in `from` any more. Without `from`, a race lost to another thread is
   *   retried from the state that thread moved to.
   * @throws TransitionError for a state name the machine does not have
   * @throws ListenerError if listeners threw (the transition stands)
   */
  transition(to: S, options: TransitionOptions<S> = NO_OPTIONS): boolean {
    return this.attempt(to, options)
  }

  /**
   * {@link transition}, throwing instead of returning false.
   * @throws TransitionError saying from, to and what is allowed
   */
  transitionOrThrow(to: S, options: TransitionOptions<S> = NO_OPTIONS): void {
    const words = this.words
    const seen = Atomics.load(words, STATE)
    if (this.attempt(to, options)) return
    const now = Atomics.load(words, STATE)
    const from = this.states[now & 0xff]!
    const allowed = this.allowedFrom(from)
    const raced = now !== seen ? ' (another thread moved it meanwhile)' : ''
    const wanted = options.from !== undefined && options.from !== from ? `: expected to be in ${JSON.stringify(options.from)}` : ''
    throw new TransitionError(
      `Expected a transition allowed from ${JSON.stringify(from)} (to ${allowed.map((s) => JSON.stringify(s)).join(', ') || 'nothing'}), got ${JSON.stringify(to)}${wanted}${raced}`,
      from,
      to,
      allowed,
    )
  }

  private attempt(to: S, options: TransitionOptions<S>): boolean {
    const t = this.indexOf(to, 'transition')
    const expected = options.from === undefined ? -1 : this.indexOf(options.from, 'from')
    const reason = options.reason ?? ''
    if (typeof reason !== 'string') throw new OptionError(`Expected \`reason\` to be a string, got ${describe(reason)}`)
    const timestamp = options.timestamp
    if (timestamp !== undefined) checkTimestamp(timestamp)
    const words = this.words
    // The first look may be a plain load: a go-ahead is decided by the
    // compareExchange (it succeeds only if the word still holds the value
    // judged), and a refusal is confirmed by an Atomics.load first.
    let word = words[STATE]!
    let f: number
    let seq: number
    for (;;) {
      f = word & 0xff
      if ((expected >= 0 && f !== expected) || !this.allowed[f]![t]) {
        const now = Atomics.load(words, STATE)
        if (now !== word) {
          word = now
          continue
        }
        Atomics.add(words, REJECTED, 1)
        return false
      }
      seq = ((word >>> 8) + 1) & SEQ_MASK
      const found = Atomics.compareExchange(words, STATE, word, (seq << 8) | t)
      if (found === word) break
      // Another thread moved first (or the first look was stale): judge again
      // from the state it holds now. With `from`, a state other than `from` is
      // a refusal; without, the transition is tried from there (an estop must
      // not be lost to a race).
      word = found
    }
    const at = timestamp === undefined ? wallNow() : timestamp
    const kept = reason.length > REASON_UNITS ? reason.slice(0, REASON_UNITS - 1) + '…' : reason
    this.log.record(seq, f, t, this.tid, at, kept)
    wakeAfterChange(words, STATE, WAITERS)
    // The Transition object is made only for listeners (none: no allocation).
    if (this.listeners.size !== 0) this.emit({ from: this.states[f]!, to, at, threadId: this.tid, reason: kept, seq })
    return true
  }

  private emit(transition: Transition<S>): void {
    const errors: unknown[] = []
    for (const listener of [...this.listeners]) {
      try {
        listener(transition)
      } catch (error) {
        errors.push(error)
      }
    }
    if (errors.length > 0) {
      throw new ListenerError(
        `Expected transition listeners to return, got ${errors.length} that threw (the transition ${transition.from} -> ${transition.to} is committed): ${(errors[0] as Error)?.message ?? String(errors[0])}`,
        errors,
      )
    }
  }

  /**
   * Calls `listener` after each transition made through this instance (in
   * this thread, after the commit, outside any lock); not those made through
   * another instance attached to the same machine, in this thread or any
   * other. For every thread's transitions, in commit order, use
   * {@link subscribe}.
   * @returns a function that removes the listener
   */
  onTransition(listener: (transition: Transition<S>) => void): () => void {
    if (typeof listener !== 'function') throw new OptionError(`Expected a listener function, got ${describe(listener)}`)
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  // ---- history and waiting -----------------------------------------------------------

  /**
   * The last `n` committed transitions (at most the log size), oldest first.
   * An entry whose writer has not finished (or died after its commit) is
   * left out, and so is one its writer could not claim (another lap's
   * writer held it: `log.ts`).
   */
  history(n = this.logSize): Transition<S>[] {
    const latest = Atomics.load(this.words, STATE) >>> 8
    const count = Math.min(n, this.logSize, latest)
    const out: Transition<S>[] = []
    for (let k = count - 1; k >= 0; k--) {
      const entry = this.entry((latest - k) & SEQ_MASK)
      if (entry) out.push(entry)
    }
    return out
  }

  /** The log entry of transition `seq`, if it is complete and not overwritten. */
  private entry(seq: number): Transition<S> | undefined {
    const read = this.log.read(seq)
    // Looked up only once whole (a torn copy is dropped, never decoded).
    if (read === undefined) return undefined
    const from = this.states[read.from]
    const to = this.states[read.to]
    if (from === undefined || to === undefined) return undefined
    return { from, to, at: read.at, threadId: read.threadId, reason: read.reason, seq }
  }

  /**
   * Blocks until the machine is in `state`, at most `timeoutMs`; false on
   * timeout. Sleeps on the state word until a transition changes it (each
   * transition notifies while WAITERS is non-zero): an idle waiter costs
   * nothing, where the shared lock-wait loop's 50 ms slice (made for
   * re-checking a lock holder's liveness, which a state has none of) woke
   * it 20 times a second.
   * @throws BlockingNotAllowedError on a thread that may not block (use {@link waitForAsync})
   */
  waitFor(state: S, timeoutMs?: number): boolean {
    const target = this.indexOf(state, 'waitFor')
    const deadline = deadlineOf(timeoutMs)
    const words = this.words
    if ((Atomics.load(words, STATE) & 0xff) === target) return true
    // The version-wait protocol (sync/version-wait.ts): count in WAITERS, then re-read STATE and sleep
    // only while it keeps that value. A transition CASes STATE, then reads WAITERS: by sequential
    // consistency it sees this waiter (and notifies) or this waiter sees its new STATE (no lost wake-up).
    Atomics.add(words, WAITERS, 1)
    try {
      for (;;) {
        const seen = Atomics.load(words, STATE)
        if ((seen & 0xff) === target) return true
        const remaining = deadline - now()
        if (remaining <= 0) return false
        try {
          Atomics.wait(words, STATE, seen, remaining)
        } catch (error) {
          throw blockingNotAllowed(error)
        }
      }
    } finally {
      Atomics.sub(words, WAITERS, 1)
    }
  }

  /** Async form of {@link waitFor}; keeps a Node process alive while waiting. */
  waitForAsync(state: S, options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    const target = this.indexOf(state, 'waitForAsync')
    return waitUntilAsync(this.words, STATE, WAITERS, () => (Atomics.load(this.words, STATE) & 0xff) === target, options)
  }

  /**
   * Every transition committed after the subscription starts (at the first
   * `next()`), by any thread, in order. If more than the log size happened
   * between two reads, the overwritten ones are skipped (`seq` shows the
   * gap), and so is one whose entry its writer has not finished a second
   * after it moved the state (it died, or left the entry to an older lap's
   * writer). Ends on `break` or when `signal` aborts.
   */
  async *subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<Transition<S>, void, undefined> {
    checkWaitOptions(options)
    const { signal } = options
    const words = this.words
    let last = Atomics.load(words, STATE) >>> 8
    for (;;) {
      const word = Atomics.load(words, STATE)
      const latest = word >>> 8
      if (latest === last) {
        Atomics.add(words, WAITERS, 1)
        try {
          if (Atomics.load(words, STATE) === word) await sleepWhileAsync(words, STATE, word, Infinity, signal)
        } catch (error) {
          if (signal?.aborted) return
          throw error
        } finally {
          Atomics.sub(words, WAITERS, 1)
        }
        continue
      }
      const behind = (latest - last) & SEQ_MASK
      const first = behind > this.logSize ? (latest - this.logSize + 1) & SEQ_MASK : (last + 1) & SEQ_MASK
      for (let seq = first, k = 0; k < Math.min(behind, this.logSize); k++, seq = (seq + 1) & SEQ_MASK) {
        let entry = this.entry(seq)
        // The winner of `seq` may still be writing its entry: give it a moment.
        for (let spin = 0; entry === undefined && spin < 1000 && this.log.busy(seq); spin++) {
          entry = this.entry(seq)
        }
        // Or it was preempted between its compareExchange and the end of its
        // entry, for milliseconds on a busy machine (a subscriber woken by
        // its sleep's time slice meanwhile skipped the transition: found by
        // the demo's test with both cores loaded). Wait for the entry without
        // blocking, as long as it may still come (its writer alive, or its
        // winner yet to claim it), at most PENDING_WAIT_MS: the winner's
        // notify after its entry ends each sleep.
        const deadline = now() + PENDING_WAIT_MS
        while (entry === undefined && this.log.pending(seq) && now() < deadline) {
          const current = Atomics.load(words, STATE)
          Atomics.add(words, WAITERS, 1)
          try {
            await sleepWhileAsync(words, STATE, current, Math.min(deadline, now() + PENDING_SLICE_MS), signal)
          } catch (error) {
            if (signal?.aborted) return
            throw error
          } finally {
            Atomics.sub(words, WAITERS, 1)
          }
          entry = this.entry(seq)
        }
        if (entry) yield entry
      }
      last = latest
    }
  }

  /** Figures of this machine. */
  stats(): StateMachineStats<S> {
    const word = Atomics.load(this.words, STATE)
    const latest = word >>> 8
    const entry = latest === 0 ? undefined : this.entry(latest)
    const since = latest === 0 ? this.f64[MachineF64.CREATED_AT]! : (entry?.at ?? wallNow())
    return {
      state: this.states[word & 0xff]!,
      transitions: latest,
      rejected: Atomics.load(this.words, REJECTED),
      inStateMs: Math.max(0, wallNow() - since),
    }
  }
}
