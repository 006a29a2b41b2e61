/*
 * rwlock.pml: the big-reader RWLock (a robust writer word plus per-thread
 * reader slots, writer preference, draining on an epoch word).
 *
 * Mirrors:
 *   src/sync/rwlock.ts       RWLock.enterRead / leaveRead / readerBlockedBy / readLock,
 *                            writeLock (fast CAS, acquire(), drainSync), writeUnlock,
 *                            markConsistent
 *   src/sync/reader-slots.ts ReaderSlots.own (claim, raiseSlotsUsed), reclaim, drained
 *   src/sync/robust-word.ts  acquire / takeFreeOrDead / markConsistent (robust-word.pml)
 *
 * Processes: NR readers (tids 1..NR) and NWR writers (tids NR+1..), each doing
 * ITERS read (write) sections; a Killer that may kill DEATHS threads (tids
 * VICTIM_LO..VICTIM_HI) at any point and mark them dead later. One reader slot per reader (no OVERFLOW),
 * no nested or upgrading reads, no timeouts (writers wait forever).
 *
 * Checked: no live reader inside while a live writer is inside, no two live
 * writers inside; readers are refused while a dead writer's data is not
 * repaired; a writer is told OWNER_DIED exactly when a writer died holding
 * and nobody repaired; a dead reader's hold is reclaimed (no invalid end
 * state); no lost wake-up on STATE or DRAIN when sleeps are unsliced.
 *
 * Broken variants: BUG_SLOTS_USED_LATE (a reader raises SLOTS_USED after its
 * first add(COUNT) and STATE check instead of before them: a writer that
 * loaded SLOTS_USED before the raise does not scan that slot), BUG_LEAVE_NO_DRAIN (leaveRead
 * does not bump DRAIN: a draining writer sleeps through the last reader leaving).
 */

/* ---- layout constants (checked against the code by run.mjs) ---- */
#define STATE       4            /* RWLockWord.STATE, src/sync/rwlock.ts */
#define DEAD_OWNER  5            /* RWLockWord.DEAD_OWNER */
#define DRAIN       7            /* RWLockWord.DRAIN */
#define SLOTS_USED 10            /* RWLockWord.SLOTS_USED */
#define WAITERS     1073741824   /* 1 << 30, src/sync/robust-word.ts */
#define OWNER_DIED  536870912    /* 1 << 29 */
#define TID_MASK    65535        /* src/memory/thread.ts */
#define RECLAIMING  255          /* reader-slots.ts RECLAIMING = -1 (a byte here) */
#define ALIVE 1
#define DEAD  2

#ifndef NR
#define NR 2
#endif
#ifndef NWR
#define NWR 1
#endif
#ifndef ITERS
#define ITERS 1
#endif
#ifndef DEATHS
#define DEATHS 0
#endif
#ifndef SLICED
#define SLICED 0
#endif
/* DRAIN is an epoch: only "changed since read" matters. The code's wraps
   modulo 2^32; here modulo DRAIN_MOD, or a reader backing out in a loop of
   sliced sleeps would make the state space infinite. */
#define DRAIN_MOD 8
#ifndef VICTIM_LO
#define VICTIM_LO 1      /* the Killer picks its victims among tids VICTIM_LO..VICTIM_HI */
#endif
#ifndef VICTIM_HI
#define VICTIM_HI NT
#endif
#define NT (NR + NWR)
/* Victims die while holding (a writer: STATE names it; a reader: its slot
   counts a hold), at any point of that. Deaths elsewhere (asleep, between
   sections) are covered by mutex.pml; here they only multiply the states. */
#if NR == 1
#define READ_HOLDS(v) (OWNER[0] == v && COUNT[0] > 0)
#else
#define READ_HOLDS(v) ((OWNER[0] == v && COUNT[0] > 0) || (OWNER[1] == v && COUNT[1] > 0))
#endif
#define HOLDS(v) ((mem[STATE] & TID_MASK) == v || READ_HOLDS(v))
#define NPROC (NT + 1)
#define NSLOT NR

int mem[11];
byte dom[NT + 1] = 1;     /* ThreadState.Alive */
byte COUNT[NSLOT];        /* slot word 0: read holds */
byte OWNER[NSLOT];        /* slot word 1: owner tid, 0 free, RECLAIMING */

#include "futex.pml"
/* SLICED 1: every sleep is a slice that may end by itself; SLICED 2: only once
   somebody has died (a reduction: before that, the unsliced runs show the
   wake-up protocol needs no slice). */
#define SLICE_ON     (SLICED == 1 || (SLICED == 2 && deaths > 0))
#define MAY_ABORT    0
#define MAY_TIME_OUT 0
#include "robust-word.pml"

/* ---- ghosts ---- */
bool killed[NT + 1];
bool rin[NT + 1];         /* reader inside */
bool win[NT + 1];         /* writer inside */
byte deaths;
bool poisoned;            /* a writer died holding STATE, nobody repaired since */
bool data_bad;            /* a writer died inside its write section, nobody repaired since */
byte told;
byte held_deaths;
byte g;

inline check_acquired(r) {
  assert((r == R_DIED) == poisoned);
  if
  :: r == R_DIED -> told++; assert(told <= held_deaths)
  :: else
  fi
}

inline reader_enter_cs() {
  atomic {
    assert(!data_bad);              /* never reads a dead writer's unrepaired data */
    rin[tid] = true;
    g = 1;
    do
    :: g <= NT -> assert(!win[g] || killed[g]); g++
    :: else -> break
    od;
    g = 0
  }
}

inline writer_enter_cs() {
  atomic {
    win[tid] = true;
    g = 1;
    do
    :: g <= NT -> assert(g == tid || killed[g] || (!win[g] && !rin[g])); g++
    :: else -> break
    od;
    g = 0
  }
}

/* ReaderSlots.reclaim(w, deadOwner): exactly one thread wins the owner CAS */
inline reclaim(k, dead_owner) {
  atomic {
    if
    :: OWNER[k] == dead_owner -> OWNER[k] = RECLAIMING; ok = true
    :: else -> ok = false
    fi
  };
  if
  :: ok ->
     COUNT[k] = 0;                           /* plain: the claim made it ours */
     OWNER[k] = 0;                           /* Atomics.store: a release after the count */
     mem[DRAIN] = (mem[DRAIN] + 1) % DRAIN_MOD;            /* Atomics.add(DRAIN, 1) */
     fnotify(DRAIN, NOTIFY_ALL)
  :: else
  fi;
  ok = false
}

/* raiseSlotsUsed(k + 1): a CAS max */
inline raise_slots_used(used) {
  atomic { if :: mem[SLOTS_USED] < used -> mem[SLOTS_USED] = used :: else fi }
}

/* ReaderSlots.own(): claim a slot on the first read */
inline own() {
  if
  :: slot == 255 ->
     k = 0;
     do
     :: k < NSLOT ->
        o = OWNER[k];
        if
        :: o > 0 && o != RECLAIMING && dom[o] == DEAD -> reclaim(k, o)
        :: else
        fi;
        atomic {
          if
          :: OWNER[k] == 0 -> OWNER[k] = tid; slot = k
          :: else
          fi
        };
        if
        :: slot != 255 ->
#ifndef BUG_SLOTS_USED_LATE
           raise_slots_used(k + 1);
#endif
           break
        :: else -> k++
        fi
     :: else -> break
     od;
     assert(slot != 255);          /* one slot per reader: never the OVERFLOW counter */
     k = 0; o = 0
  :: else
  fi
}

/* leaveRead(c) */
inline leave_read() {
  COUNT[slot] = COUNT[slot] - 1;                       /* Atomics.sub */
#ifndef BUG_LEAVE_NO_DRAIN
  if
  :: (mem[STATE] & TID_MASK) != 0 ->                   /* a writer present may be draining */
     mem[DRAIN] = (mem[DRAIN] + 1) % DRAIN_MOD;
     fnotify(DRAIN, NOTIFY_ALL)
  :: else
  fi
#endif
}

/* enterRead(): res R_OK in, R_NONE a writer is in the way, R_DIED poisoned (throws) */
inline enter_read() {
  own();
  before = COUNT[slot];
  COUNT[slot] = before + 1;                            /* Atomics.add: one step */
  s = mem[STATE];
#ifdef BUG_SLOTS_USED_LATE
  raise_slots_used(slot + 1);
#endif
  if
  :: s == 0 || before > 0 -> res = R_OK
  :: else ->
     if
     :: (s & TID_MASK) == 0 && (s & OWNER_DIED) == 0 -> res = R_OK   /* only WAITERS set */
     :: (s & TID_MASK) == 0 && (s & OWNER_DIED) != 0 -> leave_read(); res = R_DIED
     :: else -> leave_read(); res = R_NONE
     fi
  fi;
  before = 0
}

/* readerBlockedBy(): evicts a dead writer, else returns the word to sleep on (ok) */
inline reader_blocked_by() {
  s = mem[STATE];
  if
  :: (s & TID_MASK) == 0 -> ok = false
  :: (s & TID_MASK) != 0 && (s & TID_MASK) != tid && dom[s & TID_MASK] == DEAD ->
     atomic {
       if
       :: mem[STATE] == s -> mem[STATE] = OWNER_DIED; ok = true
       :: else -> ok = false
       fi
     };
     if
     :: ok -> mem[DEAD_OWNER] = s & TID_MASK; fnotify(STATE, NOTIFY_ALL)
     :: else
     fi;
     ok = false
  :: else ->
     if
     :: (s & WAITERS) == 0 ->
        atomic {
          if
          :: mem[STATE] == s -> mem[STATE] = s | WAITERS; s = s | WAITERS; ok = true
          :: else -> ok = false
          fi
        }
     :: else -> ok = true
     fi
  fi
}

/* ReaderSlots.drained(): every used slot's count is 0 (reclaiming dead owners' holds) */
inline drained() {
  used = mem[SLOTS_USED];
  k = 0;
  dr = true;
  do
  :: k < used && k < NSLOT ->
     if
     :: COUNT[k] == 0 -> k++
     :: else ->
        o = OWNER[k];
        if
        :: o > 0 && o != RECLAIMING && dom[o] == DEAD ->
           reclaim(k, o);
           if
           :: COUNT[k] == 0 -> k++
           :: else -> dr = false; break
           fi
        :: else -> dr = false; break
        fi
     fi
  :: else -> break
  od;
  k = 0; o = 0; used = 0
}

active [NT] proctype T() {
  byte tid = _pid + 1;
  bool is_reader = (tid <= NR);
  int s, extra;
  byte res, wres, it, before, k, o, used, epoch;
  byte slot = 255;
  bool ok, dr;
  {
    do
    :: (ITERS == 0 || it < ITERS) && is_reader ->
       /* readLock() */
       do
       :: true ->
          enter_read();
          if
          :: res != R_NONE -> break
          :: else
          fi;
          reader_blocked_by();
          if
          :: ok -> fwait(STATE, s, SLICE_ON, wres); wres = 0
          :: else
          fi;
          s = 0; ok = false
       od;
       s = 0;
       if
       :: res == R_OK ->
          reader_enter_cs();
progress_read:
          rin[tid] = false;
          leave_read()                 /* readUnlock() */
       :: else                         /* OwnerDiedError: refused while poisoned */
       fi;
       res = 0;
       if :: ITERS > 0 -> it++ :: else fi   /* ITERS 0: forever, no counter */
    :: (ITERS == 0 || it < ITERS) && !is_reader ->
       /* writeLock(): fast CAS, else acquire() */
       atomic {
         if
         :: mem[STATE] == 0 -> mem[STATE] = tid; res = R_OK; check_acquired(res)
         :: else -> res = R_NONE
         fi
       };
       if
       :: res == R_NONE -> robust_acquire()
       :: else
       fi;
       /* drained(), then drainSync() */
       drained();
       do
       :: dr -> break
       :: else ->
          epoch = mem[DRAIN];
          drained();
          if
          :: dr -> break
          :: else -> fwait(DRAIN, epoch, SLICE_ON, wres); wres = 0; drained()
          fi
       od;
       epoch = 0; dr = false;
       writer_enter_cs();
progress_write:
       if
       :: res == R_DIED -> data_bad = false; mark_consistent()   /* repair, then markConsistent() */
       :: else
       fi;
       win[tid] = false;
       /* writeUnlock(): clear everything but OWNER_DIED, wake everyone if WAITERS */
       s = mem[STATE];
       assert((s & TID_MASK) == tid);
       do
       :: atomic {
            if
            :: mem[STATE] == s -> mem[STATE] = s & OWNER_DIED; ok = true
            :: else -> s = mem[STATE]; ok = false
            fi
          };
          if
          :: ok -> break
          :: else
          fi
       od;
       if
       :: (s & WAITERS) != 0 -> fnotify(STATE, NOTIFY_ALL)
       :: else
       fi;
       s = 0; ok = false; res = 0;
       if :: ITERS > 0 -> it++ :: else fi   /* ITERS 0: forever, no counter */
    :: else -> break
    od
  } unless {
    killed[tid] -> fleave(); rin[tid] = false; win[tid] = false
  }
}

active proctype Killer() {
  byte v;
  do
  :: deaths < DEATHS ->
     atomic {
       select(v : VICTIM_LO .. VICTIM_HI);
       if
       :: !killed[v] && HOLDS(v) ->
          killed[v] = true;
          deaths++;
          if
          :: (mem[STATE] & TID_MASK) == v -> poisoned = true; held_deaths++
          :: else
          fi;
          if
          :: win[v] -> data_bad = true
          :: else
          fi
       :: else -> v = 0
       fi
     };
     if
     :: v != 0 -> dom[v] = DEAD
     :: else
     fi
  :: true -> break
  od
}
