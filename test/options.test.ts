/**
 * Every async entry point checks its options before it arms anything (issue
 * 15, item 3): a `signal` that is not an AbortSignal used to be accepted and
 * crash the process ~55 ms later from a library timer (uncatchable), after
 * the caller had caught the rejection; null options threw a raw TypeError;
 * Semaphore.acquire took NaN, -1, "100", {}, 1n as a timeout when a permit
 * was free. vitest fails a run on an uncaught exception, so the wait at the
 * end of the first test is what would catch the timer.
 */
import { describe, expect, it } from 'vitest'
import {
  Barrier,
  Condition,
  Mutex,
  OptionError,
  RWLock,
  Semaphore,
  SharedMap,
  SnapshotStore,
  StateBuffer,
  StateMachine,
  TriggerFlags,
  f64,
  schema,
} from '../src/index.js'

const notSignals = [{}, { aborted: false }, 'signal', 1, new EventTarget()]

/** Each entry point as a call taking the options to check (held objects so the waits would really wait). */
function entryPoints(): [string, (options: unknown) => unknown][] {
  const held = Mutex.create()
  held.lock()
  const rw = RWLock.create()
  rw.writeLock()
  const semaphore = Semaphore.create({ permits: 0, max: 1 })
  const barrier = Barrier.create({ parties: 2 })
  const condition = Condition.create()
  const mutex = Mutex.create()
  const map = SharedMap.create()
  const store = SnapshotStore.create({ initial: {} })
  const buf = StateBuffer.create(schema({ x: f64() }))
  const fsm = StateMachine.create({ states: ['a', 'b'], initial: 'a', transitions: { a: ['b'], b: ['a'] } })
  const flags = TriggerFlags.create(['go'])
  return [
    ['Mutex.lockAsync', (o) => held.lockAsync(o as never)],
    ['RWLock.readLockAsync', (o) => rw.readLockAsync(o as never)],
    ['RWLock.writeLockAsync', (o) => rw.writeLockAsync(o as never)],
    ['Semaphore.acquireAsync', (o) => semaphore.acquireAsync(1, o as never)],
    ['Barrier.waitAsync', (o) => barrier.waitAsync(o as never)],
    ['Condition.waitAsync', (o) => (mutex.lock(), condition.waitAsync(mutex, o as never).finally(() => mutex.isLocked && mutex.unlock()))],
    ['SharedMap.waitForVersionAsync', (o) => map.waitForVersionAsync(5, o as never)],
    ['SnapshotStore.waitForVersionAsync', (o) => store.waitForVersionAsync(5, o as never)],
    ['StateBuffer.waitForVersionAsync', (o) => buf.waitForVersionAsync(5, o as never)],
    ['StateMachine.waitForAsync', (o) => fsm.waitForAsync('b', o as never)],
    ['TriggerFlags.waitAnyAsync', (o) => flags.waitAnyAsync(o as never)],
    ['SharedMap.subscribe', (o) => map.subscribe(o as never).next()],
    ['SnapshotStore.subscribe', (o) => store.subscribe(o as never).next()],
    ['StateBuffer.subscribe', (o) => buf.subscribe(o as never).next()],
    ['StateMachine.subscribe', (o) => fsm.subscribe(o as never).next()],
  ]
}

/** Settles a call that may throw synchronously or reject. */
async function outcome(call: () => unknown): Promise<unknown> {
  try {
    await call()
    return 'resolved'
  } catch (error) {
    return error
  }
}

describe('options of async waits are checked before anything is armed', () => {
  it('a signal that is not an AbortSignal, or null options, is an OptionError, and nothing fires later', async () => {
    for (const [name, call] of entryPoints()) {
      for (const signal of notSignals) {
        const error = await outcome(() => call({ signal, timeoutMs: 30 }))
        expect(error, `${name} with signal ${String(signal)}`).toBeInstanceOf(OptionError)
      }
      expect(await outcome(() => call(null)), `${name}(null)`).toBeInstanceOf(OptionError)
      expect(await outcome(() => call(7)), `${name}(7)`).toBeInstanceOf(OptionError)
      for (const timeoutMs of [Number.NaN, -1, '100', {}, 1n]) {
        expect(await outcome(() => call({ timeoutMs })), `${name} timeoutMs ${String(timeoutMs)}`).toBeInstanceOf(OptionError)
      }
    }
    // Past the ~55 ms after which the library timer used to throw.
    await new Promise((resolve) => setTimeout(resolve, 150))
  })

  it('a real signal and a good timeout still work everywhere', async () => {
    for (const [name, call] of entryPoints()) {
      const controller = new AbortController()
      const pending = outcome(() => call({ signal: controller.signal }))
      controller.abort(new Error('stop'))
      const error = await pending
      // Waits reject with the signal's reason; subscriptions end (done) when it aborts.
      expect(error instanceof Error ? error.message : error, name).toBe(name.endsWith('.subscribe') ? 'resolved' : 'stop')
    }
  })

  it('Semaphore.acquire refuses a bad timeout even when a permit is free; a good one still takes it', () => {
    const s = Semaphore.create({ permits: 5, max: 5 })
    for (const timeoutMs of [Number.NaN, -1, '100', {}, 1n]) expect(() => s.acquire(1, timeoutMs as never)).toThrow(OptionError)
    expect(s.available).toBe(5)
    expect(s.acquire(1, 0)).toBe(true)
    expect(s.acquire(1)).toBe(true)
    expect(s.available).toBe(3)
  })
})
