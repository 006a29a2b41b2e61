/**
 * The `postMessage` alternative of the map benches: one thread owns a plain
 * `Map` and every other thread asks it, one request/response round trip per
 * operation (structured clone both ways). This is what users do without
 * shared memory. Used by main and the writer worker (clients) and the owner
 * worker (map-owner.ts, the server).
 *
 * One request is in flight per client at a time (each caller awaits its
 * reply), so replies need no ids.
 *
 * @module
 */
import type { MessagePort } from 'node:worker_threads'

/** A request to the owner. */
export type MapRequest =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: unknown }
  | { readonly op: 'update'; readonly entries: readonly (readonly [string, unknown])[] }

/** A request carrying the port the writer worker talks to the owner over (main -> owner, main -> writer). */
export interface PortMessage {
  readonly op: 'port'
  readonly port: MessagePort
}

/** What a client posts to and hears from: a `Worker` (main's side) or a `MessagePort`. */
export interface Endpoint {
  postMessage(message: unknown): void
  on(event: 'message', listener: (message: unknown) => void): unknown
}

/** Client side: sends requests one at a time and resolves each with its reply. */
export class RpcClient {
  private pending: ((reply: unknown) => void) | undefined

  constructor(private readonly endpoint: Endpoint) {
    endpoint.on('message', (reply) => {
      const resolve = this.pending
      if (!resolve) throw new Error('Expected a reply only to a pending request, got one with none pending')
      this.pending = undefined
      resolve(reply)
    })
  }

  /** Posts `request` and resolves with the owner's reply (the value for `get`, the map size otherwise). */
  request(request: MapRequest): Promise<unknown> {
    if (this.pending) throw new Error('Expected one request in flight per client, got a second one')
    return new Promise((resolve) => {
      this.pending = resolve
      this.endpoint.postMessage(request)
    })
  }
}

/** Server side: answers `request` against `map`. */
export function answer(map: Map<string, unknown>, request: MapRequest): unknown {
  switch (request.op) {
    case 'get':
      return map.get(request.key)
    case 'set':
      map.set(request.key, request.value)
      return map.size
    case 'update':
      for (const [key, value] of request.entries) map.set(key, value)
      return map.size
  }
}
