/**
 * The thread that owns the state, as in the DESIGN.md control stack: an
 * estimator publishing at 100 Hz. Main measures, on its own thread, reading
 * that state four ways while this worker keeps publishing:
 *
 * - from the StateBuffer (`readInto`, `read`, `latest`), lock-free;
 * - from the one-word seqlock (the hand-written floor);
 * - from a copy guarded by a threadstate Mutex (lock, copy, unlock);
 * - by asking this thread over `postMessage` and awaiting its reply, the
 *   alternative without shared memory.
 *
 * It publishes from a timer, not a blocking loop, because it must answer
 * messages: a thread in a tight loop or in `Atomics.wait` never sees them.
 * Every version carries the checksummed payload of payload.ts, so main can
 * verify what it read. Start and end are crew handshakes: READY when
 * everything is attached; main's EXIT (crew.close()) stops the timer and
 * lets the thread end.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Mutex, StateBuffer } from 'threadstate'
import { Ctl, EXIT } from './crew.js'
import { OWNER_HZ, type OwnerData, type OwnerReply } from './kinds.js'
import { PAYLOAD, State25, fillPayload } from './payload.js'
import { SeqlockWord } from './seqlock.js'

function main(data: OwnerData): void {
  const port = parentPort
  if (!port) throw new Error('Expected state-owner.js to run in a worker thread, got the main thread')
  const control = new Int32Array(data.control)
  const buffer = StateBuffer.attach(data.state, State25)
  const seqlock = new SeqlockWord(data.seqlock)
  const mutex = Mutex.attach(data.mutex)
  const copy = new Float64Array(data.copy, 0, PAYLOAD)
  const state = { a: new Array<number>(PAYLOAD).fill(0) }
  let version = buffer.version

  const publish = (): void => {
    version++
    fillPayload(state.a, version)
    const published = buffer.publish(state, { source: 'owner' })
    if (published !== version) throw new Error(`Expected update() to publish version ${version}, got ${published}`)
    seqlock.writeVersion(version)
    mutex.lock()
    fillPayload(copy, version)
    mutex.unlock()
  }

  const onMessage = (): void => {
    const reply: OwnerReply = { version, state }
    port.postMessage(reply)
  }

  publish()
  const timer = setInterval(() => {
    if (Atomics.load(control, Ctl.KIND) === EXIT) {
      clearInterval(timer)
      port.off('message', onMessage)
      return
    }
    publish()
  }, 1000 / OWNER_HZ)
  port.on('message', onMessage)
  Atomics.add(control, Ctl.READY, 1)
  Atomics.notify(control, Ctl.READY)
}

main(workerData as OwnerData)
