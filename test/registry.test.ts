/**
 * StateManager: a typed registry of shared objects.
 * - types: names and object types carried through add / attach / stats;
 * - one thread: add, get, names, duplicates, unknown names, bad input and bad
 *   handles (typed errors), stats of everything, close;
 * - across threads: workers attach and use every kind; objects added after a
 *   worker attached reach it in a loop that never yields (Node's synchronous
 *   drain), in a blocking waitFor and in waitForAsync, including objects
 *   added before its channel existed; two workers adding the same names:
 *   exactly one wins each;
 * - processes: a registry never keeps Node alive, a pending waitForAsync does;
 * - the browser build (neutral platform): no Node module, works without
 *   BroadcastChannel, delivers later objects between tasks.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runInNewContext } from 'node:vm'
import { build } from 'esbuild'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  Barrier,
  HandleError,
  Mutex,
  OptionError,
  RWLock,
  Semaphore,
  SharedMap,
  SnapshotStore,
  StateBuffer,
  schema,
  vec,
  type LockStats,
  type SharedMapStats,
  type StateBufferStats,
  type TypeName,
} from '../src/index.js'
import {
  RegistryError,
  StateManager,
  type RegistryEntries,
  type RegistryStats,
  type SharedObject,
  type StateManagerHandle,
} from '../src/runtime/registry.js'
import { raise, signals, spawn, until } from './helpers.js'

const FIXTURE = 'registry-worker.mjs'
const Pose = schema({ p: vec(3) })

function errorOf(fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a throw')
}

function fullRegistry() {
  const pose = StateBuffer.create(Pose)
  pose.publish({ p: [1, 2, 3] })
  return StateManager.create()
    .add('counter', Mutex.create())
    .add('pose', pose)
    .add('status', SharedMap.create<string>())
    .add('config', SnapshotStore.create({ initial: { hz: 100 } }))
    .add('slots', Semaphore.create({ permits: 2 }))
}

describe('types', () => {
  it('records each name with its object type, through attach and stats', () => {
    const reg = StateManager.create().add('pose', StateBuffer.create(Pose)).add('lock', Mutex.create()).add('map', SharedMap.create<number>())
    expectTypeOf(reg.get('pose')).toEqualTypeOf<StateBuffer<typeof Pose>>()
    expectTypeOf(reg.get('lock')).toEqualTypeOf<Mutex>()
    expectTypeOf(reg.get('map')).toEqualTypeOf<SharedMap<number>>()
    expectTypeOf(reg.stats().pose).toEqualTypeOf<StateBufferStats>()
    expectTypeOf(reg.stats().lock).toEqualTypeOf<LockStats>()
    expectTypeOf(reg.stats().map).toEqualTypeOf<SharedMapStats>()
    expectTypeOf(reg.handleOf('map')).toEqualTypeOf<SharedMap<number>['handle']>()
    // @ts-expect-error: not a name of this registry
    expect(() => reg.get('nope')).toThrow(RegistryError)
    // @ts-expect-error: the name is taken
    expect(() => reg.add('lock', Mutex.create())).toThrow(RegistryError)

    const attached = StateManager.attach<typeof reg>(reg.handle)
    expectTypeOf(attached.get('pose')).toEqualTypeOf<StateBuffer<typeof Pose>>()
    type Registry = { readonly lock: Mutex; readonly barrier: Barrier }
    const byType = StateManager.attach<Registry>(reg.handle)
    expectTypeOf(byType.get<'barrier'>).returns.toEqualTypeOf<Barrier>()
    expectTypeOf(byType.stats().barrier).toEqualTypeOf<{ readonly type: TypeName }>()
    expectTypeOf(StateManager.attach(reg.handle)).toEqualTypeOf<typeof reg>() // the handle carries the type
    const untyped = StateManager.attach(reg.handle as StateManagerHandle) // widened: any registry
    expectTypeOf(untyped.get<'anything'>).returns.toEqualTypeOf<SharedObject>()
    expectTypeOf(untyped.add('rw', RWLock.create()).get('rw')).toMatchTypeOf<RWLock>()
    const widened: StateManager = reg // a typed registry is a registry: helpers may take any
    expectTypeOf(widened.stats()).toEqualTypeOf<RegistryStats<RegistryEntries>>()
    for (const r of [attached, byType, untyped]) r.close()
    reg.close()
  })
})

describe('in one thread', () => {
  it('add returns the manager; get returns the very object added; has and names in add order', () => {
    const mutex = Mutex.create()
    const map = SharedMap.create()
    const reg = StateManager.create().add('zeta', mutex).add('alpha', map)
    expect(reg.get('zeta')).toBe(mutex)
    expect(reg.get('alpha')).toBe(map)
    expect(reg.has('zeta')).toBe(true)
    expect(reg.has('nope')).toBe(false)
    expect(reg.names()).toEqual(['zeta', 'alpha'])
    expect(reg.handleOf('alpha')).toBe(map.handle)
    reg.close()
  })

  it('a handle attached in the same thread serves fresh objects over the same memory', () => {
    const reg = fullRegistry()
    const other = StateManager.attach<typeof reg>(reg.handle)
    expect(other.names()).toEqual(['counter', 'pose', 'status', 'config', 'slots'])
    expect(other.get('pose')).not.toBe(reg.get('pose'))
    expect(other.get('pose').latest()?.value.p).toEqual([1, 2, 3])
    reg.get('status').set('k', 'v')
    expect(other.get('status').get('k')).toBe('v')
    expect(other.get('status')).toBe(other.get('status')) // attached once, cached
    other.close()
    reg.close()
  })

  it('adding a name twice throws RegistryError duplicate, from this or another manager of the registry', () => {
    const reg = StateManager.create().add('lock', Mutex.create())
    const other = StateManager.attach(reg.handle)
    other.add('other', Mutex.create())
    for (const [manager, name] of [[reg, 'lock'], [other, 'lock'], [reg, 'other']] as const) {
      const error = errorOf(() => (manager as StateManager).add(name, Mutex.create()))
      expect(error).toBeInstanceOf(RegistryError)
      expect(error).toMatchObject({ reason: 'duplicate', entryName: name })
      expect(error.message).toMatch(new RegExp(`Expected a name not in the registry yet, got \`"${name}"\` \\(string\\), already added by this thread \\(a Mutex\\)`))
    }
    reg.close()
    other.close()
  })

  it('get of an unknown name throws RegistryError unknown listing the names there are', () => {
    const reg = StateManager.create().add('b', Mutex.create()).add('a', Mutex.create())
    const error = errorOf(() => (reg as StateManager).get('c'))
    expect(error).toBeInstanceOf(RegistryError)
    expect(error).toMatchObject({ reason: 'unknown', entryName: 'c' })
    expect(error.message).toBe('Expected the name of an object in the registry ("b", "a"), got `"c"` (string)')
    expect(errorOf(() => (StateManager.create() as StateManager).get('x')).message).toMatch(/\(none\), got/)
    reg.close()
  })

  it('bad names and objects throw OptionError before anything shared changes', () => {
    const reg = StateManager.create() as StateManager
    const mutex = Mutex.create()
    expect(() => reg.add('', mutex)).toThrow(new OptionError('Expected a name that is a non-empty string, got `""` (string)'))
    expect(() => reg.add(42 as unknown as string, mutex)).toThrow(/Expected a name that is a non-empty string, got `42` \(number\)/)
    expect(() => reg.add('h', mutex.handle as unknown as SharedObject)).toThrow(
      /Expected a threadstate object \(Mutex, .*Watchdog\) to add as `"h"` \(string\), got an object/,
    )
    expect(() => reg.add('o', {} as SharedObject)).toThrow(OptionError)
    expect(() => reg.get(7 as unknown as string)).toThrow(OptionError)
    expect(() => reg.waitFor('x', -1)).toThrow(/Expected `timeoutMs` to be a number >= 0/)
    expect(reg.names()).toEqual([])
    reg.close()
  })

  it('an object with a corrupted handle is refused by add with HandleError', () => {
    const reg = StateManager.create() as StateManager
    const mutex = Mutex.create()
    const bad = { handle: { ...mutex.handle, byteOffset: 4096 } }
    expect(() => reg.add('bad', bad)).toThrow(HandleError)
    expect(reg.names()).toEqual([])
    reg.add('bad', mutex) // the name was not reserved
    reg.close()
  })

  it('attach refuses bad handles with HandleError saying what was wrong', () => {
    const reg = StateManager.create().add('lock', Mutex.create())
    const good = reg.handle
    const lockHandle = reg.get('lock').handle
    const bad = (patch: Record<string, unknown>) => ({ ...good, ...patch }) as unknown as StateManagerHandle
    const cases: [unknown, RegExp][] = [
      [null, /Expected a StateManager handle, got `null`/],
      [lockHandle, /Expected a StateManager handle, got a handle of type `"Mutex"`/],
      [bad({ byteLength: 8 }), /Expected a StateManager handle of 32 bytes/],
      [bad({ channel: 'elsewhere' }), /whose `channel` is a "threadstate-registry-..." name, got `"elsewhere"`/],
      [bad({ entries: {} }), /whose `entries` is an array, got an object/],
      [bad({ entries: [{ name: '', seq: 1, handle: lockHandle }] }), /entry 0 of a StateManager handle to be \{ name, seq, handle \} with a non-empty name/],
      [bad({ entries: [{ name: 'a', seq: 0, handle: lockHandle }] }), /entry 0 of a StateManager handle \("a"\) to have a positive integer `seq`, got `0`/],
      [bad({ entries: [{ name: 'a', seq: 1, handle: { type: 'Mutex' } }] }), /\("a"\) to carry a threadstate handle, got an object/],
      [bad({ entries: [{ name: 'a', seq: 1, handle: lockHandle }, { name: 'a', seq: 2, handle: lockHandle }] }), /unique names, got `"a"` \(string\) twice/],
      [bad({ table: lockHandle }), /Expected a SharedMap handle, got a handle of type `"Mutex"`/],
    ]
    for (const [handle, message] of cases) {
      const error = errorOf(() => StateManager.attach(handle as StateManagerHandle))
      expect(error, String(message)).toBeInstanceOf(HandleError)
      expect(error.message).toMatch(message)
    }
    // A structurally fine entry whose memory is wrong fails when it is attached.
    const corrupted = StateManager.attach(bad({ entries: [{ name: 'x', seq: 1, handle: { ...lockHandle, byteOffset: 4096 } }] }))
    expect(() => corrupted.get('x')).toThrow(HandleError)
    corrupted.close()
    reg.close()
  })

  it('kinds outside the built-in table are attached through registerKind (per thread)', () => {
    const fake = (handle: { type: TypeName }) => ({ handle: handle as SharedObject['handle'], stats: () => ({ fake: true }) })
    const lock = Mutex.create()
    const domainHandle = { ...lock.handle, type: 'Domain' as const }
    const reg = StateManager.create().add('lock', lock)
    const other = StateManager.attach<{ custom: SharedObject }>(
      { ...reg.handle, entries: [...reg.handle.entries, { name: 'custom', seq: 9, handle: domainHandle }] },
    )
    const error = errorOf(() => other.get('custom'))
    expect(error).toBeInstanceOf(HandleError)
    expect(error.message).toMatch(/got a Domain: call StateManager.registerKind\("Domain", attach\) in this thread first/)
    StateManager.registerKind('Domain', fake)
    StateManager.registerKind('Domain', fake) // same function again: no-op
    // attach() works on a plain copy of the handle (entries included): equal, not the same object.
    expect(other.get('custom').handle).toEqual(domainHandle)
    expect(other.stats()).toMatchObject({ custom: { fake: true } })
    expect(() => StateManager.registerKind('Domain', () => lock)).toThrow(/Expected a kind that is not registered yet, got `"Domain"`/)
    expect(() => StateManager.registerKind('Nope' as TypeName, fake)).toThrow(/Expected a threadstate type name \(Domain, Mutex/)
    expect(() => StateManager.registerKind('Mutex', fake)).toThrow(OptionError)
    other.close()
    reg.close()
  })

  it('stats() holds every object’s stats() by name, { type } for kinds without', () => {
    const reg = fullRegistry().add('barrier', Barrier.create({ parties: 2 })).add('rw', RWLock.create())
    reg.get('counter').withLock(() => {})
    reg.get('status').set('a', 'b')
    const stats = reg.stats()
    expect(Object.keys(stats)).toEqual(['counter', 'pose', 'status', 'config', 'slots', 'barrier', 'rw'])
    expect(stats.counter).toEqual(reg.get('counter').stats())
    expect(stats.counter.acquisitions).toBe(1)
    expect(stats.pose).toMatchObject({ version: 1, updates: 1 })
    expect(stats.status).toMatchObject({ size: 1, writes: 1 })
    expect(stats.config).toMatchObject({ version: 1 })
    expect(stats.slots).toMatchObject({ permits: 2 })
    expect(stats.barrier).toEqual({ type: 'Barrier' })
    expect(stats.rw).toHaveProperty('activeReaders', 0)
    // An attached manager sees the same figures (they live in shared memory).
    const other = StateManager.attach<typeof reg>(reg.handle)
    expect(other.stats().counter.acquisitions).toBe(1)
    other.close()
    reg.close()
  })

  it('waitFor / waitForAsync: timeouts return undefined, abort rejects with the reason', async () => {
    const reg = StateManager.create() as StateManager
    expect(reg.waitFor('x', 20)).toBeUndefined()
    expect(await reg.waitForAsync('x', { timeoutMs: 20 })).toBeUndefined()
    const controller = new AbortController()
    const pending = reg.waitForAsync('x', { signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(pending).rejects.toThrow('stop')
    await expect(reg.waitForAsync('x', { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already')
    const soon = reg.waitForAsync('y', { timeoutMs: 5_000 })
    const mutex = Mutex.create()
    const other = StateManager.attach(reg.handle)
    setTimeout(() => other.add('y', mutex), 10)
    const got = (await soon) as Mutex
    got.lock()
    expect(mutex.isLocked).toBe(true) // the same lock word
    got.unlock()
    other.close()
    reg.close()
  })

  it('close(): known objects stay usable; add and waits throw RegistryError closed; pending waits reject', async () => {
    const reg = StateManager.create().add('lock', Mutex.create()) as StateManager
    const pending = reg.waitForAsync('later')
    reg.close()
    await expect(pending).rejects.toMatchObject({ name: 'RegistryError', reason: 'closed' })
    expect(reg.get('lock')).toBeInstanceOf(Mutex)
    expect(() => reg.add('x', Mutex.create())).toThrow(/Expected an open StateManager for `"x"` \(string\), got one that was closed/)
    expect(() => reg.waitFor('x', 10)).toThrow(RegistryError)
    await expect(reg.waitForAsync('x')).rejects.toThrow(RegistryError)
    reg.close() // idempotent
    {
      using scoped = StateManager.create() as StateManager
      scoped.add('m', Mutex.create())
    }
  })
})

describe('across threads', () => {
  it('a worker attaches the handle and uses every kind; it exits on its own', async () => {
    const reg = fullRegistry()
    const w = spawn<Record<string, unknown>>('use', { reg: reg.handle }, FIXTURE)
    const outcome = await w.result
    expect(outcome).toMatchObject({ ok: true })
    if (!outcome.ok) return
    expect(outcome.value).toMatchObject({
      names: ['counter', 'pose', 'status', 'config', 'slots'],
      types: ['Mutex', 'StateBuffer', 'SharedMap', 'SnapshotStore', 'Semaphore'],
      pose: [1, 2, 3],
      snapshot: { hz: 100 },
      permits: true,
      unknown: { name: 'RegistryError', reason: 'unknown' },
    })
    expect(reg.get('status').get('worker')).toBe('ok')
    expect(reg.stats().counter.acquisitions).toBe(10)
    expect(reg.stats().slots.permits).toBe(1)
    expect(await w.exited).toBe(0) // no open channel kept it alive
    reg.close()
  })

  for (const [scenario, how] of [
    ['tightLoop', 'tight loop'],
    ['blockingWait', 'waitFor'],
    ['asyncWait', 'waitForAsync'],
  ] as const) {
    it(`an object added after the worker attached reaches it (${how})`, async () => {
      const reg = fullRegistry()
      const flags = signals()
      const w = spawn(scenario, { reg: reg.handle, flags }, FIXTURE)
      await until(flags, 0, 1) // attached
      const late = SharedMap.create<string>()
      reg.add('late', late)
      const outcome = await w.result
      expect(outcome).toMatchObject({ ok: true })
      expect(late.get('seen-by')).toBe(how)
      expect(await w.exited).toBe(0)
      reg.close()
    })
  }

  for (const how of ['async', 'spin', 'blocking'] as const) {
    it(`an object added after the handle was cloned but before the worker attached reaches it (${how})`, async () => {
      const reg = fullRegistry()
      const flags = signals()
      const w = spawn<{ inHandle: boolean; pending?: string }>('early', { reg: reg.handle, flags, how }, FIXTURE)
      const early = SharedMap.create<string>()
      reg.add('early', early) // the worker's channel does not exist yet: it must ask
      raise(flags, 0)
      const outcome = await w.result
      if (!outcome.ok) throw new Error(`${outcome.error.name}: ${outcome.error.message}`)
      expect(outcome.value.inHandle).toBe(false)
      // Right after attach the reply may or may not be in yet; if not, get() says it is pending.
      expect([undefined, 'pending']).toContain(outcome.value.pending)
      expect(early.get('seen-by')).toBe(how)
      expect(await w.exited).toBe(0)
      reg.close()
    })
  }

  it('an object added in a worker reaches the main thread', async () => {
    const reg = StateManager.create() as StateManager
    const w = spawn('addFromWorker', { reg: reg.handle }, FIXTURE)
    expect(await w.result).toMatchObject({ ok: true, value: { names: ['fromWorker'] } })
    const map = reg.get('fromWorker') as SharedMap<string> // queued before the worker answered: a synchronous drain finds it
    expect(map.get('by')).toBe('worker')
    reg.close()
  })

  it('two workers adding the same names: exactly one wins each, and every thread gets the winner’s object', async () => {
    const reg = StateManager.create() as StateManager
    // The same order first (the one behind checks each name while the other commits it: a check-then-set
    // reservation is caught here), then opposite orders (they meet in the middle, each wins some).
    const same = Array.from({ length: 150 }, (_, i) => `s${i}`)
    const crossing = Array.from({ length: 150 }, (_, i) => `c${i}`)
    const names = [...same, ...crossing]
    const orders = { 1: names, 2: [...same, ...[...crossing].reverse()] }
    const flags = signals()
    const workers = ([1, 2] as const).map((id) =>
      spawn<{ won: string[]; lost: number }>('race', { reg: reg.handle, flags, names: orders[id], id }, FIXTURE),
    )
    await until(flags, 1, 2)
    raise(flags, 0)
    const outcomes = await Promise.all(workers.map((w) => w.result))
    const won = outcomes.map((o) => {
      if (!o.ok) throw new Error(`${o.error.name}: ${o.error.message}`)
      expect(o.value.won.length + o.value.lost).toBe(names.length)
      return o.value.won
    })
    const [first, second] = won as [string[], string[]]
    expect(first.filter((n) => second.includes(n))).toEqual([]) // nobody won twice
    expect([...first, ...second].sort()).toEqual([...names].sort()) // every name was won
    for (const [id, list] of [[1, first], [2, second]] as const) {
      for (const name of list) expect((reg.get(name) as Semaphore).stats().permits, name).toBe(id)
    }
    expect(reg.names()).toHaveLength(names.length)
    reg.close()
  })
})

describe('processes', () => {
  const script = fileURLToPath(new URL(`./fixtures/${FIXTURE}`, import.meta.url))
  const runScript = (mode: string) =>
    new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((resolve) => {
      const started = performance.now()
      execFile(process.execPath, [script, mode], { timeout: 20_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, ms: performance.now() - started })
      })
    })

  it('a registry never keeps a process alive: no close(), still exits', async () => {
    const r = await runScript('exit')
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('worker ok exit 0')
    expect(r.code).toBe(0)
    expect(r.ms).toBeLessThan(10_000)
  })

  it('a pending waitForAsync keeps the process alive until the object arrives', async () => {
    const r = await runScript('wait')
    expect(r.stdout.trim()).toBe('got SharedMap worker')
    expect(r.code).toBe(0) // 13 would mean Node exited with the wait unsettled
  })
})

describe('browser build (neutral platform)', () => {
  async function bundle(): Promise<{ code: string; inputs: string[] }> {
    const root = fileURLToPath(new URL('..', import.meta.url))
    const result = await build({
      stdin: { contents: "export * from './dist/index.js'; export { StateManager, RegistryError } from './dist/runtime/registry.js'", resolveDir: root },
      bundle: true,
      write: false,
      format: 'iife',
      globalName: 'threadstate',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
      tsconfigRaw: {},
    })
    return { code: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs) }
  }

  const sandbox = (extra: Record<string, unknown> = {}) => ({
    SharedArrayBuffer,
    Atomics,
    performance,
    setTimeout,
    clearTimeout,
    crypto: globalThis.crypto,
    structuredClone,
    TextEncoder,
    TextDecoder,
    out: {} as Record<string, unknown>,
    ...extra,
  })

  const script = `
    const T = threadstate
    const reg = T.StateManager.create().add('m', T.Mutex.create()).add('map', T.SharedMap.create())
    const other = T.StateManager.attach(reg.handle)
    reg.add('late', T.Mutex.create())
    out.names = other.names()
    out.map = other.get('map') instanceof T.SharedMap
    try { other.get('late') } catch (e) { out.late = e.reason }
    try { other.waitFor('late', 1000) } catch (e) { out.waitFor = e.name }
    out.later = other.waitForAsync('late', { timeoutMs: 5000 }).then((m) => m && m instanceof T.Mutex)
    out.stats = Object.keys(reg.stats())
    out.close = () => { reg.close(); other.close() }`

  it('pulls in no Node module', async () => {
    const { inputs } = await bundle()
    expect(inputs.some((f) => f.endsWith('platform/neutral.js'))).toBe(true)
    expect(inputs.some((f) => f.endsWith('platform/node.js') || f.startsWith('node:'))).toBe(false)
  })

  it('without BroadcastChannel: objects known at attach work; later ones never arrive, said clearly', async () => {
    const { code } = await bundle()
    const box = sandbox()
    runInNewContext(`${code};${script}`, box)
    expect(box.out).toMatchObject({ names: ['m', 'map'], map: true, late: 'pending', waitFor: 'BlockingNotAllowedError', stats: ['m', 'map', 'late'] })
    expect(await box.out['later']).toBeUndefined()
    ;(box.out['close'] as () => void)()
  })

  it('with BroadcastChannel: a later object arrives between tasks (waitForAsync), not synchronously', async () => {
    const { code } = await bundle()
    const box = sandbox({ BroadcastChannel })
    runInNewContext(`${code};${script}`, box)
    expect(box.out).toMatchObject({ names: ['m', 'map'], late: 'pending', waitFor: 'BlockingNotAllowedError' })
    expect(await box.out['later']).toBe(true)
    ;(box.out['close'] as () => void)()
  })
})
