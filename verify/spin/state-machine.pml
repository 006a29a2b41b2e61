/*
 * state-machine.pml: the StateMachine transition log, read through
 * SeqWord.readEntry (seqlock.pml).
 *
 * Mirrors src/machine/state-machine.ts: attempt() (one compareExchange of
 * STATE from the word it saw to seq + 1; a lost race retried, as without
 * `from`), record() (the winner of seq fills log entry seq mod LOG under the
 * entry's sequence word: beginWrite(-1), the fields, endWrite(seq)), entry()
 * / history() (readEntry(expected seq)). The state index in STATE's low
 * byte is left out (every transition allowed): only seq matters to the log.
 *
 * Processes: NT threads making one transition each; a Reader reading the
 * entry of a nondeterministic seq; a Killer that may kill DEATHS of the
 * threads at any point (a winner killed mid-record leaves its entry busy).
 *
 * Checked: an entry readEntry accepts is whole and is transition seq's (both
 * fields written by seq's winner); nobody blocks.
 *
 * An entry is owned by seq's winner only while no other winner writes the
 * same entry: winners of seq and seq + LOG both write entry seq mod LOG, and
 * nothing orders their writes if the first is slow (preempted between its
 * compareExchange and the end of record()). The run with LOG >= NT (no two
 * winners per entry) checks the protocol; the run with LOG < NT shows what
 * the entry form then lets through (README, "Findings").
 */

#define BUSY  (-1)         /* record(): beginWrite(-1) */
/* an entry never written holds -2 in the code (create()); 0 here: readers expect a seq >= 1 either way */

#define STATE 0            /* the STATE word (seq << 8 | state: seq only here) */
#define LOG_W 1            /* entry k's sequence word: mem[LOG_W + k] */

#ifndef NT
#define NT 2
#endif
#ifndef LOG
#define LOG 2              /* log entries, a power of two (the code's default: 64) */
#endif
#ifndef DEATHS
#define DEATHS 1
#endif

#define NTIDS (NT + 1)
#define KILLABLE NT

int mem[1 + LOG];
#include "seqlock.pml"
#include "writer-lock.pml"

int f0[LOG];               /* an entry's fields (from, to, threadId, at, reason): two words */
int f1[LOG];

active [NT] proctype Transition() {
  byte tid = _pid + 1;
  int word, seq, before;
  byte slot;
  bool won;
  {
    /* attempt(): for (;;) { word = load(STATE); seq = (word >>> 8) + 1; if (CAS(STATE, word, seq << 8 | t) === word) break } */
    do
    :: true ->
       word = mem[STATE];
       seq = word + 1;
       atomic {
         if
         :: mem[STATE] == word -> mem[STATE] = seq; won = true
         :: else
         fi
       };
       if
       :: won -> break
       :: else
       fi
    od;
    /* record(): the entry of seq, under its sequence word; fields in the code's order */
    slot = seq & (LOG - 1);
    sw_begin_write_busy(LOG_W + slot, BUSY, before);
    f0[slot] = seq;
    f1[slot] = seq;
    sw_end_write(LOG_W + slot, seq)
  } unless {
    killed[tid]
  }
}

/* entry()'s read: the fields in the code's order */
inline entry_copy(kind, r) {
  c0 = f0[slot];
  c1 = f1[slot];
  r = c0
}

active proctype Reader() {
  int c0, c1, r;
  byte k, slot;
  select(k : 1 .. NT);
  slot = k & (LOG - 1);
  sw_read_entry(LOG_W + slot, k, 0, r);
  if
  :: r != RETRY -> assert(c0 == k && c1 == k)   /* transition k's entry, whole */
  :: else                                        /* undefined: not complete, or overwritten */
  fi
}

active proctype Killer() {
  killer()
}
