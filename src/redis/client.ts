/**
 * The one small adapter between threadstate and a Redis client library (as
 * BullMQ has): everything threadstate sends goes through {@link RedisLink.send},
 * a raw command whose bulk replies come back as Buffers, so values stay
 * binary-safe whatever the library. ioredis is the default; a node-redis
 * (`redis` package) client works too (client-node-redis.ts).
 *
 * Settings threadstate relies on, for a connection it opens itself:
 * - no automatic resend of commands left unanswered by a dropped connection
 *   (ioredis resends them by default: an `INCR` cut mid-flight was applied
 *   twice when measured); threadstate retries a write itself, with the same
 *   operation id, which the server deduplicates (scripts.ts);
 * - commands in flight fail when the connection drops (`maxRetriesPerRequest: 0`),
 *   so a retry starts at once instead of after a timeout;
 * - a per-command timeout, so a stalled server is an error, never a hang.
 *
 * @module
 */
import { OptionError, describe } from '../errors.js'

/** One argument of a command. */
export type Arg = string | Buffer | number

/** A connection to one Redis server, as threadstate uses it. */
export interface RedisLink {
  /** Sends one command; bulk strings come back as Buffers, integers as numbers, arrays as arrays. */
  send(args: readonly Arg[]): Promise<unknown>
  /** A new connection to the same server with the same settings (the bridge's blocking reads). */
  duplicate(options?: { readonly commandTimeoutMs?: number }): RedisLink
  /** Closes the connection (commands in flight fail). */
  close(): Promise<void>
  /** Calls `listener` each time the connection is (re)established. */
  onReady(listener: () => void): void
  /** What another thread needs to open its own connection like this one (undefined: it cannot, e.g. a client threadstate did not make and cannot describe). */
  readonly descriptor: LinkDescriptor | undefined
  /**
   * Whether this is a Redis Cluster client: commands go to the node owning
   * their keys' slot, and one command can only touch keys of one slot (the
   * bridge then reads each object's stream on a connection of its own).
   */
  readonly cluster: boolean
}

/** A structured-cloneable description of a connection: how a worker thread opens its own. */
export interface LinkDescriptor {
  /** `'ioredis'` or `'node-redis'`. */
  readonly library: 'ioredis' | 'node-redis'
  /** `redis://...` URL, if given. */
  readonly url?: string
  /** Plain connection options of the library (host, port, password, db, ...); for a cluster, those of each node's connection. */
  readonly options?: Record<string, unknown>
  /** The startup nodes of a Redis Cluster (ioredis's `Cluster`), if it is one. */
  readonly cluster?: readonly ClusterNode[]
}

/** A node of a Redis Cluster to start from: `'host:port'` or `{ host, port }`. */
export type ClusterNode = string | { readonly host: string; readonly port: number }

/** Options threadstate sets on ioredis connections it opens. */
function ioredisSettings(commandTimeoutMs: number | undefined): Record<string, unknown> {
  return {
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    // Reconnect quickly and keep trying: a write retries within its own timeout.
    retryStrategy: (attempt: number) => Math.min(25 * attempt, 500),
    lazyConnect: false,
    ...(commandTimeoutMs === undefined ? {} : { commandTimeout: commandTimeoutMs }),
  }
}

/**
 * Options of an ioredis `Cluster` threadstate opens: each node's connection
 * gets {@link ioredisSettings}; commands wait in the offline queue while
 * the cluster finds a slot's new owner after a failover (the write's own
 * deadline still bounds them).
 */
function clusterSettings(node: Record<string, unknown>, redisOptions: Record<string, unknown> = {}): Record<string, unknown> {
  const { retryStrategy: _perNode, ...rest } = node
  return {
    redisOptions: { ...redisOptions, ...rest },
    enableOfflineQueue: true,
    clusterRetryStrategy: (attempt: number) => Math.min(25 * attempt, 500),
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    retryDelayOnTryAgain: 50,
    slotsRefreshTimeout: 1000,
  }
}

/** `'host:port'` or `{ host, port }` as `{ host, port }`. @throws OptionError */
function clusterNode(node: unknown): { host: string; port: number } {
  if (typeof node === 'string') {
    const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(node)
    if (match !== null) return { host: match[1]!, port: Number(match[2]) }
  } else if (typeof node === 'object' && node !== null) {
    const { host, port } = node as { host?: unknown; port?: unknown }
    if (typeof host === 'string' && typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) return { host, port }
  }
  throw new OptionError(`Expected a cluster node as 'host:port' or { host, port }, got ${describe(node)}`)
}

/** The plain, cloneable part of an ioredis client's options. */
function cloneableOptions(options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of ['host', 'port', 'path', 'family', 'username', 'password', 'db', 'tls', 'connectionName', 'keyPrefix']) {
    const value = options[name]
    if (value === undefined) continue
    try {
      structuredClone(value)
      out[name] = value
    } catch {
      // A TLS option holding a function, say: another thread cannot rebuild it.
    }
  }
  return out
}

interface IoredisClient {
  callBuffer(command: string, args: Arg[]): Promise<unknown>
  duplicate(options?: Record<string, unknown>): IoredisClient
  /** ioredis's `Cluster.duplicate(startupNodes, options)`. */
  duplicate(startupNodes: unknown[], options?: Record<string, unknown>): IoredisClient
  /** True for ioredis's `Cluster`. */
  readonly isCluster?: boolean
  /** A `Cluster`'s startup nodes. */
  readonly startupNodes?: unknown[]
  quit(): Promise<unknown>
  disconnect(): void
  on(event: string, listener: (...args: unknown[]) => void): unknown
  readonly options: Record<string, unknown>
  readonly status: string
}

class IoredisLink implements RedisLink {
  readonly cluster: boolean

  constructor(
    private readonly client: IoredisClient,
    readonly descriptor: LinkDescriptor | undefined,
    private readonly owned: boolean,
  ) {
    this.cluster = client.isCluster === true
    // An 'error' event with no listener would crash the process; threadstate
    // sees every error through the command that failed.
    client.on('error', () => {})
  }

  send(args: readonly Arg[]): Promise<unknown> {
    return this.client.callBuffer(String(args[0]), args.slice(1) as Arg[])
  }

  duplicate(options: { readonly commandTimeoutMs?: number } = {}): RedisLink {
    const settings = ioredisSettings(options.commandTimeoutMs)
    if (options.commandTimeoutMs === undefined) settings['commandTimeout'] = undefined
    if (this.cluster) return new IoredisLink(this.client.duplicate([], clusterSettings(settings)), this.descriptor, true)
    return new IoredisLink(this.client.duplicate(settings), this.descriptor, true)
  }

  async close(): Promise<void> {
    if (!this.owned) return
    try {
      await Promise.race([this.client.quit(), new Promise((resolve) => setTimeout(resolve, 200))])
    } catch {
      // Already closed.
    }
    this.client.disconnect()
  }

  onReady(listener: () => void): void {
    this.client.on('ready', listener)
  }
}

/** How to reach the server: a URL, ioredis options, or a client you made. */
export interface ConnectOptions {
  /** `redis://[user:password@]host:port[/db]` (default `redis://127.0.0.1:6379`). */
  readonly url?: string
  /**
   * A connected ioredis (`new Redis()`) or node-redis (`createClient()`, connected)
   * client. threadstate sends its commands through it and opens its other
   * connections (the bridge's, worker threads') with the same options; you
   * close it. Its own retry settings apply to the commands sent through it:
   * turn off ioredis's `autoResendUnfulfilledCommands` (threadstate
   * deduplicates its own retries, not the library's).
   */
  readonly client?: unknown
  /** Timeout of one command, in ms (default 2000, at most 2^31-1: a timer's limit): a stalled server is an error after this. */
  readonly commandTimeoutMs?: number
  /**
   * A Redis Cluster to connect to, by some of its nodes (`['127.0.0.1:7000', ...]`),
   * instead of `url`: threadstate opens ioredis `Cluster` clients. Every key
   * of an object shares one hash tag, so each object lives in one slot; the
   * objects of a domain spread over the cluster's nodes. (Or pass your own
   * connected ioredis `Cluster` as `client`.)
   */
  readonly cluster?: readonly ClusterNode[]
}

function isIoredis(client: unknown): client is IoredisClient {
  return typeof client === 'object' && client !== null && typeof (client as IoredisClient).callBuffer === 'function'
}

function isNodeRedis(client: unknown): boolean {
  return typeof client === 'object' && client !== null && typeof (client as { sendCommand?: unknown }).sendCommand === 'function' && !isIoredis(client)
}

/** Opens the command connection of a domain. */
export async function openLink(options: ConnectOptions): Promise<RedisLink> {
  const timeout = options.commandTimeoutMs ?? 2000
  if (options.client !== undefined) {
    if (isIoredis(options.client)) {
      const client = options.client
      if (client.isCluster === true) {
        // ioredis takes a port, 'host:port' or { host?, port } (host defaults to 127.0.0.1).
        const nodes = (client.startupNodes ?? []).map((node) => {
          try {
            if (typeof node === 'number') return clusterNode({ host: '127.0.0.1', port: node })
            if (typeof node === 'object' && node !== null) return clusterNode({ host: '127.0.0.1', ...(node as object) })
            return clusterNode(node)
          } catch {
            return undefined
          }
        })
        // Nodes threadstate cannot describe (a URL, say): workers cannot open their own connection.
        const described = nodes.length > 0 && nodes.every((node) => node !== undefined)
        const redisOptions = (client.options['redisOptions'] ?? {}) as Record<string, unknown>
        return new IoredisLink(client, described ? { library: 'ioredis', cluster: nodes as { host: string; port: number }[], options: cloneableOptions(redisOptions) } : undefined, false)
      }
      return new IoredisLink(client, { library: 'ioredis', options: cloneableOptions(client.options) }, false)
    }
    if (isNodeRedis(options.client)) {
      if ('masters' in (options.client as object)) {
        throw new OptionError("Expected a node-redis client of one server, got a node-redis cluster (createCluster), which threadstate does not drive: pass `cluster: ['host:port', ...]` or an ioredis `Cluster` as `client`")
      }
      const { nodeRedisLink } = await import('./client-node-redis.js')
      return nodeRedisLink(options.client, timeout)
    }
    throw new OptionError(`Expected \`client\` to be an ioredis or node-redis client, got ${describe(options.client)}`)
  }
  if (options.cluster !== undefined) {
    if (options.url !== undefined) throw new OptionError('Expected either `url` or `cluster`, got both')
    if (!Array.isArray(options.cluster) || options.cluster.length === 0) {
      throw new OptionError(`Expected \`cluster\` to be a non-empty array of 'host:port' or { host, port }, got ${describe(options.cluster)}`)
    }
    return linkFrom({ library: 'ioredis', cluster: options.cluster.map(clusterNode) }, timeout)
  }
  return linkFrom({ library: 'ioredis', url: options.url ?? 'redis://127.0.0.1:6379' }, timeout)
}

/** Opens a connection from a descriptor (another thread's, or a URL). */
export async function linkFrom(descriptor: LinkDescriptor, commandTimeoutMs: number): Promise<RedisLink> {
  if (descriptor.library === 'node-redis') {
    const { nodeRedisLinkFrom } = await import('./client-node-redis.js')
    return nodeRedisLinkFrom(descriptor, commandTimeoutMs)
  }
  let Redis: new (...args: unknown[]) => IoredisClient
  let Cluster: new (...args: unknown[]) => IoredisClient
  try {
    ;({ Redis, Cluster } = (await import('ioredis')) as unknown as { Redis: typeof Redis; Cluster: typeof Cluster })
  } catch {
    throw new OptionError('Expected the `ioredis` package to be installed (npm install ioredis), or a node-redis `client`: threadstate/redis needs a Redis client')
  }
  const settings = ioredisSettings(commandTimeoutMs)
  if (descriptor.cluster !== undefined) {
    return new IoredisLink(new Cluster(descriptor.cluster.map(clusterNode), clusterSettings(settings, descriptor.options)), descriptor, true)
  }
  const client = descriptor.url !== undefined ? new Redis(descriptor.url, { ...descriptor.options, ...settings }) : new Redis({ ...descriptor.options, ...settings })
  return new IoredisLink(client, descriptor, true)
}
