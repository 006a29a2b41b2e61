// Example (seed 001): the service-status and test-execution managers of a web
// test dashboard, as SharedMaps behind a multi-threaded HTTP server. The main
// thread accepts requests (sockets cannot move to worker_threads) and hands
// each to one of 4 handler workers, which read and write the maps directly:
//
//   GET  /status       every service status, from one version (snapshot)
//   POST /status       several statuses at once, in one atomic update()
//   POST /tests/start  starts a test only if none is running: a transaction
//   POST /tests/stop   stops it, if the caller's pid is the running one
//   GET  /tests        the test-execution state (snapshot)
//
// Every handler counts its request in a transaction. 16 clients hammer the
// server for ~3 s; then the example checks that no /status response mixed two
// updates, no two tests ever ran at once, and the request counter lost nothing.
//
//   npm run build && node examples/http-status-server.mjs
import { createServer } from 'node:http'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { SharedMap } from 'threadstate'

const WORKERS = 4
const CLIENTS = 16
const RUN_MS = 3000
const SERVICES = ['qsfp_service', 'sai_mono_link_test-sai_impl', 'sai_mono_link_test-sai_impl_cmd']

if (isMainThread) {
  const status = SharedMap.create() // service name -> { running | cmd, gen }
  const tests = SharedMap.create() // running, script, pid, starts, stops
  const metrics = SharedMap.create() // requests, requests:<route>
  status.setMany(Object.fromEntries(SERVICES.map((s) => [s, s.endsWith('_cmd') ? { cmd: null, gen: 0 } : { running: false, gen: 0 }])))
  tests.setMany({ running: false, script: null, pid: null, starts: 0, stops: 0 })

  // The handler pool: requests go round-robin to the workers, answers come back by id.
  const maps = { status: status.handle, tests: tests.handle, metrics: metrics.handle }
  const pool = Array.from({ length: WORKERS }, () => new Worker(new URL(import.meta.url), { workerData: maps }))
  const pending = new Map()
  let served = 0
  for (const w of pool) {
    w.on('message', ({ id, code, body }) => {
      const res = pending.get(id)
      pending.delete(id)
      served++
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    })
    w.on('error', (error) => {
      console.error('handler worker failed:', error)
      process.exit(1)
    })
  }
  let nextId = 0
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () => {
      const id = nextId++
      pending.set(id, res)
      pool[id % WORKERS].postMessage({ id, method: req.method, path: req.url, body: body ? JSON.parse(body) : undefined })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${server.address().port}`

  // The clients, all in this thread (so their bookkeeping needs no lock).
  const call = async (method, path, body) => {
    const r = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) })
    return { code: r.status, body: await r.json() }
  }
  const seen = { responses: 0, statusReads: 0, statusWrites: 0, testReads: 0, wins: 0, losses: 0, stops: 0, inconsistent: 0, overlaps: 0, failures: 0 }
  let gen = 0 // unique per POST /status: every value of one update carries the same gen
  let owners = 0 // clients that believe they own the running test
  const end = Date.now() + RUN_MS
  const client = async (c) => {
    let owned = null // { pid, left } while this client owns the running test
    while (Date.now() < end || owned) {
      if (owned && (owned.left-- <= 0 || Date.now() >= end)) {
        owners-- // before sending: a start that wins after this stop can only be answered later
        const r = await call('POST', '/tests/stop', { pid: owned.pid })
        seen.responses++
        if (r.code === 200) seen.stops++
        else seen.failures++ // the owner's stop must always succeed
        owned = null
        continue
      }
      const dice = Math.random()
      if (dice < 0.4) {
        const r = await call('GET', '/status')
        seen.responses++
        seen.statusReads++
        const gens = new Set(SERVICES.map((s) => r.body.services[s]?.gen))
        if (gens.size !== 1) seen.inconsistent++ // parts of two different updates
      } else if (dice < 0.6) {
        const g = ++gen
        const update = {
          qsfp_service: { running: g % 2 === 0, gen: g },
          'sai_mono_link_test-sai_impl': { running: g % 3 === 0, gen: g },
          'sai_mono_link_test-sai_impl_cmd': { cmd: `sai_test --case ${g}`, gen: g },
        }
        const r = await call('POST', '/status', update)
        seen.responses++
        if (r.code === 200) seen.statusWrites++
        else seen.failures++
      } else if (dice < 0.9 && !owned) {
        const pid = 10_000 + c * 100_000 + Math.floor(Math.random() * 90_000)
        const r = await call('POST', '/tests/start', { script: `run_suite_${c}.sh`, pid })
        seen.responses++
        if (r.code === 200) {
          seen.wins++
          if (owners > 0) seen.overlaps++ // someone else's test is still running
          owners++
          owned = { pid, left: 1 + Math.floor(Math.random() * 3) }
        } else if (r.code === 409) seen.losses++
        else seen.failures++
      } else {
        const r = await call('GET', '/tests')
        seen.responses++
        seen.testReads++
        const t = r.body
        // Consistent: a running test has a script and a pid, a stopped one neither.
        if (t.running ? t.script === null || t.pid === null : t.script !== null || t.pid !== null) seen.inconsistent++
        if (t.starts - t.stops !== (t.running ? 1 : 0)) seen.inconsistent++
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await Promise.all(pool.map((w) => w.terminate()))

  const requests = metrics.get('requests')
  const final = Object.fromEntries(tests.snapshot())
  const routes = [...metrics.snapshot()].filter(([k]) => k !== 'requests').sort((a, b) => b[1] - a[1])
  console.log(`served ${served} requests with ${WORKERS} handler workers to ${CLIENTS} clients: ${routes.map(([k, n]) => `${n} ${k.slice(9)}`).join(', ')}`)
  console.log(`status: ${seen.statusWrites} atomic updates, ${seen.statusReads} snapshots read; tests: ${seen.wins} started (${final.starts} by the server), ${seen.losses} refused while running, ${seen.stops} stopped`)
  console.log(`${seen.responses} responses, ${seen.inconsistent} inconsistent, ${seen.overlaps} overlapping tests, ${seen.failures} failed; request counter ${requests} for ${served} served`)
  const ok =
    seen.inconsistent === 0 &&
    seen.overlaps === 0 &&
    seen.failures === 0 &&
    seen.responses === served &&
    requests === served &&
    final.starts === seen.wins &&
    final.stops === seen.stops &&
    seen.wins === seen.stops &&
    final.running === false
  if (!ok) {
    console.log('FAILED:', JSON.stringify({ ...seen, served, requests, final }))
    process.exitCode = 1
  }
} else {
  // A request handler: plain synchronous code on the shared maps.
  const status = SharedMap.attach(workerData.status)
  const tests = SharedMap.attach(workerData.tests)
  const metrics = SharedMap.attach(workerData.metrics)

  const routes = {
    'GET /status': () => [200, { services: Object.fromEntries(status.snapshot()) }],
    'POST /status': (body) => {
      if (typeof body !== 'object' || body === null) return [400, { error: 'expected an object of statuses' }]
      return [200, { version: status.setMany(body) }] // all of them or none, never a mix
    },
    'POST /tests/start': ({ script, pid }) =>
      tests.transaction((tx) => {
        if (tx.get('running')) return [409, { started: false, running: tx.get('script') }]
        tx.set('running', true)
        tx.set('script', script)
        tx.set('pid', pid)
        tx.set('starts', tx.get('starts') + 1)
        return [200, { started: true }]
      }),
    'POST /tests/stop': ({ pid }) =>
      tests.transaction((tx) => {
        if (!tx.get('running') || tx.get('pid') !== pid) return [409, { stopped: false }]
        tx.set('running', false)
        tx.set('script', null)
        tx.set('pid', null)
        tx.set('stops', tx.get('stops') + 1)
        return [200, { stopped: true }]
      }),
    'GET /tests': () => [200, Object.fromEntries(tests.snapshot())],
  }

  parentPort.on('message', ({ id, method, path, body }) => {
    const route = `${method} ${path}`
    metrics.transaction((tx) => {
      tx.set('requests', (tx.get('requests') ?? 0) + 1)
      tx.set(`requests:${route}`, (tx.get(`requests:${route}`) ?? 0) + 1)
    })
    const handler = routes[route]
    const [code, answer] = handler ? handler(body) : [404, { error: `no route ${route}` }]
    parentPort.postMessage({ id, code, body: answer })
  })
}
