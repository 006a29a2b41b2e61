// The page of test/browser.test.ts: runs threadstate's browser bundle on the
// page's main thread and in Web Workers, and leaves its findings in
// `window.__result` for the test to read.
import { BlockingNotAllowedError, Mutex, SharedMap, StateBuffer, schema, vec } from './threadstate.js'

function run(role, data) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data: m }) => {
      worker.terminate()
      if (m.ok) resolve(m.value)
      else reject(new Error(m.error))
    }
    worker.onerror = (e) => reject(new Error(e.message))
    worker.postMessage({ role, ...data })
  })
}

/** Resolves once flags[i] >= v, without blocking the page (Atomics.waitAsync). */
async function until(flags, i, v) {
  for (let x = Atomics.load(flags, i); x < v; x = Atomics.load(flags, i)) await Atomics.waitAsync(flags, i, x, 1000).value
}

async function main() {
  const result = { crossOriginIsolated: self.crossOriginIsolated }

  // 1. A StateBuffer: a writer worker flat out, two reader workers checking every copy.
  const buf = StateBuffer.create(schema({ a: vec(25) }), { history: 16 })
  const flags = new Int32Array(new SharedArrayBuffer(64))
  const writer = run('writer', { handle: buf.handle, flags })
  await buf.waitForVersionAsync(1) // the readers start once the writer runs, so they see it write
  const readers = await Promise.all([0, 1].map(() => run('reader', { handle: buf.handle, reads: 300_000 })))
  // The readers may finish before the writer worker has even started (seen in CI): stop it only
  // after it has published more than 100 versions, whatever the speed.
  await buf.waitForVersionAsync(101)
  Atomics.store(flags, 0, 1)
  result.stateBuffer = { ...(await writer), torn: readers[0].torn + readers[1].torn, versions: readers[0].versions + readers[1].versions }
  result.pageRead = buf.latest()?.value.a[24] > 0

  // 2. A Mutex: 3 workers x 300k critical sections on plain fields, started together.
  const m = Mutex.create()
  const data = new Int32Array(new SharedArrayBuffer(8))
  const counted = await Promise.all([0, 1, 2].map(() => run('counter', { handle: m.handle, data, iterations: 300_000, flags, parties: 3 })))
  result.mutex = { total: data[0], breaks: counted.reduce((n, c) => n + c.breaks, 0), stats: m.stats() }

  // 3. The page may not block: lock() of a held mutex throws BlockingNotAllowedError; lockAsync waits.
  const holding = run('holder', { handle: m.handle, flags })
  await until(flags, 1, 1)
  try {
    m.lock()
    result.blocking = 'lock() returned'
  } catch (error) {
    result.blocking = error instanceof BlockingNotAllowedError ? 'BlockingNotAllowedError' : `${error.name}: ${error.message}`
  }
  result.timedAsync = await m.lockAsync({ timeoutMs: 30 })
  setTimeout(() => {
    Atomics.store(flags, 2, 1)
    Atomics.notify(flags, 2)
  }, 20)
  result.lockAsync = await m.lockAsync({ timeoutMs: 10_000 })
  m.unlock()
  await holding

  // 4. Two workers lock A->B and B->A: the deadlock is reported to one of them.
  const A = Mutex.create()
  const B = Mutex.create()
  const pairFlags = new Int32Array(new SharedArrayBuffer(64))
  const pair = await Promise.all([
    run('pair', { first: A.handle, second: B.handle, flags: pairFlags }),
    run('pair', { first: B.handle, second: A.handle, flags: pairFlags }),
  ])
  result.deadlock = pair.map((p) => p.outcome).sort()

  // 5. The page writes while workers write: the objects' writer mutexes are often held by a worker
  // when the page arrives; the page may not block, so it spins for that short section instead.
  const shared = StateBuffer.create(schema({ a: vec(25) }))
  const map = SharedMap.create()
  const busy = new Int32Array(new SharedArrayBuffer(64))
  const workers = [run('writer', { handle: shared.handle, flags: busy, stopAt: 2 }), run('mapWriter', { handle: map.handle, flags: busy })]
  while (shared.version < 1000 || map.version < 1000) await new Promise((r) => setTimeout(r, 1))
  const a = new Array(25).fill(1)
  a[24] = 24
  let pageErrors = 0
  let pageWrites = 0
  for (let k = 0; k < 20_000; k++) {
    try {
      shared.publish({ a })
      map.set(`page${k % 8}`, { k })
      pageWrites++
    } catch (error) {
      pageErrors++
      result.pageError ??= `${error.name}: ${error.message}`
    }
  }
  Atomics.store(busy, 0, 2)
  const [written, mapped] = await Promise.all(workers)
  result.pageWrites = { pageWrites, pageErrors, workerUpdates: written.updates, workerSets: mapped.sets }
  return result
}

main().then(
  (result) => (window.__result = { ok: true, result }),
  (error) => (window.__result = { ok: false, error: `${error.name}: ${error.message}\n${error.stack}` }),
)
