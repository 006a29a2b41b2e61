/*
 * state-buffer.pml: StateBuffer on the VersionRing of seqlock.pml (one
 * published-version word PUB over a ring of S slots).
 *
 * Mirrors:
 *   src/state/state-buffer.ts  StateBuffer.publish / publishFrom (publishLocked:
 *                              the writer, holding the writer lock, fills the slot
 *                              (view.ts compileWrite), ring.advance, releases the
 *                              lock, then ring.wakeAfterRelease; a dead writer's
 *                              half-written slot is rewritten by the next publish)
 *   src/state/view.ts          readLatest (VersionRing.compileReadLoop; the copy: the
 *                              slot's version, the unrolled payload copy, timestamp,
 *                              source; version 0: nothing published), copyVersion
 *                              (VersionRing.readVersion), latestVersion (VersionRing.read
 *                              of the slot's version)
 *   src/state/layout.ts        StateWord.PUB / WAITERS
 *   version-wait.ts            waitForVersion (waitUntil) / the notify in
 *                              VersionRing.wakeAfterRelease
 *   (the read protocol itself is seqlock.pml, checked alone by seqlock-ring.pml;
 *    the writer lock is writer-lock.pml's abstraction, mutex.pml checks the real one)
 *
 * Processes: NW writers doing NU publishes each (version v goes to slot
 * v mod S with payload d0 = v, the version word and the payload written in
 * either order; then PUB is stored, the lock released, and WAITERS read);
 * LATEST: a reader doing readLatest
 * twice; HISTORY: a reader doing copyVersion(k) of a nondeterministic k;
 * WAITER: a thread in waitForVersion(NU); a Killer that may kill DEATHS
 * writers at any point (marked dead in the domain table later).
 *
 * Checked: no torn copy is ever accepted (an accepted copy has d0 = its
 * version = the PUB it was read under, and copyVersion(k) returns version
 * k's payload); versions seen by one reader never go back; a killed writer
 * never stalls anybody (invalid end states); no lost wake-up in
 * waitForVersion when sleeps are unsliced (SLICED 0).
 *
 * Broken variants: BUG_LAG_OFF_BY_ONE (seqlock.pml: readers accept a copy when
 * PUB moved by S - 1, one too many: the writer may be rewriting that very slot);
 * BUG_WAKE_BEFORE_STORE (the writer reads WAITERS before it stores PUB: a
 * waiter that counts itself in between, reads the old PUB and sleeps is
 * never woken).
 */

/* ---- layout and protocol constants (checked against the code by run.mjs) ---- */
#define PUB        4   /* StateWord.PUB, src/state/layout.ts */
#define S_WAITERS  5   /* StateWord.WAITERS */
#define NSLOTS     4   /* the smallest ring (StateBuffer.create) */

#ifndef NW
#define NW 2
#endif
#ifndef NU
#define NU 3
#endif
#ifndef DEATHS
#define DEATHS 1
#endif
#ifndef SLICED
#define SLICED 0
#endif
#ifndef LATEST
#define LATEST 1
#endif
#ifndef HISTORY
#define HISTORY 1
#endif
#ifndef WAITER
#define WAITER 1
#endif
#define NPROC (NW + 4)
#define NTIDS (NW + 1)
#define KILLABLE NW

int mem[6];
#include "futex.pml"
#include "seqlock.pml"
#include "writer-lock.pml"

/* the ring: S slots x [version | payload d0] (the timestamp, source id and
   further payload words are copied the same way as d0, between the same checks) */
byte ver[NSLOTS];
byte d0[NSLOTS];

byte writers_died;       /* StateWord.WRITERS_DIED */

/* copy steps (kind: which caller) */
#define K_LATEST  0      /* readLatest: the version, then the payload */
#define K_VERSION 1      /* latestVersion: the slot's version */
#define K_HISTORY 2      /* copyVersion(k) */

inline ring_copy(kind, p, r) {
  b = p & VR_MASK;
  if
  :: kind == K_LATEST ->
     r = ver[b];                        /* const v = f[b + VERSION] */
     c0 = d0[b]                         /* the unrolled copy (then timestamp, source) */
  :: else -> r = ver[b]
  fi
}

inline ring_copy_version(kind, k, r) {
  b = k & VR_MASK;                      /* version % slots */
  if
  :: ver[b] != k -> r = RETRY           /* the slot does not hold version k */
  :: else -> c0 = d0[b]; r = k
  fi
}

active [NW] proctype Writer() {
  byte tid = _pid + 1;
  byte pub, version, b, n;
  bool took_over, wake;
  {
    do
    :: n < NU ->
       wl_lock(took_over);
       if
       :: took_over -> writers_died++; took_over = false   /* OwnerDiedError: count, markConsistent */
       :: else
       fi;
       /* plain reads of words only the lock holder writes, one step:
          published(), the version in its slot (+ 1), nextSlot() */
       atomic {
         pub = mem[PUB];
         version = ver[pub & VR_MASK] + 1;
         vr_next_slot(PUB, b)
       };
       if                               /* plain stores into the slot, either order */
       :: ver[b] = version; d0[b] = version
       :: d0[b] = version; ver[b] = version
       fi;
#ifdef BUG_WAKE_BEFORE_STORE
       wake = (mem[S_WAITERS] != 0);
#endif
       mem[PUB] = mem[PUB] + 1;         /* ring.advance(pub) */
       wl_unlock();
#ifndef BUG_WAKE_BEFORE_STORE
       wake = (mem[S_WAITERS] != 0);    /* ring.wakeAfterRelease(): a plain read of WAITERS */
#endif
       if
       :: wake -> fnotify(PUB, NOTIFY_ALL)
       :: else
       fi;
       d_step { pub = 0; version = 0; b = 0; wake = false };
       n++
    :: else -> break
    od
  } unless {
    killed[tid] -> fleave()
  }
}

#if LATEST
active proctype LatestReader() {
  VR_READER;
  byte b, c0, v, last;
  vr_read(PUB, K_LATEST, VR_INF, v);
  assert(c0 == v && v == vr_p);         /* no torn copy accepted (v = 0: nothing published) */
  d_step { last = v; c0 = 0; b = 0; vr_p = 0; vr_tries = 0 };
  vr_read(PUB, K_LATEST, VR_INF, v);
  assert(c0 == v && v == vr_p);
  assert(v >= last)                     /* versions never go back */
}
#endif

#if HISTORY
active proctype HistoryReader() {
  VR_READER;
  byte b, c0, k, r;
  select(k : 1 .. NW * NU);             /* copyVersion(k) */
  vr_read_version(PUB, K_HISTORY, k, r);
  if
  :: r != RETRY -> assert(r == k && c0 == k)   /* the copy is version k, whole */
  :: else                                       /* undefined: not in the ring */
  fi
}
#endif

#if WAITER
/* latestVersion(): VersionRing.read of the slot's version, no retry budget */
inline latest_version(v) {
  vr_read(PUB, K_VERSION, VR_INF, v);
  d_step { vr_p = 0; vr_tries = 0; b = 0 }
}

active proctype Waiter() {
  VR_READER;
  byte b, c0, v, seen, wres;
  /* waitForVersion(NU) = waitUntil(PUB, WAITERS, () => latestVersion() >= NU): every surviving writer gets there */
  do
  :: true ->
     latest_version(v);
     if
     :: v >= NU -> break
     :: else
     fi;
     mem[S_WAITERS] = mem[S_WAITERS] + 1;   /* Atomics.add(WAITERS, 1) */
     seen = mem[PUB];
     latest_version(v);
     if
     :: v >= NU -> mem[S_WAITERS] = mem[S_WAITERS] - 1; break
     :: else
     fi;
     fwait(PUB, seen, SLICED, wres);         /* sleepWhile(words, PUB, seen, deadline) */
     mem[S_WAITERS] = mem[S_WAITERS] - 1;   /* finally: Atomics.sub(WAITERS, 1) */
     d_step { seen = 0; wres = 0 }
  od;
  assert(mem[PUB] >= NU)
}
#endif

active proctype Killer() {
  killer()
}
