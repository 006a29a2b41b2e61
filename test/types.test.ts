/**
 * Type tests: what the compiler accepts and refuses about handles and frozen
 * values. The checks are the `expectTypeOf` calls and the
 * `// @ts-expect-error` lines, enforced by `npm run typecheck` (this file is
 * in tsconfig.json's `include`); at run time the tests only build the objects.
 *
 * Broken variants, run once each: `SharedMapHandle` without its value-type
 * member (`SharedMap.attach<number>(a map of strings)` compiled again: tsc
 * reported 3 `@ts-expect-error` lines unused); `StateManagerHandle` without
 * its entries-type member and `attach` as it was before (one signature,
 * `attach<R = RegistryEntries>(handle: StateManagerHandle)`: all 3
 * StateManager `@ts-expect-error` lines reported unused, `attach(reg.handle)`
 * was `StateManager<RegistryEntries>`, and `attach<an interface>` was
 * `StateManager<never>`); `DeepReadonly<T>` defined as
 * `Readonly<T>`, the shallow type `get()` had before (`agents[0].tokens++`
 * and 9 other writes compiled: reported unused, plus the tuple and `any`
 * checks failed).
 */
import { describe, expectTypeOf, it } from 'vitest'
import {
  Barrier,
  Mutex,
  SharedMap,
  SnapshotStore,
  StateManager,
  type DeepReadonly,
  type SharedMapHandle,
  type SnapshotStoreHandle,
  type StateManagerHandle,
} from '../src/index.js'
import { RedisSharedMap, RedisSnapshotStore, type RedisSharedMapHandle, type RedisSnapshotStoreHandle } from '../src/redis/index.js'

interface Agent {
  name: string
  tokens: number
  tags: string[]
}
interface Status {
  tick: number
  agents: Agent[]
  pair: [number, string]
  seen: Map<string, { at: number[] }>
  ids: Set<string>
  since: Date
  note?: string
}

const initial: Status = { tick: 0, agents: [], pair: [0, ''], seen: new Map(), ids: new Set(), since: new Date(0) }

describe('handles carry the value type', () => {
  it('SharedMap.attach infers V from the handle and refuses another V', () => {
    const names = SharedMap.create<string>()
    expectTypeOf(names.handle).toEqualTypeOf<SharedMapHandle<string>>()
    const attached = SharedMap.attach(names.handle)
    expectTypeOf(attached).toEqualTypeOf<SharedMap<string>>()
    // @ts-expect-error a map of strings is not a map of numbers
    SharedMap.attach<number>(names.handle)
    // @ts-expect-error nor a map of any other value type
    SharedMap.attach<'on' | 'off'>(names.handle)
    // Widening to the default (unknown), e.g. for code that handles any map, is fine.
    const anyMap: SharedMapHandle = names.handle
    expectTypeOf(SharedMap.attach(anyMap)).toEqualTypeOf<SharedMap<unknown>>()
    // A handle in a message typed by the sender keeps its type; one from `any` gives `V` as asked.
    const message: { readonly names: SharedMapHandle<string> } = { names: names.handle }
    expectTypeOf(SharedMap.attach(message.names).get('a')).toEqualTypeOf<string | undefined>()
    const untyped: any = structuredClone(message) // eslint-disable-line @typescript-eslint/no-explicit-any
    expectTypeOf(SharedMap.attach<string>(untyped.names)).toEqualTypeOf<SharedMap<string>>()
  })

  it('SnapshotStore.attach infers T from the handle and refuses another T', () => {
    const store = SnapshotStore.create({ initial })
    expectTypeOf(store.handle).toEqualTypeOf<SnapshotStoreHandle<Status>>()
    expectTypeOf(SnapshotStore.attach(store.handle)).toEqualTypeOf<SnapshotStore<Status>>()
    // @ts-expect-error a store of Status is not a store of numbers
    SnapshotStore.attach<number>(store.handle)
    // @ts-expect-error nor of a different object type
    SnapshotStore.attach<{ tick: string }>(store.handle)
  })

  it('StateManager.attach infers the registry (each name\'s object type) from the handle and refuses another', () => {
    const reg = StateManager.create().add('names', SharedMap.create<string>()).add('lock', Mutex.create())
    expectTypeOf(reg.handle).toEqualTypeOf<StateManagerHandle<{ readonly names: SharedMap<string>; readonly lock: Mutex }>>()
    const attached = StateManager.attach(reg.handle)
    expectTypeOf(attached).toEqualTypeOf<typeof reg>()
    expectTypeOf(attached.get('names')).toEqualTypeOf<SharedMap<string>>()
    // A message typed by the sender (`typeof reg.handle`) keeps it: the worker needs no type argument.
    const message: { readonly reg: typeof reg.handle } = { reg: reg.handle }
    const viaMessage = StateManager.attach(message.reg)
    expectTypeOf(viaMessage.get('lock')).toEqualTypeOf<Mutex>()
    if (Math.random() > 2) {
      // Never run (the first throws RegistryError at run time); here they must not compile.
      // @ts-expect-error not a name of the registry the handle came from
      attached.get('nope')
      // @ts-expect-error `names` is a map of strings, not of numbers
      StateManager.attach<{ names: SharedMap<number> }>(reg.handle)
      // @ts-expect-error `lock` is a Mutex, not a Barrier
      StateManager.attach<{ lock: Barrier }>(reg.handle)
    }
    // A type given may name objects the handle does not list yet (added later, delivered by message),
    // as a type literal, an interface, or the registry after more adds.
    const later = StateManager.attach<{ lock: Mutex; estop: Mutex }>(reg.handle)
    expectTypeOf(later.get<'estop'>).returns.toEqualTypeOf<Mutex>()
    interface Registry {
      lock: Mutex
    }
    const byInterface = StateManager.attach<Registry>(reg.handle)
    expectTypeOf(byInterface.get('lock')).toEqualTypeOf<Mutex>()
    const full = reg.add('start', Barrier.create({ parties: 2 }))
    const fromMessage = StateManager.attach<typeof full>(message.reg)
    expectTypeOf(fromMessage.get<'start'>).returns.toEqualTypeOf<Barrier>()
    // Widened to the plain handle type: any registry, as before.
    const widened: StateManagerHandle = reg.handle
    const any = StateManager.attach(widened)
    expectTypeOf(any).toEqualTypeOf<StateManager>()
    const named = StateManager.attach<{ lock: Mutex }>(widened)
    expectTypeOf(named.get('lock')).toEqualTypeOf<Mutex>()
    for (const r of [full, attached, viaMessage, later, byInterface, fromMessage, any, named]) r.close()
  })

  it('the Redis handles carry it too (through their mirror handle)', () => {
    expectTypeOf<RedisSharedMapHandle<string>['mirror']>().toEqualTypeOf<SharedMapHandle<string>>()
    expectTypeOf<RedisSnapshotStoreHandle<Status>['mirror']>().toEqualTypeOf<SnapshotStoreHandle<Status>>()
    expectTypeOf(RedisSharedMap.attach<string>).parameter(0).toEqualTypeOf<RedisSharedMapHandle<string>>()
    expectTypeOf(RedisSnapshotStore.attach<Status>).parameter(0).toEqualTypeOf<RedisSnapshotStoreHandle<Status>>()
    const check = (h: RedisSharedMapHandle<string>): void => {
      expectTypeOf(RedisSharedMap.attach(h)).toEqualTypeOf<RedisSharedMap<string>>()
      // @ts-expect-error a Redis map of strings is not a map of numbers
      RedisSharedMap.attach<number>(h)
    }
    void check
  })
})

describe('frozen values are typed deeply read-only', () => {
  it('SnapshotStore.get() and latest().value', () => {
    const store = SnapshotStore.create<Status>({ initial: { ...initial, agents: [{ name: 'a', tokens: 1, tags: [] }] } })
    const status = store.get()
    expectTypeOf(status).toEqualTypeOf<DeepReadonly<Status>>()
    expectTypeOf(store.latest().value).toEqualTypeOf<DeepReadonly<Status>>()
    if (Math.random() > 2) {
      // Never run: each line throws at run time (the value is frozen); here they must not compile.
      // @ts-expect-error tokens is read-only, however deep
      status.agents[0]!.tokens++
      // @ts-expect-error the array is read-only
      status.agents.push({ name: 'b', tokens: 0, tags: [] })
      // @ts-expect-error arrays inside array elements too
      status.agents[0]!.tags.push('x')
      // @ts-expect-error tuples
      status.pair[0] = 1
      // @ts-expect-error Maps become ReadonlyMap
      status.seen.set('a', { at: [] })
      // @ts-expect-error and their values are read-only
      status.seen.get('a')!.at.push(1)
      // @ts-expect-error Sets become ReadonlySet
      status.ids.add('x')
      // @ts-expect-error top-level fields
      status.tick = 1
    }
    expectTypeOf(status.since).toEqualTypeOf<Date>()
    expectTypeOf<DeepReadonly<{ samples: Float64Array }>['samples']>().toEqualTypeOf<Float64Array>()
    expectTypeOf(status.pair).toEqualTypeOf<readonly [number, string]>()
  })

  it('what was read can be built on and published without a cast', () => {
    const store = SnapshotStore.create({ initial })
    store.modify((previous) => ({ ...previous, tick: previous.tick + 1 }))
    store.publish({ ...store.get(), tick: 5 })
    store.modify((previous) => ({ ...previous, agents: [...previous.agents, { name: 'c', tokens: 0, tags: [] }] }))
    // A plain value is assignable to its read-only type.
    expectTypeOf<Status>().toMatchTypeOf<DeepReadonly<Status>>()
    // @ts-expect-error but not the reverse: a frozen value is not a mutable one
    const mutable: Status = store.get()
    void mutable
    // @ts-expect-error the next snapshot must still be a Status
    store.modify((previous) => ({ ...previous, tick: 'one' }))
  })

  it('SharedMap.getFrozen() is deeply read-only; get() is a private, mutable copy', () => {
    const agents = SharedMap.create<Agent>()
    agents.set('a', { name: 'a', tokens: 1, tags: [] })
    const frozen = agents.getFrozen('a')
    expectTypeOf(frozen).toEqualTypeOf<DeepReadonly<Agent> | undefined>()
    if (frozen && Math.random() > 2) {
      // @ts-expect-error read-only
      frozen.tokens++
      // @ts-expect-error read-only, however deep
      frozen.tags.push('x')
    }
    const copy = agents.get('a')
    if (copy) copy.tokens++ // a private copy: allowed, and changes nothing shared
    expectTypeOf(copy).toEqualTypeOf<Agent | undefined>()
  })

  it('DeepReadonly keeps unknown and any as they are', () => {
    expectTypeOf<DeepReadonly<unknown>>().toEqualTypeOf<unknown>()
    expectTypeOf<DeepReadonly<any>>().toBeAny() // eslint-disable-line @typescript-eslint/no-explicit-any
    expectTypeOf<DeepReadonly<string | number[]>>().toEqualTypeOf<string | readonly number[]>()
  })
})
