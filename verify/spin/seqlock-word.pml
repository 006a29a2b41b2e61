/*
 * seqlock-word.pml: SeqWord of src/sync/seqlock.ts on its own (the protocol
 * in seqlock.pml), in its two forms:
 *
 * ENTRY 0, one word over a whole structure (SharedMap): writers holding the
 *   writer lock make the word odd (beginWrite), change the structure, and
 *   make it even again (endWrite(before + 2)); a reader runs read(attempt,
 *   TRIES) and, when every try lost, reads under the writer lock (the
 *   caller's fallback). A writer killed mid-write leaves the word odd: the
 *   next lock holder rolls the change back (the commit journal, abstracted:
 *   the structure returns to the last finished write) and makes the word
 *   even by one more step (SharedMap.recover()).
 *   Processes: NW writers (NU writes each), a Reader reading twice, a Killer.
 *
 * ENTRY 1, one word per entry (the StateMachine log), the static forms:
 *   the entry's writer claims it (claimEntry: compareExchange from the
 *   complete value it found to its busy mark BUSY + tid), writes it, and
 *   stores its complete value (releaseEntry(k)); readers call
 *   readEntry(expected k). A writer killed mid-write leaves the entry busy:
 *   readers get undefined.
 *   Processes: an EntryWriter writing versions 1 .. NE of one entry (its
 *   claims always succeed: the claim among several writers, and when a
 *   writer may claim, is the StateMachine's and is checked in
 *   state-machine.pml), an EntryReader of a nondeterministic k, a Killer.
 *
 * The structure (and the entry) is two words, consistent when equal; the
 * writer stores them, and the attempt loads them, in either order.
 *
 * Checked: a read accepted by read() or readEntry() is whole (both words
 * from one write; readEntry(k): version k); a read under the lock is whole;
 * the values one reader reads never go back; nobody blocks when a writer
 * dies at any point (invalid end states): a killed writer stalls no reader.
 *
 * Broken variants: those of seqlock.pml's SeqWord (BUG_SEQ_VALIDATE_BEFORE_COPY,
 * BUG_ACCEPT_ODD, BUG_ENTRY_NO_PRECHECK) and the writers' orders:
 * BUG_END_BEFORE_DATA (endWrite before the changes), BUG_ENTRY_NO_BUSY (an
 * entry rewritten without claiming it first: no busy mark).
 */

#define W 0                /* the structure's sequence word (SharedMap: MapWord.SEQ) */
#define E 1                /* an entry's sequence word (a StateMachine log entry) */
#define BUSY 1073741824     /* ENTRY_BUSY (0x40000000): an entry's busy mark is BUSY + tid */
/* an entry never written: -2 in the StateMachine, 0 here (readers expect k >= 1 either way) */

#ifndef ENTRY
#define ENTRY 0
#endif
#ifndef NW
#define NW 2
#endif
#ifndef NU
#define NU 1
#endif
#ifndef NE
#define NE 2
#endif
#ifndef TRIES
#define TRIES 2            /* read()'s tries before the locked read (SharedMap: OPTIMISTIC_TRIES = 64) */
#endif
#ifndef DEATHS
#define DEATHS 1
#endif

#if ENTRY
#define NTIDS 2
#define KILLABLE 1
#else
#define NTIDS (NW + 2)
#define KILLABLE NW
#endif

int mem[2];
#include "seqlock.pml"
#include "writer-lock.pml"

int d[2];                  /* the structure */
int committed;             /* ghost: the last finished write (what a rollback restores) */
int e[2];                  /* the entry */

#if ENTRY == 0

/* the locked path's repair: roll back to the last finished write, then make the word even */
inline recover() {
  d[0] = committed;
  d[1] = committed;
  if
  :: (mem[W] & 1) != 0 -> mem[W] = mem[W] + 1
  :: else
  fi
}

active [NW] proctype Writer() {
  byte tid = _pid + 1;
  int before, v;
  byte n;
  bool took_over;
  {
    do
    :: n < NU ->
       wl_lock(took_over);
       if
       :: took_over -> recover(); took_over = false
       :: else
       fi;
       v = committed + 1;
       sw_begin_write(W, before);        /* odd */
#ifdef BUG_END_BEFORE_DATA
       sw_end_write(W, before + 2);
#endif
       if                                /* the changes: plain stores, either order */
       :: d[0] = v; d[1] = v
       :: d[1] = v; d[0] = v
       fi;
       committed = v;                    /* finished: nothing to roll back from here on */
#ifndef BUG_END_BEFORE_DATA
       sw_end_write(W, before + 2);      /* even */
#endif
       wl_unlock();
       d_step { before = 0; v = 0 };
       n++
    :: else -> break
    od
  } unless {
    killed[tid]
  }
}

/* read()'s attempt: both words, either order */
inline seq_attempt(kind, r) {
  if
  :: c0 = d[0]; c1 = d[1]
  :: c1 = d[1]; c0 = d[0]
  fi;
  r = c0
}

/* onRetry(): the lost try's temporaries are dropped */
inline seq_on_retry(kind) {
  c0 = 0; c1 = 0
}

/* read(attempt, TRIES), then the caller's locked read */
inline read_struct(v) {
  sw_read(W, 0, TRIES, v);
  if
  :: v == RETRY ->
     wl_lock(took_over);
     if
     :: took_over -> recover(); took_over = false
     :: else
     fi;
     c0 = d[0];
     c1 = d[1];
     v = c0;
     wl_unlock()
  :: else
  fi;
  assert(c0 == c1)                       /* whole */
}

active proctype Reader() {
  byte tid = NW + 1;
  SW_READER;
  int c0, c1, v, last;
  bool took_over;
  read_struct(v);
  last = v;
  d_step { c0 = 0; c1 = 0; sw_n = 0; sw_s = 0 };
  read_struct(v);
  assert(v >= last);                     /* never goes back */
  d_step { c0 = 0; c1 = 0; sw_n = 0; sw_s = 0; v = 0; last = 0 }
}

#else

active proctype EntryWriter() {
  byte tid = 1;
  int found;
  byte k = 1;
  {
    do
    :: k <= NE ->
#ifndef BUG_ENTRY_NO_BUSY
       sw_claim_entry(E, k - 1, BUSY + tid, found);   /* from the complete value before (0: never written) */
       assert(found == k - 1);
#endif
       if
       :: e[0] = k; e[1] = k
       :: e[1] = k; e[0] = k
       fi;
       sw_release_entry(E, k);
       found = 0;
       k++
    :: else -> break
    od
  } unless {
    killed[tid]
  }
}

/* readEntry()'s read: both words, either order */
inline entry_copy(kind, r) {
  if
  :: c0 = e[0]; c1 = e[1]
  :: c1 = e[1]; c0 = e[0]
  fi;
  r = c0
}

active proctype EntryReader() {
  byte k;
  int c0, c1, r;
  select(k : 1 .. NE);
  sw_read_entry(E, k, 0, r);
  if
  :: r != RETRY -> assert(c0 == k && c1 == k)   /* version k, whole */
  :: else                                        /* undefined */
  fi;
  d_step { c0 = 0; c1 = 0; r = 0; k = 0 }
}

#endif

active proctype Killer() {
  killer()
}
