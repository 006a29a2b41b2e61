/**
 * Vitest global setup: the threads and processes the tests start run the code under test.
 *
 * The test files run `src/` (TypeScript, through vitest). What they start loads the built
 * package: the fixture workers (`test/fixtures/*.mjs` import `dist/`), the examples and the CLI
 * (child processes), the esbuild bundles of the runtime-neutral and browser tests. Before any test
 * file runs (and before each re-run in watch mode) this rebuilds each project of `npm run build`
 * whose outputs are stale: one missing, or an input (its sources, `tsconfig*.json`) newer than its
 * oldest output. tsc writes every output on each build, so after a build the oldest output is
 * newer than every input it read; a source edited during the build leaves it stale, and it is
 * built again. Outputs whose source is gone are deleted, so a fixture cannot import a module that
 * only an old build has.
 *
 * `npm test` builds first, so this finds `dist/` fresh and does not build again (a few ms of
 * `stat`s); a clean clone has no `dist/` and is built here if vitest runs before `npm run build`.
 * Type errors do not stop the tests (`npm run typecheck` is where they fail); a build that writes
 * no output throws.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'

const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
/** Held while one vitest process builds, so two runs started together do not write dist/ at once. */
const lockFile = join(root, 'node_modules', '.cache', 'threadstate-build.lock')
/** A lock older than this is taken over even if its process still runs (a hung build). */
const LOCK_STALE_MS = 5 * 60_000

/** A tsc project of `npm run build`: its sources and where their `.js` go. */
interface Project {
  readonly tsconfig: string
  readonly sourceDir: string
  readonly outDir: string
}

/**
 * The projects of package.json's `build` script, read from it so there is one definition:
 * `node scripts/build.mjs <tsconfig>...` (a clean build swapped in by rename) or `tsc -p <tsconfig>`
 * steps joined by `&&`.
 * @throws Error if the script is anything else
 */
function buildProjects(): Project[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const script = pkg.scripts['build'] ?? ''
  const clean = /^node scripts\/build\.mjs((?: \S+)+)$/.exec(script.trim())
  const steps = clean ? clean[1]!.trim().split(/\s+/).map((tsconfig) => `tsc -p ${tsconfig}`) : script.split('&&').map((s) => s.trim())
  return steps.map((step) => {
    const m = /^tsc -p (\S+)$/.exec(step)
    if (!m) throw new Error(`test/global-setup.ts expected package.json's build script to be \`node scripts/build.mjs <tsconfig>...\` or \`tsc -p <tsconfig>\` steps joined by &&, got \`${script}\`: teach it the new step`)
    const tsconfig = m[1]!
    const options = (JSON.parse(readFileSync(join(root, tsconfig), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } }).compilerOptions
    return { tsconfig, sourceDir: join(root, options.rootDir), outDir: join(root, options.outDir) }
  })
}

function* filesUnder(dir: string): Generator<string> {
  if (!existsSync(dir)) return
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* filesUnder(path)
    else yield path
  }
}

const isSource = (path: string) => path.endsWith('.ts') && !path.endsWith('.d.ts')
const OUTPUT = /\.(js|js\.map|d\.ts|d\.ts\.map)$/

/** Why `project`'s outputs do not match its sources, or undefined if they do. */
function staleness(project: Project): string | undefined {
  let newestInput = { path: '', mtime: 0 }
  let oldestOutput = { path: '', mtime: Infinity }
  const consider = (input: string) => {
    const mtime = statSync(input).mtimeMs
    if (mtime > newestInput.mtime) newestInput = { path: input, mtime }
  }
  for (const name of readdirSync(root)) if (/^tsconfig.*\.json$/.test(name)) consider(join(root, name))
  for (const source of filesUnder(project.sourceDir)) {
    if (!isSource(source)) continue
    consider(source)
    const output = join(project.outDir, relative(project.sourceDir, source)).replace(/\.ts$/, '.js')
    if (!existsSync(output)) return `${relative(root, output)} is missing`
    const mtime = statSync(output).mtimeMs
    if (mtime < oldestOutput.mtime) oldestOutput = { path: output, mtime }
  }
  if (newestInput.mtime > oldestOutput.mtime) return `${relative(root, newestInput.path)} is newer than ${relative(root, oldestOutput.path)}`
  return undefined
}

/** Deletes outputs whose source file no longer exists (tsc never removes them). */
function removeOrphans(projects: readonly Project[]): string[] {
  const removed: string[] = []
  for (const project of projects) {
    const nested = projects.filter((p) => p !== project && p.outDir.startsWith(project.outDir + '/')).map((p) => p.outDir)
    for (const output of filesUnder(project.outDir)) {
      if (!OUTPUT.test(output) || nested.some((dir) => output.startsWith(dir + '/'))) continue
      const source = join(project.sourceDir, relative(project.outDir, output)).replace(OUTPUT, '.ts')
      if (existsSync(source)) continue
      rmSync(output)
      removed.push(relative(root, output))
    }
  }
  return removed
}

/** Blocks the calling thread for `ms` (this runs before any test: nothing else to do meanwhile). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Whether process `pid` still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs `fn` holding the build lock (a file holding the builder's pid); waits
 * for another vitest process's build to finish first. A lock whose process
 * is gone (a run killed mid-build) is taken over at once.
 */
function withBuildLock<T>(fn: () => T): T {
  mkdirSync(dirname(lockFile), { recursive: true })
  let said = false
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    let holder: number
    let age: number
    try {
      holder = Number(readFileSync(lockFile, 'utf8'))
      age = Date.now() - statSync(lockFile).mtimeMs
    } catch {
      continue // released meanwhile
    }
    if ((holder > 0 && !alive(holder)) || age > LOCK_STALE_MS) {
      rmSync(lockFile, { force: true })
      continue
    }
    if (!said) say(`waiting for the build of process ${holder || '(starting)'}`)
    said = true
    pause(200) // bounded poll: that build ends in seconds, or its process does
  }
  try {
    return fn()
  } finally {
    rmSync(lockFile, { force: true })
  }
}

/** Vitest does not show what a global setup logs; stderr it does. */
function say(line: string): void {
  process.stderr.write(`[global-setup] ${line}\n`)
}

/**
 * Builds `project` with `--noCheck`: the same JavaScript as `npm run build` (with
 * `isolatedModules` a file's emit never depends on types), in about 60 % of the time; type errors
 * are `npm run typecheck`'s to report.
 */
function build(project: Project): string | undefined {
  const r = spawnSync(process.execPath, [tsc, '-p', project.tsconfig, '--noCheck'], { cwd: root, encoding: 'utf8' })
  return r.status === 0 ? undefined : `tsc -p ${project.tsconfig} --noCheck exited with ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`
}

/** Rebuilds the projects of `dist/` that do not match their sources. */
export function ensureFreshBuild(): void {
  const projects = buildProjects()
  const orphans = removeOrphans(projects)
  if (orphans.length > 0) say(`removed outputs whose source is gone: ${orphans.join(', ')}`)
  if (projects.every((p) => staleness(p) === undefined)) return
  withBuildLock(() => {
    for (const project of projects) {
      // Checked again under the lock: another run may have built it while we waited.
      let reason = staleness(project)
      if (reason === undefined) continue
      const started = performance.now()
      let failure: string | undefined
      // A source edited while tsc runs leaves the project stale again: build again, twice at most.
      for (let attempt = 1; reason !== undefined && attempt <= 3; attempt++) {
        say(`${project.tsconfig}: stale (${reason}), building`)
        failure = build(project)
        reason = staleness(project)
        if (reason?.endsWith(' is missing')) throw new Error(`the build did not write ${reason}:\n${failure ?? ''}`)
      }
      if (failure !== undefined) say(`built with errors; the tests run what tsc emitted:\n${failure.split('\n').slice(0, 20).join('\n')}`)
      if (reason !== undefined) say(`sources keep changing during the build (${reason}): the tests run the last build`)
      say(`${project.tsconfig}: built in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    }
  })
}

export default function setup(project: TestProject): void {
  ensureFreshBuild()
  // Watch mode: a re-run after an edit must not use the previous build either.
  project.onTestsRerun(() => ensureFreshBuild())
}
