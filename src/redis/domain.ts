/**
 * RedisDomain: one process's connection to a Redis server, the objects it
 * opened there, and the bridge that keeps their mirrors current.
 *
 * @module
 */
import { createHash, randomUUID } from 'node:crypto'
import { OptionError, describe } from '../errors.js'
import { checkValidator, type StandardSchemaV1 } from '../encoding/standard-schema.js'
import { SharedMap } from '../map/shared-map.js'
import { Bridge } from './bridge.js'
import { openLink, type ConnectOptions, type RedisLink } from './client.js'
import { evalScript, withRetries } from './call.js'
import { decode, encodeWithFlags } from '../encoding/values.js'
import { validateWith } from '../encoding/standard-schema.js'
import { SnapshotStore } from '../snapshot/snapshot-store.js'
import { wallNow } from '../memory/clock.js'
import { type Followed } from './bridge.js'
import { RemoteMap } from './remote-map.js'
import { RemoteSnapshot } from './remote-snapshot.js'
import { MAX_TIMER_MS, REMOTE_HANDLE_FORMAT, RemoteObject, Status, keysOf, type RemoteSpec } from './remote.js'
import { OPEN, SNAPSHOT_OPEN, STATE_OPEN } from './scripts.js'
import { RemoteState } from './remote-state.js'
import { RedisStateBuffer, type RedisStateBufferHandle, type RedisStateBufferOptions } from './state-buffer.js'
import { StateBuffer } from '../state/state-buffer.js'
import { fingerprintOf } from '../state/codec.js'
import type { Schema } from '../state/schema.js'
import { RedisSharedMap, type RedisSharedMapHandle, type RedisSharedMapOptions } from './shared-map.js'
import { RedisSnapshotStore, type RedisSnapshotStoreHandle, type RedisSnapshotStoreOptions } from './snapshot-store.js'
import { LockWord, lockKeys, type LockKind, type LockSpec } from './lock-engine.js'
import { LOCK_OPEN } from './lock-scripts.js'
import { RedisMutex, RedisReentrantMutex, RedisRWLock, RedisSemaphore, checkLeaseMs, type RedisLockHandle, type RedisLockOptions, type RedisSemaphoreOptions } from './locks.js'
import { StateMachine, machineMirrorOf, type StateMachineDefinition } from '../machine/state-machine.js'
import { checkDefinition } from '../machine/definition.js'
import { FLAGS_OPEN, MACHINE_OPEN, REGISTRY_OPEN, WATCHDOG_OPEN } from './machine-scripts.js'
import { RemoteMachine } from './remote-machine.js'
import { RedisStateMachine, canonicalDefinition, type RedisStateMachineHandle, type RedisStateMachineOptions } from './state-machine.js'
import { RedisTriggerFlags, RemoteFlags, checkFlagNames, flagsMirror, type RedisTriggerFlagsHandle } from './trigger-flags.js'
import { RedisWatchdog, RemoteWatchdog, checkRedisWatchOptions, checkWatchdogTimeout, type RedisWatchdogHandle, type RedisWatchdogOptions, type RedisWatchdogWatchOptions } from './watchdog.js'
import { RedisStateManager, RemoteRegistry, type RedisRegistryEntry } from './state-manager.js'
import { RedisShapeError } from './errors.js'

/** Figures of a {@link RedisDomain}. */
export interface RedisDomainStats {
  /** Objects whose streams the bridge follows. */
  readonly followed: number
  /** Stream entries the bridge read and handed to its objects. */
  readonly bridged: number
  /** Reads of the bridge that failed (a dropped connection, a reply it could not read); it reconnects and reads on from where it was. */
  readonly bridgeErrors: number
  /** The server's clock minus this machine's (ms). */
  readonly clockOffsetMs: number
  /** The most {@link clockOffsetMs} can be off by (ms). */
  readonly clockErrorMs: number
}

/** Options of {@link RedisDomain.connect}. */
export interface RedisDomainOptions extends ConnectOptions {
  /** Prefix of every key (inside the hash tag `{namespace:name}`); default `'threadstate'`. No ':', '{' or '}' (object names may hold ':'). */
  readonly namespace?: string
  /** A write that gets no reply within this many ms rejects (RedisOutcomeUnknownError or RedisConnectionError); default 5000, at most 2^31-1 (a timer's limit). */
  readonly timeoutMs?: number
  /** Stream entries kept per object (`XADD MAXLEN ~`): how far a process's mirror may fall behind before it reloads the whole object; default 10000. */
  readonly streamLength?: number
  /** How long the server remembers a write's operation id, to answer its retries (ms, more than `timeoutMs`); default 120000. */
  readonly operationTtlMs?: number
}

function checkPositive(value: unknown, name: string, fallback: number): number {
  const v = value ?? fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new OptionError(`Expected \`${name}\` to be a positive integer, got ${describe(value)}`)
  return v
}

/**
 * A timeout option (ms): a positive integer that a timer can hold. Node and
 * browsers fire a `setTimeout` of 2^31 ms or more after 1 ms, so a larger
 * value would end every command at once.
 */
function checkTimeoutMs(value: unknown, name: string, fallback: number): number {
  const v = value ?? fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > MAX_TIMER_MS) {
    throw new OptionError(`Expected \`${name}\` to be an integer from 1 to 2^31-1 (ms), got ${describe(value)}`)
  }
  return v
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || /[{}]/.test(value)) {
    throw new OptionError(`Expected ${what} to be a non-empty string without '{' or '}' (they delimit Redis Cluster hash tags), got ${describe(value)}`)
  }
  return value
}

/**
 * A process's connection to one Redis server (or Valkey), through which it
 * opens shared objects by name: every process that opens `'status'` in the
 * same namespace shares it.
 *
 * @example
 * ```ts
 * const redis = await RedisDomain.connect({ url: 'redis://127.0.0.1:6379', namespace: 'fleet' })
 * const status = await redis.sharedMap<boolean>('status')
 * await status.set('qsfp_service', true)
 * await redis.close()
 * ```
 */
export class RedisDomain {
  private readonly objects = new Map<string, Promise<unknown>>()
  private closed = false

  private constructor(
    private readonly link: RedisLink,
    private readonly bridge: Bridge,
    private readonly namespace: string,
    private readonly settings: { readonly timeoutMs: number; readonly streamLength: number; readonly operationTtlMs: number; readonly commandTimeoutMs: number },
    /** The server's clock minus this machine's wall clock (ms), from the TIME round trip with the smallest delay. */
    readonly clockOffsetMs: number,
    /** Half that round trip (ms): the most the offset can be off by. */
    readonly clockErrorMs: number,
  ) {}

  /**
   * Connects (checking the server answers) and starts the bridge.
   * @throws OptionError for bad options; RedisConnectionError if the server does not answer within `timeoutMs`
   */
  static async connect(options: RedisDomainOptions = {}): Promise<RedisDomain> {
    if (typeof options !== 'object' || options === null) throw new OptionError(`Expected an options object, got ${describe(options)}`)
    const namespace = checkName(options.namespace ?? 'threadstate', '`namespace`')
    // Keys are `{namespace:name}`: a ':' in a namespace would make namespace 'a' with object 'b:c'
    // and namespace 'a:b' with object 'c' one object. Names may hold ':', namespaces may not.
    if (namespace.includes(':')) throw new OptionError(`Expected \`namespace\` without ':' (it ends at the first ':' of a key), got ${describe(namespace)}`)
    const timeoutMs = checkTimeoutMs(options.timeoutMs, 'timeoutMs', 5000)
    const commandTimeoutMs = checkTimeoutMs(options.commandTimeoutMs, 'commandTimeoutMs', Math.min(2000, timeoutMs))
    const streamLength = checkPositive(options.streamLength, 'streamLength', 10_000)
    const operationTtlMs = checkPositive(options.operationTtlMs, 'operationTtlMs', 120_000)
    if (operationTtlMs <= timeoutMs) throw new OptionError(`Expected \`operationTtlMs\` (${operationTtlMs}) to be more than \`timeoutMs\` (${timeoutMs}): a retry must find its record`)
    if (options.url !== undefined && typeof options.url !== 'string') throw new OptionError(`Expected \`url\` to be a string, got ${describe(options.url)}`)
    const link = await openLink({ ...options, commandTimeoutMs })
    try {
      await withRetries(() => link.send(['PING']), { timeoutMs, what: 'the connection' })
    } catch (error) {
      await link.close()
      throw error
    }
    const clock = await estimateClock(link, timeoutMs)
    const bridge = new Bridge(() => link.duplicate(), link)
    return new RedisDomain(link, bridge, namespace, { timeoutMs, streamLength, operationTtlMs, commandTimeoutMs }, clock.offsetMs, clock.errorMs)
  }

  /**
   * Opens the map `name`, creating it (empty) if it does not exist; every
   * process that opens `name` shares it. Resolves once this process's mirror
   * holds the map as it was when opened. Opening the same name twice in a
   * domain gives the same object.
   * @throws RedisShapeError if `name` is another kind of object
   */
  sharedMap<V = unknown>(name: string, options: RedisSharedMapOptions<V> = {}): Promise<RedisSharedMap<V>> {
    return this.opened(name, 'map', () => this.openMap(name, options as RedisSharedMapOptions<unknown>)) as Promise<RedisSharedMap<V>>
  }

  /**
   * Opens the snapshot store `name`, creating it with `options.initial` as
   * version 1 if it does not exist; every process that opens `name` shares
   * it. Resolves once this process's mirror holds its latest snapshot.
   * @throws RedisShapeError if `name` is another kind of object
   * @throws EncodeError / ValidationError if a new store's `initial` cannot be stored
   */
  snapshotStore<T>(name: string, options: RedisSnapshotStoreOptions<T>): Promise<RedisSnapshotStore<T>> {
    if (typeof options !== 'object' || options === null || !('initial' in options)) {
      throw new OptionError(`Expected options with an \`initial\` snapshot, got ${describe(options)}`)
    }
    return this.opened(name, 'snapshot', () => this.openSnapshot(name, options as RedisSnapshotStoreOptions<unknown>)) as Promise<RedisSnapshotStore<T>>
  }

  /**
   * Opens the state buffer `name` of `schema`, creating it (nothing
   * published yet) if it does not exist; every process that opens `name`
   * shares it. Resolves once this process's mirror holds the versions the
   * server's stream still has (up to `history`).
   * @throws RedisShapeError if `name` is another kind of object or a buffer of another schema
   */
  stateBuffer<S extends Schema>(name: string, schema: S, options: RedisStateBufferOptions = {}): Promise<RedisStateBuffer<S>> {
    return this.opened(name, 'state', () => this.openState(name, schema, options)) as Promise<RedisStateBuffer<S>>
  }

  // ---- the state machine, trigger flags, watchdog and name registry (issue 13) ----

  /**
   * Opens the state machine `name`, creating it in `definition.initial` if
   * it does not exist; every process that opens `name` shares it and must
   * give the same definition. Resolves once this process's mirror holds its
   * current state (and the transitions the stream still has, up to
   * `historySize`).
   * @throws OptionError for a bad definition (as `StateMachine.create`)
   * @throws RedisShapeError if `name` is another kind of object or a machine of another definition
   */
  stateMachine<const S extends string>(name: string, definition: StateMachineDefinition<S> & RedisStateMachineOptions): Promise<RedisStateMachine<S>> {
    checkDefinition(definition)
    const shape = canonicalDefinition(definition as StateMachineDefinition<string>)
    const opened = this.opened(name, 'machine', () => this.openMachine(name, definition as StateMachineDefinition<string> & RedisStateMachineOptions)) as Promise<RedisStateMachine<S>>
    return this.sameShape(opened, (m) => canonicalDefinition(m.handle.mirror.definition as StateMachineDefinition<string>) === shape, `RedisStateMachine '${name}'`, 'another definition')
  }

  /**
   * Opens the trigger flags `name` (all clear when created); every process
   * that opens `name` shares them and must give the same names.
   * @throws OptionError for bad names (1 to 31, unique)
   * @throws RedisShapeError if `name` is another kind of object or flags of other names
   */
  triggerFlags<const F extends string>(name: string, names: readonly F[]): Promise<RedisTriggerFlags<F>> {
    checkFlagNames(names)
    const opened = this.opened(name, 'flags', () => this.openFlags(name, [...names])) as Promise<RedisTriggerFlags<F>>
    return this.sameShape(opened, (f) => JSON.stringify(f.names) === JSON.stringify(names), `RedisTriggerFlags '${name}'`, 'other names')
  }

  /**
   * Opens the watchdog `name`, creating it armed now if it does not exist;
   * every process that opens `name` shares it and must give the same
   * `timeoutMs`. The object is this domain's one for `name`: options other
   * than `timeoutMs` apply when it is first opened here (or use `watch`).
   * @throws OptionError for a bad option
   * @throws RedisShapeError if `name` is another kind of object or a watchdog of another timeout
   */
  watchdog(name: string, options: RedisWatchdogOptions): Promise<RedisWatchdog> {
    const watch = checkRedisWatchOptions(options)
    const timeoutMs = checkWatchdogTimeout(options.timeoutMs)
    const opened = this.opened(name, 'watchdog', () => this.openWatchdog(name, timeoutMs, watch)) as Promise<RedisWatchdog>
    return this.sameShape(opened, (d) => d.timeoutMs === timeoutMs, `RedisWatchdog '${name}'`, `a timeoutMs other than ${timeoutMs}`)
  }

  /**
   * The registry of this namespace: names reserved atomically across every
   * process (exactly one of several adding a name wins), each recording how
   * to open its object.
   */
  stateManager(): Promise<RedisStateManager> {
    this.checkOpen()
    this.registry ??= this.openRegistry()
    this.registry.catch(() => (this.registry = undefined))
    return this.registry
  }

  /** `opened`, or RedisShapeError if this domain opened the name with other settings (the server checks them only when a domain first opens it). */
  private async sameShape<T>(opened: Promise<T>, same: (object: T) => boolean, what: string, other: string): Promise<T> {
    const object = await opened
    if (!same(object)) throw new RedisShapeError(`Expected ${what} to be what was asked for, got it opened in this domain with ${other}`)
    return object
  }

  private registry: Promise<RedisStateManager> | undefined
  /** This domain's id in registry entries. */
  private readonly domainId = randomUUID()

  /** A status buffer and the spec of object `name`, after its open script answered `epoch`. */
  private remoteParts(name: string, what: string, epoch: Buffer, streamLength?: number): { spec: RemoteSpec; status: SharedArrayBuffer } {
    return { spec: this.spec(name, what, epoch, streamLength), status: new SharedArrayBuffer(Status.WORDS * 4) }
  }

  private async openMachine(name: string, options: StateMachineDefinition<string> & RedisStateMachineOptions): Promise<RedisStateMachine<string>> {
    const historySize = options.historySize ?? 64
    const streamLength = checkPositive(options.streamLength, 'streamLength', this.settings.streamLength)
    const mirror = StateMachine.create({ states: options.states, initial: options.initial, transitions: options.transitions, anyTo: options.anyTo ?? [], historySize })
    const keys = keysOf(this.tag(name))
    const shape = createHash('sha1').update(canonicalDefinition(options)).digest('hex')
    const [epoch, version, state, position] = await this.run<[Buffer, number, number, Buffer]>(`RedisStateMachine '${name}'`, () =>
      evalScript(this.link, MACHINE_OPEN, [keys.meta, keys.log], [shape, randomUUID(), mirror.states.indexOf(options.initial)]),
    )
    const { spec, status } = this.remoteParts(name, 'RedisStateMachine', epoch, streamLength)
    const remote = new RemoteMachine(spec, mirror, new Int32Array(status), () => this.commandLink())
    if (version > 0) {
      // The transitions the stream still has (up to the history kept), then the server's state for sure.
      const newest = await this.run<[Buffer, Buffer[]][]>(spec.what, () => this.link.send(['XREVRANGE', keys.log, position, '-', 'COUNT', Math.min(version, historySize)]))
      const entries = newest.reverse().map(([, fields]) => remote.decode(fields))
      const first = entries[0]
      if (first !== undefined && first.version + entries.length - 1 === version) {
        machineMirrorOf(mirror).reset(first.version - 1, first.from)
        for (const e of entries) machineMirrorOf(mirror).apply(e.version, e.from, e.to, e.threadId, e.at, e.reason)
      }
      machineMirrorOf(mirror).reset(version, state)
    }
    const handle: RedisStateMachineHandle = {
      kind: 'RedisStateMachine',
      format: REMOTE_HANDLE_FORMAT,
      mirror: mirror.handle,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    const machine = new RedisStateMachine<string>(handle, remote)
    await remote.catchUp(version) // notes the server's version (the mirror keeps it modulo 2^24)
    this.follow(
      remote,
      position.toString(),
      async (entries) => machine.emitEntries(await remote.applyEntries(entries)),
      () => remote.version(),
    )
    return machine
  }

  private async openFlags(name: string, names: string[]): Promise<RedisTriggerFlags<string>> {
    const keys = keysOf(this.tag(name))
    const [epoch, version, bits, position] = await this.run<[Buffer, number, number, Buffer]>(`RedisTriggerFlags '${name}'`, () =>
      evalScript(this.link, FLAGS_OPEN, [keys.meta, keys.log], [JSON.stringify(names), randomUUID()]),
    )
    const { spec, status } = this.remoteParts(name, 'RedisTriggerFlags', epoch)
    const mirror = flagsMirror()
    const remote = new RemoteFlags(spec, mirror, new Int32Array(status), () => this.commandLink())
    remote.apply(version, bits)
    const handle: RedisTriggerFlagsHandle = {
      kind: 'RedisTriggerFlags',
      format: REMOTE_HANDLE_FORMAT,
      names,
      mirror,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    const flags = new RedisTriggerFlags<string>(handle, remote)
    this.follow(
      remote,
      position.toString(),
      async (entries) => remote.applyEntries(entries),
      () => remote.version(),
    )
    return flags
  }

  private async openWatchdog(name: string, timeoutMs: number, watch: RedisWatchdogWatchOptions): Promise<RedisWatchdog> {
    const keys = keysOf(this.tag(name))
    const [epoch] = await this.run<[Buffer]>(`RedisWatchdog '${name}'`, () => evalScript(this.link, WATCHDOG_OPEN, [keys.meta], [String(timeoutMs), randomUUID()]))
    const { spec, status } = this.remoteParts(name, 'RedisWatchdog', epoch)
    const remote = new RemoteWatchdog(spec, new Int32Array(status), () => this.commandLink())
    const handle: RedisWatchdogHandle = {
      kind: 'RedisWatchdog',
      format: REMOTE_HANDLE_FORMAT,
      timeoutMs,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    return new RedisWatchdog(handle, remote, watch)
  }

  private async openRegistry(): Promise<RedisStateManager> {
    const tag = `{${this.namespace}}`
    const meta = keysOf(tag).meta
    const [epoch] = await this.run<[Buffer]>(`the registry of '${this.namespace}'`, () => evalScript(this.link, REGISTRY_OPEN, [meta], [randomUUID()]))
    const spec: RemoteSpec = { ...this.spec(this.namespace, 'registry', epoch), tag, what: `the registry of namespace '${this.namespace}'` }
    const remote = new RemoteRegistry(spec, new Int32Array(new SharedArrayBuffer(Status.WORDS * 4)), () => this.commandLink())
    return new RedisStateManager(remote, (entry) => this.openEntry(entry), this.domainId)
  }

  /** Opens what a registry entry records. */
  private openEntry(entry: RedisRegistryEntry): Promise<unknown> {
    switch (entry.kind) {
      case 'map':
        return this.sharedMap(entry.object)
      case 'snapshot':
        return this.snapshotStore(entry.object, { initial: undefined })
      case 'machine':
        return this.stateMachine(entry.object, entry.definition as StateMachineDefinition<string>)
      case 'flags':
        return this.triggerFlags(entry.object, entry.names ?? [])
      case 'watchdog':
        return this.watchdog(entry.object, { timeoutMs: entry.timeoutMs ?? 0 })
      default:
        return Promise.reject(new OptionError(`Expected an entry that can be opened by name, got a ${entry.kind}`))
    }
  }

  // ---- Locks (issue 13): leases on the server's clock, fencing tokens, owner-died (locks.ts) ----

  /** This domain's process-unique id: with a thread id, a lock holder's identity. */
  private readonly lockDomainId = randomUUID()

  /**
   * Opens the mutex `name` (created on first use); every process and thread
   * that opens it shares it. Resolves once this process's bridge follows its
   * release notices. Opening it again in this domain gives the same object,
   * with the same options only: another `leaseMs` is a RedisShapeError (the
   * object, and its lease length, is shared by every caller here).
   * @throws OptionError for a bad `leaseMs`; RedisShapeError if `name` is another kind of object (another lock kind too), or was opened here with another `leaseMs`
   */
  mutex(name: string, options: RedisLockOptions = {}): Promise<RedisMutex> {
    return this.lock(name, 'mutex', 1, options, (h, l) => new RedisMutex(h, l))
  }

  /** Opens the reentrant mutex `name`, as {@link mutex}. */
  reentrantMutex(name: string, options: RedisLockOptions = {}): Promise<RedisReentrantMutex> {
    return this.lock(name, 'reentrant-mutex', 1, options, (h, l) => new RedisReentrantMutex(h, l))
  }

  /** Opens the readers-writer lock `name`, as {@link mutex}. */
  rwlock(name: string, options: RedisLockOptions = {}): Promise<RedisRWLock> {
    return this.lock(name, 'rwlock', 1, options, (h, l) => new RedisRWLock(h, l))
  }

  /**
   * Opens the counting semaphore `name` of `permits` permits, as {@link mutex}.
   * @throws RedisShapeError if it exists with another number of permits (on the server, or opened here), or was opened here with another `leaseMs`
   */
  semaphore(name: string, options: RedisSemaphoreOptions): Promise<RedisSemaphore> {
    if (typeof options !== 'object' || options === null) throw new OptionError(`Expected options with \`permits\`, got ${describe(options)}`)
    const permits = options.permits
    if (typeof permits !== 'number' || !Number.isInteger(permits) || permits < 1 || permits > 1_000_000) {
      throw new OptionError(`Expected \`permits\` to be an integer from 1 to 1000000, got ${describe(permits)}`)
    }
    return this.lock(name, 'semaphore', permits, options, (h, l) => new RedisSemaphore(h, l))
  }

  /**
   * The lock `name` of `kind`, opened once in this domain; RedisShapeError if
   * it was opened here with another lease length or number of permits.
   */
  private lock<L extends { readonly handle: RedisLockHandle }>(
    name: string,
    kind: LockKind,
    permits: number,
    options: RedisLockOptions,
    make: (handle: RedisLockHandle, link: () => Promise<RedisLink>) => L,
  ): Promise<L> {
    let leaseMs: number
    try {
      if (typeof options !== 'object' || options === null) throw new OptionError(`Expected lock options ({ leaseMs? }), got ${describe(options)}`)
      leaseMs = checkLeaseMs(options.leaseMs)
    } catch (error) {
      return Promise.reject(error as Error)
    }
    const opened = this.opened(name, kind, () => this.openLock(name, kind, permits, leaseMs, make)) as Promise<L>
    return this.sameLock(opened, leaseMs, permits)
  }

  /** `opened`, or RedisShapeError if this domain opened the lock with another lease length or number of permits. */
  private async sameLock<L extends { readonly handle: RedisLockHandle }>(opened: Promise<L>, leaseMs: number, permits: number): Promise<L> {
    const lock = await opened
    const spec = lock.handle.spec
    if (spec.leaseMs !== leaseMs || spec.permits !== permits) {
      const asked = spec.kind === 'semaphore' ? `{ permits: ${permits}, leaseMs: ${leaseMs} }` : `{ leaseMs: ${leaseMs} }`
      const has = spec.kind === 'semaphore' ? `{ permits: ${spec.permits}, leaseMs: ${spec.leaseMs} }` : `{ leaseMs: ${spec.leaseMs} }`
      throw new RedisShapeError(`Expected ${spec.what} opened with ${asked}, got it opened in this domain with ${has}: one object serves every caller here, open it with the same options`)
    }
    return lock
  }

  private async openLock<L>(name: string, kind: LockKind, permits: number, leaseMs: number, make: (handle: RedisLockHandle, link: () => Promise<RedisLink>) => L): Promise<L> {
    const handleKind = ({ mutex: 'RedisMutex', 'reentrant-mutex': 'RedisReentrantMutex', rwlock: 'RedisRWLock', semaphore: 'RedisSemaphore' } as const)[kind]
    const spec: LockSpec = { name, tag: this.tag(name), what: `${handleKind} '${name}'`, kind, permits, leaseMs, timeoutMs: this.settings.timeoutMs, domainId: this.lockDomainId }
    const keys = lockKeys(spec.tag)
    const position = await this.run<Buffer>(spec.what, () => evalScript(this.link, LOCK_OPEN, keys, [kind, permits]))
    const status = new SharedArrayBuffer(LockWord.WORDS * 4)
    const words = new Int32Array(status)
    const handle: RedisLockHandle = { kind: handleKind, format: REMOTE_HANDLE_FORMAT, status, spec, link: this.link.descriptor, commandTimeoutMs: this.settings.commandTimeoutMs }
    this.bridge.follow({
      log: keys[5]!,
      position: position.toString(),
      // A release notice: wake this process's waiters (every thread sleeps on WAKES); they re-check on the server.
      async apply() {
        Atomics.store(words, LockWord.SEEN_HELD, 0)
        Atomics.add(words, LockWord.WAKES, 1)
        Atomics.notify(words, LockWord.WAKES)
      },
      async check() {},
    })
    return make(handle, () => this.commandLink())
  }

  /** The object opened as `name` in this domain, opening it once. */
  private opened(name: string, kind: string, open: () => Promise<unknown>): Promise<unknown> {
    this.checkOpen()
    checkName(name, 'the name')
    const key = `${kind}:${name}`
    let object = this.objects.get(key)
    if (object === undefined) {
      object = open()
      this.objects.set(key, object)
      object.catch(() => this.objects.delete(key))
    }
    return object
  }

  /** The spec of object `name` with epoch `epoch`. */
  private spec(name: string, what: string, epoch: Buffer, streamLength = this.settings.streamLength): RemoteSpec {
    return {
      name,
      tag: this.tag(name),
      what: `${what} '${name}'`,
      epoch: epoch.toString(),
      timeoutMs: this.settings.timeoutMs,
      streamLength,
      operationTtlMs: this.settings.operationTtlMs,
      clockOffsetMs: this.clockOffsetMs,
    }
  }

  private tag(name: string): string {
    return `{${this.namespace}:${name}}`
  }

  /** Runs an opening command with the domain's retries. */
  private run<T>(what: string, command: () => Promise<unknown>): Promise<T> {
    return withRetries(command, { timeoutMs: this.settings.timeoutMs, what }) as Promise<T>
  }

  /** Follows an object's stream from `position`: `apply` gets what the bridge reads; idle checks verify its epoch and catch up. */
  private follow(remote: RemoteObject & { catchUp(target: number): Promise<void> }, position: string, apply: Followed['apply'], version: () => number): void {
    const bridge = this.bridge
    const log = remote.keys.log
    bridge.follow({
      log,
      position,
      apply,
      async check() {
        try {
          const server = await remote.serverVersion()
          // Behind without having been told (an entry trimmed away before it was read): catch up.
          if (server > version()) await remote.catchUp(server)
        } catch {
          if (Atomics.load(remote.status, Status.LOST) !== 0) bridge.unfollow(log)
        }
      },
    })
  }

  private async openMap(name: string, options: RedisSharedMapOptions<unknown>): Promise<RedisSharedMap<unknown>> {
    const meta = keysOf(this.tag(name)).meta
    const [epoch] = await this.run<[Buffer, number]>(`RedisSharedMap '${name}'`, () => evalScript(this.link, OPEN, [meta], ['map', '1', randomUUID()]))
    const spec = this.spec(name, 'RedisSharedMap', epoch)
    const mirror = SharedMap.create<unknown>({
      ...(options.changeLogBytes === undefined ? {} : { changeLogBytes: options.changeLogBytes }),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    })
    const status = new SharedArrayBuffer(Status.WORDS * 4)
    const remote = new RemoteMap(spec, mirror, new Int32Array(status), () => this.commandLink())
    const position = await remote.reload(true)
    const handle: RedisSharedMapHandle = {
      kind: 'RedisSharedMap',
      format: REMOTE_HANDLE_FORMAT,
      mirror: mirror.handle,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    const map = new RedisSharedMap<unknown>(handle, remote, checkValidator(options.validate) as StandardSchemaV1<unknown> | undefined)
    this.follow(
      remote,
      position,
      async (entries) => {
        const before = mirror.version
        const reloaded = await remote.applyEntries(entries)
        if (!reloaded) Atomics.add(remote.status, Status.BRIDGED, Math.max(0, mirror.version - before))
      },
      () => mirror.version,
    )
    return map
  }

  private async openSnapshot(name: string, options: RedisSnapshotStoreOptions<unknown>): Promise<RedisSnapshotStore<unknown>> {
    const validator = checkValidator(options.validate) as StandardSchemaV1<unknown> | undefined
    const streamLength = checkPositive(options.streamLength, 'streamLength', 16)
    const initial = encodeWithFlags(validator ? validateWith(validator, options.initial, 'RedisSnapshotStore') : options.initial)
    const keys = keysOf(this.tag(name))
    const [epoch, version, bytes, flags, ts, source, position] = await this.run<[Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer]>(
      `RedisSnapshotStore '${name}'`,
      () =>
        evalScript(this.link, SNAPSHOT_OPEN, [keys.meta, keys.log], ['1', randomUUID(), Buffer.from(initial.bytes.buffer, initial.bytes.byteOffset, initial.bytes.length), initial.flags, streamLength]),
    )
    const spec = this.spec(name, 'RedisSnapshotStore', epoch, streamLength)
    const mirror = SnapshotStore.create<unknown>({
      initial: decode(bytes),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    })
    const status = new SharedArrayBuffer(Status.WORDS * 4)
    const remote = new RemoteSnapshot(spec, mirror, new Int32Array(status), () => this.commandLink())
    // The server's version, timestamp and source (a new mirror starts at version 1 stamped now).
    remote.mirror.publishAt(Number(version.toString()), bytes, Number(flags.toString()), remote.localTime(ts), source.length > 0 ? source.toString() : undefined, true)
    const handle: RedisSnapshotStoreHandle = {
      kind: 'RedisSnapshotStore',
      format: REMOTE_HANDLE_FORMAT,
      mirror: mirror.handle,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    const store = new RedisSnapshotStore<unknown>(handle, remote, validator)
    this.follow(remote, position.toString(), async (entries) => remote.applyEntries(entries), () => mirror.version)
    return store
  }

  private async openState<S extends Schema>(name: string, schema: S, options: RedisStateBufferOptions): Promise<RedisStateBuffer<S>> {
    const streamLength = checkPositive(options.streamLength, 'streamLength', 1024)
    const mirror = StateBuffer.create(schema, { history: options.history ?? 16 })
    const shape = createHash('sha1').update(fingerprintOf(schema)).digest('hex')
    const keys = keysOf(this.tag(name))
    const [epoch, version, position] = await this.run<[Buffer, Buffer, Buffer]>(`RedisStateBuffer '${name}'`, () =>
      evalScript(this.link, STATE_OPEN, [keys.meta, keys.log], [shape, randomUUID()]),
    )
    const spec = this.spec(name, 'RedisStateBuffer', epoch, streamLength)
    const status = new SharedArrayBuffer(Status.WORDS * 4)
    const remote = new RemoteState(spec, mirror as unknown as StateBuffer<Schema>, new Int32Array(status), () => this.commandLink())
    // The history the stream still has, in order (up to what the mirror keeps).
    const server = Number(version.toString())
    if (server > 0) {
      const newest = await this.run<[Buffer, Buffer[]][]>(spec.what, () => this.link.send(['XREVRANGE', keys.log, position, '-', 'COUNT', options.history ?? 16]))
      remote.applyEntries(newest.reverse().map(([id, fields]) => [id.toString(), fields] as const))
    }
    const handle: RedisStateBufferHandle<S> = {
      kind: 'RedisStateBuffer',
      format: REMOTE_HANDLE_FORMAT,
      mirror: mirror.handle,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    const buffer = new RedisStateBuffer<S>(handle, remote)
    this.follow(
      remote,
      position.toString(),
      async (entries) => {
        Atomics.add(remote.status, Status.BRIDGED, remote.applyEntries(entries))
      },
      () => mirror.version,
    )
    return buffer
  }

  /** Figures of the domain's bridge. */
  stats(): RedisDomainStats {
    return { followed: this.bridge.following, bridged: this.bridge.applied, bridgeErrors: this.bridge.errors, clockOffsetMs: this.clockOffsetMs, clockErrorMs: this.clockErrorMs }
  }

  /** The command connection, while the domain is open. */
  private commandLink(): Promise<RedisLink> {
    return this.closed ? Promise.reject(new OptionError('Expected an open RedisDomain, got one already closed: its objects can no longer write')) : Promise.resolve(this.link)
  }

  private checkOpen(): void {
    if (this.closed) throw new OptionError('Expected an open RedisDomain, got one already closed')
  }

  /**
   * Stops the bridge and closes the domain's connections. The objects'
   * mirrors stay readable (their state as last applied) and stop changing;
   * their writes reject.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.bridge.close()
    await this.link.close()
  }
}

/**
 * The server's clock minus this machine's (ms): five TIME round trips, the
 * one with the smallest delay kept (NTP's rule); its error is at most half
 * that round trip. Staleness (`maxAgeMs`, ages) is then measured against one
 * clock in every process.
 */
async function estimateClock(link: RedisLink, timeoutMs: number): Promise<{ offsetMs: number; errorMs: number }> {
  let best = { offsetMs: 0, errorMs: Infinity }
  for (let i = 0; i < 5; i++) {
    const sent = wallNow()
    const [seconds, micros] = (await withRetries(() => link.send(['TIME']), { timeoutMs, what: 'the clock' })) as [Buffer, Buffer]
    const received = wallNow()
    const server = Number(seconds.toString()) * 1000 + Number(micros.toString()) / 1000
    const errorMs = (received - sent) / 2
    if (errorMs < best.errorMs) best = { offsetMs: server - (sent + received) / 2, errorMs }
  }
  return best
}
