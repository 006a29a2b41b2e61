// The cross-thread behaviour of threadstate as a new user would check it, runnable unchanged on
// Node, Bun and Deno (test/runtimes.test.ts runs it on each): real worker threads
// (node:worker_threads, which all three provide), more of them than the machine's 2 cores,
// exact counters for lost updates, checksummed values for torn reads, and threadstate/node where
// the runtime's Node compatibility allows. Imports the built package (dist/).
//
// Prints one line `RESULT <json>` with what each scenario measured; the test decides. A scenario
// that throws is recorded as `{ error }` and the others still run.
//
//   bun test/runtimes/smoke.mjs | deno run -A test/runtimes/smoke.mjs | node test/runtimes/smoke.mjs
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

const lib = await import(new URL('../../dist/index.js', import.meta.url).href)
const { DeadlockError, Mutex, OwnerDiedError, SharedMap, SnapshotStore, StateBuffer, StateMachine, schema, vec } = lib

const WORKERS = 4
const COUNT = 20_000
const TX = 300
const Vector = schema({ a: vec(16) })
const MACHINE = { states: ['idle', 'busy'], initial: 'idle', transitions: { idle: ['busy'], busy: ['idle'] } }

/** Waits until every party arrived at `flags[index]` (a barrier on shared memory). */
function arrive(flags, index, parties) {
  Atomics.add(flags, index, 1)
  while (Atomics.load(flags, index) < parties) Atomics.wait(flags, index, Atomics.load(flags, index), 50)
  Atomics.notify(flags, index)
}

// ---- worker side ------------------------------------------------------------------------------
const roles = {
  counter({ mutex, data, flags, unlocked }) {
    const m = Mutex.attach(mutex)
    arrive(flags, 0, WORKERS) // all start together, so their sections overlap if the lock lets them
    for (let i = 0; i < COUNT; i++) {
      if (!unlocked) m.lock()
      const v = data[0]
      for (let k = 0; k < 8; k++) data[1] = v + k // a little work between the read and the write
      data[0] = v + 1
      if (!unlocked) m.unlock()
    }
    return 'done'
  },
  writer({ buffer, flags }) {
    const buf = StateBuffer.attach(buffer)
    const a = new Array(16)
    let seq = 0
    while (Atomics.load(flags, 0) === 0) {
      seq++
      for (let i = 0; i < 16; i++) a[i] = seq * 16 + i // every element derived from seq: a checksum
      buf.publish({ a })
    }
    return seq
  },
  reader({ buffer, reads }) {
    const buf = StateBuffer.attach(buffer)
    let torn = 0
    let seen = 0
    let last = 0
    for (let i = 0; i < reads; i++) {
      const entry = buf.latest()
      if (entry === undefined) continue
      const a = entry.value.a
      const seq = (a[0] - 0) / 16
      for (let j = 0; j < 16; j++) if (a[j] !== seq * 16 + j) torn++
      if (entry.version !== last) seen++
      last = entry.version
    }
    return { torn, seen }
  },
  mapper({ map, id }) {
    const m = SharedMap.attach(map)
    let mixed = 0
    for (let i = 1; i <= TX; i++) {
      m.transaction((tx) => tx.set('n', (tx.get('n') ?? 0) + 1))
      const record = { by: id, seq: i, sum: id * 7919 + i }
      m.setMany({ r0: record, r1: record, r2: record, r3: record })
      const got = m.getMany(['r0', 'r1', 'r2', 'r3'])
      const [first] = got
      if (!got.every((r) => r !== undefined && r.by === first.by && r.seq === first.seq && r.sum === r.by * 7919 + r.seq)) mixed++
    }
    return mixed
  },
  modifier({ store }) {
    const s = SnapshotStore.attach(store)
    for (let i = 0; i < TX; i++) s.modify((prev) => ({ n: prev.n + 1, by: [...prev.by.slice(-3), i] }))
    return 'done'
  },
  racer({ machine, flags, rounds }) {
    const fsm = StateMachine.attach(machine)
    let wins = 0
    for (let r = 0; r < rounds; r++) {
      if (fsm.transition('busy', { from: 'idle' })) {
        wins++
        fsm.transition('idle', { from: 'busy' })
      }
    }
    arrive(flags, 0, WORKERS)
    return wins
  },
  lockPair({ first, second, flags }) {
    const a = Mutex.attach(first)
    const b = Mutex.attach(second)
    a.lock()
    arrive(flags, 0, 2)
    try {
      b.lock()
      b.unlock()
      return { got: true }
    } catch (error) {
      return { error: error instanceof DeadlockError ? 'DeadlockError' : String(error) }
    } finally {
      a.unlock()
    }
  },
  holder({ mutex, flags }) {
    Mutex.attach(mutex).lock()
    Atomics.store(flags, 0, 1)
    Atomics.notify(flags, 0)
    for (;;) Atomics.wait(flags, 1, 0) // holds it until terminated
  },
}

if (!isMainThread) {
  const { role, ...data } = workerData
  parentPort.postMessage({ value: roles[role](data) })
}

// ---- main side --------------------------------------------------------------------------------
function spawn(role, data) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role, ...data } })
  const result = new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve(m.value))
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`worker ${role} exited (${code}) before answering`)))
  })
  return { worker, result }
}

const flagsOf = () => new Int32Array(new SharedArrayBuffer(16))

const scenarios = {
  async mutex() {
    const mutex = Mutex.create()
    const data = new Int32Array(new SharedArrayBuffer(8))
    // THREADSTATE_SMOKE_UNLOCKED=1: the deliberately broken variant (no lock), to see the check catch it.
    const unlocked = globalThis.process?.env?.THREADSTATE_SMOKE_UNLOCKED === '1'
    const flags = flagsOf()
    await Promise.all(Array.from({ length: WORKERS }, () => spawn('counter', { mutex: mutex.handle, data, flags, unlocked }).result))
    return { total: data[0], expected: WORKERS * COUNT }
  },
  async stateBuffer() {
    const buf = StateBuffer.create(Vector, { history: 8 })
    const flags = flagsOf()
    const writer = spawn('writer', { buffer: buf.handle, flags })
    while (buf.version < 1) await new Promise((r) => setTimeout(r, 1))
    const readers = await Promise.all([0, 1, 2].map(() => spawn('reader', { buffer: buf.handle, reads: 200_000 }).result))
    Atomics.store(flags, 0, 1)
    const published = await writer.result
    return { torn: readers.reduce((n, r) => n + r.torn, 0), versionsSeen: readers.reduce((n, r) => n + r.seen, 0), published, version: buf.version }
  },
  async sharedMap() {
    const map = SharedMap.create()
    const mixed = await Promise.all(Array.from({ length: WORKERS }, (_, id) => spawn('mapper', { map: map.handle, id: id + 1 }).result))
    return { n: map.get('n'), expected: WORKERS * TX, mixed: mixed.reduce((a, b) => a + b, 0) }
  },
  async snapshotStore() {
    const store = SnapshotStore.create({ initial: { n: 0, by: [] } })
    await Promise.all(Array.from({ length: WORKERS }, () => spawn('modifier', { store: store.handle }).result))
    return { n: store.get().n, expected: WORKERS * TX, version: store.version }
  },
  async stateMachine() {
    const fsm = StateMachine.create(MACHINE)
    const flags = flagsOf()
    const wins = await Promise.all(Array.from({ length: WORKERS }, () => spawn('racer', { machine: fsm.handle, flags, rounds: 2_000 }).result))
    // Each win is one idle->busy and one busy->idle: two transitions, no more, no fewer.
    return { wins: wins.reduce((a, b) => a + b, 0), transitions: fsm.stats().transitions, state: fsm.state }
  },
  async deadlock() {
    const a = Mutex.create()
    const b = Mutex.create()
    const flags = flagsOf()
    const out = await Promise.all([spawn('lockPair', { first: a.handle, second: b.handle, flags }).result, spawn('lockPair', { first: b.handle, second: a.handle, flags }).result])
    return { deadlockErrors: out.filter((r) => r.error === 'DeadlockError').length, got: out.filter((r) => r.got === true).length, other: out.filter((r) => r.error !== undefined && r.error !== 'DeadlockError').map((r) => r.error) }
  },
  async ownerDied() {
    const { superviseWorker } = await import(new URL('../../dist/node/index.js', import.meta.url).href)
    const mutex = Mutex.create()
    const flags = flagsOf()
    const { worker, result } = spawn('holder', { mutex: mutex.handle, flags })
    result.catch(() => {}) // it never answers: it is terminated holding the lock
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    superviseWorker(worker)
    while (Atomics.load(flags, 0) === 0) await new Promise((r) => setTimeout(r, 1))
    await worker.terminate()
    await exited
    await new Promise((r) => setTimeout(r, 10)) // the supervisor's 'exit' listener runs
    try {
      const got = await mutex.lockAsync({ timeoutMs: 10_000 })
      mutex.unlock()
      return { reported: false, got }
    } catch (error) {
      const reported = error instanceof OwnerDiedError
      if (reported) {
        mutex.markConsistent()
        mutex.unlock()
      }
      return { reported, holding: reported && error.holding === true, error: reported ? undefined : String(error) }
    }
  },
  async nodeExtras() {
    const node = await import(new URL('../../dist/node/index.js', import.meta.url).href)
    const { mkdtemp, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'threadstate-runtime-'))
    try {
      const store = SnapshotStore.create({ initial: { n: 0 } })
      for (let i = 1; i <= 5; i++) store.publish({ n: i })
      const file = join(dir, 'snap.bin')
      await node.saveSnapshot(store, file)
      const restored = await node.restoreSnapshotStore(file, { initial: { n: -1 } })
      const metrics = new node.ThreadstateMetrics({ store })
      const text = await metrics.metrics()
      const server = await node.serveStatus({ status: store })
      let status
      try {
        status = await (await fetch(`${server.url}/status`)).json()
      } finally {
        await server.close()
      }
      return { restored: restored.store.get().n, restoredVersion: restored.store.version, version: store.version, metrics: /threadstate_/.test(text), status }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  },
}

if (isMainThread) {
  const { Bun, Deno } = globalThis
  const runtime = Bun !== undefined ? `bun ${Bun.version}` : Deno !== undefined ? `deno ${Deno.version.deno}` : `node ${process.versions.node}`
  const only = process.argv.slice(2)
  const result = { runtime }
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length > 0 && !only.includes(name)) continue
    try {
      result[name] = await run()
    } catch (error) {
      result[name] = { error: String(error?.stack ?? error) }
    }
  }
  console.log(`RESULT ${JSON.stringify(result)}`)
  process.exit(0)
}
