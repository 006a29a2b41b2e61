// Example: an estimator publishes a drone's state at 100 Hz; a controller in
// another worker reads it at 1 kHz with readInto (no allocation, no lock) and
// notices when the estimator goes silent: its reads turn stale.
//
//   npm run build && node examples/drone-control.mjs
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { StateBuffer, bool, enumOf, f64, quat, schema, vec3 } from 'threadstate'
import { superviseWorker } from 'threadstate/node'

const Drone = schema({
  position: vec3({ unit: 'm' }),
  velocity: vec3({ unit: 'm/s' }),
  attitude: quat(),
  mode: enumOf(['idle', 'armed', 'flying']),
  battery: f64({ unit: '%', min: 0, max: 100 }),
  armed: bool(),
})

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

if (isMainThread) {
  const drone = StateBuffer.create(Drone, { history: 16 })
  const estimator = new Worker(new URL(import.meta.url), { workerData: { role: 'estimator', drone: drone.handle } })
  superviseWorker(estimator)
  const controller = new Worker(new URL(import.meta.url), { workerData: { role: 'controller', drone: drone.handle } })
  const report = new Promise((resolve) => controller.once('message', resolve))
  await drone.waitForVersionAsync(20, { timeoutMs: 30_000 }) // the estimator is up (workers start slowly on a busy machine)
  setTimeout(() => void estimator.terminate(), 300) // then it dies 0.3 s later
  const { reads, fresh, stale, lastVersion, x } = await report
  const stats = drone.stats()
  console.log(`controller: ${reads} reads at ~1 kHz, ${fresh} fresh, ${stale} stale after the estimator stopped`)
  console.log(`last version ${lastVersion}, x = ${x.toFixed(3)} m; buffer: ${stats.updates} updates from ${Object.keys(stats.sources)}`)
  if (stale === 0 || fresh === 0 || stats.sources.estimator !== stats.updates) process.exitCode = 1
} else if (workerData.role === 'estimator') {
  const drone = StateBuffer.attach(workerData.drone, Drone)
  for (let k = 0; ; k++) {
    const t = k / 100
    drone.publish(
      {
        position: [Math.sin(t), Math.cos(t), 10],
        velocity: { value: [Math.cos(t) * 3.6, -Math.sin(t) * 3.6, 0], unit: 'km/h' }, // converted to m/s
        attitude: [1, 0, 0, 0],
        mode: 'flying',
        battery: 100 - t,
        armed: true,
      },
      { source: 'estimator' },
    )
    sleep(10) // 100 Hz
  }
} else {
  const drone = StateBuffer.attach(workerData.drone, Drone)
  const reader = drone.reader({ maxAgeMs: 50 })
  const flat = new Float64Array(drone.size)
  const x = drone.fields.find((f) => f.path === 'position').offset
  let reads = 0
  let fresh = 0
  let stale = 0
  let lastVersion = 0
  drone.waitForVersion(1, 30_000)
  // 1000 reads at ~1 kHz, and on until 50 stale ones were seen (at most 30 s on a busy machine).
  const deadline = Date.now() + 30_000
  for (let i = 0; i < 1000 || (stale < 50 && Date.now() < deadline); i++) {
    lastVersion = reader.readInto(flat)
    if (lastVersion !== 0) {
      reads++
      if (reader.fresh) fresh++
      if (reader.stale) stale++ // act on it: hold position, raise an alarm...
    }
    sleep(1) // 1 kHz
  }
  parentPort.postMessage({ reads, fresh, stale, lastVersion, x: flat[x] })
}
