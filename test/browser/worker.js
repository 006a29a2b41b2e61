// A Web Worker of test/browser.test.ts: one role per worker, on the browser
// bundle of threadstate. Web Workers may block (Atomics.wait), the page may not.
import { DeadlockError, Mutex, SharedMap, StateBuffer } from './threadstate.js'

const roles = {
  /** Updates flat out until flags[0]: a[24] is the sum of a[0..23] (the checksum). */
  writer({ handle, flags, stopAt = 1 }) {
    const buf = StateBuffer.attach(handle)
    const a = new Array(25).fill(0)
    let n = 0
    while (Atomics.load(flags, 0) !== stopAt) {
      n++
      let sum = 0
      for (let i = 0; i < 24; i++) sum += a[i] = n * 31 + i
      a[24] = sum
      buf.publish({ a })
    }
    return { updates: n }
  },

  /** Sets map keys flat out until flags[0] is 2. */
  mapWriter({ handle, flags }) {
    const map = SharedMap.attach(handle)
    let n = 0
    while (Atomics.load(flags, 0) !== 2) map.set(`w${n++ % 64}`, { n })
    return { sets: n }
  },

  /** readInto `reads` times, checking the checksum of each copy. */
  reader({ handle, reads }) {
    const buf = StateBuffer.attach(handle)
    const reader = buf.reader()
    const t = new Float64Array(buf.size)
    let torn = 0
    let versions = 0
    let last = 0
    for (let k = 0; k < reads; k++) {
      const v = reader.readInto(t)
      if (v === 0) continue
      let sum = 0
      for (let i = 0; i < 24; i++) sum += t[i]
      if (sum !== t[24]) torn++
      if (v !== last) versions++
      last = v
    }
    return { torn, versions }
  },

  /** `iterations` critical sections on two plain fields under the mutex, once all `parties` are ready (flags[4]). */
  counter({ handle, data, iterations, flags, parties }) {
    const m = Mutex.attach(handle)
    Atomics.add(flags, 4, 1)
    Atomics.notify(flags, 4)
    for (let v = Atomics.load(flags, 4); v < parties; v = Atomics.load(flags, 4)) Atomics.wait(flags, 4, v)
    let breaks = 0
    for (let i = 0; i < iterations; i++) {
      m.lock()
      const x = data[0]
      if (data[1] !== x) breaks++
      data[0] = x + 1
      data[1] = x + 1
      m.unlock()
    }
    return { breaks }
  },

  /** Holds the mutex until flags[2], saying so in flags[1]. */
  holder({ handle, flags }) {
    const m = Mutex.attach(handle)
    m.lock()
    Atomics.store(flags, 1, 1)
    Atomics.notify(flags, 1)
    while (Atomics.load(flags, 2) === 0) Atomics.wait(flags, 2, 0, 50)
    m.unlock()
    return { held: true }
  },

  /** Takes `first`, waits until both pair workers hold theirs, takes `second`. */
  pair({ first, second, flags }) {
    const a = Mutex.attach(first)
    const b = Mutex.attach(second)
    try {
      a.withLock(() => {
        Atomics.add(flags, 3, 1)
        Atomics.notify(flags, 3)
        for (let v = Atomics.load(flags, 3); v < 2; v = Atomics.load(flags, 3)) Atomics.wait(flags, 3, v)
        b.withLock(() => {})
      })
      return { outcome: 'both' }
    } catch (error) {
      if (!(error instanceof DeadlockError)) throw error
      return { outcome: 'deadlock', message: error.message }
    }
  },
}

self.onmessage = ({ data }) => {
  try {
    self.postMessage({ ok: true, value: roles[data.role](data) })
  } catch (error) {
    self.postMessage({ ok: false, error: `${error.name}: ${error.message}` })
  }
}
