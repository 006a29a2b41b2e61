/*
 * state-machine.pml: the StateMachine transition log: writers of one entry
 * claim it (SeqWord.claimEntry / releaseEntry, seqlock.pml), readers read
 * through SeqWord.readEntry.
 *
 * Mirrors src/machine/state-machine.ts attempt() (one compareExchange of
 * STATE from the word it saw to seq + 1; a lost race retried, as without
 * `from`) and src/machine/log.ts record() (the winner of seq claims log entry
 * seq mod LOG, writes it and releases it with seq; or leaves it out) and
 * read() (readEntry(expected seq)). The state index in STATE's low byte is
 * left out (every transition allowed): only seq matters to the log.
 *
 * The claim (log.ts claimAt), step for step:
 *   v = words[i]                          the first look (a plain load)
 *   loop, at most CLAIM_SPIN times:
 *     v a busy mark (>= BUSY): if its thread is dead (Domain.isDead) claim
 *       from v; else load again. The code asks isDead once per mark found
 *       and loads again while the same mark stays: here a busy mark may be
 *       loaded again whether or not its thread is dead (more behaviours).
 *     v complete and older than seq (or never written): claim from v;
 *       newer: leave the entry.
 *     claim: claimEntry(words, i, v, BUSY + tid), one compareExchange;
 *       the value found: v (claimed) or the new v.
 *   CLAIM_SPIN spent: leave the entry. Modelled as "after any load of a busy
 *   mark or any failed claim, the writer may give up" (every budget).
 *
 * Processes: NT threads making one transition each; a Reader reading the
 * entry of a nondeterministic seq; a Killer that may kill DEATHS of the
 * threads at any point (a winner killed mid-record leaves its entry busy)
 * and later marks it dead (its mark may then be taken over).
 *
 * Checked: an entry readEntry accepts is whole and is transition seq's (both
 * fields written by seq's winner); a writer holds its claim from its
 * compareExchange to its release (the word still holds its mark when it
 * releases); a claim replaces only an older complete value, a never written
 * entry or a busy mark (never a newer lap's complete entry); nobody blocks
 * (invalid end states).
 *
 * LOG >= NT: one winner per entry (the protocol's easy case). LOG < NT: the
 * winners of seq and seq + LOG write the same entry, the case of the SPIN
 * finding log-wrap (README, "Findings"), which the claim fixed.
 *
 * Broken variants:
 *   BUG_LOG_NO_CLAIM    the record before the fix: beginWrite(-1) (a plain
 *                       mark store), fields, endWrite(seq); no claim
 *   BUG_CLAIM_NEWER     the claim does not check that a complete value is
 *                       older: a late winner overwrites a newer lap's entry
 *   BUG_TAKEOVER_LIVE   a busy mark is taken over without asking whether its
 *                       thread is dead
 */

#define BUSY 1073741824    /* ENTRY_BUSY (0x40000000): a writer's mark is BUSY + tid */
#define OLD_BUSY (-1)      /* BUG_LOG_NO_CLAIM: the mark before the fix */
/* an entry never written holds -2 in the code (create()), 0 here: both are
   claimable and no reader expects them (readers expect a seq >= 1) */

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

/* log.ts claimAt(words, i, seq, tid): claimed true if the word now holds BUSY + tid */
inline claim(i, seq, claimed) {
  v = mem[i];                                      /* let v = words[i] (plain) */
  do
  :: v >= BUSY ->                                  /* another writer's claim */
     if
#ifdef BUG_TAKEOVER_LIVE
     :: true -> goto cas
#else
     :: dead[v - BUSY] -> goto cas                 /* this.domain.isDead(v & TID_MASK): take it over */
#endif
     :: true ->                                    /* alive (or found alive before) */
        if
        :: v = mem[i]                              /* v = Atomics.load(words, i) */
        :: claimed = false; break                  /* CLAIM_SPIN spent: leave the entry */
        fi
     fi
  :: else ->
     if
#ifdef BUG_CLAIM_NEWER
     :: true -> goto cas
#else
     :: seq - v >= 0 -> goto cas                   /* older, or never written: ((seq - v) & SEQ_MASK) < HALF_LAP */
     :: else -> claimed = false; break             /* a newer lap's entry: leave it */
#endif
     fi
cas:
     atomic {
       sw_claim_entry(i, v, BUSY + tid, found);    /* const found = claimEntry(words, i, v, mark) */
       if
       :: found == v -> assert(v >= BUSY || seq - v >= 0)   /* never over a newer complete entry */
       :: else
       fi
     };
     if
     :: found == v -> claimed = true; break        /* if (found === v) return true */
     :: else -> v = found                          /* v = found */
     fi;
     if
     :: true
     :: claimed = false; break                     /* CLAIM_SPIN spent */
     fi
  od
}

active [NT] proctype Transition() {
  byte tid = _pid + 1;
  int word, seq, v, found;
  byte slot;
  bool won, claimed;
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
    /* record(): claim the entry of seq, the fields in the code's order, release with seq */
    slot = seq & (LOG - 1);
#ifdef BUG_LOG_NO_CLAIM
    v = mem[LOG_W + slot];                         /* beginWrite(-1): before = words[index] */
    mem[LOG_W + slot] = OLD_BUSY;                  /* Atomics.store(words, index, -1) */
    claimed = true;
#else
    claim(LOG_W + slot, seq, claimed);
#endif
    if
    :: claimed ->
       f0[slot] = seq;
       f1[slot] = seq;
#ifdef BUG_LOG_NO_CLAIM
       sw_release_entry(LOG_W + slot, seq)         /* endWrite(seq) */
#else
       atomic {
         assert(mem[LOG_W + slot] == BUSY + tid);  /* the claim held throughout */
         sw_release_entry(LOG_W + slot, seq)       /* releaseEntry(words, i, seq) */
       }
#endif
    :: else                                        /* left out: the transition stands */
    fi
  } unless {
    killed[tid]
  }
}

/* read()'s copy: the fields in the code's order */
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
  :: else                                        /* undefined: not complete, overwritten, or left out */
  fi
}

active proctype Killer() {
  killer()
}
