/**
 * This thread's writes awaiting their reply, so that the bridge can keep out
 * of their way.
 *
 * Every commit appends to its object's stream, and this process's bridge is
 * blocked in `XREAD` on that stream: the server answers the bridge and the
 * writer in the same turn. Measured here (2 cores, Redis 7.0, a map set
 * p50), when the bridge handles its reply first, its work (parsing,
 * version checks, the re-sent `XREAD`) lands before the write's reply is
 * read: ~145 µs per write against ~100 µs when the bridge waits, with a
 * bare `EVALSHA` of `return 1` at ~50 µs. The write applies its own commit
 * to the mirror anyway (read-your-writes), so the bridge loses nothing by
 * waiting until this thread has no write in flight, or at most
 * {@link BRIDGE_DEFER_MS} when writes never stop (its entries for other
 * processes' commits are then that much later).
 *
 * @module
 */

/** The longest the bridge waits for this thread's writes to finish (ms). */
export const BRIDGE_DEFER_MS = 2

let writes = 0
let waiting: (() => void)[] = []

function wakeAll(): void {
  if (writes !== 0 || waiting.length === 0) return
  const woken = waiting
  waiting = []
  for (const wake of woken) wake()
}

/** A write of this thread was sent. */
export function writeStarted(): void {
  writes++
}

/** A write of this thread got its answer (or gave up). */
export function writeEnded(): void {
  // The writer's continuation (applying its commit, resolving the caller)
  // runs in this turn's microtasks: wake the bridge after them, not before.
  if (--writes === 0 && waiting.length > 0) setImmediate(wakeAll)
}

/**
 * Resolves when this thread has no write in flight (after their
 * continuations ran), or after {@link BRIDGE_DEFER_MS}; `undefined` when
 * there is none now (no wait at all).
 */
export function writesSettled(): Promise<void> | undefined {
  if (writes === 0) return undefined
  return new Promise((resolve) => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(finish, BRIDGE_DEFER_MS)
    waiting.push(finish)
  })
}
