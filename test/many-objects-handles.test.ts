/**
 * Small objects (issue 15 item 4): a SnapshotStore or SharedMap whose `maxBytes` is at most
 * SMALL_OBJECT_MAX_BYTES gets fixed-length buffers of its full size (no memory mapping of its
 * own; test/many-objects.test.ts makes 100,000 of them). Here: the new shape is what `create`
 * makes, behaves like a growable object up to its `maxBytes` (regions reused, CapacityError and
 * rollback at the end), `attach` accepts it in another thread and still refuses forgeries.
 *
 * Broken variants, run once: with `attach` still demanding growable buffers (the old check), the
 * "attach in a worker" tests failed with HandleError; with SMALL_OBJECT_MAX_BYTES 0 (every
 * buffer growable) the shape tests failed (`growable` true).
 */
import { describe, expect, it } from 'vitest'
import { CapacityError, HandleError, SMALL_OBJECT_MAX_BYTES, SharedMap, SnapshotStore } from '../src/index.js'
import { spawn } from './helpers.js'

describe('small SnapshotStore (fixed-length data buffer)', () => {
  it('has a fixed-length buffer of maxBytes up to SMALL_OBJECT_MAX_BYTES, a growable one above', () => {
    const small = SnapshotStore.create({ initial: { n: 0 }, maxBytes: 4096 })
    expect(small.handle.data.growable).toBe(false)
    expect(small.handle.data.byteLength).toBe(4096)
    expect(small.stats().maxBytes).toBe(4096)
    expect(SnapshotStore.create({ initial: 0, maxBytes: SMALL_OBJECT_MAX_BYTES }).handle.data.growable).toBe(false)
    const large = SnapshotStore.create({ initial: 0, maxBytes: SMALL_OBJECT_MAX_BYTES + 64 })
    expect(large.handle.data.growable).toBe(true)
    expect(SnapshotStore.create({ initial: 0 }).handle.data.growable).toBe(true)
  })

  it('publishes snapshots up to what maxBytes holds, reusing its regions, and refuses larger ones', () => {
    const store = SnapshotStore.create({ initial: { s: '' }, maxBytes: 8192 })
    for (let i = 1; i <= 200; i++) {
      const s = 'x'.repeat((i * 37) % 1500) // sizes up and down: regions move and are reused
      store.publish({ s })
      expect(store.get().s).toBe(s)
    }
    const before = store.version
    expect(() => store.publish({ s: 'y'.repeat(9000) })).toThrow(CapacityError)
    expect(store.version).toBe(before)
    expect(store.handle.data.byteLength).toBe(8192)
  })

  it('attaches in a worker, which reads and publishes', async () => {
    const store = SnapshotStore.create({ initial: { n: 1 }, maxBytes: 2048 })
    const w = spawn<{ read: unknown; version: number }>('snapshotReadPublish', { handle: store.handle }, 'small-objects.mjs')
    const outcome = await w.result
    expect(outcome).toEqual({ ok: true, value: { read: { n: 1 }, version: 2 } })
    expect(store.get()).toEqual({ n: 2 })
  })

  it('refuses forged handles of the new shape', () => {
    const store = SnapshotStore.create({ initial: { n: 1 }, maxBytes: 4096 })
    const clone = structuredClone(store.handle)
    expect(SnapshotStore.attach(clone).get()).toEqual({ n: 1 })
    // A fixed buffer shorter than the regions the control words name.
    expect(() => SnapshotStore.attach({ ...clone, data: new SharedArrayBuffer(1000) })).toThrow(HandleError)
    expect(() => SnapshotStore.attach({ ...clone, data: new ArrayBuffer(4096) } as never)).toThrow(HandleError)
    expect(() => SnapshotStore.attach({ ...clone, data: undefined } as never)).toThrow(HandleError)
    // Scribbled control words over a fixed buffer: END past the buffer.
    const words = new Int32Array(clone.buffer, clone.byteOffset, 16)
    const end = words[7]!
    words[7] = 4097
    expect(() => SnapshotStore.attach(structuredClone(store.handle))).toThrow(/END is 4097 \(maxBytes 4096\)/)
    words[7] = end
    expect(SnapshotStore.attach(structuredClone(store.handle)).get()).toEqual({ n: 1 })
  })
})

describe('small SharedMap (fixed-length arena and journal)', () => {
  it('has fixed-length buffers up to SMALL_OBJECT_MAX_BYTES (and a 4 KiB change log by default), growable ones above', () => {
    const small = SharedMap.create({ maxBytes: 8192 })
    expect(small.handle.data.growable).toBe(false)
    expect(small.handle.data.byteLength).toBe(8192)
    expect(small.handle.journal.growable).toBe(false)
    expect(small.handle.journal.byteLength).toBe(8192) // as large as the growable journal could become
    expect(small.handle.log.byteLength).toBe(4096)
    expect(SharedMap.create({ maxBytes: 4096, changeLogBytes: 1 << 16 }).handle.log.byteLength).toBe(1 << 16)
    const large = SharedMap.create({ maxBytes: SMALL_OBJECT_MAX_BYTES + 16 })
    expect(large.handle.data.growable).toBe(true)
    expect(large.handle.journal.growable).toBe(true)
    expect(large.handle.log.byteLength).toBe(256 << 10)
  })

  it('fills up to maxBytes, then a write throws CapacityError and changes nothing', () => {
    const map = SharedMap.create<string>({ maxBytes: 4096 })
    let i = 0
    let error: unknown
    try {
      for (; i < 1000; i++) map.set(`k${i}`, 'v'.repeat(40))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(CapacityError)
    expect(i).toBeGreaterThan(10)
    expect(map.size).toBe(i)
    for (let k = 0; k < i; k++) expect(map.get(`k${k}`)).toBe('v'.repeat(40))
    // Deletes free blocks that the next writes reuse within the fixed arena.
    for (let k = 0; k < i; k++) map.delete(`k${k}`)
    for (let k = 0; k < i; k++) map.set(`j${k}`, 'w'.repeat(40)) // same sizes as the deleted entries
    expect(map.size).toBe(i)
  })

  it('attaches in a worker, which reads and writes', async () => {
    const map = SharedMap.create<number>({ maxBytes: 4096 })
    map.set('a', 1)
    const w = spawn<{ read: unknown }>('mapReadWrite', { handle: map.handle }, 'small-objects.mjs')
    expect(await w.result).toEqual({ ok: true, value: { read: 1 } })
    expect(map.get('b')).toBe(2)
  })

  it('refuses forged handles of the new shape', () => {
    const map = SharedMap.create<number>({ maxBytes: 4096 })
    map.set('a', 1)
    const clone = structuredClone(map.handle)
    expect(SharedMap.attach(clone).get('a')).toBe(1)
    // An arena shorter than the bump pointer, a journal or arena that is no SharedArrayBuffer, a growable log.
    expect(() => SharedMap.attach({ ...clone, data: new SharedArrayBuffer(64) })).toThrow(/bump pointer/)
    expect(() => SharedMap.attach({ ...clone, data: new ArrayBuffer(4096) } as never)).toThrow(HandleError)
    expect(() => SharedMap.attach({ ...clone, journal: new Uint8Array(4096) } as never)).toThrow(HandleError)
    expect(() => SharedMap.attach({ ...clone, log: new SharedArrayBuffer(4096, { maxByteLength: 8192 }) })).toThrow(/fixed-length/)
  })
})
