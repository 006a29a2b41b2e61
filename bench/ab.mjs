// A/B of the hot paths of two builds of threadstate, interleaved in one run.
//
//   node bench/ab.mjs <dist A> <dist B> [<dist C> ...] [--rounds 6] [--only regexp] [--json out.json]
//   e.g. node bench/ab.mjs /tmp/before/dist dist
//
// With more than two builds (a bisection: each commit's dist in one run), every
// build after A is reported as its ratio to A.
//
// Refactors promise "every hot path within 5 % of before, measured in the same
// run": this runs each case on build A, then B, then A, ... (`rounds` times
// each), every sample a timed batch of calls, and reports the median ns per
// call of each build and B / A. Alternating the builds spreads a noisy
// neighbour over both columns instead of one. Names that changed between
// builds (StateBuffer.update -> publish, SnapshotStore.update -> modify,
// SharedMap.update -> setMany) are looked up under either name.
//
// Cases with a concurrent writer start a worker thread per build that writes
// flat out with that build's code.
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

const args = process.argv.slice(2)
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback)
const dirs = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')))
if (dirs.length < 2) {
  console.error('usage: node bench/ab.mjs <dist A> <dist B> [<dist C> ...] [--rounds N] [--only regexp] [--json file]')
  process.exit(2)
}
const rounds = Number(option('--rounds', 6))
const SAMPLE_MS = 25
const SAMPLES = 8

const builds = await Promise.all(
  dirs.map(async (dir) => ({ dir, lib: await import(pathToFileURL(resolve(dir, 'index.js')).href), url: pathToFileURL(resolve(dir, 'index.js')).href })),
)

const method = (object, ...names) => {
  const name = names.find((n) => typeof object[n] === 'function')
  if (!name) throw new Error(`none of ${names.join(', ')} on ${object.constructor.name}`)
  return name
}

/** A 2 KB JSON-like snapshot (agents with tokens), as in bench/snapshot-micro.ts. */
function snapshot2k(tick) {
  const agents = []
  for (let i = 0; i < 12; i++) agents.push({ id: `agent-${i}`, state: i % 3 ? 'running' : 'idle', tokens: i * 37 + tick, tags: ['a', 'b'], score: i / 7 })
  return { tick, agents, status: { healthy: true, uptime: tick * 0.001 } }
}
const OBJECT = { id: 'cam-7', ip: '10.0.0.7', model: 'PTZ-4K', online: true, fps: 30 }

/** Starts a worker that writes key `hot` of the map flat out with build `b`'s code until terminated. */
function mapWriter(b, handle) {
  const code = `
    import { workerData, parentPort } from 'node:worker_threads'
    const { SharedMap } = await import(workerData.url)
    const map = SharedMap.attach(workerData.handle)
    parentPort.postMessage('ready')
    for (let i = 0; ; i++) map.set('w' + (i & 63), i)`
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: { url: b.url, handle } })
  return new Promise((ok) => worker.once('message', () => ok(worker)))
}

/**
 * Each case: setup(build) -> { op(): void, batch, close?() }. `op` runs one call;
 * the harness calls it `batch` times per timed sample.
 */
const CASES = [
  {
    name: 'Mutex lock+unlock',
    setup: ({ lib }) => {
      const m = lib.Mutex.create()
      return { op: () => (m.lock(), m.unlock()) }
    },
  },
  ...['readInto', 'latest', 'publish', 'publishFrom'].map((what) => ({
    name: `StateBuffer ${what}, 25 doubles`,
    setup: ({ lib }) => {
      const buf = lib.StateBuffer.create(lib.schema({ a: lib.vec(25) }), { history: 8 })
      const publish = method(buf, 'publish', 'update')
      const state = { a: Array.from({ length: 25 }, (_, i) => i) }
      buf[publish](state, { timestamp: 1 })
      const reader = buf.reader()
      const target = new Float64Array(25)
      if (what === 'readInto') return { op: () => reader.readInto(target) }
      if (what === 'latest') return { op: () => buf.latest() }
      if (what === 'publishFrom') {
        const flat = Float64Array.from(state.a)
        const options = { timestamp: 1 }
        return { op: () => buf.publishFrom(flat, options) }
      }
      return { op: () => buf[publish](state, { timestamp: 1 }) }
    },
  })),
  {
    name: 'SnapshotStore get (unchanged)',
    setup: ({ lib }) => {
      const store = lib.SnapshotStore.create({ initial: snapshot2k(0) })
      return { op: () => store.get() }
    },
  },
  {
    name: 'SnapshotStore publish 2 KB',
    setup: ({ lib }) => {
      const store = lib.SnapshotStore.create({ initial: snapshot2k(0) })
      const values = [snapshot2k(1), snapshot2k(2)]
      let i = 0
      return { op: () => store.publish(values[i++ & 1]), batch: 200 }
    },
  },
  {
    name: 'SnapshotStore publish 34 KB (384 agents)',
    setup: ({ lib }) => {
      const big = (tick) => ({ tick, agents: Array.from({ length: 32 }, (_, g) => snapshot2k(tick + g).agents).flat(), status: { healthy: true, uptime: tick } })
      const store = lib.SnapshotStore.create({ initial: big(0) })
      const values = [big(1), big(2)]
      let i = 0
      return { op: () => store.publish(values[i++ & 1]), batch: 10 }
    },
  },
  {
    name: 'SnapshotStore publish + first get 2 KB',
    setup: ({ lib }) => {
      const store = lib.SnapshotStore.create({ initial: snapshot2k(0) })
      const reader = lib.SnapshotStore.attach(store.handle)
      const values = [snapshot2k(1), snapshot2k(2)]
      let i = 0
      return { op: () => (store.publish(values[i++ & 1]), reader.get()), batch: 100 }
    },
  },
  ...[
    ['get number', (map) => () => map.get('n5')],
    ['get ~50 B object', (map) => () => map.get('o5')],
    ['getFrozen ~50 B object', (map) => () => map.getFrozen('o5')],
  ].map(([what, make]) => ({
    name: `SharedMap ${what}`,
    setup: ({ lib }) => {
      const map = lib.SharedMap.create()
      for (let i = 0; i < 64; i++) {
        map.set(`n${i}`, i)
        map.set(`o${i}`, { ...OBJECT, i })
      }
      return { op: make(map) }
    },
  })),
  {
    name: 'SharedMap get number, writer thread flat out',
    setup: async (b) => {
      const map = b.lib.SharedMap.create()
      for (let i = 0; i < 64; i++) map.set(`n${i}`, i)
      const worker = await mapWriter(b, map.handle)
      return { op: () => map.get('n5'), close: () => worker.terminate() }
    },
  },
  {
    name: 'SharedMap set number',
    setup: ({ lib }) => {
      const map = lib.SharedMap.create()
      let i = 0
      return { op: () => map.set(`k${i++ & 63}`, i) }
    },
  },
  {
    name: 'SharedMap set ~50 B object',
    setup: ({ lib }) => {
      const map = lib.SharedMap.create()
      let i = 0
      return { op: () => map.set(`k${i++ & 63}`, OBJECT), batch: 500 }
    },
  },
  {
    name: 'SharedMap setMany 10 numbers',
    setup: ({ lib }) => {
      const map = lib.SharedMap.create()
      const setMany = method(map, 'setMany', 'update')
      const groups = Array.from({ length: 16 }, (_, g) => Array.from({ length: 10 }, (_, k) => [`k${g * 10 + k}`, k]))
      let i = 0
      return { op: () => map[setMany](groups[i++ & 15]), batch: 200 }
    },
  },
  {
    name: 'StateMachine transition',
    setup: ({ lib }) => {
      const fsm = lib.StateMachine.create({ states: ['a', 'b'], initial: 'a', transitions: { a: ['b'], b: ['a'] } })
      let i = 0
      return { op: () => fsm.transition(i++ & 1 ? 'a' : 'b') }
    },
  },
  {
    name: 'StateMachine state read',
    setup: ({ lib }) => {
      const fsm = lib.StateMachine.create({ states: ['a', 'b'], initial: 'a', transitions: { a: ['b'], b: ['a'] } })
      return { op: () => fsm.state }
    },
  },
]

/**
 * Median ns per call of `op` over SAMPLES timed batches (the batch sized to ~SAMPLE_MS).
 * The batch loop is compiled afresh for every measurement, so its call of `op` only
 * ever sees one function (one shared loop would see every case's and every build's
 * and stop inlining them, adding a varying cost to both columns).
 */
let measurements = 0
function measure(op, batchHint) {
  // The source differs per measurement: V8's eval cache hands functions made
  // from the same source one shared feedback cell, which made the loop's call
  // of `op` megamorphic after a few cases (B's SharedMap get measured 1.27x
  // A's after the StateBuffer cases, 1.04x without them).
  const run = new Function('op', 'batch', `for (let k = 0; k < batch; k++) op() // ${++measurements}`)
  let batch = batchHint ?? 1000
  // Warm up and size the batch.
  for (let t0 = performance.now(); performance.now() - t0 < 20; ) run(op, batch)
  const t0 = performance.now()
  run(op, batch)
  const per = Math.max((performance.now() - t0) / batch, 1e-6)
  batch = Math.max(1, Math.round(SAMPLE_MS / per))
  const samples = []
  for (let s = 0; s < SAMPLES; s++) {
    const start = performance.now()
    run(op, batch)
    samples.push(((performance.now() - start) / batch) * 1e6)
  }
  return median(samples)
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const only = option('--only')
const rows = []
const picked = only === undefined ? null : new RegExp(only, 'i') // a regular expression: --only 'StateBuffer|get number'
for (const c of CASES.filter((c) => !picked || picked.test(c.name))) {
  const per = builds.map(() => [])
  for (let r = 0; r < rounds; r++) {
    // Each round runs every build once, in an order rotated round by round (A B C, B C A, ...).
    for (let j = 0; j < builds.length; j++) {
      const k = (j + r) % builds.length
      const ctx = await c.setup(builds[k])
      try {
        per[k].push(measure(ctx.op, ctx.batch))
      } finally {
        await ctx.close?.()
      }
    }
  }
  const medians = per.map(median)
  const mins = per.map((p) => Math.min(...p))
  const [a, b] = medians
  const [aMin, bMin] = mins
  rows.push({ case: c.name, a, b, ratio: b / a, aMin, bMin, minRatio: bMin / aMin, ...(builds.length > 2 ? { medians, mins } : {}) })
  if (builds.length === 2) {
    console.log(
      `${c.name.padEnd(46)} A ${fmt(a).padStart(10)}   B ${fmt(b).padStart(10)}   B/A ${(b / a).toFixed(3)}   (fastest rounds: ${fmt(aMin)} / ${fmt(bMin)} = ${(bMin / aMin).toFixed(3)})`,
    )
  } else {
    const cells = medians.slice(1).map((m, i) => `${String.fromCharCode(66 + i)} ${(m / a).toFixed(3)}/${(mins[i + 1] / aMin).toFixed(3)}`)
    console.log(`${c.name.padEnd(46)} A ${fmt(a).padStart(10)}   ${cells.join('  ')}`)
  }
}

function fmt(ns) {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} us` : `${ns.toFixed(1)} ns`
}

const out = option('--json')
if (out) writeFileSync(out, JSON.stringify({ a: dirs[0], b: dirs[1], dirs, rounds, rows }, null, 2))
const names = dirs.map((d, i) => `${String.fromCharCode(65 + i)} = ${d}`).join(', ')
const cells = builds.length > 2 ? ' (each cell: median ratio to A / fastest-round ratio to A)' : ''
console.log(`\n${names}; median (and fastest) of ${rounds} rotating rounds per build, each the median of ${SAMPLES} batches of ~${SAMPLE_MS} ms${cells}`)
