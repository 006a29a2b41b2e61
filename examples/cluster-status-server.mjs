// Example (seed 001, scaled out): the service-status and test-execution
// managers of a web test dashboard, served by 3 processes (Node `cluster`)
// that share the maps through Redis with threadstate/redis. Each process
// reads its own mirror of the maps (no network on a read) and writes with one
// server-side script per commit:
//
//   GET  /status       every service status, from one version (snapshot)
//   POST /status       several statuses at once, in one atomic setMany()
//   POST /tests/start  starts a test only if none is running: a transaction
//   POST /tests/stop   stops it, if the caller's pid is the running one
//   GET  /tests        the test-execution state (snapshot)
//
// Every request is counted in a transaction. 16 clients hammer the cluster
// for ~3 s, each request going to whichever process the primary hands the
// connection to (a start may be answered by one process and its stop by
// another); then the example checks that no /status response mixed two
// updates, no two tests ever ran at once, and the request counter lost nothing.
//
//   npm run build && node examples/cluster-status-server.mjs
//
// Uses the Redis server at $REDIS_URL, or starts a private redis-server (the
// Debian package) on a free port and stops it at the end.
import cluster from 'node:cluster'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { createServer as createTcpServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RedisDomain } from 'threadstate/redis'

const PROCESSES = 3
const CLIENTS = 16
const RUN_MS = 3000
const SERVICES = ['qsfp_service', 'sai_mono_link_test-sai_impl', 'sai_mono_link_test-sai_impl_cmd']

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createTcpServer().once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

/** A private redis-server on a free port, answering PING. */
async function startRedis() {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'threadstate-example-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  const failed = new Promise((_, reject) => child.once('error', (e) => reject(new Error(`could not start redis-server (${e.message}): install it, or set REDIS_URL`))))
  const ping = () =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
      socket.once('data', (d) => (socket.destroy(), resolve(d.toString().startsWith('+PONG'))))
      socket.once('error', () => resolve(false))
    })
  for (let i = 0; !(await Promise.race([ping(), failed])); i++) {
    if (i > 500) throw new Error('redis-server did not answer within 10 s')
    await new Promise((r) => setTimeout(r, 20))
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => (child.kill('SIGKILL'), rmSync(dir, { recursive: true, force: true })) }
}

if (cluster.isPrimary) {
  const redis = process.env.REDIS_URL ? { url: process.env.REDIS_URL, stop: () => {} } : await startRedis()
  const runId = String(Date.now())
  // The primary sets the maps up (any process could: opening a name creates it).
  const domain = await RedisDomain.connect({ url: redis.url, namespace: `dashboard-${runId}` })
  const status = await domain.sharedMap('status')
  const tests = await domain.sharedMap('tests')
  const metrics = await domain.sharedMap('metrics')
  await status.setMany(Object.fromEntries(SERVICES.map((s) => [s, s.endsWith('_cmd') ? { cmd: null, gen: 0 } : { running: false, gen: 0 }])))
  await tests.setMany({ running: false, script: null, pid: null, starts: 0, stops: 0 })

  const port = await freePort()
  const workers = Array.from({ length: PROCESSES }, () => cluster.fork({ REDIS_URL: redis.url, PORT: String(port), RUN_ID: runId }))
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('listening', resolve))))
  const base = `http://127.0.0.1:${port}`

  const call = async (method, path, body) => {
    const r = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body) })
    return { code: r.status, body: await r.json(), by: r.headers.get('x-served-by') }
  }
  const seen = { responses: 0, statusReads: 0, statusWrites: 0, testReads: 0, wins: 0, losses: 0, stops: 0, inconsistent: 0, overlaps: 0, failures: 0 }
  const servedBy = new Map()
  let gen = 0
  let owners = 0
  const end = Date.now() + RUN_MS
  const count = (r) => {
    seen.responses++
    servedBy.set(r.by, (servedBy.get(r.by) ?? 0) + 1)
    return r
  }
  const client = async (c) => {
    let owned = null
    while (Date.now() < end || owned) {
      if (owned && (owned.left-- <= 0 || Date.now() >= end)) {
        owners--
        const r = count(await call('POST', '/tests/stop', { pid: owned.pid }))
        if (r.code === 200) seen.stops++
        else seen.failures++ // the owner's stop must succeed, whichever process answers it
        owned = null
        continue
      }
      const dice = Math.random()
      if (dice < 0.4) {
        const r = count(await call('GET', '/status'))
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
        const r = count(await call('POST', '/status', update))
        if (r.code === 200) seen.statusWrites++
        else seen.failures++
      } else if (dice < 0.9 && !owned) {
        const pid = 10_000 + c * 100_000 + Math.floor(Math.random() * 90_000)
        const r = count(await call('POST', '/tests/start', { script: `run_suite_${c}.sh`, pid }))
        if (r.code === 200) {
          seen.wins++
          if (owners > 0) seen.overlaps++
          owners++
          owned = { pid, left: 1 + Math.floor(Math.random() * 3) }
        } else if (r.code === 409) seen.losses++
        else seen.failures++
      } else {
        const r = count(await call('GET', '/tests'))
        seen.testReads++
        const t = r.body
        if (t.running ? t.script === null || t.pid === null : t.script !== null || t.pid !== null) seen.inconsistent++
        if (t.starts - t.stops !== (t.running ? 1 : 0)) seen.inconsistent++
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))
  for (const w of workers) w.kill()

  await metrics.sync() // every commit the server has, in this process's mirror
  await tests.sync()
  const requests = metrics.get('requests')
  const final = Object.fromEntries(tests.snapshot())
  const shares = [...servedBy.values()].sort((a, b) => b - a).join('/')
  console.log(`served ${seen.responses} requests from ${servedBy.size} processes (${shares}) to ${CLIENTS} clients, through Redis`)
  console.log(`status: ${seen.statusWrites} atomic updates, ${seen.statusReads} snapshots read; tests: ${seen.wins} started (${final.starts} by the servers), ${seen.losses} refused while running, ${seen.stops} stopped`)
  console.log(`${seen.responses} responses, ${seen.inconsistent} inconsistent, ${seen.overlaps} overlapping tests, ${seen.failures} failed; request counter ${requests} for ${seen.responses} served`)
  const ok =
    seen.inconsistent === 0 &&
    seen.overlaps === 0 &&
    seen.failures === 0 &&
    requests === seen.responses &&
    final.starts === seen.wins &&
    final.stops === seen.stops &&
    seen.wins === seen.stops &&
    final.running === false &&
    servedBy.size === PROCESSES
  if (!ok) {
    console.log('FAILED:', JSON.stringify({ ...seen, requests, final, processes: servedBy.size }))
    process.exitCode = 1
  }
  await domain.close()
  redis.stop()
} else {
  // A server process: its own RedisDomain, its own mirrors of the three maps.
  const domain = await RedisDomain.connect({ url: process.env.REDIS_URL, namespace: `dashboard-${process.env.RUN_ID}` })
  const status = await domain.sharedMap('status')
  const tests = await domain.sharedMap('tests')
  const metrics = await domain.sharedMap('metrics')

  const routes = {
    'GET /status': () => [200, { services: Object.fromEntries(status.snapshot()) }],
    'POST /status': async (body) => {
      if (typeof body !== 'object' || body === null) return [400, { error: 'expected an object of statuses' }]
      return [200, { version: await status.setMany(body) }] // all of them or none, never a mix
    },
    // Transactions are optimistic across processes: the function may run
    // again after another process's commit, so it only reads and writes `tx`.
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

  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => (body += chunk))
    req.on('end', async () => {
      const route = `${req.method} ${req.url}`
      try {
        await metrics.transaction((tx) => {
          tx.set('requests', (tx.get('requests') ?? 0) + 1)
          tx.set(`requests:${route}`, (tx.get(`requests:${route}`) ?? 0) + 1)
        })
        const handler = routes[route]
        const [code, answer] = handler ? await handler(body ? JSON.parse(body) : undefined) : [404, { error: `no route ${route}` }]
        res.writeHead(code, { 'content-type': 'application/json', 'x-served-by': String(process.pid) }).end(JSON.stringify(answer))
      } catch (error) {
        res.writeHead(500, { 'content-type': 'application/json', 'x-served-by': String(process.pid) }).end(JSON.stringify({ error: String(error) }))
      }
    })
  })
  server.listen(Number(process.env.PORT), '127.0.0.1')
  process.on('SIGTERM', async () => {
    server.close()
    await domain.close()
    process.exit(0)
  })
}
