/**
 * `threadstate bench`: runs the benchmark suites of bench/ (built to
 * dist/bench/, shipped with the package) and shows their progress.
 *
 * The bench code is compiled separately (tsconfig.bench.json), so it is
 * loaded by URL and typed here by the {@link BenchModule} interface; a type
 * test (test/cli.test.ts) checks that bench/run.ts still matches it.
 *
 * @module
 */
import { resolve } from 'node:path'

/** A case of a bench suite. */
export interface BenchCaseInfo {
  readonly name: string
  readonly suite: string
  readonly description: string
}

/** What `threadstate bench` uses of dist/bench/run.js. */
export interface BenchModule {
  /** Every case, in run order. */
  benchCases(): BenchCaseInfo[]
  /** The filters that name no case and no suite. */
  unknownNames(filters: readonly string[]): string[]
  /** Runs the selected cases; writes `<suite>.md` and `<suite>.json` to `outDir`. */
  runBench(options: {
    readonly filters?: readonly string[]
    readonly quick?: boolean
    readonly outDir?: string
    readonly progress?: {
      readonly caseStarted?: (info: BenchCaseInfo, index: number, total: number) => void
      readonly caseFinished?: (info: BenchCaseInfo, ms: number, index: number, total: number) => void
    }
    readonly print?: (text: string) => void
  }): Promise<{ readonly suites: readonly string[]; readonly files: readonly string[] }>
}

/** Where the bench entry point is once built: dist/bench/run.js, beside dist/cli/. */
const BENCH_URL = new URL('../bench/run.js', import.meta.url)

/**
 * Loads the bench module.
 * @throws Error saying how to get it, if dist/bench is missing
 */
export async function loadBench(): Promise<BenchModule> {
  try {
    return (await import(BENCH_URL.href)) as BenchModule
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    if (code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`Expected the benchmarks at ${BENCH_URL.pathname}, found none: run \`npm run build\` in the repository`)
    }
    throw error
  }
}

/** Options of {@link runBenchCommand}. */
export interface BenchCommandOptions {
  readonly filters: readonly string[]
  readonly quick: boolean
  /** Output directory (resolved against the current directory). */
  readonly outDir: string
}

/**
 * Runs the benchmarks: tables to stdout, progress to stderr (one line per
 * case, with a running clock on a terminal). Resolves with the exit code.
 */
export async function runBenchCommand(bench: BenchModule, options: BenchCommandOptions): Promise<number> {
  const outDir = resolve(options.outDir)
  const err = process.stderr
  const live = err.isTTY === true
  let ticker: NodeJS.Timeout | undefined
  const started = performance.now()
  const result = await bench.runBench({
    filters: options.filters,
    quick: options.quick,
    outDir,
    progress: {
      caseStarted(info, index, total) {
        const label = `[${index}/${total}] ${info.name}: ${info.description}`
        const t0 = performance.now()
        if (live) {
          const draw = (): void => void err.write(`\r\x1b[2K${label} ... ${((performance.now() - t0) / 1000).toFixed(1)} s`)
          draw()
          // Refreshes whenever the bench lets the event loop run (workers and async rounds do).
          ticker = setInterval(draw, 250)
        } else err.write(`${label} ...\n`)
      },
      caseFinished(info, ms, index, total) {
        clearInterval(ticker)
        const line = `[${index}/${total}] ${info.name}: ${(ms / 1000).toFixed(1)} s`
        err.write(live ? `\r\x1b[2K${line}\n` : `${line}\n`)
      },
    },
    print: (text) => console.log(text),
  })
  err.write(`\n${result.files.length} files written to ${outDir} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return 0
}
