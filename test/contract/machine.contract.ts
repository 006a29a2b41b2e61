/**
 * The SharedStateMachine contract (src/contracts.ts) as tests any
 * implementation runs: `describeSharedStateMachine(name, factory)`.
 * `onTransition` (listeners of one instance) is not part of the contract.
 */
import { describe, expect, it } from 'vitest'
import { TransitionError, type SharedStateMachine, type StateMachineDefinition } from '../../src/index.js'

/** Makes the machines a contract suite runs against. */
export interface MachineFactory {
  /** A fresh machine in its initial state, keeping at least `historySize` transitions. */
  create<S extends string>(definition: StateMachineDefinition<S> & { readonly historySize?: number }): SharedStateMachine<S> | Promise<SharedStateMachine<S>>
  /** Another holder's view of the same machine. */
  peer<S extends string>(machine: SharedStateMachine<S>): SharedStateMachine<S> | Promise<SharedStateMachine<S>>
}

type RobotState = 'init' | 'ready' | 'calibrating' | 'walking' | 'stopped' | 'estop'
const robot: StateMachineDefinition<RobotState> = {
  states: ['init', 'ready', 'calibrating', 'walking', 'stopped', 'estop'],
  initial: 'init',
  transitions: { init: ['ready'], ready: ['calibrating', 'walking'], calibrating: ['ready'], walking: ['stopped'], stopped: ['ready'] },
  anyTo: ['estop'],
}

/** Runs the SharedStateMachine contract against `factory`'s machines. */
export function describeSharedStateMachine(name: string, factory: MachineFactory): void {
  describe(`SharedStateMachine contract: ${name}`, () => {
    it('allows only the defined transitions; `from` guards; anyTo from every other state', async () => {
      const fsm = await factory.create(robot)
      expect(fsm.state).toBe('init')
      expect(await fsm.transition('walking')).toBe(false)
      expect(await fsm.transition('ready', { reason: 'booted' })).toBe(true)
      expect(fsm.is('ready')).toBe(true)
      expect(fsm.allowedFrom()).toEqual(['calibrating', 'walking', 'estop'])
      expect(fsm.canTransition('stopped')).toBe(false)
      expect(await fsm.transition('walking', { from: 'calibrating' })).toBe(false)
      expect(await fsm.transition('walking', { from: 'ready' })).toBe(true)
      for (const s of robot.states) {
        if (s === 'estop') continue
        const m = await factory.create({ ...robot, initial: s })
        expect(await m.transition('estop', { reason: 'test' })).toBe(true)
        expect(await m.transition('estop')).toBe(false) // already there: not a transition
      }
    })

    it('transitionOrThrow says from, to and what is allowed; unknown states are TransitionErrors', async () => {
      const fsm = await factory.create(robot)
      let error: unknown
      try {
        await fsm.transitionOrThrow('walking')
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(TransitionError)
      expect(error).toMatchObject({ from: 'init', to: 'walking', allowed: ['ready', 'estop'] })
      await expect(async () => fsm.transition('flying' as never)).rejects.toThrow(TransitionError)
    })

    it('racing holders from one state: exactly one wins', async () => {
      const fsm = await factory.create(robot)
      const peers = [fsm, await factory.peer(fsm), await factory.peer(fsm)]
      await fsm.transition('ready')
      const won = await Promise.all(peers.map((m, i) => m.transition(i % 2 ? 'walking' : 'calibrating', { from: 'ready' })))
      expect(won.filter(Boolean)).toHaveLength(1)
    })

    it('history is the committed path with reasons, oldest first, at most historySize', async () => {
      const fsm = await factory.create({ ...robot, historySize: 4 })
      await fsm.transition('ready', { reason: 'r1' })
      await fsm.transition('walking', { reason: 'x'.repeat(100) })
      await fsm.transition('stopped')
      await fsm.transition('ready')
      await fsm.transition('estop', { reason: 'watchdog' })
      const h = fsm.history()
      expect(h.map((t) => `${t.from}>${t.to}`)).toEqual(['ready>walking', 'walking>stopped', 'stopped>ready', 'ready>estop'])
      expect(h[3]).toMatchObject({ reason: 'watchdog', seq: 5 })
      expect(fsm.history(2).map((t) => t.to)).toEqual(['ready', 'estop'])
    })

    it('a transition is stamped with the time given, else now; a bad time is refused and moves nothing', async () => {
      const fsm = await factory.create(robot)
      const peer = await factory.peer(fsm)
      const before = performance.timeOrigin + performance.now()
      await fsm.transition('ready')
      const given = before - 60_000.25 // a tick's time, a minute ago
      expect(await fsm.transition('walking', { timestamp: given, reason: 'tick' })).toBe(true)
      for (const bad of [Number.NaN, Infinity, '1' as never]) {
        await expect(async () => fsm.transition('stopped', { timestamp: bad })).rejects.toThrow(/timestamp/)
      }
      expect(fsm.state).toBe('walking')
      const [first, second] = fsm.history()
      // Redis keeps times on the server's clock: each connection maps them
      // through its own measured offset to the server (off by at most its
      // clockErrorMs, a fraction of a ms on one machine), and a process's
      // mirror keeps the first mapping it got.
      const near = (at: number, to: number): boolean => Math.abs(at - to) < 1
      expect(first!.at).toBeGreaterThan(before - 1)
      expect(near(second!.at, given)).toBe(true)
      expect(second!.reason).toBe('tick')
      expect(await peer.waitForAsync('walking', { timeoutMs: 10_000 })).toBe(true)
      expect(near(peer.history()[1]!.at, given)).toBe(true)
    })

    it('waitForAsync and subscribe see a peer\'s transitions, in order', async () => {
      const fsm = await factory.create(robot)
      const other = await factory.peer(fsm)
      expect(await fsm.waitForAsync('ready', { timeoutMs: 20 })).toBe(false)
      const events = fsm.subscribe()
      const first = events.next()
      const ready = fsm.waitForAsync('ready', { timeoutMs: 10_000 })
      await other.transition('ready', { reason: 'other' })
      expect(await ready).toBe(true)
      expect((await first).value).toMatchObject({ from: 'init', to: 'ready', reason: 'other' })
      await other.transition('estop')
      expect((await events.next()).value).toMatchObject({ from: 'ready', to: 'estop' })
      await events.return(undefined)
    })
  })
}
