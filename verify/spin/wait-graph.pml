/*
 * wait-graph.pml: cross-thread deadlock detection (the wait-for graph in the
 * domain, checked by the blocked threads themselves).
 *
 * Mirrors:
 *   src/sync/wait-graph.ts   WaitEdge.beforeSleep / clear / detect (phase A, phase B),
 *                            cycle, snapshot, read (episode-consistent), sameWaits,
 *                            the victim rule Math.min(...members) === this.tid
 *   src/sync/robust-word.ts  acquire(): the deadline === Infinity branch: load the
 *                            word, take it if free, else beforeSleep(holder) before
 *                            each sleep, Acquired.Deadlock on a cycle,
 *                            `finally { edge?.clear() }`
 *   shared words             EDGE[tid] = WaitGraphWord.EDGE + tid
 *                            (0 | holder | beats << BEAT_SHIFT), EPISODE[tid] =
 *                            WaitGraphWord.EPISODE + tid (src/memory/thread.ts)
 *
 * The lock word is abstract: an atomic test-and-set word holding the holder's
 * tid (WAITERS, futex wake-ups and owner death are mutex.pml's business).
 * Every load and store of EDGE / EPISODE / a lock word is one atomic step, so
 * every interleaving of the detector's reads with the other threads' steps is
 * explored; steps on a thread's own locals are merged with its shared steps
 * (a load of a free lock word and the CAS that takes it are one step: a lost
 * race only retries, publishing nothing).
 * A sleep is "the thread may wake at any time" (the 50 ms slice, a notify, a
 * slow thread): without ROUNDS nothing stops a thread from re-reading the word
 * at any moment or much later.
 *
 * Processes: NT threads (tid = pid + 1) over NL locks, each running a bounded
 * program:
 *   PROG 0  any sequence: up to ACQ acquisitions (ACQ_LAST for thread NT) of
 *           any lock it does not hold, with releases of any held lock anywhere
 *           in between (a thread takes a lock, releases it, blocks on another:
 *           stale edges; a thread takes the lock it waited for and has not yet
 *           cleared its edge);
 *   PROG 1  the ring: thread k takes lock k, then lock k % NL + 1 (ABBA for 2);
 *   PROG 2  the finding's scene (3 threads, 2 locks, below);
 *   PROG 3  the same through a holder that let go (below).
 * A thread told Acquired.Deadlock releases everything it holds and ends (its
 * withLock bodies unwinding).
 *
 * Checked, at the moment a thread's beforeSleep returns a cycle (it is about to
 * throw DeadlockError):
 *   - soundness: every member is inside acquire() on the lock it wants, has
 *     not taken it, and that lock is held by the next member of the cycle;
 *   - one report per cycle: not every member was already named by an earlier
 *     report during its current acquire() call.
 * With ROUNDS (the sleep slices: a blocked thread wakes by itself at most once
 * per round; a round ends when every thread inside acquire() has woken once
 * and sleeps again) and -DNP: no non-progress cycle under weak fairness, i.e.
 * a deadlock is always reported (the progress label is on the report).
 * SHOW_REPORT asserts that nothing is ever reported: a witness run whose
 * trail is a path to a report.
 *
 * Options (-D): NT (2..3), NL (2..3), PROG, ACQ, ACQ_LAST, DETECTORS (below),
 * BMASK (the beat counter is kept modulo BMASK + 1 and compared modulo it,
 * exactly as the code does with its 15-bit BEAT_MASK: a difference read as
 * >= 2 is >= 2, so a small mask loses reports, never adds one), ROUNDS,
 * SHOW_REPORT.
 * Broken variants: BUG_NO_CYCLE_CHECK (phase A without formsCycle(b): the code
 * before the SPIN finding below), BUG_ONE_READ (report when phase A succeeds:
 * no phase B), BUG_ONE_BEAT (phase B asks for one more verification instead
 * of two), BUG_FORGET_ON_BEATS (phase B starts again when a member is short
 * of verifications: liveness).
 * Variants that SPIN does not break (slack, see README.md): ALT_NO_RECHECK
 * (phase B without its second read), BUG_ONE_SNAPSHOT_A (phase A reads the
 * members once: not broken with 2 threads; 3 threads x 3 locks out of reach).
 *
 * Finding (fixed: formsCycle in wait-graph.ts; the old code is
 * BUG_NO_CYCLE_CHECK): cycle() follows the EDGE words one load at a time, and
 * phase A checked only that its two snapshots agree with each other, not
 * that their holders are the cycle that cycle() walked. A member whose stale
 * edge led the walk back to the detector (it had just taken the lock it
 * waited for, or its holder had let go) could move to a new wait for a
 * thread outside the cycle before the snapshots: both snapshots showed that
 * new wait, phases A and B passed, and the detector reported a cycle that was
 * not there. PROG 2 is the scene: T3 holds B; T1 takes A; T2 waits for A
 * (edge T2 -> T1); T1 releases A and asks for it again; T2 takes A (edge
 * still T2 -> T1 until its `finally`); T1 publishes T1 -> T2 and walks
 * 1 -> 2 -> 1; T2 clears its edge and waits for B (edge T2 -> T3, new
 * episode); T1's snapshots both read T2 -> T3; everyone verifies twice; T1
 * is told "deadlock: 1 waits for 2, 2 waits for 1" while T3 runs free.
 * PROG 3, the same without the `finally` window: T2 holds B and waits for A,
 * held by T1 (edge T2 -> T1); T1 releases A, T3 takes it; T1 waits for B
 * (T1 -> T2) and walks 1 -> 2 -> 1 before T2 has published its new wait
 * T2 -> T3; T1, holding nothing, is reported in a deadlock with T2.
 */

/* ---- constants (checked against the code by run.mjs) ---- */
#define TID_MASK   65535   /* TID_MASK, src/memory/thread.ts */
#define BEAT_SHIFT 16      /* BEAT_SHIFT, src/sync/wait-graph.ts */
#define MIN_BEATS  2       /* detect(): `& BEAT_MASK) < 2) return undefined` */

#ifndef NT
#define NT 2
#endif
#ifndef NL
#define NL 2
#endif
#ifndef PROG
#define PROG 0
#endif
#ifndef ACQ
#define ACQ 2
#endif
#ifndef BMASK
#define BMASK 3            /* the code's BEAT_MASK is 0x7fff */
#endif
#ifndef ROUNDS
#define ROUNDS 0
#endif

#ifdef BUG_ONE_BEAT
#define BEATS_NEEDED 1
#else
#define BEATS_NEEDED MIN_BEATS
#endif

#ifdef BUG_ONE_SNAPSHOT_A
#define A_EDGE ed              /* a becomes this.first: the whole edge */
#else
#define A_EDGE (ed & TID_MASK) /* only a's holder is ever looked at */
#endif

#ifndef BUG_NO_CYCLE_CHECK
/* phase A, formsCycle(b): member j's holder is member j + 1 (the last's: the first) */
#define CHECK_HOLDER if :: (ed & TID_MASK) != me[MC + (j + 1) % cn] -> ok = false :: else fi
#else
#define CHECK_HOLDER skip   /* broken: the code before the SPIN finding */
#endif

/* Which threads run detect(). A thread reports only the cycles whose smallest
 * tid it is, so thread NT never reports, and a detect() that reports nothing
 * changes no shared word: DETECTORS = NT - 1 (the default) is exact.
 * DETECTORS=1 checks every report of thread 1 and, the programs being the
 * same for all threads up to renaming (PROG 0 with ACQ_LAST = ACQ, PROG 1 by
 * rotation), the first report of any run: rename the threads so that the
 * reporter becomes 1 while keeping the order of the cycle's members. */
#ifndef DETECTORS
#define DETECTORS (NT - 1)
#endif
#define DETECTS (tid <= DETECTORS)

#define MAXT 4                           /* ghost arrays indexed by tid 1..3 */
#define ALL_LOCKS ((1 << (NL + 1)) - 2)  /* bits 1..NL */
#ifndef ACQ_LAST
#define ACQ_LAST ACQ   /* acquisitions of thread NT */
#endif
#define ACQS (tid == NT -> ACQ_LAST : ACQ)

/* ---- shared words ---- */
byte lk[NL + 1];        /* lock word l (1..NL): the holder's tid, 0 = free */
int EDGE[NT + 1];       /* 0 = not blocked | holder | beats << BEAT_SHIFT */
byte EPISODE[NT + 1];

/* ---- ghosts ---- */
byte wants[MAXT];       /* the lock the thread is acquiring and has not taken; 0 = none */
bool named[MAXT];       /* named in a report during its current acquire() call */
byte reports;
#if ROUNDS
bool asleep[MAXT];
bool woke[MAXT];        /* woke by itself in this round */
#endif

#define OP_ACQ 1
#define OP_REL 2
#define OP_END 3
#if PROG == 0
#define STEP_ON_RELEASE skip   /* n counts acquisitions */
#else
#define STEP_ON_RELEASE n++    /* n is the step of the script */
#endif

#define R_DEADLOCK 4    /* Acquired.Deadlock */

/*
 * Detector storage, per thread: members at MC (cycle()) and MF (this.first);
 * phase A's first snapshot at SX (episode se[], holder sd[]), this.first at SF
 * (episode se[], edge sd[]). Offsets, since an inline cannot take an array.
 *
 * snapshot() is read(tid) member after member, read(tid) being EPISODE, EDGE,
 * EPISODE until the two episodes agree: one step per load, in cycle order,
 * exactly as the code. What the code does with a snapshot afterwards
 * (sameWaits, the beats test) is done here as each member's read completes
 * (with the thread's own bookkeeping riding on that read's last load), so the
 * state holds a verdict instead of the raw words. The verdicts are the code's:
 * every member is still read, and in phase B a member that moved outranks one
 * short of beats (the code tests sameWaits over all members first).
 * sameWaits(c, d) is tested as d against this.first: c agreed with it on
 * every field sameWaits looks at.
 */
#define MC 0
#define MF NT
#define SX 0
#define SF NT

/* one member's read(tid) into (ep, ed); then `then` as one step with the last load */
#define READ_MEMBER(tidexpr, then) \
     atomic { ep = EPISODE[tidexpr] };                                  /* Atomics.load(EPISODE + tid) */ \
     ed = EDGE[tidexpr];                                                /* Atomics.load(EDGE + tid) */ \
     if                                                                 \
     :: atomic { EPISODE[tidexpr] == ep -> then; ep = 0; ed = 0; j++ }  /* same episode: done */ \
     :: else                                                            /* it moved under the read: again */ \
     fi

/* Math.min(...members) === this.tid (members: this.first) */
inline victim(out) {
  out = true;
  k = 0;
  do
  :: k < fn -> if :: me[MF + k] < tid -> out = false :: else fi; k++
  :: else -> break
  od;
  k = 0
}

/* this.first = undefined */
inline forget_first() {
  fn = 0;
  k = 0;
  do
  :: k < NT -> me[MF + k] = 0; se[SF + k] = 0; sd[SF + k] = 0; k++
  :: else -> break
  od;
  k = 0
}

inline clear_temps() {
  cn = 0;
  k = 0;
  do
  :: k < NT -> me[MC + k] = 0; se[SX + k] = 0; sd[SX + k] = 0; k++
  :: else -> break
  od;
  k = 0;
  j = 0;
  ok = false;
  bt = false
}

/* cycle(): follow the edges from this thread; undefined (cn = 0) unless they come back */
inline find_cycle() {
  d_step { me[MC] = tid; cn = 1; nx = wholder };
  do
  :: atomic { nx == tid -> nx = 0; break }
  :: nx != tid ->
     d_step {   /* members.includes(next) */
       k = 0;
       do
       :: k < cn -> if :: me[MC + k] == nx -> ok = true :: else fi; k++
       :: else -> break
       od;
       k = 0
     };
     if
     :: atomic { ok -> cn = 0; ok = false; nx = 0; break }
     :: else
     fi;
     atomic {
       ed = EDGE[nx];                    /* Atomics.load(words, EDGE + next) */
       if
       :: ed == 0 -> cn = 0; nx = 0      /* not blocked: it can still release */
       :: else -> me[MC + cn] = nx; cn++; nx = ed & TID_MASK
       fi;
       ed = 0
     };
     if
     :: cn == 0 -> break
     :: else
     fi
  od
}

/* detect(): found = this thread is the victim of a confirmed cycle (this.first) */
inline detect() {
  if
  :: fn == 0 ->
     /* Phase A: a cycle, read twice, unchanged in between. */
     find_cycle();
     if
     :: cn > 0 ->
        /* a = snapshot(cycle): episode and holder kept */
        do
        :: j < cn -> READ_MEMBER(me[MC + j], se[SX + j] = ep; sd[SX + j] = A_EDGE)
        :: j >= cn -> break
        od;
        j = 0;
        ok = true;
#ifndef BUG_ONE_SNAPSHOT_A
        /* b = snapshot(cycle), sameWaits(a, b) && formsCycle(b); b kept as this.first */
        do
        :: j < cn ->
           READ_MEMBER(me[MC + j],
             if
             :: ep != se[SX + j] || ed == 0 || sd[SX + j] == 0 || (ed & TID_MASK) != sd[SX + j] -> ok = false
             :: else
             fi;
             CHECK_HOLDER;
             me[MF + j] = me[MC + j]; se[SF + j] = ep; sd[SF + j] = ed)
        :: j >= cn -> break
        od;
        j = 0;
#else
        /* broken: one snapshot, this.first = a (sameWaits(a, a): every edge non-zero) */
        d_step {
          j = 0;
          do
          :: j < cn ->
             if :: sd[SX + j] == 0 -> ok = false :: else fi;
             ed = sd[SX + j]; CHECK_HOLDER; ed = 0;
             me[MF + j] = me[MC + j]; se[SF + j] = se[SX + j]; sd[SF + j] = sd[SX + j]; j++
          :: else -> break
          od
        };
#endif
        d_step {
          if
          :: ok ->   /* if (sameWaits(a, b) && formsCycle(b)) this.first = b */
             fn = cn;
#ifdef BUG_ONE_READ
             victim(found)
#else
             skip
#endif
          :: else -> forget_first()
          fi;
          clear_temps()
        }
     :: else -> clear_temps()
     fi
  :: else ->
     /* Phase B: c = snapshot(members): sameWaits(first, c) (ok), two more beats each (bt) */
     ok = true;
     bt = true;
     do
     :: j < fn ->
        READ_MEMBER(me[MF + j],
          if
          :: ep != se[SF + j] || ed == 0 || (ed & TID_MASK) != (sd[SF + j] & TID_MASK) -> ok = false
          :: else
          fi;
          if
          :: (((ed >> BEAT_SHIFT) - (sd[SF + j] >> BEAT_SHIFT)) & BMASK) < BEATS_NEEDED -> bt = false
          :: else
          fi)
     :: j >= fn -> break
     od;
     j = 0;
     if
     :: !ok -> d_step { forget_first(); clear_temps() }   /* the graph moved: start again */
#ifndef BUG_FORGET_ON_BEATS
     :: ok && !bt -> d_step { clear_temps() }            /* not yet: keep this.first */
#else
     :: ok && !bt -> d_step { forget_first(); clear_temps() }   /* broken: start again */
#endif
     :: ok && bt ->
#ifndef ALT_NO_RECHECK
        /* d = snapshot(members), sameWaits(c, d) */
        do
        :: j < fn ->
           READ_MEMBER(me[MF + j],
             if
             :: ep != se[SF + j] || ed == 0 || (ed & TID_MASK) != (sd[SF + j] & TID_MASK) -> ok = false
             :: else
             fi)
        :: j >= fn -> break
        od;
        j = 0;
#endif
        d_step {
          if
          :: !ok -> forget_first()
          :: else -> victim(found)
          fi;
          clear_temps()
        }
     fi
  fi
}

/* beforeSleep(holder) with holder = s, the tid just read from the lock word */
inline before_sleep() {
  if
  :: s != wholder ->
     /* a new episode: a new wait, or the lock changed hands while we slept */
     atomic { wholder = s; wbeats = 0; forget_first(); EPISODE[tid]++ };
     EDGE[tid] = s
  :: else ->
     atomic { wbeats = (wbeats + 1) & BMASK; EDGE[tid] = s | (wbeats << BEAT_SHIFT) };
     if
     :: DETECTS -> detect()
     :: else
     fi
  fi
}

/* The report, at the moment beforeSleep returns the cycle: the ghost checks. */
inline report() {
  atomic {
    k = 0;
    ok = false;
    do
    :: k < fn ->
       /* member k is blocked on the lock it wants, held by member k + 1 */
       assert(wants[me[MF + k]] != 0 && lk[wants[me[MF + k]]] == me[MF + (k + 1) % fn]);
       if :: !named[me[MF + k]] -> ok = true :: else fi;
       k++
    :: else -> break
    od;
    /* one report per cycle: not every member was named by an earlier report in this acquisition */
    assert(ok);
    k = 0;
    do
    :: k < fn -> named[me[MF + k]] = true; k++
    :: else -> break
    od;
    k = 0;
    ok = false;
    reports++;
    /* deadlockCycle = cycle; giveUp(); return Acquired.Deadlock */
    wants[tid] = 0;
    res = R_DEADLOCK;
    found = false;
    forget_first()
  };
#ifdef SHOW_REPORT
  assert(reports == 0)
#else
  skip
#endif
}

/* sleepWhile(): without ROUNDS the next load may come at any moment, so nothing to do */
inline sleep_slice() {
#if ROUNDS
  asleep[tid] = true;
  atomic { (!woke[tid] || lk[l] != s) -> asleep[tid] = false; woke[tid] = true }
#else
  skip
#endif
}

/* acquire(words, i, domain, Infinity): one blocking acquisition of lock l */
inline acquire() {
  d_step { wants[tid] = l; named[tid] = false };
  do
  :: atomic {
       s = lk[l];                                 /* Atomics.load(words, i) */
       if
       :: s == 0 ->                               /* takeFreeOrDead: CAS 0 -> tid (one step with */
          lk[l] = tid;                            /* the load: a lost race only retries) */
          held = held | (1 << l);
          wants[tid] = 0;
          break
       :: else
       fi
     };
     before_sleep();
     if
     :: found ->                                  /* deadlockCycle = cycle; giveUp(); return Deadlock */
progress_report:
        report();
        break
     :: else
     fi;
     sleep_slice()
  od;
  /* finally { edge?.clear() } */
  if
  :: wholder != 0 -> atomic { EDGE[tid] = 0; wholder = 0; wbeats = 0; s = 0 }
  :: else -> s = 0
  fi
}

inline release() {
  atomic { lk[l] = 0; held = held & ~(1 << l) }
}

inline release_all() {
  do
  :: atomic { (held & 2) != 0 -> l = 1; release() }
  :: atomic { (held & 4) != 0 -> l = 2; release() }
  :: atomic { (held & 8) != 0 -> l = 3; release() }
  :: atomic { held == 0 -> l = 0; break }
  od
}

active [NT] proctype T() {
  byte tid = _pid + 1;
  byte l, n, held, res, op;
  byte s, wholder, wbeats;      /* WaitEdge: holder, beats */
  byte fn;                      /* this.first: fn members (0 = undefined) */
  byte cn;                      /* cycle(): cn members */
  byte me[2 * NT];              /* members: cycle() at MC, this.first at MF */
  byte se[2 * NT];              /* episodes: phase A's a at SX, this.first at SF */
  int sd[2 * NT];               /* a's holders at SX, this.first's edges at SF */
  byte j, k, nx, ep;
  int ed;
  bool ok, bt, found;

  /* The program: the next operation (op, l), then one acquire() or release(). */
  do
  :: atomic {
#if PROG == 0
       /* any lock not held (n acquisitions so far), release any held lock, or stop */
       if
       :: n < ACQS && (held & 2) == 0 -> op = OP_ACQ; l = 1
       :: n < ACQS && NL >= 2 && (held & 4) == 0 -> op = OP_ACQ; l = 2
       :: n < ACQS && NL >= 3 && (held & 8) == 0 -> op = OP_ACQ; l = 3
       :: (held & 2) != 0 -> op = OP_REL; l = 1
       :: (held & 4) != 0 -> op = OP_REL; l = 2
       :: (held & 8) != 0 -> op = OP_REL; l = 3
       :: n == ACQS -> op = OP_END
       fi
#elif PROG == 1
       /* step n: lock tid, then lock tid % NL + 1 */
       if
       :: n == 0 -> op = OP_ACQ; l = tid
       :: n == 1 -> op = OP_ACQ; l = tid % NL + 1
       :: n == 2 -> op = OP_END
       fi
#elif PROG == 2
       /* the finding's scene, step n: T1 takes A, releases it and asks for it
          again; T2 takes A, then B; T3 holds B for a while. */
       if
       :: tid == 1 && (n == 0 || n == 2) -> op = OP_ACQ; l = 1
       :: tid == 1 && n == 1 -> op = OP_REL; l = 1
       :: tid == 2 && n == 0 -> op = OP_ACQ; l = 1
       :: tid == 2 && n == 1 -> op = OP_ACQ; l = 2
       :: tid == 3 && n == 0 -> op = OP_ACQ; l = 2
       :: else -> op = OP_END
       fi
#else
       /* PROG 3, the finding with a stale holder, step n: T1 takes A, releases
          it, asks for B; T2 takes B, then A; T3 takes A and holds it a while. */
       if
       :: tid == 1 && n == 0 -> op = OP_ACQ; l = 1
       :: tid == 1 && n == 1 -> op = OP_REL; l = 1
       :: tid == 1 && n == 2 -> op = OP_ACQ; l = 2
       :: tid == 2 && n == 0 -> op = OP_ACQ; l = 2
       :: tid == 2 && n == 1 -> op = OP_ACQ; l = 1
       :: tid == 3 && n == 0 -> op = OP_ACQ; l = 1
       :: else -> op = OP_END
       fi
#endif
     };
     if
     :: op == OP_ACQ ->
        acquire();
        if
        :: res == R_DEADLOCK -> break   /* the caller unwinds: releases all it holds */
        :: else -> n++
        fi
     :: op == OP_REL -> release(); STEP_ON_RELEASE
     :: op == OP_END -> break
     fi
  od;
  op = 0;
  release_all()
}

#if ROUNDS
/* The sleep slices: a new round when every thread inside acquire() has woken once and sleeps again. */
#define QUIET(t) (t > NT || wants[t] == 0 || (asleep[t] && woke[t]))
active proctype Ticker() {
end:
  do
  :: atomic {
       QUIET(1) && QUIET(2) && QUIET(3) && (wants[1] != 0 || wants[2] != 0 || (NT >= 3 && wants[3] != 0)) ->
       woke[1] = false; woke[2] = false; woke[3] = false
     }
  od
}
#endif
