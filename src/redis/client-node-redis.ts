/**
 * The node-redis (`redis` package) side of the client adapter (client.ts).
 * node-redis fails the commands in flight when a connection drops and never
 * resends them, which is what threadstate needs (it retries a write itself,
 * with the same operation id). Bulk strings are asked for as Buffers.
 *
 * @module
 */
import { OptionError } from '../errors.js'
import type { Arg, LinkDescriptor, RedisLink } from './client.js'

/** `RESP_TYPES.BLOB_STRING` of node-redis: the type byte '$'. */
const BLOB_STRING = 36

interface NodeRedisClient {
  sendCommand(args: readonly (string | Buffer)[], options?: Record<string, unknown>): Promise<unknown>
  duplicate(overrides?: Record<string, unknown>): NodeRedisClient
  connect(): Promise<unknown>
  close?(): Promise<unknown>
  quit?(): Promise<unknown>
  destroy?(): void
  on(event: string, listener: (...args: unknown[]) => void): unknown
  readonly options?: Record<string, unknown>
  readonly isOpen: boolean
}

class NodeRedisLink implements RedisLink {
  /** node-redis's cluster client (`createCluster`) is not supported: use ioredis's `Cluster`. */
  readonly cluster = false
  private readonly commandOptions: Record<string, unknown>

  constructor(
    private readonly client: NodeRedisClient,
    readonly descriptor: LinkDescriptor | undefined,
    private readonly owned: boolean,
    commandTimeoutMs: number | undefined,
  ) {
    this.commandOptions = { typeMapping: { [BLOB_STRING]: Buffer }, ...(commandTimeoutMs === undefined ? {} : { timeout: commandTimeoutMs }) }
    client.on('error', () => {})
  }

  send(args: readonly Arg[]): Promise<unknown> {
    return this.client.sendCommand(
      args.map((a) => (typeof a === 'number' ? String(a) : a)),
      this.commandOptions,
    )
  }

  duplicate(options: { readonly commandTimeoutMs?: number } = {}): RedisLink {
    const copy = this.client.duplicate()
    void copy.connect().catch(() => {})
    return new NodeRedisLink(copy, this.descriptor, true, options.commandTimeoutMs)
  }

  async close(): Promise<void> {
    if (!this.owned) return
    try {
      if (this.client.destroy) this.client.destroy()
      else await this.client.quit?.()
    } catch {
      // Already closed.
    }
  }

  onReady(listener: () => void): void {
    this.client.on('ready', listener)
  }
}

/** The cloneable part of a node-redis client's options. */
function cloneable(options: Record<string, unknown> | undefined): LinkDescriptor {
  const out: Record<string, unknown> = {}
  for (const name of ['url', 'username', 'password', 'database', 'name']) {
    if (options?.[name] !== undefined) out[name] = options[name]
  }
  const socket = options?.['socket'] as Record<string, unknown> | undefined
  if (socket !== undefined) {
    const s: Record<string, unknown> = {}
    for (const name of ['host', 'port', 'path', 'tls', 'family']) if (socket[name] !== undefined && typeof socket[name] !== 'function') s[name] = socket[name]
    out['socket'] = s
  }
  return { library: 'node-redis', options: out }
}

/** Wraps a node-redis client the user made (and connected). */
export function nodeRedisLink(client: unknown, commandTimeoutMs: number): RedisLink {
  const c = client as NodeRedisClient
  return new NodeRedisLink(c, cloneable(c.options), false, commandTimeoutMs)
}

/** Opens a node-redis connection from a descriptor (another thread's). */
export async function nodeRedisLinkFrom(descriptor: LinkDescriptor, commandTimeoutMs: number): Promise<RedisLink> {
  let createClient: (options: Record<string, unknown>) => NodeRedisClient
  try {
    ;({ createClient } = (await import('redis')) as unknown as { createClient: typeof createClient })
  } catch {
    throw new OptionError('Expected the `redis` package to be installed (npm install redis): this connection was described as a node-redis one')
  }
  const options = { ...descriptor.options, ...(descriptor.url === undefined ? {} : { url: descriptor.url }) }
  const client = createClient(options)
  client.on('error', () => {})
  // node-redis's connect() keeps reconnecting and never settles while the
  // server cannot be reached: bound it, so a write retries with a new
  // connection until its own timeout (thread-links.ts drops a failed one;
  // a plain Error is a connection failure to withRetries, call.ts) and
  // closeThreadConnections() does not wait for ever.
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no connection to Redis (node-redis) within ${commandTimeoutMs} ms`)), commandTimeoutMs)
      }),
    ])
  } catch (error) {
    try {
      if (client.destroy) client.destroy()
      else await client.quit?.()
    } catch {
      // Not connected: nothing to close.
    }
    throw error
  } finally {
    clearTimeout(timer)
  }
  return new NodeRedisLink(client, descriptor, true, commandTimeoutMs)
}
