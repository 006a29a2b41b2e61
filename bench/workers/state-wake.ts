/**
 * Worker of the wake-up bench: how long after `update()` in one thread does
 * a thread waiting for that version run again? Blocked in `waitForVersion`,
 * awaiting `waitForVersionAsync`, or awaiting the next event of a
 * `subscribe()` iterator; each compared with the raw `Atomics.wait` /
 * `Atomics.waitAsync` + `notify` floor in the same run.
 *
 * Two workers, the notifier (index 0) and the waiter (index 1). Per sample s:
 *
 * ```
 *  notifier                                 waiter
 *  ARMED = s, notify  ───────────────────▶  wakes on ARMED; wanted = version + 1
 *                                           ENTERING = s; waitForVersion(wanted) / ...
 *  spin until ENTERING = s                  (StateBuffer: WAITERS += 1, then sleeps)
 *  StateBuffer: spin until WAITERS > 0
 *  busy-wait SETTLE_US (waiter now asleep)
 *  stamp = clock(); update()  ───────────▶  runs again: latency = clock() - stamp
 *    (floors: RAW = s, notify)              WOKEN = s, notify
 *  wait for WOKEN = s  ◀─────────────────
 * ```
 *
 * As in handoff.ts, the settle time orders nothing (every step is a
 * handshake): it makes sure the waiter is really asleep, not between
 * announcing itself and `Atomics.wait`. The clock is the crew's shared
 * clock. The stamp is taken before `update()`, so the latency includes the
 * update itself (~0.1 µs, negligible next to a wake-up).
 *
 * @module
 */
import { workerData } from 'node:worker_threads'
import { StateBuffer } from 'threadstate'
import { raise, serveRounds, sharedClock, spinUntil, waitUntil } from './crew.js'
import { WakeKind, WakeRole, WakeWord, type WakeData } from './kinds.js'
import { PAYLOAD, State25, fillPayload } from './payload.js'

/**
 * Where a StateBuffer keeps PUB (low 32 bits of the latest version) and
 * WAITERS (threads asleep on PUB): `StateWord` in src/state/layout.ts. The
 * package does not export them; {@link checkLayout} verifies PUB at
 * start-up and the notifier fails after 10 s if WAITERS never moves, so a
 * layout change fails this bench instead of measuring nonsense.
 */
const PUB_WORD = 4
const WAITERS_WORD = 5

const isStateBufferKind = (kind: number): boolean =>
  kind === WakeKind.WaitForVersion || kind === WakeKind.WaitForVersionAsync || kind === WakeKind.Subscribe

function checkLayout(buffer: StateBuffer<typeof State25>, words: Int32Array): void {
  const state = { a: new Array<number>(PAYLOAD).fill(0) }
  fillPayload(state.a, buffer.version + 1)
  const version = buffer.publish(state)
  const pub = Atomics.load(words, PUB_WORD)
  if (pub !== (version | 0)) throw new Error(`Expected StateBuffer PUB at Int32 word ${PUB_WORD} to be ${version}, got ${pub}`)
  const waiters = Atomics.load(words, WAITERS_WORD)
  if (waiters !== 0) throw new Error(`Expected StateBuffer WAITERS at Int32 word ${WAITERS_WORD} to be 0 with nobody waiting, got ${waiters}`)
}

function notifier(data: WakeData, buffer: StateBuffer<typeof State25>): (kind: number, count: number) => void {
  const control = new Int32Array(data.control)
  const stamps = new Float64Array(data.stamps)
  const words = new Int32Array(data.state.buffer, data.state.byteOffset, 16)
  const clock = sharedClock(data.clockBase)
  const state = { a: new Array<number>(PAYLOAD).fill(0) }
  checkLayout(buffer, words)

  function waitForSleeper(kind: number, s: number, settleMs: number): void {
    spinUntil(control, WakeWord.ENTERING, s)
    if (isStateBufferKind(kind)) {
      const deadline = performance.now() + 10_000
      while (Atomics.load(words, WAITERS_WORD) === 0) {
        if (performance.now() > deadline) throw new Error(`Expected the waiter to raise StateBuffer WAITERS (Int32 word ${WAITERS_WORD}) within 10 s`)
      }
    }
    const settled = performance.now() + settleMs
    while (performance.now() < settled) {
      // busy: see the header comment
    }
  }

  return (kind, count) => {
    const settleMs = Atomics.load(control, WakeWord.SETTLE_US) / 1000
    for (let s = 1; s <= count; s++) {
      raise(control, WakeWord.ARMED, s)
      waitForSleeper(kind, s, settleMs)
      if (isStateBufferKind(kind)) {
        fillPayload(state.a, buffer.version + 1)
        stamps[0] = clock()
        buffer.publish(state)
      } else {
        stamps[0] = clock()
        raise(control, WakeWord.RAW, s)
      }
      waitUntil(control, WakeWord.WOKEN, s)
    }
  }
}

function waiter(data: WakeData, buffer: StateBuffer<typeof State25>): (kind: number, count: number) => Promise<void> {
  const control = new Int32Array(data.control)
  const stamps = new Float64Array(data.stamps)
  const clock = sharedClock(data.clockBase)

  /** The floor of waitForVersionAsync: await waitAsync on RAW, holding a timer as the library does. */
  async function waitAsyncForRaw(s: number): Promise<void> {
    for (;;) {
      const current = Atomics.load(control, WakeWord.RAW)
      if (current === s) return
      const keepAlive = setTimeout(() => {}, 1000)
      const wait = Atomics.waitAsync(control, WakeWord.RAW, current)
      if (wait.async) await wait.value
      clearTimeout(keepAlive)
    }
  }

  function waitForRaw(s: number): void {
    for (;;) {
      const current = Atomics.load(control, WakeWord.RAW)
      if (current === s) return
      Atomics.wait(control, WakeWord.RAW, current)
    }
  }

  return async (kind, count) => {
    // One iterator per round, as a consumer would hold one; it starts listening on the first next().
    const events = kind === WakeKind.Subscribe ? buffer.subscribe() : undefined
    for (let s = 1; s <= count; s++) {
      waitUntil(control, WakeWord.ARMED, s)
      const wanted = buffer.version + 1
      Atomics.store(control, WakeWord.ENTERING, s)
      let t: number
      switch (kind) {
        case WakeKind.WaitFloor:
          waitForRaw(s)
          t = clock()
          break
        case WakeKind.WaitForVersion:
          if (!buffer.waitForVersion(wanted, 10_000)) throw new Error(`Expected version ${wanted} within 10 s`)
          t = clock()
          break
        case WakeKind.WaitAsyncFloor:
          await waitAsyncForRaw(s)
          t = clock()
          break
        case WakeKind.WaitForVersionAsync:
          if (!(await buffer.waitForVersionAsync(wanted, { timeoutMs: 10_000 }))) throw new Error(`Expected version ${wanted} within 10 s`)
          t = clock()
          break
        case WakeKind.Subscribe: {
          const event = await events!.next()
          t = clock()
          if (event.done || event.value.version !== wanted) {
            throw new Error(`Expected subscribe() to yield version ${wanted}, got ${event.done ? 'the end' : event.value.version}`)
          }
          break
        }
        default:
          throw new Error(`Expected a WakeKind, got ${kind}`)
      }
      stamps[s] = t - stamps[0]!
      raise(control, WakeWord.WOKEN, s)
    }
    await events?.return()
  }
}

async function main(data: WakeData): Promise<void> {
  const buffer = StateBuffer.attach(data.state, State25)
  const round = data.index === WakeRole.Notifier ? notifier(data, buffer) : waiter(data, buffer)
  await serveRounds(new Int32Array(data.control), round)
}

await main(workerData as WakeData)
