/**
 * An HTTP status endpoint (node:http): `GET /status` serves a snapshot as
 * JSON (encoded once per snapshot object: a SnapshotStore's `get()` returns
 * the same frozen object until a new version), `GET /metrics` the
 * Prometheus text of {@link ThreadstateMetrics}, and `GET /` a live
 * dashboard of every object (./dashboard/: a hand-written page, uPlot
 * charts served from the installed package, a Server-Sent Events feed read
 * and encoded once per tick for all pages; see dashboard/feed.ts for why
 * SSE). Bound to 127.0.0.1 by default; headers must arrive within 10 s, a
 * request within 15 s, and an idle connection is closed.
 *
 * @module
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OptionError, describe } from '../errors.js'
import { COMMON_HEADERS, DashboardAssets, DashboardPath } from './dashboard/assets.js'
import { DashboardFeed, type DashboardOptions } from './dashboard/feed.js'
import type { ThreadstateMetrics } from './metrics.js'

/** A client must send its request headers within this (ms). */
const HEADERS_TIMEOUT_MS = 10_000
/** ...and its whole request within this (ms). */
const REQUEST_TIMEOUT_MS = 15_000
/** An idle kept-alive connection is closed after this (ms). */
const KEEP_ALIVE_TIMEOUT_MS = 5_000
/** A socket with no traffic at all for this long is destroyed (ms). */
const SOCKET_IDLE_MS = 30_000

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
  /**
   * The live dashboard at `GET /`: its options, or `false` for none. Served
   * when given, or when `metrics` is (showing the metrics' objects).
   * @default served iff `metrics` is given
   * @example
   * ```ts
   * await serveStatus({ metrics, dashboard: { objects: registry, maxAgeMs: { pose: 50 } } })
   * ```
   */
  readonly dashboard?: DashboardOptions | false
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
  /** URL of the live dashboard, or undefined if none is served. */
  readonly dashboardUrl: string | undefined
  /** Pages connected to the dashboard's feed now (0 without a dashboard). */
  readonly dashboardClients: number
  /** Dashboard frames read and encoded so far: one per tick while pages are connected, however many. */
  readonly dashboardFrames: number
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
  const dashboard = options.dashboard ?? (metrics === undefined ? false : {})
  const feed = dashboard === false ? undefined : new DashboardFeed(dashboard, metrics && (() => metrics.objects()))
  const assets = dashboard === false ? undefined : new DashboardAssets(dashboard.title ?? 'threadstate', { status: read !== undefined, metrics: metrics !== undefined })
  let encodedValue: unknown
  let encoded: Buffer | undefined
  const server = createServer(
    {
      // Slow or idle clients cannot hold connections for Node's defaults.
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    },
    (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...COMMON_HEADERS, allow: 'GET, HEAD' }).end()
      return
    }
    if (assets?.handles(path)) {
      assets.serve(path, req, res)
      return
    }
    if (path === DashboardPath.FEED && feed) {
      feed.serve(req, res, COMMON_HEADERS)
      return
    }
    if (path === '/status' && read) {
      let body: Buffer
      try {
        const value = read()
        // A SnapshotStore hands out the same frozen object until a new
        // version: its JSON is encoded once per version, not per request
        // (a 6 MB snapshot and 20 concurrent requests stalled the event
        // loop ~435 ms when each request encoded it).
        if (value !== encodedValue || encoded === undefined) {
          encoded = Buffer.from(toJson(value))
          encodedValue = value
        }
        body = encoded
      } catch (error) {
        res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain' }).end(`status failed: ${(error as Error).message}\n`)
        return
      }
      res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': body.length }).end(req.method === 'HEAD' ? undefined : body)
      return
    }
    if (path === '/metrics' && metrics) {
      metrics.metrics().then(
        (text) => res.writeHead(200, { ...COMMON_HEADERS, 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (error: unknown) => res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
      )
      return
    }
    const known = [feed && '/', read && '/status', metrics && '/metrics'].filter(Boolean)
    res.writeHead(404, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : `not found; try ${known.join(' or ')}\n`)
    },
  )
  server.setTimeout(SOCKET_IDLE_MS, (socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const actual = (server.address() as AddressInfo).port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`
  return {
    url,
    port: actual,
    server,
    dashboardUrl: feed === undefined ? undefined : `${url}/`,
    get dashboardClients() {
      return feed?.clientCount ?? 0
    },
    get dashboardFrames() {
      return feed?.encodes ?? 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        feed?.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
