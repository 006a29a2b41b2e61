/**
 * Worker of the hand-off latency benches: how long after a holder releases a
 * lock does a thread that was *asleep* waiting for it hold it? That is the
 * latency a user feels when a lock is contended for longer than the spin
 * phase, and it is dominated by the runtime's wake-up path, so each variant is
 * compared with the raw `Atomics.wait`/`waitAsync` + `notify` floor.
 *
 * Two workers: the holder (index 0) and the waiter (index 1). Per sample s:
 *
 * ```
 *  holder                                  waiter
 *  take the lock (floors: RAW = 0)
 *  ARMED = s, notify  ─────────────────▶   wakes on ARMED
 *                                          ENTERING = s; lock() / lockAsync()
 *  spin until ENTERING = s                 (Mutex: spins, sets WAITERS, sleeps)
 *  Mutex: spin until WAITERS is set
 *  busy-wait SETTLE_US (waiter now asleep)
 *  stamp = clock(); release  ──────────▶   holds the lock: latency = clock() - stamp
 *                                          unlock; ACQUIRED = s, notify
 *  wait for ACQUIRED = s  ◀─────────────
 * ```
 *
 * The settle time is the one delay here and orders nothing: every step is a
 * handshake. It makes the waiter's sleep real (the WAITERS bit is set a few
 * instructions before `Atomics.wait`, and a release inside that window would
 * measure a non-sleeping hand-off), and it sets how long the waiter has slept,
 * which matters on a VM: a vCPU idle for a millisecond is slower to wake than
 * one idle for 30 µs, so main runs both. The clock is the shared one of
 * `crew.ts` (`performance.timeOrigin + performance.now()`).
 *
 * @module
 */
import { workerData } from 'node:worker_threads'
import { Mutex } from 'threadstate'
import { raise, serveRounds, sharedClock, spinUntil, waitUntil } from './crew.js'
import { HandoffKind, HandoffRole, HandoffWord, type HandoffData } from './kinds.js'
import { NaiveMutex } from './naive-mutex.js'

/**
 * Where Mutex keeps its lock word, and its WAITERS bit (`MutexWord.STATE` in
 * src/sync/robust-lock.ts, `WAITERS` in src/sync/robust-word.ts). The package
 * does not export them; {@link checkLockWord} verifies them at start-up, so a
 * layout change makes this bench fail loudly instead of measuring nonsense.
 */
const MUTEX_STATE_WORD = 4
const WAITERS_BIT = 1 << 30
const TID_MASK = 0xffff

function checkLockWord(mutex: Mutex, word: Int32Array): void {
  mutex.lock()
  const held = Atomics.load(word, MUTEX_STATE_WORD)
  const holder = mutex.holder
  mutex.unlock()
  const free = Atomics.load(word, MUTEX_STATE_WORD)
  if (holder === 0 || (held & TID_MASK) !== holder) {
    throw new Error(`Expected the Mutex lock word at Int32 index ${MUTEX_STATE_WORD} to hold the holder's tid ${holder}, got ${held}`)
  }
  if (free !== 0) throw new Error(`Expected the released Mutex lock word to be 0, got ${free}`)
}

function holder(data: HandoffData, mutex: Mutex, naive: NaiveMutex): (kind: number, count: number) => void {
  const control = new Int32Array(data.control)
  const stamps = new Float64Array(data.stamps)
  const word = new Int32Array(data.mutex.buffer, data.mutex.byteOffset, MUTEX_STATE_WORD + 1)
  const clock = sharedClock(data.clockBase)
  checkLockWord(mutex, word)

  function waitForSleeper(kind: number, s: number, settleMs: number): void {
    spinUntil(control, HandoffWord.ENTERING, s)
    if (kind === HandoffKind.Mutex || kind === HandoffKind.MutexAsync) {
      const deadline = performance.now() + 10_000
      while ((Atomics.load(word, MUTEX_STATE_WORD) & WAITERS_BIT) === 0) {
        if (performance.now() > deadline) throw new Error('Expected the waiter to set WAITERS on the Mutex within 10 s')
      }
    }
    const settled = performance.now() + settleMs
    while (performance.now() < settled) {
      // busy: see the header comment
    }
  }

  return (kind, count) => {
    const settleMs = Atomics.load(control, HandoffWord.SETTLE_US) / 1000
    for (let s = 1; s <= count; s++) {
      if (kind === HandoffKind.Mutex || kind === HandoffKind.MutexAsync) mutex.lock()
      else if (kind === HandoffKind.Naive) naive.lock()
      else Atomics.store(control, HandoffWord.RAW, 0)
      raise(control, HandoffWord.ARMED, s)
      waitForSleeper(kind, s, settleMs)
      stamps[0] = clock()
      if (kind === HandoffKind.Mutex || kind === HandoffKind.MutexAsync) mutex.unlock()
      else if (kind === HandoffKind.Naive) naive.unlock()
      else raise(control, HandoffWord.RAW, 1)
      waitUntil(control, HandoffWord.ACQUIRED, s)
    }
  }
}

function waiter(data: HandoffData, mutex: Mutex, naive: NaiveMutex): (kind: number, count: number) => Promise<void> {
  const control = new Int32Array(data.control)
  const stamps = new Float64Array(data.stamps)
  const clock = sharedClock(data.clockBase)

  /** The floor of lockAsync: await waitAsync on RAW, holding a timer as the library does. */
  async function waitAsyncForRaw(): Promise<void> {
    while (Atomics.load(control, HandoffWord.RAW) === 0) {
      const keepAlive = setTimeout(() => {}, 1000)
      const wait = Atomics.waitAsync(control, HandoffWord.RAW, 0)
      if (wait.async) await wait.value
      clearTimeout(keepAlive)
    }
  }

  return async (kind, count) => {
    for (let s = 1; s <= count; s++) {
      waitUntil(control, HandoffWord.ARMED, s)
      Atomics.store(control, HandoffWord.ENTERING, s)
      let t: number
      switch (kind) {
        case HandoffKind.WaitFloor:
          while (Atomics.load(control, HandoffWord.RAW) === 0) Atomics.wait(control, HandoffWord.RAW, 0)
          t = clock()
          break
        case HandoffKind.Naive:
          naive.lock()
          t = clock()
          naive.unlock()
          break
        case HandoffKind.Mutex:
          mutex.lock()
          t = clock()
          mutex.unlock()
          break
        case HandoffKind.WaitAsyncFloor:
          await waitAsyncForRaw()
          t = clock()
          break
        case HandoffKind.MutexAsync:
          await mutex.lockAsync()
          t = clock()
          mutex.unlock()
          break
        default:
          throw new Error(`Expected a HandoffKind, got ${kind}`)
      }
      stamps[s] = t - stamps[0]!
      raise(control, HandoffWord.ACQUIRED, s)
    }
  }
}

async function main(data: HandoffData): Promise<void> {
  const mutex = Mutex.attach(data.mutex)
  const naive = new NaiveMutex(data.naive)
  const round = data.index === HandoffRole.Holder ? holder(data, mutex, naive) : waiter(data, mutex, naive)
  await serveRounds(new Int32Array(data.control), round)
}

await main(workerData as HandoffData)
