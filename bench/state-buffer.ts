/**
 * The StateBuffer benches (`npm run bench -- state-buffer`), each next to the
 * alternative a user would otherwise pick, measured in the same run. The
 * state is 25 doubles (`schema({ a: vec(25) })`, workers/payload.ts) with a
 * checksummed payload, so every cross-thread read can be verified.
 *
 * - `state-buffer/read`: on main, while a worker that owns the state
 *   publishes at 100 Hz: `readInto` (DESIGN: <= 30 ns) against a
 *   hand-written one-word seqlock read of the same 25 doubles; `readInto`
 *   with `maxAgeMs`, `read()`, `latest()` (<= 100 ns); the same state through
 *   a Mutex-protected copy and through a `postMessage` request/response to
 *   the owner (DESIGN: readInto >= 500x faster).
 * - `state-buffer/publish`: `publish` (<= 60 ns) with a caller-supplied
 *   timestamp and with the default one (a clock read), against a raw array
 *   copy + `Atomics.store`; the clock read and the writer Mutex as rows of
 *   their own, to show where the time goes.
 * - `state-buffer/readers`: a writer flat out and 1 then 2 reader workers:
 *   retries (<= 5 %), p99 read (<= 2 µs), torn reads (0), against the
 *   one-word seqlock under the same writer.
 * - `state-buffer/wake`: `update` -> a thread in `waitForVersion` (p50 <=
 *   10 µs), `waitForVersionAsync`, a `subscribe()` iterator, against raw
 *   `Atomics.wait`/`waitAsync` + `notify`.
 * - `state-buffer/bytes`: bytes per buffer beyond slots x payload (<= 2 KB).
 *
 * This file holds the profiles and the case list; the cases on main are in
 * state-buffer-micro.ts (read, update, bytes), those between workers in
 * state-buffer-threads.ts (readers, wake).
 *
 * @module
 */
import type { MicroProfile } from './micro.js'
import type { BenchCase, RunOptions, Suite } from './report.js'
import { bytes, reads, updates } from './state-buffer-micro.js'
import { readers, wake } from './state-buffer-threads.js'

/** How long each part runs; `--quick` picks the short profile. */
export interface StateProfile extends MicroProfile {
  /** Length of one flat-out readers round, ms. */
  readonly readersWindowMs: number
  /** Rounds per (kind, reader count); samples and counts are pooled. */
  readonly readersRuns: number
  /** Wake-up samples per variant. */
  readonly wakeSamples: number
  /** Wake-up samples per round (variants alternate between rounds). */
  readonly wakeRound: number
}

const FULL: StateProfile = {
  microTimeMs: 400,
  microWarmupMs: 200,
  microRounds: 2,
  readersWindowMs: 300,
  readersRuns: 4,
  wakeSamples: 1500,
  wakeRound: 250,
}

const QUICK: StateProfile = {
  microTimeMs: 100,
  microWarmupMs: 100,
  microRounds: 1,
  readersWindowMs: 150,
  readersRuns: 1,
  wakeSamples: 200,
  wakeRound: 100,
}

const profileOf = (options: RunOptions): StateProfile => (options.quick ? QUICK : FULL)

// ---- the suite --------------------------------------------------------------

/** The StateBuffer benches, selectable by case name. */
export const stateBufferSuite: Suite = {
  name: 'state-buffer',
  cases: [
    {
      name: 'state-buffer/read',
      description: 'readInto/read/latest on main, 100 Hz writer in a worker: vs hand-written seqlock, Mutex copy, postMessage',
      run: (options) => reads(profileOf(options)),
    },
    {
      name: 'state-buffer/publish',
      description: 'publish with and without a timestamp vs array copy + Atomics.store; clock and Mutex costs',
      run: (options) => updates(profileOf(options)),
    },
    {
      name: 'state-buffer/readers',
      description: 'flat-out writer, 1 and 2 reader workers: retries, p99 read, torn reads vs a one-word seqlock',
      run: (options) => readers(profileOf(options)),
    },
    {
      name: 'state-buffer/wake',
      description: 'publish -> waitForVersion / waitForVersionAsync / subscribe in another worker vs Atomics.wait/waitAsync',
      run: (options) => wake(profileOf(options)),
    },
    {
      name: 'state-buffer/bytes',
      description: 'bytes per buffer beyond slots × payload, history 16',
      run: bytes,
    },
  ] satisfies BenchCase[],
}
