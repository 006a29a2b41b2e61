/**
 * The WritableMap contract (src/contracts.ts), as tests any implementation
 * runs: `describeWritableMap(name, factory)`. Writes are awaited (in memory
 * they return at once; a remote map resolves after the commit). What a
 * particular implementation adds (memory limits, handles, table growth,
 * threads) is tested in its own files.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EncodeError, KeyError, OptionError, type MapChangeEvent, type WritableMap } from '../../src/index.js'
import { STRESS } from '../helpers.js'

/** Makes the maps a contract suite runs against. */
export interface MapFactory {
  /** A fresh, empty map. `changeLogBytes` bounds how far a subscriber may fall behind (4096 is the smallest). */
  create<V>(options?: { readonly changeLogBytes?: number }): WritableMap<V> | Promise<WritableMap<V>>
  /** Another holder's view of the same map (another thread's attach, another process's mirror). */
  peer<V>(map: WritableMap<V>): WritableMap<V> | Promise<WritableMap<V>>
  /** Commits of ~60-byte values that push a subscriber of a map made with `changeLogBytes: 4096` past what is kept. */
  readonly overrunCommits: number
}

/** Keys that are not ordinary in JS objects, or not well-formed strings. */
export const AWKWARD_KEYS = ['', 'a', 'b', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ключ', '🚀🚀', '\ud800', 'x'.repeat(300)]

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
const key = fc.oneof(fc.constantFrom(...AWKWARD_KEYS), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 4 }))

type Op =
  | { op: 'set'; key: string; value: unknown }
  | { op: 'delete'; key: string }
  | { op: 'setMany'; sets: [string, unknown][]; deletes: string[] }
  | { op: 'clear' }
  | { op: 'transaction'; from: string; to: string }
  | { op: 'cas'; key: string; stale: boolean; value: unknown }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
  {
    weight: 2,
    arbitrary: fc
      .record({ op: fc.constant('setMany' as const), sets: fc.array(fc.tuple(key, value), { maxLength: 8 }), deletes: fc.array(key, { maxLength: 3 }) })
      .map((u) => ({ ...u, deletes: u.deletes.filter((d) => !u.sets.some(([k]) => k === d)) })),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('transaction' as const), from: key, to: key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cas' as const), key, stale: fc.boolean(), value }) },
)

/** Runs the WritableMap contract against `factory`'s maps. */
export function describeWritableMap(name: string, factory: MapFactory): void {
  describe(`WritableMap contract: ${name}`, () => {
    it('behaves like a Map under random command sequences: versions, sizes, entries, a peer agrees', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
          const map = await factory.create<unknown>()
          const peer = await factory.peer(map)
          const model = new Map<string, unknown>()
          const versions = new Map<string, number>()
          let version = 0
          for (const o of ops) {
            switch (o.op) {
              case 'set':
                expect(await map.set(o.key, o.value)).toBe(++version)
                model.set(o.key, o.value)
                versions.set(o.key, version)
                break
              case 'delete': {
                const had = model.has(o.key)
                expect(await map.delete(o.key)).toBe(had)
                if (had) {
                  version++
                  model.delete(o.key)
                  versions.delete(o.key)
                }
                break
              }
              case 'setMany': {
                const sets = new Map(o.sets)
                expect(await map.setMany(sets, { delete: o.deletes })).toBe(++version)
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
                expect(await map.clear()).toBe(++version)
                model.clear()
                versions.clear()
                break
              case 'transaction': {
                const moved = await map.transaction((tx) => {
                  const v = tx.get(o.from)
                  if (!tx.has(o.from)) return false
                  tx.delete(o.from)
                  tx.set(o.to, v)
                  expect(tx.get(o.to)).toEqual(v) // reads see the transaction's own writes
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
                expect(await map.compareAndSet(o.key, expected, o.value)).toBe(!o.stale)
                if (!o.stale) {
                  model.set(o.key, o.value)
                  versions.set(o.key, ++version)
                }
                break
              }
            }
            // Read-your-writes in this holder; the peer has it once it reached the version.
            expect(map.size).toBe(model.size)
            expect(await peer.waitForVersionAsync(version, { timeoutMs: 10_000 })).toBe(true)
            for (const k of AWKWARD_KEYS) expect(peer.getFrozen(k)).toEqual(model.get(k))
          }
          expect(map.version).toBe(version)
          expect(map.snapshot()).toEqual(model)
          for (const k of AWKWARD_KEYS) {
            expect(map.has(k)).toBe(model.has(k))
            expect(map.get(k)).toEqual(model.get(k))
            expect(map.getEntry(k)?.version).toBe(versions.get(k))
          }
          expect(new Set(map.keys())).toEqual(new Set(model.keys()))
          expect(map.getMany([...model.keys()])).toEqual([...model.values()])
        }),
        { numRuns: 60 * STRESS },
      )
    })

    it('keys of any content are ordinary keys; nothing leaks into prototypes', async () => {
      const map = await factory.create<number>()
      for (const [i, k] of AWKWARD_KEYS.entries()) await map.set(k, i)
      await map.setMany(JSON.parse('{"__proto__": 99}') as Record<string, number>)
      expect(map.get('__proto__')).toBe(99)
      expect(map.get('constructor')).toBe(AWKWARD_KEYS.indexOf('constructor'))
      expect(map.get('\ud800')).toBe(AWKWARD_KEYS.indexOf('\ud800'))
      expect(map.get('\ud801')).toBeUndefined()
      expect(map.size).toBe(AWKWARD_KEYS.length)
      expect(Object.getPrototypeOf(map.snapshot())).toBe(Map.prototype)
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
    })

    it('get returns private copies that keep their types; getFrozen one frozen object per write', async () => {
      const map = await factory.create<unknown>()
      const stored = { list: [1, 2], when: new Date(7), tags: new Set(['a']), big: 2n ** 70n, bytes: new Uint8Array([1, 2]), byName: new Map([['x', { n: 1 }]]) }
      await map.set('o', stored)
      const copy = map.get('o') as typeof stored
      copy.list.push(3)
      expect(map.get('o')).toEqual(stored)
      expect(map.get('o')).not.toBe(map.get('o'))
      await map.set('n', -0)
      expect(Object.is(map.get('n'), -0)).toBe(true)
      const frozen = map.getFrozen('o') as typeof stored
      expect(frozen).toEqual(stored)
      expect(map.getFrozen('o')).toBe(frozen)
      expect(Object.isFrozen(frozen) && Object.isFrozen(frozen.list)).toBe(true)
      expect(() => frozen.byName.set('y', { n: 2 })).toThrow(TypeError)
      await map.set('other', 1) // another key's write leaves 'o' cached
      expect(map.getFrozen('o')).toBe(frozen)
      await map.set('o', stored) // a new write of 'o', equal content: a new object
      expect(map.getFrozen('o')).not.toBe(frozen)
      expect(map.getFrozen('o')).toEqual(stored)
    })

    it('bad input is a typed error before anything is written', async () => {
      const map = await factory.create<unknown>()
      await map.setMany({ a: 1, b: 2 })
      const before = map.version
      await expect(async () => map.set('f', () => 1)).rejects.toThrow(EncodeError)
      await expect(async () => map.setMany({ a: 3, f: { deep: [Symbol('x')] } })).rejects.toThrow(/deep\[0\]/)
      await expect(async () => map.set(1 as unknown as string, 1)).rejects.toThrow(KeyError)
      expect(() => map.get(1 as unknown as string)).toThrow(KeyError)
      await expect(async () => map.setMany({ a: 1 }, { delete: ['a'] })).rejects.toThrow(OptionError)
      await expect(async () => map.transaction(() => Promise.resolve(1))).rejects.toThrow(OptionError)
      await expect(async () =>
        map.transaction((tx) => {
          tx.set('a', 100)
          throw new Error('abandoned')
        }),
      ).rejects.toThrow('abandoned')
      expect(map.version).toBe(before)
      expect(map.snapshot()).toEqual(new Map([['a', 1], ['b', 2]]))
    })

    it('compare-and-set and compare-and-delete go by the entry version', async () => {
      const map = await factory.create<string>()
      expect(await map.compareAndSet('k', 0, 'first')).toBe(true) // 0: only if absent
      expect(await map.compareAndSet('k', 0, 'again')).toBe(false)
      const v = map.getEntry('k')!.version
      expect(await map.compareAndDelete('k', v + 1)).toBe(false)
      expect(await map.compareAndSet('k', v, 'second')).toBe(true)
      expect(await map.compareAndDelete('k', v)).toBe(false)
      expect(await map.compareAndDelete('k', map.getEntry('k')!.version)).toBe(true)
      expect(map.has('k')).toBe(false)
      expect(await map.compareAndDelete('k', 0)).toBe(false)
    })

    it("a transaction answers from the latest commit of any holder, even one that only reads; an empty setMany is a commit", async () => {
      const map = await factory.create<number>()
      const peer = await factory.peer(map)
      await map.set('n', 1)
      for (let i = 2; i < 12; i++) {
        await peer.set('n', i) // this holder may not have seen it yet (another process's mirror lags)
        expect(await map.transaction((tx) => tx.get('n'))).toBe(i)
      }
      const before = map.version
      expect(await map.setMany({})).toBe(before + 1)
      expect(map.version).toBe(before + 1)
    })

    it('iteration is over a consistent copy: writes meanwhile neither skip nor repeat keys', async () => {
      const map = await factory.create<number>()
      await map.setMany(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])))
      const seen: string[] = []
      for (const [k] of map) {
        seen.push(k)
        await map.set(`new${seen.length}`, 0)
        await map.delete(`k${(seen.length * 7) % 100}`)
      }
      expect(seen.length).toBe(100)
      expect(new Set(seen).size).toBe(100)
    })

    it('subscribe: every commit in order with its values; reset on clear and after falling behind', async () => {
      const map = await factory.create<unknown>({ changeLogBytes: 4096 })
      const controller = new AbortController()
      const events = map.subscribe({ signal: controller.signal })
      const first = events.next() // the subscription starts here
      const writer = await factory.peer(map)
      await writer.set('a', 1)
      await writer.setMany({ b: { deep: [1] }, c: 'x' }, { delete: ['a'] })
      await writer.clear()
      await writer.set('d', undefined)
      const got = [(await first).value, ...[1, 2, 3].map(() => undefined)]
      for (let i = 1; i < 4; i++) got[i] = (await events.next()).value
      expect(got).toEqual([
        { version: 1, changes: [{ key: 'a', value: 1 }] },
        { version: 2, changes: [{ key: 'b', value: { deep: [1] } }, { key: 'c', value: 'x' }, { key: 'a', deleted: true }] },
        { version: 3, changes: [], reset: true },
        { version: 4, changes: [{ key: 'd', value: undefined }] },
      ])
      // Fall behind by more than is kept: one reset event with the whole map.
      for (let i = 0; i < factory.overrunCommits; i++) await writer.set(`k${i % 10}`, 'z'.repeat(50))
      const reset = (await events.next()).value as MapChangeEvent<unknown>
      expect(reset.reset).toBe(true)
      expect(reset.version).toBe(map.version)
      expect(reset.changes.length).toBe(11)
      controller.abort()
      expect((await events.next()).done).toBe(true)
    })

    it('waitForVersionAsync resolves on a peer commit, false on timeout, rejects on abort', async () => {
      const map = await factory.create<number>()
      const peer = await factory.peer(map)
      expect(await map.waitForVersionAsync(1, { timeoutMs: 20 })).toBe(false)
      const waiting = map.waitForVersionAsync(1, { timeoutMs: 10_000 })
      await peer.set('a', 1)
      expect(await waiting).toBe(true)
      expect(map.get('a')).toBe(1)
      const controller = new AbortController()
      const aborted = map.waitForVersionAsync(5, { signal: controller.signal })
      controller.abort(new Error('stop'))
      await expect(aborted).rejects.toThrow('stop')
    })
  })
}
