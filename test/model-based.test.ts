/**
 * Model-based tests (fast-check command sequences) of SnapshotStore and
 * StateMachine against plain sequential models. SharedMap's are in
 * shared-map.test.ts. Each run also reads through a second instance attached
 * to the same handle, as another thread would.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CapacityError, EncodeError, SnapshotStore, StateMachine, TransitionError } from '../src/index.js'
import { STRESS } from './helpers.js'

const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)

type SnapOp =
  | { op: 'publish'; value: unknown }
  | { op: 'update'; add: number }
  | { op: 'big' }
  | { op: 'bad' }
  | { op: 'get' }

describe('model-based', () => {
  it('SnapshotStore behaves like a versioned variable (identity cached per version, errors change nothing)', () => {
    const op: fc.Arbitrary<SnapOp> = fc.oneof(
      { weight: 4, arbitrary: json.map((value) => ({ op: 'publish' as const, value: { v: value } })) },
      { weight: 2, arbitrary: fc.integer({ min: -5, max: 5 }).map((add) => ({ op: 'update' as const, add })) },
      { weight: 1, arbitrary: fc.constant({ op: 'big' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'bad' as const }) },
      { weight: 3, arbitrary: fc.constant({ op: 'get' as const }) },
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const store = SnapshotStore.create<unknown>({ initial: { v: 0 }, maxBytes: 64 << 10 })
        const other = SnapshotStore.attach<unknown>(store.handle)
        let model: unknown = { v: 0 }
        let version = 1
        let lastGet: unknown
        let lastGetVersion = 0
        for (const o of ops) {
          switch (o.op) {
            case 'publish':
              expect(store.publish(o.value)).toBe(++version)
              model = o.value
              break
            case 'update': {
              const next = store.modify((prev) => ({ v: typeof (prev as { v: unknown }).v === 'number' ? ((prev as { v: number }).v + o.add) : o.add }))
              expect(next).toBe(++version)
              const prev = model as { v: unknown }
              model = { v: typeof prev.v === 'number' ? prev.v + o.add : o.add }
              break
            }
            case 'big':
              expect(() => store.publish({ v: 'x'.repeat(70_000) })).toThrow(CapacityError)
              break
            case 'bad':
              expect(() => store.publish({ v: () => 1 })).toThrow(EncodeError)
              break
            case 'get': {
              const got = other.get()
              if (lastGetVersion === version) expect(got).toBe(lastGet) // same object until the version changes
              lastGet = got
              lastGetVersion = version
              break
            }
          }
          expect(store.version).toBe(version)
          expect(other.latest().version).toBe(version)
          expect(other.get()).toEqual(model)
          expect(Object.isFrozen(other.get())).toBe(true)
        }
      }),
      { numRuns: 100 * STRESS },
    )
  })

  it('StateMachine follows its definition: transitions, from, history, errors', () => {
    const states = ['a', 'b', 'c', 'd', 'stop'] as const
    type S = (typeof states)[number]
    const transitions: Partial<Record<S, S[]>> = { a: ['b', 'c'], b: ['c'], c: ['a', 'd'], d: ['a'], stop: ['a'] }
    const allowed = (from: S, to: S): boolean => to !== from && (to === 'stop' || (transitions[from] ?? []).includes(to))
    const op = fc.record({ to: fc.constantFrom(...states), from: fc.option(fc.constantFrom(...states), { nil: undefined }), orThrow: fc.boolean() })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
        const fsm = StateMachine.create<S>({ states, initial: 'a', transitions, anyTo: ['stop'], historySize: 8 })
        const other = StateMachine.attach<S>(fsm.handle)
        let state: S = 'a'
        const path: [S, S][] = []
        for (const o of ops) {
          const moves = (o.from === undefined || o.from === state) && allowed(state, o.to)
          const options = o.from === undefined ? {} : { from: o.from }
          if (o.orThrow && !moves) expect(() => fsm.transitionOrThrow(o.to, options)).toThrow(TransitionError)
          else if (o.orThrow) fsm.transitionOrThrow(o.to, options)
          else expect(fsm.transition(o.to, options)).toBe(moves)
          if (moves) {
            path.push([state, o.to])
            state = o.to
          }
          expect(other.state).toBe(state)
        }
        expect(other.history().map((t) => [t.from, t.to])).toEqual(path.slice(-8))
        expect(other.stats().transitions).toBe(path.length)
      }),
      { numRuns: 200 * STRESS },
    )
  })
})
