/**
 * Linearizability (Wing & Gong / Lowe, test/lin/checker.ts) of SharedMap,
 * SnapshotStore, StateBuffer and StateMachine: 4 workers on 2 cores run
 * random operations, each stamped from one shared counter before the call and
 * after its return, and the history must be explainable by a sequential run
 * of the object's model (test/lin/models.ts). A map whose multi-key update is
 * done as separate sets must be reported as not linearizable, and so must a
 * doctored history: the checker can fail.
 */
import { describe, expect, it } from 'vitest'
import { SharedMap, SnapshotStore, StateBuffer, StateMachine, f64, schema } from '../src/index.js'
import { checkLinearizable, type Model, type Operation } from './lin/checker.js'
import { machineModel, mapModel, registerModel, versionedModel } from './lin/models.js'
import { STRESS, raise, signals, spawn, until } from './helpers.js'

const FIXTURE = 'lin-worker.mjs'
const WORKERS = 4

/** Runs `scenario` in 4 workers against `handle`; returns the merged history. */
async function record(scenario: string, handle: unknown, data: Record<string, unknown>): Promise<Operation[]> {
  const flags = signals()
  const clock = new Int32Array(new SharedArrayBuffer(4))
  const seed = Math.floor(Math.random() * 2 ** 31)
  const ws = Array.from({ length: WORKERS }, (_, id) => spawn<Operation[]>(scenario, { handle, flags, clock, id, seed: seed + id, ...data }, FIXTURE))
  await until(flags, 1, WORKERS)
  raise(flags, 2)
  const histories = await Promise.all(
    ws.map(async (w) => {
      const o = await w.result
      if (!o.ok) throw new Error(`${o.error.name}: ${o.error.message}`)
      return o.value
    }),
  )
  return histories.flat()
}

/** Whether some operation of one thread overlapped another thread's: the history really was concurrent. */
function overlaps(history: readonly Operation[]): number {
  const sorted = [...history].sort((a, b) => a.invoke - b.invoke)
  let n = 0
  let open: Operation | undefined
  for (const op of sorted) {
    if (open && op.invoke < open.response && op.thread !== open.thread) n++
    if (!open || op.response > open.response) open = op
  }
  return n
}

function check<S, I, O>(history: readonly Operation[], model: Model<S, I, O>) {
  return checkLinearizable(history as Operation<I, O>[], model)
}

describe('linearizability', () => {
  it('the checker accepts a legal history and rejects a doctored one', () => {
    const h = (thread: number, input: unknown, output: unknown, invoke: number, response: number): Operation => ({ thread, input, output, invoke, response })
    const legal = [h(0, { op: 'publish', value: 5 }, 2, 0, 3), h(1, { op: 'read' }, { value: 5, version: 2 }, 1, 2), h(1, { op: 'read' }, { value: 5, version: 2 }, 4, 5)]
    expect(check(legal, versionedModel(0)).linearizable).toBe(true)
    // A read that returns to the old value after a later read saw the new one.
    const stale = [...legal, h(2, { op: 'read' }, { value: 0, version: 1 }, 6, 7)]
    expect(check(stale, versionedModel(0)).linearizable).toBe(false)
  })

  it('SharedMap: set, delete, getEntry, multi-key update, getMany, compareAndSet, size over 3 keys', async () => {
    const map = SharedMap.create<number>()
    const history = await record('linMap', map.handle, { ops: 1_500 * STRESS, keys: 3 })
    expect(overlaps(history)).toBeGreaterThan(100)
    const r = check(history, mapModel)
    expect(r, JSON.stringify(r)).toMatchObject({ linearizable: true })
  })

  it('SharedMap with update done as separate sets is reported as not linearizable', async () => {
    const map = SharedMap.create<number>()
    const history = await record('linMap', map.handle, { ops: 1_500, keys: 3, broken: true })
    expect(check(history, mapModel).linearizable).toBe(false)
  })

  it('SharedMap per-key registers, checked per key (partitioned)', async () => {
    const map = SharedMap.create<number>()
    const history = await record('linRegisters', map.handle, { ops: 5_000 * STRESS, keys: 16 })
    const r = check(history, registerModel)
    expect(r.partitions).toBe(16)
    expect(r.linearizable).toBe(true)
  })

  it('SnapshotStore: publish and latest()', async () => {
    const store = SnapshotStore.create({ initial: { n: 0 } })
    const history = await record('linSnapshot', store.handle, { ops: 2_000 * STRESS })
    expect(overlaps(history)).toBeGreaterThan(100)
    expect(check(history, versionedModel(0)).linearizable).toBe(true)
  })

  it('StateBuffer: update and latest() from 4 writers and readers', async () => {
    const buffer = StateBuffer.create(schema({ n: f64() }))
    buffer.publish({ n: 0 })
    const history = await record('linState', buffer.handle, { ops: 2_000 * STRESS })
    expect(check(history, versionedModel(0)).linearizable).toBe(true)
  })

  it('StateMachine: transitions with and without `from`, and reads', async () => {
    const fsm = StateMachine.create({
      states: ['idle', 'armed', 'flying', 'landed', 'estop'],
      initial: 'idle',
      transitions: { idle: ['armed'], armed: ['flying', 'idle'], flying: ['landed'], landed: ['idle'], estop: ['idle'] },
      anyTo: ['estop'],
    })
    const history = await record('linMachine', fsm.handle, { ops: 2_000 * STRESS })
    const r = check(history, machineModel('idle', (from, to) => fsm.canTransition(to as never, from as never)))
    expect(r.linearizable).toBe(true)
  })
})
