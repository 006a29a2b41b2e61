/*
 * seqlock.pml: the object layer's one read protocol, src/sync/seqlock.ts,
 * step for step (included, not a model of its own). seqlock-ring.pml and
 * seqlock-word.pml check it on its own; state-buffer.pml, shared-map.pml and
 * state-machine.pml check the objects that read through it.
 *
 * Mirrors src/sync/seqlock.ts:
 *   VersionRing  read(copy, maxRetries)        vr_read
 *                compileReadLoop (generated)   vr_read (the same loop, the copy written out)
 *                readVersion(version, copy)    vr_read_version
 *                nextSlot / publish            vr_next_slot / vr_publish (writer lock held)
 *                maxLag = slots - 2            VR_MAXLAG
 *   SeqWord      read(attempt, tries, onRetry) sw_read (begin(): one load, see below)
 *                readEntry(...)                sw_read_entry
 *                beginWrite() / endWrite(value) sw_begin_write / sw_end_write
 *                claimEntry(words, index, from, mark) / releaseEntry(words, index, value)
 *                                              sw_claim_entry / sw_release_entry
 *
 * Every Atomics access and every plain word access is one step, in the
 * code's order (a compareExchange is one step). ReadFence.order() and orderAfterBusy() are read-modify-writes
 * that order plain accesses on ARM64; under the models' sequential
 * consistency they change nothing and are comments here (README: what the
 * models leave out). SeqWord.begin()'s spin of ODD_SPIN loads while the word
 * is odd only re-loads the word: the interleavings cover it, so begin() is
 * one load. Counters are small integers: PUB and the sequence words never
 * wrap, so `((a - b) >>> 0)` is `a - b` with a check that a >= b.
 *
 * Needs from the includer:
 *   int mem[]                 the object's Int32 words (PUB, WAITERS, sequence words)
 *   NSLOTS                    S of the VersionRing (a power of two), if one is read or written
 *   futex.pml before this file, if vr_publish is used (it notifies)
 *   a VersionRing reader process declares VR_READER; a SeqWord reader SW_READER
 *   the copy steps, as inlines of the includer (called by name, `kind` says which):
 *     ring_copy(kind, p, r)          copy slot p & VR_MASK; r = what the copy returns:
 *                                    a value, or RETRY (what it read cannot be right)
 *     ring_copy_version(kind, k, r)  readVersion's copy: RETRY if the slot does not hold k
 *     seq_attempt(kind, r)           SeqWord.read's attempt: a value or RETRY
 *     seq_on_retry(kind)             SeqWord.read's onRetry (the model forgets the lost
 *                                    try's temporaries there)
 *     entry_copy(kind, r)            readEntry's read (never RETRY)
 *   (an includer defines the ones it calls; unused inlines cost nothing)
 *
 * Broken variants of the module itself (each caught by seqlock-ring.pml or
 * seqlock-word.pml; run.mjs lists them):
 *   BUG_LAG_OFF_BY_ONE              accept a copy when PUB moved by S - 1
 *   BUG_RING_VALIDATE_BEFORE_COPY   VersionRing.read re-checks PUB before the copy
 *   BUG_READVERSION_NO_PRECHECK     readVersion copies without its first check
 *   BUG_SEQ_VALIDATE_BEFORE_COPY    SeqWord.read validates before the attempt
 *   BUG_ACCEPT_ODD                  SeqWord.read attempts (and accepts) at an odd word
 *   BUG_ENTRY_NO_PRECHECK           readEntry reads without its first check
 *   BUG_WAIT_FOR_EVEN               SeqWord.begin() waits until the word is even
 *                                   (instead of ODD_SPIN loads): a dead writer stalls it
 * (BUG_PUBLISH_BEFORE_FILL and BUG_END_BEFORE_DATA, the writers' orders, are
 * in the writers of seqlock-ring.pml and seqlock-word.pml.)
 */

/* ---- constants (checked against seqlock.ts by run.mjs) ---- */
#define LAG_MARGIN 2       /* VersionRing: this.maxLag = slots - 2 */
#define RETRY    255       /* RETRY of seqlock.ts; also readVersion's / readEntry's `undefined` */
#define VR_INF   250       /* maxRetries = Infinity (more retries than any model run can cause) */
#define SW_ANY   0         /* SeqWord.read's `tries` as "any budget": after each lost try the
                              reader may go on or give up (no counter: fewer states, and every
                              budget's behaviours, the code's 64 included) */

#define VR_MASK (NSLOTS - 1)
#ifdef BUG_LAG_OFF_BY_ONE
#define VR_MAXLAG (NSLOTS - LAG_MARGIN + 1)
#else
#define VR_MAXLAG (NSLOTS - LAG_MARGIN)
#endif
/* ((now - v) >>> 0) > maxLag: version v is not in the ring (overwritten or
   about to be, or not published yet) */
#define VR_OUT(now, v) ((now) < (v) || (now) - (v) > VR_MAXLAG)

/* locals of a reading process */
#define VR_READER byte vr_tries; int vr_p; bool vr_ok
#define SW_READER byte sw_n; int sw_s; bool sw_ok

/* ================================================================ VersionRing, reader */

/*
 * read(copy, maxRetries): until a copy is whole, or RETRY after maxRetries
 * retries in a row. Leaves this.pub in vr_p and this.tries in vr_tries.
 *
 *   for (let tries = 0; ; tries++) {
 *     const p = Atomics.load(this.words, this.pubIndex)
 *     const r = copy(p)
 *     this.fence.order()
 *     if (r !== RETRY && ((Atomics.load(this.words, this.pubIndex) - p) >>> 0) <= this.maxLag) { ...; return r }
 *     if (tries >= maxRetries) return RETRY
 *   }
 *
 * compileReadLoop generates the same loop with the copy written out (its
 * copy statements never answer RETRY; `accept` runs and `result` is returned
 * only after the re-check passed; -1 for RETRY).
 */
inline vr_read(pub_i, kind, maxRetries, r) {
  vr_tries = 0;
  do
  :: true ->
     vr_p = mem[pub_i];                          /* const p = Atomics.load(words, pubIndex) */
#ifdef BUG_RING_VALIDATE_BEFORE_COPY
     vr_ok = (mem[pub_i] - vr_p <= VR_MAXLAG);   /* the re-check, made before the copy */
     ring_copy(kind, vr_p, r);
     if
     :: r != RETRY && vr_ok -> break
     :: else
     fi;
#else
     ring_copy(kind, vr_p, r);                  /* const r = copy(p): plain loads */
     /* this.fence.order() */
     if
     :: r != RETRY && mem[pub_i] - vr_p <= VR_MAXLAG -> break   /* whole: this.pub = p, this.tries = tries */
     :: else
     fi;
#endif
     if
     :: vr_tries >= maxRetries -> r = RETRY; break              /* starved: the caller says so */
     :: else -> vr_tries++
     fi
  od;
  vr_ok = false
}

/*
 * readVersion(version, copy): version k if it is still in the ring, else
 * RETRY (for `undefined`).
 *
 *   if (((Atomics.load(this.words, this.pubIndex) - low) >>> 0) > this.maxLag) return undefined
 *   const r = copy()
 *   this.fence.order()
 *   if (r === RETRY || ((Atomics.load(this.words, this.pubIndex) - low) >>> 0) > this.maxLag) return undefined
 *   return r
 */
inline vr_read_version(pub_i, kind, k, r) {
  do
  :: true ->
#ifndef BUG_READVERSION_NO_PRECHECK
     if
     :: VR_OUT(mem[pub_i], k) -> r = RETRY; break   /* not in the ring: undefined */
     :: else
     fi;
#endif
     ring_copy_version(kind, k, r);                /* const r = copy() */
     /* this.fence.order() */
     if
     :: r == RETRY || VR_OUT(mem[pub_i], k) -> r = RETRY
     :: else
     fi;
     break
  od
}

/* ================================================================ VersionRing, writer (lock held) */

/* nextSlot(): (this.words[this.pubIndex] + 1) & this.mask, a plain read */
inline vr_next_slot(pub_i, b) {
  b = (mem[pub_i] + 1) & VR_MASK
}

/* publish(): Atomics.store(PUB, PUB + 1), then notify if WAITERS != 0 */
inline vr_publish(pub_i, waiters_i) {
  mem[pub_i] = mem[pub_i] + 1;          /* the plain read of PUB rides on the store: only lock holders store PUB */
  if
  :: mem[waiters_i] != 0 -> fnotify(pub_i, NOTIFY_ALL)
  :: else
  fi
}

/* ================================================================ SeqWord, reader */

/*
 * read(attempt, tries, onRetry): RETRY after `tries` lost tries (the caller
 * then reads under its writer lock).
 *
 *   for (let n = 0; n < tries; n++) {
 *     const s = this.begin()
 *     if ((s & 1) === 0) {
 *       const r = attempt()
 *       this.fence.order()
 *       if (r !== RETRY && Atomics.load(this.words, this.index) === s) { this.lost = n; return r }
 *     }
 *     onRetry()
 *   }
 *   this.lost = tries
 *   return RETRY
 */
inline sw_read(word_i, kind, ntries, r) {
  sw_n = 0;
  do
  :: ntries == SW_ANY || sw_n < ntries ->
#ifdef BUG_WAIT_FOR_EVEN
     atomic { (mem[word_i] & 1) == 0 -> sw_s = mem[word_i] }   /* begin() waiting for an even word */
#else
     sw_s = mem[word_i];                             /* const s = this.begin() */
#endif
     if
#ifdef BUG_ACCEPT_ODD
     :: true ->
#else
     :: (sw_s & 1) == 0 ->
#endif
#ifdef BUG_SEQ_VALIDATE_BEFORE_COPY
        sw_ok = (mem[word_i] == sw_s);               /* the validation, made before the attempt */
        seq_attempt(kind, r);
        if
        :: r != RETRY && sw_ok -> break
        :: else
        fi
#else
        seq_attempt(kind, r);                   /* const r = attempt() */
        /* this.fence.order() */
        if
        :: r != RETRY && mem[word_i] == sw_s -> break   /* this.lost = n */
        :: else
        fi
#endif
     :: else
     fi;
     d_step { sw_s = 0; r = 0; seq_on_retry(kind) }   /* onRetry(); the lost try forgotten (locals only) */
     if
     :: ntries != SW_ANY -> sw_n++
     :: ntries == SW_ANY                        /* go on ... */
     :: ntries == SW_ANY -> r = RETRY; break    /* ... or the budget is spent */
     fi
  :: else -> r = RETRY; break                   /* this.lost = tries */
  od;
  sw_ok = false
}

/*
 * SeqWord.readEntry(words, index, expected, fence, read): the entry if its
 * word holds `expected` before and after the read, else RETRY (undefined).
 *
 *   if (Atomics.load(words, index) !== expected) return undefined
 *   const r = read()
 *   fence.order()
 *   return Atomics.load(words, index) === expected ? r : undefined
 */
inline sw_read_entry(word_i, expected, kind, r) {
  do
  :: true ->
#ifndef BUG_ENTRY_NO_PRECHECK
     if
     :: mem[word_i] != expected -> r = RETRY; break
     :: else
     fi;
#endif
     entry_copy(kind, r);                       /* const r = read() */
     /* fence.order() */
     if
     :: mem[word_i] != expected -> r = RETRY
     :: else
     fi;
     break
  od
}

/* ================================================================ SeqWord, writer of a structure (lock held) */

/* beginWrite(): before = words[index] (plain); Atomics.store(words, index, before + 1); orderAfterBusy */
inline sw_begin_write(word_i, before) {
  before = mem[word_i];
  mem[word_i] = before + 1
}

/* endWrite(value): Atomics.store(words, index, value) */
inline sw_end_write(word_i, value) {
  mem[word_i] = value
}

/* ================================================================ SeqWord, writer of an entry (static) */

/*
 * claimEntry(words, index, from, mark): one compareExchange; the writer
 * barrier (orderAfterBusy) after a successful one. `found` is what it
 * returns: `from` if the entry is now claimed (holds `mark`).
 *
 *   const found = Atomics.compareExchange(words, index, from, mark)
 *   if (found === from) orderAfterBusy(words, index, mark)
 *   return found
 */
inline sw_claim_entry(word_i, from, mark, found) {
  atomic {
    found = mem[word_i];
    if
    :: found == from -> mem[word_i] = mark
    :: else
    fi
  }
}

/* releaseEntry(words, index, value): Atomics.store(words, index, value) */
inline sw_release_entry(word_i, value) {
  mem[word_i] = value
}
