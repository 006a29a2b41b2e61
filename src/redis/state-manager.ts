/**
 * RedisStateManager: the names of a namespace reserved atomically across
 * processes, as the in-memory StateManager reserves them across threads
 * (its names table's `compareAndSet(name, 0, ...)`): of two processes adding
 * one name, exactly one commits (HSETNX inside REGISTRY_RESERVE, behind the
 * registry's epoch check), the other gets RegistryError `duplicate`.
 *
 * Objects on Redis are shared by name already (every process that opens
 * `'status'` shares it), so the registry holds no handles: an entry records
 * what kind of object the name is and how to open it, and `open(name)` opens
 * it in this process's domain.
 *
 * ```
 *  {ns}:meta    hash: kind=registry, epoch, seq (last entry number)
 *  {ns}:names   hash: name -> JSON { kind, object, by, token, definition | names | timeoutMs, seq }
 * ```
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { OptionError, describe } from '../errors.js'
import { RegistryError } from '../runtime/registry.js'
import type { StateMachineDefinition } from '../machine/state-machine.js'
import type { RedisLink } from './client.js'
import { evalScript } from './call.js'
import { REGISTRY_RESERVE } from './machine-scripts.js'
import { RemoteObject, type RemoteSpec } from './remote.js'

/** What a registry entry says a name is. */
export type RedisRegistryKind = 'map' | 'snapshot' | 'state' | 'machine' | 'flags' | 'watchdog' | 'reserved'

/** One entry of a {@link RedisStateManager}. */
export interface RedisRegistryEntry {
  /** The name reserved. */
  readonly name: string
  /** What it is (`'reserved'`: a name only, no object). */
  readonly kind: RedisRegistryKind
  /** The object's own name in the namespace (what `redis.sharedMap(...)` etc. open). */
  readonly object: string
  /** Its number in the registry (1 for the first reservation; orders `names()`). */
  readonly seq: number
  /** Which domain added it (a random id per `RedisDomain.connect`). */
  readonly by: string
  /** A machine's definition, so that any process can open it by name. */
  readonly definition?: StateMachineDefinition<string>
  /** Trigger flags' names. */
  readonly names?: readonly string[]
  /** A watchdog's timeout (ms). */
  readonly timeoutMs?: number
}

/** A Redis object as the registry takes it: its name and its handle's kind. */
export interface RedisRegistrable {
  /** The object's name in the namespace. */
  readonly name: string
  /** Its handle (the kind says how to open it again). */
  readonly handle: {
    /** `'RedisSharedMap'`, `'RedisStateMachine'`, ... */
    readonly kind: string
  }
}

/** How the manager opens an entry's object in its domain. */
export type RegistryOpener = (entry: RedisRegistryEntry) => Promise<unknown>

const KIND_OF: Readonly<Record<string, RedisRegistryKind>> = {
  RedisSharedMap: 'map',
  RedisSnapshotStore: 'snapshot',
  RedisStateBuffer: 'state',
  RedisStateMachine: 'machine',
  RedisTriggerFlags: 'flags',
  RedisWatchdog: 'watchdog',
}

function checkEntryName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new OptionError(`Expected a registry name (a non-empty string), got ${describe(name)}`)
  return name
}

/** One thread's access to the registry on the server. */
export class RemoteRegistry extends RemoteObject {
  /** `{ns}:names`. */
  readonly names: string

  constructor(spec: RemoteSpec, status: Int32Array, link: () => Promise<RedisLink>) {
    super(spec, status, link)
    this.names = `${spec.tag}:names`
  }

  /** Reserves `name` with `entry` (JSON, without seq). @returns the entry now under the name, and whether this call made it */
  async reserve(name: string, entry: Record<string, unknown>): Promise<{ readonly won: boolean; readonly entry: RedisRegistryEntry }> {
    this.checkNotLost()
    const token = randomUUID()
    const json = JSON.stringify({ ...entry, name, token })
    const [won, value] = await this.run<[number, Buffer | number]>(
      (link) => evalScript(link, REGISTRY_RESERVE, [this.keys.meta, this.names], [this.spec.epoch, name, json]),
      token,
    )
    if (won === 1) return { won: true, entry: { ...(JSON.parse(json) as RedisRegistryEntry), seq: value as number } }
    const taken = JSON.parse(value.toString()) as RedisRegistryEntry & { token?: string }
    // A retry of a reservation this call made (its reply was lost) finds its own token.
    return { won: taken.token === token, entry: taken }
  }

  /** The entry of `name`, if reserved. */
  async entry(name: string): Promise<RedisRegistryEntry | undefined> {
    await this.serverVersion() // the epoch check: a registry lost is an error, not an empty one
    const value = await this.run<Buffer | null>((link) => link.send(['HGET', this.names, name]))
    return value == null ? undefined : (JSON.parse(value.toString()) as RedisRegistryEntry)
  }

  /** Every entry. */
  async entries(): Promise<RedisRegistryEntry[]> {
    await this.serverVersion()
    const flat = await this.run<Buffer[]>((link) => link.send(['HGETALL', this.names]))
    const out: RedisRegistryEntry[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) out.push(JSON.parse(flat[i + 1]!.toString()) as RedisRegistryEntry)
    return out.sort((a, b) => a.seq - b.seq)
  }
}

/**
 * The registry of a namespace on Redis (`redis.stateManager()`): names
 * reserved atomically across every process, each recording what the name
 * is, so any process can open it by name. The in-memory StateManager's
 * `add` / `get` / `names`, async where the server answers.
 *
 * @example
 * ```ts
 * const registry = await redis.stateManager()
 * await registry.add('robot', await redis.stateMachine('robot', definition)) // RegistryError 'duplicate' if another process has it
 * const fsm = await registry.open('robot')    // in another process: opened by what the entry records
 * ```
 */
export class RedisStateManager {
  private readonly local = new Map<string, unknown>()

  /** @internal use `RedisDomain.stateManager` */
  constructor(
    private readonly remote: RemoteRegistry,
    private readonly opener: RegistryOpener,
    /** This domain's id in entries (`by`). */
    readonly domainId: string,
  ) {}

  /**
   * Adds `object` under `name` for every process: exactly one of several
   * processes adding a name wins.
   * @throws OptionError if `object` is not a Redis object of threadstate
   * @throws RegistryError `duplicate` if the name is taken (by any process)
   */
  async add<O extends RedisRegistrable>(name: string, object: O): Promise<O> {
    checkEntryName(name)
    // Each field of `object` read once (a getter cannot answer one thing to the check and another to the entry).
    let kind: RedisRegistryKind | undefined
    let objectName: unknown
    let details: Record<string, unknown> = {}
    try {
      const handle = (object as Partial<RedisRegistrable> | null)?.handle as { kind?: unknown; mirror?: { definition?: unknown } } | undefined
      const handleKind = handle?.kind
      kind = typeof handleKind === 'string' && Object.hasOwn(KIND_OF, handleKind) ? KIND_OF[handleKind] : undefined
      objectName = object.name
      const extra = object as unknown as { names?: unknown; timeoutMs?: unknown }
      details = kind === 'machine' ? { definition: handle?.mirror?.definition } : kind === 'flags' ? { names: extra.names } : kind === 'watchdog' ? { timeoutMs: extra.timeoutMs } : {}
    } catch {
      kind = undefined
    }
    if (kind === undefined || typeof objectName !== 'string') {
      throw new OptionError(`Expected a threadstate Redis object (${Object.keys(KIND_OF).join(', ')}) to add as ${describe(name)}, got ${describe(object)}`)
    }
    await this.reserveAs(name, { kind, object: objectName, by: this.domainId, ...details })
    this.local.set(name, object)
    return object
  }

  /**
   * Reserves `name` without an object (a lease of a name, a leader's title).
   * @returns true if this call reserved it; false if it was taken
   */
  async reserve(name: string): Promise<boolean> {
    checkEntryName(name)
    return (await this.remote.reserve(name, { kind: 'reserved', object: name, by: this.domainId })).won
  }

  private async reserveAs(name: string, entry: Record<string, unknown>): Promise<void> {
    const { won, entry: taken } = await this.remote.reserve(name, entry)
    if (!won) throw new RegistryError(`Expected a name no process has added, got ${JSON.stringify(name)}: taken (a ${taken.kind} '${taken.object}', by domain ${taken.by})`, 'duplicate', name)
  }

  /** The entry of `name` on the server, or undefined. */
  entry(name: string): Promise<RedisRegistryEntry | undefined> {
    return this.remote.entry(checkEntryName(name))
  }

  /** Every name reserved, by any process, in the order they were reserved. */
  async names(): Promise<string[]> {
    return (await this.remote.entries()).map((e) => e.name)
  }

  /**
   * The object added (or opened) as `name` in this process.
   * @throws RegistryError `unknown` if this process has not added or opened it (`open(name)` opens what another process added)
   */
  get<T = unknown>(name: string): T {
    if (!this.local.has(name)) throw new RegistryError(`Expected a name added or opened in this process, got ${JSON.stringify(name)}: open(name) opens what another process added`, 'unknown', name)
    return this.local.get(name) as T
  }

  /**
   * Opens the object another process added as `name`, by what its entry
   * records (a state buffer needs its schema: open it with
   * `redis.stateBuffer(entry.object, schema)`).
   * @throws RegistryError `unknown` if no process added `name`; OptionError for a state buffer or a reserved name
   */
  async open<T = unknown>(name: string): Promise<T> {
    const known = this.local.get(name)
    if (known !== undefined) return known as T
    const entry = await this.entry(name)
    if (entry === undefined) throw new RegistryError(`Expected a name some process added, got ${JSON.stringify(name)}: none did`, 'unknown', name)
    if (entry.kind === 'state' || entry.kind === 'reserved') {
      throw new OptionError(`Expected an entry that can be opened by name, got a ${entry.kind === 'state' ? "state buffer (open it with redis.stateBuffer(entry.object, schema))" : 'reserved name with no object'}`)
    }
    const object = await this.opener(entry)
    this.local.set(name, object)
    return object as T
  }
}
