/** threadstate/node: Prometheus metrics of shared objects and the HTTP status endpoint. */
import { describe, expect, it } from 'vitest'
import { Mutex, SharedMap, SnapshotStore, StateMachine } from '../src/index.js'
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
      expect((await fetch(`${server.url}/nope`)).status).toBe(404)
      expect((await fetch(`${server.url}/status`, { method: 'POST' })).status).toBe(405)
    } finally {
      await server.close()
    }
  })

  it('toJson carries Map, Set, BigInt and typed arrays', () => {
    expect(toJson({ m: new Map([[1, 'a']]), b: 2n, t: new Float64Array([1.5]) })).toBe('{"m":[[1,"a"]],"b":"2","t":[1.5]}')
  })
})
