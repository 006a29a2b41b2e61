/**
 * Worker side of `threadstate demo-locks`: attaches the locks whose handles came in
 * `workerData`, runs one task (see `Task` in protocol.ts) and posts a
 * `WorkerReport` back. Started by demo.ts with
 * `new Worker(new URL('./worker.js', import.meta.url))`.
 *
 * Workers may block (`lock()`, `Atomics.wait`); the main thread never does.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { DeadlockError, Mutex, ReentrantMutex, RWLock } from '../../index.js'
import {
  Flag,
  FsmState,
  Ledger,
  Stop,
  type CountReport,
  type EmergencyStopReport,
  type LockPairReport,
  type ReadReport,
  type Task,
  type TransferReport,
  type WorkerReport,
  type WriteReport,
} from './protocol.js'

/** Says "ready", then sleeps until the main thread raises GO (so all start together). */
function readyThenWaitForGo(flags: Int32Array): void {
  Atomics.add(flags, Flag.READY, 1)
  Atomics.notify(flags, Flag.READY)
  while (Atomics.load(flags, Flag.GO) === 0) Atomics.wait(flags, Flag.GO, 0)
}

function running(flags: Int32Array): boolean {
  return Atomics.load(flags, Flag.STOP) === 0
}

/**
 * Scene 1. The same loop with and without the mutex. `counter[0]++` is a
 * plain read followed by a plain write: two threads that read the same value
 * both write value + 1, and one increment is lost.
 */
function count(task: Extract<Task, { task: 'count' }>): CountReport {
  const { counter, flags } = task
  const mutex = task.mutex === undefined ? undefined : Mutex.attach(task.mutex)
  readyThenWaitForGo(flags)
  let increments = 0
  if (mutex) {
    while (running(flags)) {
      mutex.withLock(() => {
        counter[0]!++
      })
      increments++
    }
  } else {
    while (running(flags)) {
      counter[0]!++
      increments++
    }
  }
  return { increments }
}

/**
 * Scene 2, the seed-003 story: a command callback takes the state lock and,
 * still holding it, calls `triggerEmergencyStop()`, which takes it again.
 * With a plain lock that is a self-deadlock (the seed's robot froze);
 * ReentrantMutex nests, Mutex throws DeadlockError at once.
 */
function emergencyStop(task: Extract<Task, { task: 'emergencyStop' }>): EmergencyStopReport {
  const { state } = task
  const lock = task.lock.kind === 'Mutex' ? Mutex.attach(task.lock.handle) : ReentrantMutex.attach(task.lock.handle)
  let deepestNesting = 0

  function triggerEmergencyStop(): void {
    lock.withLock(() => {
      deepestNesting = lock instanceof ReentrantMutex ? lock.depth : 1
      if (state[Stop.EMERGENCY_ACTIVE] === 0) {
        state[Stop.EMERGENCY_ACTIVE] = 1
        state[Stop.FSM_STATE] = FsmState.E_STOP
      }
    })
  }

  function onShutdownCommand(): void {
    lock.withLock(() => {
      state[Stop.SHUTDOWN_TRIG] = 1
      triggerEmergencyStop() // called while holding the lock: the seed's bug
    })
  }

  const start = performance.now()
  try {
    onShutdownCommand()
    return { outcome: 'stopped', deepestNesting, ms: performance.now() - start }
  } catch (error) {
    const ms = performance.now() - start
    if (!(error instanceof DeadlockError)) throw error
    return { outcome: 'threw', error: error.name, message: error.message, ms, lockedAfter: lock.isLocked }
  }
}

/**
 * Scene 2, two threads: A then B here, B then A in the other worker. Both
 * hold their first lock before either asks for its second, so the waits form
 * a cycle; one of the two gets DeadlockError, its withLock releases its first
 * lock, and the other goes on.
 */
function lockPair(task: Extract<Task, { task: 'lockPair' }>): LockPairReport {
  const first = Mutex.attach(task.first)
  const second = Mutex.attach(task.second)
  const start = performance.now()
  try {
    first.withLock(() => {
      Atomics.add(task.flags, Flag.READY, 1)
      Atomics.notify(task.flags, Flag.READY)
      for (let ready = Atomics.load(task.flags, Flag.READY); ready < 2; ready = Atomics.load(task.flags, Flag.READY)) {
        Atomics.wait(task.flags, Flag.READY, ready)
      }
      second.withLock(() => {})
    })
    return { outcome: 'both', ms: performance.now() - start }
  } catch (error) {
    if (!(error instanceof DeadlockError)) throw error
    return { outcome: 'threw', error: error.name, message: error.message, ms: performance.now() - start }
  }
}

/** One transfer of 1 from the richer account to the poorer, with an undo log. */
function transferOne(ledger: Int32Array): void {
  ledger[Ledger.UNDO_A] = ledger[Ledger.A]!
  ledger[Ledger.UNDO_B] = ledger[Ledger.B]!
  ledger[Ledger.UNDO_VALID] = 1
  const [from, to] = ledger[Ledger.A]! >= ledger[Ledger.B]! ? [Ledger.A, Ledger.B] : [Ledger.B, Ledger.A]
  ledger[from]!--
  ledger[to]!++
  ledger[Ledger.UNDO_VALID] = 0
}

/**
 * Scene 3: takes the mutex, logs and starts a transfer of 10 (A is debited,
 * B not yet credited), tells the main thread, and parks there until the main
 * thread terminates it: a holder that dies mid-update.
 */
function dieHolding(task: Extract<Task, { task: 'dieHolding' }>): never {
  const { ledger, flags } = task
  const mutex = Mutex.attach(task.mutex)
  mutex.lock()
  ledger[Ledger.UNDO_A] = ledger[Ledger.A]!
  ledger[Ledger.UNDO_B] = ledger[Ledger.B]!
  ledger[Ledger.UNDO_VALID] = 1
  ledger[Ledger.A]! -= 10
  Atomics.store(flags, Flag.HOLDING, 1)
  Atomics.notify(flags, Flag.HOLDING)
  for (;;) Atomics.wait(flags, Flag.PARK, 0) // ... B += 10 never happens
}

/** Scene 3, after the repair: transfers under the mutex until STOP. */
function transfer(task: Extract<Task, { task: 'transfer' }>): TransferReport {
  const { ledger, flags } = task
  const mutex = Mutex.attach(task.mutex)
  readyThenWaitForGo(flags)
  let transfers = 0
  while (running(flags)) {
    // No `recover` option: an OwnerDiedError here would end the task with an error.
    mutex.withLock(() => transferOne(ledger))
    transfers++
  }
  return { transfers }
}

/**
 * Scene 4, a reader: copies the whole record under a read lock and checks
 * that every word holds the same version. INSIDE counts the readers inside
 * the read side, to show that they share it.
 */
function read(task: Extract<Task, { task: 'read' }>): ReadReport {
  const { record, flags } = task
  const rw = RWLock.attach(task.rw)
  const copy = new Int32Array(record.length)
  // Before the writer may start: every reader takes a read lock and waits
  // (at most 2 s) until all are inside at once. With an exclusive lock they
  // never could: the check cannot pass by luck or fail under load.
  let maxInside = rw.withRead(() => {
    let inside = Atomics.add(flags, Flag.INSIDE, 1) + 1
    const deadline = performance.now() + 2_000
    while (inside < task.readers && performance.now() < deadline) {
      Atomics.wait(flags, Flag.INSIDE, inside, 10)
      inside = Atomics.load(flags, Flag.INSIDE)
    }
    Atomics.notify(flags, Flag.INSIDE)
    // Stay until the others have had a moment to see the full count too.
    const linger = performance.now() + 20
    while (performance.now() < linger) Atomics.wait(flags, Flag.INSIDE, inside, 5)
    Atomics.sub(flags, Flag.INSIDE, 1)
    return inside
  })
  readyThenWaitForGo(flags)
  let reads = 0
  let torn = 0
  while (running(flags)) {
    const inside = rw.withRead(() => {
      const n = Atomics.add(flags, Flag.INSIDE, 1) + 1
      for (let i = 0; i < record.length; i++) copy[i] = record[i]!
      Atomics.sub(flags, Flag.INSIDE, 1)
      return n
    })
    if (inside > maxInside) maxInside = inside
    const version = copy[0]!
    for (let i = 1; i < copy.length; i++) {
      if (copy[i] !== version) {
        torn++
        break
      }
    }
    reads++
  }
  return { reads, torn, maxInside }
}

/**
 * Scene 4, the writer: writes a new version into every word of the record
 * under the write lock, then pauses (a paced producer, like a sensor).
 */
function write(task: Extract<Task, { task: 'write' }>): WriteReport {
  const { record, flags, pauseMs } = task
  const rw = RWLock.attach(task.rw)
  readyThenWaitForGo(flags)
  let updates = 0
  let readersInside = 0
  while (running(flags)) {
    rw.withWrite(() => {
      if (Atomics.load(flags, Flag.INSIDE) !== 0) readersInside++
      const version = record[0]! + 1
      for (let i = 0; i < record.length; i++) record[i] = version
    })
    updates++
    Atomics.wait(flags, Flag.STOP, 0, pauseMs) // pacing only; returns early on STOP
  }
  return { updates, readersInside }
}

function runTask(task: Task): unknown {
  switch (task.task) {
    case 'count':
      return count(task)
    case 'emergencyStop':
      return emergencyStop(task)
    case 'lockPair':
      return lockPair(task)
    case 'dieHolding':
      return dieHolding(task)
    case 'transfer':
      return transfer(task)
    case 'read':
      return read(task)
    case 'write':
      return write(task)
  }
}

let report: WorkerReport<unknown>
try {
  report = { ok: true, value: runTask(workerData as Task) }
} catch (error) {
  const { name, message } = error instanceof Error ? error : new Error(String(error))
  report = { ok: false, error: { name, message } }
}
parentPort?.postMessage(report)
