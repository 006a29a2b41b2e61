/**
 * The single-thread runtime cases (see runtime.ts for the suite), all
 * tinybench tasks in batches on main (micro.ts), subjects and baselines
 * alternating:
 *
 * - `transition`: StateMachine `transition` cycling ready → walking →
 *   stopped → ready (with its own clock read, and with a caller's
 *   `timestamp`), against the Mutex-guarded state variable
 *   (workers/runtime-guarded.ts) doing the same; `state` against the
 *   guarded read and a bare `Atomics.load` (the floor).
 * - `flags`: TriggerFlags `set('walk')` + `takeAll()` against `Atomics.or`
 *   + `Atomics.exchange` on a word.
 * - `kick`: Watchdog `kick()` against `Atomics.store` of a timestamp: the
 *   same µs BigInt the watchdog stores, and the cheapest one (Int32 ms).
 *
 * Every batch checks what it did outside the timed loop (no refusal, one
 * flag taken per set, kicks counted).
 *
 * @module
 */
import { StateMachine, TriggerFlags, Watchdog, currentThreadId } from 'threadstate'
import { measureMicro, perOp, type MicroTask } from './micro.js'
import type { Row } from './report.js'
import type { RuntimeProfile } from './runtime.js'
import { GuardedState } from './workers/runtime-guarded.js'
import { MACHINE, type MachineState } from './workers/runtime-kinds.js'

/** Operations per sample: one op is tens of ns, far below the timer's resolution. */
const BATCH = 1000

/** Keeps results alive so the JIT cannot drop the work; checked at the end of each case. */
let sink = 0

function checkSink(): void {
  if (!Number.isFinite(sink)) throw new Error(`Expected the bench's sink to stay finite, got ${sink}`)
}

function checkNone(bad: number, what: string): void {
  if (bad !== 0) throw new Error(`Expected ${what}, got ${bad} that did not`)
}

// ---- transition and state ------------------------------------------------------------

/** The states the transition tasks move to in turn, from 'ready': each allowed from the one before. */
const CYCLE: readonly MachineState[] = ['walking', 'stopped', 'ready']

const T = {
  guarded: 'transition: Mutex-guarded variable',
  machine: 'transition: StateMachine',
  stamped: 'transition: StateMachine, caller timestamp',
  threadId: 'transition part: currentThreadId(handle)',
  readGuarded: 'state: Mutex-guarded read',
  readMachine: 'state: StateMachine',
  readFloor: 'state: Atomics.load + names[i] (floor)',
} as const

function transitionTasks(): MicroTask[] {
  const fsm = StateMachine.create(MACHINE)
  const stamped = StateMachine.create(MACHINE)
  if (!stamped.transition('ready')) throw new Error("Expected the machine to move from 'init' to 'ready'")
  const guarded = GuardedState.create(MACHINE)
  if (!fsm.transition('ready') || !guarded.transition('ready')) throw new Error("Expected both machines to move from 'init' to 'ready'")
  const raw = new Int32Array(new SharedArrayBuffer(4))
  Atomics.store(raw, 0, MACHINE.states.indexOf('ready'))
  const names = MACHINE.states
  // Each machine has its own cursor: it is in CYCLE[cursor - 1] (or 'ready').
  let machineAt = 0
  let stampedAt = 0
  let guardedAt = 0
  return [
    {
      name: T.guarded,
      batch: BATCH,
      note: 'lock, check allowed[from][to] (a boolean matrix), store the index, unlock (workers/runtime-guarded.ts); no history',
      fn: () => {
        let refused = 0
        let i = guardedAt
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          if (!guarded.transition(CYCLE[i]!)) refused++
          i = i === 2 ? 0 : i + 1
        }
        const elapsed = performance.now() - t0
        guardedAt = i
        checkNone(refused, `every ${T.guarded} to be allowed`)
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: T.machine,
      baseline: T.guarded,
      batch: BATCH,
      note: 'one compareExchange of the state word, then the log entry (clock read, thread id, seq word around it); no listener',
      fn: () => {
        let refused = 0
        let i = machineAt
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          if (!fsm.transition(CYCLE[i]!)) refused++
          i = i === 2 ? 0 : i + 1
        }
        const elapsed = performance.now() - t0
        machineAt = i
        checkNone(refused, `every ${T.machine} to be allowed`)
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: T.stamped,
      baseline: T.guarded,
      batch: BATCH,
      note: "as above, stamped with a time the caller read once for the batch (`{ timestamp }`, a control loop's tick time): no clock read",
      fn: () => {
        let refused = 0
        let i = stampedAt
        const t0 = performance.now()
        const options = { timestamp: performance.timeOrigin + t0 }
        for (let k = 0; k < BATCH; k++) {
          if (!stamped.transition(CYCLE[i]!, options)) refused++
          i = i === 2 ? 0 : i + 1
        }
        const elapsed = performance.now() - t0
        stampedAt = i
        checkNone(refused, `every ${T.stamped} to be allowed`)
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: T.threadId,
      baseline: T.machine,
      batch: BATCH,
      note:
        "what each transition paid for its log entry's thread id until the id was cached per instance (this row found it; " +
        'domainOf(handle.domain) checks the domain buffer and builds its id string on every call): kept so the cost stays visible',
      fn: () => {
        let n = 0
        const handle = fsm.handle
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) n += currentThreadId(handle)
        const elapsed = performance.now() - t0
        sink += n
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: T.readGuarded,
      batch: BATCH,
      note: 'lock, read the word, unlock, name of the index',
      fn: () => {
        let n = 0
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) n += guarded.state.length
        const elapsed = performance.now() - t0
        sink += n
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: T.readMachine,
      baseline: T.readGuarded,
      batch: BATCH,
      note: 'Atomics.load of the state word, name of its low byte',
      fn: () => {
        let n = 0
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) n += fsm.state.length
        const elapsed = performance.now() - t0
        sink += n
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: T.readFloor,
      batch: BATCH,
      note: 'Atomics.load of a word of a SharedArrayBuffer, name from an array: what state does, written out',
      fn: () => {
        let n = 0
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) n += names[Atomics.load(raw, 0) & 0xff]!.length
        const elapsed = performance.now() - t0
        sink += n
        return perOp(elapsed, BATCH)
      },
    },
  ]
}

/** StateMachine transition and state on one thread against the Mutex-guarded variable. */
export async function transitions(p: RuntimeProfile): Promise<Row[]> {
  const rows = await measureMicro(transitionTasks(), p)
  checkSink()
  return rows
}

// ---- trigger flags ----------------------------------------------------------------------

const F = {
  floor: 'flags: Atomics.or + Atomics.exchange (floor)',
  flags: 'flags: TriggerFlags set + takeAll',
} as const

function flagTasks(): MicroTask[] {
  const flags = TriggerFlags.create(['calibrate', 'walk', 'stop'])
  const raw = new Int32Array(new SharedArrayBuffer(4))
  const WALK = 1 << 1
  return [
    {
      name: F.floor,
      batch: BATCH,
      note: 'Atomics.or of the bit into a word, Atomics.exchange of the word with 0; each checked to return the bit',
      fn: () => {
        let bad = 0
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          Atomics.or(raw, 0, WALK)
          if (Atomics.exchange(raw, 0, 0) !== WALK) bad++
        }
        const elapsed = performance.now() - t0
        checkNone(bad, 'every exchange to return the bit just set')
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: F.flags,
      baseline: F.floor,
      batch: BATCH,
      note: "set('walk'): Atomics.or, Atomics.add of the set count, a look at WAITERS; takeAll(): Atomics.exchange, then the names array; each checked to be ['walk']",
      fn: () => {
        let bad = 0
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          flags.set('walk')
          const taken = flags.takeAll()
          if (taken.length !== 1 || taken[0] !== 'walk') bad++
        }
        const elapsed = performance.now() - t0
        checkNone(bad, "every takeAll() to return ['walk']")
        return perOp(elapsed, BATCH)
      },
    },
  ]
}

/** TriggerFlags set + takeAll against the raw word operations. */
export function flags(p: RuntimeProfile): Promise<Row[]> {
  return measureMicro(flagTasks(), p)
}

// ---- watchdog kick ----------------------------------------------------------------------

const K = {
  int32: 'kick: Atomics.store Int32 ms (floor)',
  micros: 'kick: Atomics.store BigInt64 µs (floor)',
  dog: 'kick: Watchdog kick()',
} as const

function kickTasks(): MicroTask[] {
  const dog = Watchdog.create({ timeoutMs: 60_000 })
  const i32 = new Int32Array(new SharedArrayBuffer(4))
  const i64 = new BigInt64Array(new SharedArrayBuffer(8))
  // As src/memory/clock.ts does: the global and timeOrigin read once.
  const perf = performance
  const origin = perf.timeOrigin
  return [
    {
      name: K.int32,
      batch: BATCH,
      note: 'Atomics.store(word, performance.now() | 0): the cheapest shared timestamp (ms, thread-relative)',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) Atomics.store(i32, 0, perf.now() | 0)
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: K.micros,
      baseline: K.int32,
      batch: BATCH,
      note: "the watchdog's format: BigInt(Math.ceil((timeOrigin + performance.now()) × 1000)) stored into a BigInt64 word",
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) Atomics.store(i64, 0, BigInt(Math.ceil((origin + perf.now()) * 1000)))
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: K.dog,
      baseline: K.micros,
      batch: BATCH,
      note: 'the same µs stamp, stored by a forward-only compareExchange loop, plus Atomics.add of the kick count; kicks checked with stats()',
      fn: () => {
        const before = dog.stats().kicks
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) dog.kick()
        const elapsed = performance.now() - t0
        const kicked = dog.stats().kicks - before
        if (kicked !== BATCH) throw new Error(`Expected stats().kicks to grow by ${BATCH}, got ${kicked}`)
        return perOp(elapsed, BATCH)
      },
    },
  ]
}

/** Watchdog kick() against Atomics.store of a timestamp. */
export function kicks(p: RuntimeProfile): Promise<Row[]> {
  return measureMicro(kickTasks(), p)
}
