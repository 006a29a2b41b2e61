/*
 * robust-word.pml: the robust lock word shared by mutex.pml and rwlock.pml
 * (included, not a model of its own).
 *
 * Mirrors src/sync/robust-word.ts: takeFreeOrDead, acquire / acquireAsync,
 * giveUp, release, markConsistent (line by line; SPIN rounds left out).
 *
 * Needs from the includer: mem[], dom[] with DEAD, STATE, DEAD_OWNER,
 * WAITERS, OWNER_DIED, TID_MASK, SLICE_ON (may a sleep end by itself); in
 * the process: tid, s, extra, res, wres, ok; an inline check_acquired(r) (the model's ghost check on every
 * acquisition); MAY_ABORT and MAY_TIME_OUT (may this thread's wait be
 * aborted / reach its deadline); a ghost `poisoned`.
 */

/* Acquired.* of robust-word.ts (plus NONE = "undefined": retry) */
#define R_OK     0
#define R_DIED   1
#define R_TIMED  2
#define R_NONE   9

/* takeFreeOrDead(words, i, domain, s, extra) */
inline take_free_or_dead() {
  if
  :: (s & TID_MASK) == 0 ->
     atomic {
       if
       :: mem[STATE] == s ->
          mem[STATE] = tid | (s & OWNER_DIED) | extra;
          res = ((s & OWNER_DIED) != 0 -> R_DIED : R_OK);
          check_acquired(res)
       :: else -> res = R_NONE
       fi
     }
  :: (s & TID_MASK) != 0 && (s & TID_MASK) != tid && dom[s & TID_MASK] == DEAD ->
     atomic {
       if
       :: mem[STATE] == s ->
#ifdef BUG_SILENT_TAKEOVER
          mem[STATE] = tid | (s & WAITERS) | extra;
          res = R_OK;
#else
          mem[STATE] = tid | OWNER_DIED | (s & WAITERS) | extra;
          res = R_DIED;
#endif
          check_acquired(res)
       :: else -> res = R_NONE
       fi
     };
     if
     :: res == R_DIED -> mem[DEAD_OWNER] = s & TID_MASK   /* Atomics.store(DEAD_OWNER, holder) */
     :: else
     fi
  :: else -> res = R_NONE
  fi
}

/* giveUp(): pass a possibly consumed wake-up on, whatever the word says.
 * BUG_GIVEUP_CHECKS_WAITERS: the code before the SPIN finding, which passed it
 * on only when WAITERS was set. */
inline give_up() {
#ifdef BUG_GIVEUP_CHECKS_WAITERS
  if
  :: (mem[STATE] & WAITERS) != 0 -> fnotify(STATE, 1)
  :: else
  fi;
#else
  fnotify(STATE, 1);
#endif
  res = R_TIMED
}

/* acquire(words, i, domain, deadline) / acquireAsync(...): the slow path.
   No spinning: SPIN rounds only re-load the word, which the interleavings cover. */
inline robust_acquire() {
     extra = 0;
     do
     :: true ->
        /* acquireAsync: if (signal?.aborted) { giveUp(); throw } */
        if
        :: MAY_ABORT -> give_up(); break
        :: true
        fi;
        s = mem[STATE];
        take_free_or_dead();
        if
        :: res != R_NONE -> break
        :: else
        fi;
        if
        :: (s & TID_MASK) == 0 -> skip   /* lost a race for a free word: retry at once */
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
           fi;
           if
           :: ok ->
              /* sleepWhile(words, i, s, deadline): false when the deadline passed */
              if
              :: MAY_TIME_OUT -> give_up(); break
              :: true -> fwait(STATE, s, SLICE_ON || MAY_TIME_OUT, wres)
              fi;
#ifdef BUG_NO_WAITERS_AFTER_WAKE
              extra = 0
#else
              extra = WAITERS
#endif
           :: else
           fi
        fi
     od;
  s = 0; extra = 0; ok = false; wres = 0   /* dead after this point: keeps the state space small */
}

/* release(words, i, tid) (after releaseWord's fast CAS tid -> 0) */
inline robust_release() {
  atomic {
    if
    :: mem[STATE] == tid -> mem[STATE] = 0; ok = true
    :: else -> s = mem[STATE]; ok = false
    fi
  };
  if
  :: !ok ->
     do
     :: true ->
        assert((s & TID_MASK) == tid);   /* else LockError */
        atomic {
          if
          :: mem[STATE] == s -> mem[STATE] = s & OWNER_DIED; ok = true
          :: else -> s = mem[STATE]
          fi
        };
        if
        :: ok -> break
        :: else
        fi
     od;
#ifndef BUG_RELEASE_NO_NOTIFY
     if
     :: (s & WAITERS) != 0 -> fnotify(STATE, 1)
     :: else
     fi
#endif
  :: else
  fi;
  s = 0; ok = false
}

/* markConsistent(words, i, tid): clear OWNER_DIED (the holder repaired the data) */
inline mark_consistent() {
  s = mem[STATE];
  do
  :: true ->
     assert((s & TID_MASK) == tid);
     if
     :: (s & OWNER_DIED) == 0 -> break
     :: else
     fi;
     atomic {
       if
       :: mem[STATE] == s -> mem[STATE] = s & ~OWNER_DIED; poisoned = false; ok = true
       :: else -> s = mem[STATE]; ok = false
       fi
     };
     if
     :: ok -> break
     :: else
     fi
  od
}

