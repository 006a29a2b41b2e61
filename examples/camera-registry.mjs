// Example (seed 002): a camera registry keyed both by id (`id:<id>`) and by
// IP (`ip:<ip>`), shared by six worker threads, plus a per-camera detection
// history.
//
// - discovery adds cameras, moves them to new IPs (DHCP) and removes them;
//   each change rewrites both keys in one atomic update(), so a reader never
//   sees a camera whose IP key is missing or points elsewhere;
// - a prober checks cameras over the "network" (a 5-20 ms async probe) with no
//   lock held, then records the result only if the camera did not change
//   meanwhile: getEntry() before, compareAndSet() on that version after; a
//   camera that moved or vanished is probed again or dropped;
// - two detectors append to bounded detection histories in transactions;
// - two readers check on every read that the id and IP entries agree.
//
//   npm run build && node examples/camera-registry.mjs
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { SharedMap } from 'threadstate'

const CAMERAS = 24 // ids cam-0 .. cam-23
const IPS = 64 // addresses 10.0.0.1 .. 10.0.0.64
const HISTORY = 32 // recent detections kept per camera
const RUN_MS = 2000
const ROLES = ['discovery', 'prober', 'detector', 'detector', 'reader', 'reader']

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
const pick = (n) => Math.floor(Math.random() * n)

/** What is wrong with a consistent view of `id:<id>` and `ip:<ip>` (cam, owner), or null. */
function disagreement(id, ip, cam, owner) {
  if (cam && cam.id !== id) return `id:${id} holds ${cam.id}`
  if (cam && cam.probedIp !== undefined && cam.probedIp !== cam.ip) return `${id} at ${cam.ip} has a probe of ${cam.probedIp}`
  if (cam && cam.ip === ip && owner !== id) return `${id} is at ${ip} but ip:${ip} -> ${owner}`
  if (owner === id && cam?.ip !== ip) return `ip:${ip} -> ${id} but ${id} is at ${cam?.ip}`
  return null
}

/** Every disagreement of a whole-registry snapshot. */
function checkSnapshot(snapshot) {
  const problems = []
  for (const [key, value] of snapshot) {
    if (key.startsWith('id:')) {
      const id = key.slice(3)
      const problem = disagreement(id, value.ip, value, snapshot.get(`ip:${value.ip}`))
      if (problem) problems.push(problem)
    } else if (snapshot.get(`id:${value}`)?.ip !== key.slice(3)) problems.push(`${key} -> ${value} but ${value} is at ${snapshot.get(`id:${value}`)?.ip}`)
  }
  return problems
}

if (isMainThread) {
  const registry = SharedMap.create({ initialCapacity: 2 * CAMERAS })
  const detections = SharedMap.create({ initialCapacity: CAMERAS })
  const stop = new Int32Array(new SharedArrayBuffer(4))
  const workers = ROLES.map(
    (role) => new Worker(new URL(import.meta.url), { workerData: { role, registry: registry.handle, detections: detections.handle, stop } }),
  )
  const results = workers.map(
    (w) =>
      new Promise((resolve, reject) => {
        w.once('message', resolve)
        w.once('error', reject)
      }),
  )
  setTimeout(() => Atomics.store(stop, 0, 1), RUN_MS)
  const [discovery, prober, ...rest] = await Promise.all(results)
  const detectors = rest.filter((r) => r.role === 'detector')
  const readers = rest.filter((r) => r.role === 'reader')

  // The final registry: consistent, and exactly what discovery last put there.
  const final = registry.snapshot()
  const problems = checkSnapshot(final)
  const cameras = [...final.keys()].filter((k) => k.startsWith('id:'))
  for (const [id, ip] of Object.entries(discovery.placed)) {
    if (final.get(`id:${id}`)?.ip !== ip) problems.push(`discovery put ${id} at ${ip}, the registry says ${final.get(`id:${id}`)?.ip}`)
  }
  if (cameras.length !== Object.keys(discovery.placed).length) problems.push(`${cameras.length} cameras registered, discovery placed ${Object.keys(discovery.placed).length}`)

  // Detections: every append is in the total, the recent ones are consecutive.
  let appended = 0
  let recorded = 0
  for (let c = 0; c < CAMERAS; c++) {
    const id = `cam-${c}`
    const sent = detectors.reduce((n, d) => n + (d.appended[id] ?? 0), 0)
    const h = detections.get(`history:${id}`) ?? { total: 0, recent: [] }
    appended += sent
    recorded += h.total
    if (h.total !== sent) problems.push(`${id}: ${sent} detections appended, ${h.total} recorded`)
    if (h.recent.length !== Math.min(h.total, HISTORY) || h.recent.some((d, i) => d.n !== h.total - h.recent.length + 1 + i)) {
      problems.push(`${id}: history is not the last ${Math.min(h.total, HISTORY)} detections`)
    }
  }

  const reads = readers.reduce((n, r) => n + r.reads, 0)
  const inconsistent = readers.reduce((n, r) => n + r.inconsistent, 0) + problems.length
  console.log(`discovery: ${discovery.added} added, ${discovery.moved} moved, ${discovery.removed} removed; ${cameras.length} cameras registered at the end`)
  console.log(`prober: ${prober.probes} probes outside any lock, ${prober.recorded} recorded, ${prober.retried} retried and ${prober.dropped} dropped because the camera changed meanwhile`)
  console.log(`detections: ${appended} appended by ${detectors.length} threads, ${recorded} recorded, last ${HISTORY} kept per camera`)
  console.log(`readers: ${reads} reads (${readers.reduce((n, r) => n + r.snapshots, 0)} whole snapshots), ${inconsistent} inconsistent`)
  for (const p of [...readers.flatMap((r) => r.examples), ...problems].slice(0, 5)) console.log(`  ${p}`)
  if (inconsistent > 0 || appended !== recorded) process.exitCode = 1
} else {
  const { role, stop } = workerData
  const registry = SharedMap.attach(workerData.registry)
  const detections = SharedMap.attach(workerData.detections)
  const running = () => Atomics.load(stop, 0) === 0

  if (role === 'discovery') {
    // The only thread that assigns IPs, so it knows which addresses are free.
    const placed = {} // id -> ip, as registered
    const taken = new Set()
    const freeIp = () => {
      for (;;) {
        const ip = `10.0.0.${1 + pick(IPS)}`
        if (!taken.has(ip)) return ip
      }
    }
    let added = 0
    let moved = 0
    let removed = 0
    while (running()) {
      const id = `cam-${pick(CAMERAS)}`
      const old = placed[id]
      if (old === undefined) {
        const ip = freeIp()
        registry.setMany({ [`id:${id}`]: { id, ip, model: 'PTZ-4K', online: null }, [`ip:${ip}`]: id })
        taken.add(ip)
        placed[id] = ip
        added++
      } else if (Math.random() < 0.8) {
        // A new lease: delete the old IP key and set the new one, in one commit.
        // The record starts over (online unknown): the camera must be probed again.
        const ip = freeIp()
        registry.setMany({ [`id:${id}`]: { id, ip, model: 'PTZ-4K', online: null }, [`ip:${ip}`]: id }, { delete: [`ip:${old}`] })
        taken.delete(old)
        taken.add(ip)
        placed[id] = ip
        moved++
      } else {
        registry.setMany({}, { delete: [`id:${id}`, `ip:${old}`] })
        taken.delete(old)
        delete placed[id]
        removed++
      }
      sleep(2)
    }
    parentPort.postMessage({ role, added, moved, removed, placed })
  } else if (role === 'prober') {
    // Simulated network I/O: never done while holding the map's lock.
    const probe = (ip) => new Promise((resolve) => setTimeout(() => resolve(!ip.endsWith('7')), 5 + pick(16)))
    const counts = { probes: 0, recorded: 0, retried: 0, dropped: 0 }
    const checkCamera = async (id) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const entry = registry.getEntry(`id:${id}`)
        if (!entry) return // not registered (now)
        const cam = entry.value
        counts.probes++
        const online = await probe(cam.ip) // the camera may move or vanish meanwhile
        // Re-validate: record the result only on the very record we probed.
        if (registry.compareAndSet(`id:${id}`, entry.version, { ...cam, online, probedIp: cam.ip, probedAt: Date.now() })) {
          counts.recorded++
          return
        }
        if (attempt < 2) counts.retried++
      }
      counts.dropped++
    }
    const loop = async () => {
      while (running()) await checkCamera(`cam-${pick(CAMERAS)}`)
    }
    await Promise.all(Array.from({ length: 8 }, loop)) // 8 probes in flight
    parentPort.postMessage({ role, ...counts })
  } else if (role === 'detector') {
    // Detections arrive for any camera; each append is one transaction.
    const appended = {}
    for (let k = 0; running(); k++) {
      const id = `cam-${pick(CAMERAS)}`
      detections.transaction((tx) => {
        const h = tx.get(`history:${id}`) ?? { total: 0, recent: [] }
        const detection = { n: h.total + 1, score: Math.round(Math.random() * 100) / 100, at: Date.now() }
        tx.set(`history:${id}`, { total: h.total + 1, recent: [...h.recent.slice(1 - HISTORY), detection] })
      })
      appended[id] = (appended[id] ?? 0) + 1
      if (k % 16 === 0) sleep(1)
    }
    parentPort.postMessage({ role, appended })
  } else {
    // A reader: every read checks that the id and IP entries agree.
    let reads = 0
    let snapshots = 0
    let inconsistent = 0
    const examples = []
    const guess = {} // id -> the IP this reader last saw it at
    const report = (problem) => {
      inconsistent++
      if (examples.length < 3) examples.push(problem)
    }
    while (running()) {
      if (reads % 64 === 0) {
        for (const problem of checkSnapshot(registry.snapshot())) report(problem)
        snapshots++
      } else {
        const id = `cam-${pick(CAMERAS)}`
        const ip = guess[id] ?? `10.0.0.${1 + pick(IPS)}`
        const [cam, owner] = registry.getMany([`id:${id}`, `ip:${ip}`]) // one version
        const problem = disagreement(id, ip, cam, owner)
        if (problem) report(problem)
        if (cam) guess[id] = cam.ip
      }
      reads++
    }
    parentPort.postMessage({ role, reads, snapshots, inconsistent, examples })
  }
}
