/**
 * The SharedMap benches (`npm run bench -- map`), each next to the
 * alternatives a user would otherwise pick, measured in the same run:
 *
 * - a **Mutex table**: a fixed open-addressing hash table in one
 *   SharedArrayBuffer, values encoded with msgpackr `pack`/`unpack`, one
 *   threadstate `Mutex` around every access (workers/map-table.ts);
 * - **postMessage**: an owner worker holds a plain `Map`, every operation is
 *   a request/response round trip to it (workers/map-rpc.ts, map-owner.ts).
 *
 * Values are numbers and ~50-byte objects (workers/map-values.ts).
 *
 * - `map/get`: get on main without a writer, then with a writer worker
 *   setting the pools' keys flat out into the map being timed (issue:
 *   <= 200 ns), against both alternatives; msgpackr unpack alone as the
 *   breakdown of an object get.
 * - `map/set`: set of a number and of an object, setMany of 10 keys in one
 *   call, against both alternatives.
 * - `map/build`: 1M keys by set() (from empty and pre-sized) and by setMany()
 *   in batches of 1000, against a plain Map.
 * - `map/bytes`: bytes per key at 1M keys (usedBytes, dataBytes) against the
 *   JS heap of a plain Map of the same entries.
 *
 * This file holds the profiles and the case list; the cases are in
 * map-micro.ts, the workers' plumbing on main in map-threads.ts.
 *
 * @module
 */
import { builds, bytes, gets, sets } from './map-micro.js'
import type { MicroProfile } from './micro.js'
import type { BenchCase, RunOptions, Suite } from './report.js'

/** How long each part runs; `--quick` picks the short profile. */
export interface MapProfile extends MicroProfile {
  /** Builds of 1M keys per variant (variants alternate between rounds). */
  readonly buildRounds: number
}

const FULL: MapProfile = {
  microTimeMs: 300,
  microWarmupMs: 100,
  microRounds: 2,
  buildRounds: 3,
}

const QUICK: MapProfile = {
  microTimeMs: 80,
  microWarmupMs: 40,
  microRounds: 1,
  buildRounds: 1,
}

const profileOf = (options: RunOptions): MapProfile => (options.quick ? QUICK : FULL)

/** The SharedMap benches, selectable by case name. */
export const mapSuite: Suite = {
  name: 'map',
  cases: [
    {
      name: 'map/get',
      description: 'get of a number / ~50 B object, without and with a flat-out writer worker: vs Mutex table, postMessage',
      run: (options) => gets(profileOf(options)),
    },
    {
      name: 'map/set',
      description: 'set of a number / ~50 B object, setMany of 10 keys: vs Mutex table, postMessage',
      run: (options) => sets(profileOf(options)),
    },
    {
      name: 'map/build',
      description: '1M keys by set() and by setMany() in batches of 1000 vs a plain Map',
      run: (options) => builds(profileOf(options)),
    },
    {
      name: 'map/bytes',
      description: 'bytes per key at 1M keys (usedBytes, dataBytes) vs the JS heap of a plain Map',
      run: bytes,
    },
  ] satisfies BenchCase[],
}
