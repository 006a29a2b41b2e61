/**
 * A TCP fault-injection proxy for the Redis-backed tests: clients connect to it instead of the
 * server, and a test can cut a connection at a chosen point, in particular after a write reached
 * the server and before its reply reaches the client (the case where a client cannot know whether
 * its command ran). Byte-level, protocol-agnostic apart from the marker search.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'

/** A running proxy started by {@link startFaultProxy}. */
export interface FaultProxy {
  /** Its TCP port on 127.0.0.1. */
  readonly port: number
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  /**
   * The next time a client->server chunk containing `marker` (e.g. 'EVALSHA' or a unique op id;
   * byte search, also across the boundary with that connection's previous chunk; a string marker
   * matches ASCII letters in either case, since ioredis sends command names in lower case
   * (`incr`, `evalsha`) and node-redis as written; a Uint8Array marker matches exactly) passes, forward
   * it to the server, then destroy that client connection and its server connection BEFORE any
   * reply bytes of it reach the client: from the moment the chunk is forwarded, server->client
   * bytes of that connection are dropped, and later client->server bytes are not forwarded. To be
   * sure the server executed the command, the cut waits until reply bytes for that connection
   * arrive at the proxy (then drops them) or 200 ms, whichever first. Resolves when that cut
   * happened; rejects if the proxy is closed first.
   */
  cutAfterRequest(marker: string | Uint8Array): Promise<void>
  /** Destroys every proxied connection now (client and server side). */
  cutAll(): void
  /** Connections currently open. */
  readonly connections: number
  /** Destroys every connection and stops listening; rejects pending {@link FaultProxy.cutAfterRequest}s. */
  close(): Promise<void>
}

/** How long a cut waits for the server's reply before cutting anyway. */
const REPLY_WAIT_MS = 200

/** A client connection and its connection to the server. */
interface Link {
  readonly client: Socket
  readonly upstream: Socket
  /** The last bytes sent to the server, so a marker split across two chunks is found. */
  tail: Buffer
  /** Set once a marked chunk passed: nothing more is forwarded either way. */
  cutting: boolean
  /** Called on the first server bytes after the marked chunk. */
  onReply?: () => void
}

interface PendingCut {
  readonly marker: Buffer
  /** Whether ASCII letters match in either case (string markers). */
  readonly anyCase: boolean
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/** `bytes` with ASCII upper-case letters lowered (a copy); other bytes unchanged. */
function asciiLower(bytes: Uint8Array): Buffer {
  const out = Buffer.from(bytes)
  for (let i = 0; i < out.length; i++) if (out[i]! >= 0x41 && out[i]! <= 0x5a) out[i] = out[i]! | 0x20
  return out
}

/** Writes `chunk` to `to`, pausing `from` until `to` drains if its buffer is full. */
function forward(from: Socket, to: Socket, chunk: Buffer): void {
  if (!to.write(chunk)) {
    from.pause()
    to.once('drain', () => from.resume())
  }
}

/**
 * Starts a proxy on a free 127.0.0.1 port that forwards each connection to `target`
 * (host defaults to 127.0.0.1).
 */
export async function startFaultProxy(target: { host?: string; port: number }): Promise<FaultProxy> {
  const host = target.host ?? '127.0.0.1'
  const links = new Set<Link>()
  const pending: PendingCut[] = []
  let closed = false

  const destroy = (link: Link) => {
    link.client.destroy()
    link.upstream.destroy()
  }

  const cut = (link: Link, chunk: Buffer, request: PendingCut) => {
    link.cutting = true
    const replied = new Promise<void>((resolve) => {
      link.onReply = resolve
      link.upstream.once('close', () => resolve())
    })
    link.upstream.write(chunk)
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, REPLY_WAIT_MS)
    })
    void Promise.race([replied, waited]).then(() => {
      clearTimeout(timer)
      destroy(link)
      request.resolve()
    })
  }

  const server = createServer((client) => {
    const upstream = connect({ host, port: target.port })
    const link: Link = { client, upstream, tail: Buffer.alloc(0), cutting: false }
    links.add(link)
    let open = 2
    const closedOne = () => {
      destroy(link)
      if (--open === 0) links.delete(link)
    }
    client.on('close', closedOne)
    upstream.on('close', closedOne)
    client.on('error', () => destroy(link))
    upstream.on('error', () => destroy(link))
    client.setNoDelay(true)
    upstream.setNoDelay(true)

    client.on('data', (chunk: Buffer) => {
      if (link.cutting) return
      if (pending.length > 0) {
        const searched = link.tail.length > 0 ? Buffer.concat([link.tail, chunk]) : chunk
        let lowered: Buffer | undefined
        const index = pending.findIndex((request) =>
          request.anyCase ? (lowered ??= asciiLower(searched)).includes(request.marker) : searched.includes(request.marker),
        )
        const keep = Math.max(0, ...pending.map((request) => request.marker.length - 1))
        link.tail = Buffer.from(searched.subarray(Math.max(0, searched.length - keep)))
        if (index >= 0) {
          const [request] = pending.splice(index, 1)
          cut(link, chunk, request!)
          return
        }
      }
      forward(client, upstream, chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (link.cutting) {
        link.onReply?.()
        return
      }
      forward(upstream, client, chunk)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  const cutAll = () => {
    for (const link of links) destroy(link)
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cutAfterRequest(marker) {
      if (closed) return Promise.reject(new Error('the fault proxy is closed'))
      const anyCase = typeof marker === 'string'
      const bytes = anyCase ? asciiLower(Buffer.from(marker, 'utf8')) : Buffer.from(marker)
      if (bytes.length === 0) return Promise.reject(new Error('cutAfterRequest needs a non-empty marker'))
      return new Promise<void>((resolve, reject) => pending.push({ marker: bytes, anyCase, resolve, reject }))
    },
    cutAll,
    get connections() {
      return links.size
    },
    close() {
      if (!closed) {
        closed = true
        for (const request of pending.splice(0)) request.reject(new Error('the fault proxy was closed before the marker passed'))
      }
      cutAll()
      return new Promise<void>((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
      })
    },
  }
}
