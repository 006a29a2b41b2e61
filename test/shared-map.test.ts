/**
 * SharedMap on one thread: semantics against a plain Map (fast-check command
 * sequences), keys of any content, copy-on-read, errors that change nothing,
 * memory reuse, change events, waits and handles.
 */
import fc from 'fast-check'
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
import { STRESS } from './helpers.js'

const KEYS = ['', 'a', 'b', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ключ', '🚀🚀', '\ud800', 'x'.repeat(300)]

const value = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.array(fc.integer()))),
  fc.array(fc.oneof(fc.integer(), fc.string())),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
)
const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 4 }))

type Op =
  | { op: 'set'; key: string; value: unknown }
  | { op: 'delete'; key: string }
  | { op: 'update'; sets: [string, unknown][]; deletes: string[] }
  | { op: 'clear' }
  | { op: 'transaction'; from: string; to: string }
  | { op: 'cas'; key: string; stale: boolean; value: unknown }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
  {
    weight: 2,
    arbitrary: fc
      .record({ op: fc.constant('update' as const), sets: fc.array(fc.tuple(key, value), { maxLength: 8 }), deletes: fc.array(key, { maxLength: 3 }) })
      .map((u) => ({ ...u, deletes: u.deletes.filter((d) => !u.sets.some(([k]) => k === d)) })),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('transaction' as const), from: key, to: key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cas' as const), key, stale: fc.boolean(), value }) },
)

describe('SharedMap, one thread', () => {
  it('behaves like a Map under random command sequences (versions, sizes, snapshots)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const map = SharedMap.create<unknown>({ initialCapacity: 0 })
        // A second instance on the same memory, whose getFrozen cache lives across commands.
        const reader = SharedMap.attach<unknown>(map.handle)
        const model = new Map<string, unknown>()
        const versions = new Map<string, number>()
        let version = 0
        for (const o of ops) {
          switch (o.op) {
            case 'set':
              expect(map.set(o.key, o.value)).toBe(++version)
              model.set(o.key, o.value)
              versions.set(o.key, version)
              break
            case 'delete': {
              const had = model.has(o.key)
              expect(map.delete(o.key)).toBe(had)
              if (had) {
                version++
                model.delete(o.key)
                versions.delete(o.key)
              }
              break
            }
            case 'update': {
              const sets = new Map(o.sets)
              expect(map.setMany(sets, { delete: o.deletes })).toBe(++version)
              for (const [k, v] of sets) {
                model.set(k, v)
                versions.set(k, version)
              }
              for (const k of o.deletes) {
                model.delete(k)
                versions.delete(k)
              }
              break
            }
            case 'clear':
              expect(map.clear()).toBe(++version)
              model.clear()
              versions.clear()
              break
            case 'transaction': {
              const moved = map.transaction((tx) => {
                const v = tx.get(o.from)
                if (!tx.has(o.from)) return false
                tx.delete(o.from)
                tx.set(o.to, v)
                expect(tx.get(o.to)).toEqual(v)
                return true
              })
              expect(moved).toBe(model.has(o.from))
              if (moved) {
                version++
                const v = model.get(o.from)
                model.delete(o.from)
                versions.delete(o.from)
                model.set(o.to, v)
                versions.set(o.to, version)
              }
              break
            }
            case 'cas': {
              const current = versions.get(o.key) ?? 0
              const expected = o.stale ? current + 1 : current
              expect(map.compareAndSet(o.key, expected, o.value)).toBe(!o.stale)
              if (!o.stale) {
                model.set(o.key, o.value)
                versions.set(o.key, ++version)
              }
              break
            }
          }
          expect(map.size).toBe(model.size)
          for (const k of KEYS) expect(reader.getFrozen(k)).toEqual(model.get(k))
        }
        expect(map.version).toBe(version)
        expect(map.snapshot()).toEqual(model)
        for (const k of KEYS) {
          expect(map.has(k)).toBe(model.has(k))
          expect(map.get(k)).toEqual(model.get(k))
          const entry = map.getEntry(k)
          expect(entry?.version).toBe(versions.get(k))
        }
        expect(new Set(map.keys())).toEqual(new Set(model.keys()))
        expect(map.getMany([...model.keys()])).toEqual([...model.values()])
      }),
      { numRuns: 150 * STRESS },
    )
  })

  it('keys of any content are ordinary keys', () => {
    const map = SharedMap.create<number>()
    KEYS.forEach((k, i) => map.set(k, i))
    const plain = JSON.parse('{"__proto__": 99}') as Record<string, number>
    map.setMany(plain)
    expect(map.get('__proto__')).toBe(99)
    expect(map.get('constructor')).toBe(KEYS.indexOf('constructor'))
    expect(map.get('\ud800')).toBe(KEYS.indexOf('\ud800'))
    expect(map.get('\ud801')).toBeUndefined()
    expect(map.get('nope')).toBeUndefined()
    expect(map.size).toBe(KEYS.length)
    expect(Object.getPrototypeOf(map.snapshot())).toBe(Map.prototype)
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })

  it('returns private copies (copy-on-read) of objects; values keep their types', () => {
    const map = SharedMap.create<unknown>()
    const stored = { list: [1, 2], when: new Date(7), tags: new Set(['a']), big: 2n ** 70n, bytes: new Uint8Array([1, 2]), own: JSON.parse('{"__proto__": 1}') }
    map.set('o', stored)
    const a = map.get('o') as typeof stored
    a.list.push(3)
    expect(map.get('o')).toEqual(stored)
    expect(map.get('o')).not.toBe(map.get('o'))
    expect(Object.hasOwn((map.get('o') as typeof stored).own, '__proto__')).toBe(true)
    map.set('n', -0)
    expect(Object.is(map.get('n'), -0)).toBe(true)
    map.set('nan', NaN)
    expect(map.get('nan')).toBeNaN()
  })

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
