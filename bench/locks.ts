/**
 * The lock benches (`npm run bench -- locks`). Each case measures a lock of
 * the sync layer next to the alternative a user would otherwise write, in the
 * same run, so that the ratio holds on a noisy 2-core machine:
 *
 * - `locks/uncontended`: lock+unlock on one thread (tinybench, medians of
 *   1000-op batch means). Mutex against the naive always-notify mutex and
 *   the raw CAS+CAS floor; the other kinds against Mutex. DESIGN target:
 *   Mutex <= 25 ns.
 * - `locks/contended`: critical sections per second with 2 and 4 workers
 *   hammering one Mutex, against the naive mutex; a `{ fair: true }` Mutex
 *   against the default one (the price of FIFO order: no barging, so every
 *   hand-off is a wake-up), with each run's smallest per-thread share.
 * - `locks/handoff`: release -> a thread asleep in `lock()` holds the lock,
 *   p50/p99, against the raw `Atomics.wait` + `notify` wake-up.
 * - `locks/async`: uncontended `lockAsync`+unlock round trip against an
 *   awaited async no-op, and hand-off to a `lockAsync` waiter against the raw
 *   `Atomics.waitAsync` wake-up.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises'
import { Mutex, ReentrantMutex, RWLock, Semaphore } from 'threadstate'
import { formatRate, summarize, type BenchCase, type Row, type RunOptions, type Suite, type Target, pooledLatencyRows } from './report.js'
import { measureMicro, perOp, type MicroProfile, type MicroTask } from './micro.js'
import { Crew } from './workers/crew.js'
import { ContendKind, ContendResults, HandoffKind, HandoffWord } from './workers/kinds.js'
import { NaiveMutex } from './workers/naive-mutex.js'

/** How long each part runs; `--quick` picks the short profile. */
interface Profile extends MicroProfile {
  /** Length of one contended run, ms. */
  readonly contendWindowMs: number
  /**
   * Runs per lock kind and thread count (median reported). Contended
   * throughput is bimodal run to run (does a sleeping waiter get in, or does
   * the running thread keep re-taking the lock?), so many short runs beat a
   * few long ones.
   */
  readonly contendRuns: number
  /** Hand-off samples per variant. */
  readonly handoffSamples: number
  /** Hand-off samples per round (variants alternate between rounds). */
  readonly handoffRound: number
}

const FULL: Profile = {
  microTimeMs: 400,
  microWarmupMs: 200,
  microRounds: 2,
  contendWindowMs: 400,
  contendRuns: 7,
  handoffSamples: 2000,
  handoffRound: 250,
}

const QUICK: Profile = {
  microTimeMs: 100,
  microWarmupMs: 200,
  microRounds: 1,
  contendWindowMs: 200,
  contendRuns: 2,
  handoffSamples: 300,
  handoffRound: 100,
}

const profileOf = (options: RunOptions): Profile => (options.quick ? QUICK : FULL)

const MUTEX_TARGET: Target = { metric: 'median', atMostMs: 25e-6, source: 'DESIGN.md: Mutex lock+unlock, uncontended' }
const WAKE_TARGET: Target = { metric: 'median', atMostMs: 0.01, source: 'DESIGN.md: blocked waiter awake, p50 <= 10 us' }

// ---- single-thread micro-benchmarks ------------------------------------------

/** Operations per tinybench sample: one op (~20 ns) is far below the timer's resolution. */
const BATCH = 1000
/** Async ops per sample (each costs a few hundred ns). */
const ASYNC_BATCH = 200

const U = {
  floor: 'uncontended: CAS+CAS (floor)',
  naive: 'uncontended: naive mutex',
  mutex: 'uncontended: Mutex',
} as const

function uncontendedTasks(): MicroTask[] {
  const raw = new Int32Array(new SharedArrayBuffer(4))
  const naive = new NaiveMutex()
  const mutex = Mutex.create()
  const fairMutex = Mutex.create({ fair: true })
  const reentrant = ReentrantMutex.create()
  const rw = RWLock.create()
  const rwFewSlots = RWLock.create({ readerSlots: 4 })
  const semaphore = Semaphore.create({ permits: 1 })
  return [
    {
      name: U.floor,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          Atomics.compareExchange(raw, 0, 0, 1)
          Atomics.compareExchange(raw, 0, 1, 0)
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: U.naive,
      baseline: U.floor,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          naive.lock()
          naive.unlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: U.mutex,
      baseline: U.naive,
      target: MUTEX_TARGET,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          mutex.lock()
          mutex.unlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'uncontended: fair Mutex',
      baseline: U.mutex,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          fairMutex.lock()
          fairMutex.unlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'uncontended: ReentrantMutex',
      baseline: U.mutex,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          reentrant.lock()
          reentrant.unlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'uncontended: RWLock read',
      baseline: U.mutex,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          rw.readLock()
          rw.readUnlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'uncontended: RWLock write (64 slots)',
      baseline: U.mutex,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          rw.writeLock()
          rw.writeUnlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'uncontended: RWLock write (4 slots)',
      baseline: U.mutex,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          rwFewSlots.writeLock()
          rwFewSlots.writeUnlock()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
    {
      name: 'uncontended: Semaphore(1)',
      baseline: U.mutex,
      batch: BATCH,
      fn: () => {
        const t0 = performance.now()
        for (let k = 0; k < BATCH; k++) {
          semaphore.acquire()
          semaphore.release()
        }
        return perOp(performance.now() - t0, BATCH)
      },
    },
  ]
}

const A = {
  floor: 'lockAsync: await async no-op (floor)',
  handoffFloor: 'lockAsync hand-off: waitAsync+notify (floor)',
} as const

function lockAsyncTasks(): MicroTask[] {
  const mutex = Mutex.create()
  const noop = async (): Promise<boolean> => true
  return [
    {
      name: A.floor,
      batch: ASYNC_BATCH,
      fn: async () => {
        const t0 = performance.now()
        for (let k = 0; k < ASYNC_BATCH; k++) await noop()
        return perOp(performance.now() - t0, ASYNC_BATCH)
      },
    },
    {
      name: 'lockAsync: Mutex.lockAsync+unlock',
      baseline: A.floor,
      batch: ASYNC_BATCH,
      fn: async () => {
        const t0 = performance.now()
        for (let k = 0; k < ASYNC_BATCH; k++) {
          await mutex.lockAsync()
          mutex.unlock()
        }
        return perOp(performance.now() - t0, ASYNC_BATCH)
      },
    },
  ]
}

// ---- contended throughput ---------------------------------------------------

/** The contended-throughput worker (also used by the `peers` suite). */
export const contendScript = new URL('./workers/contend.js', import.meta.url)

/** One timed round: returns critical sections per second and each worker's share. */
export async function contendRound(
  crew: Crew,
  kind: number,
  windowMs: number,
  results: SharedArrayBuffer,
  threads: number,
): Promise<{ rate: number; shares: number[] }> {
  const counter = new Int32Array(results, ContendResults.COUNTER_WORD * 4, 1)
  const counts = new Float64Array(results, ContendResults.COUNTS_BYTE, threads)
  crew.start(kind, 0, () => {
    counter[0] = 0
    counts.fill(0)
  })
  const t0 = performance.now()
  await delay(windowMs) // the measurement window, not a step ordering: workers stop on STOP
  crew.stop()
  const elapsed = performance.now() - t0
  await crew.finished()
  const total = counts.reduce((a, b) => a + b, 0)
  // Mutual exclusion check: a plain ++ under the lock loses updates if two threads hold it.
  if (counter[0] !== total) throw new Error(`Expected the protected counter to equal ${total} critical sections, got ${counter[0]}: the lock let two threads in`)
  return { rate: total / (elapsed / 1000), shares: [...counts].map((c) => c / total) }
}

async function contended(options: RunOptions): Promise<Row[]> {
  const p = profileOf(options)
  const rows: Row[] = []
  for (const threads of [2, 4]) {
    const mutex = Mutex.create()
    const fairMutex = Mutex.create({ fair: true })
    const naive = new NaiveMutex()
    const results = new SharedArrayBuffer(ContendResults.bytes(threads))
    const crew = new Crew(contendScript, threads, { mutex: mutex.handle, fairMutex: fairMutex.handle, naive: naive.buffer, results })
    const kinds = [ContendKind.Mutex, ContendKind.Naive, ContendKind.FairMutex]
    const rates: Record<number, number[]> = Object.fromEntries(kinds.map((k) => [k, []]))
    const minShare: Record<number, number> = Object.fromEntries(kinds.map((k) => [k, 1]))
    try {
      await crew.ready()
      for (const kind of kinds) await contendRound(crew, kind, p.contendWindowMs / 4, results, threads)
      const before = mutex.stats()
      for (let run = 0; run < p.contendRuns; run++) {
        const order = run % 2 === 0 ? kinds : [...kinds].reverse()
        for (const kind of order) {
          const r = await contendRound(crew, kind, p.contendWindowMs, results, threads)
          rates[kind]!.push(r.rate)
          minShare[kind] = Math.min(minShare[kind]!, ...r.shares)
        }
      }
      const after = mutex.stats()
      await crew.close()
      const contendedPct = (100 * (after.contended - before.contended)) / (after.acquisitions - before.acquisitions)
      const naiveName = `contended: naive mutex, ${threads} threads`
      const share = (kind: number): string => `smallest per-thread share ${pct(minShare[kind]!)} (fair: ${pct(1 / threads)})`
      const mutexName = `contended: Mutex, ${threads} threads`
      rows.push(throughputRow(naiveName, rates[ContendKind.Naive]!, undefined, share(ContendKind.Naive)))
      rows.push(
        throughputRow(
          mutexName,
          rates[ContendKind.Mutex]!,
          naiveName,
          `${share(ContendKind.Mutex)}; ${contendedPct.toFixed(1)} % of acquisitions spun or slept`,
        ),
      )
      rows.push(throughputRow(`contended: fair Mutex, ${threads} threads`, rates[ContendKind.FairMutex]!, mutexName, share(ContendKind.FairMutex)))
    } catch (error) {
      await crew.terminate()
      throw error
    }
  }
  return rows
}

const pct = (fraction: number): string => `${(100 * fraction).toFixed(1)} %`

/** A throughput row from per-run rates: the median, with the range and `note`. */
export function throughputRow(name: string, rates: readonly number[], baseline: string | undefined, note: string): Row {
  const s = summarize(rates)
  return {
    name,
    measurement: { kind: 'throughput', opsPerSec: s.median, minOpsPerSec: s.min, maxOpsPerSec: s.max, runs: s.count },
    ...(baseline === undefined ? {} : { baseline }),
    note: `${s.count} runs from ${formatRate(s.min)} to ${formatRate(s.max)}; ${note}`,
  }
}

// ---- hand-off latency -------------------------------------------------------

const handoffScript = new URL('./workers/handoff.js', import.meta.url)

/** The waiter has just gone to sleep: the holder releases this long after it saw the waiter's WAITERS bit. */
const JUST_ASLEEP_US = 30
/** The waiter has slept a while, as one waiting behind a long critical section does. */
const LONG_ASLEEP_US = 1000

interface HandoffVariant {
  readonly kind: number
  readonly name: string
  /** How long the holder keeps the lock once the waiter is going to sleep, µs. */
  readonly settleUs: number
  readonly baseline?: string
  readonly target?: Target
}

/**
 * Runs hand-off rounds for `variants` with one holder/waiter crew,
 * alternating variants round by round, and returns one latency row each.
 * Variants whose waiter sleeps long get a quarter of the samples.
 */
async function measureHandoff(variants: readonly HandoffVariant[], p: Profile): Promise<Row[]> {
  const mutex = Mutex.create()
  const naive = new NaiveMutex()
  const stamps = new SharedArrayBuffer(8 * (p.handoffRound + 1))
  const crew = new Crew(handoffScript, 2, { mutex: mutex.handle, naive: naive.buffer, stamps })
  const pooled = new Map<string, number[]>(variants.map((v) => [v.name, []]))
  const wanted = (v: HandoffVariant): number => (v.settleUs >= LONG_ASLEEP_US ? Math.ceil(p.handoffSamples / 4) : p.handoffSamples)
  const round = (v: HandoffVariant, count: number): Promise<void> =>
    crew.round(v.kind, count, () => {
      for (const word of [HandoffWord.ARMED, HandoffWord.ENTERING, HandoffWord.ACQUIRED]) Atomics.store(crew.control, word, 0)
      Atomics.store(crew.control, HandoffWord.SETTLE_US, v.settleUs)
    })
  try {
    await crew.ready()
    for (const v of variants) await round(v, 20) // warm-up, discarded
    for (let r = 0; variants.some((v) => pooled.get(v.name)!.length < wanted(v)); r++) {
      for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
        const into = pooled.get(v.name)!
        const count = Math.min(p.handoffRound, wanted(v) - into.length)
        if (count <= 0) continue
        await round(v, count)
        for (const latency of new Float64Array(stamps, 8, count)) into.push(latency)
      }
    }
    await crew.close()
  } catch (error) {
    await crew.terminate()
    throw error
  }
  return pooledLatencyRows(variants, pooled, 'one hand-off')
}

const H = {
  floor: 'handoff: wait+notify (floor)',
  longFloor: 'handoff, asleep 1 ms: wait+notify (floor)',
} as const

function handoff(options: RunOptions): Promise<Row[]> {
  return measureHandoff(
    [
      { kind: HandoffKind.WaitFloor, name: H.floor, settleUs: JUST_ASLEEP_US },
      { kind: HandoffKind.Naive, name: 'handoff: naive mutex', settleUs: JUST_ASLEEP_US, baseline: H.floor },
      { kind: HandoffKind.Mutex, name: 'handoff: Mutex.lock()', settleUs: JUST_ASLEEP_US, baseline: H.floor, target: WAKE_TARGET },
      { kind: HandoffKind.WaitFloor, name: H.longFloor, settleUs: LONG_ASLEEP_US },
      { kind: HandoffKind.Mutex, name: 'handoff, asleep 1 ms: Mutex.lock()', settleUs: LONG_ASLEEP_US, baseline: H.longFloor },
    ],
    profileOf(options),
  )
}

async function lockAsync(options: RunOptions): Promise<Row[]> {
  const p = profileOf(options)
  const micro = await measureMicro(lockAsyncTasks(), p)
  const handoffs = await measureHandoff(
    [
      { kind: HandoffKind.WaitAsyncFloor, name: A.handoffFloor, settleUs: JUST_ASLEEP_US },
      { kind: HandoffKind.MutexAsync, name: 'lockAsync hand-off: Mutex.lockAsync()', settleUs: JUST_ASLEEP_US, baseline: A.handoffFloor },
    ],
    p,
  )
  return [...micro, ...handoffs]
}

// ---- the suite --------------------------------------------------------------

/** The lock benches, selectable by case name. */
export const locksSuite: Suite = {
  name: 'locks',
  cases: [
    {
      name: 'locks/uncontended',
      description: 'lock+unlock on one thread: Mutex vs naive mutex vs CAS+CAS; other lock kinds vs Mutex',
      run: (options) => measureMicro(uncontendedTasks(), profileOf(options)),
    },
    {
      name: 'locks/contended',
      description: 'critical sections per second, 2 and 4 worker threads on one lock: Mutex vs naive mutex',
      run: contended,
    },
    {
      name: 'locks/handoff',
      description: 'release -> sleeping waiter holds the lock: Mutex and naive mutex vs Atomics.wait+notify',
      run: handoff,
    },
    {
      name: 'locks/async',
      description: 'lockAsync round trip vs an awaited no-op; hand-off to a lockAsync waiter vs Atomics.waitAsync',
      run: lockAsync,
    },
  ] satisfies BenchCase[],
}
