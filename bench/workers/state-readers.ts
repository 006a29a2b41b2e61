/**
 * Worker of the flat-out writer bench: one writer publishing as fast as it
 * can (worker 0) and one or two readers reading as fast as they can (workers
 * 1 and 2), on a 2-core machine: with two readers there are more busy threads
 * than cores, so threads are preempted mid-copy, the case a seqlock handles
 * worst.
 *
 * Every version carries the checksummed payload of payload.ts and readers
 * verify every read (whole payload, and a[0] equal to the version the read
 * returned), so a torn read is counted, not assumed away. Readers time
 * batches of {@link ReadersResults.BATCH} reads (one read costs about what a
 * `performance.now()` does) and record each batch's mean in a histogram; the
 * verification is inside the timed batch, for subject and baseline alike.
 *
 * Rounds (crew.ts): main sets KIND and READERS, starts the round, lets it run
 * for its window and sets STOP; the writer and readers poll STOP between
 * batches. Readers beyond READERS sit the round out.
 *
 * @module
 */
import { workerData } from 'node:worker_threads'
import { StateBuffer } from 'threadstate'
import { Ctl, serveRounds } from './crew.js'
import { READERS_WRITER, ReadersKind, ReadersResults, ReadersWord, bucketOf, type ReadersData } from './kinds.js'
import { PAYLOAD, State25, fillPayload, isWhole } from './payload.js'
import { SeqlockWord } from './seqlock.js'

/** Writes between two loads of STOP. */
const WRITE_BATCH = 16

function writer(data: ReadersData): (kind: number) => void {
  const control = new Int32Array(data.control)
  const results = new Float64Array(data.results, data.index * ReadersResults.BLOCK_WORDS * 8, ReadersResults.BLOCK_WORDS)
  const buffer = StateBuffer.attach(data.state, State25)
  const seqlock = new SeqlockWord(data.seqlock)
  const state = { a: new Array<number>(PAYLOAD).fill(0) }

  function writeStateBuffer(): number {
    let version = buffer.version
    let n = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < WRITE_BATCH; k++) {
        fillPayload(state.a, ++version)
        if (buffer.publish(state) !== version) throw new Error(`Expected publish() to publish version ${version}, got another`)
      }
      n += WRITE_BATCH
    }
    return n
  }

  function writeSeqlock(): number {
    let version = seqlock.version
    let n = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      for (let k = 0; k < WRITE_BATCH; k++) seqlock.writeVersion(++version)
      n += WRITE_BATCH
    }
    return n
  }

  return (kind) => {
    results[ReadersResults.OPS] = kind === ReadersKind.StateBuffer ? writeStateBuffer() : writeSeqlock()
  }
}

function reader(data: ReadersData): (kind: number) => void {
  const control = new Int32Array(data.control)
  const results = new Float64Array(data.results, data.index * ReadersResults.BLOCK_WORDS * 8, ReadersResults.BLOCK_WORDS)
  const histogram = results.subarray(ReadersResults.HISTOGRAM)
  const buffer = StateBuffer.attach(data.state, State25)
  const stateReader = buffer.reader()
  const seqlock = new SeqlockWord(data.seqlock)
  const target = new Float64Array(PAYLOAD)
  const BATCH = ReadersResults.BATCH

  /** Records one timed batch. */
  function record(elapsedMs: number): void {
    const ns = (elapsedMs * 1e6) / BATCH
    histogram[bucketOf(ns)]!++
    if (ns > results[ReadersResults.MAX_NS]!) results[ReadersResults.MAX_NS] = ns
  }

  // readStateBuffer and readSeqlock are written out twice on purpose: one
  // shared loop taking the reader as a parameter would make the timed call
  // site polymorphic and add nanoseconds to both rows.
  function readStateBuffer(): void {
    let reads = 0
    let torn = 0
    let backwards = 0
    let last = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      const t0 = performance.now()
      for (let k = 0; k < BATCH; k++) {
        const version = stateReader.readInto(target)
        if (target[0] !== version || !isWhole(target)) torn++
        if (version < last) backwards++
        last = version
      }
      record(performance.now() - t0)
      reads += BATCH
    }
    results[ReadersResults.OPS] = reads
    results[ReadersResults.TORN] = torn
    results[ReadersResults.BACKWARDS] = backwards
  }

  function readSeqlock(): void {
    let reads = 0
    let torn = 0
    let backwards = 0
    let last = 0
    seqlock.retries = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      const t0 = performance.now()
      for (let k = 0; k < BATCH; k++) {
        const version = seqlock.readInto(target)
        if (target[0] !== version || !isWhole(target)) torn++
        if (version < last) backwards++
        last = version
      }
      record(performance.now() - t0)
      reads += BATCH
    }
    results[ReadersResults.OPS] = reads
    results[ReadersResults.RETRIES] = seqlock.retries
    results[ReadersResults.TORN] = torn
    results[ReadersResults.BACKWARDS] = backwards
  }

  function readUnchecked(): void {
    let reads = 0
    let torn = 0
    while (Atomics.load(control, Ctl.STOP) === 0) {
      const t0 = performance.now()
      for (let k = 0; k < BATCH; k++) {
        seqlock.copyUnchecked(target)
        if (!isWhole(target)) torn++
      }
      record(performance.now() - t0)
      reads += BATCH
    }
    results[ReadersResults.OPS] = reads
    results[ReadersResults.TORN] = torn
  }

  return (kind) => {
    if (data.index > Atomics.load(control, ReadersWord.READERS)) return // not reading this round
    if (kind === ReadersKind.StateBuffer) readStateBuffer()
    else if (kind === ReadersKind.Seqlock) readSeqlock()
    else if (kind === ReadersKind.Unchecked) readUnchecked()
    else throw new Error(`Expected a ReadersKind, got ${kind}`)
  }
}

async function main(data: ReadersData): Promise<void> {
  const round = data.index === READERS_WRITER ? writer(data) : reader(data)
  await serveRounds(new Int32Array(data.control), round)
}

await main(workerData as ReadersData)
