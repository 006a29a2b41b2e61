/**
 * The `peers` suite (issue 14): threadstate against the published libraries
 * a user would pick instead, installed as devDependencies, in the same run.
 * Every peer row has the threadstate row doing the same work as its
 * baseline, so its ratio reads "peer ÷ threadstate": above 1 (latency) or
 * below 1 (throughput), threadstate is faster.
 *
 * - `peers/locks`: uncontended lock+unlock on one thread: Mutex, RWLock
 *   read/write and Semaphore against `multithreading`'s Mutex, RwLock and
 *   Semaphore (used as its README shows: a guard per acquisition, disposed
 *   to release).
 * - `peers/async`: an uncontended async acquire+release: `lockAsync` against
 *   multithreading's `await lock()` and `async-mutex` (a lock for one
 *   thread's async tasks only: the floor of any async form).
 * - `peers/contended`: critical sections per second, 2 and 4 workers on one
 *   lock (locks.ts's contended worker, checked by its unlocked counter):
 *   Mutex against multithreading's Mutex.
 * - `peers/rpc`: reading the latest 25-double state another thread owns (it
 *   publishes at 100 Hz): StateBuffer `readInto` against a `comlink` call to
 *   that thread, a raw `postMessage` request/response, and a `ringbuf.js`
 *   queue the owner pushes every state into, drained to the newest; every
 *   answer is checked (payload.ts).
 * - `peers/json`: a 2 KB JSON-like status shared between threads:
 *   SnapshotStore against multithreading's `SharedJsonBuffer` behind its
 *   Mutex (its README's pattern): read one field, change one field.
 *
 * `@esfx/threading` is not in the package index this project installs from
 * (not published under that name), so it has no row.
 *
 * The case module (peers-cases.ts) is imported when a case runs: the peer
 * libraries are devDependencies, so an installed `threadstate bench` without
 * them prints one skipped row per case instead of failing.
 *
 * @module
 */
import type { BenchCase, Row, RunOptions, Suite } from './report.js'

type Cases = typeof import('./peers-cases.js')

/** Runs `pick(cases)`, or one row saying why the case was skipped when the peer libraries cannot be loaded. */
function run(name: string, pick: (cases: Cases) => (options: RunOptions) => Promise<Row[]>): (options: RunOptions) => Promise<Row[]> {
  return async (options) => {
    let cases: Cases
    try {
      cases = await import('./peers-cases.js')
    } catch (error) {
      const why = `the peer libraries (multithreading, comlink, async-mutex: devDependencies) could not be loaded: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`
      return [{ name: `${name}: skipped`, measurement: { kind: 'value', value: 0, unit: 'count', what: `nothing measured: ${why}` }, note: `skipped: ${why}` }]
    }
    return pick(cases)(options)
  }
}

/** The peers suite, selectable by case name. */
export const peersSuite: Suite = {
  name: 'peers',
  cases: [
    {
      name: 'peers/locks',
      description: 'uncontended lock+unlock: Mutex, RWLock, Semaphore vs multithreading Mutex, RwLock, Semaphore',
      run: run('peers/locks', (c) => c.locks),
    },
    {
      name: 'peers/async',
      description: 'uncontended lockAsync+unlock vs multithreading await lock() and async-mutex (one thread)',
      run: run('peers/async', (c) => c.asyncLocks),
    },
    {
      name: 'peers/contended',
      description: 'critical sections per second, 2 and 4 workers: Mutex vs multithreading Mutex',
      run: run('peers/contended', (c) => c.contended),
    },
    {
      name: 'peers/rpc',
      description: "another thread's latest state: StateBuffer readInto vs comlink, postMessage request/response and a ringbuf.js queue",
      run: run('peers/rpc', (c) => c.rpc),
    },
    {
      name: 'peers/json',
      description: '2 KB JSON status: SnapshotStore get/modify vs multithreading SharedJsonBuffer behind its Mutex',
      run: run('peers/json', (c) => c.json),
    },
  ] satisfies BenchCase[],
}
