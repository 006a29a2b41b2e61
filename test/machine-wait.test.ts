/**
 * StateMachine.waitFor sleeps on the state word and wakes on transitions
 * (issue 15, the rest of item 9 for machines): idle waiters cost nothing
 * and every waiter sees each transition it waits for.
 *
 * - Blocking: 4 workers (2 cores) blocked in `waitFor` for 2 s; each one's
 *   voluntary context switches (Linux, /proc/<pid>/task/<tid>/status) count
 *   its wake-ups. Broken variant: the previous waitFor (the shared lock-wait
 *   loop, a 50 ms slice), run from a copy of commit 7f815aa's tree, woke each
 *   worker 39 times in 2 s; this code 0.
 * - Async: 500 `waitForAsync` waiters re-check nothing in 2 s idle (counted
 *   by asyncSleepCount, as test/async-waiters.test.ts does), then each sees
 *   the transition it waits for, and the others sleep again. waitForAsync
 *   already slept this way (the async-waiter change of item 9): this half
 *   passes on 7f815aa too and guards it.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { StateMachine } from '../src/index.js'
import { MachineWord } from '../src/machine/layout.js'
import { asyncSleepCount } from '../src/sync/wait.js'
import { pollUntil, results, spawn } from './helpers.js'

const linux = process.platform === 'linux'
const states = ['idle', 'armed', 'running', 'stopped'] as const
const definition = { states, initial: 'idle', transitions: { idle: ['armed'], armed: ['running', 'idle'], running: ['stopped'], stopped: ['idle'] } } as const

function wakeups(tid: number): number {
  const status = readFileSync(`/proc/${process.pid}/task/${tid}/status`, 'utf8')
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1])
}

describe('StateMachine.waitFor sleeps until a transition', () => {
  it.skipIf(!linux)('4 blocked workers wake at most once or twice in 2 s idle, then each sees every transition it waits for', async () => {
    const machine = StateMachine.create(definition)
    const words = new Int32Array(machine.handle.buffer as SharedArrayBuffer, machine.handle.byteOffset, MachineWord.WAITERS + 1)
    const n = 4
    const tids = new Int32Array(new SharedArrayBuffer(4 * (n + 1))) // n thread ids, then how many waits returned
    const sequence = ['armed', 'running', 'stopped']
    const workers = Array.from({ length: n }, (_, index) => spawn<{ seen: string[] }>('waiter', { handle: machine.handle, tids, index, sequence }, 'machine-waiter.mjs'))
    await pollUntil(() => Atomics.load(words, MachineWord.WAITERS) === n, 'every worker waiting')
    await new Promise((resolve) => setTimeout(resolve, 100)) // each is in Atomics.wait (counted, then asleep)
    const threads = tids.slice(0, n)
    const before = Array.from(threads, wakeups)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const idle = Array.from(threads, (tid, i) => wakeups(tid) - before[i]!)
    console.log(`4 workers blocked in waitFor, 2 s idle: wake-ups ${idle.join(', ')}`)
    for (const w of idle) expect(w).toBeLessThanOrEqual(3)
    // Each transition only once every worker has returned from the previous wait and waits again.
    for (const [k, state] of sequence.entries()) {
      if (k > 0) await pollUntil(() => Atomics.load(tids, n) === n * k && Atomics.load(words, MachineWord.WAITERS) === n, `every worker waiting for ${state}`)
      expect(machine.transition(state as (typeof states)[number])).toBe(true)
    }
    for (const { seen } of await results(workers)) expect(seen).toEqual(sequence)
    // Their exits wake every async waiter of the domain once (deaths are announced): let them land before the next test.
    await Promise.all(workers.map((w) => w.exited))
    await new Promise((resolve) => setTimeout(resolve, 200))
    // Timeouts are kept: false, no earlier than asked.
    const started = performance.now()
    expect(machine.waitFor('armed', 150)).toBe(false)
    expect(performance.now() - started).toBeGreaterThanOrEqual(149)
    expect(machine.waitFor('stopped', 0)).toBe(true)
  }, 60_000)

  it('500 waitForAsync waiters re-check nothing in 2 s idle; each wakes for its transition', async () => {
    const machine = StateMachine.create(definition)
    const n = 500
    const start = asyncSleepCount()
    const forArmed = Array.from({ length: n / 2 }, () => machine.waitForAsync('armed'))
    const forRunning = Array.from({ length: n / 2 }, () => machine.waitForAsync('running'))
    await pollUntil(() => asyncSleepCount() - start >= n, 'every waiter asleep')
    const asleep = asyncSleepCount()
    const cpu = process.cpuUsage()
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const used = process.cpuUsage(cpu)
    const rechecks = asyncSleepCount() - asleep
    console.log(`${n} idle waitForAsync waiters, 2 s: ${rechecks} re-checks, ${((used.user + used.system) / 1000).toFixed(0)} ms CPU`)
    expect(rechecks).toBe(0)
    machine.transition('armed')
    expect(await Promise.all(forArmed)).toEqual(Array(n / 2).fill(true))
    // The others woke too (one notify wakes every sleeper on the word), saw 'armed', and slept again.
    await pollUntil(() => asyncSleepCount() - asleep >= n / 2, 'the running waiters asleep again')
    machine.transition('running')
    expect(await Promise.all(forRunning)).toEqual(Array(n / 2).fill(true))
    const aborted = new AbortController()
    const waiting = machine.waitForAsync('idle', { signal: aborted.signal })
    aborted.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
    expect(await machine.waitForAsync('idle', { timeoutMs: 50 })).toBe(false)
  }, 60_000)
})
