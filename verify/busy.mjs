// The whole test suite on a busy machine (issue 16, item 1): two busy-loop
// processes load both cores while `vitest run` runs the suite `--runs` times
// in a row (default 3); every run must pass. A test that passes only on an
// idle machine asserts a rate, not a property: such a test fails here.
//
//   node verify/busy.mjs [--runs 3]        (npm run verify runs it too)
import { spawn, spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const runs = Number(args[args.indexOf('--runs') + 1] ?? 3) || 3

// One busy loop per core, for the whole of the runs.
const loops = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
const stop = () => loops.forEach((p) => p.kill('SIGKILL'))
process.on('exit', stop)

let failed = 0
for (let run = 1; run <= runs; run++) {
  const started = performance.now()
  const r = spawnSync(process.execPath, [`${root}node_modules/vitest/vitest.mjs`, 'run'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  const seconds = ((performance.now() - started) / 1000).toFixed(0)
  console.log(`busy machine: run ${run} of ${runs} ${r.status === 0 ? 'passed' : 'FAILED'} in ${seconds} s (${loops.length} busy loops)`)
  if (r.status !== 0) failed++
}
stop()
process.exitCode = failed === 0 ? 0 : 1
