/**
 * The cases of the `peers` suite (peers.ts imports this module when a case
 * runs: it imports the peer libraries, which are devDependencies).
 *
 * @module
 */
import { MessageChannel, Worker } from 'node:worker_threads'
import { Mutex as AsyncMutex } from 'async-mutex'
import * as Comlink from 'comlink'
import { RingBuffer } from 'ringbuf.js'
import { Mutex, RWLock, Semaphore, SnapshotStore, StateBuffer } from 'threadstate'
import { contendRound, contendScript, throughputRow } from './locks.js'
import { measureMicro, perOp, type MicroProfile, type MicroTask } from './micro.js'
import { nodeEndpoint } from './peers-comlink.js'
import { loadMultithreading, mtLockBuffer, type Multithreading } from './peers-lib.js'
import type { Row, RunOptions } from './report.js'
import { Crew } from './workers/crew.js'
import { ContendKind, ContendResults } from './workers/kinds.js'
import { NaiveMutex } from './workers/naive-mutex.js'
import { PAYLOAD, State25, isWhole } from './workers/payload.js'
import type { PeerOwnerApi, PeerOwnerData, PeerOwnerReply } from './workers/peer-owner.js'
import { agentStatus, type AgentStatus } from './workers/status.js'

interface Profile extends MicroProfile {
  readonly contendWindowMs: number
  readonly contendRuns: number
}

const FULL: Profile = { microTimeMs: 400, microWarmupMs: 200, microRounds: 2, contendWindowMs: 400, contendRuns: 7 }
const QUICK: Profile = { microTimeMs: 100, microWarmupMs: 100, microRounds: 1, contendWindowMs: 200, contendRuns: 2 }
const profileOf = (options: RunOptions): Profile => (options.quick ? QUICK : FULL)

const BATCH = 1000
const ASYNC_BATCH = 200
const RPC_BATCH = 20

// ---- peers/locks ------------------------------------------------------------

const L = {
  mutex: 'locks: Mutex lock+unlock (threadstate)',
  read: 'locks: RWLock readLock+readUnlock (threadstate)',
  write: 'locks: RWLock writeLock+writeUnlock (threadstate)',
  semaphore: 'locks: Semaphore(1) acquire+release (threadstate)',
} as const

function lockTasks(mt: Multithreading): MicroTask[] {
  const mutex = Mutex.create()
  const rw = RWLock.create()
  const semaphore = Semaphore.create({ permits: 1 })
  const peerMutex = new mt.Mutex<void>()
  const peerRw = new mt.RwLock<void>()
  const peerSemaphore = new mt.Semaphore(1)
  const loop = (name: string, baseline: string | undefined, op: () => void): MicroTask => ({
    name,
    ...(baseline === undefined ? {} : { baseline }),
    batch: BATCH,
    fn: () => {
      const t0 = performance.now()
      for (let k = 0; k < BATCH; k++) op()
      return perOp(performance.now() - t0, BATCH)
    },
  })
  return [
    loop(L.mutex, undefined, () => {
      mutex.lock()
      mutex.unlock()
    }),
    loop('locks: multithreading Mutex blockingLock()+dispose()', L.mutex, () => peerMutex.blockingLock().dispose()),
    loop(L.read, undefined, () => {
      rw.readLock()
      rw.readUnlock()
    }),
    loop('locks: multithreading RwLock blockingRead()+dispose()', L.read, () => peerRw.blockingRead().dispose()),
    loop(L.write, undefined, () => {
      rw.writeLock()
      rw.writeUnlock()
    }),
    loop('locks: multithreading RwLock blockingWrite()+dispose()', L.write, () => peerRw.blockingWrite().dispose()),
    loop(L.semaphore, undefined, () => {
      semaphore.acquire()
      semaphore.release()
    }),
    loop('locks: multithreading Semaphore(1) blockingAcquire()+dispose()', L.semaphore, () => peerSemaphore.blockingAcquire().dispose()),
  ]
}

// ---- peers/async ------------------------------------------------------------

const AS = { threadstate: 'async: Mutex lockAsync()+unlock() (threadstate)' } as const

function asyncTasks(mt: Multithreading): MicroTask[] {
  const mutex = Mutex.create()
  const peer = new mt.Mutex<void>()
  const inThread = new AsyncMutex()
  const loop = (name: string, baseline: string | undefined, op: () => Promise<void>, note?: string): MicroTask => ({
    name,
    ...(baseline === undefined ? {} : { baseline }),
    ...(note === undefined ? {} : { note }),
    batch: ASYNC_BATCH,
    fn: async () => {
      const t0 = performance.now()
      for (let k = 0; k < ASYNC_BATCH; k++) await op()
      return perOp(performance.now() - t0, ASYNC_BATCH)
    },
  })
  return [
    loop(AS.threadstate, undefined, async () => {
      await mutex.lockAsync()
      mutex.unlock()
    }),
    loop('async: multithreading Mutex await lock()+dispose()', AS.threadstate, async () => (await peer.lock()).dispose()),
    loop(
      'async: async-mutex acquire()+release() (one thread only)',
      AS.threadstate,
      async () => (await inThread.acquire())(),
      'async-mutex orders the async tasks of one thread (no shared memory, no other thread): the floor of an async acquire',
    ),
  ]
}

// ---- peers/contended --------------------------------------------------------

/** `peers/contended`. */
async function contended(options: RunOptions): Promise<Row[]> {
  const p = profileOf(options)
  const rows: Row[] = []
  for (const threads of [2, 4]) {
    const mutex = Mutex.create()
    const results = new SharedArrayBuffer(ContendResults.bytes(threads))
    const crew = new Crew(contendScript, threads, { mutex: mutex.handle, naive: new NaiveMutex().buffer, multithreading: mtLockBuffer(), results })
    const kinds = [ContendKind.Mutex, ContendKind.Multithreading] as const
    const rates: Record<number, number[]> = { [ContendKind.Mutex]: [], [ContendKind.Multithreading]: [] }
    try {
      await crew.ready()
      for (const kind of kinds) await contendRound(crew, kind, p.contendWindowMs / 4, results, threads)
      for (let run = 0; run < p.contendRuns; run++) {
        for (const kind of run % 2 === 0 ? kinds : [...kinds].reverse()) rates[kind]!.push((await contendRound(crew, kind, p.contendWindowMs, results, threads)).rate)
      }
      await crew.close()
    } catch (error) {
      await crew.terminate()
      throw error
    }
    const ours = `contended: Mutex, ${threads} threads (threadstate)`
    rows.push(throughputRow(ours, rates[ContendKind.Mutex]!, undefined, 'a plain ++ under the lock, checked against the sum of the counts'))
    rows.push(throughputRow(`contended: multithreading Mutex, ${threads} threads`, rates[ContendKind.Multithreading]!, ours, 'blockingLock() + dispose() around the same ++, checked the same way'))
  }
  return rows
}

// ---- peers/rpc --------------------------------------------------------------

const R = {
  threadstate: 'rpc: latest state of another thread, StateBuffer readInto (threadstate)',
  poll: 'rpc: newest state when there is one, StateBuffer readNewInto (threadstate)',
} as const
/** States the ringbuf.js queue of `peers/rpc` holds. */
const RING_STATES = 64

/** `peers/rpc`. */
async function rpc(options: RunOptions): Promise<Row[]> {
  const p = profileOf(options)
  const buffer = StateBuffer.create(State25)
  const comlinkPorts = new MessageChannel()
  const rawPorts = new MessageChannel()
  const ringStorage = RingBuffer.getStorageForCapacity(RING_STATES * PAYLOAD, Float64Array)
  const ring = new RingBuffer(ringStorage, Float64Array)
  const data: PeerOwnerData = { state: buffer.handle, comlink: comlinkPorts.port2, raw: rawPorts.port2, ring: ringStorage }
  const worker = new Worker(new URL('./workers/peer-owner.js', import.meta.url), { workerData: data, transferList: [comlinkPorts.port2, rawPorts.port2] })
  const api = Comlink.wrap<PeerOwnerApi>(nodeEndpoint(comlinkPorts.port1))
  let answer: ((reply: PeerOwnerReply) => void) | undefined
  rawPorts.port1.on('message', (reply: PeerOwnerReply) => answer?.(reply))
  const ask = (): Promise<PeerOwnerReply> =>
    new Promise((resolve) => {
      answer = resolve
      rawPorts.port1.postMessage(0)
    })
  const flat = new Float64Array(PAYLOAD)
  const drained = new Float64Array(PAYLOAD)
  const polled = new Float64Array(PAYLOAD)
  const check = (a: Float64Array | readonly number[], how: string): void => {
    const copy = a instanceof Float64Array ? a : Float64Array.from(a)
    if (!isWhole(copy)) throw new Error(`Expected a whole version of the owner's state from ${how}, got a torn or wrong one`)
  }
  try {
    // The owner is up once its first version is there.
    const reader = buffer.reader()
    const poller = buffer.reader()
    const deadline = Date.now() + 10_000
    while (buffer.version === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    if (buffer.version === 0) throw new Error('Expected peer-owner.js to publish within 10 s, got nothing')
    check((await api.latest()).a, 'comlink')
    check((await ask()).a, 'postMessage')
    while (ring.availableRead() < PAYLOAD && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    while (ring.availableRead() >= PAYLOAD) ring.pop(drained)
    check(drained, 'ringbuf.js')
    poller.readNewInto(polled)
    check(polled, 'readNewInto')
    const tasks: MicroTask[] = [
      {
        name: R.threadstate,
        batch: BATCH,
        fn: () => {
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) reader.readInto(flat)
          const elapsed = performance.now() - t0
          check(flat, 'readInto')
          return perOp(elapsed, BATCH)
        },
      },
      {
        name: R.poll,
        batch: BATCH,
        note: 'readNewInto: copies only when a version newer than the last one read was published (one atomic load otherwise); the same work as draining a queue to its newest state',
        fn: () => {
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) poller.readNewInto(polled)
          const elapsed = performance.now() - t0
          check(polled, 'readNewInto')
          return perOp(elapsed, BATCH)
        },
      },
      {
        name: 'rpc: ringbuf.js queue drained to the newest',
        baseline: R.poll,
        batch: BATCH,
        note:
          'the owner also pushes every version into a ringbuf.js RingBuffer (single producer, single consumer); main pops whole states until the queue is empty and keeps the last: ' +
          'nothing to copy when nothing is new (the owner writes at 100 Hz), but one reader only, and states are dropped once the queue is full',
        fn: () => {
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) while (ring.availableRead() >= PAYLOAD) ring.pop(drained)
          const elapsed = performance.now() - t0
          check(drained, 'ringbuf.js')
          return perOp(elapsed, BATCH)
        },
      },
      {
        name: 'rpc: comlink await remote.latest()',
        baseline: R.threadstate,
        batch: RPC_BATCH,
        fn: async () => {
          let last: PeerOwnerReply | undefined
          const t0 = performance.now()
          for (let k = 0; k < RPC_BATCH; k++) last = await api.latest()
          const elapsed = performance.now() - t0
          check(last!.a, 'comlink')
          return perOp(elapsed, RPC_BATCH)
        },
      },
      {
        name: 'rpc: postMessage request/response',
        baseline: R.threadstate,
        batch: RPC_BATCH,
        fn: async () => {
          let last: PeerOwnerReply | undefined
          const t0 = performance.now()
          for (let k = 0; k < RPC_BATCH; k++) last = await ask()
          const elapsed = performance.now() - t0
          check(last!.a, 'postMessage')
          return perOp(elapsed, RPC_BATCH)
        },
      },
    ]
    return await measureMicro(tasks, p)
  } finally {
    api[Comlink.releaseProxy]()
    comlinkPorts.port1.close()
    rawPorts.port1.close()
    await worker.terminate()
  }
}

// ---- peers/json -------------------------------------------------------------

/** Where the json reads go, so that the engine cannot drop them. */
export let readSink = 0

const J = {
  read: 'json: read one field of the latest 2 KB status, SnapshotStore get() (threadstate)',
  change: 'json: change one field of a 2 KB status, SnapshotStore modify() (threadstate)',
} as const

function jsonTasks(mt: Multithreading): MicroTask[] {
  const status = agentStatus(2048)
  const store = SnapshotStore.create<AgentStatus>({ initial: status })
  const shared = new mt.Mutex<AgentStatus>(new mt.SharedJsonBuffer(structuredClone(status)))
  const loop = (name: string, baseline: string | undefined, batch: number, op: () => void, note?: string): MicroTask => ({
    name,
    ...(baseline === undefined ? {} : { baseline }),
    ...(note === undefined ? {} : { note }),
    batch,
    fn: () => {
      const t0 = performance.now()
      for (let k = 0; k < batch; k++) op()
      return perOp(performance.now() - t0, batch)
    },
  })
  return [
    loop(J.read, undefined, BATCH, () => {
      readSink += store.get().planning.goals[0]!.progress
    }),
    loop('json: read one field, multithreading Mutex<SharedJsonBuffer> blockingLock() + read + dispose()', J.read, BATCH, () => {
      const guard = shared.blockingLock()
      readSink += guard.value.planning.goals[0]!.progress
      guard.dispose()
    }),
    loop(
      J.change,
      undefined,
      50,
      () => {
        store.modify((s) => ({ ...s, tick: s.tick + 1 }))
      },
      'a new version of the whole object (re-encoded, published atomically; readers keep the one they hold)',
    ),
    loop(
      'json: change one field, multithreading Mutex<SharedJsonBuffer> blockingLock() + assign + dispose()',
      J.change,
      50,
      () => {
        const guard = shared.blockingLock()
        guard.value.tick++
        guard.dispose()
      },
      'an in-place update through a Proxy (no versions: a reader holding the lock sees it change after it releases)',
    ),
  ]
}

// ---- the cases --------------------------------------------------------------

async function micro(options: RunOptions, tasks: (mt: Multithreading) => MicroTask[]): Promise<Row[]> {
  return measureMicro(tasks(await loadMultithreading()), profileOf(options))
}

/** `peers/locks`. */
export const locks = (options: RunOptions): Promise<Row[]> => micro(options, lockTasks)
/** `peers/async`. */
export const asyncLocks = (options: RunOptions): Promise<Row[]> => micro(options, asyncTasks)
/** `peers/json`. */
export const json = (options: RunOptions): Promise<Row[]> => micro(options, jsonTasks)
export { contended, rpc }
