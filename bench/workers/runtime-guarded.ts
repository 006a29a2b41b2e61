/**
 * The Mutex-guarded state variable the StateMachine benches compare against:
 * what a user hand-rolls for a state shared between threads. One Int32 word
 * holds the state's index, a threadstate `Mutex` guards every access, and a
 * transition checks an allowed-transitions table under the lock:
 *
 * ```
 *  Int32 word 0  STATE        index of the current state
 *             1  TRANSITIONS  transitions made (plain ++ under the lock: main checks it)
 *             2  REFUSED      transitions refused (plain ++ under the lock)
 * ```
 *
 * - `state`: lock, read the word, unlock, name of the index.
 * - `transition(to, from?)`: look the names up, lock, refuse if the state is
 *   not `from` (when given) or `to` is not allowed from it, else store `to`;
 *   unlock. The table is a boolean matrix by index, as the StateMachine's is,
 *   so the baseline is not slowed by string handling.
 *
 * No history, no waiting, no listeners, no sequence number: a baseline.
 * Plain typed-array accesses are ordered by the Mutex's atomics.
 *
 * @module
 */
import { Mutex, type MutexHandle, type StateMachineDefinition } from 'threadstate'

const STATE = 0
const TRANSITIONS = 1
const REFUSED = 2
const WORDS = 4

/** What another thread needs to attach a {@link GuardedState}. */
export interface GuardedStateHandle {
  readonly words: SharedArrayBuffer
  readonly mutex: MutexHandle
}

/** A state variable behind a Mutex, with a transitions check. Baseline only. */
export class GuardedState<S extends string> {
  readonly handle: GuardedStateHandle
  private readonly mutex: Mutex
  private readonly words: Int32Array
  private readonly names: readonly S[]
  private readonly index: ReadonlyMap<string, number>
  private readonly allowed: readonly (readonly boolean[])[]

  private constructor(handle: GuardedStateHandle, definition: StateMachineDefinition<S>) {
    this.handle = handle
    this.mutex = Mutex.attach(handle.mutex)
    this.words = new Int32Array(handle.words)
    this.names = definition.states
    this.index = new Map(definition.states.map((s, i) => [s, i]))
    const transitions = definition.transitions as Partial<Record<string, readonly string[]>>
    const anyTo = new Set<string>(definition.anyTo ?? [])
    this.allowed = definition.states.map((from) => definition.states.map((to) => (transitions[from] ?? []).includes(to) || (anyTo.has(to) && to !== from)))
  }

  /** A variable in `definition.initial`. */
  static create<S extends string>(definition: StateMachineDefinition<S>): GuardedState<S> {
    const words = new SharedArrayBuffer(WORDS * 4)
    new Int32Array(words)[STATE] = definition.states.indexOf(definition.initial)
    return new GuardedState({ words, mutex: Mutex.create().handle }, definition)
  }

  /** The same variable in another thread. */
  static attach<S extends string>(handle: GuardedStateHandle, definition: StateMachineDefinition<S>): GuardedState<S> {
    return new GuardedState(handle, definition)
  }

  /** The current state, read under the lock. */
  get state(): S {
    this.mutex.lock()
    const i = this.words[STATE]!
    this.mutex.unlock()
    return this.names[i]!
  }

  /** Moves to `to` if allowed from the current state (and the current state is `from`, if given); false otherwise. */
  transition(to: S, from?: S): boolean {
    const t = this.index.get(to)
    const expected = from === undefined ? -1 : this.index.get(from)
    if (t === undefined || expected === undefined) throw new Error(`Expected states of ${JSON.stringify(this.names)}, got ${to} from ${String(from)}`)
    const words = this.words
    this.mutex.lock()
    const f = words[STATE]!
    if ((expected >= 0 && f !== expected) || !this.allowed[f]![t]) {
      words[REFUSED]!++
      this.mutex.unlock()
      return false
    }
    words[STATE] = t
    words[TRANSITIONS]!++
    this.mutex.unlock()
    return true
  }

  /** Transitions made and refused so far (read under the lock). */
  counts(): { transitions: number; refused: number } {
    this.mutex.lock()
    const counts = { transitions: this.words[TRANSITIONS]!, refused: this.words[REFUSED]! }
    this.mutex.unlock()
    return counts
  }
}
