/** threadstate/node: Prometheus metrics of shared objects and the HTTP status endpoint. */
import { describe, expect, it } from 'vitest'
import { Mutex, RWLock, SharedMap, SnapshotStore, StateMachine } from '../src/index.js'
import { MutexWord } from '../src/sync/robust-lock.js'
import { RWLockWord } from '../src/sync/rwlock.js'
import { Stat } from '../src/sync/stats.js'
import { ThreadstateMetrics, serveStatus, toJson } from '../src/node/index.js'

describe('metrics and status endpoint', () => {
  it('serves /status as JSON and /metrics as Prometheus text of every object', async () => {
    const store = SnapshotStore.create({ initial: { tick: 1, seen: new Map([['a', 1n]]), tags: new Set(['x']) } })
    const mutex = Mutex.create()
    mutex.lock()
    mutex.unlock()
    const map = SharedMap.create<number>()
    map.set('k', 1)
    const fsm = StateMachine.create({ states: ['idle', 'busy'], initial: 'idle', transitions: { idle: ['busy'] } })
    fsm.transition('busy')
    const metrics = new ThreadstateMetrics({ store, mutex, map, fsm })
    const server = await serveStatus({ status: store, metrics })
    try {
      const status = await fetch(`${server.url}/status`)
      expect(status.headers.get('content-type')).toBe('application/json')
      expect(await status.json()).toEqual({ tick: 1, seen: { a: '1' }, tags: ['x'] })
      const text = await (await fetch(`${server.url}/metrics`)).text()
      expect(text).toMatch(/^threadstate_acquisitions\{object="mutex",type="Mutex"\} 1$/m)
      expect(text).toMatch(/^threadstate_size\{object="map",type="SharedMap"\} 1$/m)
      expect(text).toMatch(/^threadstate_version\{object="store",type="SnapshotStore"\} 1$/m)
      expect(text).toMatch(/^threadstate_state_info\{object="fsm",type="StateMachine",value="busy"\} 1$/m)
      expect(text).toMatch(/^threadstate_transitions\{object="fsm",type="StateMachine"\} 1$/m)
      // The lock's wait histogram is a Prometheus histogram (no contended wait yet: all zero).
      expect(text).toMatch(/^# TYPE threadstate_lock_wait_seconds histogram$/m)
      expect(text).toMatch(/^threadstate_lock_wait_seconds_bucket\{object="mutex",type="Mutex",side="",le="\+Inf"\} 0$/m)
      expect(text).toMatch(/^threadstate_lock_wait_seconds_count\{object="mutex",type="Mutex",side=""\} 0$/m)
      expect((await fetch(`${server.url}/nope`)).status).toBe(404)
      expect((await fetch(`${server.url}/status`, { method: 'POST' })).status).toBe(405)
    } finally {
      await server.close()
    }
  })

  it('lock waits become cumulative Prometheus histogram buckets (RWLock writers under side="write")', async () => {
    const mutex = Mutex.create()
    const rw = RWLock.create()
    // Three contended waits written into the shared histograms: 1.5 µs, 3 µs (buckets 1, 2), 5 ms (bucket 13).
    const f = new Float64Array(mutex.handle.buffer, mutex.handle.byteOffset + MutexWord.STATS_BYTE, Stat.FIELDS)
    f[Stat.WAIT_HISTOGRAM + 1] = 1
    f[Stat.WAIT_HISTOGRAM + 2] = 1
    f[Stat.WAIT_HISTOGRAM + 13] = 1
    f[Stat.CONTENDED] = 3
    f[Stat.WAIT_TOTAL_MS] = 5.0045
    const w = new Float64Array(rw.handle.buffer, rw.handle.byteOffset + RWLockWord.STATS_BYTE, Stat.FIELDS)
    w[Stat.WAIT_HISTOGRAM + 0] = 4
    w[Stat.CONTENDED] = 4
    const text = await new ThreadstateMetrics({ mutex, rw }).metrics()
    const bucket = (labels: string, le: string): number => Number(new RegExp(`^threadstate_lock_wait_seconds_bucket\\{${labels},le="${le.replace('+', '\\+')}"\\} (\\S+)$`, 'm').exec(text)?.[1])
    const m = 'object="mutex",type="Mutex",side=""'
    expect(bucket(m, '0.000001')).toBe(0)
    expect(bucket(m, '0.000002')).toBe(1)
    expect(bucket(m, '0.000004')).toBe(2)
    expect(bucket(m, '0.004096')).toBe(2)
    expect(bucket(m, '0.008192')).toBe(3)
    expect(bucket(m, '+Inf')).toBe(3)
    expect(text).toMatch(/^threadstate_lock_wait_seconds_sum\{object="mutex",type="Mutex",side=""\} 0\.0050045$/m)
    expect(text).toMatch(/^threadstate_lock_wait_seconds_count\{object="mutex",type="Mutex",side=""\} 3$/m)
    expect(bucket('object="rw",type="RWLock",side="write"', '0.000001')).toBe(4)
  })

  it('/status encodes a snapshot once per version, however many requests (issue 15 item 15); slow clients are timed out', async () => {
    const store = SnapshotStore.create({ initial: { tick: 0, items: Array.from({ length: 100 }, (_, i) => ({ i })) } })
    let encodes = 0
    // Counts the encodings of the object the store hands out (toJSON runs once per JSON.stringify).
    const values = new WeakMap<object, object>()
    const status = {
      get: () => {
        const snapshot = store.get() as object
        let wrapped = values.get(snapshot)
        if (wrapped === undefined) {
          wrapped = { toJSON: () => (encodes++, snapshot) }
          values.set(snapshot, wrapped)
        }
        return wrapped
      },
    }
    const server = await serveStatus({ status })
    try {
      const bodies = await Promise.all(Array.from({ length: 20 }, () => fetch(`${server.url}/status`).then((r) => r.json())))
      expect(bodies.every((b) => (b as { tick: number }).tick === 0)).toBe(true)
      expect(encodes).toBe(1)
      store.publish({ tick: 1, items: [] })
      expect(await (await fetch(`${server.url}/status`)).json()).toEqual({ tick: 1, items: [] })
      expect(encodes).toBe(2)
      expect(server.server.headersTimeout).toBeLessThanOrEqual(10_000)
      expect(server.server.requestTimeout).toBeLessThanOrEqual(15_000)
    } finally {
      await server.close()
    }
  })

  it('toJson carries Map, Set, BigInt and typed arrays', () => {
    expect(toJson({ m: new Map([[1, 'a']]), b: 2n, t: new Float64Array([1.5]) })).toBe('{"m":[[1,"a"]],"b":"2","t":[1.5]}')
  })
})
