/*
 * seqlock-ring.pml: VersionRing of src/sync/seqlock.ts on its own (the
 * protocol in seqlock.pml), as SnapshotStore and StateBuffer use it: writers
 * holding the writer lock fill slot nextSlot() and publish(); readers call
 * read(copy, maxRetries) and readVersion(version, copy).
 *
 * A slot is two words, its version and a payload word (every further word
 * is copied the same way between the same checks). The writer stores them,
 * and the copy loads them, in either order: the protocol must not lean on a
 * codec's field order. A copy that read a torn slot may answer RETRY (as
 * SnapshotStore's bounds check does for some torn metadata) or not.
 *
 * Processes: NW writers publishing NU versions each (version v into slot
 * v mod S with payload v; the initial state is version 0 in slot 0, as a
 * store starts with its initial version published); Reader: read() twice,
 * with budgets of 1 retry and of none (the code's: 10,000, or Infinity;
 * small budgets take the starved exit within a few publications); VersionReader: readVersion(k) of a
 * nondeterministic k; a Killer that may kill DEATHS writers at any point
 * (the next writer takes the lock over and rewrites the half-filled slot).
 *
 * Checked: a copy read() accepts is whole and is the version PUB named when
 * the read began (payload = version = p): a half-filled slot is never
 * accepted, so readers keep the last complete version when a writer dies;
 * readVersion(k) returns version k whole, or undefined; the versions read()
 * returns never go back; nobody blocks when a writer dies (invalid end
 * states): a killed writer stalls no reader.
 *
 * Broken variants: those of seqlock.pml's VersionRing (BUG_LAG_OFF_BY_ONE,
 * BUG_RING_VALIDATE_BEFORE_COPY, BUG_READVERSION_NO_PRECHECK) and
 * BUG_PUBLISH_BEFORE_FILL (the writer stores PUB before filling the slot).
 */

/* ---- constants (checked against the code by run.mjs) ---- */
#define NSLOTS 4           /* SNAPSHOT_SLOTS (src/snapshot/layout.ts); the smallest StateBuffer ring */

#define PUB     0
#define WAITERS 1

#ifndef NW
#define NW 1
#endif
#ifndef NU
#define NU 4
#endif
#ifndef DEATHS
#define DEATHS 0
#endif
#ifndef VREADER
#define VREADER 1
#endif

#define NPROC (NW + 3)
#define NTIDS (NW + 1)
#define KILLABLE NW

int mem[2];
#include "futex.pml"
#include "seqlock.pml"
#include "writer-lock.pml"

int sver[NSLOTS];          /* slot: version */
int sdat[NSLOTS];          /* slot: payload */

active [NW] proctype Writer() {
  byte tid = _pid + 1;
  int pub, version;
  byte b, n;
  bool took_over;
  {
    do
    :: n < NU ->
       wl_lock(took_over);
       /* plain reads of what only lock holders write, one step: published(),
          the version in its slot (+ 1), nextSlot() */
       atomic {
         pub = mem[PUB];
         version = sver[pub & VR_MASK] + 1;
         vr_next_slot(PUB, b)
       };
#ifdef BUG_PUBLISH_BEFORE_FILL
       vr_publish(PUB, WAITERS);
#endif
       if                                /* fill the slot: plain stores, either order */
       :: sver[b] = version; sdat[b] = version
       :: sdat[b] = version; sver[b] = version
       fi;
#ifndef BUG_PUBLISH_BEFORE_FILL
       vr_publish(PUB, WAITERS);
#endif
       wl_unlock();
       d_step { pub = 0; version = 0; b = 0; took_over = false };
       n++
    :: else -> break
    od
  } unless {
    killed[tid]
  }
}

/* the copy step of read(): slot p, either order; a torn copy may be noticed */
inline ring_copy(kind, p, r) {
  b = p & VR_MASK;
  if
  :: c_ver = sver[b]; c_dat = sdat[b]
  :: c_dat = sdat[b]; c_ver = sver[b]
  fi;
  if
  :: c_ver != c_dat -> r = RETRY      /* what it read cannot be right */
  :: true -> r = c_ver
  fi
}

/* the copy step of readVersion(k): RETRY if the slot does not hold version k */
inline ring_copy_version(kind, k, r) {
  b = k & VR_MASK;
  if
  :: c_ver = sver[b]; c_dat = sdat[b]
  :: c_dat = sdat[b]; c_ver = sver[b]
  fi;
  if
  :: c_ver != k -> r = RETRY
  :: else -> r = k
  fi
}

active proctype Reader() {
  VR_READER;
  byte b;
  int c_ver, c_dat, v, last;
  vr_read(PUB, 0, 1, v);
  if
  :: v != RETRY ->
     assert(c_dat == c_ver && c_ver == vr_p);   /* whole, and the version PUB named */
     last = v
  :: else -> last = 0                            /* starved: the caller throws */
  fi;
  d_step { c_ver = 0; c_dat = 0; b = 0; v = 0; vr_p = 0; vr_tries = 0 };
  vr_read(PUB, 0, 0, v);
  if
  :: v != RETRY ->
     assert(c_dat == c_ver && c_ver == vr_p);
     assert(v >= last)                            /* versions never go back */
  :: else
  fi;
  d_step { c_ver = 0; c_dat = 0; b = 0; v = 0; last = 0; vr_p = 0; vr_tries = 0 }
}

#if VREADER
active proctype VersionReader() {
  VR_READER;
  byte b, k;
  int c_ver, c_dat, r;
  select(k : 1 .. NW * NU);
  vr_read_version(PUB, 0, k, r);
  if
  :: r != RETRY -> assert(r == k && c_ver == k && c_dat == k)   /* version k, whole */
  :: else                                                        /* undefined */
  fi;
  d_step { c_ver = 0; c_dat = 0; b = 0; r = 0; k = 0 }
}
#endif

active proctype Killer() {
  killer()
}
