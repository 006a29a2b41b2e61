// Example (seed 004): a runtime loop owns a nested status object and
// publishes snapshots of it, throttled; request handlers in two workers read
// consistent, frozen snapshots without a lock; the snapshot is persisted to
// disk and restored at the next start.
//
//   npm run build && node examples/status-snapshot.mjs
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { SnapshotStore } from 'threadstate'
import { persistSnapshots, restoreSnapshotStore } from 'threadstate/node'

if (isMainThread) {
  const dir = await mkdtemp(join(tmpdir(), 'threadstate-example-'))
  const file = join(dir, 'status.snap')
  const { store, restored } = await restoreSnapshotStore(file, { initial: { tick: 0, agents: [], mode: 'boot' } })
  console.log(`started ${restored ? `from version ${restored.version}` : 'fresh'}`)
  const persistence = persistSnapshots(store, file, { intervalMs: 50 })
  const handlers = [0, 1].map(() => new Worker(new URL(import.meta.url), { workerData: { status: store.handle } }))
  const messages = handlers.map((w) => {
    const queue = []
    w.on('message', (m) => queue.push(m))
    return async () => {
      while (queue.length === 0) await new Promise((r) => setTimeout(r, 1))
      return queue.shift()
    }
  })
  await Promise.all(messages.map((next) => next())) // both handlers ready

  // The runtime loop: 2,000 ticks, a snapshot every 10 ticks or when the mode changes.
  const publisher = store.publisher({ everyTicks: 10, significant: (prev, next) => prev.mode !== next.mode })
  const agents = Array.from({ length: 20 }, (_, i) => ({ id: `agent-${i}`, steps: 0, status: 'idle' }))
  for (let tick = 1; tick <= 2000; tick++) {
    for (const a of agents) {
      a.steps++
      a.status = tick % 7 === 0 ? 'thinking' : 'acting'
    }
    const mode = tick < 1000 ? 'warmup' : 'running'
    // The snapshot must be a consistent copy: total = sum of the agents' steps.
    publisher.offer({ tick, mode, agents: agents.map((a) => ({ ...a })), total: agents.length * tick })
    await new Promise((r) => setImmediate(r))
  }
  publisher.flush()
  for (const w of handlers) w.postMessage('stop')
  const results = await Promise.all(messages.map((next) => next()))
  await persistence.stop()
  const again = await restoreSnapshotStore(file, { initial: { tick: 0, agents: [], mode: 'boot' } })
  console.log(`handlers read ${results.map((r) => r.reads).join(' + ')} snapshots, ${results.reduce((n, r) => n + r.inconsistent, 0)} inconsistent`)
  console.log(`published ${store.stats().publishes} versions; restored version ${again.restored?.version} with tick ${again.store.get().tick}`)
  if (results.some((r) => r.inconsistent > 0) || again.store.get().tick !== 2000) process.exitCode = 1
  await rm(dir, { recursive: true, force: true })
} else {
  // A request handler: reads the latest snapshot whenever it serves a request.
  const status = SnapshotStore.attach(workerData.status)
  let reads = 0
  let inconsistent = 0
  let stop = false
  parentPort.once('message', () => (stop = true))
  parentPort.postMessage('ready')
  while (!stop) {
    const snapshot = status.get() // frozen; the same object until the next version
    if (snapshot.agents.length > 0) {
      const total = snapshot.agents.reduce((n, a) => n + a.steps, 0)
      if (total !== snapshot.total || !Object.isFrozen(snapshot.agents)) inconsistent++
    }
    reads++
    await new Promise((r) => setImmediate(r))
  }
  parentPort.postMessage({ reads, inconsistent })
}
