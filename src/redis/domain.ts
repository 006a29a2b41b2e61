/**
 * RedisDomain: one process's connection to a Redis server, the objects it
 * opened there, and the bridge that keeps their mirrors current.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { OptionError, describe } from '../errors.js'
import { checkValidator, type StandardSchemaV1 } from '../encoding/standard-schema.js'
import { SharedMap } from '../map/shared-map.js'
import { Bridge } from './bridge.js'
import { openLink, type ConnectOptions, type RedisLink } from './client.js'
import { evalScript, withRetries } from './call.js'
import { RemoteMap, Status, keysOf, type RemoteSpec } from './remote-map.js'
import { OPEN } from './scripts.js'
import { RedisSharedMap, type RedisSharedMapHandle, type RedisSharedMapOptions } from './shared-map.js'

/** Options of {@link RedisDomain.connect}. */
export interface RedisDomainOptions extends ConnectOptions {
  /** Prefix of every key (inside the hash tag `{namespace:name}`); default `'threadstate'`. */
  readonly namespace?: string
  /** A write that gets no reply within this many ms rejects (RedisOutcomeUnknownError or RedisConnectionError); default 5000. */
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
  private readonly maps = new Map<string, Promise<RedisSharedMap<unknown>>>()
  private closed = false

  private constructor(
    private readonly link: RedisLink,
    private readonly bridge: Bridge,
    private readonly namespace: string,
    private readonly settings: { readonly timeoutMs: number; readonly streamLength: number; readonly operationTtlMs: number; readonly commandTimeoutMs: number },
  ) {}

  /**
   * Connects (checking the server answers) and starts the bridge.
   * @throws OptionError for bad options; RedisConnectionError if the server does not answer within `timeoutMs`
   */
  static async connect(options: RedisDomainOptions = {}): Promise<RedisDomain> {
    if (typeof options !== 'object' || options === null) throw new OptionError(`Expected an options object, got ${describe(options)}`)
    const namespace = checkName(options.namespace ?? 'threadstate', '`namespace`')
    const timeoutMs = checkPositive(options.timeoutMs, 'timeoutMs', 5000)
    const commandTimeoutMs = checkPositive(options.commandTimeoutMs, 'commandTimeoutMs', Math.min(2000, timeoutMs))
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
    const bridge = new Bridge(link.duplicate(), link)
    return new RedisDomain(link, bridge, namespace, { timeoutMs, streamLength, operationTtlMs, commandTimeoutMs })
  }

  /**
   * Opens the map `name`, creating it (empty) if it does not exist; every
   * process that opens `name` shares it. Resolves once this process's mirror
   * holds the map as it was when opened. Opening the same name twice in a
   * domain gives the same object.
   * @throws RedisShapeError if `name` is another kind of object
   */
  sharedMap<V = unknown>(name: string, options: RedisSharedMapOptions<V> = {}): Promise<RedisSharedMap<V>> {
    this.checkOpen()
    checkName(name, 'the name')
    let map = this.maps.get(name)
    if (map === undefined) {
      map = this.openMap(name, options as RedisSharedMapOptions<unknown>)
      this.maps.set(name, map)
      map.catch(() => this.maps.delete(name))
    }
    return map as Promise<RedisSharedMap<V>>
  }

  private async openMap(name: string, options: RedisSharedMapOptions<unknown>): Promise<RedisSharedMap<unknown>> {
    const tag = `{${this.namespace}:${name}}`
    const what = `RedisSharedMap '${name}'`
    const keys = keysOf(tag)
    const [epoch] = (await withRetries(() => evalScript(this.link, OPEN, [keys.meta], ['map', '1', randomUUID()]), {
      timeoutMs: this.settings.timeoutMs,
      what,
    })) as [Buffer, number]
    const spec: RemoteSpec = {
      name,
      tag,
      what,
      epoch: epoch.toString(),
      timeoutMs: this.settings.timeoutMs,
      streamLength: this.settings.streamLength,
      operationTtlMs: this.settings.operationTtlMs,
    }
    const mirror = SharedMap.create<unknown>({
      ...(options.changeLogBytes === undefined ? {} : { changeLogBytes: options.changeLogBytes }),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    })
    const status = RedisSharedMap.statusBuffer()
    const remote = new RemoteMap(spec, mirror, new Int32Array(status), () => this.commandLink())
    const position = await remote.reload(true)
    const handle: RedisSharedMapHandle = {
      kind: 'RedisSharedMap',
      format: RedisSharedMap.handleFormat,
      mirror: mirror.handle,
      status,
      spec,
      link: this.link.descriptor,
      commandTimeoutMs: this.settings.commandTimeoutMs,
    }
    const map = new RedisSharedMap<unknown>(handle, remote, checkValidator(options.validate) as StandardSchemaV1<unknown> | undefined)
    const s = new Int32Array(status)
    const bridge = this.bridge
    bridge.follow({
      log: keys.log,
      position,
      async apply(entries) {
        const before = mirror.version
        const reloaded = await remote.applyEntries(entries)
        if (!reloaded) Atomics.add(s, Status.BRIDGED, Math.max(0, mirror.version - before))
      },
      async check() {
        try {
          const version = await remote.serverVersion()
          // Behind without having been told (a stream entry trimmed away before it was read): catch up.
          if (version > mirror.version) await remote.catchUp(version)
        } catch {
          if (remote.status[Status.LOST] !== 0) bridge.unfollow(keys.log)
        }
      },
    })
    return map
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
