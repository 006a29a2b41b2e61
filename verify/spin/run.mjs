#!/usr/bin/env node
/**
 * Runs the Promela models of verify/spin with SPIN and prints one table.
 *
 *   node verify/spin/run.mjs            every run (~1.5 min on 2 cores)
 *   node verify/spin/run.mjs --quick    a bounded subset (< 30 s), used by test/spin.test.ts
 *   node verify/spin/run.mjs --deep     also the long runs (minutes each)
 *   options: --only SUBSTRING   runs whose id contains it
 *            --keep             keep the temporary directories (pan.c, trails)
 *            --jobs N           runs at once (default: 2, or 1 on one core)
 *
 * For each run: `spin -a -D... model.pml`, `gcc -O2 [-DSAFETY | -DNP] pan.c`,
 * `./pan -m... [-l -f]` in a temporary directory; parses errors, states
 * stored, depth and time. A good model must report 0 errors over a complete
 * search; a broken variant must report an error, and its counterexample
 * trail (`spin -t -p -g -l`, reduced to the steps that change state) is
 * printed. Before any run, the layout constants #defined in the models are
 * compared with the code's (parsed from src/*.ts; the built dist/ is
 * cross-checked when present). Exit status: 0 all as expected, 1 something
 * not as expected, 3 spin or gcc missing and not installable here.
 *
 * No build step: plain Node ESM, no dependencies.
 */
import { spawnSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '../..')

const args = process.argv.slice(2)
const QUICK = args.includes('--quick')
const DEEP = args.includes('--deep')
const KEEP = args.includes('--keep')
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
const JOBS = args.includes('--jobs') ? Number(args[args.indexOf('--jobs') + 1]) : Math.min(2, cpus().length)

// ---------------------------------------------------------------------------
// The runs. expect: 'pass' (0 errors, complete search), 'fail' (a broken
// variant: SPIN must find the error), 'finding' (the code as written: SPIN
// finds a violation of a stronger property than the code promises; see the note),
// 'witness' (an assertion that something never happens, so that SPIN prints a
// path to it). All but 'pass' search breadth-first (the shortest trail) unless
// search: 'dfs'.

const SAFETY = 'safety'
const MEMLIM_MB = 8192
const PROGRESS = 'progress'

/** @type {Array<{id: string, model: string, defines: string[], cflags?: string[], memlimMb?: number, search?: 'dfs', mode: string, property: string, expect: 'pass'|'fail'|'finding'|'witness', quick?: boolean, deep?: boolean, note?: string}>} */
const RUNS = [
  // ---- Mutex (mutex.pml + robust-word.pml) ----
  {
    id: 'mutex',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=1'],
    mode: SAFETY,
    property: 'mutual exclusion; no lost wake-up with unsliced sleeps (3 threads, one lock(timeout) that may give up)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'mutex/owner-died',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'DEATHS=1', 'SLICED=1'],
    mode: SAFETY,
    property: 'one thread killed at any point: mutual exclusion among the living, OWNER_DIED iff poisoned (exactly one acquirer told), DEAD_OWNER right, nobody stuck',
    expect: 'pass',
  },
  {
    id: 'mutex/owner-died-2t',
    model: 'mutex.pml',
    defines: ['NT=2', 'ITERS=2', 'DEATHS=1', 'SLICED=1'],
    mode: SAFETY,
    property: 'as above, 2 threads x 2 sections',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'mutex/two-deaths',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'DEATHS=2', 'SLICED=1', 'KILL_HOLDERS=1'],
    mode: SAFETY,
    property: 'two holders killed while holding (the told one may die before repairing: the next is told again)',
    expect: 'pass',
  },
  {
    id: 'mutex/progress',
    model: 'mutex.pml',
    defines: ['NT=2', 'ITERS=0'],
    mode: PROGRESS,
    property: 'no non-progress cycle under weak fairness (lock/unlock forever)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'mutex/progress-owner-died',
    model: 'mutex.pml',
    defines: ['NT=2', 'ITERS=0', 'DEATHS=1', 'SLICED=1'],
    mode: PROGRESS,
    property: 'no non-progress cycle when a thread is killed (the survivor goes on)',
    expect: 'pass',
  },
  {
    id: 'mutex/abort-unsliced',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=2'],
    mode: SAFETY,
    property: 'no lost wake-up with unsliced sleeps when a lockAsync waiter is aborted',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'mutex/BUG_GIVEUP_CHECKS_WAITERS',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=2', 'BUG_GIVEUP_CHECKS_WAITERS'],
    mode: SAFETY,
    property: 'broken (the code before the SPIN finding): giveUp() passes the wake-up on only if WAITERS is set',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'mutex/abort-sliced',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=2', 'SLICED=1'],
    mode: SAFETY,
    property: 'the same with 50 ms slices: nobody stuck (the slice recovers it)',
    expect: 'pass',
  },
  {
    id: 'mutex/BUG_NO_WAITERS_AFTER_WAKE',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'BUG_NO_WAITERS_AFTER_WAKE'],
    mode: SAFETY,
    property: 'broken: a woken waiter acquires without WAITERS',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'mutex/BUG_RELEASE_NO_NOTIFY',
    model: 'mutex.pml',
    defines: ['NT=2', 'ITERS=1', 'BUG_RELEASE_NO_NOTIFY'],
    mode: SAFETY,
    property: 'broken: release without the WAITERS check / notify',
    expect: 'fail',
  },
  {
    id: 'mutex/BUG_SILENT_TAKEOVER',
    model: 'mutex.pml',
    defines: ['NT=2', 'ITERS=2', 'DEATHS=1', 'SLICED=1', 'BUG_SILENT_TAKEOVER'],
    mode: SAFETY,
    property: 'broken: a dead holder\'s lock handed over without OWNER_DIED',
    expect: 'fail',
    quick: true,
  },
  // ---- RWLock (rwlock.pml + robust-word.pml) ----
  {
    id: 'rwlock/2r1w',
    model: 'rwlock.pml',
    defines: ['NR=2', 'NWR=1'],
    mode: SAFETY,
    property: 'readers/writer exclusion; no lost wake-up on STATE or DRAIN (unsliced); slot claiming and SLOTS_USED',
    expect: 'pass',
  },
  {
    id: 'rwlock/1r2w',
    model: 'rwlock.pml',
    defines: ['NR=1', 'NWR=2'],
    mode: SAFETY,
    property: 'the same with two writers',
    expect: 'pass',
  },
  {
    id: 'rwlock/1r1w-death',
    model: 'rwlock.pml',
    defines: ['NR=1', 'NWR=1', 'DEATHS=1', 'SLICED=1'],
    mode: SAFETY,
    property: 'a holder (reader or writer) killed at any point: readers refused while poisoned, dead reader\'s hold reclaimed, nobody stuck',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'rwlock/1r2w-writer-death',
    model: 'rwlock.pml',
    defines: ['NR=1', 'NWR=2', 'DEATHS=1', 'SLICED=2', 'VICTIM_LO=2'],
    cflags: ['-DHC4'],
    memlimMb: 16384,
    mode: SAFETY,
    property: 'a writer killed while holding: the other writer is told OWNER_DIED, repairs; readers refused until then (~2e8 states: hash-compact HC4)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'rwlock/progress',
    model: 'rwlock.pml',
    defines: ['NR=1', 'NWR=1', 'ITERS=0'],
    mode: PROGRESS,
    property: 'no non-progress cycle under weak fairness (read / write forever)',
    expect: 'pass',
  },
  {
    id: 'rwlock/BUG_SLOTS_USED_LATE',
    model: 'rwlock.pml',
    defines: ['NR=2', 'NWR=1', 'BUG_SLOTS_USED_LATE'],
    mode: SAFETY,
    property: 'broken: SLOTS_USED raised after the reader is in',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'rwlock/BUG_LEAVE_NO_DRAIN',
    model: 'rwlock.pml',
    defines: ['NR=2', 'NWR=1', 'BUG_LEAVE_NO_DRAIN'],
    mode: SAFETY,
    property: 'broken: leaveRead does not bump DRAIN',
    expect: 'fail',
  },
  // ---- Condition (condition.pml) ----
  {
    id: 'condition',
    model: 'condition.pml',
    defines: ['NC=2'],
    mode: SAFETY,
    property: 'waitFor never takes a missing item; no lost wake-up (2 consumers, one timed; 2 producers)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'condition/3c',
    model: 'condition.pml',
    defines: ['NC=3'],
    mode: SAFETY,
    property: 'the same with 3 consumers and 3 producers',
    expect: 'pass',
  },
  {
    id: 'condition/BUG_SEQ_AFTER_UNLOCK',
    model: 'condition.pml',
    defines: ['NC=2', 'BUG_SEQ_AFTER_UNLOCK'],
    mode: SAFETY,
    property: 'broken: wait() reads SEQ after releasing the mutex',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'condition/BUG_NO_RECHECK',
    model: 'condition.pml',
    defines: ['NC=2', 'BUG_NO_RECHECK'],
    mode: SAFETY,
    property: 'broken: waitFor does not re-check the predicate after a wake-up',
    expect: 'fail',
  },
  // ---- StateBuffer (state-buffer.pml) ----
  {
    id: 'state-buffer/torn',
    model: 'state-buffer.pml',
    defines: ['NW=1', 'NU=5', 'DEATHS=0', 'WAITER=0'],
    mode: SAFETY,
    property: 'no torn copy accepted by readLatest or copyVersion; versions never go back (S=4, 5 updates)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'state-buffer/writer-death',
    model: 'state-buffer.pml',
    defines: ['NW=2', 'NU=2', 'DEATHS=1', 'HISTORY=0', 'WAITER=0'],
    mode: SAFETY,
    property: 'a writer killed at any point: no torn copy, the other writer takes over, readers never stall',
    expect: 'pass',
  },
  {
    id: 'state-buffer/wait-for-version',
    model: 'state-buffer.pml',
    defines: ['NW=2', 'NU=2', 'DEATHS=1', 'LATEST=0', 'HISTORY=0'],
    mode: SAFETY,
    property: 'waitForVersion: no lost wake-up (unsliced), with a writer killed at any point',
    expect: 'pass',
  },
  {
    id: 'state-buffer/BUG_LAG_OFF_BY_ONE',
    model: 'state-buffer.pml',
    defines: ['NW=1', 'NU=5', 'DEATHS=0', 'WAITER=0', 'BUG_LAG_OFF_BY_ONE'],
    mode: SAFETY,
    property: 'broken: readers accept a copy when PUB moved by S-1',
    expect: 'fail',
    quick: true,
  },
  // ---- SharedMap (shared-map.pml) ----
  {
    id: 'shared-map',
    model: 'shared-map.pml',
    defines: ['NWM=2', 'DEATHS=1'],
    mode: SAFETY,
    property: 'two 2-key commits, one writer killed at any point: reads see one commit; rollback restores every block; nobody stuck',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'shared-map/BUG_WRITE_BEFORE_JOURNAL',
    model: 'shared-map.pml',
    defines: ['NWM=2', 'DEATHS=1', 'BUG_WRITE_BEFORE_JOURNAL'],
    mode: SAFETY,
    property: 'broken: setData writes before journaling the old value',
    expect: 'fail',
    quick: true,
  },
  // ---- Deadlock detection (wait-graph.pml) ----
  {
    id: 'wait-graph',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2'],
    mode: SAFETY,
    property: 'no false deadlock report: when beforeSleep returns a cycle, every member is blocked on the lock it wants, held by the next member; one report per cycle (2 threads, any program of 2 acquisitions of 2 locks with releases anywhere: stale edges)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'wait-graph/third-party',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'PROG=2'],
    mode: SAFETY,
    property: 'the SPIN finding\'s scene, 3 threads: T2, on the cycle T1 walked through T2\'s stale edge, moves to a wait for T3 before T1\'s snapshots: no report',
    expect: 'pass',
  },
  {
    id: 'wait-graph/BUG_NO_CYCLE_CHECK',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'PROG=2', 'BUG_NO_CYCLE_CHECK'],
    mode: SAFETY,
    property: 'broken (the code before the SPIN finding): phase A keeps two agreeing snapshots without formsCycle: a false report',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'wait-graph/stale-holder',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'PROG=3', 'DETECTORS=1'],
    mode: SAFETY,
    property: 'the walk follows T2\'s edge to T1, who has released the lock (now T3\'s), before T2 re-reads it: no report (every report of thread 1)',
    expect: 'pass',
  },
  {
    id: 'wait-graph/stale-holder-BUG_NO_CYCLE_CHECK',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'PROG=3', 'DETECTORS=1', 'BUG_NO_CYCLE_CHECK'],
    mode: SAFETY,
    property: 'broken (the code before the finding), the same without the finally window: T1, holding nothing, reported in a deadlock with T2',
    expect: 'fail',
  },
  {
    id: 'wait-graph/3t-BUG_NO_CYCLE_CHECK',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'ACQ=2', 'DETECTORS=1', 'BUG_NO_CYCLE_CHECK'],
    search: 'dfs',
    mode: SAFETY,
    property: 'broken (the code before the finding), 3 threads, any programs of 2 acquisitions of 2 locks: the false report found without a scene (depth-first: a long trail)',
    expect: 'fail',
  },
  {
    id: 'wait-graph/3t',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'ACQ=2', 'ACQ_LAST=1', 'DETECTORS=1'],
    cflags: ['-DCOLLAPSE'],
    mode: SAFETY,
    property: '3 threads, any programs (2, 2 and 1 acquisitions of 2 locks; every report of thread 1): no false report, one report per cycle',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'wait-graph/ring3',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=3', 'PROG=1', 'DETECTORS=1'],
    mode: SAFETY,
    property: 'a ring of 3 (thread k takes lock k, then k + 1): no false report, one report per 3-cycle',
    expect: 'pass',
  },
  {
    id: 'wait-graph/bmask7',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2', 'BMASK=7'],
    mode: SAFETY,
    property: 'as wait-graph with verifications counted modulo 8 instead of 4',
    expect: 'pass',
  },
  {
    id: 'wait-graph/witness',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'PROG=1', 'SHOW_REPORT'],
    mode: SAFETY,
    property: 'a witness, not a bug: asserts that ABBA is never reported, so that SPIN prints the path to the report',
    expect: 'witness',
  },
  {
    id: 'wait-graph/progress',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2', 'ROUNDS=1'],
    mode: PROGRESS,
    property: 'every deadlock is reported: no non-progress cycle under weak fairness, sleeps in rounds (each blocked thread wakes once per round); any program of 2 acquisitions of 2 locks',
    expect: 'pass',
  },
  {
    id: 'wait-graph/progress-ring3',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=3', 'PROG=1', 'ROUNDS=1', 'BMASK=7', 'DETECTORS=1'],
    mode: PROGRESS,
    property: 'the 3-cycle is always reported (rounds, weak fairness; verifications modulo 8: modulo 4 loses it, one member a beat behind and one ahead)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'wait-graph/BUG_ONE_READ',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2', 'BUG_ONE_READ'],
    mode: SAFETY,
    property: 'broken: report as soon as phase A sees the cycle twice (no verifications)',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'wait-graph/BUG_ONE_BEAT',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2', 'BUG_ONE_BEAT'],
    mode: SAFETY,
    property: 'broken: phase B asks every member for one more verification instead of two',
    expect: 'fail',
  },
  {
    id: 'wait-graph/ALT_NO_RECHECK',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2', 'ALT_NO_RECHECK'],
    mode: SAFETY,
    property: 'slack, not a bug: phase B without its second read is still sound (the cycle starts at the detector, blocked throughout)',
    expect: 'pass',
  },
  {
    id: 'wait-graph/ring3-ALT_NO_RECHECK',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=3', 'PROG=1', 'DETECTORS=1', 'ALT_NO_RECHECK'],
    mode: SAFETY,
    property: 'the same slack on the ring of 3',
    expect: 'pass',
  },
  {
    id: 'wait-graph/BUG_FORGET_ON_BEATS',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'PROG=1', 'ROUNDS=1', 'BUG_FORGET_ON_BEATS'],
    mode: PROGRESS,
    property: 'broken: phase B starts again when a member is short of verifications (ABBA is never reported)',
    expect: 'fail',
  },
]

// ---------------------------------------------------------------------------
// Tools

function have(cmd, flag) {
  const r = spawnSync(cmd, [flag], { encoding: 'utf8' })
  return r.status === 0 || (r.error === undefined && r.status !== null && r.status !== 127)
}

function ensureTools() {
  const missing = []
  if (!have('spin', '-V')) missing.push('spin')
  if (!have('gcc', '--version')) missing.push('gcc')
  if (missing.length === 0) return true
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  const apt = spawnSync('apt-get', ['--version'], { encoding: 'utf8' }).status === 0
  if (root && apt) {
    console.log(`Installing ${missing.join(' and ')} with apt-get ...`)
    let r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8' })
      r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    }
    if (r.status === 0 && have('spin', '-V') && have('gcc', '--version')) return true
    console.log(r.stdout + r.stderr)
  }
  console.log(
    `SPIN model checking skipped: ${missing.join(' and ')} not found and not installable here` +
      (root ? '' : ' (not root)') +
      '.\nInstall it with `sudo apt-get install spin gcc` (Debian/Ubuntu), `brew install spin` (macOS),' +
      ' or build it from https://github.com/nimble-code/Spin, then run `node verify/spin/run.mjs`.',
  )
  return false
}

// ---------------------------------------------------------------------------
// Constants: the models' #defines against the code

/** Strips comments from a TS snippet. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '')
}

/**
 * Evaluates `export const NAME = ...` of a TS source file: an object literal
 * (`{ ... } as const`) or a one-line expression, in a scope of already known
 * names (Header, RobustWord, ...). Enough for the layout files, which hold
 * only such constants.
 */
function constOf(file, name, scope = {}) {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const at = text.search(new RegExp(`export const ${name}\\b[^=]*=`))
  if (at < 0) throw new Error(`${file}: no \`export const ${name}\``)
  let rest = text.slice(text.indexOf('=', at) + 1).trimStart()
  let expr
  if (rest.startsWith('{')) {
    let depth = 0
    let end = 0
    for (; end < rest.length; end++) {
      if (rest[end] === '{') depth++
      else if (rest[end] === '}' && --depth === 0) break
    }
    expr = rest.slice(0, end + 1)
  } else {
    expr = rest.split('\n')[0].replace(/\bas const\b/, '')
  }
  expr = stripComments(expr).replace(/\bas const\b/g, '')
  const names = Object.keys(scope)
  return new Function(...names, `"use strict"; return (${expr})`)(...names.map((n) => scope[n]))
}

function codeConstants() {
  const Header = constOf('src/memory/layout.ts', 'Header')
  const RobustWord = constOf('src/sync/robust-word.ts', 'RobustWord')
  const scope = { Header, RobustWord }
  return {
    'Header.WORDS': Header.WORDS,
    WAITERS: constOf('src/sync/robust-word.ts', 'WAITERS'),
    OWNER_DIED: constOf('src/sync/robust-word.ts', 'OWNER_DIED'),
    TID_MASK: constOf('src/memory/thread.ts', 'TID_MASK'),
    ThreadState: constOf('src/memory/thread.ts', 'ThreadState'),
    SLICE_MS: constOf('src/sync/wait.ts', 'SLICE_MS'),
    MutexWord: constOf('src/sync/robust-lock.ts', 'MutexWord', scope),
    RWLockWord: constOf('src/sync/rwlock.ts', 'RWLockWord', scope),
    ConditionWord: constOf('src/sync/condition.ts', 'ConditionWord', scope),
    StateWord: constOf('src/state/layout.ts', 'StateWord', scope),
    MapWord: constOf('src/map/layout.ts', 'MapWord', scope),
  }
}

/** The same from the built JS, when dist/ exists (a cross-check of a stale build). */
async function distConstants() {
  const file = (p) => pathToFileURL(join(ROOT, 'dist', p)).href
  if (!existsSync(join(ROOT, 'dist/sync/robust-word.js'))) return undefined
  const [layout, word, thread, wait, lock, rw, cond, state, map] = await Promise.all(
    ['memory/layout.js', 'sync/robust-word.js', 'memory/thread.js', 'sync/wait.js', 'sync/robust-lock.js', 'sync/rwlock.js', 'sync/condition.js', 'state/layout.js', 'map/layout.js'].map(
      (p) => import(file(p)),
    ),
  )
  return {
    'Header.WORDS': layout.Header.WORDS,
    WAITERS: word.WAITERS,
    OWNER_DIED: word.OWNER_DIED,
    TID_MASK: thread.TID_MASK,
    ThreadState: thread.ThreadState,
    SLICE_MS: wait.SLICE_MS,
    MutexWord: lock.MutexWord,
    RWLockWord: rw.RWLockWord,
    ConditionWord: cond.ConditionWord,
    StateWord: state.StateWord,
    MapWord: map.MapWord,
  }
}

/** #define NAME value (numbers only) of a model file. */
function definesOf(model) {
  const out = {}
  for (const m of readFileSync(join(HERE, model), 'utf8').matchAll(/^#define\s+(\w+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))\b/gm)) {
    out[m[1]] ??= Number(m[2])
  }
  return out
}

/** [model, #define, the code's value, where] */
function constantChecks(c) {
  const rows = []
  const add = (model, def, value, where) => rows.push({ model, def, value, where })
  for (const model of ['mutex.pml', 'rwlock.pml']) {
    add(model, 'WAITERS', c.WAITERS, 'robust-word.ts WAITERS')
    add(model, 'OWNER_DIED', c.OWNER_DIED, 'robust-word.ts OWNER_DIED')
    add(model, 'TID_MASK', c.TID_MASK, 'thread.ts TID_MASK')
    add(model, 'ALIVE', c.ThreadState.Alive, 'thread.ts ThreadState.Alive')
    add(model, 'DEAD', c.ThreadState.Dead, 'thread.ts ThreadState.Dead')
  }
  add('mutex.pml', 'HEADER_WORDS', c['Header.WORDS'], 'layout.ts Header.WORDS')
  add('mutex.pml', 'STATE', c.MutexWord.STATE, 'robust-lock.ts MutexWord.STATE')
  add('mutex.pml', 'DEAD_OWNER', c.MutexWord.DEAD_OWNER, 'robust-lock.ts MutexWord.DEAD_OWNER')
  add('rwlock.pml', 'STATE', c.RWLockWord.STATE, 'rwlock.ts RWLockWord.STATE')
  add('rwlock.pml', 'DEAD_OWNER', c.RWLockWord.DEAD_OWNER, 'rwlock.ts RWLockWord.DEAD_OWNER')
  add('rwlock.pml', 'DRAIN', c.RWLockWord.DRAIN, 'rwlock.ts RWLockWord.DRAIN')
  add('rwlock.pml', 'SLOTS_USED', c.RWLockWord.SLOTS_USED, 'rwlock.ts RWLockWord.SLOTS_USED')
  add('condition.pml', 'C_SEQ', c.ConditionWord.SEQ, 'condition.ts ConditionWord.SEQ')
  add('condition.pml', 'C_WAITERS', c.ConditionWord.WAITERS, 'condition.ts ConditionWord.WAITERS')
  add('state-buffer.pml', 'PUB', c.StateWord.PUB, 'state/layout.ts StateWord.PUB')
  add('state-buffer.pml', 'S_WAITERS', c.StateWord.WAITERS, 'state/layout.ts StateWord.WAITERS')
  add('shared-map.pml', 'SEQ', c.MapWord.SEQ, 'map/layout.ts MapWord.SEQ')
  add('shared-map.pml', 'JOURNAL_LEN', c.MapWord.JOURNAL_LEN, 'map/layout.ts MapWord.JOURNAL_LEN')
  add('wait-graph.pml', 'TID_MASK', c.TID_MASK, 'thread.ts TID_MASK')
  return rows
}

/**
 * Protocol lines the models assume, found in the source text (a change to
 * any of them means the model must be revisited). [file, regex, what, model
 * #define and the value the regex's first group must equal (optional)]
 */
const PROTOCOL_LINES = [
  ['src/state/view.ts', /this\.maxLag = this\.slots - (\d+)/, 'maxLag = slots - LAG_MARGIN', ['state-buffer.pml', 'LAG_MARGIN']],
  ['src/state/state-buffer.ts', /let slots = (\d+)\n/, 'smallest ring', ['state-buffer.pml', 'NSLOTS']],
  ['src/state/codec.ts', /if \(\(\(Atomics\.load\(words, pub\) - p1\) >>> 0\) <= maxLag\)/, 'readLatest accepts when PUB moved by <= maxLag'],
  ['src/state/view.ts', /if \(\(\(Atomics\.load\(this\.words, StateWord\.PUB\) - low\) >>> 0\) > this\.maxLag \|\| check !== version\) return false/, 'copyVersion re-checks PUB and the version'],
  ['src/state/view.ts', /if \(\(\(Atomics\.load\(this\.words, StateWord\.PUB\) - p1\) >>> 0\) <= this\.maxLag\) return version/, 'latestVersion validates by PUB'],
  ['src/sync/robust-word.ts', /function giveUp\(words: Int32Array, i: number\): AcquireResult \{\n\s*Atomics\.notify\(words, i, 1\)/, 'giveUp always passes a wake-up on'],
  ['src/sync/robust-word.ts', /extra = WAITERS/, 'a woken waiter acquires with WAITERS'],
  ['src/sync/condition.ts', /const seq = Atomics\.load\(words, ConditionWord\.SEQ\)\n\s*Atomics\.add\(words, ConditionWord\.WAITERS, 1\)/, 'wait reads SEQ, then counts itself in WAITERS, under the mutex'],
  ['src/sync/reader-slots.ts', /if \(Atomics\.compareExchange\(words, w \+ ReaderSlot\.OWNER, 0, tid\) === 0\) \{\n\s*this\.raiseSlotsUsed\(k \+ 1\)/, 'a reader raises SLOTS_USED when it claims its slot (before any add)'],
  ['src/map/writer.ts', /this\.record\(index, d32\[index\]!\)\n\s*d32\[index\] = value/, 'setData journals before it writes'],
  ['src/sync/wait-graph.ts', /const BEAT_SHIFT = (\d+)\n/, 'edge word: holder | verifications << BEAT_SHIFT', ['wait-graph.pml', 'BEAT_SHIFT']],
  ['src/sync/wait-graph.ts', /Atomics\.add\(words, WaitGraphWord\.EPISODE \+ this\.tid, 1\)\n\s*Atomics\.store\(words, at, holder\)\n/, 'a new episode: EPISODE + 1, then the edge'],
  ['src/sync/wait-graph.ts', /const episode = Atomics\.load\(words, WaitGraphWord\.EPISODE \+ tid\)\n\s*const edge = Atomics\.load\(words, WaitGraphWord\.EDGE \+ tid\)\n\s*if \(Atomics\.load\(words, WaitGraphWord\.EPISODE \+ tid\) === episode\)/, 'read(): EPISODE, EDGE, EPISODE until the episodes agree'],
  ['src/sync/wait-graph.ts', /const a = this\.snapshot\(cycle\)\n\s*const b = this\.snapshot\(cycle\)\n(?:\s*\/\/[^\n]*\n)*\s*if \(sameWaits\(a, b\) && formsCycle\(b\)\) this\.first = b\n/, 'phase A: b kept if it agrees with a and shows the cycle'],
  ['src/sync/wait-graph.ts', /if \(\(seen\[k\]!\.edge & TID_MASK\) !== seen\[\(k \+ 1\) % seen\.length\]!\.tid\) return false/, 'formsCycle: member k waits for member k + 1'],
  ['src/sync/wait-graph.ts', /& BEAT_MASK\) < (\d+)\) return undefined/, 'phase B: every member verified MIN_BEATS more times', ['wait-graph.pml', 'MIN_BEATS']],
  ['src/sync/wait-graph.ts', /if \(!sameWaits\(c, this\.snapshot\(members\)\)\) \{/, 'phase B: read again after the beats'],
  ['src/sync/wait-graph.ts', /return Math\.min\(\.\.\.members\) === this\.tid \? members : undefined/, 'the victim: the smallest tid of the cycle'],
  ['src/sync/robust-word.ts', /if \(deadline === Infinity\) \{\n(?:\s*\/\/[^\n]*\n)*\s*const cycle = \(edge \?\?= new WaitEdge\(domain\)\)\.beforeSleep\(s & TID_MASK\)/, 'acquire() without a deadline: beforeSleep(holder just read) before each sleep'],
  ['src/sync/robust-word.ts', /\} finally \{\n\s*edge\?\.clear\(\)/, 'acquire(): the edge cleared however the acquisition ends'],
]

async function checkConstants() {
  const problems = []
  const lines = []
  let code
  try {
    code = codeConstants()
  } catch (error) {
    return { problems: [`cannot read the code's constants: ${error.message}`], lines }
  }
  const defs = {}
  for (const row of constantChecks(code)) {
    defs[row.model] ??= definesOf(row.model)
    const got = defs[row.model][row.def]
    const ok = got === row.value
    lines.push(`${ok ? 'ok  ' : 'DRIFT'} ${row.model} #define ${row.def} ${got} <-> ${row.where} = ${row.value}`)
    if (!ok) problems.push(`${row.model}: #define ${row.def} is ${got}, the code's ${row.where} is ${row.value}`)
  }
  // The sliced-sleep abstraction needs every slice to end.
  const sliceOk = Number.isFinite(code.SLICE_MS) && code.SLICE_MS > 0
  lines.push(`${sliceOk ? 'ok  ' : 'DRIFT'} SLICED models: every sleep ends <-> wait.ts SLICE_MS = ${code.SLICE_MS} (finite, > 0)`)
  if (!sliceOk) problems.push(`wait.ts SLICE_MS = ${code.SLICE_MS}: the models' sliced sleeps assume a finite slice`)
  for (const [file, re, what, def] of PROTOCOL_LINES) {
    const m = readFileSync(join(ROOT, file), 'utf8').match(re)
    let ok = m !== null
    let detail = ''
    if (m && def) {
      defs[def[0]] ??= definesOf(def[0])
      ok = Number(m[1]) === defs[def[0]][def[1]]
      detail = ` (${def[0]} #define ${def[1]} ${defs[def[0]][def[1]]}, code ${m[1]})`
    }
    lines.push(`${ok ? 'ok  ' : 'DRIFT'} ${file}: ${what}${detail}`)
    if (!ok) problems.push(`${file}: expected the line the models mirror (${what})${detail}`)
  }
  try {
    const dist = await distConstants()
    if (dist === undefined) lines.push('note dist/ not built: constants taken from src/ only')
    else if (JSON.stringify(dist) !== JSON.stringify(code)) {
      lines.push('WARN dist/ differs from src/ (a stale build: run `npm run build`); src/ is what the models are checked against')
    } else lines.push('ok   dist/ agrees with src/')
  } catch (error) {
    lines.push(`note dist/ not importable (${error.message.split('\n')[0]}): constants taken from src/ only`)
  }
  return { problems, lines }
}

// ---------------------------------------------------------------------------
// Running SPIN

function sh(cmd, argv, cwd, timeoutMs) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined
    child.on('close', (status, signal) => {
      if (timer) clearTimeout(timer)
      resolvePromise({ status, signal, out })
    })
  })
}

function parsePan(out) {
  const num = (re) => {
    const m = out.match(re)
    return m ? Number(m[1]) : undefined
  }
  const kinds = []
  for (const [re, what] of [
    [/pan:1: assertion violated (.*?) \(at depth/, (m) => `assertion ${m[1]}`],
    [/pan:1: invalid end state/, () => 'invalid end state (a thread blocked for ever)'],
    [/pan:1: non-progress cycle/, () => 'non-progress cycle'],
    [/pan:1: acceptance cycle/, () => 'acceptance cycle'],
  ]) {
    const m = out.match(re)
    if (m) kinds.push(what(m))
  }
  return {
    errors: num(/errors: (\d+)/),
    states: num(/^\s*([\d.e+]+) states, stored/m),
    depth: num(/depth reached (\d+)/),
    seconds: num(/pan: elapsed time ([\d.e+]+) seconds/),
    incomplete: /max search depth too small|out of memory|reached -DMEMLIM/.test(out),
    kinds,
  }
}

/** Model temporaries, not worth a line of the trail. */
const NOISE = new Set(['g', 'fx_cnt', 'fx_who', 'it', 'k', 'o', 'used', 'n', 'i', 't', 'ok', 'touched_head', 'touched_ver', 'j', 'ep', 'bt', 'nx', 'cn'])

/**
 * The trail, reduced to the steps that change state (globals, and locals of
 * the stepping process) or enqueue / dequeue a sleeper, then where each
 * process ended.
 */
function abbreviateTrail(text, maxLines = 40) {
  const events = []
  const prev = new Map()
  let cur
  const flush = () => {
    // `x = 0` on a local only: a model resetting a dead temporary
    const reset = cur && /^[a-z_]\w* = 0$/.test(cur.statement) && cur.changes.every((c) => c.startsWith('local '))
    if (cur && !reset && (cur.changes.length > 0 || cur.always)) {
      events.push(`${cur.head}${cur.changes.length ? `   => ${cur.changes.join(' ')}` : ''}`)
    }
    cur = undefined
  }
  const tail = []
  let ended = false
  let failNext = false
  for (const line of text.split('\n')) {
    let m = line.match(/^\s*(\d+):\s+proc\s+(\d+) \((\w+):\d+\) (\S+):(\d+) \(state \d+\)\s+\[(.*)\]\s*$/)
    if (m && !ended) {
      flush()
      cur = { head: `${m[1].padStart(4)}  ${m[3]}[${m[2]}] ${m[4]}:${m[5]}  ${m[6]}`, statement: m[6], changes: [], always: failNext || /wq!|wq\?\?(eval|_)/.test(m[6]) }
      failNext = false
      continue
    }
    // -g: a global; -l: a local of the process that made the step, `T(2):s = 5`
    m = line.match(/^\t\t(?:(\w+)\((\d+)\):)?([A-Za-z_][\w[\]]*) = (.*)$/)
    if (m && cur) {
      const key = m[1] ? `${m[1]}(${m[2]}):${m[3]}` : m[3]
      if (prev.get(key) !== m[4]) {
        const first = !prev.has(key)
        prev.set(key, m[4])
        // -g prints a whole array when one element changes: skip the untouched zeros
        const untouched = first && m[4] === '0' && m[3].includes('[')
        if (!untouched && !NOISE.has(m[3])) cur.changes.push(`${m[1] ? 'local ' : ''}${m[3]}=${m[4]}`)
      }
      continue
    }
    if (/^spin: trail ends|^#processes/.test(line)) {
      flush()
      ended = true
      tail.push(line.trim())
      continue
    }
    if (/spin: .*(violated|Error)|text of failed assertion|<<<<<START OF CYCLE>>>>>/.test(line)) {
      flush()
      failNext = /Error|violated/.test(line)
      events.push(`      ${line.trim()}`)
      continue
    }
    if (ended && /^\s*\d+:\s+proc\s+\d+ \(/.test(line)) tail.push(`  blocked/at: ${line.trim()}`)
  }
  flush()
  let shown = events
  if (events.length > maxLines) {
    const head = Math.floor(maxLines / 3)
    shown = [...events.slice(0, head), `   ... (${events.length - maxLines} steps left out) ...`, ...events.slice(events.length - (maxLines - head))]
  }
  return [...shown, ...tail].join('\n')
}

async function runOne(run) {
  const dir = mkdtempSync(join(tmpdir(), 'threadstate-spin-'))
  for (const f of readdirSync(HERE)) if (f.endsWith('.pml')) copyFileSync(join(HERE, f), join(dir, f))
  const defs = run.defines.map((d) => `-D${d}`)
  const broken = run.expect !== 'pass'
  const started = Date.now()
  const result = { run, dir }
  try {
    const a = await sh('spin', ['-a', ...defs, run.model], dir)
    if (a.status !== 0 || !existsSync(join(dir, 'pan.c'))) throw new Error(`spin -a failed:\n${a.out}`)
    // Broken variants: breadth-first, for the shortest counterexample.
    const cflags = [
      ...(run.mode === PROGRESS ? ['-DNP'] : ['-DSAFETY', ...(broken && run.search !== 'dfs' ? ['-DBFS'] : [])]),
      `-DMEMLIM=${run.memlimMb ?? MEMLIM_MB}`, // stop (and report an incomplete search) rather than exhaust the machine
      ...(run.cflags ?? []),
    ]
    const c = await sh('gcc', ['-O2', '-w', ...cflags, '-o', 'pan', 'pan.c'], dir)
    if (c.status !== 0) throw new Error(`gcc failed:\n${c.out}`)
    const panArgs = ['-m1000000', '-n', ...(run.mode === PROGRESS ? ['-l', '-f'] : [])]
    const p = await sh('./pan', panArgs, dir, 20 * 60_000)
    result.pan = parsePan(p.out)
    result.panOut = p.out
    if (result.pan.errors === undefined) throw new Error(`pan did not finish (${p.signal ?? p.status}):\n${p.out.slice(-2000)}`)
    if (result.pan.errors > 0 && existsSync(join(dir, `${run.model}.trail`))) {
      const t = await sh('spin', ['-t', '-p', '-g', '-l', ...defs, run.model], dir)
      result.trail = abbreviateTrail(t.out)
    }
  } catch (error) {
    result.failure = error.message
  }
  result.wall = (Date.now() - started) / 1000
  const errors = result.pan?.errors
  result.ok =
    result.failure === undefined &&
    (run.expect === 'pass' ? errors === 0 && !result.pan.incomplete : errors > 0)
  if (!KEEP) rmSync(dir, { recursive: true, force: true })
  return result
}

async function pool(items, n, fn, onDone) {
  const results = new Array(items.length)
  let next = 0
  async function worker() {
    for (;;) {
      const i = next++
      if (i >= items.length) return
      results[i] = await fn(items[i])
      onDone(results[i])
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, n) }, worker))
  return results
}

function fmtStates(n) {
  if (n === undefined) return '-'
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n)
}

// ---------------------------------------------------------------------------

async function main() {
  if (!ensureTools()) process.exit(3)
  const spinVersion = spawnSync('spin', ['-V'], { encoding: 'utf8' }).stdout.trim()

  console.log('## Constants: models against the code\n')
  const constants = await checkConstants()
  console.log(constants.lines.map((l) => `    ${l}`).join('\n'))
  console.log()

  const runs = RUNS.filter((r) => (QUICK ? r.quick : DEEP || !r.deep)).filter((r) => ONLY === undefined || r.id.includes(ONLY))
  console.log(`## ${runs.length} SPIN runs (${spinVersion}; ${JOBS} at once${QUICK ? '; --quick' : ''})\n`)
  const started = Date.now()
  const results = await pool(runs, JOBS, runOne, (r) => {
    console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.run.id} (${r.wall.toFixed(1)} s)`)
  })

  for (const r of results) {
    if (!r.trail) continue
    console.log(`\n### Trail of ${r.run.id} (${r.pan.kinds.join('; ') || 'error'})`)
    console.log("steps that change state (spin -t -p -g -l, abbreviated: 'local' = a variable of the stepping process); [pid] is the process, tid = pid + 1 in the lock models\n")
    console.log(r.trail.split('\n').map((l) => `    ${l}`).join('\n'))
  }
  for (const r of results) {
    if (r.failure) console.log(`\n### ${r.run.id}: could not run\n${r.failure}`)
  }

  console.log('\n## Results\n')
  console.log('| model | run | property | states | depth | time (pan / wall) | result | expected | |')
  console.log('|---|---|---|---:|---:|---|---|---|---|')
  for (const r of results) {
    const model = r.run.model.replace('.pml', '')
    const variant = r.run.id.includes('/') ? r.run.id.slice(r.run.id.indexOf('/') + 1) : 'base'
    const mode =
      r.run.mode === PROGRESS
        ? 'NP, weak fairness'
        : r.run.expect === 'pass'
          ? 'safety + invalid end states'
          : `safety + invalid end states (${r.run.search === 'dfs' ? 'DFS' : 'BFS'})`
    const p = r.pan
    const result = r.failure
      ? 'could not run'
      : p.errors === 0
        ? p.incomplete
          ? '0 errors, INCOMPLETE search'
          : '0 errors'
        : `${p.errors} error: ${p.kinds.join('; ')}`
    const expected =
      r.run.expect === 'pass'
        ? '0 errors'
        : r.run.expect === 'fail'
          ? 'error (broken variant)'
          : r.run.expect === 'witness'
            ? 'error (a witness: the trail)'
            : `error (finding: ${r.run.note})`
    console.log(
      `| ${model} | ${variant} \`${r.run.defines.join(' ')}\` | ${r.run.property}; ${mode} | ${fmtStates(p?.states)} | ${p?.depth ?? '-'} | ${p?.seconds ?? '-'} s / ${r.wall.toFixed(1)} s | ${result} | ${expected} | ${r.ok ? 'ok' : '**NOT AS EXPECTED**'} |`,
    )
  }
  const bad = results.filter((r) => !r.ok)
  console.log(
    `\n${results.length - bad.length} of ${results.length} runs as expected, constants ${constants.problems.length === 0 ? 'in step with the code' : 'DRIFTED'}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
  for (const p of constants.problems) console.log(`constant drift: ${p}`)
  process.exit(bad.length === 0 && constants.problems.length === 0 ? 0 : 1)
}

await main()
