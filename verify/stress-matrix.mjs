// Stress matrix (jcstress-style): every primitive under more workers than
// cores (4+ on 2), checksummed payloads, exact counters, invariants across
// keys; one row of figures per primitive, and deliberately broken variants
// that must show failures (proof that each check can fail).
//
//   node verify/stress-matrix.mjs [--scale N] [--json path]
//
// Runs against the built package (dist/) with the test fixture workers.
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { Worker } from 'node:worker_threads'
import { Mutex, RWLock, ReentrantMutex, Semaphore, SharedMap, SnapshotStore, StateBuffer, StateMachine, TriggerFlags, schema, vec } from '../dist/index.js'
import { valueAt } from '../test/fixtures/map-values.mjs'

const args = process.argv.slice(2)
const scale = Number(args[args.indexOf('--scale') + 1] ?? 1) || 1
const jsonPath = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined
const WORKERS = 4

const fixture = (name) => new URL(`../test/fixtures/${name}`, import.meta.url)

function spawn(file, scenario, data) {
  const worker = new Worker(fixture(file), { workerData: { scenario, ...data } })
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => (m.ok ? resolve(m.value) : reject(new Error(`${scenario}: ${m.error.name}: ${m.error.message}`))))
    worker.once('error', reject)
  })
}

const flagsOf = () => new Int32Array(new SharedArrayBuffer(64))
async function until(flags, index, value) {
  while (Atomics.load(flags, index) < value) await new Promise((r) => setTimeout(r, 2))
}
function raise(flags, index) {
  Atomics.store(flags, index, 1)
  Atomics.notify(flags, index)
}

/** Wait-time figures of a lock's stats: percentiles of contended acquisitions from its log2 histogram. */
function lockWaits(s) {
  const t = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`)
  return `${s.contended.toLocaleString('en-US')} contended: p50 ${t(s.waitP50Ms)}, p90 ${t(s.waitP90Ms)}, p99 ${t(s.waitP99Ms)}, max ${t(s.waitMaxMs)}`
}

/** A lock kind under 4 workers incrementing two plain fields: lost updates and broken invariants. */
async function lockRow(kind) {
  const create = { Mutex: () => Mutex.create(), ReentrantMutex: () => ReentrantMutex.create(), RWLock: () => RWLock.create(), Semaphore: () => Semaphore.create({ permits: 1, max: 1 }), none: () => ({ handle: undefined }) }
  const lock = create[kind]()
  const data = new Int32Array(new SharedArrayBuffer(16))
  const flags = flagsOf()
  const iterations = 250_000 * scale
  const started = performance.now()
  const runs = Array.from({ length: WORKERS }, () => spawn('worker.mjs', 'count', { kind, handle: lock.handle, data, iterations, flags }))
  await until(flags, 1, WORKERS)
  raise(flags, 0)
  const out = await Promise.all(runs)
  const ops = WORKERS * iterations
  const stats = kind === 'none' ? undefined : lock.stats()
  const write = stats?.write ?? stats
  return {
    primitive: kind === 'none' ? 'no lock (broken variant)' : kind,
    workers: WORKERS,
    ops,
    torn: '—',
    lost: ops - data[0],
    invariantBreaks: out.reduce((n, r) => n + r.breaks, 0),
    retryRatio: '—',
    longestRetryStreak: '—',
    wait: write && typeof write.waitP50Ms === 'number' ? lockWaits(write) : stats && typeof stats.contended === 'number' ? `${stats.contended.toLocaleString('en-US')} contended (no wait times kept)` : '—',
    ms: performance.now() - started,
    expectFailure: kind === 'none',
  }
}

/** StateBuffer: a writer flat out, 4 checksumming readers. */
async function stateBufferRow() {
  const buf = StateBuffer.create(schema({ a: vec(25) }), { history: 16 })
  const flags = flagsOf()
  const readsEach = 1_000_000 * scale
  const started = performance.now()
  const writer = spawn('worker.mjs', 'sbWriter', { handle: buf.handle, flags })
  const readers = await Promise.all(Array.from({ length: WORKERS }, () => spawn('worker.mjs', 'sbReader', { handle: buf.handle, flags, reads: readsEach })))
  raise(flags, 0)
  const written = await writer
  const s = buf.stats()
  const reads = readers.reduce((n, r) => n + r.reads, 0)
  return {
    primitive: 'StateBuffer (1 writer, 4 readers)',
    workers: WORKERS + 1,
    ops: reads + written,
    torn: readers.reduce((n, r) => n + r.torn, 0),
    lost: readers.reduce((n, r) => n + r.backwards, 0),
    invariantBreaks: 0,
    retryRatio: (s.readRetries / Math.max(1, s.reads)).toFixed(5),
    longestRetryStreak: s.longestRetryStreak,
    wait: '—',
    ms: performance.now() - started,
  }
}

/** SnapshotStore: a writer of checksummed nested snapshots flat out, 4 readers. */
async function snapshotRow() {
  const store = SnapshotStore.create({ initial: { boot: true } })
  const flags = flagsOf()
  const started = performance.now()
  const writer = spawn('worker.mjs', 'snapWriter', { handle: store.handle, flags })
  const readers = await Promise.all(Array.from({ length: WORKERS }, () => spawn('worker.mjs', 'snapReader', { handle: store.handle, flags, reads: 20_000 * scale })))
  raise(flags, 0)
  const published = await writer
  const s = store.stats()
  return {
    primitive: 'SnapshotStore (1 writer, 4 readers)',
    workers: WORKERS + 1,
    ops: WORKERS * 20_000 * scale + published,
    torn: readers.reduce((n, r) => n + r.torn, 0),
    lost: '—',
    invariantBreaks: readers.reduce((n, r) => n + r.identity, 0),
    retryRatio: (s.readRetries / Math.max(1, s.decodes + s.readRetries)).toFixed(5),
    longestRetryStreak: s.longestRetryStreak,
    wait: '—',
    ms: performance.now() - started,
  }
}

/** SharedMap: 2 writers of 12-key updates ('sets': the broken variant), 4 readers checking one generation across keys. */
async function mapRow(mode) {
  const map = SharedMap.create()
  const keys = 12
  const seed = {}
  for (let i = 0; i < keys; i++) seed[`k${i}`] = valueAt(i, 0)
  map.setMany(seed)
  const flags = flagsOf()
  const writers = mode === 'sets' ? 1 : 2
  const started = performance.now()
  const ws = Array.from({ length: writers }, (_, id) => spawn('map-worker.mjs', 'mapWriter', { handle: map.handle, flags, keys, mode, start: id * 1e6 }))
  const rs = Array.from({ length: WORKERS }, () => spawn('map-worker.mjs', 'mapReader', { handle: map.handle, flags, keys, reads: 50_000 * scale }))
  await until(flags, 1, writers + WORKERS)
  raise(flags, 2)
  const readers = await Promise.all(rs)
  raise(flags, 0)
  const commits = (await Promise.all(ws)).reduce((a, b) => a + b, 0)
  const s = map.stats()
  const reads = readers.reduce((n, r) => n + r.reads, 0)
  return {
    primitive: mode === 'sets' ? 'SharedMap, update as separate sets (broken variant)' : `SharedMap (${writers} writers of 12-key ${mode}s, 4 readers)`,
    workers: writers + WORKERS,
    ops: reads + commits,
    torn: readers.reduce((n, r) => n + r.torn, 0),
    lost: '—',
    invariantBreaks: readers.reduce((n, r) => n + r.mixed, 0),
    retryRatio: (s.readRetries / Math.max(1, reads)).toFixed(5),
    longestRetryStreak: s.longestRetryStreak,
    wait: `${s.lockedReads} reads fell back to the lock`,
    ms: performance.now() - started,
    expectFailure: mode === 'sets',
  }
}

/** SharedMap.getFrozen: 4 readers of one key at a time vs a writer of growing generations; no stale value once it stops. */
async function mapFrozenRow() {
  const map = SharedMap.create()
  const keys = 12
  const seed = {}
  for (let i = 0; i < keys; i++) seed[`k${i}`] = valueAt(i, 0)
  map.setMany(seed)
  const flags = flagsOf()
  const started = performance.now()
  const writer = spawn('map-worker.mjs', 'mapWriter', { handle: map.handle, flags, keys, mode: 'transaction' })
  const rs = Array.from({ length: WORKERS }, () => spawn('map-worker.mjs', 'mapFrozenReader', { handle: map.handle, flags, keys, reads: 200_000 * scale }))
  await until(flags, 1, WORKERS + 1)
  raise(flags, 2)
  await until(flags, 4, WORKERS)
  raise(flags, 0)
  const commits = await writer
  raise(flags, 5)
  const readers = await Promise.all(rs)
  const s = map.stats()
  const reads = readers.reduce((n, r) => n + r.reads, 0)
  return {
    primitive: 'SharedMap getFrozen (1 writer, 4 readers)',
    workers: WORKERS + 1,
    ops: reads + commits,
    torn: readers.reduce((n, r) => n + r.torn, 0),
    lost: readers.reduce((n, r) => n + r.backwards + r.stale, 0),
    invariantBreaks: 0,
    retryRatio: (s.readRetries / Math.max(1, reads)).toFixed(5),
    longestRetryStreak: s.longestRetryStreak,
    wait: `${((100 * readers.reduce((n, r) => n + r.reused, 0)) / Math.max(1, reads)).toFixed(1)} % of reads reused the cached object`,
    ms: performance.now() - started,
  }
}

/** SharedMap transactions: exact increments from 4 workers ('racy': get then set, broken). */
async function mapCounterRow(mode) {
  const map = SharedMap.create()
  const flags = flagsOf()
  const iterations = 10_000 * scale
  const started = performance.now()
  const ws = Array.from({ length: WORKERS }, (_, id) => spawn('map-worker.mjs', 'mapIncrement', { handle: map.handle, flags, id, iterations, mode }))
  await until(flags, 1, WORKERS)
  raise(flags, 2)
  await Promise.all(ws)
  return {
    primitive: mode === 'racy' ? 'SharedMap get-then-set counter (broken variant)' : 'SharedMap transaction counter',
    workers: WORKERS,
    ops: WORKERS * iterations,
    torn: '—',
    lost: WORKERS * iterations - map.get('count'),
    invariantBreaks: 0,
    retryRatio: '—',
    longestRetryStreak: '—',
    wait: '—',
    ms: performance.now() - started,
    expectFailure: mode === 'racy',
  }
}

/** StateMachine: 4 workers race the same transitions. */
async function machineRow() {
  const fsm = StateMachine.create({
    states: ['s0', 's1', 's2', 's3', 'estop'],
    initial: 's0',
    transitions: { s0: ['s1'], s1: ['s2'], s2: ['s3'], s3: ['s0'], estop: ['s0'] },
    anyTo: ['estop'],
    historySize: 1 << 16,
  })
  const flags = flagsOf()
  const attempts = 10_000 * scale
  const started = performance.now()
  const ws = Array.from({ length: WORKERS }, (_, id) => spawn('machine-worker.mjs', 'fsmRace', { handle: fsm.handle, flags, id, attempts, estopEvery: 7 }))
  await until(flags, 1, WORKERS)
  raise(flags, 2)
  const out = await Promise.all(ws)
  const wins = out.flatMap((o) => o.won)
  const history = fsm.history()
  let illegal = 0
  for (let i = 1; i < history.length; i++) if (history[i].from !== history[i - 1].to || !fsm.canTransition(history[i].to, history[i].from)) illegal++
  return {
    primitive: 'StateMachine (4 racing workers)',
    workers: WORKERS,
    ops: WORKERS * attempts,
    torn: '—',
    lost: Math.abs(fsm.stats().transitions - wins.length) + (wins.length - new Set(wins).size),
    invariantBreaks: illegal,
    retryRatio: '—',
    longestRetryStreak: '—',
    wait: `${fsm.stats().rejected} refused`,
    ms: performance.now() - started,
  }
}

/** TriggerFlags: 4 setters, one taker ('racy': read then clear, broken). */
async function flagsRow(racy) {
  const triggers = TriggerFlags.create(['a', 'b', 'c', 'd'])
  const flags = flagsOf()
  const times = 20_000 * scale
  const started = performance.now()
  const setters = ['a', 'b', 'c', 'd'].map((name) => spawn('machine-worker.mjs', 'flagSet', { handle: triggers.handle, flags, name, times }))
  const taker = spawn('machine-worker.mjs', 'flagTake', { handle: triggers.handle, flags, racy })
  await until(flags, 1, 5)
  raise(flags, 2)
  const fresh = await Promise.all(setters)
  raise(flags, 0)
  const taken = await taker
  const lost = ['a', 'b', 'c', 'd'].reduce((n, name, i) => n + fresh[i] - (taken[name] ?? 0), 0)
  return {
    primitive: racy ? 'TriggerFlags read-then-clear (broken variant)' : 'TriggerFlags takeAll',
    workers: 5,
    ops: 4 * times,
    torn: '—',
    lost,
    invariantBreaks: 0,
    retryRatio: '—',
    longestRetryStreak: '—',
    wait: '—',
    ms: performance.now() - started,
    expectFailure: racy,
  }
}

const rows = []
const plan = [
  () => lockRow('Mutex'),
  () => lockRow('ReentrantMutex'),
  () => lockRow('RWLock'),
  () => lockRow('Semaphore'),
  () => lockRow('none'),
  () => stateBufferRow(),
  () => snapshotRow(),
  () => mapRow('update'),
  () => mapRow('transaction'),
  () => mapRow('sets'),
  () => mapFrozenRow(),
  () => mapCounterRow('transaction'),
  () => mapCounterRow('racy'),
  () => machineRow(),
  () => flagsRow(false),
  () => flagsRow(true),
]
for (const step of plan) {
  const row = await step()
  const failures = [row.torn, row.lost, row.invariantBreaks].filter((x) => typeof x === 'number').reduce((a, b) => a + b, 0)
  row.result = row.expectFailure ? (failures > 0 ? 'caught (expected)' : 'NOT CAUGHT') : failures === 0 ? 'pass' : 'FAIL'
  rows.push(row)
  process.stderr.write(`${row.primitive}: ${row.result} (${(row.ms / 1000).toFixed(1)} s)\n`)
}

const cols = ['primitive', 'workers', 'ops', 'torn', 'lost', 'invariantBreaks', 'retryRatio', 'longestRetryStreak', 'wait', 'result']
console.log(`| ${['primitive', 'workers', 'operations', 'torn reads', 'lost updates', 'invariant breaks', 'retries / read', 'longest retry streak', 'waits', 'result'].join(' | ')} |`)
console.log(`|${cols.map(() => '---').join('|')}|`)
for (const r of rows) console.log(`| ${cols.map((c) => (typeof r[c] === 'number' ? r[c].toLocaleString('en-US') : r[c])).join(' | ')} |`)
if (jsonPath) {
  mkdirSync(dirname(jsonPath), { recursive: true })
  writeFileSync(jsonPath, JSON.stringify({ scale, rows }, null, 2))
}
const bad = rows.filter((r) => r.result === 'FAIL' || r.result === 'NOT CAUGHT')
if (bad.length > 0) {
  console.error(`\n${bad.length} row(s) failed: ${bad.map((r) => r.primitive).join(', ')}`)
  process.exitCode = 1
}
