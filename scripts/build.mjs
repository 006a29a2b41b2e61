#!/usr/bin/env node
// `npm run build` (also `prepare`): `node scripts/build.mjs <package tsconfig>
// <bench tsconfig>` compiles src/ and bench/ into a fresh dist/. The tsconfig
// names are given in package.json, where test/global-setup.ts reads them too.
//
// Nothing survives from an older build: a source that was deleted or moved
// never leaves its .js behind in dist/ (where the package would ship it).
// The new tree is compiled beside dist/ and swapped in by rename, so dist/ is
// never half-written and is missing only between two renames: other processes
// (tests, workers, the CLI) keep reading a whole build while this one runs.
//
//   1. src/   -> .dist-next-<pid>/            (tsconfig.build.json, --outDir)
//   2. dist/ -> .dist-old-<pid>/, .dist-next-<pid>/ -> dist/
//      the previous dist/bench is moved into the new dist/ meanwhile
//   3. bench/ -> dist/.bench-next-<pid>/      (tsconfig.bench.json: bench imports
//      `threadstate`, i.e. this package's exports, so it needs the new dist/)
//   4. dist/bench/ -> dist/.bench-old-<pid>/, dist/.bench-next-<pid>/ -> dist/bench/
//
// Each temporary directory sits at the depth of the one it replaces, so the
// relative paths in source maps and declaration maps stay right.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [packageProject, benchProject, ...extra] = process.argv.slice(2)
if (!packageProject || !benchProject || extra.length > 0) {
  console.error(`Expected: node scripts/build.mjs <package tsconfig> <bench tsconfig>, got ${JSON.stringify(process.argv.slice(2))}`)
  process.exit(2)
}
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const at = (p) => path.join(root, p)
const next = at(`.dist-next-${process.pid}`)
const old = at(`.dist-old-${process.pid}`)
const benchNext = at(`dist/.bench-next-${process.pid}`)
const benchOld = at(`dist/.bench-old-${process.pid}`)

function compile(project, outDir) {
  execFileSync(process.execPath, [tsc, '-p', at(project), '--outDir', outDir], { cwd: root, stdio: 'inherit' })
}

const remove = (dir) => fs.rmSync(dir, { recursive: true, force: true })

/** Puts `fresh` where `target` is, moving the current `target` (if any) to `aside`. */
function swapIn(fresh, target, aside) {
  for (let attempt = 0; ; attempt++) {
    remove(aside)
    try {
      fs.renameSync(target, aside)
    } catch (error) {
      if (error.code !== 'ENOENT') throw error
    }
    try {
      fs.renameSync(fresh, target)
      return
    } catch (error) {
      // Another build swapped its tree in between our two renames: move it aside too.
      if ((error.code === 'ENOTEMPTY' || error.code === 'EEXIST') && attempt < 20) continue
      throw error
    }
  }
}

try {
  remove(next)
  compile(packageProject, next)
  swapIn(next, at('dist'), old)
  if (fs.existsSync(path.join(old, 'bench')) && !fs.existsSync(at('dist/bench'))) {
    fs.renameSync(path.join(old, 'bench'), at('dist/bench'))
  }
  compile(benchProject, benchNext)
  swapIn(benchNext, at('dist/bench'), benchOld)
} catch (error) {
  // tsc has printed the errors; anything else (a failed rename) is said here.
  if (!(error && typeof error === 'object' && 'status' in error)) console.error(error)
  process.exitCode = 1
} finally {
  for (const dir of [next, old, benchNext, benchOld]) remove(dir)
}
