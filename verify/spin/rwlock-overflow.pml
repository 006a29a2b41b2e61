/*
 * rwlock-overflow.pml: the RWLock's readers without a slot (the shared
 * OVERFLOW counter) and their overflow ledger entries, with readers killed
 * at any termination point and a writer that reclaims dead readers' holds.
 *
 * Mirrors:
 *   src/sync/reader-slots.ts ReaderSlots.addOverflowHold / removeOverflowHold
 *                            (the entry claimed with plain writes, OVERFLOW
 *                            changed by one Atomics call, the entry by plain
 *                            writes after it), sweepDeadOverflow /
 *                            reclaimOverflow (claim the entry by CAS, take
 *                            its holds off OVERFLOW, free it), drained
 *   src/sync/rwlock.ts       enterOverflowRead (add, load STATE, nested holds
 *                            enter with a writer present, else back out),
 *                            readUnlock; the writer: STATE, then drain
 *
 * Where a thread can be killed (docs/verification.md, "Thread ids reused";
 * test/termination-points.test.ts): at a call, Atomics calls included,
 * before its effect; never between plain statements. So an Atomics step and
 * the plain writes right after it are one atomic block here, and a reader
 * may be killed at every other statement boundary (`unless`). A killed
 * reader is later marked dead (the Killer), after which the writer may
 * reclaim its entry. One writer, never killed (writers are mutex.pml's and
 * rwlock.pml's); one lock (one ledger entry per reader).
 *
 * Checked: the writer is never inside with a live reader inside; OVERFLOW
 * never goes below the live readers' holds (a reclaim never takes a live
 * hold); the writer always gets in (no invalid end state: every dead
 * reader's holds are reclaimed).
 *
 * Broken variants: BUG_ENTRY_FIRST (a leaving hold takes the entry off, then
 * OVERFLOW, with a termination point between: the order before this model),
 * BUG_NO_SWEEP (no reclaim of dead readers' entries: the code before the
 * ledger), BUG_COUNT_AFTER_ENTRY (a new hold recorded in the entry before
 * OVERFLOW, a termination point between).
 */

#ifndef NR
#define NR 2
#endif
#ifndef NEST
#define NEST 2
#endif
#ifndef WITERS
#define WITERS 2
#endif
#ifndef DEATHS
#define DEATHS 1
#endif

#define FREE 0
#define MINE 1
#define RECLAIMING 2

byte OVERFLOW = 0;
bit STATE = 0;               /* the writer's word: 1 while it holds or drains */
byte LOCK[NR];               /* each reader's ledger entry for this lock: FREE, MINE, RECLAIMING */
byte HOLDS[NR];              /* holds the entry records */
byte held[NR];               /* holds the reader really has in OVERFLOW (ghost) */
bit inside[NR];              /* a reader inside its read section (ghost) */
bit killed[NR];              /* stopped: no further step */
bit dead[NR];                /* marked dead (after it stopped) */
bit writing = 0;             /* the writer inside (ghost) */
byte kills = 0;

/* The sum of the live readers' holds in OVERFLOW (ghost). */
#define LIVE_HELD(r) (killed[r] == 0 -> held[r] : 0)

inline leaveOne(r) {
#ifdef BUG_ENTRY_FIRST
  d_step { HOLDS[r]--; if :: HOLDS[r] == 0 -> LOCK[r] = FREE :: else -> skip fi };
  d_step { OVERFLOW--; held[r]-- }
#else
  /* Atomics.sub(OVERFLOW), then plain: --HOLDS, free the entry at 0. */
  d_step { OVERFLOW--; held[r]--; HOLDS[r]--; if :: HOLDS[r] == 0 -> LOCK[r] = FREE :: else -> skip fi }
#endif
}

inline addOne(r) {
  /* The entry claimed with plain writes (a termination point before, none inside). */
  if
  :: LOCK[r] == FREE -> d_step { LOCK[r] = MINE; HOLDS[r] = 0 }
  :: else -> skip
  fi;
#ifdef BUG_COUNT_AFTER_ENTRY
  HOLDS[r]++;
  d_step { OVERFLOW++; held[r]++ }
#else
  /* Atomics.add(OVERFLOW), then plain ++HOLDS. */
  d_step { OVERFLOW++; held[r]++; HOLDS[r]++ }
#endif
}

proctype Reader(byte r) {
  byte n;
  byte before;
  {
    do
    :: n < NEST ->
       before = held[r];
       addOne(r);
       /* load STATE: a nested hold enters with a writer present (it waits for our first) */
       if
       :: STATE == 0 || before > 0 -> n++
       :: else ->
          leaveOne(r);
          (STATE == 0)        /* sleep on STATE until the writer leaves */
       fi
    :: n == NEST -> break
    od;
    inside[r] = 1;
    inside[r] = 0;
    do
    :: n > 0 -> leaveOne(r); n--
    :: n == 0 -> break
    od
  } unless { killed[r] == 1 }
}

proctype Killer() {
  byte r;
  do
  :: kills < DEATHS ->
     select(r : 0 .. NR - 1);
     if
     :: killed[r] == 0 -> killed[r] = 1; kills++
     :: else -> skip
     fi
  :: kills == DEATHS -> break
  od;
  /* The exit is seen later: marked dead after it stopped. */
  for (r : 0 .. NR - 1) {
    if :: killed[r] == 1 -> dead[r] = 1 :: else -> skip fi
  }
}

#ifdef BUG_NO_SWEEP
#define DEATH_TO_RECLAIM false   /* the counter alone: nothing to reclaim a dead reader's holds from */
#else
#define DEATH_TO_RECLAIM ((dead[0] && LOCK[0] == MINE) || (NR > 1 && dead[1] && LOCK[1] == MINE) || (NR > 2 && dead[2] && LOCK[2] == MINE))
#endif

inline sweep() {
  /* sweepDeadOverflow / reclaimOverflow for each dead reader with an entry */
#ifdef BUG_NO_SWEEP
  skip
#else
  for (k : 0 .. NR - 1) {
    if
    :: dead[k] == 1 && LOCK[k] == MINE ->
       LOCK[k] = RECLAIMING;                       /* the claim (CAS) */
       d_step {
         leaked = HOLDS[k]; HOLDS[k] = 0;          /* exchange */
         assert(OVERFLOW >= leaked);
         OVERFLOW = OVERFLOW - leaked;             /* Atomics.sub */
         held[k] = held[k] - leaked                /* ghost: the dead reader's holds are gone */
       };
       LOCK[k] = FREE
    :: else -> skip
    fi
  }
#endif
}

proctype Writer() {
  byte w = 0;
  byte k;
  byte leaked;
  do
  :: w < WITERS ->
     STATE = 1;
     do
     :: OVERFLOW == 0 -> break
     :: OVERFLOW != 0 -> sweep();
        /* sleep on DRAIN: woken by a leaving reader, or (sliced) a death to reclaim */
        (OVERFLOW == 0 || DEATH_TO_RECLAIM)
     od;
     writing = 1;
     for (k : 0 .. NR - 1) { assert(!(inside[k] == 1 && killed[k] == 0)) }
     writing = 0;
     STATE = 0;
     w++
  :: w == WITERS -> break
  od
}

/* A reclaim never takes a live reader's hold: OVERFLOW covers every live reader's holds. */
active proctype Invariant() {
  byte i;
  do
  :: atomic {
       timeout -> break
     }
  :: atomic {
       (OVERFLOW < LIVE_HELD(0)
#if NR > 1
        + LIVE_HELD(1)
#endif
#if NR > 2
        + LIVE_HELD(2)
#endif
       ) -> assert(false)
     }
  :: atomic { OVERFLOW > NR * NEST -> assert(false) }   /* wrapped below 0 */
  od
}

init {
  byte r;
  atomic {
    for (r : 0 .. NR - 1) { run Reader(r) }
    run Writer();
    run Killer()
  }
}
