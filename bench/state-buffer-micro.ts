/**
 * The StateBuffer cases that run on main (see state-buffer.ts for the
 * suite): `read` (with a 100 Hz owner thread publishing), `update` and
 * `bytes`. Single-thread rows are tinybench tasks timed in 1000-op batches
 * (micro.ts), subjects and baselines alternating.
 *
 * @module
 */
import { Mutex, StateBuffer } from 'threadstate'
import { measureMicro, perOp, type MicroTask } from './micro.js'
import { formatDuration, type Row, type Target } from './report.js'
import type { StateProfile } from './state-buffer.js'
import { Crew } from './workers/crew.js'
import type { OwnerReply } from './workers/kinds.js'
import { PAYLOAD, State25, copy25, copyArray25, fillPayload, isWhole } from './workers/payload.js'
import { SeqlockWord } from './workers/seqlock.js'

const DESIGN = 'DESIGN.md performance targets'
const READ_TARGET: Target = { metric: 'median', atMostMs: 30e-6, source: `${DESIGN}: readInto, 25 doubles` }
const LATEST_TARGET: Target = { metric: 'median', atMostMs: 100e-6, source: 'bench brief: latest() <= 100 ns' }
const UPDATE_TARGET: Target = { metric: 'median', atMostMs: 60e-6, source: `${DESIGN}: update, 25 doubles` }
const POSTMESSAGE_TARGET: Target = { metric: 'value', bound: 'atLeast', limit: 500, source: `${DESIGN}: read latest state vs postMessage` }
const BYTES_TARGET: Target = { metric: 'value', bound: 'atMost', limit: 2048, source: `${DESIGN}: memory overhead per StateBuffer` }

/** Operations per sample of the synchronous micro tasks (one op is tens of ns). */
const BATCH = 1000
/** Round trips per sample of the postMessage task (one is ~20 µs). */
const MESSAGE_BATCH = 20

/** Keeps results alive so the JIT cannot drop the work; checked once at the end. */
let sink = 0

/** Throws unless `a` (a decoded state's vector) is the payload of one version. */
function checkDecoded(a: readonly number[], what: string): void {
  if (a[PAYLOAD - 1] !== 24 * a[0]! + 276) throw new Error(`Expected ${what} to return a whole payload, got a[0] = ${a[0]}, a[24] = ${a[PAYLOAD - 1]}`)
}

// ---- reads with a 100 Hz writer in another thread ---------------------------

const ownerScript = new URL('./workers/state-owner.js', import.meta.url)

const R = {
  floor: 'read: seqlock word by hand (floor)',
  readInto: 'read: readInto',
  postMessage: 'read: postMessage request/response',
} as const

function readTasks(buffer: StateBuffer<typeof State25>, seqlock: SeqlockWord, mutex: Mutex, copy: Float64Array, owner: Crew): MicroTask[] {
  const target = new Float64Array(PAYLOAD)
  const reader = buffer.reader()
  const agedReader = buffer.reader({ maxAgeMs: 1000 })
  const objectReader = buffer.reader()
  const worker = owner.worker(0)
  let pending: ((reply: OwnerReply) => void) | undefined
  worker.on('message', (reply: OwnerReply) => {
    const resolve = pending
    pending = undefined
    resolve?.(reply)
  })
  const request = (): Promise<OwnerReply> =>
    new Promise((resolve) => {
      pending = resolve
      worker.postMessage(0)
    })
  const checked = (elapsedMs: number, what: string): ReturnType<typeof perOp> => {
    if (!isWhole(target)) throw new Error(`Expected ${what} to copy a whole payload, got a torn one`)
    return perOp(elapsedMs, BATCH)
  }
  return [
    {
      name: R.floor,
      batch: BATCH,
      note: 'Atomics.load, written-out copy of 25 doubles, Atomics.load (workers/seqlock.ts)',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) seqlock.readInto(target)
        return checked(performance.now() - t0, R.floor)
      },
    },
    {
      name: R.readInto,
      baseline: R.floor,
      target: READ_TARGET,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) reader.readInto(target)
        return checked(performance.now() - t0, R.readInto)
      },
    },
    {
      name: 'read: readInto, reader with maxAgeMs',
      baseline: R.readInto,
      batch: BATCH,
      note: 'a reader with maxAgeMs reads the clock on every readInto to compute the age',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) agedReader.readInto(target)
        return checked(performance.now() - t0, 'readInto with maxAgeMs')
      },
    },
    {
      name: 'read: reader.read()',
      baseline: R.readInto,
      batch: BATCH,
      note: 'copy, clock read, decode into a new object with a new 25-element array',
      fn: () => {
        let last: number[] = []
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) last = objectReader.read()!.value.a
        const elapsed = performance.now() - t0
        checkDecoded(last, 'reader.read()')
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: 'read: latest()',
      baseline: R.readInto,
      target: LATEST_TARGET,
      batch: BATCH,
      note: 'copy, decode into a new object with a new 25-element array',
      fn: () => {
        let last: number[] = []
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) last = buffer.latest()!.value.a
        const elapsed = performance.now() - t0
        checkDecoded(last, 'latest()')
        return perOp(elapsed, BATCH)
      },
    },
    {
      name: 'read: Mutex-protected copy',
      baseline: R.readInto,
      batch: BATCH,
      note: 'threadstate Mutex lock, the same written-out copy, unlock; the owner writes under the same Mutex',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          mutex.lock()
          copy25(copy, 0, target, 0)
          mutex.unlock()
        }
        return checked(performance.now() - t0, 'the Mutex-protected copy')
      },
    },
    {
      name: R.postMessage,
      baseline: R.readInto,
      batch: MESSAGE_BATCH,
      note: 'main posts a request, the owner replies with { version, state } (structured clone), main awaits it',
      fn: async () => {
        const t0 = performance.now()
        for (let k = 0; k < MESSAGE_BATCH; k++) sink += (await request()).version
        return perOp(performance.now() - t0, MESSAGE_BATCH)
      },
    },
  ]
}

/** Reads on main while a worker publishes at 100 Hz: readInto and friends vs the seqlock floor, a Mutex copy, postMessage. */
export async function reads(p: StateProfile): Promise<Row[]> {
  const buffer = StateBuffer.create(State25, { history: 16 })
  const seqlock = new SeqlockWord()
  const mutex = Mutex.create()
  const copy = new SharedArrayBuffer(8 * PAYLOAD)
  const owner = new Crew(ownerScript, 1, { state: buffer.handle, seqlock: seqlock.buffer, mutex: mutex.handle, copy })
  let rows: Row[]
  try {
    await owner.ready()
    rows = await measureMicro(readTasks(buffer, seqlock, mutex, new Float64Array(copy), owner), p)
    await owner.close()
  } catch (error) {
    await owner.terminate()
    throw error
  }
  const median = (name: string): number => {
    const m = rows.find((r) => r.name === name)!.measurement
    if (m.kind !== 'latency') throw new Error(`Expected ${name} to be a latency row, got ${m.kind}`)
    return m.medianMs
  }
  const published = buffer.version
  const speedup: Row = {
    name: 'read: postMessage ÷ readInto',
    measurement: {
      kind: 'value',
      value: median(R.postMessage) / median(R.readInto),
      unit: '×',
      what: 'median postMessage round trip ÷ median readInto, same run',
    },
    target: POSTMESSAGE_TARGET,
    note: `how many readInto fit in one postMessage round trip; the owner published ${published} versions at 100 Hz meanwhile`,
  }
  return [...rows, speedup]
}

// ---- publish ------------------------------------------------------------------

const W = {
  floor: 'publish: array copy + Atomics.store (floor)',
  given: 'publish(state, { timestamp })',
  clock: 'publish(state) (default timestamp)',
  cachedClock: 'clock: timeOrigin (cached) + performance.now()',
  flatFloor: 'publishFrom floor: Float64Array copy + Atomics.store',
} as const

function updateTasks(): MicroTask[] {
  const buffer = StateBuffer.create(State25, { history: 16 })
  const state = { a: new Array<number>(PAYLOAD).fill(0) }
  fillPayload(state.a, 1)
  const raw = new SharedArrayBuffer(8 * (1 + PAYLOAD))
  const rawSeq = new Int32Array(raw, 0, 1)
  const rawData = new Float64Array(raw)
  const mutex = Mutex.create()
  const perf = performance
  const origin = perf.timeOrigin
  const timestamp = Date.now()
  const flat = new Float64Array(PAYLOAD)
  fillPayload(flat, 1)
  return [
    {
      name: W.floor,
      batch: BATCH,
      note: 'the 25 numbers of the same state object, written out into a shared Float64Array, then one Atomics.store',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          copyArray25(state.a, rawData, 1)
          Atomics.store(rawSeq, 0, k)
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: W.given,
      baseline: W.floor,
      target: UPDATE_TARGET,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += buffer.publish(state, { timestamp })
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: W.clock,
      baseline: W.floor,
      target: UPDATE_TARGET,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += buffer.publish(state)
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: W.flatFloor,
      batch: BATCH,
      note: 'the 25 words of a Float64Array, written out into a shared Float64Array, then one Atomics.store',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          copy25(flat, 0, rawData, 1)
          Atomics.store(rawSeq, 0, k)
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'publishFrom(flat, { timestamp })',
      baseline: W.flatFloor,
      batch: BATCH,
      note: 'the fast write: every word checked (finite), the writers\' Mutex, the ring protocol; issue 14 goal: ratio <= 2',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += buffer.publishFrom(flat, { timestamp })
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'publishFrom(flat) (default timestamp)',
      baseline: W.flatFloor,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += buffer.publishFrom(flat)
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'publish(state, { source, timestamp })',
      baseline: W.given,
      batch: BATCH,
      note: 'plus a source name (interned once, then a Map lookup and a per-source counter)',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += buffer.publish(state, { source: 'estimator', timestamp })
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'publish part: Mutex lock+unlock',
      batch: BATCH,
      note: 'every publish serializes writers with a threadstate Mutex: this part of its cost',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          mutex.lock()
          mutex.unlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: W.cachedClock,
      batch: BATCH,
      note: 'the clock read publish() adds without a timestamp (wallNow in src/memory/clock.ts)',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += origin + perf.now()
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'clock: performance.timeOrigin + performance.now()',
      baseline: W.cachedClock,
      batch: BATCH,
      note: 'written as is: two lookups of the global `performance`',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += performance.timeOrigin + performance.now()
        return perOp(performance.now() - t0, BATCH)
      },
    },
  ]
}

/** publish() with and without a timestamp vs a raw copy + Atomics.store, with the clock and Mutex parts. */
export async function updates(p: StateProfile): Promise<Row[]> {
  const rows = await measureMicro(updateTasks(), p)
  const median = (name: string): number => {
    const m = rows.find((r) => r.name === name)!.measurement
    return m.kind === 'latency' ? m.medianMs : Number.NaN
  }
  if (!Number.isFinite(sink)) throw new Error(`Expected the bench's sink to stay finite, got ${sink}`)
  const extra = median(W.clock) - median(W.given)
  return rows.map((r) =>
    r.name === W.clock
      ? { ...r, note: `default − given timestamp = ${formatDuration(extra)}; one clock read = ${formatDuration(median(W.cachedClock))}` }
      : r,
  )
}

// ---- bytes -------------------------------------------------------------------

/** Bytes of a history-16 buffer beyond slots × payload, with the breakdown. */
export function bytes(): Promise<Row[]> {
  const history = 16
  const buffer = StateBuffer.create(State25, { history })
  const slots = buffer.stats().historyCapacity + 1
  const payload = buffer.size * 8
  const total = buffer.handle.byteLength
  // Per-slot and fixed bytes, measured rather than copied from layout.ts: a
  // buffer with twice the slots differs by exactly `slots` slots.
  const doubled = StateBuffer.create(State25, { history: 2 * slots - 1 })
  const doubledSlots = doubled.stats().historyCapacity + 1
  if (doubledSlots !== 2 * slots) throw new Error(`Expected history ${2 * slots - 1} to take ${2 * slots} slots, got ${doubledSlots}`)
  const perSlot = (doubled.handle.byteLength - total) / slots
  const meta = perSlot - payload
  const fixed = total - slots * perSlot
  const overhead = total - slots * payload
  const exact = fixed + (history + 1) * perSlot
  return Promise.resolve([
    {
      name: `bytes: overhead beyond slots × payload (history ${history})`,
      measurement: { kind: 'value', value: overhead, unit: 'bytes', what: 'handle.byteLength − slots × size × 8, slots = historyCapacity + 1' },
      target: BYTES_TARGET,
      note:
        `${overhead} B = fixed ${fixed} B (header and control words, writer Mutex, 8 source names, 8 reader-counter lines: src/state/layout.ts) ` +
        `+ ${slots} slots × ${meta} B of slot metadata (version, timestamp, source)`,
    },
    {
      name: `bytes: whole buffer (history ${history})`,
      measurement: { kind: 'value', value: total, unit: 'bytes', what: 'handle.byteLength' },
      note:
        `${slots} slots × ${payload} B payload = ${slots * payload} B: the ring is a power of two ≥ history + 1, so history ${history} ` +
        `keeps ${slots - 1} versions; ${history + 1} slots would need ${exact} B`,
    },
  ])
}
