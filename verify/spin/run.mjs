#!/usr/bin/env node
/**
 * Runs the Promela models of verify/spin with SPIN and prints one table.
 *
 *   node verify/spin/run.mjs            every run (a few minutes)
 *   node verify/spin/run.mjs --quick    a bounded subset (~40 s of CPU), used by test/spin.test.ts
 *   node verify/spin/run.mjs --deep     also the long runs (minutes each)
 *   options: --only SUBSTRING   runs whose id contains it
 *            --keep             keep the temporary directories (pan.c, trails)
 *            --jobs N           runs at once (default: 2, or 1 on one core)
 *
 * For each run: `spin -a -D... model.pml`, `gcc -O0 [-DSAFETY | -DNP] pan.c`
 * (-O1 / -O2 for the runs of millions of states), `./pan -m... [-l -f]` in
 * a temporary directory; parses errors, states
 * stored, depth and time. A good model must report 0 errors over a complete
 * search; a broken variant must report an error, and its counterexample
 * trail (`spin -t -p -g -l`, reduced to the steps that change state) is
 * printed. Before any run, the layout constants #defined in the models are
 * compared with the code's (src/ modules bundled with esbuild and evaluated,
 * so layouts built with LayoutPlan are read as the code computes them; the
 * built dist/ is cross-checked when present, and used when esbuild is not
 * installed), and the protocol lines the models mirror are looked for in
 * src/ (src/sync/seqlock.ts above all). Exit status: 0 all as expected, 1
 * something not as expected, 3 spin or gcc missing and not installable here.
 *
 * No build step: plain Node ESM; esbuild (a devDependency) to read src/.
 */
import { spawnSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
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

/** @type {Array<{id: string, model: string, defines: string[], cflags?: string[], opt?: string, memlimMb?: number, search?: 'dfs', mode: string, property: string, expect: 'pass'|'fail'|'finding'|'witness', quick?: boolean, deep?: boolean, note?: string}>} */
const RUNS = [
  // ---- Mutex (mutex.pml + robust-word.pml) ----
  {
    id: 'mutex',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=1'],
    opt: '-O1',
    mode: SAFETY,
    property: 'mutual exclusion; no lost wake-up with unsliced sleeps (3 threads, one lock(timeout) that may give up)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'mutex/owner-died',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'DEATHS=1', 'SLICED=1'],
    opt: '-O2',
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
    opt: '-O2',
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
    opt: '-O1',
    mode: SAFETY,
    property: 'no lost wake-up with unsliced sleeps when a lockAsync waiter is aborted',
    expect: 'pass',
  },
  {
    id: 'mutex/BUG_GIVEUP_CHECKS_WAITERS',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=2', 'BUG_GIVEUP_CHECKS_WAITERS'],
    opt: '-O1',
    mode: SAFETY,
    property: 'broken (the code before the SPIN finding): giveUp() passes the wake-up on only if WAITERS is set',
    expect: 'fail',
  },
  {
    id: 'mutex/abort-sliced',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=2', 'SLICED=1'],
    opt: '-O1',
    mode: SAFETY,
    property: 'the same with 50 ms slices: nobody stuck (the slice recovers it)',
    expect: 'pass',
  },
  {
    id: 'mutex/BUG_NO_WAITERS_AFTER_WAKE',
    model: 'mutex.pml',
    defines: ['NT=3', 'ITERS=1', 'BUG_NO_WAITERS_AFTER_WAKE'],
    opt: '-O1',
    mode: SAFETY,
    property: 'broken: a woken waiter acquires without WAITERS',
    expect: 'fail',
  },
  {
    id: 'mutex/BUG_RELEASE_NO_NOTIFY',
    model: 'mutex.pml',
    defines: ['NT=2', 'ITERS=1', 'BUG_RELEASE_NO_NOTIFY'],
    mode: SAFETY,
    property: 'broken: release without the WAITERS check / notify',
    expect: 'fail',
    quick: true,
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
  // ---- Fair locks: the FIFO ticket queue (fair-queue.pml; src/sync/fair-queue.ts, fairAcquiring) ----
  {
    id: 'fair-queue',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=1', 'TIMED=1'],
    mode: SAFETY,
    property: 'fair Mutex, 3 threads, one whose deadline passes or signal aborts at any sleep: mutual exclusion; FIFO (only the head takes the word; HEAD only rises, moved by the owner of the turn alone, never past NEXT, never over a live waiter); a barging arrival found every earlier ticket passed; the ring of 2 wraps and fills (room wait); no lost wake-up (unsliced)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'fair-queue/death-2t',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=2', 'DEATHS=1', 'SLICED=1', 'TIMED=1'],
    mode: SAFETY,
    property: 'a thread killed at any termination point (between its slot claim and its CAS of NEXT, as head, holding the word, mid-advance, mid-skip) while the other may time out: the same; its entry skipped (skipDead), its word taken over; nobody stuck',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'fair-queue/3t-death',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=1', 'DEATHS=1', 'SLICED=1', 'TIMED=1', 'SPARE=1'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O2',
    mode: SAFETY,
    property: 'the same with 3 threads (one killed anywhere, one timed), and a slice that may end once at any moment per thread (a re-check that finds nothing)',
    expect: 'pass',
  },
  {
    id: 'fair-queue/3t-wrap',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=2', 'LONG=2', 'TIMED=2'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O2',
    mode: SAFETY,
    property: '3 threads, 5 acquisitions (tickets to 4 on 2 slots: the second lap, generations told apart), two threads timed or aborted anywhere: mutual exclusion, FIFO, HEAD, no lost wake-up (unsliced)',
    expect: 'pass',
  },
  {
    id: 'fair-queue/3t-death-long',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=2', 'LONG=1', 'DEATHS=1', 'VICTIM=2', 'SLICED=1', 'TIMED=1'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O2',
    mode: SAFETY,
    property: '3 threads (the first locks twice), thread 2 killed anywhere, thread 3 timed: the ring wraps and fills with a dead entry; nobody stuck, the room wait included (it looks at the head: the fix of finding room-wedge)',
    expect: 'pass',
  },
  {
    id: 'fair-queue/BUG_ROOM_NO_SKIP',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=2', 'LONG=1', 'DEATHS=1', 'VICTIM=2', 'SLICED=1', 'TIMED=1', 'BUG_ROOM_NO_SKIP'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O1',
    mode: SAFETY,
    property: 'the room wait as first written (no skipDead): nobody stuck',
    expect: 'fail',
    note: 'finding room-wedge (fixed): a dead head (or a claimer killed between its claim and its HEAD store) with every other ticket of a full ring left or dead, and nobody queued: every arrival waits for room for ever (2 slots here, 256 in the code)',
  },
  {
    id: 'fair-queue/3t-death-long-any',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=2', 'LONG=1', 'DEATHS=1', 'SLICED=1', 'TIMED=1'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O2',
    mode: SAFETY,
    property: '3t-death-long with any thread killed, the room wait checked (~2.6e7 states)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'fair-queue/two-deaths',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=1', 'DEATHS=2', 'SLICED=1', 'TIMED=1'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O2',
    mode: SAFETY,
    property: 'two of 3 threads killed anywhere, the third timed: the survivor gets through (~2.3e7 states)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'fair-queue/full-word',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=2', 'TIMED=1', 'FULL_WORD'],
    mode: SAFETY,
    property: 'the word as robust-word.pml has it (WAITERS, sleeps on the word, giveUp, OWNER_DIED): no lost wake-up across the queue and the word (unsliced), a timed head giving up',
    expect: 'pass',
  },
  {
    id: 'fair-queue/full-word-death',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=2', 'DEATHS=1', 'SLICED=1', 'TIMED=1', 'FULL_WORD'],
    opt: '-O1',
    mode: SAFETY,
    property: 'the same with a thread killed anywhere: OWNER_DIED told once, through the queue; nobody stuck',
    expect: 'pass',
  },
  {
    id: 'fair-queue/progress',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=0'],
    mode: PROGRESS,
    property: 'no non-progress cycle under weak fairness (fair lock/unlock forever; tickets modulo 8)',
    expect: 'pass',
  },
  {
    id: 'fair-queue/progress-death',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=0', 'DEATHS=1', 'SLICED=1'],
    opt: '-O1',
    mode: PROGRESS,
    property: 'no non-progress cycle when a thread is killed anywhere (the survivor goes on)',
    expect: 'pass',
  },
  {
    id: 'fair-queue/BUG_PROMOTE_FIRST',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=2', 'TIMED=1', 'BUG_PROMOTE_FIRST'],
    mode: SAFETY,
    property: 'broken: advance CASes the next entry to TURN and notifies before it stores HEAD (the promoted waiter times out, finds TURN, advances from its ticket: HEAD moved by two owners)',
    expect: 'fail',
  },
  {
    id: 'fair-queue/BUG_SKIP_NO_HEAD_CHECK',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=2', 'DEATHS=1', 'SLICED=1', 'BUG_SKIP_NO_HEAD_CHECK'],
    mode: SAFETY,
    property: 'broken: skipDead does not read HEAD again after seeing the owner dead (a head that passed and then died is taken over from a stale HEAD: HEAD stored by a second owner of the turn)',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'fair-queue/BUG_LEAVE_NO_RECHECK',
    model: 'fair-queue.pml',
    defines: ['NT=2', 'ITERS=2', 'DEATHS=1', 'SLICED=1', 'TIMED=1', 'BUG_LEAVE_NO_RECHECK'],
    mode: SAFETY,
    property: 'broken: leave does not look at HEAD after cancelling (caught by Final only, and only with a death: the thread that stored HEAD is killed before it looks at the slot; the waiter cancels after that store and leaves its turn to the next arrival)',
    expect: 'fail',
  },
  {
    id: 'fair-queue/BUG_NO_GEN',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=2', 'LONG=2', 'TIMED=2', 'BUG_NO_GEN'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O1',
    mode: SAFETY,
    property: 'broken: no generation in the slots (a stale entry of the lap before is taken for a claim of the current ticket: NEXT helped past tickets nobody holds, the queue stalls)',
    expect: 'fail',
  },
  {
    id: 'fair-queue/BUG_TICKET_FIRST',
    model: 'fair-queue.pml',
    defines: ['NT=3', 'ITERS=1', 'DEATHS=1', 'SLICED=1', 'BUG_TICKET_FIRST'],
    cflags: ['-DCOLLAPSE'],
    opt: '-O1',
    mode: SAFETY,
    property: 'broken (the first version, before eec3bfa): CAS NEXT, then store the entry; a thread killed at the store leaves a ticket with no entry, nobody can skip it',
    expect: 'fail',
  },
  // ---- RWLock (rwlock.pml + robust-word.pml) ----
  {
    id: 'rwlock/2r1w',
    model: 'rwlock.pml',
    defines: ['NR=2', 'NWR=1'],
    opt: '-O1',
    mode: SAFETY,
    property: 'readers/writer exclusion; no lost wake-up on STATE or DRAIN (unsliced); slot claiming and SLOTS_USED',
    expect: 'pass',
  },
  {
    id: 'rwlock/1r2w',
    model: 'rwlock.pml',
    defines: ['NR=1', 'NWR=2'],
    opt: '-O1',
    mode: SAFETY,
    property: 'the same with two writers',
    expect: 'pass',
  },
  {
    id: 'rwlock/1r1w-death',
    model: 'rwlock.pml',
    defines: ['NR=1', 'NWR=1', 'DEATHS=1', 'SLICED=1'],
    opt: '-O1',
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
    opt: '-O2',
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
  // ---- RWLock readers without a slot: the OVERFLOW counter and the overflow ledger (rwlock-overflow.pml) ----
  {
    id: 'rwlock-overflow/2r1d',
    model: 'rwlock-overflow.pml',
    defines: ['NR=2', 'NEST=2', 'DEATHS=1'],
    mode: SAFETY,
    property: 'slotless readers (nested) killed at any termination point: a dead reader\'s holds reclaimed from its ledger entry, never a live one\'s; the writer never inside with a live reader; nobody stuck',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'rwlock-overflow/3r2d',
    model: 'rwlock-overflow.pml',
    defines: ['NR=3', 'NEST=2', 'DEATHS=2'],
    memlimMb: 8192,
    mode: SAFETY,
    property: 'the same with 3 readers, 2 of them killed (~4.5e7 states)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'rwlock-overflow/BUG_ENTRY_FIRST',
    model: 'rwlock-overflow.pml',
    defines: ['NR=2', 'BUG_ENTRY_FIRST'],
    mode: SAFETY,
    property: 'broken: a leaving hold takes its entry off before OVERFLOW (killed between: OVERFLOW raised for ever)',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'rwlock-overflow/BUG_NO_SWEEP',
    model: 'rwlock-overflow.pml',
    defines: ['NR=2', 'BUG_NO_SWEEP'],
    mode: SAFETY,
    property: 'broken: no ledger sweep (the counter alone, as before): a dead reader\'s holds never leave',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'rwlock-overflow/BUG_COUNT_AFTER_ENTRY',
    model: 'rwlock-overflow.pml',
    defines: ['NR=2', 'BUG_COUNT_AFTER_ENTRY'],
    mode: SAFETY,
    property: 'broken: a new hold recorded in the entry before OVERFLOW (killed between: the reclaim takes a live hold)',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'rwlock/BUG_LEAVE_NO_DRAIN',
    model: 'rwlock.pml',
    defines: ['NR=2', 'NWR=1', 'BUG_LEAVE_NO_DRAIN'],
    opt: '-O1',
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
  // ---- The read protocol on its own (seqlock-ring.pml, seqlock-word.pml + seqlock.pml) ----
  {
    id: 'seqlock-ring',
    model: 'seqlock-ring.pml',
    defines: ['NW=1', 'NU=4', 'DEATHS=0'],
    mode: SAFETY,
    property: 'VersionRing: read() accepts only a whole copy of the version PUB named (budgets of 1 retry and of none: the starved exit), readVersion(k) returns version k whole or undefined, versions never go back (S=4, slot words written and copied in either order, 4 publishes)',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'seqlock-ring/writer-death',
    model: 'seqlock-ring.pml',
    defines: ['NW=2', 'NU=2', 'DEATHS=1', 'VREADER=0'],
    opt: '-O1',
    mode: SAFETY,
    property: 'a writer killed at any point: readers keep the last complete version (the half-filled slot is never accepted), the next writer rewrites it, nobody stalls',
    expect: 'pass',
  },
  {
    id: 'seqlock-ring/writer-death-version',
    model: 'seqlock-ring.pml',
    defines: ['NW=2', 'NU=1', 'DEATHS=1'],
    opt: '-O1',
    mode: SAFETY,
    property: 'the same with readVersion(k) of any k, the version of the half-filled slot included',
    expect: 'pass',
  },
  {
    id: 'seqlock-ring/BUG_LAG_OFF_BY_ONE',
    model: 'seqlock-ring.pml',
    defines: ['NW=1', 'NU=4', 'DEATHS=0', 'BUG_LAG_OFF_BY_ONE'],
    mode: SAFETY,
    property: 'broken: maxLag = S - 1 (a copy accepted when PUB moved by S - 1: the writer may be refilling that slot)',
    expect: 'fail',
  },
  {
    id: 'seqlock-ring/BUG_RING_VALIDATE_BEFORE_COPY',
    model: 'seqlock-ring.pml',
    defines: ['NW=1', 'NU=4', 'DEATHS=0', 'BUG_RING_VALIDATE_BEFORE_COPY'],
    mode: SAFETY,
    property: 'broken: read() re-checks PUB before the copy instead of after it',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'seqlock-ring/BUG_READVERSION_NO_PRECHECK',
    model: 'seqlock-ring.pml',
    defines: ['NW=1', 'NU=4', 'DEATHS=0', 'BUG_READVERSION_NO_PRECHECK'],
    mode: SAFETY,
    property: 'broken: readVersion(k) copies without its first PUB check (a slot the writer is filling with k, version word first, passes the re-check once k is published)',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'seqlock-ring/BUG_PUBLISH_BEFORE_FILL',
    model: 'seqlock-ring.pml',
    defines: ['NW=1', 'NU=4', 'DEATHS=0', 'BUG_PUBLISH_BEFORE_FILL'],
    mode: SAFETY,
    property: 'broken: the writer stores PUB before filling the slot',
    expect: 'fail',
  },
  {
    id: 'seqlock-word',
    model: 'seqlock-word.pml',
    defines: ['NW=2', 'NU=1', 'DEATHS=1', 'TRIES=2'],
    mode: SAFETY,
    property: 'SeqWord over a structure: read() (2 tries, then the read under the writer lock) accepts only whole states, values never go back; a writer killed at any point leaves the word odd: readers give up and the locked read recovers (rollback, word even + 1), nobody stalls',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'seqlock-word/2x2',
    model: 'seqlock-word.pml',
    defines: ['NW=2', 'NU=2', 'DEATHS=0', 'TRIES=2'],
    mode: SAFETY,
    property: 'the same, two writers of two writes each, nobody killed',
    expect: 'pass',
  },
  {
    id: 'seqlock-word/entry',
    model: 'seqlock-word.pml',
    defines: ['ENTRY=1', 'NE=2', 'DEATHS=1'],
    mode: SAFETY,
    property: 'SeqWord per entry: readEntry(k) returns version k whole or undefined while the writer rewrites the entry (claimEntry to its busy mark, fields, releaseEntry(k)); the writer killed mid-write leaves it busy: readers get undefined, nobody stalls',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'seqlock-word/BUG_SEQ_VALIDATE_BEFORE_COPY',
    model: 'seqlock-word.pml',
    defines: ['NW=2', 'NU=1', 'DEATHS=1', 'TRIES=2', 'BUG_SEQ_VALIDATE_BEFORE_COPY'],
    mode: SAFETY,
    property: 'broken: SeqWord.read validates the word before the attempt instead of after it',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'seqlock-word/BUG_END_BEFORE_DATA',
    model: 'seqlock-word.pml',
    defines: ['NW=2', 'NU=1', 'DEATHS=1', 'TRIES=2', 'BUG_END_BEFORE_DATA'],
    mode: SAFETY,
    property: 'broken: the writer calls endWrite before its changes',
    expect: 'fail',
  },
  {
    id: 'seqlock-word/BUG_ACCEPT_ODD',
    model: 'seqlock-word.pml',
    defines: ['NW=2', 'NU=1', 'DEATHS=1', 'TRIES=2', 'BUG_ACCEPT_ODD'],
    mode: SAFETY,
    property: 'broken: SeqWord.read attempts (and accepts) at an odd word',
    expect: 'fail',
  },
  {
    id: 'seqlock-word/BUG_WAIT_FOR_EVEN',
    model: 'seqlock-word.pml',
    defines: ['NW=2', 'NU=1', 'DEATHS=1', 'TRIES=2', 'BUG_WAIT_FOR_EVEN'],
    mode: SAFETY,
    property: 'broken: SeqWord.begin() waits for an even word instead of giving up after ODD_SPIN loads (a writer killed mid-write stalls the reader)',
    expect: 'fail',
  },
  {
    id: 'seqlock-word/entry-BUG_ENTRY_NO_PRECHECK',
    model: 'seqlock-word.pml',
    defines: ['ENTRY=1', 'NE=2', 'DEATHS=1', 'BUG_ENTRY_NO_PRECHECK'],
    mode: SAFETY,
    property: 'broken: readEntry reads without its first check of the entry word',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'seqlock-word/entry-BUG_ENTRY_NO_BUSY',
    model: 'seqlock-word.pml',
    defines: ['ENTRY=1', 'NE=2', 'DEATHS=1', 'BUG_ENTRY_NO_BUSY'],
    mode: SAFETY,
    property: 'broken: the writer rewrites an entry without claiming it first (no busy mark)',
    expect: 'fail',
  },
  // ---- StateBuffer (state-buffer.pml + seqlock.pml) ----
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
    opt: '-O1',
    mode: SAFETY,
    property: 'a writer killed at any point: no torn copy, the other writer takes over, readers never stall',
    expect: 'pass',
  },
  {
    id: 'state-buffer/wait-for-version',
    model: 'state-buffer.pml',
    defines: ['NW=2', 'NU=2', 'DEATHS=1', 'LATEST=0', 'HISTORY=0'],
    opt: '-O1',
    mode: SAFETY,
    property: 'waitForVersion: no lost wake-up (unsliced), with a writer killed at any point',
    expect: 'pass',
  },
  {
    id: 'state-buffer/BUG_WAKE_BEFORE_STORE',
    model: 'state-buffer.pml',
    defines: ['NW=1', 'NU=2', 'DEATHS=0', 'LATEST=0', 'HISTORY=0', 'BUG_WAKE_BEFORE_STORE'],
    mode: SAFETY,
    property: 'broken: the writer reads WAITERS before it stores PUB (a waiter counted in between sleeps for ever)',
    expect: 'fail',
    quick: true,
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
  // ---- SharedMap (shared-map.pml + seqlock.pml) ----
  {
    id: 'shared-map',
    model: 'shared-map.pml',
    defines: ['NWM=2', 'DEATHS=1'],
    opt: '-O1',
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
  {
    id: 'shared-map/BUG_RECOVER_SEQ_BACK',
    model: 'shared-map.pml',
    defines: ['NWM=2', 'DEATHS=1', 'BUG_RECOVER_SEQ_BACK'],
    mode: SAFETY,
    property: 'broken: recovery puts SEQ back to its value before the dead commit (odd - 1) instead of on (odd + 1): a reader that began before it validates a torn copy',
    expect: 'fail',
  },
  // ---- StateMachine log (state-machine.pml + seqlock.pml) ----
  {
    id: 'state-machine',
    model: 'state-machine.pml',
    defines: ['NT=2', 'LOG=2', 'DEATHS=1'],
    mode: SAFETY,
    property: 'transition log, one winner per entry (LOG >= transitions): readEntry(seq) returns transition seq\'s entry whole or undefined; a winner killed mid-record leaves its entry busy, nobody stalls',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'state-machine/log-wrap',
    model: 'state-machine.pml',
    defines: ['NT=2', 'LOG=1', 'DEATHS=0'],
    mode: SAFETY,
    property: 'the log wrapping during a record (the SPIN finding, fixed): the winners of seq and seq + LOG write the same entry; with the claim, one writer at a time, a newer lap never overwritten, no torn entry accepted',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'state-machine/log-wrap-death',
    model: 'state-machine.pml',
    defines: ['NT=2', 'LOG=1', 'DEATHS=1'],
    mode: SAFETY,
    property: 'the same with a writer killed at any point: its busy mark is left alone while it is not marked dead and taken over once it is; no torn entry, nobody stalls',
    expect: 'pass',
    quick: true,
  },
  {
    id: 'state-machine/log-wrap-3t',
    model: 'state-machine.pml',
    defines: ['NT=3', 'LOG=1', 'DEATHS=0'],
    opt: '-O2',
    mode: SAFETY,
    property: 'three winners of one entry (LOG = 1)',
    expect: 'pass',
  },
  {
    id: 'state-machine/3t-death',
    model: 'state-machine.pml',
    defines: ['NT=3', 'LOG=2', 'DEATHS=1'],
    opt: '-O2',
    mode: SAFETY,
    property: 'three transitions, seq 1 and 3 sharing an entry, one writer killed at any point',
    expect: 'pass',
  },
  {
    id: 'state-machine/log-wrap-3t-death',
    model: 'state-machine.pml',
    defines: ['NT=3', 'LOG=1', 'DEATHS=1'],
    opt: '-O2',
    mode: SAFETY,
    property: 'three winners of one entry, one killed at any point (~2.4e7 states, ~4 GB)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'state-machine/BUG_LOG_NO_CLAIM',
    model: 'state-machine.pml',
    defines: ['NT=2', 'LOG=1', 'DEATHS=0', 'BUG_LOG_NO_CLAIM'],
    mode: SAFETY,
    property: 'broken (the code before the SPIN finding log-wrap): record() marks the entry busy with a plain store of -1, writes, stores seq, without claiming it: the older winner\'s endWrite(seq) erases the newer one\'s busy mark while the newer is still writing',
    expect: 'fail',
    quick: true,
  },
  {
    id: 'state-machine/BUG_CLAIM_NEWER',
    model: 'state-machine.pml',
    defines: ['NT=2', 'LOG=1', 'DEATHS=0', 'BUG_CLAIM_NEWER'],
    mode: SAFETY,
    property: 'broken: the claim takes any complete value, newer laps included (a late winner overwrites a newer complete entry)',
    expect: 'fail',
  },
  {
    id: 'state-machine/BUG_TAKEOVER_LIVE',
    model: 'state-machine.pml',
    defines: ['NT=2', 'LOG=1', 'DEATHS=0', 'BUG_TAKEOVER_LIVE'],
    mode: SAFETY,
    property: 'broken: a busy mark is taken over without asking whether its thread is dead (two writers in one entry)',
    expect: 'fail',
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
    opt: '-O1',
    mode: SAFETY,
    property: 'the walk follows T2\'s edge to T1, who has released the lock (now T3\'s), before T2 re-reads it: no report (every report of thread 1)',
    expect: 'pass',
  },
  {
    id: 'wait-graph/stale-holder-BUG_NO_CYCLE_CHECK',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=2', 'PROG=3', 'DETECTORS=1', 'BUG_NO_CYCLE_CHECK'],
    opt: '-O1',
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
    opt: '-O2',
    mode: SAFETY,
    property: '3 threads, any programs (2, 2 and 1 acquisitions of 2 locks; every report of thread 1): no false report, one report per cycle',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'wait-graph/ring3',
    model: 'wait-graph.pml',
    defines: ['NT=3', 'NL=3', 'PROG=1', 'DETECTORS=1'],
    opt: '-O1',
    mode: SAFETY,
    property: 'a ring of 3 (thread k takes lock k, then k + 1): no false report, one report per 3-cycle',
    expect: 'pass',
  },
  {
    id: 'wait-graph/bmask7',
    model: 'wait-graph.pml',
    defines: ['NT=2', 'NL=2', 'ACQ=2', 'BMASK=7'],
    opt: '-O1',
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
    opt: '-O2',
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
    opt: '-O1',
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

  // ---- Thread ids reused once nothing names them (thread-reuse.pml; memory/thread.ts) ----
  {
    id: 'thread-reuse/holders',
    model: 'thread-reuse.pml',
    defines: ['NINC=4', 'NIDS=3', 'ITERS=1', 'DEATHS=1', 'KILL_HOLDERS=1'],
    opt: '-O2',
    mode: SAFETY,
    property: '4 threads on 3 ids, a holder killed, its id reused by the 4th: mutual exclusion, no thread finds its id in a word it never wrote, no id reused while the word names it',
    expect: 'pass',
  },
  {
    id: 'thread-reuse/kill-anywhere',
    model: 'thread-reuse.pml',
    defines: ['NINC=4', 'NIDS=3', 'ITERS=1', 'DEATHS=1'],
    opt: '-O2',
    mode: SAFETY,
    property: 'as above, the thread killed at any point (mid-count, mid-pin, mid-takeover, holding)',
    expect: 'pass',
    deep: true,
  },
  {
    id: 'thread-reuse/BUG_NO_COUNT',
    model: 'thread-reuse.pml',
    defines: ['NINC=4', 'NIDS=3', 'ITERS=1', 'DEATHS=1', 'KILL_HOLDERS=1', 'BUG_NO_COUNT'],
    opt: '-O2',
    mode: SAFETY,
    property: 'broken: any dead id is reused at once (a plain free list): the new thread finds its id in the lock word (DeadlockError on a lock it never took)',
    expect: 'fail',
    search: 'dfs',
    quick: true,
  },
  {
    id: 'thread-reuse/BUG_NO_PIN',
    model: 'thread-reuse.pml',
    defines: ['NINC=4', 'NIDS=3', 'ITERS=1', 'DEATHS=1', 'KILL_HOLDERS=1', 'BUG_NO_PIN'],
    opt: '-O2',
    mode: SAFETY,
    property: 'broken: a takeover CASes the value it loaded without pinning the dead id: the id is reused and relocked in between, two hold the lock',
    expect: 'fail',
    search: 'dfs',
    quick: true,
  },
  {
    id: 'thread-reuse/BUG_CHECK_FIRST',
    model: 'thread-reuse.pml',
    defines: ['NINC=5', 'NIDS=3', 'ITERS=1', 'DEATHS=1', 'KILL_HOLDERS=1', 'BUG_CHECK_FIRST'],
    opt: '-O2',
    mode: SAFETY,
    property: 'broken: the joiner trusts the count of its scan and claims without checking again: the id died again, holding, in between',
    expect: 'fail',
    search: 'dfs',
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

/** The src/ modules whose exports the models' #defines mirror. */
const CONSTANT_MODULES = [
  'memory/layout',
  'memory/thread',
  'sync/robust-word',
  'sync/fair-queue',
  'sync/wait',
  'sync/robust-lock',
  'sync/rwlock',
  'sync/condition',
  'state/layout',
  'map/layout',
  'snapshot/layout',
  'machine/layout',
]

/**
 * The modules' exports as src/ has them now: each file bundled with esbuild
 * (a devDependency; `#platform` resolves through tsconfig's `paths`) and
 * imported. The layouts are evaluated, not parsed: they are built with
 * LayoutPlan (src/memory/fields.ts), their offsets computed from byte sizes
 * when the module loads. A module that does not build or load is reported
 * with its error. Undefined when esbuild is not installed.
 */
async function srcModules() {
  let esbuild
  try {
    esbuild = await import('esbuild')
  } catch {
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'threadstate-spin-src-'))
  try {
    const out = {}
    await Promise.all(
      CONSTANT_MODULES.map(async (name) => {
        try {
          const built = await esbuild.build({
            entryPoints: [join(ROOT, 'src', `${name}.ts`)],
            absWorkingDir: ROOT,
            bundle: true,
            write: false,
            format: 'esm',
            platform: 'node',
            logLevel: 'silent',
          })
          const file = join(dir, `${name.replace('/', '-')}.mjs`)
          writeFileSync(file, built.outputFiles[0].text)
          out[name] = await import(pathToFileURL(file).href)
        } catch (error) {
          out[name] = { error: String(error.message).split('\n')[0] }
        }
      }),
    )
    return out
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The same modules from the built dist/ (a cross-check of a stale build); undefined when not built. */
async function distModules() {
  if (!existsSync(join(ROOT, 'dist/sync/seqlock.js'))) return undefined
  const out = {}
  for (const name of CONSTANT_MODULES) {
    try {
      out[name] = await import(pathToFileURL(join(ROOT, 'dist', `${name}.js`)).href)
    } catch (error) {
      out[name] = { error: String(error.message).split('\n')[0] }
    }
  }
  return out
}

/** `module:Export.path` of a set of modules (undefined if missing). */
function pick(mods, ref) {
  const [mod, path] = ref.split(':')
  let v = mods[mod]
  for (const k of path.split('.')) v = v?.[k]
  return v
}

/** [model, #define, the code's constant as module:Export.path] */
const CONSTANTS = [
  ...['mutex.pml', 'rwlock.pml'].flatMap((model) => [
    [model, 'WAITERS', 'sync/robust-word:WAITERS'],
    [model, 'OWNER_DIED', 'sync/robust-word:OWNER_DIED'],
    [model, 'TID_MASK', 'memory/thread:TID_MASK'],
    [model, 'ALIVE', 'memory/thread:ThreadState.Alive'],
    [model, 'DEAD', 'memory/thread:ThreadState.Dead'],
  ]),
  ['thread-reuse.pml', 'UNUSED', 'memory/thread:ThreadState.Unused'],
  ['thread-reuse.pml', 'ALIVE', 'memory/thread:ThreadState.Alive'],
  ['thread-reuse.pml', 'DEAD', 'memory/thread:ThreadState.Dead'],
  ['thread-reuse.pml', 'REUSING', 'memory/thread:ThreadState.Reusing'],
  ['mutex.pml', 'HEADER_WORDS', 'memory/layout:Header.WORDS'],
  ['mutex.pml', 'STATE', 'sync/robust-lock:MutexWord.STATE'],
  ['mutex.pml', 'DEAD_OWNER', 'sync/robust-lock:MutexWord.DEAD_OWNER'],
  ['rwlock.pml', 'STATE', 'sync/rwlock:RWLockWord.STATE'],
  ['rwlock.pml', 'DEAD_OWNER', 'sync/rwlock:RWLockWord.DEAD_OWNER'],
  ['rwlock.pml', 'DRAIN', 'sync/rwlock:RWLockWord.DRAIN'],
  ['rwlock.pml', 'SLOTS_USED', 'sync/rwlock:RWLockWord.SLOTS_USED'],
  ['condition.pml', 'C_SEQ', 'sync/condition:ConditionWord.SEQ'],
  ['condition.pml', 'C_WAITERS', 'sync/condition:ConditionWord.WAITERS'],
  ['seqlock-ring.pml', 'NSLOTS', 'snapshot/layout:SNAPSHOT_SLOTS'],
  ['state-buffer.pml', 'PUB', 'state/layout:StateWord.PUB'],
  ['state-buffer.pml', 'S_WAITERS', 'state/layout:StateWord.WAITERS'],
  ['shared-map.pml', 'SEQ', 'map/layout:MapWord.SEQ'],
  ['shared-map.pml', 'JOURNAL_LEN', 'map/layout:MapWord.JOURNAL_LEN'],
  ['state-machine.pml', 'BUSY', 'machine/layout:ENTRY_BUSY'],
  ['seqlock-word.pml', 'BUSY', 'machine/layout:ENTRY_BUSY'],
  ['wait-graph.pml', 'TID_MASK', 'memory/thread:TID_MASK'],
  ['fair-queue.pml', 'Q_NEXT', 'sync/fair-queue:QueueWord.NEXT'],
  ['fair-queue.pml', 'Q_HEAD', 'sync/fair-queue:QueueWord.HEAD'],
  ['fair-queue.pml', 'Q_ROOM', 'sync/fair-queue:QueueWord.ROOM'],
  ['fair-queue.pml', 'Q_RING', 'sync/fair-queue:QueueWord.RING'],
  ['fair-queue.pml', 'SLOT_WAIT', 'sync/fair-queue:SlotState.WAIT'],
  ['fair-queue.pml', 'SLOT_TURN', 'sync/fair-queue:SlotState.TURN'],
  ['fair-queue.pml', 'SLOT_CANCELLED', 'sync/fair-queue:SlotState.CANCELLED'],
  ['fair-queue.pml', 'SLOT_DONE', 'sync/fair-queue:SlotState.DONE'],
  ['fair-queue.pml', 'TID_MASK', 'memory/thread:TID_MASK'],
  ['fair-queue.pml', 'ALIVE', 'memory/thread:ThreadState.Alive'],
  ['fair-queue.pml', 'DEAD', 'memory/thread:ThreadState.Dead'],
  ['fair-queue.pml', 'WAITERS', 'sync/robust-word:WAITERS'],
  ['fair-queue.pml', 'OWNER_DIED', 'sync/robust-word:OWNER_DIED'],
]

/** The constants the checks read, from one set of modules. */
function constantsOf(mods) {
  const out = {}
  for (const [, , ref] of CONSTANTS) out[ref] = pick(mods, ref)
  out['sync/wait:SLICE_MS'] = pick(mods, 'sync/wait:SLICE_MS')
  return out
}

/** #define NAME value (numbers, possibly negative or in parentheses) of a model file. */
function definesOf(model) {
  const out = {}
  for (const m of readFileSync(join(HERE, model), 'utf8').matchAll(/^#define\s+(\w+)\s+\(?(-?(?:0x[0-9a-fA-F]+|\d+))\)?(?=\s|$)/gm)) {
    out[m[1]] ??= Number(m[2])
  }
  return out
}

// ---- protocol lines ---------------------------------------------------------

/**
 * TS source as the protocol checks read it: comments removed, postfix `!`
 * (non-null assertions) dropped, all whitespace one space. A path ending in
 * `/` is every .ts file of that directory, one after the other.
 */
function sourceText(path) {
  const files = path.endsWith('/')
    ? readdirSync(join(ROOT, path))
        .filter((f) => f.endsWith('.ts'))
        .sort()
        .map((f) => join(ROOT, path, f))
    : [join(ROOT, path)]
  return files
    .map((f) =>
      readFileSync(f, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, ' ')
        .replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1')
        .replace(/([\w\])])!(?!=)/g, '$1')
        .replace(/\s+/g, ' '),
    )
    .join(' ')
}

/**
 * The block (`{ ... }`, braces included) of the first declaration `head`
 * matches in `text`: a class, function or method. From the end of the match
 * the parameter list is skipped (parentheses counted) and the first `{` at
 * depth 0 opens the block. Undefined if `head` is not found.
 */
function blockOf(text, head) {
  const m = head.exec(text)
  if (m === null) return undefined
  let i = m.index + m[0].length
  let parens = (m[0].match(/\(/g) ?? []).length - (m[0].match(/\)/g) ?? []).length
  for (; i < text.length; i++) {
    const c = text[i]
    if (c === '(') parens++
    else if (c === ')') parens--
    else if (c === '{' && parens === 0) break
  }
  let depth = 0
  for (let j = i; j < text.length; j++) {
    if (text[j] === '{') depth++
    else if (text[j] === '}' && --depth === 0) return text.slice(i, j + 1)
  }
  return undefined
}

/**
 * Protocol lines the models assume, found in the source (a change to any of
 * them means a model must be revisited). Each: `file` (a path, or a
 * directory ending in `/`), `in` (nested declarations to look inside, e.g.
 * class then method), `steps` (regexes that must match in this order, on
 * the text of sourceText), `what`, and optionally `def`: the model #define
 * that the first capture group of the steps must equal.
 */
const S = String.raw
const SEQLOCK = 'src/sync/seqlock.ts'
const FAIR_QUEUE = 'src/sync/fair-queue.ts'
const FAIR_QUEUE_CLASS = /\bclass FairQueue\b/
const VERSION_RING = /\bclass VersionRing\b/
const SEQ_WORD = /\bclass SeqWord\b/
const PROTOCOL = [
  // ---- the read protocol: src/sync/seqlock.ts (seqlock.pml) ----
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bconstructor\(/],
    steps: [S`this\.maxLag = slots - (\d+)`],
    what: 'maxLag = S - LAG_MARGIN',
    def: ['seqlock.pml', 'LAG_MARGIN'],
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bread<R>\(/],
    steps: [
      S`for \(let tries = 0; ; tries\+\+\) \{`,
      S`const p = Atomics\.load\(this\.words, this\.pubIndex\)`,
      S`const r = copy\(p\)`,
      S`this\.fence\.order\(\)`,
      S`if \(r !== RETRY && \(\(Atomics\.load\(this\.words, this\.pubIndex\) - p\) >>> 0\) <= this\.maxLag\) \{`,
      S`return r \}`,
      S`if \(tries >= maxRetries\) return RETRY`,
    ],
    what: 'load PUB, copy, fence, accept when PUB moved by <= maxLag, RETRY after maxRetries retries',
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bstatic readLoopSource\(/],
    steps: [
      S`for \(let tries = 0; ; tries\+\+\) \{`,
      S`const p1 = Atomics\.load\(words, \$\{p\.pub\}\);`,
      S`\$\{p\.slot\}`,
      S`\$\{p\.copy\}`,
      S`\$\{p\.fence\}`,
      S`if \(\(\(Atomics\.load\(words, \$\{p\.pub\}\) - p1\) >>> 0\) <= \$\{p\.maxLag\}\) \{`,
      S`\$\{p\.accept\} return \$\{p\.result\}; \}`,
      S`if \(tries >= \$\{p\.maxRetries\}\) return -1;`,
    ],
    what: "read()'s loop, generated (copy, fence, re-check; accept and result only after it)",
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bcompileReadLoop\(/],
    steps: [
      S`const slot = this\.slotSource\('s', 'p1'\)`,
      S`const pub = literal\('the PUB index', this\.pubIndex\)`,
      S`slot: slot\.decl`,
      S`fence: STRONG \? '' : \`Atomics\.exchange\(fw, \$\{literal\('the fence index', this\.fence\.word\.index\)\}, 0\);\``,
      S`maxLag: literal\('the lag bound', this\.maxLag\)`,
    ],
    what: "the generated loop's parts: PUB, the slot of PUB (slotSource), the fence (left out on x86-64 only), the lag bound",
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bslotSource\(/],
    steps: [
      S`const mask = literal\('the mask', this\.mask\)`,
      S`\`const \$\{name\} = views\[\(\$\{at\}\) & \$\{mask\}\];\``,
      S`\`\$\{literal\('the ring index', layout\.ring\)\} \+ \(\(\$\{at\}\) & \$\{mask\}\) \* \$\{literal\('the stride', layout\.stride\)\}\``,
    ],
    what: 'slotSource: slot (at & mask), its own view or at ring + index * stride'
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\breadVersion<R>\(/],
    steps: [
      S`if \(\(\(Atomics\.load\(this\.words, this\.pubIndex\) - low\) >>> 0\) > this\.maxLag\) return undefined`,
      S`const r = copy\(\)`,
      S`this\.fence\.order\(\)`,
      S`if \(r === RETRY \|\| \(\(Atomics\.load\(this\.words, this\.pubIndex\) - low\) >>> 0\) > this\.maxLag\) return undefined`,
      S`return r`,
    ],
    what: 'PUB check, copy, fence, PUB re-check',
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bnextSlot\(\)/],
    steps: [S`return \(this\.words\[this\.pubIndex\] \+ 1\) & this\.mask`],
    what: 'slot (PUB + 1) mod S',
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bpublish\(\)/],
    steps: [
      S`Atomics\.store\(words, this\.pubIndex, \(words\[this\.pubIndex\] \+ 1\) \| 0\)`,
      S`if \(Atomics\.load\(words, this\.waitersIndex\) !== 0\) Atomics\.notify\(words, this\.pubIndex\)`,
    ],
    what: 'store PUB + 1, then notify if WAITERS',
  },

  {
    file: SEQLOCK,
    steps: [S`const ODD_SPIN = (\d+)\b`],
    what: 'ODD_SPIN a number: begin() gives up on an odd word (seqlock.pml: one load)',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bbegin\(\)/],
    steps: [S`let s = Atomics\.load\(words, this\.index\)`, S`\(s & 1\) !== 0 && spin < ODD_SPIN`, S`return s`],
    what: 'at most ODD_SPIN loads of an odd word, then returns (never waits for the writer)',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bvalidate\(s: number\)/],
    steps: [S`this\.fence\.order\(\)`, S`return Atomics\.load\(this\.words, this\.index\) === s`],
    what: 'fence, then the word still s',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bread<R>\(/],
    steps: [
      S`for \(let n = 0; n < tries; n\+\+\) \{`,
      S`const s = this\.begin\(\)`,
      S`if \(\(s & 1\) === 0\) \{`,
      S`const r = attempt\(\)`,
      S`this\.fence\.order\(\)`,
      S`if \(r !== RETRY && Atomics\.load\(this\.words, this\.index\) === s\) \{`,
      S`return r \} \}`,
      S`onRetry\(\) \}`,
      S`return RETRY`,
    ],
    what: 'begin, attempt only at an even word, fence, accept if unchanged, RETRY after `tries` lost tries',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bstatic readEntry<R>\(/],
    steps: [
      S`if \(Atomics\.load\(words, index\) !== expected\) return undefined`,
      S`const r = read\(\)`,
      S`fence\.order\(\)`,
      S`return Atomics\.load\(words, index\) === expected \? r : undefined`,
    ],
    what: 'the word holds expected, read, fence, still expected',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bbeginWrite\(/],
    steps: [
      S`const before = words\[this\.index\]`,
      S`const mark = \(before \+ 1\) \| 0`,
      S`Atomics\.store\(words, this\.index, mark\)`,
      S`orderAfterBusy\(words, this\.index, mark\)`,
      S`return before`,
    ],
    what: 'store the mark (before + 1), then the writer barrier',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bendWrite\(/],
    steps: [S`Atomics\.store\(this\.words, this\.index, value\)`],
    what: 'store the value',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bstatic claimEntry\(/],
    steps: [
      S`const found = Atomics\.compareExchange\(words, index, from, mark\)`,
      S`if \(found === from\) orderAfterBusy\(words, index, mark\)`,
      S`return found`,
    ],
    what: 'one compareExchange from -> mark, the writer barrier after a successful one, the value found',
  },
  {
    file: SEQLOCK,
    in: [SEQ_WORD, /\bstatic releaseEntry\(/],
    steps: [S`Atomics\.store\(words, index, value\)`],
    what: 'store the complete value',
  },
  {
    file: SEQLOCK,
    steps: [
      S`const STRONG: boolean = strongMemoryOrdering`,
      S`function orderAfterBusy\(words: Int32Array, index: number, value: number\): void \{ if \(!STRONG\) Atomics\.exchange\(words, index, value\)`,
    ],
    what: 'the writer barrier: a read-modify-write of the marked word (skipped on x86-64 only)',
  },
  // ---- the objects, on the protocol (state-buffer.pml, shared-map.pml, state-machine.pml) ----
  {
    file: 'src/',
    steps: [],
    absent: [S`\bstrongMemoryOrdering\b`],
    dirs: ['src/state/', 'src/snapshot/', 'src/map/', 'src/machine/'],
    what: 'no fence of its own in the object layer (state, snapshot, map, machine): every read goes through seqlock.ts',
  },
  {
    file: 'src/state/',
    steps: [S`let slots = (\d+)`],
    what: 'StateBuffer: the smallest ring',
    def: ['state-buffer.pml', 'NSLOTS'],
  },
  {
    file: 'src/state/',
    steps: [S`const version = this\.readLatest\(`],
    what: 'StateBuffer reads the latest state through the generated loop',
  },
  {
    file: 'src/state/',
    steps: [S`this\.ring\.compileReadLoop\(`],
    what: 'StateBuffer: readLatest is VersionRing.compileReadLoop',
  },
  {
    file: 'src/state/',
    steps: [
      S`const pub = \(version - Atomics\.load\(this\.words, StateWord\.DELTA\)\) \| 0`,
      S`const base = this\.slotOf\(pub\)`,
      S`this\.ring\.readVersion\(pub, \(\) => \{ if \(f\[base \+ SlotMeta\.VERSION\] !== version\) return RETRY`,
    ],
    what: 'StateBuffer: copyVersion is VersionRing.readVersion at the PUB value of the version (DELTA: 0 unless a mirror jumped), its copy answers RETRY unless the slot holds the version',
  },
  {
    file: 'src/state/',
    steps: [S`ring\.nextSlot\(\)`, S`f\[base \+ VERSION\] = version`, S`ring\.publish\(\)`],
    what: 'StateBuffer.publishAt: fills slot nextSlot(), version first, then ring.publish()',
  },
  {
    file: 'src/state/',
    in: [/\bclass StateBuffer\b/, /\bprivate publishLocked\(/],
    steps: [
      S`try \{`,
      S`const pub = ring\.published\(\)`,
      S`version = write\(from, pub, timestamp\)`,
      S`ring\.advance\(pub\) \} finally \{ this\.writer\.unlock\(\) \}`,
      S`ring\.wakeAfterRelease\(\)`,
    ],
    what: 'StateBuffer.publish / publishFrom (publishLocked): PUB read once under the lock, the generated write fills slot PUB + 1, ring.advance(pub), the lock released, then ring.wakeAfterRelease()',
  },
  {
    file: 'src/state/view.ts',
    in: [/\bclass StateView\b/, /\bcompileWrite\(/],
    steps: [
      S`const next = ring\.slotSource\('d', 'pub \+ 1'\)`,
      S`const prev = ring\.slotSource\('p', 'pub'\)`,
      S`\`const version = \$\{prev\.word\(SlotMeta\.VERSION\)\} \+ 1;\``,
      S`\`\$\{next\.word\(SlotMeta\.VERSION\)\} = version;\``,
    ],
    what: 'the generated write: the slot of PUB + 1, version = the version in the slot of PUB + 1 (payload and version words in either order)',
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\badvance\(pub: number\)/],
    steps: [S`Atomics\.store\(this\.words, this\.pubIndex, \(pub \+ 1\) \| 0\)`],
    what: 'advance(pub): store PUB + 1, no wake-up (state-buffer.pml: mem[PUB] = mem[PUB] + 1)',
  },
  {
    file: SEQLOCK,
    in: [VERSION_RING, /\bwakeAfterRelease\(\)/],
    steps: [S`wakeAfterRelease\(this\.words, this\.pubIndex, this\.waitersIndex\)`],
    what: "VersionRing.wakeAfterRelease() is version-wait.ts's (state-buffer.pml: after wl_unlock)",
  },
  {
    file: 'src/sync/version-wait.ts',
    in: [/\bfunction wakeAfterRelease\(/],
    steps: [S`if \(words\[waiters\] !== 0\) Atomics\.notify\(words, pub\)`],
    what: 'wakeAfterRelease: notify if WAITERS (state-buffer.pml: mem[S_WAITERS] != 0 after wl_unlock)',
  },
  {
    file: 'src/snapshot/snapshot-store.ts',
    steps: [S`this\.ring\.read\(this\.copySlot, `],
    what: 'SnapshotStore reads through VersionRing.read',
  },
  {
    file: 'src/snapshot/snapshot-store.ts',
    steps: [S`ring\.nextSlot\(\)`, S`ring\.publish\(\)`],
    what: 'SnapshotStore: fills slot nextSlot(), then ring.publish()',
  },
  {
    file: 'src/map/',
    steps: [S`const r = this\.seq\.read\(attempt, OPTIMISTIC_TRIES, `, S`this\.lock\.lock\(\)`, S`locked = attempt\(\)`],
    what: 'SharedMap reads: SeqWord.read, then the attempt under the writer lock',
  },
  {
    file: 'src/map/',
    steps: [S`const s = seq\.begin\(\) if \(\(s & 1\) === 0\) \{`, S`!== RETRY && seq\.validate\(s\)\) \{`, S`this\.lostTry\(\) \}`],
    what: "SharedMap get / getFrozen: SeqWord.read's loop written out (begin, even, attempt, validate)",
  },
  {
    file: 'src/map/',
    steps: [S`const seq = this\.seq\.beginWrite\(\)`, S`journal\.close\(\)`, S`this\.seq\.endWrite\(\(seq \+ 2\) \| 0\)`],
    what: 'SharedMap commit: SEQ odd (beginWrite), changes, journal closed, SEQ even (endWrite)',
  },
  {
    file: 'src/map/',
    steps: [S`this\.journal\.undo\(\)`, S`if \(\(seq & 1\) !== 0\) this\.seq\.endWrite\(\(seq \+ 1\) \| 0\)`],
    what: "SharedMap recovery: the dead writer's journal undone, then SEQ even by one more (never back)",
  },
  {
    file: 'src/map/',
    steps: [S`this\.record\(index, d32\[index\]\) d32\[index\] = value`],
    what: 'setData journals before it writes',
  },
  {
    file: 'src/machine/state-machine.ts',
    in: [/\bprivate attempt\(/],
    steps: [S`const found = Atomics\.compareExchange\(words, STATE, word, \(seq << 8\) \| t\)`, S`if \(found === word\) break`, S`this\.log\.record\(seq, f, t, this\.tid, at, kept\)`],
    what: 'the winner of the compareExchange of STATE records its seq',
  },
  {
    file: 'src/machine/log.ts',
    steps: [S`const claimEntry = SeqWord\.claimEntry`, S`const releaseEntry = SeqWord\.releaseEntry`],
    what: 'TransitionLog: the entry writer\'s steps are seqlock.ts\'s (claimEntry, releaseEntry)',
  },
  {
    file: 'src/machine/log.ts',
    in: [/\bclass TransitionLog\b/, /\brecord\(seq: number/],
    steps: [
      S`if \(!this\.claimAt\(words, w \+ SEQ, seq, threadId\)\) return false`,
      S`this\.write\(seq, from, to, threadId, at, reason\)`,
      S`releaseEntry\(words, w \+ SEQ, seq\)`,
    ],
    what: 'claim the entry (or leave it out), its fields (write), then releaseEntry(seq)',
  },
  {
    file: 'src/machine/log.ts',
    in: [/\bclass TransitionLog\b/, /\bwrite\(seq: number/],
    steps: [S`words\[w \+ FROM\] = from`, S`this\.units\[u \+ i\] = reason\.charCodeAt\(i\)`],
    what: 'write: the fields of the entry, plain stores (no atomic, no fence)',
  },
  {
    file: 'src/machine/log.ts',
    in: [/\bclass TransitionLog\b/, /\bclaimAt\(words: Int32Array/],
    steps: [
      S`const mark = BUSY \| threadId`,
      S`this\.named\[0\]\+\+`,
      S`let v = words\[i\]`,
      S`for \(let n = 0; n < CLAIM_SPIN; n\+\+\) \{`,
      S`if \(v >= BUSY\) \{`,
      S`if \(v === alive \|\| !domain\.isDead\(v & TID_MASK\)\) \{ alive = v v = Atomics\.load\(words, i\) continue \}`,
      S`const found = this\.takeOver\(words, i, v, mark\)`,
      S`if \(found === v\) return true`,
      S`v = found continue`,
      S`\} else if \(v >= 0 \? \(\(seq - v\) & SEQ_MASK\) >= HALF_LAP : v !== EMPTY\) \{ this\.named\[0\]-- return false \}`,
      S`const found = claimEntry\(words, i, v, mark\)`,
      S`if \(found === v\) return true`,
      S`v = found \}`,
      S`this\.named\[0\]-- return false`,
    ],
    what: 'the claim: a busy mark loaded again while its thread lives, taken over once dead (takeOver); a newer lap left; claimEntry from the value judged; at most CLAIM_SPIN steps; the id counted in before, out when left out',
  },
  {
    file: 'src/machine/log.ts',
    in: [/\bclass TransitionLog\b/, /\btakeOver\(words: Int32Array/],
    steps: [
      S`domain\.pin\?\.\(dead\)`,
      S`if \(!domain\.isDead\(dead\)\) return Atomics\.load\(words, i\)`,
      S`const found = claimEntry\(words, i, v, mark\)`,
      S`if \(found === v\) domain\.cleared\?\.\(dead\)`,
      S`domain\.unpin\?\.\(dead\)`,
    ],
    what: 'a dead mark taken over: pin the dead id, still dead, claimEntry from the value judged (thread-reuse.pml: the pin)',
  },
  {
    file: 'src/machine/log.ts',
    steps: [S`export const CLAIM_SPIN = (\d+)\b`],
    what: 'CLAIM_SPIN a number: the claim loop is bounded (state-machine.pml: the writer may give up after any step)',
  },
  {
    file: 'src/machine/log.ts',
    in: [/\bclass TransitionLog\b/, /\bread\(seq: number\)/],
    steps: [S`return SeqWord\.readEntry\(words, w \+ SEQ, seq, this\.fence, `],
    what: 'SeqWord.readEntry(expected seq)',
  },
  {
    file: 'src/sync/version-wait.ts',
    in: [/\bfunction\* until\(/],
    steps: [
      S`Atomics\.add\(words, waiters, 1\)`,
      S`const seen = Atomics\.load\(words, word\)`,
      S`if \(done\(\)\) return true`,
      S`sleepOn\(words, word, seen\)`,
      S`Atomics\.sub\(words, waiters, 1\)`,
    ],
    what: 'waitUntil: WAITERS + 1, read the word, check, sleep while the word holds what was read (state-buffer.pml Waiter)',
  },
  // ---- the sync layer (mutex.pml, rwlock.pml, condition.pml, wait-graph.pml) ----
  { file: 'src/sync/robust-word.ts', steps: [S`function giveUp\(words: Int32Array, i: number\): AcquireResult \{ Atomics\.notify\(words, i, 1\)`], what: 'giveUp always passes a wake-up on' },
  { file: 'src/sync/robust-word.ts', steps: [S`extra = WAITERS`], what: 'a woken waiter acquires with WAITERS' },
  {
    file: 'src/sync/condition.ts',
    steps: [S`const seq = Atomics\.load\(words, ConditionWord\.SEQ\) Atomics\.add\(words, ConditionWord\.WAITERS, 1\)`],
    what: 'wait reads SEQ, then counts itself in WAITERS, under the mutex',
  },
  {
    file: 'src/sync/reader-slots.ts',
    // The claim's count of the id (memory/thread.ts) may sit between: a plain increment, no shared word.
    steps: [S`if \(Atomics\.compareExchange\(words, w \+ ReaderSlot\.OWNER, 0, tid\) === 0\) \{ (?:dw\[named\]\+\+ )?this\.raiseSlotsUsed\(k \+ 1\)`],
    what: 'a reader raises SLOTS_USED when it claims its slot (before any add)',
  },
  { file: 'src/sync/wait-graph.ts', steps: [S`const BEAT_SHIFT = (\d+)\b`], what: 'edge word: holder | verifications << BEAT_SHIFT', def: ['wait-graph.pml', 'BEAT_SHIFT'] },
  {
    file: 'src/sync/wait-graph.ts',
    steps: [S`Atomics\.add\(words, WaitGraphWord\.EPISODE \+ this\.tid, 1\) Atomics\.store\(words, at, holder\)`],
    what: 'a new episode: EPISODE + 1, then the edge',
  },
  {
    file: 'src/sync/wait-graph.ts',
    steps: [
      S`const episode = Atomics\.load\(words, WaitGraphWord\.EPISODE \+ tid\) const edge = Atomics\.load\(words, WaitGraphWord\.EDGE \+ tid\) if \(Atomics\.load\(words, WaitGraphWord\.EPISODE \+ tid\) === episode\)`,
    ],
    what: 'read(): EPISODE, EDGE, EPISODE until the episodes agree',
  },
  {
    file: 'src/sync/wait-graph.ts',
    steps: [S`const a = this\.snapshot\(cycle\) const b = this\.snapshot\(cycle\) if \(sameWaits\(a, b\) && formsCycle\(b\)\) this\.first = b`],
    what: 'phase A: b kept if it agrees with a and shows the cycle',
  },
  {
    file: 'src/sync/wait-graph.ts',
    steps: [S`if \(\(seen\[k\]\.edge & TID_MASK\) !== seen\[\(k \+ 1\) % seen\.length\]\.tid\) return false`],
    what: 'formsCycle: member k waits for member k + 1',
  },
  { file: 'src/sync/wait-graph.ts', steps: [S`& BEAT_MASK\) < (\d+)\) return undefined`], what: 'phase B: every member verified MIN_BEATS more times', def: ['wait-graph.pml', 'MIN_BEATS'] },
  { file: 'src/sync/wait-graph.ts', steps: [S`if \(!sameWaits\(c, this\.snapshot\(members\)\)\) \{`], what: 'phase B: read again after the beats' },
  { file: 'src/sync/wait-graph.ts', steps: [S`return Math\.min\(\.\.\.members\) === this\.tid \? members : undefined`], what: 'the victim: the smallest tid of the cycle' },
  {
    file: 'src/sync/robust-word.ts',
    steps: [S`if \(deadline === Infinity\) \{ const cycle = \(edge \?\?= new WaitEdge\(domain\)\)\.beforeSleep\(s & TID_MASK\)`],
    what: 'acquire() without a deadline: beforeSleep(holder just read) before each sleep',
  },
  { file: 'src/sync/robust-word.ts', steps: [S`\} finally \{ edge\?\.clear\(\)`], what: 'acquire(): the edge cleared however the acquisition ends' },
  // ---- fair locks (fair-queue.pml) ----
  {
    file: FAIR_QUEUE,
    in: [FAIR_QUEUE_CLASS, /\*turn\(/],
    steps: [
      S`const n = Atomics\.load\(words, this\.next\) const h = Atomics\.load\(words, this\.head\) if \(\(\(n - h\) \| 0\) >= QUEUE_SLOTS\) \{ if \(this\.skipDead\(\)\) continue Atomics\.add\(words, this\.room, 1\)`,
      S`slept = yield sleepOn\(words, this\.head, h\) \} finally \{ Atomics\.sub\(words, this\.room, 1\) \} if \(!slept\) return undefined continue \}`,
      S`const v = Atomics\.load\(words, at\) if \(\(v & GEN_BITS\) === g && \(v & STATE_MASK\) !== 0\) \{ Atomics\.compareExchange\(words, this\.next, n, \(n \+ 1\) \| 0\)`,
      S`if \(Atomics\.load\(words, this\.next\) !== n\) continue`,
      S`if \(Atomics\.compareExchange\(words, at, v, SlotState\.WAIT \| this\.tid \| g\) !== v\) continue`,
      S`Atomics\.compareExchange\(words, this\.next, n, \(n \+ 1\) \| 0\) t = n break`,
    ],
    what: 'Enter: NEXT, HEAD, the room wait (skipDead first: the fix of room-wedge) counted in ROOM; the slot read, a claimed one helped (CAS NEXT), NEXT read again, the slot claimed by CAS from the value read, then CAS NEXT',
  },
  {
    file: FAIR_QUEUE,
    in: [FAIR_QUEUE_CLASS, /\*turn\(/],
    steps: [
      S`for \(;;\) \{ if \(Atomics\.load\(words, this\.head\) === t\) return t`,
      S`this\.skipDead\(\) if \(Atomics\.load\(words, this\.head\) === t\) return t`,
      S`slept = yield sleepOn\(words, at, mine\) \} catch \(error\) \{ this\.leave\(t\)`,
      S`if \(!slept && Atomics\.load\(words, this\.head\) !== t\) \{ this\.leave\(t\)`,
    ],
    what: 'Wait: HEAD, skipDead, HEAD, sleep on the own slot while WAIT; leave when the sleep throws, or the deadline passed and HEAD is not ours',
  },
  {
    file: FAIR_QUEUE,
    in: [FAIR_QUEUE_CLASS, /\bprivate leave\(/],
    steps: [
      S`if \(Atomics\.compareExchange\(words, at, mine, SlotState\.CANCELLED \| g\) !== mine\) \{ this\.advance\(t\) return \}`,
      S`if \(Atomics\.load\(words, this\.head\) !== t\) return this\.claim\(at, SlotState\.CANCELLED \| g, t\)`,
    ],
    what: 'leave: CAS WAIT -> CANCELLED (failed: advance), then HEAD again: ours, claim',
  },
  {
    file: FAIR_QUEUE,
    in: [FAIR_QUEUE_CLASS, /\bprivate advance\(/],
    steps: [
      S`Atomics\.store\(words, this\.head, n\)`,
      S`if \(Atomics\.load\(words, this\.room\) !== 0\) Atomics\.notify\(words, this\.head\)`,
      S`let s = Atomics\.load\(words, at\) if \(\(s & STATE_MASK\) === SlotState\.WAIT && \(s & GEN_BITS\) === g\) \{ const prev = Atomics\.compareExchange\(words, at, s, SlotState\.TURN \| \(s & TID_MASK\) \| g\) if \(prev === s\) \{ Atomics\.notify\(words, at\) return \} s = prev \}`,
      S`if \(s !== \(SlotState\.CANCELLED \| g\)\) return`,
      S`if \(Atomics\.compareExchange\(words, at, s, done\) !== s\) return`,
      S`t = n`,
    ],
    what: 'advance: store HEAD first, notify ROOM waiters, then the next entry: WAIT -> TURN and notify, CANCELLED -> DONE|me and on',
  },
  {
    file: FAIR_QUEUE,
    in: [FAIR_QUEUE_CLASS, /\bskipDead\(\): boolean/],
    steps: [
      S`const h = Atomics\.load\(words, this\.head\) if \(h === Atomics\.load\(words, this\.next\)\) return false`,
      S`const s = Atomics\.load\(words, at\) if \(\(s & GEN_BITS\) !== g \|\| s === g\) return false`,
      S`if \(state === SlotState\.CANCELLED\) \{ return Atomics\.load\(words, this\.head\) === h && this\.claim\(at, s, h\)`,
      S`if \(owner === this\.tid \|\| !domain\.cannotHold\(owner\)\) return false domain\.pin\(owner\)`,
      S`if \(Atomics\.load\(words, at\) !== s \|\| !domain\.cannotHold\(owner\) \|\| Atomics\.load\(words, this\.head\) !== h\) return false`,
      S`if \(Atomics\.compareExchange\(words, at, s, done\) !== s\) return false`,
      S`this\.advance\(h\)`,
    ],
    what: "skipDead: HEAD, NEXT, the head's entry of its generation; CANCELLED: HEAD again, claim; a dead owner: pin, entry, state and HEAD again, CAS to DONE|me, advance",
  },
  { file: FAIR_QUEUE, steps: [S`return \(\(t >>> GEN_SHIFT\) & GEN_MASK\) << (\d+)`], what: 'gen(t): the generation at bit GEN_SHIFT', def: ['fair-queue.pml', 'GEN_SHIFT'] },
  { file: FAIR_QUEUE, steps: [S`const STATE_MASK = 7 << 16`], what: 'slot states in bits 16..18 (the model: STATE_MASK 458752)' },
  {
    file: 'src/sync/robust-word.ts',
    in: [/\bfunction\* fairAcquiring\(/],
    steps: [S`const turn = yield\* queue\.turn\(`, S`try \{ return yield\* acquiring\(`, S`\} finally \{ queue\.pass\(turn\) \}`],
    what: 'fairAcquiring: the turn, then acquiring, then pass however it ended',
  },
  {
    file: 'src/sync/semaphore.ts',
    in: [/\bprivate \*fairWaiting\(/],
    steps: [S`const turn = yield\* queue\.turn\(`, S`try \{ return yield\* this\.waiting\(n\) \} finally \{ queue\.pass\(turn\) \}`],
    what: 'Semaphore.fairWaiting: the same bracket around the permit wait',
  },
  {
    file: 'src/sync/robust-lock.ts',
    in: [/\bprotected mayBarge\(\)/],
    steps: [S`return q < 0 \|\| words\[q\] === words\[q \+ 1\]`],
    what: 'mayBarge: NEXT == HEAD (plain reads; the model reads them as it reads everything)',
  },
  {
    file: 'src/sync/mutex.ts',
    in: [/\block\(timeoutMs\?: number\): boolean/],
    steps: [S`if \(this\.mayBarge\(\)\) \{`, S`if \(Atomics\.compareExchange\(this\.words, MutexWord\.STATE, 0, this\.tid\) === 0\)`, S`return this\.lockSlow\(timeoutMs\)`],
    what: 'Mutex.lock: the fast CAS only when mayBarge(), else the queue',
  },
  // ---- thread ids reused (thread-reuse.pml) ----
  {
    file: 'src/sync/robust-word.ts',
    in: [/\bfunction takeOver\(/],
    steps: [
      S`domain\.pin\(holder\)`,
      S`const s = Atomics\.load\(words, i\)`,
      S`if \(\(s & TID_MASK\) !== holder \|\| !domain\.cannotHold\(holder\)\) return undefined`,
      S`domain\.naming\(\)`,
      S`if \(Atomics\.compareExchange\(words, i, s, `,
      S`domain\.cleared\(holder\)`,
      S`domain\.unpin\(holder\)`,
    ],
    what: 'takeover: pin, re-load, state check, count in, CAS, count the dead id out, unpin',
  },
  {
    file: 'src/memory/thread.ts',
    in: [/\bfunction reuseDeadId\(/],
    steps: [
      S`if \(Atomics\.compareExchange\(words, DomainWord\.STATE \+ best, ThreadState\.Dead, ThreadState\.Reusing\) !== ThreadState\.Dead\) continue`,
      S`if \(referencesOf\(words, best\) === 0\) return best`,
      S`Atomics\.store\(words, DomainWord\.STATE \+ best, ThreadState\.Dead\)`,
    ],
    what: 'reuse: claim dead -> reusing, then the count, else back to dead',
  },
]

/** One protocol check: { ok, detail }. */
function checkProtocol(row, defs) {
  if (row.absent) {
    const found = []
    for (const dir of row.dirs) {
      for (const f of readdirSync(join(ROOT, dir)).filter((x) => x.endsWith('.ts'))) {
        const text = sourceText(join(dir, f))
        for (const re of row.absent) if (new RegExp(re).test(text)) found.push(`${dir}${f}`)
      }
    }
    return { ok: found.length === 0, detail: found.length ? ` (found in ${found.join(', ')})` : '' }
  }
  let text = sourceText(row.file)
  for (const head of row.in ?? []) {
    text = text === undefined ? undefined : blockOf(text, head)
    if (text === undefined) return { ok: false, detail: ` (no ${head.source} found)` }
  }
  let at = 0
  let group
  for (const [k, step] of row.steps.entries()) {
    const re = new RegExp(step, 'g')
    re.lastIndex = at
    const m = re.exec(text)
    if (m === null) return { ok: false, detail: ` (step ${k + 1} not found${k > 0 ? ' after step ' + k : ''}: /${step}/)` }
    group ??= m[1]
    at = re.lastIndex
  }
  if (row.def) {
    defs[row.def[0]] ??= definesOf(row.def[0])
    const want = defs[row.def[0]][row.def[1]]
    return { ok: Number(group) === want, detail: ` (${row.def[0]} #define ${row.def[1]} ${want}, code ${group})` }
  }
  return { ok: true, detail: '' }
}

async function checkConstants() {
  const problems = []
  const lines = []
  const defs = {}
  const src = await srcModules()
  let dist
  try {
    dist = await distModules()
  } catch {
    dist = undefined
  }
  const mods = src ?? dist
  if (mods === undefined) {
    problems.push('cannot read the code\'s constants: esbuild is not installed (npm install) and dist/ is not built (npm run build)')
    return { problems, lines }
  }
  if (src === undefined) lines.push('note esbuild not installed: constants taken from dist/ (run `npm run build` after editing src/)')
  for (const [name, mod] of Object.entries(mods)) {
    if (mod.error) {
      lines.push(`DRIFT ${src ? 'src' : 'dist'}/${name}: not loadable (${mod.error})`)
      problems.push(`${name}: the module the constants come from does not load: ${mod.error}`)
    }
  }
  const code = constantsOf(mods)
  for (const [model, def, ref] of CONSTANTS) {
    defs[model] ??= definesOf(model)
    const got = defs[model][def]
    const value = code[ref]
    const ok = got === value
    lines.push(`${ok ? 'ok  ' : 'DRIFT'} ${model} #define ${def} ${got} <-> ${ref.replace(':', ' ')} = ${value}`)
    if (!ok) problems.push(`${model}: #define ${def} is ${got}, the code's ${ref} is ${value}`)
  }
  // The sliced-sleep abstraction needs every slice to end.
  const slice = code['sync/wait:SLICE_MS']
  const sliceOk = Number.isFinite(slice) && slice > 0
  lines.push(`${sliceOk ? 'ok  ' : 'DRIFT'} SLICED models: every sleep ends <-> wait.ts SLICE_MS = ${slice} (finite, > 0)`)
  if (!sliceOk) problems.push(`wait.ts SLICE_MS = ${slice}: the models' sliced sleeps assume a finite slice`)
  for (const row of PROTOCOL) {
    let r
    try {
      r = checkProtocol(row, defs)
    } catch (error) {
      r = { ok: false, detail: ` (${error.message.split('\n')[0]})` }
    }
    const where = row.in ? `${row.file} ${row.in.map((h) => h.source.replace(/\\b|\\/g, '').replace(/^(class|static) /, '').replace(/(<R>)?\(.*$/, '')).join('.')}` : row.file
    lines.push(`${r.ok ? 'ok  ' : 'DRIFT'} ${where}: ${row.what}${r.detail}`)
    if (!r.ok) problems.push(`${row.file}: expected the line the models mirror (${row.what})${r.detail}`)
  }
  if (src !== undefined) {
    if (dist === undefined) lines.push('note dist/ not built: constants taken from src/ only')
    else if (JSON.stringify(constantsOf(dist)) !== JSON.stringify(code)) {
      lines.push('WARN dist/ differs from src/ (a stale build: run `npm run build`); src/ is what the models are checked against')
    } else lines.push('ok   dist/ agrees with src/')
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
    // -O0 compiles pan.c in a third of -O2's time and runs small searches as
    // fast; runs of millions of states say `opt: '-O1'` or '-O2'.
    const c = await sh('gcc', [run.opt ?? '-O0', '-w', ...cflags, '-o', 'pan', 'pan.c'], dir)
    if (c.status !== 0) throw new Error(`gcc failed:\n${c.out}`)
    // Runs without `opt` are small: a hash table of 2^20 slots instead of
    // SPIN's 2^24, whose allocation alone costs them half a second.
    const panArgs = ['-m1000000', '-n', ...(run.opt ? [] : ['-w20']), ...(run.mode === PROGRESS ? ['-l', '-f'] : [])]
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
