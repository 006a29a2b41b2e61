/**
 * The SnapshotStore benches (`npm run bench -- snapshot`), each next to the
 * alternative a user would otherwise pick, measured in the same run. The
 * snapshots are agent-runtime statuses (seed 004) of ~2 KB and ~64 KB of
 * JSON (workers/status.ts).
 *
 * - `snapshot/get`: `get()` of an unchanged snapshot (DESIGN: <= 20 ns)
 *   against a plain `Atomics.load` of an Int32Array word; `latest()` too.
 * - `snapshot/publish`: `publish()` on main against `JSON.stringify` of the
 *   same status (DESIGN: <= 0.5x), with msgpackr's `pack` alone as the
 *   breakdown.
 * - `snapshot/first-read`: the first `get()` of a new version in a reader
 *   worker (copy + decode + freeze) against `JSON.parse` of the same
 *   status's JSON in that worker, each timed right after a wake-up (DESIGN:
 *   <= 0.5x), with msgpackr's `unpack` alone as the breakdown; then the
 *   hot-loop counterpart on main (publish, then `get()` on a second attached
 *   instance, against `JSON.parse`).
 * - `snapshot/broadcast`: main publishes, until 3 reader workers asleep in
 *   `waitForVersion` have the status from `get()`, against main
 *   `postMessage`-ing the status to the same 3 workers.
 * - `snapshot/bytes`: encoded bytes against JSON bytes of each status.
 *
 * This file holds the profiles and the case list; the cases on main are in
 * snapshot-micro.ts (get, publish, bytes), those with reader workers in
 * snapshot-threads.ts (first-read, broadcast).
 *
 * @module
 */
import type { MicroProfile } from './micro.js'
import type { BenchCase, RunOptions, Suite } from './report.js'
import { encodedBytes, gets, publishes } from './snapshot-micro.js'
import { broadcast, firstReads } from './snapshot-threads.js'

/** How long each part runs; `--quick` picks the short profile. */
export interface SnapshotProfile extends MicroProfile {
  /** First-read samples per (operation, status size): get(), JSON.parse, unpack. */
  readonly firstReadSamples: number
  /** Broadcast samples per (variant, status size). */
  readonly broadcastSamples: number
  /** Samples per crew round (sizes and variants alternate between rounds). */
  readonly threadRound: number
}

const FULL: SnapshotProfile = {
  microTimeMs: 300,
  microWarmupMs: 100,
  microRounds: 2,
  firstReadSamples: 300,
  broadcastSamples: 400,
  threadRound: 50,
}

const QUICK: SnapshotProfile = {
  microTimeMs: 80,
  microWarmupMs: 40,
  microRounds: 1,
  firstReadSamples: 60,
  broadcastSamples: 40,
  threadRound: 20,
}

const profileOf = (options: RunOptions): SnapshotProfile => (options.quick ? QUICK : FULL)

/** The SnapshotStore benches, selectable by case name. */
export const snapshotSuite: Suite = {
  name: 'snapshot',
  cases: [
    {
      name: 'snapshot/get',
      description: 'get()/latest() of an unchanged snapshot vs Atomics.load of an Int32Array word',
      run: (options) => gets(profileOf(options)),
    },
    {
      name: 'snapshot/publish',
      description: 'publish() of a 2 KB and a 64 KB status vs JSON.stringify; msgpackr pack alone',
      run: (options) => publishes(profileOf(options)),
    },
    {
      name: 'snapshot/first-read',
      description: 'first get() of a new version in a reader worker vs JSON.parse there; unpack alone; the same hot on main',
      run: (options) => firstReads(profileOf(options)),
    },
    {
      name: 'snapshot/broadcast',
      description: 'publish -> 3 reader workers have it (waitForVersion + get) vs postMessage to the 3 workers',
      run: (options) => broadcast(profileOf(options)),
    },
    {
      name: 'snapshot/bytes',
      description: 'encoded bytes vs JSON bytes of the 2 KB and 64 KB statuses',
      run: encodedBytes,
    },
  ] satisfies BenchCase[],
}
