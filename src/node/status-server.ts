/**
 * An HTTP status endpoint (node:http): `GET /status` serves a snapshot as
 * JSON, `GET /metrics` the Prometheus text of {@link ThreadstateMetrics}.
 * Bound to 127.0.0.1 by default.
 *
 * @module
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OptionError, describe } from '../errors.js'
import type { ThreadstateMetrics } from './metrics.js'

/** Options of {@link serveStatus}. */
export interface StatusServerOptions {
  /** What `GET /status` serves: an object with `get()` (a SnapshotStore) or a function. */
  readonly status?:
    | {
        /** The value to serve. */
        get(): unknown
      }
    | (() => unknown)
  /** What `GET /metrics` serves. */
  readonly metrics?: ThreadstateMetrics
  /** Port; 0 picks a free one. @default 0 */
  readonly port?: number
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string
}

/** A running status server. */
export interface StatusServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** The port it listens on. */
  readonly port: number
  /** The node:http server. */
  readonly server: Server
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

/**
 * JSON of values JSON does not carry natively: a Map becomes an object (or
 * an array of pairs if a key is not a string), a Set an array, a BigInt a
 * string, a typed array an array.
 */
export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (v instanceof Map) return [...v.keys()].every((k) => typeof k === 'string') ? Object.fromEntries(v) : [...v]
      if (v instanceof Set) return [...v]
      if (typeof v === 'bigint') return v.toString()
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>)
      return v
    },
    space,
  )
}

/**
 * Starts the status server.
 * @example
 * ```ts
 * const server = await serveStatus({ status: store, metrics: new ThreadstateMetrics({ store, fsm }) })
 * console.log(`${server.url}/status`)
 * ```
 */
export async function serveStatus(options: StatusServerOptions): Promise<StatusServer> {
  const { status, metrics, port = 0, host = '127.0.0.1' } = options
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OptionError(`Expected \`port\` to be an integer from 0 to 65535, got ${describe(port)}`)
  const read = status === undefined ? undefined : typeof status === 'function' ? status : () => status.get()
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/status' && read) {
      let body: string
      try {
        body = toJson(read())
      } catch (error) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`status failed: ${(error as Error).message}\n`)
        return
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body)
      return
    }
    if (path === '/metrics' && metrics) {
      metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
      )
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try ${[read && '/status', metrics && '/metrics'].filter(Boolean).join(' or ')}\n`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actual = (server.address() as AddressInfo).port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    port: actual,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
