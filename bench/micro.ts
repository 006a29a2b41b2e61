/**
 * Single-thread micro-benchmarks shared by the suites: tinybench tasks whose
 * samples are the mean of a batch of operations, run in alternating rounds so
 * that drift hits subjects and baselines alike.
 *
 * Why batches: one operation (a lock+unlock, a state read) takes tens of
 * nanoseconds, below what `performance.now()` resolves and below its own cost
 * (~40 ns here). Each task times a batch inside its own function and reports
 * the mean per operation. The loops are written out per task so each call
 * site stays monomorphic; a shared `for (...) op()` helper would add a
 * megamorphic call.
 *
 * @module
 */
import { Bench, type FnReturnedObject } from 'tinybench'
import { summarize, type Row, type Target } from './report.js'

/** How long micro-benchmarks run. */
export interface MicroProfile {
  /** tinybench time budget per task and round, ms. */
  readonly microTimeMs: number
  readonly microWarmupMs: number
  /** Rounds of the whole task list, alternating order; samples are pooled. */
  readonly microRounds: number
}

/** A sample of `ops` operations that took `elapsedMs`: records the mean per op, budgets the whole batch. */
export function perOp(elapsedMs: number, ops: number): FnReturnedObject {
  return { overriddenDuration: elapsedMs / ops, overriddenIterationCost: elapsedMs }
}

/** One micro-benchmark task. */
export interface MicroTask {
  readonly name: string
  /** One sample: a batch of operations, timed inside (loops written out per task so each stays monomorphic). */
  readonly fn: () => FnReturnedObject | Promise<FnReturnedObject>
  readonly baseline?: string
  readonly target?: Target
  /** Operations per sample. */
  readonly batch: number
  /** Printed next to the row. */
  readonly note?: string
}

/**
 * Runs `tasks` with tinybench `rounds` times, alternating the order so that
 * drift hits subjects and baselines alike, and pools the samples per task.
 */
export async function measureMicro(tasks: readonly MicroTask[], p: MicroProfile): Promise<Row[]> {
  const pooled = new Map<string, number[]>(tasks.map((t) => [t.name, []]))
  for (let round = 0; round < p.microRounds; round++) {
    const bench = new Bench({ time: p.microTimeMs, warmupTime: p.microWarmupMs, retainSamples: true, throws: true })
    for (const task of round % 2 === 0 ? tasks : [...tasks].reverse()) bench.add(task.name, task.fn)
    await bench.run()
    for (const task of bench.tasks) {
      const result = task.result
      if (result.state !== 'completed' || !result.latency.samples) {
        throw new Error(`Expected tinybench task ${task.name} to complete with samples, got state ${result.state}`)
      }
      const into = pooled.get(task.name)!
      for (const sample of result.latency.samples) into.push(sample)
    }
  }
  return tasks.map((task) => {
    const s = summarize(pooled.get(task.name)!)
    return {
      name: task.name,
      measurement: { kind: 'latency', medianMs: s.median, p99Ms: s.p99, samples: s.count, sample: `mean of a ${task.batch}-op batch` },
      ...(task.baseline === undefined ? {} : { baseline: task.baseline }),
      ...(task.target === undefined ? {} : { target: task.target }),
      ...(task.note === undefined ? {} : { note: task.note }),
    }
  })
}
