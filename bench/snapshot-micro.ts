/**
 * The SnapshotStore cases that run on main (see snapshot.ts for the suite):
 * `get`, `publish` and `bytes`. Rows are tinybench tasks timed in batches
 * (micro.ts), subjects and baselines alternating.
 *
 * @module
 */
import { SnapshotStore } from 'threadstate'
import { measureMicro, perOp, type MicroTask } from './micro.js'
import { formatDuration, type Row, type Target } from './report.js'
import type { SnapshotProfile } from './snapshot.js'
import { bareCodec } from './workers/codec.js'
import { STATUS_SIZES, agentStatus, type AgentStatus, type StatusSize } from './workers/status.js'

const DESIGN = 'DESIGN.md performance targets'
const GET_TARGET: Target = { metric: 'median', atMostMs: 20e-6, source: `${DESIGN}: SnapshotStore get() of an unchanged snapshot` }

/** Ratio targets of publish ÷ JSON.stringify: DESIGN.md states the 2 KB one, the bench brief extends it to 64 KB. */
function publishTarget(size: StatusSize): Target {
  const source = size.jsonBytes <= 2048 ? `${DESIGN}: SnapshotStore publish of a 2 KB object` : 'bench brief: publish <= 0.5x JSON.stringify, 64 KB too'
  return { metric: 'value', bound: 'atMost', limit: 0.5, source }
}

/** Operations per sample of the get() tasks (one op is ~10 ns). */
const GET_BATCH = 1000
/** Publishes per sample: ~10-20 µs each for 2 KB, ~0.3-0.5 ms for 64 KB. */
const publishBatch = (size: StatusSize): number => (size.jsonBytes <= 2048 ? 20 : 2)

/** Keeps results alive so the JIT cannot drop the work; checked once at the end. */
let sink = 0

function checkSink(): void {
  if (!Number.isFinite(sink)) throw new Error(`Expected the bench's sink to stay finite, got ${sink}`)
}

function medianOf(rows: readonly Row[], name: string): number {
  const m = rows.find((r) => r.name === name)?.measurement
  if (m?.kind !== 'latency') throw new Error(`Expected a latency row named ${name}, got ${m?.kind ?? 'none'}`)
  return m.medianMs
}

// ---- get() of an unchanged snapshot ------------------------------------------

const G = {
  floor: 'get: Atomics.load of an Int32Array word (floor)',
  get: 'get(): unchanged snapshot',
} as const

function getTasks(): MicroTask[] {
  const store = SnapshotStore.create<AgentStatus>({ initial: agentStatus(STATUS_SIZES[0]!.jsonBytes) })
  const value = store.get() // decoded once here; every timed get() returns this object
  const snapshot = store.latest()
  const word = new Int32Array(new SharedArrayBuffer(4))
  Atomics.store(word, 0, 1)
  const mismatch = (what: string, misses: number): Error =>
    new Error(`Expected ${what} of an unchanged snapshot to return the same object every time, got ${misses} other results`)
  return [
    {
      name: G.floor,
      batch: GET_BATCH,
      note: 'Atomics.load of a SharedArrayBuffer-backed Int32Array word, compared with a constant (as get() results are below)',
      fn: () => {
        let misses = 0
        const t0 = performance.now()
        for (let k = 0; k < GET_BATCH; k++) if (Atomics.load(word, 0) !== 1) misses++
        const elapsed = performance.now() - t0
        if (misses !== 0) throw new Error(`Expected the word to stay 1, got ${misses} other loads`)
        return perOp(elapsed, GET_BATCH)
      },
    },
    {
      name: G.get,
      baseline: G.floor,
      target: GET_TARGET,
      batch: GET_BATCH,
      note: 'the 2 KB status, decoded once before timing; each result compared with that object (same identity)',
      fn: () => {
        let misses = 0
        const t0 = performance.now()
        for (let k = 0; k < GET_BATCH; k++) if (store.get() !== value) misses++
        const elapsed = performance.now() - t0
        if (misses !== 0) throw mismatch('get()', misses)
        return perOp(elapsed, GET_BATCH)
      },
    },
    {
      name: 'latest(): unchanged snapshot',
      baseline: G.floor,
      batch: GET_BATCH,
      note: 'the same store; returns the cached { value, version, timestamp, source }',
      fn: () => {
        let misses = 0
        const t0 = performance.now()
        for (let k = 0; k < GET_BATCH; k++) if (store.latest() !== snapshot) misses++
        const elapsed = performance.now() - t0
        if (misses !== 0) throw mismatch('latest()', misses)
        return perOp(elapsed, GET_BATCH)
      },
    },
  ]
}

/** get() and latest() of an unchanged snapshot vs one Atomics.load. */
export function gets(p: SnapshotProfile): Promise<Row[]> {
  return measureMicro(getTasks(), p)
}

// ---- publish -----------------------------------------------------------------

function publishNames(size: StatusSize): { json: string; publish: string; pack: string } {
  return {
    json: `publish ${size.label}: JSON.stringify`,
    publish: `publish ${size.label}: publish()`,
    pack: `publish ${size.label} part: msgpackr pack alone`,
  }
}

function publishTasks(size: StatusSize): MicroTask[] {
  const status = agentStatus(size.jsonBytes)
  const store = SnapshotStore.create<AgentStatus>({ initial: status })
  const names = publishNames(size)
  const batch = publishBatch(size)
  return [
    {
      name: names.json,
      batch,
      note: 'JSON.stringify of the same status object',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < batch; k++) sink += JSON.stringify(status).length
        return perOp(performance.now() - t0, batch)
      },
    },
    {
      name: names.publish,
      baseline: names.json,
      batch,
      note: 'validate (none here), encode (checkEncodable walk + msgpackr pack), writer Mutex, copy into the slot, PUB store; no reader waiting',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < batch; k++) sink += store.publish(status)
        return perOp(performance.now() - t0, batch)
      },
    },
    {
      name: names.pack,
      baseline: names.publish,
      batch,
      note: 'msgpackr pack with the options of src/encoding/values.ts (workers/codec.ts): the MessagePack part of publish()',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < batch; k++) sink += bareCodec.pack(status).length
        return perOp(performance.now() - t0, batch)
      },
    },
  ]
}

/** publish() of each status vs JSON.stringify, msgpackr pack alone as the breakdown, and the ratio rows. */
export async function publishes(p: SnapshotProfile): Promise<Row[]> {
  const rows = await measureMicro(STATUS_SIZES.flatMap(publishTasks), p)
  checkSink()
  return STATUS_SIZES.flatMap((size) => {
    const names = publishNames(size)
    const measured = rows.filter((r) => r.name === names.json || r.name === names.publish || r.name === names.pack)
    const publish = medianOf(rows, names.publish)
    const rest = publish - medianOf(rows, names.pack)
    const ratio: Row = {
      name: `publish ${size.label} ÷ JSON.stringify`,
      measurement: { kind: 'value', value: publish / medianOf(rows, names.json), unit: '×', what: 'median publish() ÷ median JSON.stringify, same run' },
      target: publishTarget(size),
      note: `publish() − pack alone = ${formatDuration(rest)} (${((100 * rest) / publish).toFixed(0)} % of publish): the encodability walk, Mutex, copy`,
    }
    return [...measured, ratio]
  })
}

// ---- first read, hot, on main -------------------------------------------------

/** The hot-loop counterpart of the first-read rows measured in a reader worker (snapshot-threads.ts). */
export function hotFirstReadNames(size: StatusSize): { json: string; get: string } {
  return {
    json: `first read ${size.label} on main: JSON.parse`,
    get: `first read ${size.label} on main: get() after publish`,
  }
}

/**
 * A sample of `ops` operations timed one by one (`elapsedMs` in all) inside
 * a batch that took `wallMs` with its untimed parts: records the mean per
 * op, budgets the wall time.
 */
function perTimedOp(elapsedMs: number, ops: number, wallMs: number): ReturnType<typeof perOp> {
  return { overriddenDuration: elapsedMs / ops, overriddenIterationCost: wallMs }
}

function hotFirstReadTasks(size: StatusSize): MicroTask[] {
  const status = agentStatus(size.jsonBytes)
  const writer = SnapshotStore.create<AgentStatus>({ initial: status })
  const reader = SnapshotStore.attach<AgentStatus>(writer.handle)
  const text = JSON.stringify(status)
  const names = hotFirstReadNames(size)
  const batch = publishBatch(size)
  return [
    {
      name: names.json,
      batch,
      note: 'JSON.parse of the status JSON text on main, in a hot loop, each op timed alone',
      fn: () => {
        const wall = performance.now()
        let elapsed = 0
        for (let k = 0; k < batch; k++) {
          const t0 = performance.now()
          sink += (JSON.parse(text) as AgentStatus).tick
          elapsed += performance.now() - t0
        }
        return perTimedOp(elapsed, batch, performance.now() - wall)
      },
    },
    {
      name: names.get,
      baseline: names.json,
      batch,
      note:
        'measured on main: the writer instance publishes (untimed), then a second instance attached to the same handle times get() of the new version ' +
        '(copy + decode + deep freeze), in a hot loop: the best case, data still in this core\'s cache',
      fn: () => {
        const wall = performance.now()
        let elapsed = 0
        for (let k = 0; k < batch; k++) {
          status.tick++
          sink += writer.publish(status)
          const t0 = performance.now()
          const value = reader.get()
          elapsed += performance.now() - t0
          if (value.tick !== status.tick) throw new Error(`Expected get() to return the status just published (tick ${status.tick}), got tick ${value.tick}`)
        }
        return perTimedOp(elapsed, batch, performance.now() - wall)
      },
    },
  ]
}

/** First read on main, hot: get() of a just-published version vs JSON.parse, with the ratio rows. */
export async function hotFirstReads(p: SnapshotProfile, target: (size: StatusSize) => Target): Promise<Row[]> {
  const rows = await measureMicro(STATUS_SIZES.flatMap(hotFirstReadTasks), p)
  checkSink()
  return STATUS_SIZES.flatMap((size) => {
    const names = hotFirstReadNames(size)
    const ratio: Row = {
      name: `first read ${size.label} on main ÷ JSON.parse`,
      measurement: {
        kind: 'value',
        value: medianOf(rows, names.get) / medianOf(rows, names.json),
        unit: '×',
        what: 'median get() after publish ÷ median JSON.parse, on main, same run',
      },
      target: target(size),
      note: 'the hot-loop counterpart of the reader-worker ratio above',
    }
    return [...rows.filter((r) => r.name === names.json || r.name === names.get), ratio]
  })
}

// ---- bytes ---------------------------------------------------------------------

/** Encoded bytes (stats().lastBytes) vs JSON bytes of each status. */
export function encodedBytes(): Promise<Row[]> {
  return Promise.resolve(
    STATUS_SIZES.flatMap((size): Row[] => {
      const status = agentStatus(size.jsonBytes)
      const store = SnapshotStore.create<AgentStatus>({ initial: status })
      const json = Buffer.byteLength(JSON.stringify(status))
      const stats = store.stats()
      const jsonName = `bytes ${size.label}: JSON`
      return [
        {
          name: jsonName,
          measurement: { kind: 'value', value: json, unit: 'bytes', what: 'UTF-8 bytes of JSON.stringify(status)' },
          note: `${status.memory.length} memory entries, ${status.recentEvents.length} recent events`,
        },
        {
          name: `bytes ${size.label}: encoded (SnapshotStore)`,
          baseline: jsonName,
          measurement: { kind: 'value', value: stats.lastBytes, unit: 'bytes', what: 'stats().lastBytes after create: the MessagePack bytes of one snapshot' },
          note: `the data buffer holds ${stats.dataBytes} B for its 4 slots (2 × the first snapshot each, rounded up to 64 B)`,
        },
      ]
    }),
  )
}
