/**
 * The state machine, trigger flags, watchdog and name registry on a real
 * Redis Cluster (3 primaries, test/redis/cluster.ts): the SharedStateMachine
 * contract suite (the peer a second domain through a Cluster client the
 * user made), machines spread over the primaries, and one pass of the
 * flags, watchdog and registry on it. Each object's keys share its hash tag,
 * the registry's `{namespace}`: one slot per script.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisDomain, type RedisStateMachine } from '../../src/redis/index.js'
import { describeSharedStateMachine } from '../contract/machine.contract.js'
import { startClusterDomains, type RedisCluster } from './cluster.js'
import { describeRedis } from './server.js'

const definition = { states: ['idle', 'run', 'estop'], initial: 'idle', transitions: { idle: ['run'], run: ['idle'] }, anyTo: ['estop'] } as const

describeRedis('state machine, trigger flags, watchdog and registry on a Redis Cluster', () => {
  let cluster: RedisCluster
  let one: RedisDomain
  let two: RedisDomain
  let close: () => Promise<void> = async () => {}
  let n = 0
  beforeAll(async () => {
    ;({ cluster, one, two, close } = await startClusterDomains('machine-cluster', { primaries: 3, replicas: 0 }))
  }, 60_000)
  afterAll(() => close())

  describe('contract', () => {
    describeSharedStateMachine('RedisStateMachine on a cluster', {
      create: (d) => one.stateMachine(`fsm-${n++}`, d),
      peer: (fsm) => {
        const m = fsm as unknown as RedisStateMachine<string>
        return two.stateMachine(m.name, m.handle.mirror.definition) as never
      },
    })
  })

  it('machines on several primaries: transitions and listeners across the two domains', async () => {
    const owners = new Set<number>()
    for (let i = 0; i < 9; i++) {
      const a = await one.stateMachine(`spread-${i}`, definition)
      const b = await two.stateMachine(`spread-${i}`, definition)
      const heard: string[] = []
      b.onTransition((t) => heard.push(t.to))
      expect(await a.transition('run', { from: 'idle' })).toBe(true)
      expect(await b.transition('run', { from: 'idle' })).toBe(false)
      expect(await b.transition('estop')).toBe(true)
      for (let k = 0; k < 500 && heard.length < 2; k++) await new Promise((r) => setTimeout(r, 10))
      expect(heard).toEqual(['run', 'estop'])
      await a.sync()
      expect(a.state).toBe('estop')
      owners.add(await cluster.primaryOf(`{machine-cluster:spread-${i}}:meta`))
    }
    expect(owners.size).toBeGreaterThan(1)
  })

  it('flags taken once, a watchdog declared once, a name reserved once', async () => {
    const fa = await one.triggerFlags('flags', ['go', 'stop'])
    const fb = await two.triggerFlags('flags', ['go', 'stop'])
    await fa.set('go')
    const taken = await Promise.all([fa.take('go'), fb.take('go'), fa.take('go'), fb.take('go')])
    expect(taken.filter(Boolean)).toHaveLength(1)
    const fires: number[] = []
    const da = await one.watchdog('dog', { timeoutMs: 100, onExpire: (e) => fires.push(e.ageMs) })
    const db = await two.watchdog('dog', { timeoutMs: 100, onExpire: (e) => fires.push(e.ageMs) })
    da.start()
    db.start()
    try {
      for (let k = 0; k < 500 && fires.length < 1; k++) await new Promise((r) => setTimeout(r, 10))
      await new Promise((r) => setTimeout(r, 300))
      expect(fires).toHaveLength(1)
      expect(fires[0]).toBeGreaterThanOrEqual(100)
    } finally {
      da.stop()
      db.stop()
    }
    const [ra, rb] = [await one.stateManager(), await two.stateManager()]
    const won = await Promise.all([ra.reserve('leader'), rb.reserve('leader')])
    expect(won.filter(Boolean)).toHaveLength(1)
  })
})
