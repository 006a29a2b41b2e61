/*
 * fair-queue.pml: the FIFO ticket queue of the fair locks
 * (`Mutex.create({ fair: true })`), with the robust lock word it guards.
 *
 * Mirrors:
 *   src/sync/fair-queue.ts   FairQueue.idle, turn (Enter: the room wait, the
 *                            CAS of NEXT and the slot store; Wait: HEAD
 *                            checks, skipDead, the sleep on the own slot,
 *                            leave on a timeout), pass / advance, leave,
 *                            claim, skipDead (every Atomics operation one
 *                            step, in the code's order)
 *   src/sync/robust-word.ts  fairAcquiring: turn, then `acquiring` (the
 *                            lock word: robust-word.pml), then pass(turn)
 *                            however the acquisition ended
 *   src/sync/mutex.ts        Mutex.lock: mayBarge() (queue.idle: load NEXT,
 *                            load HEAD), then the fast CAS 0 -> tid; unlock
 *   src/sync/wait.ts         sleepOn: sliced sleeps, a deadline that may
 *                            pass at any sleep
 *
 * Processes: NT threads (tid = pid + 1) that lock / work / unlock ITERS
 * times (0: forever), the last TIMED of them with a deadline that may pass
 * at any sleep (in the room wait, the queue wait, the word wait); a Killer
 * that kills up to DEATHS threads at any termination point and marks them
 * dead some time later; Final, which looks at the queue once every thread
 * has finished or was killed.
 *
 * Where a thread can be killed: at any step (an Atomics call, before its
 * effect, a call, a loop edge), never between two plain statements. The
 * premise fair-queue.ts states for Enter: the CAS of NEXT and the store of
 * the slot are one step *for termination* (nokill[] holds the Killer off
 * between them) while other threads do interleave between them.
 * KILL_AT_STORE drops that premise: the store is a termination point of its
 * own, as an Atomics call is (test/termination-points.test.ts).
 *
 * Sleeps: futex.pml (Atomics.wait / notify, FIFO per word). A sleep ends
 * by a notify; with SLICED, also when its 50 ms slice (or, async, a death
 * in the domain) ends, which is modelled as "may end by itself while a
 * re-check could act on something": the queue wait while HEAD is its ticket
 * or the head's entry is one skipDead claims (CANCELLED, or naming a thread
 * marked dead), the room wait while HEAD moved, the word wait while the word
 * changed or its holder is marked dead; plus SPARE slice ends per thread at
 * any moment (a re-check that finds nothing). So a thread that waits with
 * nothing ever to find is an invalid end state instead of an endless loop
 * of slices. A thread with a deadline may also wake at any moment, and at
 * every sleep its deadline may have passed.
 *
 * Tickets: NEXT and HEAD never wrap (the code's `| 0`, 2^32 tickets, is not
 * exercised); the ring has SLOTS slots (the code: QUEUE_SLOTS = 256), so
 * with SLOTS = 2 it wraps and fills within the run (the room wait). The
 * generation of ticket t is (t / SLOTS) & GEN_MASK (the code: 12 bits of
 * t >>> 8); GEN_MASK 3 does not wrap within the run.
 * Named counts and pins (memory/thread.ts) are left out: ids are never
 * reused here (thread-reuse.pml checks the takeover's pin).
 *
 * Checked:
 * - mutual exclusion of the lock word's live holders (a dead holder taken
 *   over, OWNER_DIED told as mutex.pml checks it);
 * - FIFO: an acquisition through the queue is made by the head (HEAD is its
 *   ticket when it takes the word), so in ticket order (`served` rises); an
 *   arrival that barges (the fast path) found every earlier ticket passed;
 * - HEAD: whoever stores HEAD = t + 1 owns turn t (HEAD is t: it never goes
 *   back, nothing moves it but the owner of the turn), and ticket t is
 *   passed only when its waiter got its turn, left, or was killed (a live
 *   waiter still waiting is never skipped); a live waiter's entry is only
 *   ever promoted (leave's CAS fails only on TURN);
 * - nobody stuck: every live thread finishes (invalid end states), with
 *   deaths and timeouts anywhere; unsliced runs (no death): no lost wake-up;
 * - Final: a waiter that leaves once its turn has come passes the turn on
 *   (no CANCELLED head of a live waiter cancelled while HEAD was already
 *   its ticket is left behind).
 *
 * Options (-D): NT, ITERS, TIMED, DEATHS, SLICED, SPARE, SLOTS, GEN_MASK,
 * KILL_AT_STORE.
 * Broken variants: BUG_PROMOTE_FIRST (advance promotes the next slot to
 * TURN and notifies before it stores HEAD), BUG_LEAVE_NO_RECHECK (leave
 * does not look at HEAD after cancelling), BUG_SKIP_NO_HEAD_CHECK (skipDead
 * does not read HEAD again after seeing the owner dead), BUG_NO_GEN (no
 * generation in the slots: a stale entry is taken for the current ticket).
 */

/* ---- layout constants (checked against the code by run.mjs) ---- */
#define Q_NEXT 0                  /* QueueWord.NEXT, src/sync/fair-queue.ts */
#define Q_HEAD 1                  /* QueueWord.HEAD */
#define Q_ROOM 2                  /* QueueWord.ROOM */
#define Q_RING 4                  /* QueueWord.RING */
#define SLOT_WAIT      65536      /* SlotState.WAIT = 1 << 16 */
#define SLOT_TURN      131072     /* SlotState.TURN = 2 << 16 */
#define SLOT_CANCELLED 196608     /* SlotState.CANCELLED = 3 << 16 */
#define SLOT_DONE      262144     /* SlotState.DONE = 4 << 16 */
#define STATE_MASK     458752     /* 7 << 16 */
#define GEN_SHIFT      19         /* gen(t) << 19 */
#define WAITERS     1073741824    /* WAITERS = 1 << 30, src/sync/robust-word.ts */
#define OWNER_DIED  536870912     /* OWNER_DIED = 1 << 29 */
#define TID_MASK    65535         /* TID_MASK, src/memory/thread.ts */
#define ALIVE 1                   /* ThreadState.Alive */
#define DEAD  2                   /* ThreadState.Dead */

#ifndef NT
#define NT 2
#endif
#ifndef ITERS
#define ITERS 2
#endif
#ifndef TIMED
#define TIMED 0        /* the last TIMED threads have a deadline */
#endif
#ifndef DEATHS
#define DEATHS 0
#endif
#ifndef SLICED
#define SLICED 0
#endif
#ifndef SPARE
#define SPARE 1        /* slice ends at any moment, per thread (SLICED only) */
#endif
#ifndef SLOTS
#define SLOTS 2
#endif
#ifndef GEN_MASK
#define GEN_MASK 3
#endif

/* mem[]: the lock word (MutexWord.STATE, DEAD_OWNER), then the queue at QB */
#define STATE      0
#define DEAD_OWNER 1
#define QB         2
#define NEXT (QB + Q_NEXT)
#define HEAD (QB + Q_HEAD)
#define ROOM (QB + Q_ROOM)
#define RING (QB + Q_RING)
#if ITERS == 0
/* forever (progress runs): tickets modulo TW, a whole number of generations */
#define TW (SLOTS * (GEN_MASK + 1))
#define MAXT TW
#else
#define TW 256                    /* no wrap within the run */
#define MAXT (NT * ITERS + 1)     /* tickets handed out: at most one per acquisition */
#endif
#define INC(x) (((x) + 1) % TW)
/* a - b as the code's `(a - b) | 0` reads it (differences within +-TW/2) */
#define SDIST(a, b) ((((a) - (b) + TW + TW / 2) % TW) - TW / 2)

#define NPROC (NT + 2)

int mem[RING + SLOTS];
byte dom[NT + 1] = ALIVE;         /* the domain table: every thread joined */

#include "futex.pml"

/* the word wait's slice: ends while the word changed or its holder is marked dead */
#define SLICE_ON     (SLICED && (mem[STATE] != s || dom[s & TID_MASK] == DEAD))
#define MAY_ABORT    false        /* an abort leaves as a timeout does */
#define MAY_TIME_OUT (TIMED > 0 && tid > NT - TIMED)
#include "robust-word.pml"

#define R_TURN 5                  /* turn() returned the ticket */

/* The slot of ticket x (its mem index) and its generation bits. */
#define SLOT(x) (RING + ((x) % SLOTS))
#ifdef BUG_NO_GEN
#define GEN(x) 0
#else
#define GEN(x) ((((x) / SLOTS) & GEN_MASK) << GEN_SHIFT)
#endif
#define GEN_OF(v) ((v) & ~(STATE_MASK | TID_MASK))
#define MINE(x) (SLOT_WAIT | tid | GEN(x))

/* ---- ghosts ---- */
#define TK_QUEUED 1               /* the ticket's waiter waits for its turn */
#define TK_TURN   2               /* its turn came: it saw HEAD at it, or leave found TURN */
#define TK_LEFT   3               /* it left: WAIT -> CANCELLED */
byte tk[MAXT];                    /* the state of each ticket */
byte tk_owner[MAXT];
bool cancelled_at_head[MAXT];     /* cancelled while HEAD was already the ticket */
bool killed[NT + 1];
bool nokill[NT + 1];              /* between the CAS of NEXT and the slot store */
bool done[NT + 1];
bool in_cs[NT + 1];
byte deaths;
byte held_deaths;
bool poisoned;
byte told;
byte served;                      /* the ticket after the last one served (FIFO) */
byte g;

inline enter_cs() {
  atomic {
    in_cs[tid] = true;
    g = 1;
    do
    :: g <= NT -> assert(g == tid || !in_cs[g] || killed[g]); g++
    :: else -> break
    od;
    g = 0
  }
}

/* Every acquisition of the word (robust-word.pml calls it in the CAS step). */
inline check_acquired(r) {
  assert((r == R_DIED) == poisoned);
  if
  :: r == R_DIED -> told++; assert(told <= held_deaths)
  :: else
  fi;
  if
  :: queued ->
     /* FIFO: only the head competes for the word; so acquisitions in ticket order */
     assert(mem[HEAD] == t);
#if ITERS > 0
     assert(t >= served);
     served = t + 1
#else
     skip
#endif
  :: else
  fi
}

/* sleepOn(A, V) asleep: a notify, or (SLICED) a slice end while `guard`, or
   SPARE slice ends at any moment; a deadline ends the sleep at any moment. */
inline qsleep(A, V, guard) {
  atomic {
    if
    :: mem[A] != V -> wres = W_NOT_EQUAL
    :: else -> woken[_pid] = false; wq!A,_pid; wres = W_ASLEEP
    fi
  };
  if
  :: wres == W_ASLEEP ->
     if
     :: atomic { woken[_pid] -> woken[_pid] = false; wres = W_OK }
     :: atomic { ((SLICED && (guard)) || MAY_TIME_OUT) && wq??[eval(A),eval(_pid)] -> wq??eval(A),eval(_pid); wres = W_TIMED_OUT }
     :: atomic { SLICED && spare > 0 && wq??[eval(A),eval(_pid)] -> wq??eval(A),eval(_pid); spare--; wres = W_TIMED_OUT }
     fi
  :: else
  fi;
  wres = 0
}

/* The head's entry is one skipDead acts on (for the queue wait's slice). */
#define HSLOT mem[SLOT(mem[HEAD])]
#define HEAD_CLAIMABLE (mem[HEAD] != mem[NEXT] && GEN_OF(HSLOT) == GEN(mem[HEAD]) && \
  ((HSLOT & STATE_MASK) == SLOT_CANCELLED || \
   (((HSLOT & STATE_MASK) == SLOT_WAIT || (HSLOT & STATE_MASK) == SLOT_TURN || (HSLOT & STATE_MASK) == SLOT_DONE) && \
    (HSLOT & TID_MASK) != tid && dom[HSLOT & TID_MASK] != ALIVE)))
#define TURN_WAKE (mem[HEAD] == t || HEAD_CLAIMABLE)

/* The store of HEAD = x + 1 by the owner of turn x (advance): the checks of HEAD. */
inline store_head(x) {
  atomic {
    assert(mem[HEAD] == x);   /* only the owner of turn x moves HEAD past x: never back, never twice */
    assert(SDIST(mem[NEXT], x) >= 1);   /* never past NEXT */
    /* a live waiter still waiting is never skipped */
    assert(tk[x] == TK_TURN || tk[x] == TK_LEFT || killed[tk_owner[x]]);
    mem[HEAD] = INC(x)
  }
}

/* advance(t): HEAD = t + 1, then wake the next waiter, or skip it if it left. */
inline advance(T) {
  at_t = T;
  do
  :: true ->
#ifdef BUG_PROMOTE_FIRST
     /* broken: the next slot promoted and notified before HEAD is stored */
     sv = mem[SLOT(INC(at_t))];
     if
     :: (sv & STATE_MASK) == SLOT_WAIT && GEN_OF(sv) == GEN(INC(at_t)) ->
        atomic { prev = mem[SLOT(INC(at_t))]; if :: prev == sv -> mem[SLOT(INC(at_t))] = SLOT_TURN | (sv & TID_MASK) | GEN(INC(at_t)) :: else fi };
        if
        :: prev == sv -> fnotify(SLOT(INC(at_t)), NOTIFY_ALL); store_head(at_t); break
        :: else -> sv = prev
        fi
     :: else
     fi;
     store_head(at_t);
     if :: mem[ROOM] != 0 -> fnotify(HEAD, NOTIFY_ALL) :: else fi;
#else
     store_head(at_t);
     if :: mem[ROOM] != 0 -> fnotify(HEAD, NOTIFY_ALL) :: else fi;
     sv = mem[SLOT(INC(at_t))];
     if
     :: (sv & STATE_MASK) == SLOT_WAIT && GEN_OF(sv) == GEN(INC(at_t)) ->
        atomic { prev = mem[SLOT(INC(at_t))]; if :: prev == sv -> mem[SLOT(INC(at_t))] = SLOT_TURN | (sv & TID_MASK) | GEN(INC(at_t)) :: else fi };
        if
        :: prev == sv -> fnotify(SLOT(INC(at_t)), NOTIFY_ALL); break
        :: else -> sv = prev   /* it left meanwhile: CANCELLED */
        fi
     :: else
     fi;
#endif
     if
     :: sv != (SLOT_CANCELLED | GEN(INC(at_t))) -> break   /* unwritten (its owner reads HEAD), or taken */
     :: else
     fi;
     atomic { if :: mem[SLOT(INC(at_t))] == sv -> mem[SLOT(INC(at_t))] = SLOT_DONE | tid | GEN(INC(at_t)); ok = true :: else -> ok = false fi };
     if
     :: !ok -> break   /* its owner claimed it and advances */
     :: else
     fi;
     at_t = INC(at_t)
  od;
  at_t = 0; sv = 0; prev = 0; ok = false
}

/* claim(at, seen, t): CAS the entry seen -> DONE|me, and advance if that won. */
inline claim(X, SEEN) {
  atomic { if :: mem[SLOT(X)] == (SEEN) -> mem[SLOT(X)] = SLOT_DONE | tid | GEN(X); ok = true :: else -> ok = false fi };
  if
  :: ok -> advance(X)
  :: else
  fi
}

/* leave(t): cancel; made head meanwhile (TURN): advance; else claim if HEAD is ours. */
inline leave() {
  atomic {
    if
    :: mem[SLOT(t)] == MINE(t) ->
       mem[SLOT(t)] = SLOT_CANCELLED | GEN(t); ok = true;
       tk[t] = TK_LEFT; cancelled_at_head[t] = (mem[HEAD] == t)
    :: else ->
       assert(mem[SLOT(t)] == (SLOT_TURN | tid | GEN(t)));   /* a live waiter's entry is only promoted */
       ok = false; tk[t] = TK_TURN
    fi
  };
  if
  :: !ok -> advance(t)   /* made head (TURN): our turn to pass on */
  :: else ->
#ifndef BUG_LEAVE_NO_RECHECK
     if
     :: mem[HEAD] == t -> claim(t, (SLOT_CANCELLED | GEN(t)))
     :: else   /* the advance that reaches us skips us */
     fi
#else
     skip
#endif
  fi
}

/* skipDead(): the head's entry, if CANCELLED or naming a thread marked dead, is claimed and passed on. */
inline skip_dead() {
  h = mem[HEAD];
  if
  :: h == mem[NEXT] -> skip
  :: else ->
     sv = mem[SLOT(h)];
     if
     :: GEN_OF(sv) != GEN(h) -> skip   /* unwritten yet */
     :: (sv & STATE_MASK) == SLOT_CANCELLED && GEN_OF(sv) == GEN(h) ->
        if
        :: mem[HEAD] == h -> claim(h, sv)
        :: else
        fi
     :: ((sv & STATE_MASK) == SLOT_WAIT || (sv & STATE_MASK) == SLOT_TURN || (sv & STATE_MASK) == SLOT_DONE) && GEN_OF(sv) == GEN(h) ->
        owner = sv & TID_MASK;
        if
        :: owner != tid && dom[owner] != ALIVE ->
           /* domain.pin(owner) (left out), then the word, the state and HEAD again */
           if
           :: mem[SLOT(h)] == sv ->
              if
              :: dom[owner] != ALIVE ->
#ifdef BUG_SKIP_NO_HEAD_CHECK
                 if :: true ->
#else
                 if :: mem[HEAD] == h ->
#endif
                    atomic { if :: mem[SLOT(h)] == sv -> mem[SLOT(h)] = SLOT_DONE | tid | GEN(h); ok = true :: else -> ok = false fi };
                    if
                    :: ok -> advance(h)   /* domain.cleared(owner), unpin, advance */
                    :: else
                    fi
                 :: else
                 fi
              :: else
              fi
           :: else
           fi
        :: else
        fi
     :: else -> skip   /* state 0: never written */
     fi
  fi;
  h = 0; sv = 0; owner = 0
}

/* turn(): Enter (room wait, CAS NEXT, store the slot), then Wait. res: R_TURN or R_TIMED. */
inline fair_turn() {
  do
  :: true ->
     n = mem[NEXT];
     h = mem[HEAD];
     if
     :: SDIST(n, h) >= SLOTS ->
        /* the ring is full: wait for HEAD to move, counted in ROOM */
        mem[ROOM] = mem[ROOM] + 1;
        if
        :: MAY_TIME_OUT -> slept = false
        :: true -> qsleep(HEAD, h, mem[HEAD] != h); slept = true
        fi;
        mem[ROOM] = mem[ROOM] - 1;
        if
        :: !slept -> res = R_TIMED; break
        :: else
        fi
     :: else ->
        atomic {
          if
          :: mem[NEXT] == n ->
             mem[NEXT] = INC(n); ok = true; cancelled_at_head[n] = false; tk[n] = TK_QUEUED; tk_owner[n] = tid;
#ifndef KILL_AT_STORE
             nokill[tid] = true   /* no termination point before the store */
#endif
          :: else -> ok = false
          fi
        };
        if
        :: ok -> atomic { mem[SLOT(n)] = MINE(n); t = n; nokill[tid] = false }; break
        :: else
        fi
     fi
  od;
  n = 0; h = 0; ok = false; slept = false;
  if
  :: res != R_TIMED ->
     do
     :: true ->
        if
        :: atomic { mem[HEAD] == t -> tk[t] = TK_TURN; res = R_TURN }; break
        :: else
        fi;
        skip_dead();
        if
        :: atomic { mem[HEAD] == t -> tk[t] = TK_TURN; res = R_TURN }; break
        :: else
        fi;
        if
        :: MAY_TIME_OUT -> slept = false
        :: true -> qsleep(SLOT(t), MINE(t), TURN_WAKE); slept = true
        fi;
        if
        :: !slept ->
           if
           :: mem[HEAD] != t -> leave(); res = R_TIMED; break
           :: else
           fi
        :: else
        fi
     od
  :: else
  fi;
  slept = false
}

/* Mutex.lock(): mayBarge() then the fast CAS; else fairAcquiring: turn, acquiring, pass. */
inline fair_lock() {
  n = mem[NEXT];
  h = mem[HEAD];
  res = R_NONE;
  if
  :: n == h ->
     atomic {
       if
       :: mem[STATE] == 0 ->
          mem[STATE] = tid; res = R_OK; queued = false;
          assert(SDIST(mem[HEAD], n) >= 0);   /* every ticket taken before the idle check was passed */
          check_acquired(res)
       :: else
       fi
     }
  :: else
  fi;
  n = 0; h = 0;
  if
  :: res == R_NONE ->
     queued = true;
     fair_turn();
     if
     :: res == R_TURN ->
        robust_acquire();
        advance(t)   /* finally: queue.pass(turn), however the acquisition ended */
     :: else
     fi;
     queued = false; t = 0
  :: else
  fi
}

active [NT] proctype T() {
  byte tid = _pid + 1;
  int s;
  int extra;
  byte res, wres, it;
  bool ok;
  byte t, n, h, at_t, owner;
  int sv, prev;
  bool slept, queued;
  byte spare = SPARE;

  {
    do
    :: ITERS == 0 || it < ITERS ->
       fair_lock();
       if
       :: res == R_OK || res == R_DIED ->
          enter_cs();
progress:  assert((mem[STATE] & TID_MASK) == tid);
          if
          :: res == R_DIED -> mark_consistent()
          :: else
          fi;
          in_cs[tid] = false;
          robust_release()
       :: else
       fi;
       res = 0;
       if :: ITERS > 0 -> it++ :: else fi
    :: else -> break
    od;
    done[tid] = true
  } unless {
    killed[tid] -> fleave(); in_cs[tid] = false
  }
}

/* Kills up to DEATHS threads at any termination point; marks each dead later (superviseWorker). */
active proctype Killer() {
  byte v;
  do
  :: deaths < DEATHS ->
     atomic {
       select(v : 1 .. NT);
       if
       :: !killed[v] && !done[v] && !nokill[v] ->
          killed[v] = true;
          deaths++;
          if
          :: (mem[STATE] & TID_MASK) == v -> poisoned = true; held_deaths++
          :: else
          fi
       :: else -> v = 0
       fi
     };
     if
     :: v != 0 -> dom[v] = DEAD   /* Domain.markDead(tid), some time after the thread stopped */
     :: else
     fi
  :: true -> break
  od
}

/* Once every thread finished or was killed: no cancelled head left behind by a
   live waiter that cancelled when its turn had already come. */
active proctype Final() {
  byte k;
end_wait:
  atomic {
    (done[1] || killed[1]) && (NT < 2 || done[2] || killed[2]) && (NT < 3 || done[NT] || killed[NT]) ->
    k = mem[HEAD];
    assert(!(k < mem[NEXT] && mem[SLOT(k)] == (SLOT_CANCELLED | GEN(k)) && cancelled_at_head[k] && !killed[tk_owner[k]]))
  }
}
