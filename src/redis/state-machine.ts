/**
 * RedisStateMachine: a StateMachine whose truth is on a Redis server, shared
 * by every process that opens it by name; the current state, `history`,
 * `waitForAsync` and `subscribe` are a mirror's in this process's shared
 * memory (an ordinary StateMachine kept current by the domain's bridge).
 *
 * A transition is one script (machine-scripts.ts MACHINE_TRANSITION): it
 * checks the server's state against the definition (and `from`) and moves
 * state and counter together, so of several processes racing from one state
 * exactly one wins; without `from` it is judged against whatever state the
 * server holds when it runs, so an `anyTo` state (an emergency stop) is
 * never lost to a concurrent move.
 *
 * @module
 */
import type { SharedStateMachine } from '../contracts.js'
import { OptionError, describe } from '../errors.js'
import { checkDefinition, type CheckedDefinition } from '../machine/definition.js'
import { REASON_UNITS } from '../machine/layout.js'
import {
  StateMachine,
  TransitionError,
  checkTimestamp,
  type StateMachineDefinition,
  type StateMachineHandle,
  type StateMachineStats,
  type Transition,
  type TransitionOptions,
} from '../machine/state-machine.js'
import { domainOf } from '../memory/thread.js'
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import { RemoteMachine, type MachineEntry } from './remote-machine.js'
import { Status, attachedLink, attachingRemote, checkRemoteHandle, statusFigures, type RemoteHandle } from './remote.js'

/** The structured-cloneable handle of a RedisStateMachine: `RedisStateMachine.attach(handle)` in a worker. */
export interface RedisStateMachineHandle<S extends string = string> extends RemoteHandle {
  /** Always `'RedisStateMachine'`. */
  readonly kind: 'RedisStateMachine'
  /** The mirror (carries the definition). */
  readonly mirror: StateMachineHandle<S>
}

/** Options of `RedisDomain.stateMachine` besides the definition. */
export interface RedisStateMachineOptions {
  /** Transitions the mirror keeps for `history()` (rounded up to a power of two). @default 64 */
  readonly historySize?: number
  /** Transitions kept in the server's stream (`XADD MAXLEN ~`): how far a process may fall behind and still catch up transition by transition. @default the domain's `streamLength` */
  readonly streamLength?: number
}

/** Figures of a RedisStateMachine in this process: the mirror's, plus the bridge's work. */
export interface RedisStateMachineStats<S extends string = string> extends StateMachineStats<S> {
  /** Transitions applied to the mirror from the stream by the bridge or a catch-up... */
  readonly bridged: number
  /** ...and by this process's transitioning threads themselves (read-your-writes). */
  readonly ownApplied: number
  /** Jumps of the mirror over transitions the stream no longer held. */
  readonly reloads: number
  /** Transitions resent after a lost connection (deduplicated on the server). */
  readonly retries: number
  /** Whether the data on the server was found gone or replaced. */
  readonly lost: boolean
  /** Listeners that threw (in this process). */
  readonly listenerErrors: number
}

/** The reason as the log keeps it (at most 48 UTF-16 units), as in memory. */
function keptReason(reason: unknown): string {
  const r = reason ?? ''
  if (typeof r !== 'string') throw new OptionError(`Expected \`reason\` to be a string, got ${describe(r)}`)
  return r.length > REASON_UNITS ? r.slice(0, REASON_UNITS - 1) + '…' : r
}

/**
 * A state machine on a Redis server, shared by every process that opens it
 * (`RedisDomain.stateMachine(name, definition)`), with the same definition
 * and API as {@link StateMachine} (`SharedStateMachine`); transitions are
 * async (one script each) and resolve once this process's mirror holds them.
 *
 * Differences from memory: `onTransition` listeners get **every** transition
 * of every process, in commit order (in memory: this instance's own), called
 * by the domain's bridge in the domain's thread (on an attached instance in
 * a worker: from the mirror, as `subscribe` sees them); a listener that
 * throws is counted (`listenerErrors`) and reported as a process warning,
 * since the transition belongs to another caller. `at` is the server's time
 * of the commit on this machine's clock; `threadId` is the committing
 * thread's id in its own process.
 *
 * @example
 * ```ts
 * const fsm = await redis.stateMachine('robot', {
 *   states: ['init', 'ready', 'walking', 'estop'], initial: 'init',
 *   transitions: { init: ['ready'], ready: ['walking'] }, anyTo: ['estop'],
 * })
 * await fsm.transition('ready', { from: 'init' })  // exactly one process wins
 * fsm.state                                         // 'ready': from the mirror
 * fsm.onTransition((t) => console.log(t.from, '->', t.to)) // every process's, in commit order
 * ```
 */
export class RedisStateMachine<S extends string = string> implements SharedStateMachine<S> {
  /** Send this to a worker; `RedisStateMachine.attach(handle)` there. */
  readonly handle: RedisStateMachineHandle<S>
  /** The state names, in definition order. */
  readonly states: readonly S[]
  private readonly mirror: StateMachine<S>
  private readonly remote: RemoteMachine
  private readonly spec: CheckedDefinition
  private readonly index: ReadonlyMap<string, number>
  /** Per target state: its column of the allowed table ('1' where a state may move to it). */
  private readonly columns: readonly string[]
  private readonly status: Int32Array
  private readonly tid: number
  private readonly listeners = new Set<(t: Transition<S>) => void>()
  /** Fed by the bridge (the domain's instance), else by a subscription of the mirror (started with the first listener). */
  private readonly bridged: boolean
  private feed: AbortController | undefined
  private listenerErrors = 0

  /** @internal use `RedisDomain.stateMachine` or {@link RedisStateMachine.attach} */
  constructor(handle: RedisStateMachineHandle<S>, remote: RemoteMachine | undefined) {
    this.handle = handle
    this.mirror = remote ? (remote.machine as unknown as StateMachine<S>) : StateMachine.attach<S>(handle.mirror)
    this.status = new Int32Array(handle.status)
    this.remote = remote ?? new RemoteMachine(handle.spec, this.mirror as unknown as StateMachine<string>, this.status, attachedLink(handle))
    this.bridged = remote !== undefined
    this.spec = checkDefinition(this.mirror.handle.definition)
    this.states = this.spec.states as readonly S[]
    this.index = new Map(this.states.map((s, i) => [s, i]))
    this.columns = this.states.map((_, t) => this.spec.allowed.map((row) => (row[t] ? '1' : '0')).join(''))
    this.tid = domainOf(this.mirror.handle.domain).tid
  }

  /**
   * Rebuilds the machine from its handle in another thread of the same
   * process: the same mirror (no copy), and transitions through this
   * thread's own connection (`closeThreadConnections` closes it).
   * @throws HandleError for something that is not such a handle, or one whose definition does not match its mirror
   */
  static attach<S extends string = string>(handle: RedisStateMachineHandle<S>): RedisStateMachine<S> {
    // One plain copy, checked, is all the machine reads (remote.ts copyRemoteHandle); the mirror's attach checks the definition.
    return attachingRemote('RedisStateMachine', () => new RedisStateMachine<S>(checkRemoteHandle(handle, 'RedisStateMachine') as unknown as RedisStateMachineHandle<S>, undefined))
  }

  /** The name it was opened by. */
  get name(): string {
    return this.handle.spec.name
  }

  // ---- reads: the mirror's -------------------------------------------------------------

  /** The current state, from the mirror (the server may be ahead: {@link sync}). */
  get state(): S {
    return this.mirror.state
  }

  /** Whether the mirror is in `state` now. */
  is(state: S): boolean {
    return this.mirror.is(state)
  }

  /** The states `state` (default: the current one) may move to. */
  allowedFrom(state?: S): S[] {
    return state === undefined ? this.mirror.allowedFrom() : this.mirror.allowedFrom(state)
  }

  /** Whether `from` -> `to` is allowed by the definition. */
  canTransition(to: S, from?: S): boolean {
    return from === undefined ? this.mirror.canTransition(to) : this.mirror.canTransition(to, from)
  }

  /** The last `n` committed transitions this process's mirror holds, oldest first. */
  history(n?: number): Transition<S>[] {
    return n === undefined ? this.mirror.history() : this.mirror.history(n)
  }

  /** Resolves true once the mirror is in `state`, false after `timeoutMs`. */
  waitForAsync(state: S, options?: AsyncWaitOptions): Promise<boolean> {
    return this.mirror.waitForAsync(state, options)
  }

  /**
   * Every transition committed after the subscription starts, by any
   * process, in order (as the mirror's `subscribe`); ends with
   * RedisDataLostError if the machine's data is found lost.
   */
  subscribe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<Transition<S>, void, undefined> {
    checkWaitOptions(options)
    return this.remote.whileNotLost((signal) => this.mirror.subscribe({ signal }), options.signal)
  }

  /** Whether the data on the server was found gone or replaced (transitions reject with RedisDataLostError). */
  get lost(): boolean {
    return Atomics.load(this.status, Status.LOST) !== 0
  }

  /** Resolves once the mirror holds every transition the server had when called. @returns that transition count */
  sync(): Promise<number> {
    return this.remote.sync()
  }

  // ---- transitions: one script each ----------------------------------------------------

  /**
   * Moves to `to` if the definition allows it from the server's current
   * state (and, with `from`, only if that state is `from`), atomically across
   * processes. Resolves once this process's mirror holds the transition.
   * @returns true if this call made the transition; false if not allowed from the server's state, or (with `from`) the machine is not in `from`
   * @throws TransitionError for a state name the machine does not have; OptionError for a reason that is not a string
   * @throws RedisDataLostError, RedisOutcomeUnknownError, RedisConnectionError as every Redis write
   */
  async transition(to: S, options: TransitionOptions<S> = {}): Promise<boolean> {
    return (await this.attempt(to, options)).ok
  }

  /**
   * {@link transition}, rejecting instead of answering false.
   * @throws TransitionError saying from (the server's state), to and what is allowed
   */
  async transitionOrThrow(to: S, options: TransitionOptions<S> = {}): Promise<void> {
    const result = await this.attempt(to, options)
    if (result.ok) return
    const from = this.states[result.state] ?? this.state
    const allowed = this.mirror.allowedFrom(from)
    const wanted = options.from !== undefined && options.from !== from ? `: expected to be in ${JSON.stringify(options.from)}` : ''
    throw new TransitionError(
      `Expected a transition allowed from ${JSON.stringify(from)} (to ${allowed.map((s) => JSON.stringify(s)).join(', ') || 'nothing'}), got ${JSON.stringify(to)}${wanted}`,
      from,
      to,
      allowed,
    )
  }

  private async attempt(to: S, options: TransitionOptions<S>): Promise<{ ok: true } | { ok: false; state: number }> {
    if (typeof options !== 'object' || options === null) throw new OptionError(`Expected transition options or undefined, got ${describe(options)}`)
    const t = this.indexOf(to, 'transition')
    const f = options.from === undefined ? -1 : this.indexOf(options.from, 'from')
    const reason = keptReason(options.reason)
    if (options.timestamp !== undefined) checkTimestamp(options.timestamp)
    const column = this.columns[t]!
    // Refused by the definition alone, whatever the server's state: no round trip.
    if ((f >= 0 && column[f] !== '1') || !column.includes('1')) {
      this.remote.mirror.reject()
      return { ok: false, state: f >= 0 ? f : this.index.get(this.mirror.state)! }
    }
    const result = await this.remote.transition(t, f, column, reason, this.tid, options.timestamp)
    return result.ok ? { ok: true } : { ok: false, state: result.state }
  }

  private indexOf(state: unknown, what: string): number {
    const i = this.index.get(state as string)
    if (i === undefined) {
      throw new TransitionError(`Expected a state of ${JSON.stringify(this.states)} for ${what}, got ${describe(state)}`, String(this.state), String(state), [])
    }
    return i
  }

  // ---- listeners -------------------------------------------------------------------------

  /**
   * Calls `listener` after each transition of any process, in commit order
   * (on the domain's instance, from the bridge: each transition once, as
   * the bridge reads the machine's stream; on an attached instance, from
   * the mirror's subscription, which skips what more than `historySize`
   * transitions between two of its reads overwrote). A process that fell
   * further behind than the stream keeps (`streamLength`) skips what was
   * trimmed. Listeners run outside any lock; one that throws is counted in
   * `stats().listenerErrors` and reported with `process.emitWarning`; the
   * others still run.
   * @returns a function that removes the listener
   */
  onTransition(listener: (transition: Transition<S>) => void): () => void {
    if (typeof listener !== 'function') throw new OptionError(`Expected a listener function, got ${describe(listener)}`)
    this.listeners.add(listener)
    if (!this.bridged && this.feed === undefined) this.startFeed()
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0 && this.feed !== undefined) {
        this.feed.abort()
        this.feed = undefined
      }
    }
  }

  /** @internal the bridge hands over each transition it read, in commit order */
  emitEntries(entries: readonly MachineEntry[]): void {
    if (this.listeners.size === 0) return
    for (const e of entries) this.emit(RemoteMachine.transitionOf(this.states, e))
  }

  private emit(transition: Transition<S>): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(transition)
      } catch (error) {
        this.listenerErrors++
        process.emitWarning(`A RedisStateMachine '${this.name}' listener threw on ${transition.from} -> ${transition.to}: ${(error as Error)?.message ?? String(error)}`, 'ListenerError')
      }
    }
  }

  private startFeed(): void {
    const feed = new AbortController()
    this.feed = feed
    const events = this.subscribe({ signal: feed.signal })
    void (async () => {
      try {
        for await (const t of events) this.emit(t)
      } catch {
        // Lost: the subscription ended with RedisDataLostError; `lost` says so.
      }
    })()
  }

  /** Figures of this process's mirror and bridge. */
  stats(): RedisStateMachineStats<S> {
    return { ...this.mirror.stats(), ...statusFigures(this.status), listenerErrors: this.listenerErrors }
  }
}

/** The definition as the server's `shape` compares it: canonical JSON (state order matters; transitions and anyTo as sets). */
export function canonicalDefinition(d: StateMachineDefinition<string>): string {
  return JSON.stringify([d.states, d.initial, d.states.map((s) => [...(d.transitions[s] ?? [])].sort()), [...(d.anyTo ?? [])].sort()])
}
