/**
 * `threadstate demo-locks`: shows the lock family working across real worker
 * threads, in four short scenes, each ending in checks that could fail:
 *
 * 1. Mutex: lost updates on a plain shared counter without a lock, none with it.
 * 2. Re-locking (seed 003): ReentrantMutex nests; Mutex throws DeadlockError
 *    at once instead of hanging. Then two workers lock A->B and B->A: the
 *    cycle is detected and one of them gets DeadlockError.
 * 3. A worker dies holding a Mutex: superviseWorker marks it dead, the main
 *    thread's `lockAsync()` gets OwnerDiedError, repairs, and work goes on.
 * 4. RWLock: readers share, the writer excludes them; `stats()`.
 *
 * The main thread never blocks: it waits with `lockAsync`/`withLockAsync` and
 * `Atomics.waitAsync`. Steps between threads are ordered by Atomics
 * handshakes (protocol.ts, run.ts); timers only set how long a phase
 * runs.
 *
 * @module
 */
import { availableParallelism } from 'node:os'
import { Mutex, OwnerDiedError, ReentrantMutex, RWLock } from '../../index.js'
import { superviseWorker, type SupervisedExit } from '../../node/index.js'
import {
  Flag,
  FsmState,
  Ledger,
  RECORD_WORDS,
  Stop,
  type CountReport,
  type EmergencyStopReport,
  type LockPairReport,
  type ReadReport,
  type TransferReport,
  type WriteReport,
} from './protocol.js'
import {
  DemoRun,
  FAIL,
  OK,
  count,
  millis,
  newFlags,
  percent,
  runFor,
  seconds,
  sum,
  untilFlagOrFailure,
  within,
} from './run.js'

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /**
   * Rough total running time in milliseconds, shared out between the scenes.
   * @default 4000
   */
  readonly durationMs?: number
  /** Where output lines go. @default console.log */
  readonly print?: (line: string) => void
}

/** Default of {@link DemoOptions.durationMs}. */
export const DEFAULT_DURATION_MS = 4_000

const COUNTING_WORKERS = 4
const READERS = 3
/** Pause of the RWLock writer between updates (a paced producer). */
const WRITER_PAUSE_MS = 0.5

// ---- scene 1: Mutex against lost updates ------------------------------------

/** Increments made by the workers (their own tallies) and what the shared counter says. */
interface CountResult {
  readonly made: number
  readonly counted: number
}

async function countWith(run: DemoRun, mutex: Mutex | undefined, ms: number): Promise<CountResult> {
  const counter = new Float64Array(new SharedArrayBuffer(8))
  const flags = newFlags()
  const workers = Array.from({ length: COUNTING_WORKERS }, () =>
    run.spawn<CountReport>({ task: 'count', mutex: mutex?.handle, counter, flags }),
  )
  const reports = await runFor(run, workers, flags, ms)
  return { made: sum(reports.map((r) => r.increments)), counted: counter[0]! }
}

async function mutexScene(run: DemoRun): Promise<void> {
  const cores = availableParallelism()
  run.line(`1. Mutex: ${COUNTING_WORKERS} workers on ${cores} CPU cores increment a plain (non-atomic) shared counter`)
  const bare = await countWith(run, undefined, run.share(0.15))
  const lost = bare.made - bare.counted
  run.line(
    `no lock: ${count(bare.made)} increments made, counter = ${count(bare.counted)}  -> ` +
      (lost > 0 ? `${count(lost)} lost (${percent(lost, bare.made)})` : 'none lost this time (races are luck)'),
    5,
  )
  const mutex = Mutex.create()
  const locked = await countWith(run, mutex, run.share(0.3))
  run.check(
    locked.made > 0 && locked.counted === locked.made,
    `with a Mutex: ${count(locked.made)} increments made, counter = ${count(locked.counted)}  -> ` +
      (locked.counted === locked.made ? 'none lost' : `${count(locked.made - locked.counted)} lost`),
  )
  const stats = mutex.stats()
  run.check(
    stats.acquisitions === locked.made,
    `mutex.stats(): ${count(stats.acquisitions)} acquisitions (= increments), ` +
      `${percent(stats.contended, stats.acquisitions)} contended, longest wait ${millis(stats.waitMaxMs)}`,
  )
  if (COUNTING_WORKERS > cores) {
    run.line(`(${COUNTING_WORKERS} threads on ${cores} cores: the long waits include holders paused by the OS)`, 5)
  }
}

// ---- scene 2: re-locking (seed 003) -----------------------------------------

async function relockScene(run: DemoRun): Promise<void> {
  run.line('2. Re-locking a lock you hold (seed 003: the emergency stop that froze a robot)')
  run.line('onShutdownCommand() holds the state lock and calls triggerEmergencyStop(), which locks it again', 5)

  const reentrant = ReentrantMutex.create()
  const state = new Int32Array(new SharedArrayBuffer(Stop.WORDS * 4))
  state[Stop.FSM_STATE] = FsmState.READY
  const nested = await within(
    run.spawn<EmergencyStopReport>({
      task: 'emergencyStop',
      lock: { kind: 'ReentrantMutex', handle: reentrant.handle },
      state,
    }).result,
    run.stepTimeoutMs,
    'the ReentrantMutex worker to report',
  )
  const seen = await reentrant.withLockAsync(() => ({
    active: state[Stop.EMERGENCY_ACTIVE] === 1,
    eStop: state[Stop.FSM_STATE] === FsmState.E_STOP,
  }))
  run.check(
    nested.outcome === 'stopped' && nested.deepestNesting === 2 && seen.active && seen.eStop && !reentrant.isLocked,
    nested.outcome === 'stopped'
      ? `ReentrantMutex: nests (depth ${nested.deepestNesting}); the main thread sees the emergency stop ` +
          `${seen.active && seen.eStop ? 'active (E_STOP)' : 'NOT active'}`
      : `ReentrantMutex: ${nested.error}: ${nested.message}`,
  )

  const mutex = Mutex.create()
  const plain = await within(
    run.spawn<EmergencyStopReport>({
      task: 'emergencyStop',
      lock: { kind: 'Mutex', handle: mutex.handle },
      state,
    }).result,
    run.stepTimeoutMs,
    'the Mutex worker to report (a hang here is the seed-003 deadlock)',
  )
  if (plain.outcome === 'stopped') {
    run.check(false, 'Mutex: the nested lock() did not throw DeadlockError')
    return
  }
  run.check(
    plain.error === 'DeadlockError' && plain.ms < 1_000 && !plain.lockedAfter && !mutex.isLocked,
    `Mutex: ${plain.error} after ${millis(plain.ms)} instead of a hang; ` +
      `withLock() ${plain.lockedAfter ? 'did NOT release' : 'released'} the lock`,
  )
  run.line(`${plain.error}: ${plain.message}`, 7)

  run.line('Two workers take the same two mutexes in opposite orders (A then B, B then A) and meet in the middle', 5)
  const a = Mutex.create()
  const b = Mutex.create()
  const flags = newFlags()
  const pair = await within(
    Promise.all([
      run.spawn<LockPairReport>({ task: 'lockPair', first: a.handle, second: b.handle, flags }).result,
      run.spawn<LockPairReport>({ task: 'lockPair', first: b.handle, second: a.handle, flags }).result,
    ]),
    run.stepTimeoutMs,
    'the two workers to report (a hang here is an undetected deadlock)',
  )
  const victims = pair.filter((r) => r.outcome === 'threw')
  const victim = victims[0]
  run.check(
    victims.length === 1 && victim !== undefined && victim.error === 'DeadlockError' && !a.isLocked && !b.isLocked,
    victim === undefined
      ? 'the cycle was NOT reported'
      : `${victim.error} to one of them after ${millis(victim.ms)}; the other took both locks and finished`,
  )
  if (victim !== undefined) run.line(`${victim.error}: ${victim.message}`, 7)
}

// ---- scene 3: a holder that dies --------------------------------------------

async function ownerDiedScene(run: DemoRun): Promise<void> {
  run.line('3. A worker dies holding a Mutex (superviseWorker + OwnerDiedError + markConsistent)')
  const mutex = Mutex.create()
  const ledger = new Int32Array(new SharedArrayBuffer(Ledger.WORDS * 4))
  ledger[Ledger.A] = Ledger.TOTAL
  const flags = newFlags()

  const dying = run.spawn<never>({ task: 'dieHolding', mutex: mutex.handle, ledger, flags })
  const supervised = new Promise<SupervisedExit>((resolve) => superviseWorker(dying.worker, { onExit: resolve }))
  await untilFlagOrFailure(flags, Flag.HOLDING, 1, run.stepTimeoutMs, dying.result)
  run.line(
    'a worker takes the mutex, writes an undo log, moves 10 out of A and is terminated before ' +
      `crediting B: A = ${ledger[Ledger.A]}, B = ${ledger[Ledger.B]}`,
    5,
  )

  // The main thread starts waiting for the lock *before* the holder dies. It
  // waits with lockAsync: superviseWorker runs on this event loop, so a
  // blocking lock() here would never see the death.
  const waiting = mutex.lockAsync({ timeoutMs: run.stepTimeoutMs }).then(
    (acquired) => ({ acquired, error: undefined }),
    (error: unknown) => ({ acquired: false, error }),
  )
  const killedAt = performance.now()
  await dying.worker.terminate()
  const exit = await within(supervised, run.stepTimeoutMs, 'superviseWorker to report the exit')
  const outcome = await waiting
  const after = performance.now() - killedAt
  const error = outcome.error
  if (!(error instanceof OwnerDiedError)) {
    if (outcome.acquired) mutex.unlock()
    const got = outcome.acquired ? 'the lock' : String(error)
    run.check(false, `Expected lockAsync() to throw OwnerDiedError, got ${got}`)
    return
  }
  run.check(
    error.holding && mutex.isHeldByCurrentThread && mutex.isPoisoned && exit.markedDead.includes(error.deadOwner),
    `the main thread, waiting in lockAsync(), gets OwnerDiedError ${millis(after)} after the kill ` +
      `and holds the lock (superviseWorker marked thread ${error.deadOwner} dead)`,
  )

  const before = `A = ${ledger[Ledger.A]}, B = ${ledger[Ledger.B]}`
  if (ledger[Ledger.UNDO_VALID] === 1) {
    ledger[Ledger.A] = ledger[Ledger.UNDO_A]!
    ledger[Ledger.B] = ledger[Ledger.UNDO_B]!
    ledger[Ledger.UNDO_VALID] = 0
  }
  mutex.markConsistent()
  mutex.unlock()
  run.check(
    ledger[Ledger.A]! + ledger[Ledger.B]! === Ledger.TOTAL && !mutex.isPoisoned && !mutex.isLocked,
    `it repairs from the undo log (${before} -> A = ${ledger[Ledger.A]}, B = ${ledger[Ledger.B]}), ` +
      'markConsistent(), unlock()',
  )

  const transferFlags = newFlags()
  const workers = [0, 1].map(() =>
    run.spawn<TransferReport>({ task: 'transfer', mutex: mutex.handle, ledger, flags: transferFlags }),
  )
  const reports = await runFor(run, workers, transferFlags, run.share(0.1))
  const transfers = sum(reports.map((r) => r.transfers))
  const total = ledger[Ledger.A]! + ledger[Ledger.B]!
  run.check(
    transfers > 0 && total === Ledger.TOTAL && mutex.stats().ownerDied === 1,
    `work goes on: 2 workers made ${count(transfers)} transfers, A + B = ${total}, no further OwnerDiedError`,
  )
}

// ---- scene 4: RWLock --------------------------------------------------------

async function rwlockScene(run: DemoRun): Promise<void> {
  run.line(
    `4. RWLock: ${READERS} readers, 1 writer, one ${RECORD_WORDS}-word record ` +
      '(each write sets every word to a new version)',
  )
  const rw = RWLock.create()
  const record = new Int32Array(new SharedArrayBuffer(RECORD_WORDS * 4))
  const flags = newFlags()
  const readers = Array.from({ length: READERS }, () =>
    run.spawn<ReadReport>({ task: 'read', rw: rw.handle, record, flags, readers: READERS }),
  )
  const writer = run.spawn<WriteReport>({ task: 'write', rw: rw.handle, record, flags, pauseMs: WRITER_PAUSE_MS })
  const reports = await runFor<ReadReport | WriteReport>(run, [...readers, writer], flags, run.share(0.3))
  const reads = reports.slice(0, READERS) as ReadReport[]
  const written = reports[READERS] as WriteReport
  const version = await rw.withReadAsync(() => record[0]!)

  const readCount = sum(reads.map((r) => r.reads))
  const torn = sum(reads.map((r) => r.torn))
  run.check(readCount > 0 && torn === 0, `readers: ${count(readCount)} reads, ${count(torn)} torn`)
  const maxInside = Math.max(...reads.map((r) => r.maxInside))
  if (availableParallelism() >= 2) {
    run.check(maxInside >= 2, `readers share the lock: up to ${maxInside} inside at once`)
  } else {
    run.line(`readers inside at once: up to ${maxInside} (one CPU core: no parallel reads to see)`, 5)
  }
  run.check(
    written.updates > 0 && written.readersInside === 0 && version === written.updates,
    `writer: ${count(written.updates)} updates, ${count(written.readersInside)} with a reader inside; ` +
      `the record holds version ${count(version)}`,
  )
  const stats = rw.stats()
  run.line(
    `rw.stats(): ${percent(stats.readsContended, stats.reads)} of reads waited for the writer ` +
      `(longest ${millis(stats.readWaitMaxMs)}), ${percent(stats.write.contended, stats.write.acquisitions)} ` +
      `of writes waited for readers to leave (longest ${millis(stats.write.waitMaxMs)})`,
    5,
  )
}

// ---- entry point ------------------------------------------------------------

const SCENES: readonly ((run: DemoRun) => Promise<void>)[] = [mutexScene, relockScene, ownerDiedScene, rwlockScene]

/**
 * Runs the demo and returns the process exit code: 0 if every check passed,
 * 1 otherwise.
 */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const durationMs = options.durationMs ?? DEFAULT_DURATION_MS
  const print = options.print ?? ((line: string) => console.log(line))
  const run = new DemoRun(durationMs, print)
  const start = performance.now()
  run.line(
    `threadstate demo-locks: locks shared by real worker threads ` +
      `(Node ${process.versions.node}, ${availableParallelism()} CPU cores, about ${seconds(durationMs)})`,
  )
  for (const scene of SCENES) {
    run.line()
    try {
      await scene(run)
    } catch (error) {
      run.check(false, `the scene failed: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      await run.cleanUp()
    }
  }
  const took = seconds(performance.now() - start)
  run.line()
  run.line(
    run.failures === 0
      ? `${OK} All ${run.checks} checks passed in ${took}.`
      : `${FAIL} ${run.failures} of ${run.checks} checks failed (marked ${FAIL} above), in ${took}.`,
  )
  return run.failures === 0 ? 0 : 1
}
