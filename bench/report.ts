/**
 * Reporting for every bench suite in bench/: summaries of samples, one
 * markdown table per suite, and the JSON file under bench/results/.
 *
 * Why one place: every suite (locks today; state buffers, snapshots and maps
 * later) should print the same columns and compare the same way: each row
 * against a baseline measured in the same run, because on a shared 2-core
 * machine ratios hold where absolute numbers drift.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname } from 'node:path'

/** How a run was asked for: passed to every bench case. */
export interface RunOptions {
  /** Shorter runs (fewer samples, shorter windows), for a quick look. */
  readonly quick: boolean
}

/** One bench case: a unit that can be selected by name and measures a subject together with its baseline. */
export interface BenchCase {
  /** Selectable name, `suite/case` (e.g. `locks/handoff`). */
  readonly name: string
  /** One line: what it measures. */
  readonly description: string
  /** Runs the case and returns its rows (subjects and their baselines). */
  run(options: RunOptions): Promise<Row[]>
}

/** A suite: bench cases whose rows share one table and one JSON file. */
export interface Suite {
  /** Name of the suite; the JSON goes to `bench/results/<name>.json`. */
  readonly name: string
  /** Its cases, in the order they run. */
  readonly cases: readonly BenchCase[]
}

/** Median, p99 and range of a set of samples, in the samples' unit. */
export interface Summary {
  /** Interpolated median. */
  readonly median: number
  /** Nearest-rank 99th percentile. */
  readonly p99: number
  readonly min: number
  readonly max: number
  /** Number of samples. */
  readonly count: number
}

/**
 * Summarizes samples: interpolated median, nearest-rank p99.
 * @throws Error when `samples` is empty
 */
export function summarize(samples: ArrayLike<number>): Summary {
  const count = samples.length
  if (count === 0) throw new Error('Expected at least one sample, got none')
  const sorted = Float64Array.from(samples).sort()
  const mid = (count - 1) / 2
  const median = (sorted[Math.floor(mid)]! + sorted[Math.ceil(mid)]!) / 2
  const p99 = sorted[Math.min(count - 1, Math.ceil(0.99 * count) - 1)]!
  return { median, p99, min: sorted[0]!, max: sorted[count - 1]!, count }
}

/** Unit of a {@link Measurement} of kind `value`. */
export type ValueUnit = '%' | 'bytes' | 'count' | '×'

/**
 * What a row measured: a latency distribution, a throughput over repeated
 * runs, or one figure (a retry rate, a byte count, a torn-read count, a
 * speed-up).
 */
export type Measurement =
  | {
      readonly kind: 'latency'
      /** Median, in ms. */
      readonly medianMs: number
      /** 99th percentile, in ms. */
      readonly p99Ms: number
      /** Number of samples behind the figures. */
      readonly samples: number
      /** What one sample is (e.g. "mean of a 1000-op batch", "one hand-off"). */
      readonly sample: string
    }
  | {
      readonly kind: 'throughput'
      /** Median over runs, in operations per second. */
      readonly opsPerSec: number
      /** Slowest run. */
      readonly minOpsPerSec: number
      /** Fastest run. */
      readonly maxOpsPerSec: number
      /** Number of runs. */
      readonly runs: number
    }
  | {
      readonly kind: 'value'
      readonly value: number
      readonly unit: ValueUnit
      /** What the figure is and how it was obtained (e.g. "retried copies ÷ copy attempts, 3 runs pooled"). */
      readonly what: string
    }

/**
 * A performance target a row is checked against; `source` says where it
 * comes from (e.g. the DESIGN.md targets table).
 */
export type Target =
  | { readonly metric: 'median' | 'p99'; readonly atMostMs: number; readonly source: string }
  | { readonly metric: 'opsPerSec'; readonly atLeast: number; readonly source: string }
  | { readonly metric: 'value'; readonly bound: 'atMost' | 'atLeast'; readonly limit: number; readonly source: string }

/** One measured thing. */
export interface Row {
  /** Unique within the suite, e.g. `uncontended: Mutex`. */
  readonly name: string
  /** The figures. */
  readonly measurement: Measurement
  /** Name of the row this one is compared with (measured in the same run). */
  readonly baseline?: string
  /** What this row must reach, if anything. */
  readonly target?: Target
  /** Anything worth reading next to the number (fairness, contention rate...). */
  readonly note?: string
}

/** Outcome of a row against its target. */
export type Verdict = 'pass' | 'fail' | 'none'

/** A row with its comparison worked out. */
export interface EvaluatedRow extends Row {
  /**
   * Latency rows: median / baseline median (< 1 is faster). Throughput rows:
   * ops/s / baseline ops/s (> 1 is faster). Value rows: value / baseline
   * value (null when the baseline's value is 0). Null without a baseline, or
   * when the baseline was not run.
   */
  readonly ratio: number | null
  /** Against the row's target. */
  readonly verdict: Verdict
}

function ratioOf(row: Row, baseline: Row | undefined): number | null {
  if (!baseline) return null
  const a = row.measurement
  const b = baseline.measurement
  if (a.kind === 'latency' && b.kind === 'latency') return a.medianMs / b.medianMs
  if (a.kind === 'throughput' && b.kind === 'throughput') return a.opsPerSec / b.opsPerSec
  if (a.kind === 'value' && b.kind === 'value') return b.value === 0 ? null : a.value / b.value
  throw new Error(`Expected ${row.name} and its baseline ${baseline.name} to measure the same kind, got ${a.kind} and ${b.kind}`)
}

function verdictOf(row: Row): Verdict {
  const t = row.target
  const m = row.measurement
  if (!t) return 'none'
  if (t.metric === 'value') {
    if (m.kind !== 'value') throw new Error(`Expected a value row for a value target, got ${row.name}`)
    return (t.bound === 'atMost' ? m.value <= t.limit : m.value >= t.limit) ? 'pass' : 'fail'
  }
  if (t.metric === 'opsPerSec') {
    if (m.kind !== 'throughput') throw new Error(`Expected a throughput row for an ops/s target, got ${row.name}`)
    return m.opsPerSec >= t.atLeast ? 'pass' : 'fail'
  }
  if (m.kind !== 'latency') throw new Error(`Expected a latency row for a ${t.metric} target, got ${row.name}`)
  return (t.metric === 'median' ? m.medianMs : m.p99Ms) <= t.atMostMs ? 'pass' : 'fail'
}

/**
 * Works out ratios and verdicts. A baseline that was not run leaves the
 * ratio null.
 * @throws Error on duplicate row names
 */
export function evaluate(rows: readonly Row[]): EvaluatedRow[] {
  const byName = new Map<string, Row>()
  for (const row of rows) {
    if (byName.has(row.name)) throw new Error(`Expected unique row names, got ${row.name} twice`)
    byName.set(row.name, row)
  }
  return rows.map((row) => ({
    ...row,
    ratio: ratioOf(row, row.baseline === undefined ? undefined : byName.get(row.baseline)),
    verdict: verdictOf(row),
  }))
}

/** Formats a duration given in ms with a unit that keeps 3 significant digits (ns, µs, ms, s). */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms)
  if (abs < 1e-3) return `${(ms * 1e6).toPrecision(3)} ns`
  if (abs < 1) return `${(ms * 1e3).toPrecision(3)} µs`
  if (abs < 1e3) return `${ms.toPrecision(3)} ms`
  return `${(ms / 1e3).toPrecision(3)} s`
}

/** Formats a rate in operations per second (k, M). */
export function formatRate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toPrecision(3)} M/s`
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toPrecision(3)} k/s`
  return `${opsPerSec.toPrecision(3)} /s`
}

/** Formats a value row's figure with its unit. */
export function formatValue(value: number, unit: ValueUnit): string {
  switch (unit) {
    case '%':
      return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} %`
    case 'bytes':
      return `${value} B`
    case 'count':
      return `${value}`
    case '×':
      return `${value.toPrecision(3)}×`
  }
}

function formatTarget(t: Target | undefined, row: Row): string {
  if (!t) return '—'
  if (t.metric === 'value') {
    const unit = row.measurement.kind === 'value' ? row.measurement.unit : 'count'
    return `${t.bound === 'atMost' ? '≤' : '≥'} ${formatValue(t.limit, unit)}`
  }
  if (t.metric === 'opsPerSec') return `≥ ${formatRate(t.atLeast)}`
  return `${t.metric === 'median' ? 'median' : 'p99'} ≤ ${formatDuration(t.atMostMs)}`
}

function cells(row: EvaluatedRow, names: ReadonlySet<string>): string[] {
  const m = row.measurement
  const median = m.kind === 'latency' ? formatDuration(m.medianMs) : m.kind === 'value' ? formatValue(m.value, m.unit) : '—'
  const spread = m.kind === 'latency' ? formatDuration(m.p99Ms) : m.kind === 'throughput' ? formatRate(m.opsPerSec) : '—'
  const baseline = row.baseline ?? '—'
  const ratio = row.ratio !== null ? `${row.ratio.toFixed(2)}×` : row.baseline !== undefined && !names.has(row.baseline) ? 'not run' : '—'
  const verdict = row.verdict === 'none' ? '—' : row.verdict === 'pass' ? 'pass' : '**FAIL**'
  return [row.name, median, spread, baseline, ratio, formatTarget(row.target, row), verdict]
}

/** The column headers of {@link formatTable}. */
export const COLUMNS = ['bench', 'median / value', 'p99 / ops/s', 'baseline', 'ratio', 'target', 'result'] as const

/** Renders rows as one markdown table, columns padded for reading in a terminal. */
export function formatTable(rows: readonly EvaluatedRow[]): string {
  const names = new Set(rows.map((r) => r.name))
  const body = rows.map((r) => cells(r, names))
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`
  return [line(COLUMNS), rule, ...body.map(line)].join('\n')
}

/** The legend printed under every table. */
export const LEGEND = [
  'ratio: latency rows = median ÷ baseline median (< 1 is faster); throughput rows = ops/s ÷ baseline ops/s (> 1 is faster);',
  'value rows (%, B, counts, ×) = value ÷ baseline value.',
  'Baselines are measured in the same run, interleaved with their subjects.',
  'Rows timed in batches (one op is below the timer resolution) take median and p99 over batch means, not single ops;',
  'the JSON says what one sample is.',
].join('\n')

/** Where and how a suite ran, recorded in its JSON. */
export interface Environment {
  /** ISO timestamp of the run. */
  readonly date: string
  readonly node: string
  readonly platform: string
  readonly arch: string
  readonly cpus: number
  readonly cpuModel: string
}

/** Describes the machine and runtime. */
export function environment(): Environment {
  const list = cpus()
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
  }
}

/** The JSON file a suite writes. */
export interface SuiteReport {
  readonly suite: string
  readonly environment: Environment
  /** The command line: `--quick` and the names asked for (a filtered run writes only those rows). */
  readonly options: RunOptions & { readonly filters: readonly string[] }
  /** Bench cases that ran. */
  readonly cases: readonly string[]
  readonly durationMs: number
  readonly rows: readonly EvaluatedRow[]
}

/** Writes `report` as pretty JSON to `file`, creating its directory. */
export function writeJson(file: string, report: SuiteReport): void {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
}

/** A variant of a pooled latency measurement: its row name, baseline and target. */
export interface LatencyVariant {
  readonly name: string
  readonly baseline?: string
  readonly target?: Target
}

/**
 * Latency rows (median, p99, min/max note) of variants whose samples were
 * pooled over interleaved rounds. `sample` says what one sample is.
 */
export function pooledLatencyRows(
  variants: readonly LatencyVariant[],
  pooled: ReadonlyMap<string, readonly number[]>,
  sample: string,
  extraNote = '',
): Row[] {
  return variants.map((v) => {
    const s = summarize(pooled.get(v.name)!)
    return {
      name: v.name,
      measurement: { kind: 'latency', medianMs: s.median, p99Ms: s.p99, samples: s.count, sample },
      ...(v.baseline === undefined ? {} : { baseline: v.baseline }),
      ...(v.target === undefined ? {} : { target: v.target }),
      note: `min ${formatDuration(s.min)}, max ${formatDuration(s.max)}, ${s.count} samples${extraNote}`,
    }
  })
}
