/**
 * The WritableSnapshot contract (src/contracts.ts) as tests any
 * implementation runs: `describeWritableSnapshot(name, factory)`.
 */
import { describe, expect, it } from 'vitest'
import { EncodeError, type WritableSnapshot } from '../../src/index.js'

/** Makes the stores a contract suite runs against. */
export interface SnapshotFactory {
  /** A fresh store holding `initial` as version 1. */
  create<T>(initial: T): WritableSnapshot<T> | Promise<WritableSnapshot<T>>
  /** Another holder's view of the same store. */
  peer<T>(store: WritableSnapshot<T>): WritableSnapshot<T> | Promise<WritableSnapshot<T>>
}

interface Status {
  tick: number
  agents: { id: string; state: string }[]
  seen?: Map<string, number>
}

/** Runs the WritableSnapshot contract against `factory`'s stores. */
export function describeWritableSnapshot(name: string, factory: SnapshotFactory): void {
  describe(`WritableSnapshot contract: ${name}`, () => {
    it('get() is the same deep-frozen object until a new version; latest() has version and source', async () => {
      const store = await factory.create<Status>({ tick: 0, agents: [{ id: 'a', state: 'idle' }], seen: new Map([['a', 1]]) })
      const first = store.get()
      expect(store.get()).toBe(first)
      expect(store.version).toBe(1)
      expect(Object.isFrozen(first) && Object.isFrozen(first.agents[0])).toBe(true)
      expect(() => (first as Status).agents.push({ id: 'b', state: 'x' })).toThrow(TypeError)
      expect(() => (first.seen as Map<string, number>).set('b', 2)).toThrow(TypeError)
      expect(await store.publish({ tick: 1, agents: [] }, { source: 'loop' })).toBe(2)
      const second = store.get() // read-your-writes
      expect(second).not.toBe(first)
      expect(second).toEqual({ tick: 1, agents: [] })
      expect(store.latest()).toMatchObject({ version: 2, source: 'loop' })
      const peer = await factory.peer(store)
      expect(await peer.waitForVersionAsync(2, { timeoutMs: 10_000 })).toBe(true)
      expect(peer.get()).toEqual({ tick: 1, agents: [] })
    })

    it('a value that cannot be stored is an EncodeError naming its path, and changes nothing', async () => {
      const store = await factory.create<Status>({ tick: 0, agents: [] })
      const before = store.get()
      let error: unknown
      try {
        await store.publish({ tick: 1, agents: [{ id: 'a', onTick: () => 1 } as never] })
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(EncodeError)
      expect((error as EncodeError).path).toBe('agents[0].onTick')
      expect(store.version).toBe(1)
      expect(store.get()).toBe(before)
    })

    it('modify() is a serialized read-modify-write; a throwing function writes nothing', async () => {
      const store = await factory.create({ count: 0 })
      const peer = await factory.peer(store)
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : peer).modify((prev) => ({ count: prev.count + 1 }))))
      expect(await store.waitForVersionAsync(11, { timeoutMs: 10_000 })).toBe(true)
      expect(store.get().count).toBe(10)
      await expect(async () =>
        store.modify(() => {
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(await store.publish({ count: 99 })).toBe(12)
    })

    it('subscribe coalesces: each event is the latest, `skipped` counts the versions passed over', async () => {
      const store = await factory.create({ n: 0 })
      const controller = new AbortController()
      const events = store.subscribe({ signal: controller.signal })
      const first = events.next() // the subscription starts here, at version 1
      await store.publish({ n: 1 })
      expect((await first).value).toMatchObject({ value: { n: 1 }, version: 2, skipped: 0 })
      await store.publish({ n: 2 })
      await store.publish({ n: 3 })
      expect((await events.next()).value).toMatchObject({ value: { n: 3 }, version: 4, skipped: 1 })
      controller.abort()
      expect((await events.next()).done).toBe(true)
    })

    it('waitForVersionAsync: a peer publish resolves it, a timeout answers false, an abort rejects', async () => {
      const store = await factory.create({ n: 0 })
      const peer = await factory.peer(store)
      expect(await store.waitForVersionAsync(2, { timeoutMs: 20 })).toBe(false)
      const waiting = store.waitForVersionAsync(2, { timeoutMs: 10_000 })
      await peer.publish({ n: 1 })
      expect(await waiting).toBe(true)
      const controller = new AbortController()
      const aborted = store.waitForVersionAsync(9, { signal: controller.signal })
      controller.abort(new Error('stop'))
      await expect(aborted).rejects.toThrow('stop')
    })
  })
}
