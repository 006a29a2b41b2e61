/**
 * The SharedMap cases (see map.ts for the suite), all timed on main:
 *
 * - `get` and `set`: tinybench tasks in batches (micro.ts), the SharedMap
 *   next to the Mutex table and the `postMessage` owner (map-threads.ts),
 *   alternating. `get` runs in phases: without a writer (every variant in
 *   one pass), then with the writer worker writing flat out into the map
 *   being timed (one phase per map, phases alternating between rounds).
 * - `build`: 1M keys into a SharedMap (set, set pre-sized, setMany in batches
 *   of 1000) against a plain `Map`; one sample per build.
 * - `bytes`: the SharedMap's bytes per key at 1M keys against the JS heap a
 *   plain `Map` of the same entries takes.
 *
 * @module
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { SharedMap } from 'threadstate'
import { Bench } from 'tinybench'
import type { MapProfile } from './map.js'
import { MapRig, type MapValue, type WriterRound } from './map-threads.js'
import { measureMicro, perOp, type MicroProfile, type MicroTask } from './micro.js'
import { formatRate, summarize, type Row, type Target } from './report.js'
import { bareCodec } from './workers/codec.js'
import { MapWriterKind } from './workers/map-kinds.js'
import {
  NUMBER_KEYS,
  OBJECT_KEYS,
  POOL,
  READING_JSON_BYTES,
  bigKey,
  numberValue,
  reading,
  type Reading,
} from './workers/map-values.js'

const ISSUE = 'SharedMap bench issue'
const GET_TARGET: Target = { metric: 'median', atMostMs: 200e-6, source: `${ISSUE}: get of a small value with a concurrent writer <= 200 ns` }

/** Operations per sample of the synchronous tasks (one op is tens to hundreds of ns). */
const BATCH = 1000
/** setMany() calls per sample (one is a few µs). */
const UPDATE_BATCH = 100
/** Round trips per sample of the postMessage tasks (one is tens of µs). */
const MESSAGE_BATCH = 20
/** Keys per setMany() call. */
const UPDATE_KEYS = 10
const MASK = POOL - 1

/** Keeps results alive so the JIT cannot drop the work; checked at the end of each case. */
let sink = 0

function checkSink(): void {
  if (!Number.isFinite(sink)) throw new Error(`Expected the bench's sink to stay finite, got ${sink}`)
}

function checkReads(bad: number, what: string): void {
  if (bad !== 0) throw new Error(`Expected every ${what} to return a whole value of its pool, got ${bad} others`)
}

function medianOf(rows: readonly Row[], name: string): number {
  const m = rows.find((r) => r.name === name)?.measurement
  if (m?.kind !== 'latency') throw new Error(`Expected a latency row named ${name}, got ${m?.kind ?? 'none'}`)
  return m.medianMs
}

/** A "SharedMap ÷ postMessage" row: the ratio of the SharedMap against the alternative without a baseline column of its own. */
function versusMessage(rows: readonly Row[], op: string, shared: string, message: string): Row {
  return {
    name: `${op}: SharedMap ÷ postMessage`,
    measurement: { kind: 'value', value: medianOf(rows, shared) / medianOf(rows, message), unit: '×', what: `median ${shared} ÷ median ${message}, same run` },
    note: `one postMessage round trip = ${(medianOf(rows, message) / medianOf(rows, shared)).toFixed(0)} SharedMap ${op.split(/[ ,]/)[0]}s`,
  }
}

// ---- tinybench passes pooled by hand (get runs in phases) --------------------------

/** One tinybench pass over `tasks` (in reverse order if `reversed`); appends each task's samples to `pooled`. */
async function pass(tasks: readonly MicroTask[], p: MicroProfile, reversed: boolean, pooled: Map<string, number[]>): Promise<void> {
  const bench = new Bench({ time: p.microTimeMs, warmupTime: p.microWarmupMs, retainSamples: true, throws: true })
  for (const task of reversed ? [...tasks].reverse() : tasks) bench.add(task.name, task.fn)
  await bench.run()
  for (const task of bench.tasks) {
    const result = task.result
    if (result.state !== 'completed' || !result.latency.samples) {
      throw new Error(`Expected tinybench task ${task.name} to complete with samples, got state ${result.state}`)
    }
    let into = pooled.get(task.name)
    if (!into) pooled.set(task.name, (into = []))
    for (const sample of result.latency.samples) into.push(sample)
  }
}

/** Latency rows of `tasks` from their pooled samples, with `extra` appended to a row's note. */
function pooledRows(tasks: readonly MicroTask[], pooled: ReadonlyMap<string, readonly number[]>, extra: ReadonlyMap<string, string> = new Map()): Row[] {
  return tasks.map((task) => {
    const s = summarize(pooled.get(task.name)!)
    const note = [task.note, extra.get(task.name)].filter((n) => n !== undefined).join('; ')
    return {
      name: task.name,
      measurement: { kind: 'latency', medianMs: s.median, p99Ms: s.p99, samples: s.count, sample: `mean of a ${task.batch}-op batch` },
      ...(task.baseline === undefined ? {} : { baseline: task.baseline }),
      ...(task.target === undefined ? {} : { target: task.target }),
      ...(note === '' ? {} : { note }),
    }
  })
}

// ---- get ---------------------------------------------------------------------------

/** Row names of a get variant; `suffix` is '' or ', writer'. */
function getNames(value: 'number' | 'object', suffix: string): { shared: string; table: string; message: string; op: string } {
  const op = `get ${value}${suffix}`
  return { op, shared: `${op}: SharedMap`, table: `${op}: Mutex table`, message: `${op}: postMessage` }
}

/** A SharedMap task's reads: gets done, and the map's retry counters over them (from stats(), outside the timed loop). */
interface ReadCount {
  gets: number
  retries: number
  lockedReads: number
}

/** Per SharedMap get task, by row name. */
const readCounts = new Map<string, ReadCount>()

/** Adds a batch's reads to `name`'s count; `before` is stats() taken before the batch. */
function countReads(name: string, map: MapRig['map'], before: { readonly readRetries: number; readonly lockedReads: number }): void {
  const after = map.stats()
  let c = readCounts.get(name)
  if (!c) readCounts.set(name, (c = { gets: 0, retries: 0, lockedReads: 0 }))
  c.gets += BATCH
  c.retries += after.readRetries - before.readRetries
  c.lockedReads += after.lockedReads - before.lockedReads
}

/** The get tasks of one value kind, one per map; loops written out per task so each call site stays monomorphic. */
function getTasks(rig: MapRig, value: 'number' | 'object', writer: boolean): { shared: MicroTask; table: MicroTask; message: MicroTask; frozen?: MicroTask } {
  const names = getNames(value, writer ? ', writer' : '')
  const target = GET_TARGET
  const { map, table, rpc } = rig
  let cursor = 0
  if (value === 'number') {
    return {
      shared: {
        name: names.shared,
        baseline: names.table,
        target,
        batch: BATCH,
        note: 'inline Float64, no codec; each value checked to be a number',
        fn: () => {
          let bad = 0
          const before = map.stats()
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) {
            const v = map.get(NUMBER_KEYS[k & MASK]!)
            if (typeof v === 'number') sink += v
            else bad++
          }
          const elapsed = performance.now() - t0
          countReads(names.shared, map, before)
          checkReads(bad, names.shared)
          return perOp(elapsed, BATCH)
        },
      },
      table: {
        name: names.table,
        batch: BATCH,
        note: 'lock, probe, slice the MessagePack bytes, unlock, msgpackr unpack (workers/map-table.ts)',
        fn: () => {
          let bad = 0
          const t0 = performance.now()
          for (let k = 0; k < BATCH; k++) {
            const v = table.get(NUMBER_KEYS[k & MASK]!)
            if (typeof v === 'number') sink += v
            else bad++
          }
          const elapsed = performance.now() - t0
          checkReads(bad, names.table)
          return perOp(elapsed, BATCH)
        },
      },
      message: {
        name: names.message,
        batch: MESSAGE_BATCH,
        note: 'main posts { op: get, key }, the owner worker replies with map.get(key) (structured clone), main awaits it',
        fn: async () => {
          let bad = 0
          const t0 = performance.now()
          for (let k = 0; k < MESSAGE_BATCH; k++) {
            const v = await rpc.request({ op: 'get', key: NUMBER_KEYS[cursor++ & MASK]! })
            if (typeof v === 'number') sink += v
            else bad++
          }
          const elapsed = performance.now() - t0
          checkReads(bad, names.message)
          return perOp(elapsed, MESSAGE_BATCH)
        },
      },
    }
  }
  const whole = (v: Reading | undefined): boolean => v !== undefined && v.sum === v.id + v.seq
  const frozenName = `${names.op}: SharedMap getFrozen`
  return {
    frozen: {
      name: frozenName,
      baseline: names.table,
      target,
      batch: BATCH,
      note:
        'getFrozen: lookup and entry version under the seqlock; the thread\'s deep-frozen decoded object while the key is unchanged, ' +
        'else copy + decode (frozen) as get(); each checked (sum = id + seq)',
      fn: () => {
        let bad = 0
        const before = map.stats()
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          const v = map.getFrozen(OBJECT_KEYS[k & MASK]!) as Reading | undefined
          if (whole(v)) sink += v!.seq
          else bad++
        }
        const elapsed = performance.now() - t0
        countReads(frozenName, map, before)
        checkReads(bad, frozenName)
        return perOp(elapsed, BATCH)
      },
    },
    shared: {
      name: names.shared,
      baseline: names.table,
      target,
      batch: BATCH,
      note: `an object of ~${READING_JSON_BYTES} B as JSON: copy of its MessagePack bytes, then decode; each checked (sum = id + seq)`,
      fn: () => {
        let bad = 0
        const before = map.stats()
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          const v = map.get(OBJECT_KEYS[k & MASK]!) as Reading | undefined
          if (whole(v)) sink += v!.seq
          else bad++
        }
        const elapsed = performance.now() - t0
        countReads(names.shared, map, before)
        checkReads(bad, names.shared)
        return perOp(elapsed, BATCH)
      },
    },
    table: {
      name: names.table,
      batch: BATCH,
      note: 'lock, probe, slice the MessagePack bytes, unlock, msgpackr unpack (workers/map-table.ts)',
      fn: () => {
        let bad = 0
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          const v = table.get(OBJECT_KEYS[k & MASK]!) as Reading | undefined
          if (whole(v)) sink += v!.seq
          else bad++
        }
        const elapsed = performance.now() - t0
        checkReads(bad, names.table)
        return perOp(elapsed, BATCH)
      },
    },
    message: {
      name: names.message,
      batch: MESSAGE_BATCH,
      note: 'main posts { op: get, key }, the owner worker replies with map.get(key) (structured clone), main awaits it',
      fn: async () => {
        let bad = 0
        const t0 = performance.now()
        for (let k = 0; k < MESSAGE_BATCH; k++) {
          const v = (await rpc.request({ op: 'get', key: OBJECT_KEYS[cursor++ & MASK]! })) as Reading | undefined
          if (whole(v)) sink += v!.seq
          else bad++
        }
        const elapsed = performance.now() - t0
        checkReads(bad, names.message)
        return perOp(elapsed, MESSAGE_BATCH)
      },
    },
  }
}

/** Where get() of an object spends its time: msgpackr unpack alone (library options) of the same bytes, two ways. */
function decodePartTasks(): MicroTask[] {
  const shared = getNames('object', '').shared
  const bytes = bareCodec.pack(reading(512, 0))
  const scratch = new Uint8Array(256)
  scratch.set(bytes)
  const n = bytes.length
  return [
    {
      name: 'get object part: unpack of a fresh subarray',
      baseline: shared,
      batch: BATCH,
      note:
        `msgpackr unpack with the options of src/encoding/values.ts (workers/codec.ts) of the ${n} bytes, ` +
        'from a new subarray of a scratch buffer each time, as get() decodes its copy',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += (bareCodec.unpack(scratch.subarray(0, n)) as Reading).seq
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'get object part: unpack with { start, end }',
      baseline: shared,
      batch: BATCH,
      note: 'the same bytes decoded from the same scratch array with { start, end } (what decodeRange in src/encoding/values.ts does)',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += (bareCodec.unpack(scratch, { start: 0, end: n }) as Reading).seq
        return perOp(performance.now() - t0, BATCH)
      },
    },
  ]
}

const WRITER_KINDS = [MapWriterKind.SharedMap, MapWriterKind.MutexTable, MapWriterKind.Rpc] as const

/** Writer rounds of one writer kind, pooled over rounds. */
interface PhaseTotals {
  writes: number
  ms: number
}

/**
 * get of a number and of a ~50-byte object on main: SharedMap vs the Mutex
 * table vs a postMessage round trip to the owner, without a writer, then
 * with the writer worker writing the timed map flat out.
 */
export async function gets(p: MapProfile): Promise<Row[]> {
  const rig = new MapRig(true)
  const idle = [...(['number', 'object'] as const).flatMap((v) => Object.values(getTasks(rig, v, false))), ...decodePartTasks()]
  const busy = (['number', 'object'] as const).map((v) => getTasks(rig, v, true))
  const phaseTasks = new Map<number, MicroTask[]>([
    [MapWriterKind.SharedMap, busy.flatMap((t) => (t.frozen ? [t.shared, t.frozen] : [t.shared]))],
    [MapWriterKind.MutexTable, busy.map((t) => t.table)],
    [MapWriterKind.Rpc, busy.map((t) => t.message)],
  ])
  const totals = new Map<number, PhaseTotals>(WRITER_KINDS.map((k) => [k, { writes: 0, ms: 0 }]))
  const pooled = new Map<string, number[]>()
  await rig.use(async () => {
    for (let round = 0; round < p.microRounds; round++) {
      const reversed = round % 2 === 1
      await pass(idle, p, reversed, pooled)
      for (const kind of reversed ? [...WRITER_KINDS].reverse() : WRITER_KINDS) {
        rig.startWriter(kind)
        let done: WriterRound
        try {
          await pass(phaseTasks.get(kind)!, p, reversed, pooled)
        } finally {
          done = await rig.stopWriter()
        }
        const t = totals.get(kind)!
        t.writes += done.writes
        t.ms += done.ms
      }
    }
  })
  checkSink()
  const writerNote = (kind: number): string => {
    const t = totals.get(kind)!
    return `writer: ${formatRate((1000 * t.writes) / t.ms)} sets meanwhile`
  }
  const readNote = (name: string): string => {
    const c = readCounts.get(name)!
    return `${(c.retries / c.gets).toFixed(3)} retries per get, ${c.lockedReads} of ${c.gets} gets fell back to the lock (stats() around each batch)`
  }
  const extra = new Map<string, string>()
  for (const b of busy) {
    extra.set(b.shared.name, `${writerNote(MapWriterKind.SharedMap)}; ${readNote(b.shared.name)}`)
    if (b.frozen) extra.set(b.frozen.name, `${writerNote(MapWriterKind.SharedMap)}; ${readNote(b.frozen.name)}`)
    extra.set(b.table.name, writerNote(MapWriterKind.MutexTable))
    extra.set(b.message.name, `${writerNote(MapWriterKind.Rpc)} (set round trips from the writer worker: 3 busy threads on 2 cores)`)
  }
  const busyTasks = busy.flatMap((b) => [b.table, b.message, b.shared, ...(b.frozen ? [b.frozen] : [])])
  const rows = [...pooledRows(idle, pooled), ...pooledRows(busyTasks, pooled, extra)]
  const ratios = (['number', 'object'] as const).flatMap((v) =>
    ['', ', writer'].map((suffix) => {
      const n = getNames(v, suffix)
      return versusMessage(rows, n.op, n.shared, n.message)
    }),
  )
  // Group each operation's rows: alternatives, SharedMap, parts, then the ÷ postMessage rows.
  const order = (r: Row): number => (r.name.includes(': Mutex table') ? 0 : r.name.includes(': postMessage') ? 1 : r.name.includes(' part: ') ? 3 : 2)
  const byOp = (op: string): Row[] => rows.filter((r) => r.name.startsWith(`${op}:`) || r.name.startsWith(`${op} part:`)).sort((a, b) => order(a) - order(b))
  return [
    ...byOp('get number'),
    ...byOp('get object'),
    ...byOp('get number, writer'),
    ...byOp('get object, writer'),
    ...ratios,
  ]
}

// ---- set and setMany --------------------------------------------------------------------

function setNames(op: string): { shared: string; table: string; message: string } {
  return { shared: `${op}: SharedMap`, table: `${op}: Mutex table`, message: `${op}: postMessage` }
}

const SET_OPS = ['set number', 'set object', `setMany ${UPDATE_KEYS} numbers`] as const

function setTasks(rig: MapRig): MicroTask[] {
  const { map, table, rpc } = rig
  const readings = Array.from({ length: POOL }, (_, i) => reading(i, 1))
  const groups = Array.from({ length: Math.floor(POOL / UPDATE_KEYS) }, (_, g) =>
    Array.from({ length: UPDATE_KEYS }, (_, j): [string, MapValue] => [NUMBER_KEYS[g * UPDATE_KEYS + j]!, numberValue(g)]),
  )
  const G = groups.length
  let seq = 0
  let cursor = 0
  const [setNumber, setObject, update] = SET_OPS.map(setNames) as [ReturnType<typeof setNames>, ReturnType<typeof setNames>, ReturnType<typeof setNames>]
  const message = 'main posts the request, the owner worker applies it to its Map and replies with the size, main awaits it'
  const tableNote = 'msgpackr pack outside the lock, then lock, probe, copy the bytes in, unlock (workers/map-table.ts)'
  return [
    {
      name: setNumber.table,
      batch: BATCH,
      note: tableNote,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) table.set(NUMBER_KEYS[k & MASK]!, numberValue(seq++))
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: setNumber.message,
      batch: MESSAGE_BATCH,
      note: message,
      fn: async () => {
        const t0 = performance.now()
        for (let k = 0; k < MESSAGE_BATCH; k++) sink += (await rpc.request({ op: 'set', key: NUMBER_KEYS[cursor++ & MASK]!, value: numberValue(seq++) })) as number
        return perOp(performance.now() - t0, MESSAGE_BATCH)
      },
    },
    {
      name: setNumber.shared,
      baseline: setNumber.table,
      batch: BATCH,
      note: 'overwrites an existing key: writer Mutex, SEQ odd, new entry block (the old one to its free list), SEQ even',
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += map.set(NUMBER_KEYS[k & MASK]!, numberValue(seq++))
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: setObject.table,
      batch: BATCH,
      note: tableNote,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) table.set(OBJECT_KEYS[k & MASK]!, readings[k & MASK]!)
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: setObject.message,
      batch: MESSAGE_BATCH,
      note: message,
      fn: async () => {
        const t0 = performance.now()
        for (let k = 0; k < MESSAGE_BATCH; k++) {
          const i = cursor++ & MASK
          sink += (await rpc.request({ op: 'set', key: OBJECT_KEYS[i]!, value: readings[i]! })) as number
        }
        return perOp(performance.now() - t0, MESSAGE_BATCH)
      },
    },
    {
      name: setObject.shared,
      baseline: setObject.table,
      batch: BATCH,
      note: `an object of ~${READING_JSON_BYTES} B as JSON: encodability walk and MessagePack encode before the lock, then as set number`,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += map.set(OBJECT_KEYS[k & MASK]!, readings[k & MASK]!)
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'set object part: msgpackr pack alone',
      baseline: setObject.shared,
      batch: BATCH,
      note:
        'msgpackr pack of the same object with the options of src/encoding/values.ts for large values (workers/codec.ts); ' +
        "set itself no longer calls it for a small object: its checking walk writes the bytes (values.ts, SMALL VALUES)",
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) sink += bareCodec.pack(readings[k & MASK]!).length
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: update.table,
      batch: UPDATE_BATCH,
      note: `${UPDATE_KEYS} values packed, then one lock around the ${UPDATE_KEYS} writes`,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < UPDATE_BATCH; k++) table.update(groups[(cursor++ & 0xffff) % G]!)
        return perOp(performance.now() - t0, UPDATE_BATCH)
      },
    },
    {
      name: update.message,
      batch: MESSAGE_BATCH,
      note: `one request carrying the ${UPDATE_KEYS} entries; the owner sets them and replies`,
      fn: async () => {
        const t0 = performance.now()
        for (let k = 0; k < MESSAGE_BATCH; k++) sink += (await rpc.request({ op: 'update', entries: groups[(cursor++ & 0xffff) % G]! })) as number
        return perOp(performance.now() - t0, MESSAGE_BATCH)
      },
    },
    {
      name: update.shared,
      baseline: update.table,
      batch: UPDATE_BATCH,
      note: `setMany() of an array of ${UPDATE_KEYS} [key, number] pairs: one commit`,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < UPDATE_BATCH; k++) sink += map.setMany(groups[(cursor++ & 0xffff) % G]!)
        return perOp(performance.now() - t0, UPDATE_BATCH)
      },
    },
  ]
}

/** set of a number and of a ~50-byte object, setMany of 10 keys: SharedMap vs the Mutex table vs postMessage. */
export async function sets(p: MapProfile): Promise<Row[]> {
  const rig = new MapRig(false)
  const rows = await rig.use(() => measureMicro(setTasks(rig), p))
  checkSink()
  const updateOp = SET_OPS[2]
  const perKey = (medianOf(rows, setNames(updateOp).shared) / UPDATE_KEYS) * 1e6
  const withPerKey = rows.map((r) => (r.name === setNames(updateOp).shared ? { ...r, note: `${r.note}; ${perKey.toFixed(0)} ns per key` } : r))
  return [...withPerKey, ...SET_OPS.map((op) => versusMessage(rows, op, setNames(op).shared, setNames(op).message))]
}

// ---- 1M keys: build time ------------------------------------------------------------------

/** Keys of the 1M-key benches. */
const BIG = 1_000_000
/** Keys per setMany() call when building with update. */
const BUILD_BATCH = 1000

/**
 * A full garbage collection, if this process can get one: `--expose-gc` is
 * not passed to the bench, so it is switched on at run time and `gc` taken
 * from a fresh context (best effort; undefined if that fails).
 */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? () => void gc() : undefined
  } catch {
    return undefined
  }
}

const B = {
  plain: `build ${BIG / 1e6}M: plain Map set (not shared)`,
  set: `build ${BIG / 1e6}M: SharedMap set()`,
  sized: `build ${BIG / 1e6}M: SharedMap set(), initialCapacity 1M`,
  update: `build ${BIG / 1e6}M: SharedMap setMany() × ${BIG / BUILD_BATCH} batches`,
} as const

/** Builds of 1M number entries, keys made beforehand: plain Map vs SharedMap set / pre-sized set / update in batches. */
export function builds(p: MapProfile): Promise<Row[]> {
  const gc = collector()
  const keys = Array.from({ length: BIG }, (_, i) => bigKey(i))
  const maxBytes = 1 << 30
  const builders: [string, () => number][] = [
    [
      B.plain,
      () => {
        const map = new Map<string, number>()
        for (let i = 0; i < BIG; i++) map.set(keys[i]!, numberValue(i))
        return map.size
      },
    ],
    [
      B.set,
      () => {
        const map = SharedMap.create<number>({ maxBytes })
        for (let i = 0; i < BIG; i++) map.set(keys[i]!, numberValue(i))
        return map.size
      },
    ],
    [
      B.sized,
      () => {
        const map = SharedMap.create<number>({ maxBytes, initialCapacity: BIG })
        for (let i = 0; i < BIG; i++) map.set(keys[i]!, numberValue(i))
        return map.size
      },
    ],
    [
      B.update,
      () => {
        const map = SharedMap.create<number>({ maxBytes })
        const batch = Array.from({ length: BUILD_BATCH }, (): [string, number] => ['', 0])
        for (let i = 0; i < BIG; i += BUILD_BATCH) {
          for (let j = 0; j < BUILD_BATCH; j++) {
            batch[j]![0] = keys[i + j]!
            batch[j]![1] = numberValue(i + j)
          }
          map.setMany(batch)
        }
        return map.size
      },
    ],
  ]
  const samples = new Map<string, number[]>(builders.map(([name]) => [name, []]))
  for (let round = 0; round < p.buildRounds; round++) {
    for (const [name, build] of round % 2 === 0 ? builders : [...builders].reverse()) {
      gc?.()
      const t0 = performance.now()
      const size = build()
      const ms = performance.now() - t0
      if (size !== BIG) throw new Error(`Expected ${name} to hold ${BIG} keys, got ${size}`)
      samples.get(name)!.push(ms)
    }
  }
  const baselines: Record<string, string | undefined> = { [B.plain]: undefined, [B.set]: B.plain, [B.sized]: B.set, [B.update]: B.set }
  const notes: Record<string, string> = {
    [B.plain]: 'Map<string, number>, the same keys and values; a thread-local Map, shown as the floor',
    [B.set]: `${BIG} set() calls from an empty map (default initialCapacity: the table and arena grow as it fills)`,
    [B.sized]: 'the same into a map created for 1M entries (no table growth)',
    [B.update]: `${BIG / BUILD_BATCH} setMany() calls of ${BUILD_BATCH} [key, value] pairs each (one commit each)`,
  }
  const gcNote = gc ? 'full GC before each build' : 'no GC between builds (gc unavailable)'
  return Promise.resolve(
    builders.map(([name]): Row => {
      const s = summarize(samples.get(name)!)
      const baseline = baselines[name]
      return {
        name,
        measurement: { kind: 'latency', medianMs: s.median, p99Ms: s.p99, samples: s.count, sample: `one build of ${BIG} keys` },
        ...(baseline === undefined ? {} : { baseline }),
        note: `${notes[name]}; ${((s.median / BIG) * 1e6).toFixed(0)} ns per key; ${s.count} builds, ${gcNote}`,
      }
    }),
  )
}

// ---- 1M keys: bytes ---------------------------------------------------------------------

/** Rounds a bytes-per-key figure to 0.1 B. */
const perKey = (bytes: number): number => Math.round((10 * bytes) / BIG) / 10

/** Bytes per key of 1M entries: SharedMap usedBytes and dataBytes vs the heap of a plain Map of the same entries. */
export function bytes(): Promise<Row[]> {
  const gc = collector()
  const heapUsed = (): number => {
    gc?.()
    return process.memoryUsage().heapUsed
  }
  const kinds = [
    { label: 'numbers', value: (i: number): MapValue => numberValue(i) },
    { label: `~${READING_JSON_BYTES} B objects`, value: (i: number): MapValue => reading(i & 0xffff, i) },
  ] as const
  const rows = kinds.flatMap((kind): Row[] => {
    const h0 = heapUsed()
    const plain = new Map<string, MapValue>()
    for (let i = 0; i < BIG; i++) plain.set(bigKey(i), kind.value(i))
    const heap = heapUsed() - h0
    sink += plain.size
    const map = SharedMap.create<MapValue>({ maxBytes: 1 << 30 })
    const batch = Array.from({ length: BUILD_BATCH }, (): [string, MapValue] => ['', 0])
    for (let i = 0; i < BIG; i += BUILD_BATCH) {
      for (let j = 0; j < BUILD_BATCH; j++) {
        batch[j]![0] = bigKey(i + j)
        batch[j]![1] = kind.value(i + j)
      }
      map.setMany(batch)
    }
    const stats = map.stats()
    if (stats.size !== BIG || plain.size !== BIG) throw new Error(`Expected ${BIG} entries in both maps, got ${stats.size} and ${plain.size}`)
    const plainName = `bytes/key 1M ${kind.label}: plain Map (JS heap)`
    const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`
    return [
      {
        name: plainName,
        measurement: { kind: 'value', value: perKey(heap), unit: 'bytes', what: `process.memoryUsage().heapUsed after − before building the Map, ÷ ${BIG}` },
        note:
          `${mb(heap)} of heap for keys \`sensor/<i>\`, values and the Map; ` +
          (gc ? 'full GC before each reading (gc switched on at run time: best effort)' : 'no GC available: garbage may be counted'),
      },
      {
        name: `bytes/key 1M ${kind.label}: SharedMap usedBytes`,
        baseline: plainName,
        measurement: { kind: 'value', value: perKey(stats.usedBytes), unit: 'bytes', what: `stats().usedBytes ÷ ${BIG}, built with setMany() in batches of ${BUILD_BATCH}` },
        note:
          `${mb(stats.usedBytes)} handed out, of which ${mb(stats.freeBytes)} on free lists (outgrown tables); ` +
          `table of ${stats.tableCapacity} slots = ${mb(8 * stats.tableCapacity)}`,
      },
      {
        name: `bytes/key 1M ${kind.label}: SharedMap dataBytes`,
        baseline: plainName,
        measurement: { kind: 'value', value: perKey(stats.dataBytes), unit: 'bytes', what: `stats().dataBytes ÷ ${BIG}: the data buffer as grown` },
        note: `${mb(stats.dataBytes)} data buffer (SharedArrayBuffer, outside the JS heap); the control, journal and change-log buffers are not counted`,
      },
    ]
  })
  checkSink()
  return Promise.resolve(rows)
}
