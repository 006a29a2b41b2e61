/*
 * shared-map.pml: SharedMap commits (the SEQ word: seqlock.pml's SeqWord,
 * undo journal, free-list block reuse) and the rollback by the next lock
 * holder when a writer dies mid-commit.
 *
 * Mirrors:
 *   src/map/writer.ts      MapCommitter.commit (SEQ beginWrite, changes, journal.close(),
 *                          endWrite(seq + 2)), locked / recoverDeadWriter (journal undo,
 *                          SEQ even again by + 1); Journal record / setData / setCtl, undo
 *   src/map/table.ts       alloc (free-list branch), writeEntry, set, free / flushFrees
 *   src/map/reader.ts      reads: SeqWord.read of an attempt (get / getFrozen write its
 *                          loop out), then the attempt under the writer lock
 *   src/map/layout.ts      MapWord.SEQ / JOURNAL_LEN, the block layout (a free block's
 *                          link word is a live entry's hash word: here one word per block)
 *   (the read protocol itself is seqlock.pml, checked alone by seqlock-word.pml;
 *    the writer lock is writer-lock.pml's abstraction: a takeover from a dead
 *    holder is the OwnerDiedError that makes the taker recover())
 *
 * The map: two keys A and B, each a slot pointing at an entry block (1..NB;
 * 0 = none); a block's one word is its value while in use and its free-list
 * link while free. Every commit sets A and B to a new value (its version):
 * two fresh blocks from the free list, the slots switched, the old blocks
 * freed at the end. Committed state therefore always has value(A) = value(B).
 *
 * Processes: NWM writers (one commit each), a reader (getMany(A, B):
 * SeqWord.read with TRIES tries, then the locked read), a checker that takes the lock at
 * the end (recovering if needed) and checks the structure, and a Killer that
 * may kill one writer at any point.
 *
 * Checked: a read accepted under an unchanged even SEQ, or made under the
 * lock, sees A and B from one commit; after recovery the blocks are exactly
 * the two in use plus a well-formed free list (no block lost, none twice);
 * nobody is stuck (invalid end states).
 *
 * Broken variants: BUG_WRITE_BEFORE_JOURNAL (setData writes the word before
 * appending its old value to the journal: a writer dying in between leaves
 * a change the rollback cannot undo); BUG_RECOVER_SEQ_BACK (recover() puts
 * SEQ back to its value before the dead commit instead of moving it on: a
 * reader that began before the commit validates a copy torn by it).
 */

/* ---- layout constants (checked against the code by run.mjs) ---- */
#define SEQ          4    /* MapWord.SEQ, src/map/layout.ts */
#define JOURNAL_LEN 10    /* MapWord.JOURNAL_LEN */

#ifndef NWM
#define NWM 2
#endif
#ifndef DEATHS
#define DEATHS 1
#endif
#ifndef TRIES
#define TRIES SW_ANY      /* SeqWord.read's tries before the locked read: any budget (the code's: OPTIMISTIC_TRIES) */
#endif
#define NTIDS (NWM + 3)
#define KILLABLE NWM
#define NB   4            /* blocks: 2 in use + 2 free = one commit's worth */
#define JMAX 8            /* journal records of one commit */

/* journal word ids: data words 0..NB (block b's word) and SLOT_A/B; control words */
#define SLOT_A  10
#define SLOT_B  11
#define C_HEAD  20        /* the free-list head of the blocks' size class (FREE_HEADS) */
#define C_VER   21        /* MapF64.VERSION */

int mem[11];              /* control words: SEQ, JOURNAL_LEN */
#include "seqlock.pml"
#include "writer-lock.pml"
byte blk[NB + 1];         /* block words (index 0 unused: offset 0 = none) */
byte slotA = 1, slotB = 2;
byte head = 3;
byte version;
byte jidx[JMAX];
byte jold[JMAX];

byte done;                /* writers and reader finished (or dead) */
byte writers_died;        /* MapWord.WRITERS_DIED */

bool ready;
init {
  /* the committed map: A -> 1, B -> 2 (value 0), free list 3 -> 4 -> none */
  atomic { blk[3] = 4; blk[4] = 0; ready = true }
}

/* read / write one journaled word by id */
inline get_word(id, out) {
  if
  :: id == SLOT_A -> out = slotA
  :: id == SLOT_B -> out = slotB
  :: id == C_HEAD -> out = head
  :: id == C_VER -> out = version
  :: else -> out = blk[id]
  fi
}
inline set_word(id, val) {
  if
  :: id == SLOT_A -> slotA = val
  :: id == SLOT_B -> slotB = val
  :: id == C_HEAD -> head = val
  :: id == C_VER -> version = val
  :: else -> blk[id] = val
  fi
}

/* Journal.record (src/map/writer.ts): journalView[2n] = index; journalView[2n + 1] = old; JOURNAL_LEN = n + 1 */
inline record(id, old) {
  n = mem[JOURNAL_LEN];
  jidx[n] = id;
  jold[n] = old;
  mem[JOURNAL_LEN] = n + 1;
  n = 0
}

/* Journal.setData / setCtl (a control word is journaled once per commit: touch) */
inline set_data(id, val) {
  get_word(id, t);                     /* the old value, d32[index] */
#ifdef BUG_WRITE_BEFORE_JOURNAL
  set_word(id, val);
  record(id, t);
#else
  record(id, t);
  set_word(id, val);
#endif
  t = 0
}
inline set_ctl(id, val, touched) {
  if
  :: !touched -> get_word(id, t); record(id, t); t = 0; touched = true
  :: else
  fi;
  set_word(id, val)
}

/* Journal.undo: undo the journal newest first, then JOURNAL_LEN = 0 */
inline rollback() {
  i = mem[JOURNAL_LEN];
  do
  :: i > 0 -> i--; set_word(jidx[i], jold[i])
  :: else -> break
  od;
  mem[JOURNAL_LEN] = 0
}

/* SharedMap.lock(): the writer lock, and recover() if the previous holder died */
inline map_lock() {
  wl_lock(took_over);
  if
  :: took_over ->
     /* recover(): rollback, make SEQ even, WRITERS_DIED++, markConsistent() */
     rollback();
#ifdef BUG_RECOVER_SEQ_BACK
     if
     :: (mem[SEQ] & 1) != 0 -> mem[SEQ] = mem[SEQ] - 1
     :: else
     fi;
#else
     if
     :: (mem[SEQ] & 1) != 0 -> mem[SEQ] = mem[SEQ] + 1
     :: else
     fi;
#endif
     writers_died++;
     took_over = false
  :: else
  fi
}

inline map_unlock() { wl_unlock() }

/* MapTable.alloc (src/map/table.ts, free-list branch): journal the link, pop the head */
inline alloc(e) {
  e = head;
  assert(e != 0);                      /* pool sized for one commit */
  nxt = blk[e];
  set_data(e, 0);                      /* setData(link word, 0) */
  set_ctl(C_HEAD, nxt, touched_head);
  nxt = 0
}

active [NWM] proctype Writer() {
  byte tid = _pid + 1;
  int seq;
  byte v, e1, e2, oldA, oldB, nxt, n, i, t;
  bool touched_head, touched_ver, took_over;
  ready;
  {
    map_lock();
    /* apply(changes) */
    sw_begin_write(SEQ, seq);          /* seq = SEQ; Atomics.store(SEQ, seq + 1): odd */
    v = version + 1;                   /* nextVersion() */
    /* set(A, v): writeEntry (alloc + unjournaled writes into the new block), then the slot */
    alloc(e1);
    blk[e1] = v;
    oldA = slotA;
    set_data(SLOT_A, e1);              /* free(oldA) deferred to the commit */
    /* set(B, v) */
    alloc(e2);
    blk[e2] = v;
    oldB = slotB;
    set_data(SLOT_B, e2);
    set_ctl(C_VER, v, touched_ver);    /* setVersion */
    /* commit(): flushFrees, then JOURNAL_LEN = 0 */
    set_data(oldA, head);
    set_ctl(C_HEAD, oldA, touched_head);
    set_data(oldB, head);
    set_ctl(C_HEAD, oldB, touched_head);
    mem[JOURNAL_LEN] = 0;              /* journal.close(): the commit point */
    sw_end_write(SEQ, seq + 2);        /* Atomics.store(SEQ, seq + 2): even */
    map_unlock();
    done++
  } unless {
    killed[tid] -> done++
  }
}

/* the attempt of getMany([A, B]): every offset bounds-checked (garbage -> RETRY) */
inline seq_attempt(kind, r) {
  pa = slotA;
  if
  :: pa < 1 || pa > NB -> r = RETRY
  :: else ->
     va = blk[pa];
     pb = slotB;
     if
     :: pb < 1 || pb > NB -> r = RETRY
     :: else -> vb = blk[pb]; r = va
     fi
  fi
}

/* onRetry(): READ_RETRIES + 1 in the code; here the lost try's temporaries are dropped */
inline seq_on_retry(kind) {
  pa = 0; pb = 0; va = 0; vb = 0
}

/* getMany([A, B]): SeqWord.read of the attempt, then the read under the lock */
active proctype Reader() {
  byte tid = NWM + 1;
  SW_READER;
  byte pa, pb, va, vb, r, i, n, t;
  bool took_over;
  ready;
  sw_read(SEQ, 0, TRIES, r);
  if
  :: r != RETRY -> assert(va == vb)    /* accepted: one commit */
  :: else ->                           /* every try lost: read under the lock */
     map_lock();
     assert(slotA >= 1 && slotA <= NB && slotB >= 1 && slotB <= NB);
     assert(blk[slotA] == blk[slotB]);
     map_unlock()
  fi;
  done++
}

/* At the end: take the lock (recovering a dead writer's commit) and check the structure. */
active proctype Checker() {
  byte tid = NWM + 2;
  byte i, n, t, b, cnt;
  bool took_over;
  done == NWM + 1;
  map_lock();
  assert((mem[SEQ] & 1) == 0 && mem[JOURNAL_LEN] == 0);
  assert(blk[slotA] == blk[slotB] && blk[slotA] == version);
  /* blocks: the two in use and the free list, each exactly once */
  assert(slotA != slotB);
  b = head; cnt = 0;
  do
  :: b != 0 -> assert(b <= NB && b != slotA && b != slotB && cnt < NB - 2); cnt++; b = blk[b]
  :: else -> break
  od;
  assert(cnt == NB - 2);
  map_unlock()
}

active proctype Killer() {
  killer()
}
