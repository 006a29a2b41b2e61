/**
 * A linearizability checker: Wing & Gong's search with Lowe's memoization
 * (the algorithm of Knossos and porcupine), written here because no
 * maintained JavaScript one exists.
 *
 * A history is a set of operations, each with the time it was invoked and
 * the time it returned, both taken from one shared counter (so "a returned
 * before b was invoked" is exact). The history is linearizable if there is a
 * total order of the operations that (1) respects real time: if a returned
 * before b was invoked, a comes first, and (2) is a legal sequential run of
 * the model: each operation, applied in that order to the model, returns
 * what it returned in the history.
 *
 * The search walks the invocations in time order and tries to linearize each
 * pending one; reaching a return whose operation is not linearized yet means
 * the current order cannot work, so it backtracks. A cache of (set of
 * linearized operations, model state) pairs already explored prunes the
 * search (Lowe, "Testing for linearizability", 2017).
 *
 * Histories of independent parts (one key of a map whose operations touch
 * one key) can be checked separately (`partition`): linearizability is
 * local (Herlihy & Wing), and small partitions are exponentially cheaper.
 */

/** One completed operation of a history. */
export interface Operation<I = unknown, O = unknown> {
  /** Thread (or client) that ran it. */
  readonly thread: number
  /** What it was asked to do. */
  readonly input: I
  /** What it returned. */
  readonly output: O
  /** Shared-counter stamp taken before the call. */
  readonly invoke: number
  /** Shared-counter stamp taken after the call returned. */
  readonly response: number
}

/** A sequential specification. */
export interface Model<S, I, O> {
  /** The initial state. */
  init(): S
  /** Applies `input` to `state`: whether `output` is what the model returns there, and the next state. */
  step(state: S, input: I, output: O): { readonly ok: boolean; readonly next: S }
  /** A string identifying a state (equal states, equal keys). */
  key(state: S): string
  /** Operations of different partitions are independent; check them separately. */
  partition?(input: I): string
}

/** Result of a check. */
export interface CheckResult {
  /** Whether every partition is linearizable. */
  readonly linearizable: boolean
  /** Operations checked. */
  readonly operations: number
  /** Partitions checked. */
  readonly partitions: number
  /** Search steps (model applications), summed over partitions. */
  readonly steps: number
  /** Largest prefix of the failing partition that could be linearized (when not linearizable). */
  readonly longestPrefix?: number
  /** The failing partition's name. */
  readonly failedPartition?: string
  /** The operation at which the deepest search got stuck. */
  readonly stuckAt?: Operation
}

interface Entry {
  kind: 'call' | 'return'
  id: number
  time: number
  match: Entry | undefined // call -> its return
  prev: Entry | undefined
  next: Entry | undefined
}

/** Checks `history` against `model`; throws if the search exceeds `maxSteps`. */
export function checkLinearizable<S, I, O>(
  history: readonly Operation<I, O>[],
  model: Model<S, I, O>,
  options: { readonly maxSteps?: number } = {},
): CheckResult {
  const groups = new Map<string, Operation<I, O>[]>()
  for (const op of history) {
    if (!(op.invoke < op.response)) throw new Error(`operation invoked at ${op.invoke} returned at ${op.response}`)
    const name = model.partition ? model.partition(op.input) : ''
    let group = groups.get(name)
    if (!group) groups.set(name, (group = []))
    group.push(op)
  }
  let steps = 0
  for (const [name, ops] of groups) {
    const r = checkPartition(ops, model, options.maxSteps ?? 50_000_000)
    steps += r.steps
    if (!r.ok) {
      return {
        linearizable: false,
        operations: history.length,
        partitions: groups.size,
        steps,
        longestPrefix: r.longest,
        failedPartition: name,
        ...(r.stuckAt ? { stuckAt: r.stuckAt } : {}),
      }
    }
  }
  return { linearizable: true, operations: history.length, partitions: groups.size, steps }
}

function checkPartition<S, I, O>(
  ops: readonly Operation<I, O>[],
  model: Model<S, I, O>,
  maxSteps: number,
): { ok: boolean; steps: number; longest: number; stuckAt?: Operation } {
  // The doubly linked list of call and return entries in time order, behind a sentinel head.
  const entries: Entry[] = []
  ops.forEach((op, id) => {
    const call: Entry = { kind: 'call', id, time: op.invoke, match: undefined, prev: undefined, next: undefined }
    const ret: Entry = { kind: 'return', id, time: op.response, match: undefined, prev: undefined, next: undefined }
    call.match = ret
    entries.push(call, ret)
  })
  entries.sort((a, b) => a.time - b.time)
  const head: Entry = { kind: 'call', id: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined }
  let last = head
  for (const e of entries) {
    e.prev = last
    last.next = e
    last = e
  }
  const lift = (call: Entry): void => {
    call.prev!.next = call.next
    if (call.next) call.next.prev = call.prev
    const ret = call.match!
    ret.prev!.next = ret.next
    if (ret.next) ret.next.prev = ret.prev
  }
  const unlift = (call: Entry): void => {
    const ret = call.match!
    ret.prev!.next = ret
    if (ret.next) ret.next.prev = ret
    call.prev!.next = call
    if (call.next) call.next.prev = call
  }
  const linearized = new Uint32Array(Math.ceil(ops.length / 32))
  const bitsKey = (): string => Array.from(linearized, (w) => w.toString(36)).join(',')
  const cache = new Set<string>()
  const stack: { call: Entry; state: S }[] = []
  let state = model.init()
  let entry = head.next
  let steps = 0
  let longest = 0
  let stuckAt: Operation | undefined
  while (head.next !== undefined) {
    if (entry === undefined) throw new Error('linearizability search ran off the list')
    if (entry.kind === 'call') {
      const op = ops[entry.id]!
      steps++
      if (steps > maxSteps) throw new Error(`linearizability search exceeded ${maxSteps} steps (${ops.length} operations)`)
      const { ok, next } = model.step(state, op.input, op.output)
      if (ok) {
        linearized[entry.id >> 5]! |= 1 << (entry.id & 31)
        const key = `${bitsKey()}|${model.key(next)}`
        if (!cache.has(key)) {
          cache.add(key)
          stack.push({ call: entry, state })
          state = next
          lift(entry)
          if (stack.length > longest) longest = stack.length
          entry = head.next
          continue
        }
        linearized[entry.id >> 5]! &= ~(1 << (entry.id & 31))
      }
      entry = entry.next
    } else {
      // A return whose call is still pending: the current order cannot be extended.
      if (stack.length === longest) stuckAt = ops[entry.id]
      const top = stack.pop()
      if (!top) return { ok: false, steps, longest, ...(stuckAt ? { stuckAt } : {}) }
      state = top.state
      linearized[top.call.id >> 5]! &= ~(1 << (top.call.id & 31))
      unlift(top.call)
      entry = top.call.next
    }
  }
  return { ok: true, steps, longest }
}
