/**
 * Each thread's own command connection, for writes from a thread other
 * than the domain's (a worker that attached a handle). One per thread,
 * server and command timeout (the objects of one domain share theirs),
 * opened at the first write and shared by every such object of the
 * thread. Chosen over forwarding writes to the domain's thread by message:
 * a write then costs one round trip to the server, not that plus two
 * thread hops, and does not stall when the domain's thread is busy
 * (bench/redis.ts measures both).
 *
 * @module
 */
import { linkFrom, type LinkDescriptor, type RedisLink } from './client.js'

const links = new Map<string, Promise<RedisLink>>()

/** This thread's connection for `descriptor` with `commandTimeoutMs`, opened on first use. */
export function threadLink(descriptor: LinkDescriptor, commandTimeoutMs: number): Promise<RedisLink> {
  // Keyed by the timeout too: the first handle attached must not set the command timeout of every
  // other object of the same server in this thread (handles of one domain share theirs: one connection).
  const key = JSON.stringify([descriptor, commandTimeoutMs])
  let link = links.get(key)
  if (link === undefined) {
    link = linkFrom(descriptor, commandTimeoutMs)
    links.set(key, link)
    link.catch(() => links.delete(key))
  }
  return link
}

/**
 * Closes the connections this thread opened for writes of attached Redis
 * objects. A worker that wrote through an attached object calls it before
 * it ends (an open connection keeps a thread's event loop alive). Writes
 * after it open a new connection.
 */
export async function closeThreadConnections(): Promise<void> {
  const all = [...links.values()]
  links.clear()
  await Promise.all(all.map(async (link) => (await link.catch(() => undefined))?.close()))
}
