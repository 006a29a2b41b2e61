/**
 * SnapshotStore on one thread: freezing, validation and capacity errors, growth, the publisher,
 * handles. The behaviour every WritableSnapshot shares (identity per version, modify, subscribe,
 * waits) is in test/contract/snapshot.contract.ts.
 */
import { describe, expect, it } from 'vitest'
import {
  CapacityError,
  EncodeError,
  HandleError,
  OptionError,
  SnapshotStore,
  ValidationError,
  type StandardSchemaV1,
} from '../src/index.js'

interface Status {
  tick: number
  agents: { id: string; state: string }[]
  seen?: Map<string, number>
}

/** A tiny Standard Schema validator (what zod/valibot/arktype provide). */
const StatusSchema: StandardSchemaV1<Status> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) => {
      const v = value as Status
      if (typeof v?.tick !== 'number' || v.tick < 0) return { issues: [{ message: 'tick must be >= 0', path: ['tick'] }] }
      return { value: v }
    },
  },
}

describe('SnapshotStore, one thread', () => {
  it('get() returns the same deep-frozen object until a new version is published', () => {
    const store = SnapshotStore.create<Status>({ initial: { tick: 0, agents: [{ id: 'a', state: 'idle' }], seen: new Map([['a', 1]]) } })
    const first = store.get()
    expect(store.get()).toBe(first)
    expect(store.version).toBe(1)
    expect(Object.isFrozen(first)).toBe(true)
    expect(Object.isFrozen(first.agents[0])).toBe(true)
    expect(() => {
      ;(first as Status).tick = 5
    }).toThrow(TypeError)
    expect(() => (first as Status).agents.push({ id: 'b', state: 'x' })).toThrow(TypeError)
    expect(() => (first.seen as Map<string, number>).set('b', 2)).toThrow(/frozen snapshot/)
    expect(store.publish({ tick: 1, agents: [] }, { source: 'loop' })).toBe(2)
    const second = store.get()
    expect(second).not.toBe(first)
    expect(second).toEqual({ tick: 1, agents: [] })
    expect(store.latest()).toMatchObject({ version: 2, source: 'loop' })
  })

  it("a writer's read of its own latest version is a frozen copy of what it published, not decoded and never the object it passed", () => {
    const store = SnapshotStore.create<{ tick: number; agents: { id: string; tags: string[] }[]; note?: unknown }>({ initial: { tick: 0, agents: [] } })
    const decodes = store.stats().decodes
    const value = { tick: 1, agents: [{ id: 'a', tags: ['x'] }] }
    store.publish(value)
    // Changed after publish: the version holds what was passed at the time.
    value.tick = 99
    value.agents[0]!.tags.push('late')
    const read = store.get()
    expect(read).toEqual({ tick: 1, agents: [{ id: 'a', tags: ['x'] }] })
    expect(Object.isFrozen(read) && Object.isFrozen(read.agents) && Object.isFrozen(read.agents[0]) && Object.isFrozen(read.agents[0]!.tags)).toBe(true)
    expect(store.get()).toBe(read)
    expect(store.stats().decodes).toBe(decodes) // nothing decoded
    // Another instance's newer version replaces it: the read sees that one.
    const other = SnapshotStore.attach<{ tick: number; agents: { id: string; tags: string[] }[]; note?: unknown }>(store.handle)
    store.publish({ tick: 2, agents: [] })
    other.publish({ tick: 3, agents: [] })
    expect(store.get()).toEqual({ tick: 3, agents: [] })
    // What is not a plain tree is decoded, exact all the same.
    store.publish({ tick: 4, agents: [], note: { zero: -0, at: new Date(7), seen: new Map([['k', 1]]) } })
    const exact = store.get()
    expect(Object.is((exact.note as { zero: number }).zero, -0)).toBe(true)
    expect(() => (exact.note as { at: Date }).at.setTime(0)).toThrow(/frozen snapshot/)
    expect(store.stats().decodes).toBe(decodes + 2)
  })

  it('refused values change nothing: EncodeError, ValidationError, CapacityError', () => {
    const store = SnapshotStore.create<Status>({ initial: { tick: 0, agents: [] }, validate: StatusSchema, maxBytes: 4096 })
    const before = store.get()
    expect(() => store.publish({ tick: 1, agents: [{ id: 'a', state: (() => 'x') as never }] })).toThrow(EncodeError)
    try {
      store.publish({ tick: 1, agents: [{ id: 'a', onTick: () => 1 } as never] })
    } catch (error) {
      expect((error as EncodeError).path).toBe('agents[0].onTick')
    }
    expect(() => store.publish({ tick: -1, agents: [] })).toThrow(ValidationError)
    expect(() => store.publish({ tick: -1, agents: [] })).toThrow(/tick: tick must be >= 0/)
    const huge = { tick: 1, agents: Array.from({ length: 500 }, (_, i) => ({ id: `agent-${i}`, state: 'running' })) }
    expect(() => store.publish(huge)).toThrow(CapacityError)
    expect(store.version).toBe(1)
    expect(store.get()).toBe(before)
    expect(() => SnapshotStore.create({ initial: { tick: -5, agents: [] }, validate: StatusSchema })).toThrow(ValidationError)
    expect(() => SnapshotStore.create({ initial: 1, validate: {} as never })).toThrow(/Standard Schema/)
    expect(() => SnapshotStore.create({} as never)).toThrow(/`initial`/)
    expect(() => SnapshotStore.create({ initial: 1, maxBytes: 10 })).toThrow(OptionError)
  })

  it('grows past its first allocation up to maxBytes, keeping every value whole', () => {
    const store = SnapshotStore.create<{ text: string }>({ initial: { text: '' } })
    for (let i = 0; i < 12; i++) {
      const text = 'x'.repeat(100 * 2 ** i)
      store.publish({ text })
      expect(store.get().text.length).toBe(text.length)
    }
    const stats = store.stats()
    expect(stats.grows).toBeGreaterThan(0)
    expect(stats.dataBytes).toBeGreaterThan(200_000)
    expect(stats.dataBytes).toBeLessThanOrEqual(stats.maxBytes)
  })

  it('publisher: every N ticks, on significant change, never more often than minIntervalMs', async () => {
    const store = SnapshotStore.create({ initial: { tick: 0, mode: 'idle' } })
    const every3 = store.publisher({ everyTicks: 3 })
    const versions = [1, 2, 3, 4, 5, 6].map((tick) => every3.offer({ tick, mode: 'idle' }))
    expect(versions.map((v) => v !== 0)).toEqual([false, false, true, false, false, true])
    expect(store.get().tick).toBe(6)

    const onChange = store.publisher({ significant: (a, b) => a.mode !== b.mode })
    expect(onChange.offer({ tick: 7, mode: 'idle' })).toBe(0)
    expect(onChange.offer({ tick: 8, mode: 'running' })).not.toBe(0)
    expect(store.get()).toEqual({ tick: 8, mode: 'running' })

    const throttled = store.publisher({ minIntervalMs: 50 })
    expect(throttled.offer({ tick: 9, mode: 'running' })).not.toBe(0)
    expect(throttled.offer({ tick: 10, mode: 'running' })).toBe(0) // too soon
    expect(throttled.pending).toBe(true)
    expect(throttled.flush()).not.toBe(0)
    expect(store.get().tick).toBe(10)
    expect(throttled.flush()).toBe(0)
    expect(() => store.publisher({ everyTicks: 0 })).toThrow(OptionError)
  })

  it('waitForVersion blocks at most its timeout (the async form and subscribe: test/contract/snapshot.contract.ts)', () => {
    const store = SnapshotStore.create({ initial: { n: 0 } })
    expect(store.waitForVersion(2, 10)).toBe(false)
    store.publish({ n: 1 })
    expect(store.waitForVersion(2, 10)).toBe(true)
  })

  it('handles: structured clone, attach, and refusals', () => {
    const store = SnapshotStore.create({ initial: { a: 1 } })
    const clone = structuredClone(store.handle)
    expect(SnapshotStore.attach(clone).get()).toEqual({ a: 1 })
    // A fixed-length data buffer is a small store's (test/many-objects-handles.test.ts); one too small for the slots is refused.
    expect(() => SnapshotStore.attach({ ...clone, data: new SharedArrayBuffer(8) } as never)).toThrow(/END is 1024 \(maxBytes 8\)/)
    expect(() => SnapshotStore.attach({ ...clone, data: new Uint8Array(8) } as never)).toThrow(HandleError)
    expect(() => SnapshotStore.attach({ ...clone, type: 'Mutex' } as never)).toThrow(HandleError)
  })
})
