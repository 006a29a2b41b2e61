/*
 * thread-reuse.pml: reusing the id of a dead thread (src/memory/thread.ts,
 * "Reusing the id of a dead thread") against the takeover of a lock word
 * whose holder looks dead (src/sync/robust-word.ts, takeFreeOrDead /
 * takeOver).
 *
 * NINC threads ("incarnations", never reused: the ghost identity) share
 * NIDS thread ids and one lock word W (the holder's id, 0 free; WAITERS,
 * OWNER_DIED and sleeping are left out: waiters re-load, which the
 * interleavings cover, and robust-word.pml checks those bits). Each thread:
 *
 * - joins (join / reuseDeadId / newId): picks a dead id whose count
 *   NAMED + OTHERS is 0 (the scan), claims it by CAS dead -> reusing, loads
 *   the count again and backs off (reusing -> dead) unless it is 0; or takes
 *   a new id while any is left; then stores alive;
 * - takes W ITERS times: counts NAMED[own] + 1, CAS W 0 -> own, NAMED - 1 on
 *   failure; the slow path re-loads W and, for a holder h that cannot hold
 *   (state not alive), pins h (OTHERS[h] + 1), re-loads W and h's state,
 *   counts itself in, CAS W h -> own, counts h out (OTHERS[h] - 1) on
 *   success, unpins; releases by CAS own -> 0, then NAMED[own] - 1;
 * - exits, and is marked dead after its last write (the worker's exit).
 *
 * A Killer kills up to DEATHS threads at any point after they joined (in
 * the middle of a count, of a takeover, holding W) and marks each dead some
 * time later (Domain.markDead: alive -> dead).
 *
 * Checked (safety, every interleaving):
 * - mutual exclusion: a thread that takes W finds no other live thread
 *   holding it (ghost `holds`);
 * - no thread finds its own id in W unless it wrote it (the DeadlockError a
 *   reused id would get on a lock it never took), and release finds W
 *   naming it (no LockError);
 * - the count is never below the number of words naming an id plus its
 *   pins (asserted when an id is reused: nothing names it).
 *
 * Broken variants (each must fail):
 * BUG_NO_COUNT     reuse ignores the count (any dead id is handed out again)
 * BUG_NO_PIN       the takeover CASes the value it loaded, without pinning
 *                  and re-reading (the dead holder's id may be reused by a
 *                  live holder of W in between: ABA)
 * BUG_CHECK_FIRST  the joiner trusts the scan's count and skips the check
 *                  after its claim (a pin taken in between is missed)
 */

#ifndef NINC
#define NINC 4
#endif
#ifndef NIDS
#define NIDS 3
#endif
#ifndef ITERS
#define ITERS 1
#endif
#ifndef DEATHS
#define DEATHS 1
#endif
#ifndef KILL_HOLDERS
#define KILL_HOLDERS 0
#endif

#define UNUSED 0
#define ALIVE 1
#define DEAD 2
#define REUSING 3

byte W;                     /* the lock word: holder id, 0 free */
byte state[NIDS + 1];       /* STATE[tid] */
short named[NIDS + 1];      /* NAMED[tid]: written by the id's thread alone */
short others[NIDS + 1];     /* OTHERS[tid]: pins, minus words naming tid cleared by others */
byte next_tid;              /* NEXT_TID */

/* ghosts */
byte idOf[NINC];            /* the id of each thread once joined */
bool killed[NINC];
bool holds[NINC];           /* the thread is between its acquisition and its release */
bool exited[NINC];
byte deaths;

#ifdef BUG_NO_COUNT
#define FREE(i) true
#else
#define FREE(i) (named[i] + others[i] == 0)
#endif

inline count_of(t, c) {
  c = named[t];
  c = c + others[t]
}

/* Every acquisition: no other live thread holds W. */
inline check_exclusive() {
  atomic {
    j = 0;
    do
    :: j < NINC ->
       assert(j == me || !holds[j] || killed[j]);
       j++
    :: else -> break
    od;
    holds[me] = true;
    j = 0
  }
}

proctype Thread(byte me) {
  byte tid, t, h, s, it, j;
  short c;
  bool got;

  {
    if
    :: me < NIDS -> tid = me + 1; goto joined   /* the first NIDS threads hold the new ids (init) */
    :: else
    fi;
    /* ---- join: reuseDeadId() || newId() ---- */
    do
    :: true ->
       /* the scan: a dead id whose count is 0 (any of them: the age order does not
          matter here), or a new id; waits while there is neither (a loop of failed
          scans adds nothing but states). Only the claim and the check after it decide. */
       atomic {
         if
         :: state[1] == DEAD && FREE(1) -> t = 1
         :: state[2] == DEAD && FREE(2) -> t = 2
#if NIDS > 2
         :: state[3] == DEAD && FREE(3) -> t = 3
#endif
         :: next_tid < NIDS -> t = 0
         fi
       };
       if
       :: t != 0 ->
          atomic { if :: state[t] == DEAD -> state[t] = REUSING; got = true :: else -> got = false fi };
          if
          :: got ->
#if defined(BUG_NO_COUNT) || defined(BUG_CHECK_FIRST)
             c = 0;
#else
             count_of(t, c);
#endif
             if
             :: c == 0 -> tid = t; break
             :: else -> state[t] = DEAD   /* pinned meanwhile: back off */
             fi
          :: else
          fi
       :: t == 0 ->
          atomic {
            if
            :: next_tid < NIDS -> next_tid++; tid = next_tid; got = true
            :: else -> got = false
            fi
          };
          if
          :: got -> break
          :: else
          fi
       fi
    od;
    t = 0; c = 0; got = false;
#ifndef BUG_NO_COUNT
    /* the module comment's claim: nothing names a reused id */
    assert(W != tid);
#endif
    atomic { state[tid] = ALIVE; idOf[me] = tid };
joined:

    /* ---- ITERS acquisitions of W ---- */
    do
    :: it < ITERS ->
       /* fast path: count, CAS 0 -> tid */
       named[tid]++;
       atomic { if :: W == 0 -> W = tid; got = true :: else -> got = false fi };
       if
       :: !got ->
          named[tid]--;
          do
          :: true ->
             s = W;
             h = s;
             if
             :: h == 0 ->
                named[tid]++;
                atomic { if :: W == 0 -> W = tid; got = true :: else -> got = false fi };
                if :: got -> break :: else -> named[tid]-- fi
             :: h == tid ->
                assert(false)   /* SelfDeadlock: our id in a word this thread never wrote */
             :: h != 0 && h != tid && state[h] != ALIVE ->
#ifdef BUG_NO_PIN
                named[tid]++;
                atomic { if :: W == s -> W = tid; got = true :: else -> got = false fi };
                if :: got -> others[h]-- :: else -> named[tid]-- fi;
#else
                others[h]++;                   /* pin */
                s = W;
                if
                :: s == h && state[h] != ALIVE ->
                   named[tid]++;
                   atomic { if :: W == s -> W = tid; got = true :: else -> got = false fi };
                   if :: got -> others[h]-- :: else -> named[tid]-- fi   /* cleared */
                :: else -> got = false
                fi;
                others[h]--;                   /* unpin */
#endif
                if :: got -> break :: else fi
             :: else -> (W != s || state[h] != ALIVE)   /* a live holder: look again once something changed */
             fi
          od
       :: else
       fi;
       s = 0; h = 0;
       check_exclusive();
       /* release: CAS tid -> 0 (LockError unless W names us), then count out */
       holds[me] = false;
       atomic { assert(W == tid); W = 0 };
       named[tid]--;
       it++
    :: else -> break
    od;
    /* exit: marked dead after its last write */
    atomic { exited[me] = true; if :: state[tid] == ALIVE -> state[tid] = DEAD :: else fi }
  } unless {
    killed[me]
  }
}

/* Kills up to DEATHS joined threads at any point; marks each dead later. */
active proctype Killer() {
  byte v, id;
  do
  :: deaths < DEATHS ->
     atomic {
       select(v : 0 .. NINC - 1);
       if
       :: idOf[v] != 0 && !killed[v] && !exited[v] && (!KILL_HOLDERS || holds[v]) -> killed[v] = true; deaths++; id = idOf[v]
       :: else -> id = 0
       fi
     };
     if
     :: id != 0 -> atomic { if :: state[id] == ALIVE -> state[id] = DEAD :: else fi }   /* Domain.markDead, later */
     :: else
     fi;
     id = 0; v = 0
  :: true -> break
  od
}

init {
  byte k;
  atomic {
    /* the first NIDS threads have joined with new ids already (their joins
       interleave with nothing that names an id: no id is dead yet) */
    next_tid = NIDS;
    do
    :: k < NIDS -> state[k + 1] = ALIVE; idOf[k] = k + 1; k++
    :: else -> break
    od;
    k = 0;
    do
    :: k < NINC -> run Thread(k); k++
    :: else -> break
    od
  }
}
