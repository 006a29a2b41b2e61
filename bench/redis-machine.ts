/**
 * The state machine case of the `redis` suite (issue 13, Speed):
 * `transition`, p50/p99 of one awaited `RedisStateMachine.transition`
 * (a -> b and back, with and without `from`: one MACHINE_TRANSITION script
 * with TIME, HSET, XADD and SET PX, then the mirror updated), a trigger flag
 * set + take (two scripts) and a watchdog kick (one script), against a bare
 * ioredis `EVALSHA` of `return 1` (target: a transition within 1.5× of it).
 * Variants interleaved sample by sample.
 *
 * @module
 */
import { Redis } from 'ioredis'
import { RedisDomain } from 'threadstate/redis'
import type { RedisProfile } from './redis.js'
import type { BenchRedis } from './redis-server.js'
import { pooledLatencyRows, type Row, type Target } from './report.js'

const M = {
  evalsha: 'transition: bare EVALSHA return 1 (ioredis)',
  transition: 'transition: RedisStateMachine.transition',
  guarded: 'transition: RedisStateMachine.transition with from',
  flags: 'transition: RedisTriggerFlags set + take',
  kick: 'transition: RedisWatchdog kick',
} as const

function medianOf(rows: readonly Row[], name: string): number {
  const m = rows.find((r) => r.name === name)?.measurement
  if (m?.kind !== 'latency') throw new Error(`Expected a latency row named ${name}, got ${m?.kind ?? 'none'}`)
  return m.medianMs
}

/** A transition (and the flags and watchdog writes) against a bare EVALSHA round trip. */
export async function transitions(server: BenchRedis, p: RedisProfile): Promise<Row[]> {
  const domain = await RedisDomain.connect({ url: server.url, namespace: 'bench-machine' })
  const io = new Redis(server.url)
  try {
    const sha = String(await io.script('LOAD', 'return 1'))
    const fsm = await domain.stateMachine('bench', { states: ['a', 'b', 'c', 'd'], initial: 'a', transitions: { a: ['b'], b: ['a'], c: ['d'], d: ['c'] } })
    const guarded = await domain.stateMachine('bench-from', { states: ['a', 'b'], initial: 'a', transitions: { a: ['b'], b: ['a'] } })
    const flags = await domain.triggerFlags('bench-flags', ['go'])
    const dog = await domain.watchdog('bench-dog', { timeoutMs: 60_000 })
    let moves = 0
    const variants: { name: string; op: () => Promise<unknown> }[] = [
      { name: M.evalsha, op: () => io.evalsha(sha, 0) },
      {
        name: M.transition,
        op: async () => {
          if (!(await fsm.transition(fsm.state === 'a' ? 'b' : 'a'))) throw new Error('Expected the transition to commit')
          moves++
        },
      },
      {
        name: M.guarded,
        op: async () => {
          const from = guarded.state
          if (!(await guarded.transition(from === 'a' ? 'b' : 'a', { from }))) throw new Error('Expected the transition to commit')
        },
      },
      {
        name: M.flags,
        op: async () => {
          await flags.set('go')
          if (!(await flags.take('go'))) throw new Error('Expected to take the flag set')
        },
      },
      { name: M.kick, op: () => dog.kick() },
    ]
    const pooled = new Map<string, number[]>(variants.map((v) => [v.name, []]))
    for (let i = 0; i < p.warmup + p.writeSamples; i++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length]!
        const t0 = performance.now()
        await v.op()
        const elapsed = performance.now() - t0
        if (i >= p.warmup) pooled.get(v.name)!.push(elapsed)
        // Untimed turns of the event loop: the bridge's work for a write lands here, not in the next sample.
        await new Promise((resolve) => setImmediate(resolve))
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    if ((await fsm.sync()) !== moves) throw new Error(`Expected ${moves} transitions on the server, got another count`)
    const rows = pooledLatencyRows(
      [{ name: M.evalsha }, { name: M.transition, baseline: M.evalsha }, { name: M.guarded, baseline: M.evalsha }, { name: M.flags, baseline: M.evalsha }, { name: M.kick, baseline: M.evalsha }],
      pooled,
      'one awaited call (performance.now() around it)',
      `; variants interleaved sample by sample, ${p.warmup} untimed first`,
    )
    const notes = new Map<string, string>([
      [M.evalsha, 'io.evalsha(sha of `return 1`, 0) on its own ioredis connection: the floor of any one-script write'],
      [M.transition, 'a <-> b without from: MACHINE_TRANSITION (epoch check, op record, state check, TIME, HSET, XADD, SET PX), then the mirror moved (read-your-writes)'],
      [M.guarded, 'a <-> b with from = the mirror state: the same script, `from` checked on the server'],
      [M.flags, 'two FLAGS_CHANGE scripts (set, then take): the flag taken exactly once'],
      [M.kick, 'one WATCHDOG_KICK script (TIME, HSET if later, HINCRBY)'],
    ])
    const target: Target = { metric: 'value', bound: 'atMost', limit: 1.5, source: 'issue 13 Speed / DESIGN.md: a Redis-backed write p50 within 1.5× of a bare EVALSHA round trip' }
    return [
      ...rows.map((r) => ({ ...r, note: `${notes.get(r.name)}; ${r.note}` })),
      ...[M.transition, M.guarded].map(
        (name): Row => ({
          name: `${name} ÷ EVALSHA`,
          measurement: { kind: 'value', value: medianOf(rows, name) / medianOf(rows, M.evalsha), unit: '×', what: `median ${name} ÷ median ${M.evalsha}, same run` },
          target,
        }),
      ),
    ]
  } finally {
    io.disconnect()
    await domain.close()
  }
}
