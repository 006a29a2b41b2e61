/*
 * condition.pml: the futex-sequence condition variable used with a Mutex.
 *
 * Mirrors:
 *   src/sync/condition.ts  Condition.enter / wait / waitFor / notifyOne (notify)
 *   (the Mutex itself is abstracted to an atomic blocking test-and-set here;
 *    its own protocol is checked in mutex.pml)
 *
 * Processes: NC consumers, each `mutex.lock(); cond.waitFor(mutex, () =>
 * items > 0); items--; mutex.unlock()`, the last one with a timeout (it may
 * give up); NP producers, each `mutex.withLock(() => items++)` and
 * `cond.notifyOne()`, nondeterministically inside or after the lock.
 *
 * Checked: a consumer never takes an item that is not there (waitFor
 * re-checks under the mutex); no lost wake-up: Condition.wait's sleep is one
 * Atomics.wait with no slice, so a consumer left asleep with an item
 * available is an invalid end state.
 *
 * Broken variants: BUG_SEQ_AFTER_UNLOCK (wait() reads SEQ after releasing the
 * mutex, so the sleep no longer compares against the value seen under it:
 * a notify in between is lost), BUG_NO_RECHECK (waitFor takes a wake-up for
 * the predicate and does not re-check it under the mutex).
 *
 * Found while modelling: the WAITERS skip has slack. notify() reading WAITERS
 * *before* bumping SEQ (-DALT_WAITERS_BEFORE_SEQ), or wait() counting itself
 * in WAITERS after the unlock (-DALT_WAITERS_AFTER_UNLOCK), each alone still
 * loses no wake-up in this producer/consumer use (the state change under the
 * mutex and the SEQ compare cover it); both together do lose one.
 */

/* ---- layout constants (checked against the code by run.mjs) ---- */
#define C_SEQ     4   /* ConditionWord.SEQ, src/sync/condition.ts */
#define C_WAITERS 5   /* ConditionWord.WAITERS */

#ifndef NC
#define NC 2
#endif
#ifndef NPR
#define NPR NC       /* one item per consumer */
#endif
#define NPROC (NC + NPR)

int mem[6];
#include "futex.pml"

byte mx;        /* the Mutex: 0 free, else holder tid (abstracted) */
byte items;     /* the state the mutex protects */
byte consumed;

inline lock()   { atomic { mx == 0 -> mx = tid } }
inline unlock() { assert(mx == tid); mx = 0 }

/* Condition.notify(1): SEQ++, then wake one sleeper if WAITERS says someone sleeps */
inline notify_one() {
#ifdef ALT_WAITERS_BEFORE_SEQ
  w = mem[C_WAITERS];
  mem[C_SEQ] = mem[C_SEQ] + 1;
  if
  :: w > 0 -> fnotify(C_SEQ, 1)
  :: else
  fi;
  w = 0
#else
  mem[C_SEQ] = mem[C_SEQ] + 1;           /* Atomics.add(SEQ, 1) */
  if
  :: mem[C_WAITERS] > 0 -> fnotify(C_SEQ, 1)   /* Atomics.notify(SEQ, 1) */
  :: else
  fi
#endif
}

active [NC] proctype Consumer() {
  byte tid = _pid + 1;
  int seq;
  byte wres;
  bool timed = (_pid == NC - 1);
  lock();
  do
  :: items > 0 -> break                          /* waitFor: predicate() */
  :: else ->
     if
     :: timed -> goto gave_up                    /* waitFor: remaining <= 0 -> return false */
     :: true
     fi;
     /* wait(mutex): enter() reads SEQ and counts itself in WAITERS under the mutex */
#ifndef BUG_SEQ_AFTER_UNLOCK
     seq = mem[C_SEQ];
#endif
#ifndef ALT_WAITERS_AFTER_UNLOCK
     mem[C_WAITERS] = mem[C_WAITERS] + 1;        /* Atomics.add(WAITERS, 1) */
#endif
     unlock();                                   /* mutex.unlock() */
#ifdef ALT_WAITERS_AFTER_UNLOCK
     mem[C_WAITERS] = mem[C_WAITERS] + 1;
#endif
#ifdef BUG_SEQ_AFTER_UNLOCK
     seq = mem[C_SEQ];
#endif
     fwait(C_SEQ, seq, timed, wres);             /* Atomics.wait(SEQ, seq, remaining) */
     mem[C_WAITERS] = mem[C_WAITERS] - 1;        /* finally: Atomics.sub(WAITERS, 1) */
     seq = 0; wres = 0;
     lock();                                     /* mutex.lock() */
#ifdef BUG_NO_RECHECK
     break
#else
     skip
#endif
  od;
  assert(items > 0);
  items--;
  consumed++;
gave_up:
  unlock()
}

active [NPR] proctype Producer() {
  byte tid = _pid + 1;
  int w;
  lock();
  items++;
  if
  :: notify_one(); unlock()                      /* notify while holding the mutex */
  :: unlock(); notify_one()                      /* or after releasing it */
  fi
}
