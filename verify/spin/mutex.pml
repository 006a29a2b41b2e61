/*
 * mutex.pml: the robust Mutex (Drepper's 3-state futex mutex with the holder's
 * tid in the word, WAITERS / OWNER_DIED bits, sliced sleeps, takeover of a
 * dead holder).
 *
 * Mirrors:
 *   src/sync/mutex.ts        Mutex.lock (fast CAS 0 -> tid), Mutex.unlock
 *   src/sync/robust-lock.ts  RobustLock.lockSlow / settle / releaseWord / markConsistent
 *   src/sync/robust-word.ts  takeFreeOrDead, acquire, acquireAsync (abort), giveUp,
 *                            release, markConsistent
 *   src/sync/wait.ts         sleepWhile (one slice: a sleep that may end by itself)
 *   src/memory/thread.ts     Domain.isDead / Domain.markDead (dom[])
 *
 * Processes: NT threads (tid = pid + 1) that lock / work / unlock ITERS times
 * (0: forever), and a Killer that may kill up to DEATHS threads at any point
 * and, some time later, marks them dead in the domain table (superviseWorker).
 *
 * Checked: mutual exclusion among live threads; an acquisition reports
 * OWNER_DIED exactly when a holder died and nobody repaired since (so after
 * one death exactly one acquirer is told); DEAD_OWNER names the dead holder;
 * no deadlock (invalid end state = a thread asleep for ever: a lost wake-up
 * when sleeps are unsliced); progress (non-progress cycles, ITERS = 0).
 *
 * Options (-D): NT, ITERS, DEATHS, KILL_HOLDERS, SLICED (sleeps are 50 ms slices),
 * TIMED (the last thread: 1 = lock(timeoutMs) that may give up at its
 * deadline, 2 = lockAsync with an AbortSignal that may fire at any time).
 * Broken variants: BUG_SILENT_TAKEOVER (a dead holder's lock handed over
 * without OWNER_DIED), BUG_NO_WAITERS_AFTER_WAKE (a woken waiter acquires
 * without WAITERS: Drepper's mutex #2 bug), BUG_RELEASE_NO_NOTIFY (release
 * without the WAITERS check / notify).
 *
 * Finding (TIMED 2, unsliced), since fixed: giveUp() passed a consumed
 * wake-up on only when WAITERS was set; an aborted lockAsync waiter that was
 * woken by a release (which cleared WAITERS) left the next sleeper to its
 * slice. BUG_GIVEUP_CHECKS_WAITERS keeps that code as a broken variant.
 */

/* ---- layout constants (checked against the code by run.mjs) ---- */
#define HEADER_WORDS 4            /* Header.WORDS, src/memory/layout.ts */
#define STATE        4            /* MutexWord.STATE, src/sync/robust-lock.ts */
#define DEAD_OWNER   5            /* MutexWord.DEAD_OWNER */
#define WAITERS      1073741824   /* WAITERS = 1 << 30, src/sync/robust-word.ts */
#define OWNER_DIED   536870912    /* OWNER_DIED = 1 << 29 */
#define TID_MASK     65535        /* TID_MASK, src/memory/thread.ts */
#define ALIVE 1                   /* ThreadState.Alive */
#define DEAD  2                   /* ThreadState.Dead */

#ifndef NT
#define NT 3
#endif
#ifndef ITERS
#define ITERS 2
#endif
#ifndef DEATHS
#define DEATHS 0
#endif
#ifndef SLICED
#define SLICED 0
#endif
#ifndef TIMED
#define TIMED 0
#endif
#ifndef KILL_HOLDERS
#define KILL_HOLDERS 0   /* 1: the Killer kills only the thread the lock word names */
#endif

#define NPROC (NT + 1)

int mem[6];
byte dom[NT + 1] = 1;   /* every thread joined the domain: ThreadState.Alive */

#include "futex.pml"
#define SLICE_ON     SLICED
#define MAY_ABORT    (TIMED == 2 && tid == NT)
#define MAY_TIME_OUT (TIMED != 0 && tid == NT)
#include "robust-word.pml"

/* ---- ghosts ---- */
bool killed[NT + 1];     /* the thread has stopped (it runs no further step) */
bool in_cs[NT + 1];
byte deaths;             /* threads killed */
byte held_deaths;        /* threads killed while the lock word named them */
byte last_dead_holder;
bool poisoned;           /* a holder died and nobody repaired since */
byte told;               /* acquisitions that reported OWNER_DIED */
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

/* Every acquisition: OWNER_DIED is reported iff the data is poisoned. */
inline check_acquired(r) {
  assert((r == R_DIED) == poisoned);
  if
  :: r == R_DIED -> told++; assert(told <= held_deaths)
  :: else
  fi
}


/* Mutex.lock() / lockAsync(): the fast CAS 0 -> tid, then the slow path */
inline mutex_lock() {
  atomic {
    if
    :: mem[STATE] == 0 -> mem[STATE] = tid; res = R_OK; check_acquired(res)
    :: else -> res = R_NONE
    fi
  };
  if
  :: res == R_NONE -> robust_acquire()
  :: else
  fi
}

active [NT] proctype T() {
  byte tid = _pid + 1;
  int s;
  int extra;
  byte res, wres, it;
  bool ok;

  {
    do
    :: ITERS == 0 || it < ITERS ->
       mutex_lock();
       if
       :: res != R_TIMED ->
          enter_cs();
progress:  assert((mem[STATE] & TID_MASK) == tid);
          if
          :: res == R_DIED ->
             /* settle(): OwnerDiedError names the dead holder; repair, then markConsistent() */
             assert(mem[DEAD_OWNER] == last_dead_holder);
             mark_consistent()
          :: else
          fi;
          in_cs[tid] = false;
          robust_release()
       :: else
       fi;
       if :: ITERS > 0 -> it++ :: else fi   /* ITERS 0: forever, no counter */
    :: else -> break
    od
  } unless {
    killed[tid] -> fleave(); in_cs[tid] = false
  }
}

/* Kills up to DEATHS threads at any point; superviseWorker marks them dead later. */
active proctype Killer() {
  byte v;
  do
  :: deaths < DEATHS ->
     atomic {
       select(v : 1 .. NT);
       if
       :: !killed[v] && (!KILL_HOLDERS || (mem[STATE] & TID_MASK) == v) ->
          killed[v] = true;
          deaths++;
          if
          :: (mem[STATE] & TID_MASK) == v -> poisoned = true; held_deaths++; last_dead_holder = v
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
