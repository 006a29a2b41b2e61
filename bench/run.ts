/**
 * Entry point of `npm run bench`: runs the selected bench cases, prints one
 * markdown table per suite (with each row's baseline from the same run) and
 * writes bench/results/<suite>.json.
 *
 * ```
 * npm run bench                      # everything (~80 s on 2 cores)
 * npm run bench -- --quick           # shorter runs
 * npm run bench -- handoff async     # only these cases (or `locks/handoff`, or a suite: `locks`)
 * ```
 *
 * Progress goes to stderr, the table to stdout.
 *
 * @module
 */
import { fileURLToPath } from 'node:url'
import { locksSuite } from './locks.js'
import { mapSuite } from './map.js'
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
const SUITES: readonly Suite[] = [locksSuite, stateBufferSuite, snapshotSuite, mapSuite]

/** Where JSON results go: bench/results/ in the repository (this file runs from dist/bench/). */
const RESULTS = new URL('../../bench/results/', import.meta.url)

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {
  override readonly name = 'UsageError'
}

interface Args {
  readonly options: RunOptions
  readonly filters: readonly string[]
  readonly help: boolean
}

function parseArgs(argv: readonly string[]): Args {
  let quick = false
  let help = false
  const filters: string[] = []
  for (const arg of argv) {
    if (arg === '--quick') quick = true
    else if (arg === '--help' || arg === '-h') help = true
    else if (arg.startsWith('-')) throw new UsageError(`Expected --quick, --help or a bench name, got \`${arg}\``)
    else filters.push(arg)
  }
  return { options: { quick }, filters, help }
}

function usage(): string {
  const names = SUITES.flatMap((s) => s.cases.map((c) => `  ${c.name.padEnd(20)} ${c.description}`))
  return [
    'Usage: npm run bench -- [--quick] [name ...]',
    'Runs the named cases (`locks/handoff` or `handoff`) or suites (`locks`); all if none is named:',
    ...names,
  ].join('\n')
}

/** A filter names a case (`locks/handoff`), a case within its suite (`handoff`) or a whole suite (`locks`). */
function selected(suite: Suite, c: BenchCase, filters: readonly string[]): boolean {
  const short = c.name.slice(c.name.indexOf('/') + 1)
  return filters.length === 0 || filters.some((f) => f === c.name || f === short || f === suite.name)
}

async function runSuite(suite: Suite, cases: readonly BenchCase[], args: Args): Promise<void> {
  const started = performance.now()
  const rows: Row[] = []
  for (const c of cases) {
    const t0 = performance.now()
    process.stderr.write(`running ${c.name}: ${c.description} ... `)
    rows.push(...(await c.run(args.options)))
    process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  }
  const evaluated = evaluate(rows)
  const env = environment()
  console.log(`\n## ${suite.name}${args.options.quick ? ' (--quick)' : ''}: Node ${env.node}, ${env.cpus} × ${env.cpuModel}\n`)
  console.log(formatTable(evaluated))
  console.log(`\n${LEGEND}`)
  const notes = evaluated.filter((r) => r.note !== undefined)
  if (notes.length > 0) {
    console.log('')
    for (const r of notes) console.log(`- ${r.name}: ${r.note}`)
  }
  const file = fileURLToPath(new URL(`${suite.name}.json`, RESULTS))
  writeJson(file, {
    suite: suite.name,
    environment: env,
    options: { ...args.options, filters: args.filters },
    cases: cases.map((c) => c.name),
    durationMs: performance.now() - started,
    rows: evaluated,
  })
  console.log(`\nJSON: ${file}`)
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) {
    console.log(usage())
    return
  }
  const known = SUITES.flatMap((s) => [s.name, ...s.cases.flatMap((c) => [c.name, c.name.slice(c.name.indexOf('/') + 1)])])
  const unknown = args.filters.filter((f) => !known.includes(f))
  if (unknown.length > 0) {
    throw new UsageError(`Expected bench or suite names, got unknown ${unknown.map((f) => `\`${f}\``).join(', ')}\n${usage()}`)
  }
  for (const suite of SUITES) {
    const cases = suite.cases.filter((c) => selected(suite, c, args.filters))
    if (cases.length > 0) await runSuite(suite, cases, args)
  }
}

try {
  await main()
} catch (error) {
  console.error(error instanceof UsageError ? error.message : error)
  process.exitCode = 1
}
