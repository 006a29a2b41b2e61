/**
 * Entry point of `npm run bench` and the logic behind `threadstate bench`:
 * runs the selected bench cases, prints one markdown table per suite (with
 * each row's baseline from the same run) and writes `<suite>.md` and
 * `<suite>.json` (bench/results/ by default).
 *
 * ```
 * npm run bench                      # everything (~110 s on 2 cores)
 * npm run bench -- --quick           # shorter runs
 * npm run bench -- handoff async     # only these cases (or `locks/handoff`, or a suite: `locks`)
 * npx threadstate bench --quick state-buffer --out results/
 * ```
 *
 * Run as a script, progress goes to stderr and the tables to stdout.
 * Imported (the CLI does), {@link runBench} takes callbacks for both.
 *
 * @module
 */
import { realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dashboardSuite } from './dashboard.js'
import { locksSuite } from './locks.js'
import { mapSuite } from './map.js'
import { peersSuite } from './peers.js'
import { redisSuite } from './redis.js'
import { runtimeSuite } from './runtime.js'
import { snapshotSuite } from './snapshot.js'
import { stateBufferSuite } from './state-buffer.js'
import {
  LEGEND,
  environment,
  evaluate,
  formatTable,
  writeJson,
  type BenchCase,
  type Row,
  type RunOptions,
  type Suite,
} from './report.js'

/** Every suite `npm run bench` knows. Add new suites here. */
const SUITES: readonly Suite[] = [locksSuite, stateBufferSuite, snapshotSuite, mapSuite, runtimeSuite, redisSuite, peersSuite, dashboardSuite]

/** Where results go by default: bench/results/ in the repository (this file runs from dist/bench/). */
export const DEFAULT_RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url))

/** A bench case as the command line lists it. */
export interface BenchCaseInfo {
  /** `suite/case`. */
  readonly name: string
  readonly suite: string
  readonly description: string
}

/** Progress callbacks of {@link runBench}. */
export interface BenchProgress {
  /** A case starts: `index` from 1 to `total` over the whole run. */
  readonly caseStarted?: (info: BenchCaseInfo, index: number, total: number) => void
  /** A case ended after `ms`. */
  readonly caseFinished?: (info: BenchCaseInfo, ms: number, index: number, total: number) => void
}

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** Case (`locks/handoff`, `handoff`) or suite (`locks`) names; all cases if empty. */
  readonly filters?: readonly string[]
  /** Shorter runs. @default false */
  readonly quick?: boolean
  /** Directory for `<suite>.md` and `<suite>.json` (created if missing). @default {@link DEFAULT_RESULTS_DIR} */
  readonly outDir?: string
  /** Progress callbacks. @default none */
  readonly progress?: BenchProgress
  /** Where the tables go. @default console.log */
  readonly print?: (text: string) => void
}

/** What {@link runBench} wrote. */
export interface BenchResult {
  /** Suites that ran. */
  readonly suites: readonly string[]
  /** Files written (markdown and JSON, per suite). */
  readonly files: readonly string[]
}

/** Every case, in run order. */
export function benchCases(): BenchCaseInfo[] {
  return SUITES.flatMap((s) => s.cases.map((c) => ({ name: c.name, suite: s.name, description: c.description })))
}

/** The names among `filters` that name no case and no suite. */
export function unknownNames(filters: readonly string[]): string[] {
  const known = new Set(SUITES.flatMap((s) => [s.name, ...s.cases.flatMap((c) => [c.name, shortName(c)])]))
  return filters.filter((f) => !known.has(f))
}

function shortName(c: BenchCase): string {
  return c.name.slice(c.name.indexOf('/') + 1)
}

/** A filter names a case (`locks/handoff`), a case within its suite (`handoff`) or a whole suite (`locks`). */
function selected(suite: Suite, c: BenchCase, filters: readonly string[]): boolean {
  return filters.length === 0 || filters.some((f) => f === c.name || f === shortName(c) || f === suite.name)
}

/**
 * Runs the selected cases, suite by suite; prints each suite's table and
 * writes its markdown and JSON.
 * @throws Error naming the unknown names, if a filter names nothing
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchResult> {
  const filters = options.filters ?? []
  const unknown = unknownNames(filters)
  if (unknown.length > 0) throw new Error(`Expected bench or suite names, got unknown ${unknown.map((f) => `\`${f}\``).join(', ')}`)
  const run: RunOptions = { quick: options.quick ?? false }
  const outDir = options.outDir ?? DEFAULT_RESULTS_DIR
  const print = options.print ?? ((text: string) => console.log(text))
  const plan = SUITES.map((suite) => ({ suite, cases: suite.cases.filter((c) => selected(suite, c, filters)) })).filter(
    (p) => p.cases.length > 0,
  )
  const total = plan.reduce((n, p) => n + p.cases.length, 0)
  let index = 0
  const files: string[] = []
  for (const { suite, cases } of plan) {
    const started = performance.now()
    const rows: Row[] = []
    for (const c of cases) {
      const info = { name: c.name, suite: suite.name, description: c.description }
      index++
      options.progress?.caseStarted?.(info, index, total)
      const t0 = performance.now()
      rows.push(...(await c.run(run)))
      options.progress?.caseFinished?.(info, performance.now() - t0, index, total)
    }
    const evaluated = evaluate(rows)
    const env = environment()
    const notes = evaluated.filter((r) => r.note !== undefined).map((r) => `- ${r.name}: ${r.note}`)
    const markdown = [
      `## ${suite.name}${run.quick ? ' (--quick)' : ''}: Node ${env.node}, ${env.cpus} × ${env.cpuModel}`,
      '',
      formatTable(evaluated),
      '',
      LEGEND,
      ...(notes.length > 0 ? ['', ...notes] : []),
    ].join('\n')
    const json = join(outDir, `${suite.name}.json`)
    const md = join(outDir, `${suite.name}.md`)
    writeJson(json, {
      suite: suite.name,
      environment: env,
      options: { ...run, filters },
      cases: cases.map((c) => c.name),
      durationMs: performance.now() - started,
      rows: evaluated,
    })
    writeFileSync(md, `${markdown}\n`)
    files.push(md, json)
    print(`\n${markdown}\n\nMarkdown: ${md}\nJSON: ${json}`)
  }
  return { suites: plan.map((p) => p.suite.name), files }
}

// ---- the script (`node dist/bench/run.js`) ------------------------------------

function usage(): string {
  return [
    'Usage: npm run bench -- [--quick] [name ...]',
    'Runs the named cases (`locks/handoff` or `handoff`) or suites (`locks`); all if none is named:',
    ...benchCases().map((c) => `  ${c.name.padEnd(20)} ${c.description}`),
  ].join('\n')
}

async function main(argv: readonly string[]): Promise<number> {
  let quick = false
  const filters: string[] = []
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(usage())
      return 0
    }
    if (arg === '--quick') quick = true
    else if (arg.startsWith('-')) {
      console.error(`Expected --quick, --help or a bench name, got \`${arg}\``)
      return 1
    } else filters.push(arg)
  }
  const unknown = unknownNames(filters)
  if (unknown.length > 0) {
    console.error(`Expected bench or suite names, got unknown ${unknown.map((f) => `\`${f}\``).join(', ')}\n${usage()}`)
    return 1
  }
  await runBench({
    filters,
    quick,
    progress: {
      caseStarted: (c) => process.stderr.write(`running ${c.name}: ${c.description} ... `),
      caseFinished: (_c, ms) => process.stderr.write(`${(ms / 1000).toFixed(1)} s\n`),
    },
  })
  return 0
}

/** Whether this module is the script node was started with (not imported by the CLI). */
function isScript(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url
  } catch {
    return false
  }
}

if (isScript()) {
  try {
    process.exitCode = await main(process.argv.slice(2))
  } catch (error) {
    console.error(error)
    process.exitCode = 1
  }
}
