/**
 * The object itself sent where its handle belongs (issue 16 item 4). A
 * shared object whose fields all survive structured clone (Mutex,
 * Semaphore, Condition, Barrier, StateMachine, TriggerFlags) reaches a
 * worker as a dead copy: its fields without its class, so no method exists
 * and getters read `undefined`. The others (StateBuffer, SnapshotStore,
 * SharedMap, RWLock) hold functions and fail at the send with
 * `DataCloneError`. Either way, `X.attach()` given the object or its copy
 * throws `HandleError` saying to send `.handle`, then attach.
 *
 * Broken variant, run once: without the check in memory/handle.ts
 * (objectInsteadOfHandle), attach refused the copy only for a missing
 * `threadstate` field ("not a threadstate handle, or one from an
 * incompatible version"), and the live SnapshotStore with "cannot be
 * copied: ... could not be cloned": both tests failed on the message.
 */
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import {
  Barrier,
  Condition,
  HandleError,
  Mutex,
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

const SEND_HANDLE = /send `\.handle`, then attach/

function copiesToSend() {
  return {
    Mutex: Mutex.create(),
    Semaphore: Semaphore.create(),
    Condition: Condition.create(),
    Barrier: Barrier.create({ parties: 2 }),
    StateMachine: StateMachine.create({ states: ['idle', 'busy'], initial: 'idle', transitions: { idle: ['busy'], busy: ['idle'] } }),
    TriggerFlags: TriggerFlags.create(['stop']),
  }
}

describe('an object sent instead of its handle', () => {
  it('reaches a real worker as a dead copy, and attaching it there throws HandleError saying to send .handle', async () => {
    const copies = copiesToSend()
    const worker = new Worker(new URL('./fixtures/dead-copy.mjs', import.meta.url), { workerData: { copies } })
    try {
      const report = await new Promise<Record<string, { methods: number; attach: { name: string; message: string }; attachedFromHandle: boolean }>>(
        (resolve, reject) => {
          worker.once('message', resolve)
          worker.once('error', reject)
        },
      )
      expect(Object.keys(report).sort()).toEqual(Object.keys(copies).sort())
      for (const [kind, entry] of Object.entries(report)) {
        // Object.prototype's own names only: the class (and every method) is gone.
        expect(entry.methods, kind).toBe(Object.getOwnPropertyNames(Object.prototype).length)
        expect(entry.attach.name, kind).toBe('HandleError')
        expect(entry.attach.message, kind).toMatch(SEND_HANDLE)
        expect(entry.attach.message, kind).toContain(`got a ${kind} object or a copy of one`)
        expect(entry.attach.message, kind).toContain(`${kind}.attach(workerData.`)
        expect(entry.attachedFromHandle, kind).toBe(true)
      }
    } finally {
      await worker.terminate()
    }
  })

  it('fails at the send for objects holding functions (DataCloneError), and attach of the live object says what to do', () => {
    const objects = {
      StateBuffer: StateBuffer.create(schema({ x: f64() })),
      SnapshotStore: SnapshotStore.create({ initial: { a: 1 } }),
      SharedMap: SharedMap.create<number>(),
      RWLock: RWLock.create(),
    }
    for (const [kind, object] of Object.entries(objects)) {
      expect(() => structuredClone({ object }), kind).toThrow(expect.objectContaining({ name: 'DataCloneError' }))
    }
    expect(() => SnapshotStore.attach(objects.SnapshotStore as never)).toThrow(HandleError)
    expect(() => SnapshotStore.attach(objects.SnapshotStore as never)).toThrow(SEND_HANDLE)
    expect(() => SharedMap.attach(objects.SharedMap as never)).toThrow(/got a SharedMap object .*`SharedMap\.attach\(workerData\.sharedMap\)`/)
    expect(() => StateBuffer.attach(objects.StateBuffer as never)).toThrow(SEND_HANDLE)
    // The wrong kind's attach names the object that came, so the advice fits it.
    expect(() => Mutex.attach(objects.RWLock as never)).toThrow(/Expected a Mutex handle, got a RWLock object .*`RWLock\.attach/)
    // A plain object that merely has a `handle` field of another shape is still refused the usual way.
    expect(() => Mutex.attach({ handle: { threadstate: -1 } } as never)).toThrow(/not a threadstate handle/)
  })
})
