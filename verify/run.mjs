// `npm run verify`: every correctness check at full size, one table of figures.
//
//   1. stress matrix (verify/stress-matrix.mjs): every primitive oversubscribed,
//      checksummed payloads, exact counters, invariants; broken variants caught
//   2. fault matrix (verify/fault-matrix.mjs): workers killed inside every
//      primitive's critical step while others wait and read; nobody stuck, no
//      partial update seen, recovery times; a broken recovery caught
//   3. model checking (verify/spin/run.mjs): Promela models under SPIN, and their
//      broken variants' counterexamples
//   4. the verification test files at THREADSTATE_STRESS (default 5): linearizability
//      histories, fault injection (workers killed mid-operation), model-based and
//      fuzz tests, each with the broken variants the suite keeps
//   5. busy machine (verify/busy.mjs): the whole suite 3 times with every core
//      loaded by a busy loop, 0 failures
//
//   node verify/run.mjs [--scale N] [--skip stress,faults,spin,tests,busy]
//
// `npm test` runs the same test files at size 1 (a bounded slice) and the quick SPIN models.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const scale = Number(args[args.indexOf('--scale') + 1] ?? 5) || 5
const skip = new Set((args.includes('--skip') ? args[args.indexOf('--skip') + 1] : '').split(',').filter(Boolean))
const results = `${root}verify/results`
mkdirSync(results, { recursive: true })

const TEST_FILES = [
  'test/linearizability.test.ts',
  'test/kill-mid-operation.test.ts',
  'test/owner-died.test.ts',
  'test/deadlock.test.ts',
  'test/codec-threads.test.ts',
  'test/mutual-exclusion.test.ts',
  'test/state-buffer-threads.test.ts',
  'test/snapshot-threads.test.ts',
  'test/shared-map-threads.test.ts',
  'test/state-machine.test.ts',
  'test/persist.test.ts',
  'test/model-based.test.ts',
  'test/shared-map.test.ts',
  'test/fuzz.test.ts',
  'test/fuzz-values.test.ts',
  'test/fuzz-persist.test.ts',
  'test/thread-reuse.test.ts',
  'test/contract/memory.test.ts',
  'test/state-buffer-protocol.test.ts',
]

const summary = []
function step(name, command, commandArgs, env = {}) {
  process.stderr.write(`\n== ${name}: ${command} ${commandArgs.join(' ')}\n`)
  const started = performance.now()
  const r = spawnSync(command, commandArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } })
  const seconds = (performance.now() - started) / 1000
  summary.push({ name, ok: r.status === 0, seconds })
  return r.status === 0
}

if (!skip.has('stress')) step('stress matrix', process.execPath, ['verify/stress-matrix.mjs', '--scale', String(scale), '--json', 'verify/results/stress.json'])
if (!skip.has('faults')) step('fault matrix', process.execPath, ['verify/fault-matrix.mjs', '--scale', String(scale), '--json', 'verify/results/faults.json'])
if (!skip.has('spin')) {
  if (existsSync(`${root}verify/spin/run.mjs`)) step('model checking (SPIN)', process.execPath, ['verify/spin/run.mjs'])
  else summary.push({ name: 'model checking (SPIN)', ok: false, seconds: 0, note: 'verify/spin/run.mjs missing' })
}
if (!skip.has('tests')) {
  const json = 'verify/results/tests.json'
  step(`verification tests at THREADSTATE_STRESS=${scale}`, process.execPath, [`${root}node_modules/vitest/vitest.mjs`, 'run', ...TEST_FILES, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`], {
    THREADSTATE_STRESS: String(scale),
  })
  if (existsSync(`${root}${json}`)) {
    const report = JSON.parse(readFileSync(`${root}${json}`, 'utf8'))
    console.log('\n| test file | tests | passed | failed | seconds |\n|---|---|---|---|---|')
    for (const file of report.testResults) {
      const tests = file.assertionResults
      const seconds = ((file.endTime - file.startTime) / 1000).toFixed(1)
      console.log(`| ${file.name.replace(root, '')} | ${tests.length} | ${tests.filter((t) => t.status === 'passed').length} | ${tests.filter((t) => t.status === 'failed').length} | ${seconds} |`)
    }
  }
}

if (!skip.has('busy')) step('the whole suite 3 times, every core busy', process.execPath, ['verify/busy.mjs', '--runs', '3'])

console.log('\n| step | result | seconds |\n|---|---|---|')
for (const s of summary) console.log(`| ${s.name} | ${s.ok ? 'pass' : `FAIL${s.note ? ` (${s.note})` : ''}`} | ${s.seconds.toFixed(0)} |`)
if (summary.some((s) => !s.ok)) process.exitCode = 1
