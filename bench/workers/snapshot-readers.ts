/**
 * Reader workers of the snapshot bench: how long after main publishes a
 * status do other threads have it, and what does the first `get()` of a new
 * version cost in the thread that reads it?
 *
 * Per sample s (readers 0..READERS-1 take part; every step a handshake):
 *
 * ```
 *  main                                      reader i
 *  TICK = t, ENTERING = WOKEN = 0
 *  ARMED = s, notify  ────────────────────▶  wakes on ARMED
 *                                            store kinds: wanted = version + 1
 *                                            message kind: listen for one 'message'
 *                                            ENTERING += 1, notify; then sleep in
 *                                            waitForVersion(wanted) / return to the event loop
 *  await ENTERING = READERS
 *  store kinds: spin until WAITERS = READERS
 *  busy-wait SETTLE_US (readers now asleep)
 *  stamp; publish(status) or postMessage    runs again: broadcast get(), stamp;
 *         it to each reader in turn          FirstRead: time one of get(), JSON.parse,
 *                                            unpack (then get() untimed), see firstRead
 *                                            check tick = t; ARRIVED = stamp
 *  await WOKEN = READERS  ◀────────────────  WOKEN += 1, notify
 * ```
 *
 * The stamp is the crew's shared clock; main's stamp comes before publish()
 * or the first postMessage, so both paths include their serialization.
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { SnapshotStore, type DeepReadonly } from 'threadstate'
import { bareCodec } from './codec.js'
import { serveRounds, sharedClock, waitUntil } from './crew.js'
import { SnapshotKind, SnapshotResults, SnapshotWord, type SnapshotReadersData } from './kinds.js'
import type { AgentStatus } from './status.js'

/** Longest a reader waits for a version main has announced (a hung bench should fail). */
const VERSION_TIMEOUT_MS = 30_000

async function main(data: SnapshotReadersData): Promise<void> {
  if (!parentPort) throw new Error('Expected snapshot-readers.js to run in a worker thread, got the main thread')
  const port: MessagePort = parentPort
  const control = new Int32Array(data.control)
  const stores = data.stores.map((handle) => SnapshotStore.attach(handle))
  const block = new Float64Array(data.results, data.index * SnapshotResults.BLOCK_WORDS * 8, SnapshotResults.BLOCK_WORDS)
  const clock = sharedClock(data.clockBase)
  let sink = 0

  const check = (status: DeepReadonly<AgentStatus>, tick: number, how: string): void => {
    if (status.tick !== tick) throw new Error(`Expected ${how} to give the status of tick ${tick}, got tick ${status.tick}`)
  }

  const done = (arrived: number): void => {
    block[SnapshotResults.ARRIVED] = arrived
    Atomics.add(control, SnapshotWord.WOKEN, 1)
    Atomics.notify(control, SnapshotWord.WOKEN)
  }

  const enter = (): void => {
    Atomics.add(control, SnapshotWord.ENTERING, 1)
    Atomics.notify(control, SnapshotWord.ENTERING)
  }

  /**
   * FirstRead: what this sample times, right after waking for the new
   * version (so each operation meets the same cold caches): the sample of
   * tick t times `get()` when t mod 3 = 1, `JSON.parse` when 2, bare
   * `unpack` when 0 (ticks run on across rounds, so no operation always
   * comes first in a round).
   * The JSON text and the bytes are made from the previous version's object,
   * outside the timed part; the others are written as NaN.
   */
  let jsonText = ''
  let packed: Uint8Array = new Uint8Array(0)
  const prepare = (status: DeepReadonly<AgentStatus>): void => {
    jsonText = JSON.stringify(status)
    packed = bareCodec.pack(status)
  }

  function firstRead(store: SnapshotStore<AgentStatus>, tick: number): DeepReadonly<AgentStatus> {
    const op = tick % 3
    block[SnapshotResults.GET_MS] = Number.NaN
    block[SnapshotResults.PARSE_MS] = Number.NaN
    block[SnapshotResults.UNPACK_MS] = Number.NaN
    const t0 = clock()
    if (op === 1) {
      const status = store.get()
      block[SnapshotResults.GET_MS] = clock() - t0
      return status
    }
    if (op === 2) {
      sink += (JSON.parse(jsonText) as AgentStatus).tick
      block[SnapshotResults.PARSE_MS] = clock() - t0
    } else {
      sink += (bareCodec.unpack(packed) as AgentStatus).tick
      block[SnapshotResults.UNPACK_MS] = clock() - t0
    }
    return store.get()
  }

  /** One store sample: wait for the next version, read it (FirstRead: see above; broadcast: get()), check it. */
  function storeSample(store: SnapshotStore<AgentStatus>, kind: number): void {
    const wanted = store.version + 1
    const tick = Atomics.load(control, SnapshotWord.TICK)
    enter()
    if (!store.waitForVersion(wanted, VERSION_TIMEOUT_MS)) throw new Error(`Expected version ${wanted} within ${VERSION_TIMEOUT_MS} ms, got ${store.version}`)
    if (kind === SnapshotKind.FirstRead) {
      const status = firstRead(store, tick)
      const arrived = clock()
      check(status, tick, 'get()')
      prepare(status)
      done(arrived)
      return
    }
    const t0 = clock()
    const status = store.get()
    const t1 = clock()
    check(status, tick, 'get()')
    block[SnapshotResults.GET_MS] = t1 - t0
    done(t1)
  }

  /** One postMessage sample: return to the event loop and take the next message. */
  async function messageSample(): Promise<void> {
    const received = new Promise<[AgentStatus, number]>((resolve) => {
      port.once('message', (status: AgentStatus) => resolve([status, clock()]))
    })
    const tick = Atomics.load(control, SnapshotWord.TICK)
    block[SnapshotResults.GET_MS] = Number.NaN
    enter()
    const [status, arrived] = await received
    check(status, tick, 'postMessage')
    done(arrived)
  }

  await serveRounds(control, async (kind, count) => {
    if (data.index >= Atomics.load(control, SnapshotWord.READERS)) return
    const store = stores[Atomics.load(control, SnapshotWord.SIZE)]!
    if (kind === SnapshotKind.FirstRead) prepare(store.get())
    for (let s = 1; s <= count; s++) {
      waitUntil(control, SnapshotWord.ARMED, s)
      if (kind === SnapshotKind.MessageBroadcast) await messageSample()
      else storeSample(store, kind)
    }
    if (!Number.isFinite(sink)) throw new Error(`Expected the sink to stay finite, got ${sink}`)
  })
}

await main(workerData as SnapshotReadersData)
