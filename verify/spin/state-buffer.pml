/*
 * state-buffer.pml: the StateBuffer slot protocol (a seqlock ring: one
 * published-version word PUB over S slots).
 *
 * Mirrors:
 *   src/state/state-buffer.ts  StateBuffer.update (writer, under the writer
 *                              Mutex; lockSlow recovers from a dead writer)
 *   src/state/codec.ts         makeReadLatest (readBody: the generated readLatest loop)
 *   src/state/view.ts          StateView.copyVersion (at / history), latestVersion,
 *                              maxLag = slots - 2
 *   src/state/layout.ts        StateWord.PUB / WAITERS, the protocol comment
 *   src/shared/version-wait.ts waitForVersion / notifyVersion
 *   (the writer Mutex is abstracted to an atomic robust test-and-set: free, or
 *    held by a thread the domain marks dead; mutex.pml checks the real one)
 *
 * Processes: NW writers doing NU updates each (version v goes to slot
 * v mod S with payload d0 = v); LATEST: a reader doing readLatest twice;
 * HISTORY: a reader doing copyVersion(k) of a nondeterministic k; WAITER: a
 * thread in waitForVersion(NU); a Killer that may kill DEATHS writers at any
 * point (then marks them dead in the domain table, later).
 *
 * Checked: no torn copy is ever accepted (an accepted copy has d0 = its
 * version = the PUB it was read under, and copyVersion(k) returns version
 * k's payload); versions seen by one reader never go back; a killed writer
 * never stalls anybody (invalid end states); no lost wake-up in
 * waitForVersion when sleeps are unsliced (SLICED 0).
 *
 * Broken variant: BUG_LAG_OFF_BY_ONE (readers accept a copy when PUB moved by
 * S - 1, one too many: the writer may be rewriting that very slot).
 */

/* ---- layout and protocol constants (checked against the code by run.mjs) ---- */
#define PUB        4   /* StateWord.PUB, src/state/layout.ts */
#define S_WAITERS  5   /* StateWord.WAITERS */
#define NSLOTS     4   /* smallest ring: StateBuffer.create, `let slots = 4` */
#define LAG_MARGIN 2   /* view.ts: maxLag = this.slots - 2 */

#define MASK (NSLOTS - 1)
#ifdef BUG_LAG_OFF_BY_ONE
#define MAXLAG (NSLOTS - LAG_MARGIN + 1)
#else
#define MAXLAG (NSLOTS - LAG_MARGIN)
#endif

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

int mem[6];
#include "futex.pml"

/* the ring: S slots x [version | payload d0] (the timestamp, source id and
   further payload words are copied the same way as d0, between the same checks) */
byte ver[NSLOTS];
byte d0[NSLOTS];

byte wl;                 /* writer Mutex word: holder tid, 0 free (abstracted) */
bool dead[NW + 1];       /* domain table: marked dead */
bool killed[NW + 1];
byte deaths;
byte writers_died;       /* StateWord.WRITERS_DIED */

/* StateBuffer.update's lock: CAS 0 -> tid, else Mutex.lock(), which takes over
   from a dead holder (OwnerDiedError: WRITERS_DIED++, markConsistent). */
inline wlock() {
  atomic {
    (wl == 0 || dead[wl]) ->
    if
    :: wl != 0 -> writers_died++
    :: else
    fi;
    wl = tid
  }
}

active [NW] proctype Writer() {
  byte tid = _pid + 1;
  byte pub, version, b, n;
  {
    do
    :: n < NU ->
       atomic {
         wlock();
         /* plain reads of words only the mutex holder writes: one step with the lock */
         pub = mem[PUB];
         version = ver[pub & MASK] + 1;   /* f[ring + (pub & mask) * stride] + 1 */
         b = (pub + 1) & MASK
       };
       ver[b] = version;                /* plain stores into the slot */
       d0[b] = version;
       mem[PUB] = pub + 1;              /* Atomics.store(words, PUB, pub + 1) */
       wl = 0;                          /* release */
       if                               /* notifyVersion */
       :: mem[S_WAITERS] != 0 -> fnotify(PUB, NOTIFY_ALL)
       :: else
       fi;
       pub = 0; version = 0; b = 0;
       n++
    :: else -> break
    od
  } unless {
    killed[tid] -> fleave()
  }
}

/* The generated readLatest: copy slot PUB mod S, accept if PUB moved by <= maxLag. */
inline read_latest(v) {
  do
  :: true ->
     p1 = mem[PUB];                     /* Atomics.load */
     b = p1 & MASK;
     v = ver[b];
     if
     :: v == 0 -> break                 /* nothing published yet */
     :: else
     fi;
     c0 = d0[b];                        /* plain copy */
     /* (fence: Atomics.exchange on the reader's own word; a no-op under SC) */
     p2 = mem[PUB];
     if
     :: p2 - p1 <= MAXLAG ->
        assert(c0 == v && v == p1);     /* no torn copy accepted */
        break
     :: else                            /* retry */
     fi
  od;
  p1 = 0; p2 = 0; b = 0; c0 = 0
}

#if LATEST
active proctype LatestReader() {
  byte p1, p2, b, c0, v, last;
  read_latest(v);
  last = v;
  read_latest(v);
  assert(v >= last)                     /* versions never go back */
}
#endif

/* StateView.latestVersion(): version of slot PUB mod S, validated by PUB */
inline latest_version(v) {
  do
  :: true ->
     p1 = mem[PUB];
     v = ver[p1 & MASK];
     p2 = mem[PUB];
     if
     :: p2 - p1 <= MAXLAG -> break
     :: else
     fi
  od;
  p1 = 0; p2 = 0
}

#if HISTORY
active proctype HistoryReader() {
  byte p1, p2, b, c0, check, k;
  /* StateView.copyVersion(k), k nondeterministic */
  select(k : 1 .. NW * NU);
  b = k & MASK;                         /* version % slots */
  p1 = mem[PUB];
  if
  :: p1 < k || p1 - k > MAXLAG -> goto done   /* ((p1 - low) >>> 0) > maxLag: not in the ring */
  :: else
  fi;
  if
  :: ver[b] != k -> goto done
  :: else
  fi;
  c0 = d0[b];
  check = ver[b];
  p2 = mem[PUB];
  if
  :: p2 - k > MAXLAG || check != k -> skip
  :: else -> assert(c0 == k)            /* the copy is version k, whole */
  fi;
done:
  skip
}
#endif

#if WAITER
active proctype Waiter() {
  byte p1, p2, v, pub;
  byte wres;
  /* waitForVersion(NU): every surviving writer gets there */
  do
  :: true ->
     latest_version(v);
     if
     :: v >= NU -> break
     :: else
     fi;
     mem[S_WAITERS] = mem[S_WAITERS] + 1;   /* Atomics.add(WAITERS, 1) */
     pub = mem[PUB];
     latest_version(v);
     if
     :: v >= NU -> mem[S_WAITERS] = mem[S_WAITERS] - 1; break
     :: else
     fi;
     fwait(PUB, pub, SLICED, wres);          /* sleepWhile(words, PUB, pub, deadline) */
     mem[S_WAITERS] = mem[S_WAITERS] - 1;   /* finally: Atomics.sub(WAITERS, 1) */
     pub = 0; wres = 0
  od;
  assert(mem[PUB] >= NU)
}
#endif

active proctype Killer() {
  byte v;
  if
  :: deaths < DEATHS ->
     atomic { select(v : 1 .. NW); killed[v] = true; deaths++ };
     dead[v] = true                          /* Domain.markDead, later */
  :: true
  fi
}
