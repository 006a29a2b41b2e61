/**
 * The state machine, trigger flags, watchdog and name registry on Redis
 * (issue 13), on a real redis-server started for this file: the
 * SharedStateMachine contract suite (a peer is the same machine opened
 * through a second RedisDomain, ioredis and node-redis as in
 * contract.test.ts), the behaviour the contract does not cover, and the
 * server restarted without its data (nothing goes back: epoch).
 * Processes racing: machine-processes.test.ts.
 */
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HandleError, RegistryError, TransitionError, type StateMachineDefinition, type Transition } from '../../src/index.js'
import { RedisDataLostError, RedisDomain, RedisShapeError, RedisStateMachine, RedisTriggerFlags, RedisWatchdog, closeThreadConnections } from '../../src/redis/index.js'
import { describeSharedStateMachine } from '../contract/machine.contract.js'
import { describeRedis, startRedisServer, type RedisServer } from './server.js'

type Robot = 'init' | 'ready' | 'walking' | 'stopped' | 'estop'
const robot: StateMachineDefinition<Robot> = {
  states: ['init', 'ready', 'walking', 'stopped', 'estop'],
  initial: 'init',
  transitions: { init: ['ready'], ready: ['walking'], walking: ['stopped'], stopped: ['ready'] },
  anyTo: ['estop'],
}

describeRedis('state machine, trigger flags, watchdog and registry on Redis', () => {
  let server: RedisServer
  let one: RedisDomain
  let two: RedisDomain
  let nodeRedis: ReturnType<typeof createClient>
  let n = 0
  beforeAll(async () => {
    server = await startRedisServer()
    one = await RedisDomain.connect({ url: server.url, namespace: 'machine' })
    nodeRedis = createClient({ url: server.url })
    await nodeRedis.connect()
    two = await RedisDomain.connect({ client: nodeRedis, namespace: 'machine' })
  })
  afterAll(async () => {
    await one?.close()
    await two?.close()
    nodeRedis?.destroy()
    await server?.stop()
  })

  // Differences from memory (written in RedisStateMachine's TSDoc): transitions are async;
  // onTransition gets every process's transitions, in commit order, from the bridge.
  describeSharedStateMachine('RedisStateMachine', {
    create: (definition) => one.stateMachine(`fsm-${n++}`, definition),
    peer: (fsm) => {
      const m = fsm as unknown as RedisStateMachine<string>
      return two.stateMachine(m.name, m.handle.mirror.definition) as never
    },
  })

  describe('RedisStateMachine', () => {
    it('onTransition runs in every process, in commit order, each transition once', async () => {
      const a = await one.stateMachine('listeners', robot)
      const b = await two.stateMachine('listeners', robot)
      const seenA: Transition<Robot>[] = []
      const seenB: Transition<Robot>[] = []
      a.onTransition(() => {
        throw new Error('a listener that throws')
      })
      a.onTransition((t) => seenA.push(t))
      b.onTransition((t) => seenB.push(t))
      const path: Robot[] = ['ready', 'walking', 'stopped', 'ready', 'estop']
      for (const [i, to] of path.entries()) expect(await (i % 2 ? a : b).transition(to, { reason: `step ${i}` })).toBe(true)
      await b.sync()
      await a.sync()
      const wait = async (seen: Transition<Robot>[]) => {
        for (let i = 0; i < 500 && seen.length < path.length; i++) await new Promise((r) => setTimeout(r, 10))
      }
      await wait(seenA)
      await wait(seenB)
      for (const seen of [seenA, seenB]) {
        expect(seen.map((t) => t.to)).toEqual(path)
        expect(seen.map((t) => t.seq)).toEqual([1, 2, 3, 4, 5])
        expect(seen.map((t) => t.reason)).toEqual(path.map((_, i) => `step ${i}`))
      }
      expect(a.stats().listenerErrors).toBe(path.length) // counted (and warned), the other listener still ran
      expect(a.history().map((t) => t.to)).toEqual(path)
      expect(b.history().map((t) => t.to)).toEqual(path)
    })

    it('transitionOrThrow reports the server state; a refused transition leaves the mirror current', async () => {
      const a = await one.stateMachine('throws', robot)
      const b = await two.stateMachine('throws', robot)
      await b.transition('ready')
      // a's mirror may still say 'init'; the server says 'ready'.
      await expect(a.transitionOrThrow('ready', { from: 'init' })).rejects.toMatchObject({ name: 'TransitionError', from: 'ready', to: 'ready' })
      expect(a.state).toBe('ready') // caught up on the refusal
      await expect(a.transition('nope' as never)).rejects.toBeInstanceOf(TransitionError)
      await expect(a.transition('walking', { reason: 5 as never })).rejects.toThrow(/reason/)
      expect(a.stats().rejected).toBeGreaterThanOrEqual(1)
    })

    it('another definition under the same name is a RedisShapeError; a worker-style attach shares the mirror', async () => {
      await one.stateMachine('shape', robot)
      await expect(two.stateMachine('shape', { ...robot, anyTo: [] })).rejects.toBeInstanceOf(RedisShapeError)
      const a = await one.stateMachine('attach', robot)
      const attached = RedisStateMachine.attach(a.handle)
      expect(await attached.transition('ready')).toBe(true)
      expect(a.state).toBe('ready')
      expect(() => RedisStateMachine.attach({ ...a.handle, format: 99 })).toThrow(/format/)
    })

    it('an attached instance (as in a worker) hears transitions through the mirror; handles are checked', async () => {
      const a = await one.stateMachine('attached-listener', robot)
      const attached = RedisStateMachine.attach(a.handle)
      const heard: string[] = []
      const off = attached.onTransition((t) => heard.push(t.to))
      await new Promise((r) => setTimeout(r, 20)) // the subscription starts at its first next()
      await (await two.stateMachine('attached-listener', robot)).transition('ready')
      await a.transition('walking')
      for (let i = 0; i < 500 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 10))
      off()
      expect(heard).toEqual(['ready', 'walking'])
      const flags = await one.triggerFlags('attached-flags', ['x', 'y'])
      const dog = await one.watchdog('attached-dog', { timeoutMs: 60_000 })
      await RedisTriggerFlags.attach(flags.handle).set('y')
      expect(flags.test('y')).toBe(true) // the same mirror
      await RedisWatchdog.attach(dog.handle).kick()
      expect((await dog.stats()).kicks).toBe(1)
      expect(() => RedisTriggerFlags.attach({ ...flags.handle, mirror: new SharedArrayBuffer(4) })).toThrow(HandleError)
      expect(() => RedisTriggerFlags.attach({ ...flags.handle, kind: 'RedisWatchdog' } as never)).toThrow(HandleError)
      expect(() => RedisWatchdog.attach({ ...dog.handle, format: 2 })).toThrow(HandleError)
      await closeThreadConnections()
    })

    it('a process opening late gets the current state and the history the stream still has', async () => {
      const a = await one.stateMachine('late', robot)
      for (const to of ['ready', 'walking', 'stopped'] as const) await a.transition(to, { reason: to })
      const b = await two.stateMachine('late', robot)
      expect(b.state).toBe('stopped')
      expect(b.history().map((t) => `${t.from}>${t.to}:${t.reason}`)).toEqual(['init>ready:ready', 'ready>walking:walking', 'walking>stopped:stopped'])
    })
  })

  describe('RedisTriggerFlags', () => {
    it('set anywhere, take exactly once, takeAll reads and clears; the mirrors follow', async () => {
      const a = await one.triggerFlags('triggers', ['calibrate', 'walk', 'stop'])
      const b: RedisTriggerFlags<'calibrate' | 'walk' | 'stop'> = await two.triggerFlags('triggers', ['calibrate', 'walk', 'stop'])
      expect(await a.set('walk')).toBe(false)
      expect(await a.set('walk')).toBe(true)
      expect(await b.waitAnyAsync({ timeoutMs: 10_000 })).toBe(true)
      expect(b.test('walk')).toBe(true)
      const takers = await Promise.all([a.take('walk'), b.take('walk'), a.take('walk'), b.take('walk')])
      expect(takers.filter(Boolean)).toHaveLength(1)
      await a.set('stop')
      await b.set('calibrate')
      expect((await a.takeAll()).sort()).toEqual(['calibrate', 'stop'])
      expect(await b.takeAll()).toEqual([])
      await b.sync()
      expect(b.peek()).toEqual([])
      expect(() => a.test('fly' as never)).toThrow(/Expected a flag/)
      await expect(two.triggerFlags('triggers', ['calibrate', 'walk'])).rejects.toBeInstanceOf(RedisShapeError)
    })
  })

  describe('RedisWatchdog', () => {
    it('fires once per silence across two watching domains, never before timeoutMs of server time; a kick re-arms it', async () => {
      const fired: { by: string; ageMs: number }[] = []
      const a = await one.watchdog('dog', { timeoutMs: 150, onExpire: (e) => fired.push({ by: 'a', ageMs: e.ageMs }) })
      const b = await two.watchdog('dog', { timeoutMs: 150, onExpire: (e) => fired.push({ by: 'b', ageMs: e.ageMs }) })
      a.start()
      b.start()
      try {
        for (let i = 0; i < 500 && fired.length < 1; i++) await new Promise((r) => setTimeout(r, 10))
        expect(fired).toHaveLength(1)
        await new Promise((r) => setTimeout(r, 400)) // several more checks by both: still declared once
        expect(fired).toHaveLength(1)
        await b.kick()
        for (let i = 0; i < 500 && fired.length < 2; i++) await new Promise((r) => setTimeout(r, 10))
        expect(fired).toHaveLength(2)
        for (const f of fired) expect(f.ageMs).toBeGreaterThanOrEqual(150)
        const stats = await a.stats()
        expect(stats).toMatchObject({ expiries: 2, kicks: 1, timeoutMs: 150 })
      } finally {
        a.stop()
        b.stop()
      }
      await expect(two.watchdog('dog', { timeoutMs: 100 })).rejects.toBeInstanceOf(RedisShapeError)
    })

    it('a watching watchdog stops when its domain is closed (its timers would keep the process alive)', async () => {
      const domain = await RedisDomain.connect({ url: server.url, namespace: 'machine' })
      const dog = await domain.watchdog('dog-closed', { timeoutMs: 30, onExpire: () => {} })
      dog.start()
      await domain.close()
      for (let i = 0; i < 500 && dog.watching; i++) await new Promise((r) => setTimeout(r, 10))
      expect(dog.watching).toBe(false)
    })

    it('check() asked every few ms after a kick declares the silence once, not before timeoutMs of server time', async () => {
      const ages: number[] = []
      const dog = await one.watchdog('dog-polled', { timeoutMs: 150, onExpire: (e) => ages.push(e.ageMs) })
      await dog.kick()
      let expired = 0
      for (let i = 0; i < 2000 && expired < 5; i++) {
        if (await dog.check()) expired++
        await new Promise((r) => setTimeout(r, 2))
      }
      expect(ages).toHaveLength(1)
      expect(ages[0]).toBeGreaterThanOrEqual(150)
    })
  })

  describe('RedisStateManager', () => {
    it('of two domains adding one name exactly one wins; the other opens it by name', async () => {
      const ra = await one.stateManager()
      const rb = await two.stateManager()
      const fa = await one.stateMachine('registered-a', robot)
      const fb = await two.stateMachine('registered-b', robot)
      const outcomes = await Promise.allSettled([ra.add('supervisor', fa), rb.add('supervisor', fb)])
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
      const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult
      expect(lost.reason).toBeInstanceOf(RegistryError)
      expect(lost.reason).toMatchObject({ reason: 'duplicate', entryName: 'supervisor' })
      const winner = outcomes[0]!.status === 'fulfilled' ? ra : rb
      const loser = winner === ra ? rb : ra
      const opened = await loser.open<RedisStateMachine<Robot>>('supervisor')
      expect(opened.name).toBe(winner === ra ? 'registered-a' : 'registered-b')
      expect(await ra.names()).toContain('supervisor')
      expect(await ra.reserve('leader')).toBe(true)
      expect(await rb.reserve('leader')).toBe(false)
      await expect(rb.open('nobody')).rejects.toMatchObject({ reason: 'unknown' })
    })
  })

  describe('data lost while connected', () => {
    it('keys deleted and the machine created again: a process that had not noticed is refused by the epoch check and writes nothing into the new one', async () => {
      const a = await one.stateMachine('flushed', robot)
      const b = await two.stateMachine('flushed', robot)
      await a.transition('ready')
      await b.sync()
      // No restart: every connection stays up, so no bridge reconnects and checks (its idle check is a second away).
      await nodeRedis.del(['{machine:flushed}:meta', '{machine:flushed}:log'])
      const three = await RedisDomain.connect({ url: server.url, namespace: 'machine' })
      try {
        const fresh = await three.stateMachine('flushed', robot)
        await expect(b.transition('estop')).rejects.toBeInstanceOf(RedisDataLostError)
        expect(await fresh.sync()).toBe(0)
        expect(fresh.state).toBe('init')
        expect(b.state).toBe('ready') // the last state it had
      } finally {
        await three.close()
      }
    })
  })

  describe('the server restarted without its data', () => {
    it('machine, flags, watchdog and registry refuse to go back: RedisDataLostError, mirrors keep the last state', async () => {
      const domain = await RedisDomain.connect({ url: server.url, namespace: 'lost', timeoutMs: 3000 })
      try {
        const fsm = await domain.stateMachine('fsm', robot)
        await fsm.transition('ready')
        await fsm.transition('walking')
        const flags = await domain.triggerFlags('flags', ['a', 'b'])
        await flags.set('a')
        const dog = await domain.watchdog('dog', { timeoutMs: 10_000 })
        const registry = await domain.stateManager()
        expect(await registry.reserve('x')).toBe(true)
        await server.restartEmpty()
        await expect(fsm.transition('stopped')).rejects.toBeInstanceOf(RedisDataLostError)
        expect(fsm.lost).toBe(true)
        expect(fsm.state).toBe('walking') // the last state, not a fresh 'init' at 0
        expect(fsm.stats().transitions).toBe(2)
        await expect(flags.take('a')).rejects.toBeInstanceOf(RedisDataLostError)
        expect(flags.test('a')).toBe(true)
        await expect(dog.kick()).rejects.toBeInstanceOf(RedisDataLostError)
        await expect(registry.reserve('x')).rejects.toBeInstanceOf(RedisDataLostError)
        // Another process creating the machine again starts a new epoch at 0: the old object never writes into it.
        const again = await RedisDomain.connect({ url: server.url, namespace: 'lost' })
        try {
          const fresh = await again.stateMachine('fsm', robot)
          expect(fresh.state).toBe('init')
          expect(await fresh.transition('ready')).toBe(true)
          await expect(fsm.transition('estop')).rejects.toBeInstanceOf(RedisDataLostError)
        } finally {
          await again.close()
        }
      } finally {
        await domain.close()
      }
      // The shared domains' connections reconnect for the tests that follow (none do).
    })
  })
})
