/*
 * fair-queue.pml: the FIFO ticket queue of the fair locks
 * (`Mutex.create({ fair: true })`) around the lock word it guards.
 *
 * Mirrors:
 *   src/sync/fair-queue.ts   FairQueue.idle; turn (Enter: the room wait
 *                            counted in ROOM; the slot of ticket NEXT read,
 *                            NEXT helped on if the slot is claimed, NEXT read
 *                            again, the slot claimed by CAS from the value
 *                            read, NEXT moved by CAS; Wait: HEAD, skipDead,
 *                            HEAD, the sleep on the own slot, leave when the
 *                            deadline passed); pass / advance; leave; claim;
 *                            skipDead. Every Atomics operation is one step,
 *                            in the code's order (a compareExchange with the
 *                            value it returns; cannotHold's read of the
 *                            domain table)
 *   src/sync/robust-word.ts  fairAcquiring: turn, then `acquiring` (the
 *                            word, below), then pass(turn) in `finally`,
 *                            however the acquisition ended
 *   src/sync/mutex.ts        Mutex.lock: mayBarge() (NEXT == HEAD, two
 *                            reads), then the fast CAS 0 -> tid
 *   src/sync/wait.ts         sleepOn: Atomics.wait in slices; false, without
 *                            sleeping, once the deadline passed
 *
 * Processes: NT threads (tid = pid + 1), the first LONG of them locking
 * ITERS times (0: forever), the others once, the last TIMED of them with a
 * deadline (lock(timeoutMs); an abort or a deadlock report leaves the same
 * way); a Killer that kills up to DEATHS threads at any termination point
 * and marks each dead some time later (superviseWorker); Final, which looks
 * at the queue once every thread has finished or was killed.
 *
 * The lock word: by default abstracted as writer-lock.pml does it (the
 * holder's tid; taken by CAS when 0, by a takeover when its holder is marked
 * dead; `acquiring` waits until one of the two is possible or its deadline
 * passes). -DFULL_WORD uses robust-word.pml instead (WAITERS, sleeps on the
 * word, OWNER_DIED until markConsistent), at several times the states.
 *
 * Termination points (test/termination-points.test.ts): a thread is killed
 * before any step (an Atomics call, before its effect; a call; a loop
 * edge), never between two plain statements; so between the claim of its
 * slot and its CAS of NEXT too. Left out: SPIN and FAIR_SPIN re-reads (the
 * interleavings cover them), the wait-for edge (wait-graph.pml), the named
 * counts and pins (memory/thread.ts; ids are never reused here:
 * thread-reuse.pml checks the pin of a takeover). Plain reads in mayBarge()
 * are read as the model reads everything: sequentially consistent.
 *
 * Sleeps: futex.pml (Atomics.wait / notify, FIFO per word). A sleep ends by
 * a notify; with SLICED (needed for deaths: a thread killed between a CAS
 * and its notify), also when its slice ends (50 ms blocking; async waiters
 * at every death in the domain), modelled as "may end by itself while a
 * re-check could find something": the queue wait while HEAD is its ticket
 * or the head's entry is one skipDead claims (CANCELLED, or naming a thread
 * marked dead), the room wait while HEAD moved; plus SPARE slice ends per
 * thread at any moment (a re-check that finds nothing). So a waiter left
 * with nothing ever to find is an invalid end state, not an endless loop of
 * slices. A sleep with a deadline may end at any moment (`late`: then every
 * later sleepOn of the acquisition returns false), and at any sleep the
 * deadline may have passed.
 *
 * Tickets: NEXT and HEAD do not wrap (the code's `| 0` over 2^32 tickets is
 * not exercised), except in the runs that lock forever (modulo TW, a whole
 * number of generations). The ring has SLOTS slots (the code: QUEUE_SLOTS
 * = 256): with 2 it wraps and fills within the run (the room wait). The
 * generation of ticket t is (t / SLOTS) & GEN_MASK (the code: 12 bits of
 * t >>> 8); GEN_MASK 3 does not wrap within a bounded run.
 *
 * Checked:
 * - mutual exclusion of the word's live holders (a dead holder taken over);
 * - FIFO: an acquisition through the queue is made by the head (HEAD is its
 *   ticket when it takes the word) and HEAD only rises, so the queue serves
 *   in ticket order; a barging arrival (the fast path) found every ticket
 *   taken before its idle check passed;
 * - HEAD: who stores HEAD = t + 1 owns turn t (HEAD is t then: HEAD never
 *   goes back, nobody else moves it), never past NEXT, and ticket t is
 *   passed only once its waiter got its turn, left, or was killed (a live
 *   waiter still waiting is never skipped); a live waiter's entry is only
 *   ever promoted (leave's CAS fails only on TURN|me);
 * - nobody stuck: every live thread finishes (invalid end states), with a
 *   death and timeouts anywhere; without deaths and unsliced: no lost
 *   wake-up; forever (ITERS 0): no non-progress cycle;
 * - Final: no CANCELLED head left behind by a live waiter that cancelled
 *   when HEAD was already its ticket (leave passes that turn on itself).
 *
 * Options (-D): NT, ITERS, LONG, TIMED, DEATHS, VICTIM, SLICED, SPARE,
 * SLOTS, GEN_MASK, FULL_WORD; ROOM_END_OK (a thread left in the room wait is a
 * valid end: the runs that check the rest beside finding room-wedge);
 * BUG_ROOM_NO_SKIP (the code before the fix of finding room-wedge: the room
 * wait never runs skipDead).
 * Broken variants: BUG_PROMOTE_FIRST (advance promotes the next slot to TURN
 * and notifies before it stores HEAD), BUG_LEAVE_NO_RECHECK (leave does not
 * look at HEAD after cancelling), BUG_SKIP_NO_HEAD_CHECK (skipDead does not
 * read HEAD again after seeing the owner dead), BUG_NO_GEN (no generation
 * in the slots: a stale entry is taken for the current ticket's),
 * BUG_TICKET_FIRST (the first version of Enter: CAS NEXT, then store the
 * entry, a termination point between).
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
#define GEN_SHIFT      19         /* the generation at bit 19 */
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
#ifndef LONG
#define LONG NT        /* the first LONG threads lock ITERS times, the others once */
#endif
#ifndef TIMED
#define TIMED 0        /* the last TIMED threads have a deadline or an AbortSignal */
#endif
#ifndef DEATHS
#define DEATHS 0
#endif
#ifndef VICTIM
#define VICTIM 0       /* the thread the Killer may kill (0: any) */
#endif
#ifndef SLICED
#define SLICED 0
#endif
#ifndef SPARE
#define SPARE 0        /* slice ends at any moment, per thread (SLICED only) */
#endif
#ifndef SLOTS
#define SLOTS 2
#endif
#ifndef GEN_MASK
#define GEN_MASK 3
#endif

/* mem[]: the lock word (MutexWord.STATE, DEAD_OWNER), then the queue from QB */
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
#define MAXT (LONG * ITERS + NT - LONG + 1)   /* at most one ticket per acquisition */
#endif
#define INC(x) (((x) + 1) % TW)
/* a - b as the code's `(a - b) | 0` reads it (differences within +-TW/2) */
#define SDIST(a, b) ((((a) - (b) + TW + TW / 2) % TW) - TW / 2)
#define NOTK 255                  /* no ticket: a barging acquisition */

#define NPROC (NT + 2)

int mem[RING + SLOTS];
byte dom[NT + 1] = ALIVE;         /* the domain table: every thread joined */

#include "futex.pml"

/* ---- ghosts ---- */
#define TK_QUEUED 1               /* the ticket's waiter waits for its turn */
#define TK_TURN   2               /* its turn came: it saw HEAD at it, or leave found TURN */
#define TK_LEFT   3               /* it left: WAIT -> CANCELLED */
byte tk[MAXT];                    /* the state of each ticket */
byte tk_owner[MAXT];
bool cancelled_at_head[MAXT];     /* cancelled while HEAD was already the ticket */
bool killed[NT + 1];
bool done[NT + 1];
bool in_cs[NT + 1];
byte deaths;
byte held_deaths;
bool poisoned;                    /* a holder of the word died and nobody repaired since */
byte told;
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

/* Acquired.* of robust-word.ts (as robust-word.pml has them; NONE: not yet) */
#define R_OK     0
#define R_DIED   1
#define R_TIMED  2
#define R_NONE   9
#define R_TURN   5                /* turn() returned the ticket */

/* Every acquisition of the word, in its CAS step. */
inline check_acquired(r) {
  assert((r == R_DIED) == poisoned);
  if
  :: r == R_DIED -> told++; assert(told <= held_deaths)
  :: else
  fi;
  if
  :: t != NOTK ->
     /* FIFO: only the head competes for the word; HEAD only rises (store_head),
        so acquisitions through the queue come in ticket order */
     assert(mem[HEAD] == t)
  :: else
  fi
}

#define MAY_TIME_OUT (TIMED > 0 && tid > NT - TIMED)
#ifdef FULL_WORD
/* the word wait's slice: ends while the word changed or its holder is marked dead */
#define SLICE_ON     (SLICED && (mem[STATE] != s || dom[s & TID_MASK] == DEAD))
#define MAY_ABORT    false        /* an abort leaves as a timeout does */
#include "robust-word.pml"
#else
/* The word abstracted: taken when 0 (CAS) or when its holder is marked dead
   (takeover: OWNER_DIED); `acquiring` waits for one of the two or gives up
   at its deadline (giveUp). mutex.pml checks the word's own protocol. */
inline robust_acquire() {
  if
  :: atomic {
       (mem[STATE] == 0 || dom[mem[STATE]] == DEAD) ->
       res = (mem[STATE] == 0 -> R_OK : R_DIED);
       mem[STATE] = tid;
       check_acquired(res)
     }
  :: MAY_TIME_OUT -> res = R_TIMED
  fi
}
inline robust_release() {
  mem[STATE] = 0
}
inline mark_consistent() {
  poisoned = false
}
#endif

/* The slot of ticket x (its mem index), its generation bits, our entry. */
#define SLOT(x) (RING + ((x) % SLOTS))
#ifdef BUG_NO_GEN
#define GEN(x) 0
#else
#define GEN(x) ((((x) / SLOTS) & GEN_MASK) << GEN_SHIFT)
#endif
#define GEN_OF(v) ((v) & ~(STATE_MASK | TID_MASK))
#define MINE(x) (SLOT_WAIT | tid | GEN(x))
#define IS_ENTRY(v) (((v) & STATE_MASK) == SLOT_WAIT || ((v) & STATE_MASK) == SLOT_TURN || ((v) & STATE_MASK) == SLOT_DONE)

/* sleepOn(A, V) once it sleeps: ends by a notify, or (SLICED) a slice end
   while `guard`, or one of SPARE slice ends, or (a deadline) at any moment:
   then `late`, the deadline has passed, and every later sleepOn of this
   acquisition returns false at once. */
inline qsleep(A, V, guard) {
  if
  :: atomic { mem[A] == V -> woken[_pid] = false; wq!A,_pid };
     if
     :: atomic { woken[_pid] -> woken[_pid] = false }
     :: atomic { SLICED && (guard) && wq??[eval(A),eval(_pid)] -> wq??eval(A),eval(_pid) }
     :: atomic { MAY_TIME_OUT && wq??[eval(A),eval(_pid)] -> wq??eval(A),eval(_pid); late = true }
     :: atomic { SLICED && spare > 0 && wq??[eval(A),eval(_pid)] -> wq??eval(A),eval(_pid); spare-- }
     fi
  :: else   /* not-equal: no sleep */
  fi
}

/* The queue wait's slice finds something: its turn, or a head entry skipDead claims. */
#define HSLOT mem[SLOT(mem[HEAD])]
#define HEAD_CLAIMABLE (mem[HEAD] != mem[NEXT] && GEN_OF(HSLOT) == GEN(mem[HEAD]) && \
  ((HSLOT & STATE_MASK) == SLOT_CANCELLED || (IS_ENTRY(HSLOT) && (HSLOT & TID_MASK) != tid && dom[HSLOT & TID_MASK] != ALIVE)))
#define TURN_WAKE (mem[HEAD] == t || HEAD_CLAIMABLE)

/* Atomics.store(HEAD, x + 1) by the owner of turn x, with the checks of HEAD. */
inline store_head(x) {
  atomic {
    assert(mem[HEAD] == x);              /* only the owner of turn x moves HEAD past x: never back */
    assert(SDIST(mem[NEXT], x) >= 1);    /* never past NEXT */
    assert(tk[x] == TK_TURN || tk[x] == TK_LEFT || killed[tk_owner[x]]);   /* a live waiter still waiting is never skipped */
    mem[HEAD] = INC(x);
    tk[x] = 0; tk_owner[x] = 0; cancelled_at_head[x] = false   /* ticket x passed: its ghosts forgotten */
  }
}

/* advance(at_t): HEAD = t + 1; wake the next waiter (WAIT -> TURN, notify),
   or, if it left (CANCELLED), claim its turn (DONE|me) and go on. */
#define NX INC(at_t)
inline advance() {
  do
  :: true ->
#ifdef BUG_PROMOTE_FIRST
     /* broken: the next entry promoted and notified before HEAD is stored */
     sv = mem[SLOT(NX)];
     if
     :: (sv & STATE_MASK) == SLOT_WAIT && GEN_OF(sv) == GEN(NX) ->
        atomic { if :: mem[SLOT(NX)] == sv -> mem[SLOT(NX)] = SLOT_TURN | (sv & TID_MASK) | GEN(NX); ok = true :: else -> sv = mem[SLOT(NX)]; ok = false fi };
        if
        :: ok ->
           fnotify(SLOT(NX), NOTIFY_ALL);
           store_head(at_t);
           if :: mem[ROOM] != 0 -> fnotify(HEAD, NOTIFY_ALL) :: else fi;
           break
        :: else
        fi
     :: else
     fi;
     store_head(at_t);
     if :: mem[ROOM] != 0 -> fnotify(HEAD, NOTIFY_ALL) :: else fi;
#else
     store_head(at_t);
     if :: mem[ROOM] != 0 -> fnotify(HEAD, NOTIFY_ALL) :: else fi;
     sv = mem[SLOT(NX)];
     if
     :: (sv & STATE_MASK) == SLOT_WAIT && GEN_OF(sv) == GEN(NX) ->
        atomic { if :: mem[SLOT(NX)] == sv -> mem[SLOT(NX)] = SLOT_TURN | (sv & TID_MASK) | GEN(NX); ok = true :: else -> sv = mem[SLOT(NX)]; ok = false fi };
        if
        :: ok -> fnotify(SLOT(NX), NOTIFY_ALL); break
        :: else   /* it left meanwhile: CANCELLED */
        fi
     :: else
     fi;
#endif
     if
     :: sv != (SLOT_CANCELLED | GEN(NX)) -> break   /* unclaimed (its claimer reads HEAD after its claim), or taken */
     :: else
     fi;
     if
     :: atomic { mem[SLOT(NX)] == sv -> mem[SLOT(NX)] = SLOT_DONE | tid | GEN(NX); at_t = NX }
     :: else -> break   /* its owner claimed it and advances */
     fi
  od;
  atomic { at_t = 0; sv = 0; ok = false }
}

/* leave(t): WAIT -> CANCELLED; failed: made head (TURN), advance; else claim if HEAD is t. */
inline leave() {
  if
  :: atomic {
       mem[SLOT(t)] == MINE(t) ->
       mem[SLOT(t)] = SLOT_CANCELLED | GEN(t);
       tk[t] = TK_LEFT; cancelled_at_head[t] = (mem[HEAD] == t)
     };
#ifndef BUG_LEAVE_NO_RECHECK
     if
     :: mem[HEAD] == t ->
        if   /* claim(): CANCELLED -> DONE|me, advance if that won */
        :: atomic { mem[SLOT(t)] == (SLOT_CANCELLED | GEN(t)) -> mem[SLOT(t)] = SLOT_DONE | tid | GEN(t); at_t = t };
           advance()
        :: else
        fi
     :: else   /* the advance that reaches us skips us */
     fi
#else
     skip
#endif
  :: else ->
     atomic {
       assert(mem[SLOT(t)] == (SLOT_TURN | tid | GEN(t)));   /* a live waiter's entry is only promoted */
       tk[t] = TK_TURN; at_t = t
     };
     advance()   /* made head: our turn to pass on */
  fi
}

/* skipDead(): the head's entry, CANCELLED or naming a thread that cannot hold, claimed and passed on. */
inline skip_dead() {
  hd = mem[HEAD];
  if
  :: hd == mem[NEXT]
  :: else ->
     sv = mem[SLOT(hd)];
     if
     :: GEN_OF(sv) == GEN(hd) && (sv & STATE_MASK) == SLOT_CANCELLED ->
        if
        :: mem[HEAD] == hd ->
           if   /* claim() */
           :: atomic { mem[SLOT(hd)] == sv -> mem[SLOT(hd)] = SLOT_DONE | tid | GEN(hd); at_t = hd };
              advance()
           :: else
           fi
        :: else
        fi
     :: GEN_OF(sv) == GEN(hd) && IS_ENTRY(sv) && (sv & TID_MASK) != tid && dom[sv & TID_MASK] != ALIVE ->
        /* pin(owner) (left out), then the slot, the owner's state and HEAD again */
        if
        :: mem[SLOT(hd)] == sv ->
           if
           :: dom[sv & TID_MASK] != ALIVE ->
#ifdef BUG_SKIP_NO_HEAD_CHECK
              if :: true ->
#else
              if :: mem[HEAD] == hd ->
#endif
                 if
                 :: atomic { mem[SLOT(hd)] == sv -> mem[SLOT(hd)] = SLOT_DONE | tid | GEN(hd); at_t = hd };
                    advance()   /* cleared(owner), unpin, advance */
                 :: else
                 fi
              :: else
              fi
           :: else
           fi
        :: else
        fi
     :: else   /* unwritten yet, never written, a live owner, or our own */
     fi
  fi;
  atomic { hd = 0; sv = 0 }
}

/* turn(): Enter (the room wait, CAS NEXT, the slot), then Wait. res: R_TURN, or R_TIMED. */
inline fair_turn() {
  do
  :: n = mem[NEXT];
     if
     :: atomic { SDIST(n, mem[HEAD]) >= SLOTS -> h = mem[HEAD] };
        /* the ring is full: wait for HEAD to move, counted in ROOM */
#ifndef BUG_ROOM_NO_SKIP
        skip_dead();   /* the fix of finding room-wedge: the room wait looks at the head first */
#define ROOM_WAKE (mem[HEAD] != h || HEAD_CLAIMABLE)
#else
#define ROOM_WAKE (mem[HEAD] != h)
#endif
        mem[ROOM] = mem[ROOM] + 1;
        if
        :: late || MAY_TIME_OUT ->   /* sleepOn: the deadline passed */
           atomic { mem[ROOM] = mem[ROOM] - 1; res = R_TIMED; n = 0; h = 0; late = true };
           break
        :: !late ->
           /* qsleep(HEAD, h, ROOM_WAKE), written out for its end label */
           if
           :: atomic { mem[HEAD] == h -> woken[_pid] = false; wq!HEAD,_pid };
#ifdef ROOM_END_OK
end_room:     /* a thread left here for ever is not reported (finding room-wedge) */
#endif
              if
              :: atomic { woken[_pid] -> woken[_pid] = false }
              :: atomic { SLICED && ROOM_WAKE && wq??[eval(HEAD),eval(_pid)] -> wq??eval(HEAD),eval(_pid) }
              :: atomic { MAY_TIME_OUT && wq??[eval(HEAD),eval(_pid)] -> wq??eval(HEAD),eval(_pid); late = true }
              :: atomic { SLICED && spare > 0 && wq??[eval(HEAD),eval(_pid)] -> wq??eval(HEAD),eval(_pid); spare-- }
              fi
           :: else
           fi;
           atomic { mem[ROOM] = mem[ROOM] - 1; n = 0; h = 0 }
        fi
     :: else ->
#ifdef BUG_TICKET_FIRST
        /* broken (the first version, before eec3bfa): CAS NEXT, then store the
           entry; the store, an Atomics call, is a termination point */
        if
        :: atomic {
             mem[NEXT] == n ->
             mem[NEXT] = INC(n);
             tk[n] = TK_QUEUED; tk_owner[n] = tid; cancelled_at_head[n] = false
           };
           atomic { mem[SLOT(n)] = MINE(n); t = n; n = 0 };
           break
        :: else
        fi
#else
        sv = mem[SLOT(n)];   /* v */
        if
        :: GEN_OF(sv) == GEN(n) && (sv & STATE_MASK) != 0 ->
           /* ticket n claimed, NEXT not moved yet: help its claimer (CAS NEXT n -> n+1) */
           atomic { if :: mem[NEXT] == n -> mem[NEXT] = INC(n) :: else fi; n = 0; sv = 0 }
        :: else ->
           if
           :: mem[NEXT] != n -> atomic { n = 0; sv = 0 }
           :: else ->
              if
              :: atomic {
                   mem[SLOT(n)] == sv ->   /* claim: CAS slot n v -> WAIT|tid|gen(n) */
                   mem[SLOT(n)] = MINE(n);
                   tk[n] = TK_QUEUED; tk_owner[n] = tid; cancelled_at_head[n] = false
                 };
                 /* CAS NEXT n -> n+1 (failing: a waiter helped) */
                 atomic { if :: mem[NEXT] == n -> mem[NEXT] = INC(n) :: else fi; t = n; n = 0; sv = 0 };
                 break
              :: else -> atomic { n = 0; sv = 0 }
              fi
           fi
        fi
#endif
     fi
  od;
  if
  :: res == R_NONE ->
     do
     :: atomic { mem[HEAD] == t -> tk[t] = TK_TURN; res = R_TURN }; break
     :: else ->
        skip_dead();
        if
        :: atomic { mem[HEAD] == t -> tk[t] = TK_TURN; res = R_TURN }; break
        :: else ->
           if
           :: late || MAY_TIME_OUT ->   /* sleepOn: the deadline passed; leave unless HEAD is ours */
              late = true;
              if
              :: mem[HEAD] != t -> leave(); res = R_TIMED; break
              :: else
              fi
           :: !late ->
              qsleep(SLOT(t), MINE(t), TURN_WAKE);
              if
              :: MAY_TIME_OUT -> leave(); res = R_TIMED; break   /* aborted: the sleep throws, catch: leave */
              :: true
              fi
           fi
        fi
     od
  :: else
  fi
}

/* Mutex.lock(): mayBarge() and the fast CAS; else fairAcquiring: turn, acquiring, pass. */
inline fair_lock() {
  atomic { n = mem[NEXT]; res = R_NONE; late = false };
  if
  :: mem[HEAD] == n ->
     atomic {
       if
       :: mem[STATE] == 0 ->
          mem[STATE] = tid; res = R_OK;
#if ITERS > 0
          assert(mem[HEAD] >= n);   /* every ticket taken before the idle check was passed */
#endif
          check_acquired(res)
       :: else
       fi;
       n = 0
     }
  :: else
  fi;
  if
  :: res == R_NONE ->
     fair_turn();
     if
     :: res == R_TURN ->
        robust_acquire();
        at_t = t;
        advance()   /* finally: queue.pass(turn), however the acquisition ended */
     :: else
     fi;
     t = NOTK
  :: else
  fi
}

active [NT] proctype T() {
  byte tid = _pid + 1;
#ifdef FULL_WORD
  int s;
  int extra;
  byte wres;
#endif
  byte res, it;
  bool ok;
  byte t = NOTK;
  byte n, h, hd, at_t;
  int sv;
  byte spare = SPARE;
  bool late;                        /* this acquisition's deadline has passed */

  {
    do
    :: ITERS == 0 || it < (tid <= LONG -> ITERS : 1) ->
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
       d_step { res = 0; late = false; if :: ITERS > 0 -> it++ :: else fi }
    :: else -> break
    od;
    done[tid] = true
  }
#if DEATHS > 0
  unless {
    killed[tid] -> fleave(); in_cs[tid] = false
  }
#endif
}

/* Kills up to DEATHS threads at any termination point; marks each dead later. */
active proctype Killer() {
  byte v;
  do
  :: deaths < DEATHS ->
     atomic {
       select(v : 1 .. NT);
       if
       :: !killed[v] && !done[v] && (VICTIM == 0 || v == VICTIM) ->
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

/* Once every thread finished or was killed: no CANCELLED head of a live
   waiter that cancelled when HEAD was already its ticket. */
active proctype Final() {
  byte k;
end_wait:
  atomic {
    (done[1] || killed[1]) && (NT < 2 || done[2] || killed[2]) && (NT < 3 || done[NT] || killed[NT]) ->
    k = mem[HEAD];
    assert(!(k != mem[NEXT] && mem[SLOT(k)] == (SLOT_CANCELLED | GEN(k)) && cancelled_at_head[k] && !killed[tk_owner[k]]));
    k = 0
  }
}
