/**
 * SharedMap on one thread: what this implementation adds to the WritableMap
 * contract (test/contract/map.contract.ts: semantics against a plain Map,
 * awkward keys, copy-on-read, typed errors, CAS, iteration, change events,
 * waits): the frozen cache's bound, validation, capacity and rollback, memory
 * reuse, table growth, the change log's reset records, handles.
 */
import { describe, expect, it } from 'vitest'
import {
  CapacityError,
  EncodeError,
  FROZEN_CACHE_KEYS,
  HandleError,
  KeyError,
  OptionError,
  SharedMap,
  ValidationError,
  type MapChangeEvent,
  type StandardSchemaV1,
} from '../src/index.js'

describe('SharedMap, one thread', () => {
  it('getFrozen: one deep-frozen object per write, shared by the calls of a thread', () => {
    const map = SharedMap.create<unknown>()
    const reader = SharedMap.attach<unknown>(map.handle)
    const stored = { list: [1, 2], nested: { tags: new Set(['a']), byName: new Map([['x', { n: 1 }]]) } }
    map.set('o', stored)
    const a = reader.getFrozen('o') as typeof stored
    expect(a).toEqual(stored)
    expect(reader.getFrozen('o')).toBe(a) // no decode while 'o' is unchanged
    expect(Object.isFrozen(a) && Object.isFrozen(a.list) && Object.isFrozen(a.nested)).toBe(true)
    expect(() => a.list.push(3)).toThrow(TypeError)
    expect(() => a.nested.tags.add('b')).toThrow(TypeError)
    expect(() => a.nested.byName.set('y', { n: 2 })).toThrow(TypeError)
    expect(reader.get('o')).not.toBe(a) // get still returns private copies
    map.set('other', 1) // another key's write does not invalidate 'o'
    expect(reader.getFrozen('o')).toBe(a)
    map.set('o', { list: [9] }) // a new write of 'o' does
    expect(reader.getFrozen('o')).toEqual({ list: [9] })
    map.set('o', stored) // equal content, new write: a new object
    const b = reader.getFrozen('o')
    expect(b).toEqual(stored)
    expect(b).not.toBe(a)
    map.delete('o')
    expect(reader.getFrozen('o')).toBeUndefined()
    map.set('n', 5)
    expect(reader.getFrozen('n')).toBe(5)
    expect(reader.getFrozen('missing')).toBeUndefined()
    expect(() => reader.getFrozen(7 as unknown as string)).toThrow(KeyError)
  })

  it('getFrozen keeps at most FROZEN_CACHE_KEYS keys per thread and stays right past that', () => {
    const map = SharedMap.create<{ i: number }>()
    const n = FROZEN_CACHE_KEYS + 10
    const entries: Record<string, { i: number }> = {}
    for (let i = 0; i < n; i++) entries[`k${i}`] = { i }
    map.setMany(entries)
    const first = map.getFrozen('k0')
    for (let i = 0; i < n; i++) expect(map.getFrozen(`k${i}`)).toEqual({ i })
    // k0 was dropped (the oldest): decoded again, equal but a new object.
    const again = map.getFrozen('k0')
    expect(again).toEqual({ i: 0 })
    expect(again).not.toBe(first)
    expect(map.getFrozen(`k${n - 1}`)).toBe(map.getFrozen(`k${n - 1}`))
  })

  it('setMany: a key given twice keeps its first place and its last value; set and deleted is an OptionError (few keys and many)', async () => {
    for (const n of [3, 10, 16, 17, 40]) {
      const map = SharedMap.create<number>()
      map.setMany({ gone: 0, stays: 0 })
      // n distinct keys, each given twice (the second value wins), then deletes.
      const pairs: [string, number][] = []
      for (let i = 0; i < n; i++) pairs.push([`k${i}`, i])
      for (let i = n - 1; i >= 0; i -= 2) pairs.push([`k${i}`, 1000 + i])
      const model = new Map<string, number>([['gone', 0], ['stays', 0]])
      for (const [k, v] of pairs) model.set(k, v)
      model.delete('gone')
      const events = map.subscribe()
      const first = events.next()
      await new Promise((r) => setTimeout(r, 10))
      map.setMany(pairs, { delete: ['gone', 'never-there', 'gone'] })
      expect(new Map(map.entries()), `n=${n}`).toEqual(model)
      const event = (await first).value as MapChangeEvent<number>
      expect(event.reset).toBeUndefined()
      expect(event.changes.map((c) => c.key), `n=${n}`).toEqual([...pairs.slice(0, n).map(([k]) => k), 'gone', 'never-there'])
      await events.return(undefined)
      // a key both set and deleted, wherever it sits, changes nothing
      const before = map.version
      expect(() => map.setMany(pairs, { delete: [`k${n - 1}`] }), `n=${n}`).toThrow(OptionError)
      expect(() => map.setMany(pairs, { delete: ['k0'] }), `n=${n}`).toThrow(OptionError)
      expect(map.version).toBe(before)
    }
  })

  it('bad input throws a typed error and changes nothing', () => {
    const schema: StandardSchemaV1<number> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (v) => (typeof v === 'number' && v >= 0 ? { value: v } : { issues: [{ message: 'must be a number >= 0' }] }),
      },
    }
    const map = SharedMap.create<number>({ validate: schema })
    map.setMany({ a: 1, b: 2 })
    const before = map.version
    expect(() => map.setMany({ a: 5, b: -1 })).toThrow(ValidationError)
    const plain = SharedMap.attach<unknown>(map.handle) // the schema is not carried: encoding is checked alone
    expect(() => plain.set('f', () => 1)).toThrow(EncodeError)
    expect(() => plain.setMany({ a: 3, f: { deep: [Symbol('x')] } })).toThrow(/deep\[0\]/)
    expect(() => map.get(1 as unknown as string)).toThrow(KeyError)
    expect(() => map.setMany({ a: 1 }, { delete: ['a'] })).toThrow(OptionError)
    expect(() => map.transaction(() => Promise.resolve(1))).toThrow(OptionError)
    expect(() =>
      map.transaction((tx) => {
        tx.set('a', 100)
        throw new Error('abandoned')
      }),
    ).toThrow('abandoned')
    expect(map.version).toBe(before)
    expect(map.snapshot()).toEqual(new Map([['a', 1], ['b', 2]]))
    expect(() => SharedMap.create({ maxBytes: 10 })).toThrow(OptionError)
    expect(() => SharedMap.create({ changeLogBytes: 5000 })).toThrow(OptionError)
    expect(() => SharedMap.create({ validate: {} as StandardSchemaV1 })).toThrow(OptionError)
  })

  it('a commit that does not fit in maxBytes throws CapacityError and is rolled back whole', () => {
    const map = SharedMap.create<string>({ maxBytes: 64 << 10 })
    map.setMany({ keep: 'me', other: 'too' })
    const entries: Record<string, string> = {}
    for (let i = 0; i < 100; i++) entries[`k${i}`] = 'x'.repeat(1000)
    expect(() => map.setMany(entries, { delete: ['other'] })).toThrow(CapacityError)
    expect(map.snapshot()).toEqual(new Map([['keep', 'me'], ['other', 'too']]))
    expect(map.stats().rollbacks).toBe(1)
    // And the map still works, and can use the space it has.
    for (let i = 0; i < 20; i++) map.set(`k${i}`, 'x'.repeat(1000))
    expect(map.size).toBe(22)
  })

  it('values written in place (same kind and length) are rolled back too, versions included', () => {
    const map = SharedMap.create<unknown>({ maxBytes: 64 << 10 })
    map.setMany({ n: 1, s: 'abc', o: { a: 1 }, t: true })
    const before = ['n', 's', 'o', 't'].map((k) => map.getEntry(k))
    const usedBefore = map.stats().usedBytes
    map.set('n', 2) // in place: no new block
    map.set('s', 'xyz')
    map.set('o', { a: 2 })
    expect(map.stats().usedBytes).toBe(usedBefore)
    expect(map.getEntry('n')).toEqual({ value: 2, version: map.version - 2 })
    const written = ['n', 's', 'o', 't'].map((k) => map.getEntry(k))
    // A commit that overwrites all four in place first, then does not fit: nothing of it stays.
    const entries = new Map<string, unknown>([['n', 3], ['s', 'XYZ'], ['o', { a: 3 }], ['t', false], ['t', true]])
    for (let i = 0; i < 100; i++) entries.set(`k${i}`, 'x'.repeat(1000))
    expect(() => map.setMany(entries)).toThrow(CapacityError)
    expect(['n', 's', 'o', 't'].map((k) => map.getEntry(k))).toEqual(written)
    expect(written.map((e) => e?.value)).toEqual([2, 'xyz', { a: 2 }, true])
    expect(before[3]).toEqual(written[3])
    // A value of another length or kind gets a new block, as before.
    map.set('s', 'longer than before')
    map.set('n', 'now a string')
    expect(map.snapshot()).toEqual(new Map<string, unknown>([['n', 'now a string'], ['s', 'longer than before'], ['o', { a: 2 }], ['t', true]]))
  })

  it("a commit undone after it wrote the version (a dead writer's recovery) restores the version, even a control field journaled twice", () => {
    const map = SharedMap.create<number>()
    map.set('a', 1)
    const version = map.version
    const writes = map.stats().writes
    // The journal's part of a commit that dies after its version and write count are written, by hand:
    // setCounters is not deduplicated, so both are journaled twice here; undo replays backwards.
    const journal = (map as unknown as { writer: { journal: { setCounters(version: number, writes: number): void; undo(): number } } }).writer.journal
    journal.setCounters(version + 1, writes + 1)
    journal.setCounters(version + 2, writes + 2)
    expect(map.version).toBe(version + 2)
    expect(journal.undo()).toBe(8)
    expect(map.version).toBe(version)
    expect(map.stats().writes).toBe(writes)
    expect(map.set('b', 2)).toBe(version + 1)
  })

  it('a writer whose views predate another writer growing the buffer extends them before writing past them', () => {
    // Each attached instance has its own views of the data buffer. A commit
    // makes its views reach TOP (cheap: no read of the growable buffer's
    // byteLength); an allocation past them must extend them even when the
    // buffer is already long enough (another writer grew it, then clear()
    // moved TOP back to the start).
    const a = SharedMap.create<string>()
    const b = SharedMap.attach<string>(a.handle)
    b.set('x', '1') // b's views: the initial size
    const initial = a.stats().dataBytes
    a.set('big', 'y'.repeat(initial)) // 2 bytes a unit: the buffer grows
    expect(a.stats().dataBytes).toBeGreaterThan(initial)
    a.clear() // TOP back at the start; the buffer stays grown
    const wide = 'z'.repeat(initial / 2 + 100) // a block from near the start to past b's views
    b.set('wide', wide)
    expect(a.get('wide')).toBe(wide)
    expect(b.get('wide')).toBe(wide)
    expect(SharedMap.attach<string>(a.handle).get('wide')).toBe(wide)
  })

  it('memory freed by overwrites and deletes is reused: churn does not grow the arena', () => {
    const map = SharedMap.create<unknown>()
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, { i, pad: 'y'.repeat(i % 100) })
    const used = map.stats().usedBytes
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1000; i++) map.set(`k${i}`, { i, round, pad: 'y'.repeat((i + round) % 100) })
      for (let i = 0; i < 1000; i += 3) map.delete(`k${i}`)
      for (let i = 0; i < 1000; i += 3) map.set(`k${i}`, { i })
    }
    const stats = map.stats()
    expect(stats.size).toBe(1000)
    expect(stats.usedBytes).toBeLessThan(used * 1.6)
    expect(map.get('k998')).toEqual({ i: 998, round: 19, pad: 'y'.repeat((998 + 19) % 100) })
    map.clear()
    expect(map.stats().usedBytes).toBe(0)
    expect(map.stats().size).toBe(0)
    map.set('after', 1)
    expect(map.snapshot()).toEqual(new Map([['after', 1]]))
  })

  it('grows from an empty table to 50k keys and back', () => {
    const map = SharedMap.create<number>({ initialCapacity: 0 })
    for (let i = 0; i < 50_000; i++) map.set(`key:${i}`, i)
    expect(map.stats().tableGrows).toBeGreaterThan(5)
    for (let i = 0; i < 50_000; i += 7) expect(map.get(`key:${i}`)).toBe(i)
    for (let i = 0; i < 50_000; i++) if (i % 2) map.delete(`key:${i}`)
    expect(map.size).toBe(25_000)
    for (let i = 0; i < 50_000; i++) expect(map.get(`key:${i}`)).toBe(i % 2 ? undefined : i)
  })

  it('iteration is over a consistent copy: writes during iteration neither skip nor repeat keys', () => {
    const map = SharedMap.create<number>()
    for (let i = 0; i < 100; i++) map.set(`k${i}`, i)
    const seen: string[] = []
    for (const [k] of map) {
      seen.push(k)
      map.set(`new${seen.length}`, 0)
      map.delete(`k${(seen.length * 7) % 100}`)
    }
    expect(seen.length).toBe(100)
    expect(new Set(seen).size).toBe(100)
  })

  it('subscribe: one event per commit, in order, with values; reset on clear and after overrun', async () => {
    const map = SharedMap.create<unknown>({ changeLogBytes: 4096 })
    const events: MapChangeEvent<unknown>[] = []
    const controller = new AbortController()
    const it = map.subscribe({ signal: controller.signal })
    const pending = it.next() // starts the subscription, synchronously: the writes below are all delivered
    map.set('a', 1)
    map.setMany({ b: { deep: [1] }, c: 'x' }, { delete: ['a'] })
    map.clear()
    map.set('d', undefined)
    events.push((await pending).value as MapChangeEvent<unknown>)
    for (let i = 0; i < 3; i++) events.push((await it.next()).value as MapChangeEvent<unknown>)
    expect(events).toEqual([
      { version: 1, changes: [{ key: 'a', value: 1 }] },
      { version: 2, changes: [{ key: 'b', value: { deep: [1] } }, { key: 'c', value: 'x' }, { key: 'a', deleted: true }] },
      { version: 3, changes: [], reset: true },
      { version: 4, changes: [{ key: 'd', value: undefined }] },
    ])
    // Fall behind by more than half the log: one reset event with the whole map.
    for (let i = 0; i < 200; i++) map.set(`k${i % 10}`, 'z'.repeat(50))
    const reset = (await it.next()).value as MapChangeEvent<unknown>
    expect(reset.reset).toBe(true)
    expect(reset.version).toBe(map.version)
    expect(reset.changes.length).toBe(11)
    // A commit too big for the log also arrives as a reset.
    map.setMany(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`big${i}`, 'w'.repeat(100)])))
    const big = (await it.next()).value as MapChangeEvent<unknown>
    expect(big.reset).toBe(true)
    expect(big.changes.length).toBe(111)
    expect(map.stats().subscribers).toBe(1)
    controller.abort()
    expect((await it.next()).done).toBe(true)
    expect(map.stats().subscribers).toBe(0)
  })

  it('waits for versions, sync and async', async () => {
    const map = SharedMap.create<number>()
    expect(map.waitForVersion(1, 10)).toBe(false)
    setTimeout(() => map.set('a', 1), 10)
    expect(await map.waitForVersionAsync(1, { timeoutMs: 5000 })).toBe(true)
    expect(map.waitForVersion(1, 0)).toBe(true)
  })

  it('handles: attach sees the same map; bad handles are refused', () => {
    const map = SharedMap.create<number>()
    map.set('a', 1)
    const again = SharedMap.attach<number>(structuredClone(map.handle))
    expect(again.get('a')).toBe(1)
    again.set('b', 2)
    expect(map.get('b')).toBe(2)
    expect(() => SharedMap.attach({ ...map.handle, data: new SharedArrayBuffer(64) } as never)).toThrow(HandleError)
    expect(() => SharedMap.attach({ ...map.handle, layoutVersion: 99 } as never)).toThrow(HandleError)
    expect(() => SharedMap.attach({ ...map.handle, type: 'SnapshotStore' } as never)).toThrow(HandleError)
    expect(() => SharedMap.attach(null as never)).toThrow(HandleError)
  })
})
