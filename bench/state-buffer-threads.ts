/**
 * The cross-thread StateBuffer benches (see state-buffer.ts for the suite):
 *
 * - `readers`: a writer publishing flat out in one worker, 1 then 2 reader
 *   workers reading flat out and verifying every read; the StateBuffer
 *   against the one-word seqlock under the same writer, rounds alternating.
 * - `wake`: `update` in one worker -> a waiter in another runs again,
 *   against the raw `Atomics.wait`/`waitAsync` + `notify` wake-up.
 *
 * Every step between threads is a crew handshake (workers/crew.ts); the only
 * delay is a readers round's measurement window.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises'
import { StateBuffer } from 'threadstate'
import { formatDuration, formatRate, type Row, type Target, pooledLatencyRows } from './report.js'
import type { StateProfile } from './state-buffer.js'
import { Crew } from './workers/crew.js'
import { READERS_WRITER, ReadersKind, ReadersResults, ReadersWord, WakeKind, WakeWord, bucketUpperNs } from './workers/kinds.js'
import { PAYLOAD, State25, fillPayload } from './workers/payload.js'
import { SeqlockWord } from './workers/seqlock.js'

const DESIGN = 'DESIGN.md performance targets'
const P99_TARGET: Target = { metric: 'p99', atMostMs: 2e-3, source: `${DESIGN}: readers with a full-speed writer, p99 read` }
const RETRIES_TARGET: Target = { metric: 'value', bound: 'atMost', limit: 5, source: `${DESIGN}: readers with a full-speed writer, retries` }
const TORN_TARGET: Target = { metric: 'value', bound: 'atMost', limit: 0, source: `${DESIGN}: no torn value ever reaches a caller` }
const DETECTOR_TARGET: Target = { metric: 'value', bound: 'atLeast', limit: 1, source: 'self-check: the torn-read check must be able to fail' }
const WAKE_TARGET: Target = { metric: 'median', atMostMs: 0.01, source: `${DESIGN}: update -> blocked reader awake, p50 <= 10 us` }

// ---- flat-out writer, 1 and 2 readers ----------------------------------------

const readersScript = new URL('./workers/state-readers.js', import.meta.url)
/** The writer and up to two readers. */
const CREW_SIZE = 3

/** What a (kind, reader count) pair accumulated over its rounds. */
class Tally {
  reads = 0
  retries = 0
  torn = 0
  backwards = 0
  writes = 0
  elapsedMs = 0
  maxNs = 0
  longestStreak = 0
  /** Retry percentage of each round: it swings widely from run to run (thread placement, neighbours). */
  readonly roundRetryPercents: number[] = []
  readonly histogram = new Float64Array(ReadersResults.BUCKETS)

  /** Median and p99 of the batch means, in ns: upper edges of their histogram buckets. */
  percentiles(): { median: number; p99: number; batches: number } {
    const batches = this.histogram.reduce((a, b) => a + b, 0)
    const at = (q: number): number => {
      let seen = 0
      for (let i = 0; i < this.histogram.length; i++) {
        seen += this.histogram[i]!
        if (seen >= q * batches) return bucketUpperNs(i)
      }
      return Infinity
    }
    return { median: at(0.5), p99: at(0.99), batches }
  }

  /** Failed copies as a percentage of copy attempts (reads + retries). */
  retryPercent(): number {
    return (100 * this.retries) / (this.reads + this.retries)
  }
}

async function readersRound(
  crew: Crew,
  buffer: StateBuffer<typeof State25>,
  results: SharedArrayBuffer,
  kind: number,
  readerCount: number,
  windowMs: number,
  into: Tally | undefined,
): Promise<void> {
  const all = new Float64Array(results)
  const before = buffer.stats()
  crew.start(kind, 0, () => {
    all.fill(0)
    Atomics.store(crew.control, ReadersWord.READERS, readerCount)
  })
  const t0 = performance.now()
  await delay(windowMs) // the measurement window, not a step ordering: workers stop on STOP
  crew.stop()
  const elapsed = performance.now() - t0
  await crew.finished()
  if (!into) return
  const after = buffer.stats()
  const block = (i: number): Float64Array => all.subarray(i * ReadersResults.BLOCK_WORDS, (i + 1) * ReadersResults.BLOCK_WORDS)
  let reads = 0
  let retries = 0
  for (let i = 1; i <= readerCount; i++) {
    const b = block(i)
    reads += b[ReadersResults.OPS]!
    retries += b[ReadersResults.RETRIES]!
    into.torn += b[ReadersResults.TORN]!
    into.backwards += b[ReadersResults.BACKWARDS]!
    into.maxNs = Math.max(into.maxNs, b[ReadersResults.MAX_NS]!)
    const h = b.subarray(ReadersResults.HISTOGRAM)
    for (let j = 0; j < into.histogram.length; j++) into.histogram[j]! += h[j]!
  }
  if (kind === ReadersKind.StateBuffer) {
    // The StateBuffer counts its readers' reads and retries itself (stats()).
    const counted = after.reads - before.reads
    if (counted !== reads) throw new Error(`Expected stats().reads to grow by the ${reads} reads the readers made, got ${counted}`)
    retries += after.readRetries - before.readRetries
    into.longestStreak = Math.max(into.longestStreak, after.longestRetryStreak)
  }
  into.reads += reads
  into.retries += retries
  into.roundRetryPercents.push((100 * retries) / (reads + retries))
  into.writes += block(READERS_WRITER)[ReadersResults.OPS]!
  into.elapsedMs += elapsed
}

function readerRows(readerCount: number, stateBuffer: Tally, seqlock: Tally): Row[] {
  const who = `flat-out writer + ${readerCount} reader${readerCount === 1 ? '' : 's'}`
  const names = {
    seqRead: `${who}: seqlock word read`,
    read: `${who}: readInto`,
    seqRetries: `${who}: seqlock word retries`,
    retries: `${who}: readInto retries`,
  }
  const sample = `mean of a ${ReadersResults.BATCH}-read batch, read + payload check`
  const latency = (t: Tally): Row['measurement'] => {
    const p = t.percentiles()
    return { kind: 'latency', medianMs: p.median / 1e6, p99Ms: p.p99 / 1e6, samples: p.batches, sample }
  }
  const rates = (t: Tally): string =>
    `${formatRate(t.reads / readerCount / (t.elapsedMs / 1000))} reads per reader, writer ${formatRate(t.writes / (t.elapsedMs / 1000))}`
  const slowest = (t: Tally): string => `slowest batch ${formatDuration(t.maxNs / 1e6)} per read`
  const retriesWhat = 'failed copies ÷ copy attempts (reads + failed copies), rounds pooled'
  const retryNote = (t: Tally): string => {
    const range = `${Math.min(...t.roundRetryPercents).toFixed(1)}-${Math.max(...t.roundRetryPercents).toFixed(1)} %`
    return `${t.retries} failed copies for ${t.reads} reads (${(t.retries / t.reads).toFixed(3)} per read); rounds ${range}`
  }
  return [
    {
      name: names.seqRead,
      measurement: latency(seqlock),
      note: `${rates(seqlock)}; ${slowest(seqlock)}; one sample = ${sample}`,
    },
    {
      name: names.read,
      measurement: latency(stateBuffer),
      baseline: names.seqRead,
      target: P99_TARGET,
      note: `${rates(stateBuffer)}; ${slowest(stateBuffer)}; one sample = ${sample}`,
    },
    {
      name: names.seqRetries,
      measurement: { kind: 'value', value: seqlock.retryPercent(), unit: '%', what: retriesWhat },
      note: `${retryNote(seqlock)}; torn ${seqlock.torn}, went backwards ${seqlock.backwards}`,
    },
    {
      name: names.retries,
      measurement: { kind: 'value', value: stateBuffer.retryPercent(), unit: '%', what: retriesWhat },
      baseline: names.seqRetries,
      target: RETRIES_TARGET,
      note: `${retryNote(stateBuffer)}; longest streak ${stateBuffer.longestStreak} (stats())`,
    },
    {
      name: `${who}: readInto torn reads`,
      measurement: { kind: 'value', value: stateBuffer.torn, unit: 'count', what: 'reads whose payload failed the checksum or did not match the version returned' },
      target: TORN_TARGET,
      note: `${stateBuffer.reads} reads verified; went backwards ${stateBuffer.backwards}`,
    },
  ]
}

/** Flat-out writer, 1 and 2 readers: StateBuffer vs the one-word seqlock, rounds alternating. */
export async function readers(p: StateProfile): Promise<Row[]> {
  const buffer = StateBuffer.create(State25, { history: 16 })
  const state = { a: new Array<number>(PAYLOAD).fill(0) }
  fillPayload(state.a, 1)
  buffer.publish(state) // readers always find a version
  const seqlock = new SeqlockWord()
  seqlock.writeVersion(1)
  const results = new SharedArrayBuffer(ReadersResults.bytes(CREW_SIZE))
  const crew = new Crew(readersScript, CREW_SIZE, { state: buffer.handle, seqlock: seqlock.buffer, results })
  const counts = [1, 2] as const
  const tallies = new Map(counts.map((n) => [n, { [ReadersKind.StateBuffer]: new Tally(), [ReadersKind.Seqlock]: new Tally() }]))
  const detector = new Tally()
  try {
    await crew.ready()
    for (const n of counts) {
      for (const kind of [ReadersKind.StateBuffer, ReadersKind.Seqlock]) await readersRound(crew, buffer, results, kind, n, p.readersWindowMs / 4, undefined)
    }
    for (let run = 0; run < p.readersRuns; run++) {
      for (const n of counts) {
        const order = run % 2 === 0 ? [ReadersKind.StateBuffer, ReadersKind.Seqlock] : [ReadersKind.Seqlock, ReadersKind.StateBuffer]
        for (const kind of order) await readersRound(crew, buffer, results, kind, n, p.readersWindowMs, tallies.get(n)![kind])
      }
    }
    await readersRound(crew, buffer, results, ReadersKind.Unchecked, 1, p.readersWindowMs / 2, detector)
    await crew.close()
  } catch (error) {
    await crew.terminate()
    throw error
  }
  const rows = counts.flatMap((n) => {
    const t = tallies.get(n)!
    return readerRows(n, t[ReadersKind.StateBuffer], t[ReadersKind.Seqlock])
  })
  rows.push({
    name: 'torn-read check: unvalidated copy, flat-out writer + 1 reader',
    measurement: { kind: 'value', value: detector.torn, unit: 'count', what: 'reads of the seqlock slot copied without any check that failed the payload check' },
    target: DETECTOR_TARGET,
    note: `${detector.torn} of ${detector.reads} unchecked copies torn (${((100 * detector.torn) / detector.reads).toFixed(1)} %): the check used above does catch torn copies`,
  })
  return rows
}

// ---- wake-up latency ---------------------------------------------------------

const wakeScript = new URL('./workers/state-wake.js', import.meta.url)

/** The waiter has just gone to sleep when the notifier publishes (see state-wake.ts). */
const SETTLE_US = 30

interface WakeVariant {
  readonly kind: number
  readonly name: string
  readonly baseline?: string
  readonly target?: Target
}

const K = {
  floor: 'wake: Atomics.wait+notify (floor)',
  asyncFloor: 'wake: Atomics.waitAsync+notify (floor)',
} as const

const WAKE_VARIANTS: readonly WakeVariant[] = [
  { kind: WakeKind.WaitFloor, name: K.floor },
  { kind: WakeKind.WaitForVersion, name: 'wake: update -> waitForVersion', baseline: K.floor, target: WAKE_TARGET },
  { kind: WakeKind.WaitAsyncFloor, name: K.asyncFloor },
  { kind: WakeKind.WaitForVersionAsync, name: 'wake: update -> waitForVersionAsync', baseline: K.asyncFloor },
  { kind: WakeKind.Subscribe, name: 'wake: update -> subscribe() iterator', baseline: K.asyncFloor },
]

/** update -> a waiting worker runs again, each variant against its raw floor; rounds alternate variants. */
export async function wake(p: StateProfile): Promise<Row[]> {
  const buffer = StateBuffer.create(State25, { history: 16 })
  const stamps = new SharedArrayBuffer(8 * (p.wakeRound + 1))
  const crew = new Crew(wakeScript, 2, { state: buffer.handle, stamps })
  const pooled = new Map<string, number[]>(WAKE_VARIANTS.map((v) => [v.name, []]))
  const round = (v: WakeVariant, count: number): Promise<void> =>
    crew.round(v.kind, count, () => {
      for (const word of [WakeWord.ARMED, WakeWord.ENTERING, WakeWord.WOKEN, WakeWord.RAW]) Atomics.store(crew.control, word, 0)
      Atomics.store(crew.control, WakeWord.SETTLE_US, SETTLE_US)
    })
  try {
    await crew.ready()
    for (const v of WAKE_VARIANTS) await round(v, 20) // warm-up, discarded
    for (let r = 0; WAKE_VARIANTS.some((v) => pooled.get(v.name)!.length < p.wakeSamples); r++) {
      for (const v of r % 2 === 0 ? WAKE_VARIANTS : [...WAKE_VARIANTS].reverse()) {
        const into = pooled.get(v.name)!
        const count = Math.min(p.wakeRound, p.wakeSamples - into.length)
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
  return pooledLatencyRows(WAKE_VARIANTS, pooled, 'one wake-up', `; waiter asleep ${SETTLE_US} µs before each update`)
}
