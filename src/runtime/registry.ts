/**
 * StateManager: a registry of named shared objects that travels to workers as
 * one handle, and keeps delivering objects added later.
 *
 * A `SharedArrayBuffer` reaches another thread only by structured clone, so
 * the objects themselves cannot live in shared memory: only their names can.
 * The registry is therefore two things:
 *
 * ```
 *  shared region (TypeTag.StateManager)          names table (a SharedMap)
 *  Int32 word 0..3  header                       name -> { type, seq, addedBy }
 *             4     NEXT_SEQ  last seq handed     reserved with compareAndSet(name, 0, ..):
 *             5     POSTS     deliveries posted   of two threads adding one name,
 *             6     WAITERS   blocked waitFor()s  exactly one commits
 *
 *  BroadcastChannel `threadstate-registry-<random>` (one per registry)
 *    { kind: 'entries', entries: [{ name, seq, handle }] }  an add, or a reply
 *    { kind: 'want', names }                                 "send me these"
 * ```
 *
 * Delivery. `add()` reserves the name in the table, then posts the entry on
 * the channel, then bumps POSTS. Every thread whose channel was open when the
 * entry was posted has it queued (Node queues it at each receiver before
 * `postMessage` returns); a thread in a tight loop takes it with a synchronous
 * drain (`receiveMessageSync` from `#platform`) when `get()` misses. A thread
 * whose channel opened *after* the post (it attached a handle cloned before
 * the add) finds the name in the table but not in its entries: it posts a
 * `want`, and every thread holding the entry replies. Each receiver's queue
 * is in posting order, so a thread that got the entry before the `want`
 * has processed it by the time it reads the `want`: one request suffices as
 * long as a holder is alive and returns to its event loop.
 *
 * No lost wake-up for a blocked `waitFor()`: the waiter increments WAITERS,
 * loads POSTS, drains, then sleeps while POSTS is unchanged; a poster queues
 * the message, increments POSTS, then notifies if WAITERS is non-zero. If the
 * post came after the waiter's load, POSTS differs and the sleep returns at
 * once; if before, the drain that followed the load saw the message.
 *
 * The channel is `unref`'d in Node (it would keep the process alive) except
 * while a `waitForAsync()` is pending.
 *
 * @module
 */
import { canReceiveMessagesSync, receiveMessageSync } from '#platform'
import { BlockingNotAllowedError, HandleError, OptionError, ThreadstateError, describe } from '../errors.js'
import { SharedMap, type SharedMapHandle } from '../map/shared-map.js'
import { StateMachine, type StateMachineHandle } from '../machine/state-machine.js'
import { TriggerFlags, type TriggerFlagsHandle } from '../machine/trigger-flags.js'
import { Watchdog, type WatchdogHandle } from './watchdog.js'
import { allocateRegion, attaching, checkHandle, makeHandle, type Handle } from '../memory/handle.js'
import { HANDLE_FORMAT, Header, TypeTag, type TypeName } from '../memory/layout.js'
import { domainOf, type Domain } from '../memory/thread.js'
import { SnapshotStore, type SnapshotStoreHandle } from '../snapshot/snapshot-store.js'
import { StateBuffer, type StateBufferHandle } from '../state/state-buffer.js'
import { Barrier, type BarrierHandle } from '../sync/barrier.js'
import { Condition, type ConditionHandle } from '../sync/condition.js'
import { Mutex, type MutexHandle } from '../sync/mutex.js'
import { ReentrantMutex, type ReentrantMutexHandle } from '../sync/reentrant-mutex.js'
import { RWLock, type RWLockHandle } from '../sync/rwlock.js'
import { Semaphore, type SemaphoreHandle } from '../sync/semaphore.js'
import { checkWaitOptions, deadlineOf, sleepWhile, type AsyncWaitOptions } from '../sync/wait.js'
import { now } from '../memory/clock.js'

/** Word offsets of a StateManager region. */
const ManagerWord = {
  NEXT_SEQ: Header.WORDS,
  POSTS: Header.WORDS + 1,
  WAITERS: Header.WORDS + 2,
} as const
const MANAGER_BYTES = (Header.WORDS + 4) * 4
const CHANNEL_PREFIX = 'threadstate-registry-'
const MESSAGE_TAG = 'threadstate-registry'
/** Most names listed in an "unknown name" message. */
const LISTED_NAMES = 20

/** A threadstate object the registry can hold: anything with a handle of a registered kind. */
export interface SharedObject {
  /** The object's structured-cloneable handle. */
  readonly handle: Handle
}

/** What a registry's type records: each name's object type. */
export type RegistryEntries = Record<string, SharedObject>

/**
 * The entries type of `R`: of a `StateManager<T>` its `T`, of a
 * {@link RegistryEntries} type itself (an interface of objects too: it is
 * read as the same type written as a type literal).
 */
export type EntriesOf<R> = R extends StateManager<infer T> ? T : R extends RegistryEntries ? R : Extract<{ [K in keyof R]: R[K] }, RegistryEntries>

/** What {@link StateManager.stats} reports for an object: its `stats()`, or its type if it has none. */
export type EntryStats<O> = O extends {
  /** The object's own figures. */
  stats(): infer S
}
  ? S
  : {
      /** The object's kind (it keeps no figures). */
      readonly type: TypeName
    }

/** {@link StateManager.stats}: every object's figures, by name. */
export type RegistryStats<T> = { readonly [K in keyof T]: EntryStats<T[K]> }

/** One object in a {@link StateManagerHandle} or a delivery message. */
export interface RegistryEntryHandle {
  /** The name it was added under. */
  readonly name: string
  /** Its number in the registry (1 for the first add; orders `names()`). */
  readonly seq: number
  /** The object's own handle. */
  readonly handle: Handle
}

/** Key of the type-only member that carries a registry handle's entries type. */
declare const entriesType: unique symbol

/**
 * Handle of a {@link StateManager}: its region, the names table, the channel
 * that delivers later additions, and the objects known when it was made. It
 * carries the registry's entries type `T` (each name's object type, as the
 * creator's `.add(name, object)` chain built it), so
 * `StateManager.attach(handle)` in a worker infers it, and attaching it as a
 * registry of other objects does not compile.
 */
export interface StateManagerHandle<T extends RegistryEntries = RegistryEntries> extends Handle<'StateManager'> {
  /**
   * Type only, never present at run time (a handle is plain data): the
   * registry's entries type, so that it travels with the handle.
   */
  readonly [entriesType]?: T
  /** Name of the `BroadcastChannel` that delivers objects added later. */
  readonly channel: string
  /** The shared table of every name added, from any thread. */
  readonly table: SharedMapHandle
  /** The objects the handle's maker knew when it read `handle`. */
  readonly entries: readonly RegistryEntryHandle[]
}

/**
 * A registry handle whose entries agree with `E` on every name both list
 * (`E` may list more: objects added after the handle was read).
 */
type HandleAgreeingWith<E> = Omit<StateManagerHandle, typeof entriesType> & {
  // The index signature keeps the type from being "weak" (all optional), which TypeScript would refuse for a handle sharing no name with `E`.
  readonly [entriesType]?: RegistryEntries & { readonly [K in keyof E]?: E[K] }
}

/** Why a {@link RegistryError} was thrown. */
export type RegistryErrorReason = 'duplicate' | 'unknown' | 'pending' | 'closed'

/**
 * A registry call could not be served: `duplicate` (the name is taken, by
 * this or another thread), `unknown` (no object has that name), `pending`
 * (another thread added it but its handle has not reached this thread yet:
 * wait with `waitFor` / `waitForAsync`), `closed` (the manager was closed).
 */
export class RegistryError extends ThreadstateError {
  /** Always `'RegistryError'`. */
  override name = 'RegistryError'
  /** What went wrong. */
  readonly reason: RegistryErrorReason
  /** The name asked for or added. */
  readonly entryName: string
  constructor(message: string, reason: RegistryErrorReason, entryName: string) {
    super(message)
    this.reason = reason
    this.entryName = entryName
  }
}

type AttachKind = (handle: Handle) => SharedObject

/** How each kind is rebuilt from its handle. Per thread: `registerKind` in every thread that needs it. */
const kinds = new Map<TypeName, AttachKind>([
  ['Mutex', (h) => Mutex.attach(h as MutexHandle)],
  ['ReentrantMutex', (h) => ReentrantMutex.attach(h as ReentrantMutexHandle)],
  ['RWLock', (h) => RWLock.attach(h as RWLockHandle)],
  ['Condition', (h) => Condition.attach(h as ConditionHandle)],
  ['Semaphore', (h) => Semaphore.attach(h as SemaphoreHandle)],
  ['Barrier', (h) => Barrier.attach(h as BarrierHandle)],
  ['StateBuffer', (h) => StateBuffer.attach(h as StateBufferHandle)],
  ['SnapshotStore', (h) => SnapshotStore.attach(h as SnapshotStoreHandle)],
  ['SharedMap', (h) => SharedMap.attach(h as SharedMapHandle)],
  ['StateMachine', (h) => StateMachine.attach(h as StateMachineHandle)],
  ['TriggerFlags', (h) => TriggerFlags.attach(h as TriggerFlagsHandle)],
  ['Watchdog', (h) => Watchdog.attach(h as WatchdogHandle)],
])

/** A row of the names table. */
interface TableRow {
  readonly type: TypeName
  readonly seq: number
  /** threadstate id (in the registry's domain) of the thread that added it. */
  readonly addedBy: number
}

/** An entry this thread can serve; `object` is attached on first use. */
interface LocalEntry {
  readonly seq: number
  readonly handle: Handle
  object: SharedObject | undefined
}

interface Waiter {
  readonly name: string
  readonly settle: (outcome: { error: unknown } | undefined) => void
}

/** The parts of a `BroadcastChannel` used here (typed structurally: the core has no DOM types). */
interface Channel {
  postMessage(message: unknown): void
  close(): void
  onmessage: ((event: { readonly data: unknown }) => void) | null
  ref?(): void
  unref?(): void
}

type NewName<K extends string, T> = string extends keyof T ? K : K extends keyof T ? never : K
type Added<T, K extends string, O> = string extends keyof T
  ? T & { readonly [P in K]: O }
  : { readonly [P in keyof T | K]: P extends K ? O : P extends keyof T ? T[P] : never }

function randomHex(): string {
  const words = new Uint32Array(2)
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto
  if (c?.getRandomValues) c.getRandomValues(words)
  else for (let i = 0; i < 2; i++) words[i] = Math.floor(Math.random() * 0x100000000)
  return [...words].map((w) => w.toString(16).padStart(8, '0')).join('')
}

function openChannel(name: string): Channel | undefined {
  const Ctor = (globalThis as unknown as { BroadcastChannel?: new (name: string) => Channel }).BroadcastChannel
  return Ctor ? new Ctor(name) : undefined
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new OptionError(`Expected a name that is a non-empty string, got ${describe(name)}`)
  }
}

function kindList(): string {
  return [...kinds.keys()].join(', ')
}

/** Checks the shape of one entry of a handle or a message; the object's own attach checks the rest. */
function checkEntry(value: unknown, where: string): RegistryEntryHandle {
  const e = value as Partial<RegistryEntryHandle> | null
  if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || e.name.length === 0) {
    throw new HandleError(`Expected ${where} to be { name, seq, handle } with a non-empty name, got ${describe(value)}`)
  }
  if (typeof e.seq !== 'number' || !Number.isInteger(e.seq) || e.seq < 1) {
    throw new HandleError(`Expected ${where} (${JSON.stringify(e.name)}) to have a positive integer \`seq\`, got ${describe(e.seq)}`)
  }
  const h = e.handle as Partial<Handle> | null | undefined
  if (typeof h !== 'object' || h === null || h.threadstate !== HANDLE_FORMAT || typeof h.type !== 'string' || !(h.type in TypeTag)) {
    throw new HandleError(`Expected ${where} (${JSON.stringify(e.name)}) to carry a threadstate handle, got ${describe(h)}`)
  }
  return e as RegistryEntryHandle
}

/**
 * A registry of named shared objects (locks, state buffers, snapshot stores,
 * maps) for a whole program: build it in the main thread, send its one
 * `handle` to every worker, and get each object there by name, typed.
 *
 * - Any thread may `add()`; names are reserved in a shared table, so of two
 *   threads adding one name exactly one succeeds and the other gets a
 *   `RegistryError` (`reason: 'duplicate'`).
 * - Objects added after a worker attached reach it by message. In Node,
 *   `get()` of a name it does not know yet takes pending messages
 *   synchronously, so a worker in a tight loop sees the object as soon as
 *   `add()` returned. In browsers a message arrives when the worker returns to
 *   its event loop: `await waitForAsync(name)`.
 * - Objects are attached in a thread on first `get()`, then cached.
 * - Call `close()` when done (or `using`): it releases the channel. An open
 *   manager does not keep a Node process alive.
 *
 * @example
 * ```ts
 * const reg = StateManager.create()
 *   .add('pose', StateBuffer.create(Pose))
 *   .add('status', SharedMap.create<string>())
 * export type Registry = typeof reg
 * new Worker(url, { workerData: { reg: reg.handle } })
 * reg.add('estop', Mutex.create())            // reaches the worker too
 *
 * // in the worker:
 * const reg = StateManager.attach<Registry>(workerData.reg)
 * reg.get('pose').latest()                    // typed: StateBuffer<typeof Pose>
 * const estop = await reg.waitForAsync('estop', { timeoutMs: 1000 })
 * ```
 */
export class StateManager<out T extends RegistryEntries = RegistryEntries> implements Disposable {
  private readonly base: Handle<'StateManager'>
  private readonly words: Int32Array
  private readonly table: SharedMap<TableRow>
  private readonly domain: Domain
  private readonly channelName: string
  private readonly channel: Channel | undefined
  private readonly local = new Map<string, LocalEntry>()
  private readonly requested = new Set<string>()
  private readonly waiters = new Set<Waiter>()
  private closed = false

  private constructor(base: Handle<'StateManager'>, table: SharedMap<TableRow>, channelName: string, entries: readonly RegistryEntryHandle[]) {
    this.base = base
    this.words = new Int32Array(base.buffer, base.byteOffset, MANAGER_BYTES / 4)
    this.table = table
    this.domain = domainOf(base.domain)
    this.channelName = channelName
    for (const e of entries) this.local.set(e.name, { seq: e.seq, handle: e.handle, object: undefined })
    this.channel = openChannel(channelName)
    if (this.channel) {
      this.channel.onmessage = (event) => this.receive(event.data)
      this.channel.unref?.()
    }
  }

  /** Creates an empty registry. */
  static create(): StateManager<Record<never, never>> {
    const region = allocateRegion('StateManager', MANAGER_BYTES)
    const table = SharedMap.create<TableRow>({ initialCapacity: 8, maxBytes: 16 << 20, changeLogBytes: 4096 })
    return new StateManager(makeHandle('StateManager', region, domainOf().buffer), table, CHANNEL_PREFIX + randomHex(), [])
  }

  /**
   * Rebuilds a registry from its handle, in any thread. The handle carries
   * the registry's type, so `attach(reg.handle)` (or a handle typed
   * `StateManagerHandle<...>` in a message) gives typed objects. For a
   * handle that arrives untyped (`workerData` is `any`), give the type:
   * `attach<typeof reg>(h)` or `attach<{ pose: StateBuffer<typeof Pose> }>(h)`.
   * A typed handle attached as a registry of other objects does not compile
   * (a subset of its entries does). Objects are attached on first `get()`.
   * @example
   * ```ts
   * const reg = StateManager.create().add('pose', StateBuffer.create(Pose))
   * new Worker(url, { workerData: { reg: reg.handle } })
   * // in the worker (the message type shared with the main module):
   * type Message = { reg: typeof reg.handle }
   * const { reg } = workerData as Message
   * StateManager.attach(reg).get('pose').latest() // StateBuffer<typeof Pose>
   * ```
   * @throws HandleError if the handle is invalid
   */
  static attach<T extends RegistryEntries>(handle: StateManagerHandle<T>): StateManager<T>
  /**
   * {@link attach} with the registry's type given (`attach<typeof reg>(h)`,
   * `attach<{ pose: StateBuffer<typeof Pose> }>(h)`): it may name objects the
   * handle does not list yet (added later, delivered by message), but must
   * agree with the handle on the type of every object both name.
   */
  static attach<R extends object = RegistryEntries>(handle: HandleAgreeingWith<EntriesOf<R>>): StateManager<EntriesOf<R>>
  static attach(handle: StateManagerHandle): StateManager {
    return attaching('StateManager', () => {
      const checked = checkHandle(handle, 'StateManager', MANAGER_BYTES)
      const { channel, table, entries } = checked as { channel?: unknown; table?: unknown; entries?: unknown }
      if (typeof channel !== 'string' || !channel.startsWith(CHANNEL_PREFIX)) {
        throw new HandleError(`Expected a StateManager handle whose \`channel\` is a "${CHANNEL_PREFIX}..." name, got ${describe(channel)}`)
      }
      if (!Array.isArray(entries)) throw new HandleError(`Expected a StateManager handle whose \`entries\` is an array, got ${describe(entries)}`)
      const seen = new Set<string>()
      const list = entries.map((e: unknown, i) => {
        const entry = checkEntry(e, `entry ${i} of a StateManager handle`)
        if (seen.has(entry.name)) throw new HandleError(`Expected a StateManager handle with unique names, got ${describe(entry.name)} twice`)
        seen.add(entry.name)
        return entry
      })
      const names = SharedMap.attach<TableRow>(table as SharedMapHandle<TableRow>)
      const manager = new StateManager<RegistryEntries>(checked, names, channel, list)
      manager.drain()
      // Names added after `handle` was cloned but before our channel opened were posted before we
      // could hear them: ask the threads that hold them.
      manager.request([...names.keys()].filter((name) => !manager.local.has(name)))
      return manager
    })
  }

  /**
   * Makes objects of `type` attachable by registries in **this thread** (call
   * it in every thread, before `get()`). The built-in kinds need no call:
   * `add()` and `get()` take `Mutex`, `ReentrantMutex`, `RWLock`,
   * `Condition`, `Semaphore`, `Barrier`, `StateBuffer`, `SnapshotStore`,
   * `SharedMap`, `StateMachine`, `TriggerFlags` and `Watchdog` in every
   * thread (test/docs.test.ts keeps this list equal to what `add()`
   * accepts). Registering the same function again is a no-op.
   * @example
   * ```ts
   * StateManager.registerKind('MyKind', (h) => MyKind.attach(h as MyKindHandle))
   * ```
   * @throws OptionError for an unknown type name, or a kind already registered with another function
   */
  static registerKind<K extends TypeName>(type: K, attach: (handle: Handle<K>) => SharedObject): void {
    if (typeof type !== 'string' || !(type in TypeTag)) {
      throw new OptionError(`Expected a threadstate type name (${Object.keys(TypeTag).join(', ')}), got ${describe(type)}`)
    }
    if (typeof attach !== 'function') throw new OptionError(`Expected an attach function, got ${describe(attach)}`)
    const existing = kinds.get(type)
    if (existing !== undefined && existing !== attach) {
      throw new OptionError(`Expected a kind that is not registered yet, got ${describe(type)}, which is`)
    }
    kinds.set(type, attach as AttachKind)
  }

  /**
   * The structured-cloneable handle: send it in `workerData` or a message.
   * Each read makes a new one listing the objects known here; objects added
   * later still reach the threads that attach it.
   */
  get handle(): StateManagerHandle<T> {
    this.drain()
    const entries = [...this.local].map(([name, e]) => ({ name, seq: e.seq, handle: e.handle }))
    return { ...this.base, channel: this.channelName, table: this.table.handle, entries }
  }

  /**
   * Adds `object` under `name`, for every thread of the registry. Returns this
   * manager, typed with the new name: chain the calls, or keep the result.
   * @throws OptionError if `name` is not a non-empty string or `object` is not a threadstate object of a registered kind
   * @throws HandleError if the object's handle is invalid
   * @throws RegistryError `duplicate` if the name is taken (by any thread), `closed` after `close()`
   * @throws BlockingNotAllowedError on a browser main thread, if another thread holds the names table's lock at that moment
   */
  add<K extends string, O extends SharedObject>(name: NewName<K, T>, object: O): StateManager<Added<T, K, O>> {
    checkName(name)
    const handle = (object as Partial<SharedObject> | null)?.handle
    const type = (handle as Partial<Handle> | undefined)?.type
    const attach = type === undefined ? undefined : kinds.get(type)
    if (attach === undefined || handle === undefined) {
      throw new OptionError(`Expected a threadstate object (${kindList()}) to add as ${describe(name)}, got ${describe(object)}${type === undefined ? '' : ` whose handle is of type ${describe(type)}`}`)
    }
    attach(handle) // checks the handle as every other thread will, before anything shared changes
    this.checkOpen(name)
    this.drain()
    if (this.local.has(name)) throw this.duplicate(name)
    const seq = Atomics.add(this.words, ManagerWord.NEXT_SEQ, 1) + 1
    if (!this.table.compareAndSet(name, 0, { type: handle.type, seq, addedBy: this.domain.tid })) throw this.duplicate(name)
    try {
      this.post({ tag: MESSAGE_TAG, kind: 'entries', entries: [{ name, seq, handle }] })
    } catch (error) {
      this.table.delete(name) // nobody can have it: the post failed
      throw error
    }
    this.local.set(name, { seq, handle, object })
    return this as unknown as StateManager<Added<T, K, O>>
  }

  /**
   * The object added as `name`, attached in this thread on first use. In Node,
   * a name not known yet is looked for in the messages already queued for
   * this thread (a tight loop sees objects added in other threads).
   * @throws RegistryError `unknown` (the message lists the names there are) or `pending` (added in another thread, not delivered here yet: use waitFor / waitForAsync)
   * @throws HandleError if the object's handle cannot be attached here
   */
  get<K extends keyof T & string>(name: K): T[K] {
    const entry = this.local.get(name) ?? this.find(name)
    return (entry.object ?? this.attachEntry(name, entry)) as T[K]
  }

  /** Whether `get(name)` would return an object now. */
  has(name: string): boolean {
    if (this.local.has(name)) return true
    this.drain()
    return this.local.has(name)
  }

  /** Names `get()` can serve in this thread, in the order they were added. */
  names(): string[] {
    this.drain()
    return [...this.local].sort((a, b) => a[1].seq - b[1].seq).map(([name]) => name)
  }

  /**
   * The handle of the object added as `name` (to attach it with options the
   * handle does not carry, e.g. `SharedMap.attach(h, { validate })`).
   * @throws RegistryError as {@link get}
   */
  handleOf<K extends keyof T & string>(name: K): T[K]['handle'] {
    return (this.local.get(name) ?? this.find(name)).handle as T[K]['handle']
  }

  /**
   * Blocks until the object `name` is known here (a worker waiting for an
   * object another thread will add), at most `timeoutMs`. Needs a runtime that
   * takes messages synchronously (Node); elsewhere use {@link waitForAsync}.
   * @returns the object, or undefined on timeout
   * @throws BlockingNotAllowedError where messages cannot be taken synchronously, or on a thread that may not block
   * @throws RegistryError `closed` after `close()`
   */
  waitFor<K extends keyof T & string>(name: K, timeoutMs?: number): T[K] | undefined {
    checkName(name)
    const deadline = deadlineOf(timeoutMs)
    const words = this.words
    for (;;) {
      const entry = this.local.get(name)
      if (entry) return this.get(name)
      this.checkOpen(name)
      if (this.table.has(name)) this.request([name])
      Atomics.add(words, ManagerWord.WAITERS, 1)
      try {
        const posts = Atomics.load(words, ManagerWord.POSTS)
        this.drain()
        if (this.local.has(name)) continue
        if (!canReceiveMessagesSync || !this.channel) {
          if (now() >= deadline) return undefined
          throw new BlockingNotAllowedError(
            `Expected a runtime that takes messages synchronously (Node) for a blocking waitFor(${JSON.stringify(name)}), got one that delivers them only between tasks: use waitForAsync`,
          )
        }
        if (!sleepWhile(words, ManagerWord.POSTS, posts, deadline)) return undefined
      } finally {
        Atomics.sub(words, ManagerWord.WAITERS, 1)
      }
    }
  }

  /**
   * Waits without blocking until the object `name` is known here. Keeps a
   * Node process alive while waiting. Where the runtime has no
   * `BroadcastChannel`, nothing added elsewhere can arrive: resolves
   * undefined at once.
   * @returns the object, or undefined on timeout; rejects with `signal.reason` when aborted
   * @throws RegistryError `closed` after `close()` (also if closed while waiting)
   */
  async waitForAsync<K extends keyof T & string>(name: K, options: AsyncWaitOptions = {}): Promise<T[K] | undefined> {
    options = checkWaitOptions(options)
    checkName(name)
    const deadline = deadlineOf(options.timeoutMs)
    const signal = options.signal
    if (signal?.aborted) throw signal.reason
    if (this.has(name)) return this.get(name)
    this.checkOpen(name)
    if (!this.channel) return undefined
    if (this.table.has(name)) this.request([name])
    const found = await new Promise<boolean>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const onAbort = (): void => waiter.settle({ error: signal?.reason })
      const waiter: Waiter = {
        name,
        settle: (outcome) => {
          if (!this.waiters.delete(waiter)) return
          if (this.waiters.size === 0) this.channel?.unref?.()
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          if (outcome === undefined) resolve(this.local.has(name))
          else reject(outcome.error)
        },
      }
      this.waiters.add(waiter)
      this.channel?.ref?.() // an unref'd channel would let Node exit with the wait pending
      if (deadline !== Infinity) timer = setTimeout(() => waiter.settle(undefined), Math.max(0, deadline - now()))
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    return found ? this.get(name) : undefined
  }

  /**
   * Figures of every object known here, by name: its `stats()`, or `{ type }`
   * for kinds without stats (Barrier). Attaches objects not attached yet.
   */
  stats(): RegistryStats<T> {
    const out: Record<string, unknown> = {}
    for (const name of this.names()) {
      const entry = this.local.get(name)!
      const object = entry.object ?? this.attachEntry(name, entry)
      const stats = (object as { stats?: unknown }).stats
      Object.defineProperty(out, name, {
        value: typeof stats === 'function' ? (stats as () => unknown).call(object) : { type: entry.handle.type },
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    return out as RegistryStats<T>
  }

  /**
   * Stops hearing about later additions and releases the channel. Objects
   * already known stay usable; `add()` and waits throw `RegistryError`
   * (`closed`), and pending `waitForAsync()` calls reject with it. A thread
   * attaching a handle read before an add gets that object from a thread
   * whose manager is still open: keep one open (usually the main thread's)
   * while workers start.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.channel?.close()
    for (const waiter of [...this.waiters]) waiter.settle({ error: this.closedError(waiter.name) })
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close()
  }

  // ---- delivery ---------------------------------------------------------------

  /** Takes every queued message now, where the runtime can (Node). */
  private drain(): void {
    const channel = this.channel
    if (!canReceiveMessagesSync || channel === undefined || this.closed) return
    for (let m = receiveMessageSync(channel); m !== undefined; m = receiveMessageSync(channel)) this.receive(m.message)
  }

  private receive(message: unknown): void {
    if (this.closed) return
    const m = message as { tag?: unknown; kind?: unknown; entries?: unknown; names?: unknown } | null
    if (typeof m !== 'object' || m === null || m.tag !== MESSAGE_TAG) return
    if (m.kind === 'entries' && Array.isArray(m.entries)) {
      for (const raw of m.entries) {
        let e: RegistryEntryHandle
        try {
          e = checkEntry(raw, 'a delivered entry')
        } catch {
          continue // not ours to throw on: the sender checked it; a get() would report it
        }
        if (this.local.has(e.name)) continue
        this.local.set(e.name, { seq: e.seq, handle: e.handle, object: undefined })
        this.requested.delete(e.name)
        for (const waiter of [...this.waiters]) if (waiter.name === e.name) waiter.settle(undefined)
      }
    } else if (m.kind === 'want' && Array.isArray(m.names)) {
      const entries: RegistryEntryHandle[] = []
      for (const name of m.names) {
        const e = typeof name === 'string' ? this.local.get(name) : undefined
        if (e) entries.push({ name: name as string, seq: e.seq, handle: e.handle })
      }
      if (entries.length > 0) this.post({ tag: MESSAGE_TAG, kind: 'entries', entries })
    }
  }

  /** Posts on the channel, then wakes blocked waiters (see the module comment for the order). */
  private post(message: unknown): void {
    if (!this.channel || this.closed) return
    this.channel.postMessage(message)
    Atomics.add(this.words, ManagerWord.POSTS, 1)
    if (Atomics.load(this.words, ManagerWord.WAITERS) !== 0) Atomics.notify(this.words, ManagerWord.POSTS)
  }

  /** Asks the threads holding `names` to send them (once per name). */
  private request(names: readonly string[]): void {
    const wanted = names.filter((name) => !this.requested.has(name) && !this.local.has(name))
    if (wanted.length === 0) return
    for (const name of wanted) this.requested.add(name)
    this.post({ tag: MESSAGE_TAG, kind: 'want', names: wanted })
  }

  // ---- lookups ---------------------------------------------------------------

  /** The entry of a name not in `local` yet: drain, else explain. */
  private find(name: string): LocalEntry {
    checkName(name)
    this.drain()
    const entry = this.local.get(name)
    if (entry) return entry
    const row = this.table.get(name)
    if (row === undefined) {
      const known = [...this.table.snapshot()].sort((a, b) => a[1].seq - b[1].seq).map(([n]) => n)
      const list = known.length === 0 ? 'none' : known.slice(0, LISTED_NAMES).map((n) => JSON.stringify(n)).join(', ') + (known.length > LISTED_NAMES ? `, … (${known.length} in all)` : '')
      throw new RegistryError(`Expected the name of an object in the registry (${list}), got ${describe(name)}`, 'unknown', name)
    }
    this.request([name])
    const dead = this.domain.isDead(row.addedBy) ? ' (a thread that has since died)' : ''
    throw new RegistryError(
      `Expected ${describe(name)} to be delivered to this thread, got a name that thread ${row.addedBy}${dead} added (a ${row.type}) whose handle has not arrived yet: wait for it with waitFor / waitForAsync`,
      'pending',
      name,
    )
  }

  private attachEntry(name: string, entry: LocalEntry): SharedObject {
    const attach = kinds.get(entry.handle.type)
    if (attach === undefined) {
      throw new HandleError(
        `Expected ${describe(name)} to be of a kind this thread can attach (${kindList()}), got a ${entry.handle.type}: call StateManager.registerKind(${JSON.stringify(entry.handle.type)}, attach) in this thread first`,
      )
    }
    entry.object = attach(entry.handle)
    return entry.object
  }

  private duplicate(name: string): RegistryError {
    const row = this.table.get(name)
    const by = row === undefined ? '' : ` by ${row.addedBy === this.domain.tid ? 'this thread' : `thread ${row.addedBy}`} (a ${row.type})`
    return new RegistryError(`Expected a name not in the registry yet, got ${describe(name)}, already added${by}`, 'duplicate', name)
  }

  private checkOpen(name: string): void {
    if (this.closed) throw this.closedError(name)
  }

  private closedError(name: string): RegistryError {
    return new RegistryError(`Expected an open StateManager for ${describe(name)}, got one that was closed`, 'closed', name)
  }
}
