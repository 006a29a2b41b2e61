/**
 * Thread ids and the domain that hands them out.
 *
 * Locks record their holder as a small integer thread id. Ids must be unique
 * among all threads that share a lock, and JavaScript has no portable thread
 * id, so ids are handed out by a *domain*: a shared table every handle carries.
 * A thread gets its id in a domain the first time it touches an object of that
 * domain, and keeps it. Objects created in a thread join the domain that
 * thread adopted first (the one of the first handle it attached, or a new one),
 * so a whole program normally lives in one domain.
 *
 * The table also records whether each thread is alive. A thread that exits is
 * marked dead (automatically for the workers a joined thread creates in Node,
 * or by `superviseWorker()` / {@link Domain.markDead}); a lock whose holder is
 * dead is then taken over by the next acquirer, who gets an `OwnerDiedError`
 * (the robust-mutex protocol of Linux futexes and `pthread_mutex_consistent`).
 *
 * ```
 *  Int32 words
 *  0..3   region header (MAGIC, TYPE_TAG=Domain, LAYOUT_VERSION, BYTE_LENGTH)
 *  4      NEXT_TID        last new id handed out (ids start at 1; 0 = nobody)
 *  5      DEATHS          number of ids marked dead so far
 *  6, 7   ID_LO, ID_HI    random 64-bit domain id (SharedArrayBuffer objects
 *                         cloned into another thread are new JS objects, so
 *                         identity is checked by this id, not by the object)
 *  8..    STATE[tid]      0 never handed out, 1 alive, 2 dead, 3 being reused
 *                                                                (MAX_THREADS + 1 words each)
 *  ..     NATIVE[tid]     runtime thread id + 1, 0 unknown
 *  ..     WAIT_EDGE[tid]  while the thread sleeps in a blocking lock() without a
 *                         timeout: the holder it waits for | verifications << 16;
 *                         0 otherwise (sync/wait-graph.ts)
 *  ..     WAIT_EPISODE[tid] waits the thread has published (never goes back)
 *  ..     NAMED[tid]      words this thread has made name it (written by the thread alone)
 *  ..     OTHERS[tid]     pins of the id by other threads, minus the words
 *                         naming it that other threads cleared (Atomics only)
 *  ..     DIED_AT[tid]    DEATHS when the id was marked dead (reuse order)
 *  ..     NEXT_LOCK_ID    last RWLock id handed out (an RWLock's ledger key)
 *  ..     LEDGER[tid]     2 entries per thread: (RWLock id, read holds) of the
 *                         thread's holds in that lock's shared OVERFLOW counter
 *                         (sync/reader-slots.ts; written by the thread alone
 *                         while it lives, reclaimed by others once it is dead;
 *                         1 MiB of the domain's ~2.8 MiB)
 * ```
 *
 * ## Reusing the id of a dead thread
 *
 * Ids are 16 bits (they share lock words with flags), so a program that
 * replaces workers for ever would run out of them. The id of a dead thread is
 * handed out again, but **only once nothing can still name it**: a word
 * naming an id reused by a stranger would make that live stranger look like
 * the holder (the next acquirer waits for it for ever, or the stranger gets
 * DeadlockError on a lock it never took, or a read hold it never took).
 *
 * Words that name a thread and that a later reader acts on (a lock word's
 * holder, an RWLock reader slot's owner, an RWLock overflow ledger entry of
 * the thread's (its place names it), a Condition/SharedMap count slot, a
 * Barrier party slot, a transition-log entry's busy mark) are counted:
 *
 * - The thread that writes its own id into such a word adds one to its
 *   NAMED *before* the compareExchange that writes it, and takes one off
 *   *after* the compareExchange (or store) that clears it. NAMED is written
 *   by its thread alone, with plain stores: nobody reads it while the thread
 *   lives (below), so a lock's uncontended path pays one plain
 *   increment and one plain decrement, no atomics.
 * - Where a thread can be stopped matters, since NAMED is read once it has
 *   stopped: a `terminate()`d thread stops at a call, `Atomics` calls
 *   included (before the call takes effect, in code not yet optimized), or
 *   at a loop's back edge; never between two plain statements. So the count
 *   may also come right *after* the compareExchange that writes the id, as
 *   a plain increment with nothing in between (RWLock's `writeLock` fast
 *   path): then no termination leaves the two apart. A count right before
 *   it leaves the id counted when the thread is terminated at the
 *   compareExchange (safe, but that id is never reused): measured, and the
 *   ids this leaks, in docs/verification.md ("Thread ids reused").
 * - Another thread that clears a word naming thread t (a takeover of a dead
 *   holder, a reclaimed reader slot, a forgotten count share, a barrier
 *   reset) takes one off OTHERS[t] *after* the compareExchange that cleared
 *   it.
 * - A thread about to act on a word naming t because t looks dead first
 *   *pins* t (OTHERS[t] + 1), then reads the word and t's state again, acts,
 *   and unpins (OTHERS[t] - 1).
 *
 * So NAMED[t] + OTHERS[t] is at least the number of words naming t plus
 * the pins of t, at every moment: a thread killed between a count and its
 * word leaves it one too high (an id that is never reused: safe), never too
 * low. NAMED is read only once t is marked dead, and then it no longer
 * changes: a thread is marked dead only after it has stopped, and its stop
 * (the worker's exit, which the marking thread learns through the runtime)
 * orders all its writes, plain ones included, before the mark.
 *
 * A joining thread reuses an id t (the longest dead first) by:
 * compareExchange STATE[t] dead -> being reused, *then* a load of
 * NAMED[t] + OTHERS[t]; if it is not 0 it puts STATE[t] back to dead and
 * looks for another. Why no word or pin can then name t:
 *
 * 1. At that load no word names t and nobody pins t. A dead t writes no new
 *    word, and no other thread ever writes t's id, so no word names t
 *    afterwards until the new owner of t writes one.
 * 2. A thread X that read a word naming t (the old t) before that load and
 *    pinned t after it reads the word again after pinning (required by the
 *    protocol): the word no longer names the old t (1). If it names t, the new
 *    owner wrote it, which it does only once STATE[t] is alive, and X sees
 *    that state (its state load comes after its word load): it acts on t as
 *    a live thread (waits for it), exactly right.
 * 3. A thread that pinned t before that load is counted in it: the reuse
 *    backs off.
 *
 * Before STATE[t] becomes alive again, WAIT_EDGE[t] is cleared and
 * WAIT_EPISODE[t] advanced, so a deadlock detector holding a snapshot of
 * the old t's wait sees it change (`wait-graph.ts` confirms a cycle only on
 * unchanged episodes); NATIVE[t] is rewritten. NAMED and OTHERS are not
 * reset: their sum is 0 and a late unpin of a pin taken while the id was
 * being reused must still balance.
 *
 * Words that name a thread only for a person to read are not counted: an
 * `OwnerDiedError`'s dead holder (the word after each lock word), a
 * Barrier's DEAD_PARTY, a transition-log entry's `threadId`, a
 * StateManager entry's `addedBy`, the owner of a StateBuffer's per-thread
 * read counters (statistics; a reused id may continue a dead thread's
 * totals). They name the thread that held that id *at the time*; the
 * number may name another thread now (reuse takes the longest-dead id
 * first, so that is as late as the domain allows).
 *
 * Ids whose count never returns to 0 (a dead reader's slot in an RWLock no
 * reader claims a slot of again, a Barrier party until `reset()`, a thread
 * killed between a count and its word) stay unused: a leak bounded by those
 * slots, not by the number of threads that ever ran.
 *
 * Checked by `verify/spin/thread-reuse.pml` (the reuse against the lock
 * word's takeover, a thread killed at any point; broken variants: reuse
 * without the count, a takeover without the pin, a claim trusting the scan)
 * and `test/thread-reuse.test.ts` (3,000 workers killed and replaced while
 * locks change hands; docs/verification.md, "Thread ids reused").
 *
 * @module
 */
import { nativeThreadId, onWorkerExit } from '#platform'
import { HandleError, ThreadstateError, describe } from '../errors.js'
import { Header, LAYOUT_VERSION, MAGIC, TypeTag } from './layout.js'
import { writeHeader } from './handle.js'

/** Largest thread id; lock words keep the holder in the low 16 bits. */
export const MAX_THREADS = 0xffff
/** Mask of the thread id bits in a lock word. */
export const TID_MASK = 0xffff

const DomainWord = {
  NEXT_TID: Header.WORDS,
  DEATHS: Header.WORDS + 1,
  ID_LO: Header.WORDS + 2,
  ID_HI: Header.WORDS + 3,
  STATE: Header.WORDS + 4,
} as const
const NATIVE = DomainWord.STATE + MAX_THREADS + 1
/** Int32 words of the wait-for graph's per-thread arrays (used by sync/wait-graph.ts). */
export const WaitGraphWord = {
  EDGE: NATIVE + MAX_THREADS + 1,
  EPISODE: NATIVE + 2 * (MAX_THREADS + 1),
} as const
/** Words naming each thread that it wrote itself (plain stores by the thread alone). */
const NAMED = NATIVE + 3 * (MAX_THREADS + 1)
/** Pins of each thread's id by others, minus the words naming it that others cleared. */
const OTHERS = NATIVE + 4 * (MAX_THREADS + 1)
/** DEATHS when each id was marked dead. */
const DIED_AT = NATIVE + 5 * (MAX_THREADS + 1)
/** Last RWLock id handed out ({@link Domain.newLockId}). */
const NEXT_LOCK_ID = DIED_AT + MAX_THREADS + 1
/** Each thread's RWLock overflow ledger ({@link OverflowLedger}). */
const LEDGER = NEXT_LOCK_ID + 1

/**
 * Layout of a thread's RWLock overflow ledger in its domain (used by
 * sync/reader-slots.ts): `ENTRIES` entries of two Int32 words, `LOCK` (the
 * id of an RWLock in whose shared OVERFLOW counter the thread holds read
 * holds; 0 free, -1 while another thread reclaims it) and `HOLDS` (how many).
 */
export const OverflowLedger = { ENTRIES: 2, ENTRY_WORDS: 2, LOCK: 0, HOLDS: 1, STRIDE: 4 } as const
const DOMAIN_BYTES = (LEDGER + (MAX_THREADS + 1) * OverflowLedger.STRIDE) * 4

/** Liveness of a thread id in its domain. */
export const ThreadState = { Unused: 0, Alive: 1, Dead: 2, Reusing: 3 } as const
/**
 * One thread's view of a domain: the shared table and the calling thread's id
 * in it. Obtain with {@link domainOf}; cheap to keep per object.
 */
export class Domain {
  /** The shared table; put it in handles. */
  readonly buffer: SharedArrayBuffer
  /** The domain's random identity, equal in every thread. */
  readonly id: string
  /** Calling thread's id in this domain (1..MAX_THREADS). */
  readonly tid: number
  /** @internal */
  readonly words: Int32Array

  /** @internal use {@link domainOf} */
  constructor(buffer: SharedArrayBuffer, id: string, tid: number) {
    this.buffer = buffer
    this.id = id
    this.tid = tid
    this.words = new Int32Array(buffer)
    this.namedIndex = NAMED + tid
    this.ledgerIndex = LEDGER + tid * OverflowLedger.STRIDE
  }

  /** Int32 index in {@link words} of this thread's RWLock overflow ledger ({@link OverflowLedger}). @internal */
  readonly ledgerIndex: number

  /** Int32 index in {@link words} of thread `tid`'s RWLock overflow ledger. @internal */
  ledgerOf(tid: number): number {
    return LEDGER + tid * OverflowLedger.STRIDE
  }

  /**
   * A new RWLock id, unique in the domain (1 to 2^31-1; after 2^31 RWLocks
   * the ids wrap). It keys the lock's entries in threads' overflow ledgers. @internal
   */
  newLockId(): number {
    for (;;) {
      const id = (Atomics.add(this.words, NEXT_LOCK_ID, 1) + 1) & 0x7fffffff
      if (id !== 0) return id
    }
  }

  /** The highest id handed out so far. @internal */
  lastTid(): number {
    return Math.min(Atomics.load(this.words, DomainWord.NEXT_TID), MAX_THREADS)
  }

  /** Deaths so far (grows by one at each {@link markDead}). @internal */
  deaths(): number {
    return Atomics.load(this.words, DomainWord.DEATHS)
  }

  /**
   * Int32 index in {@link words} of this thread's NAMED count. A thread adds
   * one there (a plain `words[namedIndex]++`) *before* the compareExchange
   * that writes its id into a word others act on, and takes one off *after*
   * the one that clears it (module comment). @internal
   */
  readonly namedIndex: number

  /** This thread writes its id into a word (see {@link namedIndex}); call before the write. @internal */
  naming(): void {
    this.words[this.namedIndex]!++
  }

  /** This thread's id left a word it had written (or the write did not happen); call after. @internal */
  unnamed(): void {
    this.words[this.namedIndex]!--
  }

  /**
   * Pins `tid` before acting on a word that names it because it looks dead:
   * the id cannot be reused until {@link unpin}. Read the word and the state
   * again after pinning. @internal
   */
  pin(tid: number): void {
    Atomics.add(this.words, OTHERS + tid, 1)
  }

  /** Ends a {@link pin}. @internal */
  unpin(tid: number): void {
    Atomics.sub(this.words, OTHERS + tid, 1)
  }

  /** A word naming thread `tid` (not this one's doing) was cleared by this thread; call after the clearing compareExchange. @internal */
  cleared(tid: number): void {
    Atomics.sub(this.words, OTHERS + tid, 1)
  }

  /**
   * Words naming thread `tid` plus pins of it, as counted (at least the true
   * number; exact for a dead thread whose counts settled). @internal
   */
  references(tid: number): number {
    return (Atomics.load(this.words, NAMED + tid) + Atomics.load(this.words, OTHERS + tid)) | 0
  }

  /** Whether thread `tid` of this domain has been marked dead. */
  isDead(tid: number): boolean {
    return Atomics.load(this.words, DomainWord.STATE + tid) === ThreadState.Dead
  }

  /**
   * Whether `tid` cannot hold anything in this domain: marked dead, being
   * reused, or an id never handed out (a lock word naming it was
   * overwritten: scribbled memory). A thread's STATE is Alive before it gets
   * its Domain, so before it can put its id in any lock word; a lock word
   * naming an id whose STATE is not Alive therefore names nobody who can
   * release it. To act on that answer, pin the id first (`pin()`, internal) and read
   * the word and the state again (module comment): the id may be reused.
   */
  cannotHold(tid: number): boolean {
    return Atomics.load(this.words, DomainWord.STATE + tid) !== ThreadState.Alive
  }

  /**
   * Marks thread `tid` dead: locks it holds are taken over by their next
   * acquirer, who gets `OwnerDiedError`. Only for a thread that has really
   * stopped; `superviseWorker()` calls this for you in Node.
   */
  markDead(tid: number): boolean {
    if (!Number.isInteger(tid) || tid < 1 || tid > MAX_THREADS) {
      throw new ThreadstateError(`Expected a thread id from 1 to ${MAX_THREADS}, got ${describe(tid)}`)
    }
    const previous = Atomics.compareExchange(this.words, DomainWord.STATE + tid, ThreadState.Alive, ThreadState.Dead)
    if (previous !== ThreadState.Alive) return false
    Atomics.store(this.words, DIED_AT + tid, Atomics.add(this.words, DomainWord.DEATHS, 1))
    // Async waiters of every thread sleep without re-checking on a timer and
    // watch DEATHS instead (sync/wait.ts): wake them to look again.
    Atomics.notify(this.words, DomainWord.DEATHS)
    return true
  }

  /**
   * Ids of threads whose runtime thread id is `native` (Node: `worker.threadId`): the live ones, or with `dead` the ones marked dead.
   * An id may be reused once its thread is dead: to mark a thread dead by its runtime id use {@link markDeadByNativeId}.
   */
  threadsWithNativeId(native: number, dead = false): number[] {
    const found: number[] = []
    const state = dead ? ThreadState.Dead : ThreadState.Alive
    const last = Math.min(Atomics.load(this.words, DomainWord.NEXT_TID), MAX_THREADS)
    for (let tid = 1; tid <= last; tid++) {
      // State first: a reused id's NATIVE is written before its STATE becomes alive.
      if (Atomics.load(this.words, DomainWord.STATE + tid) === state && Atomics.load(this.words, NATIVE + tid) === native + 1) {
        found.push(tid)
      }
    }
    return found
  }

  /**
   * Marks dead the live threads whose runtime thread id is `native` (Node:
   * `worker.threadId`), as {@link markDead} does: for a thread that has
   * really stopped. Each id is pinned while it is checked and marked, so an
   * id that another thread marked dead meanwhile and a new thread reused is
   * never marked (the new thread's runtime id differs).
   * @returns the ids marked dead by this call
   */
  markDeadByNativeId(native: number): number[] {
    const marked: number[] = []
    for (const tid of this.threadsWithNativeId(native)) {
      this.pin(tid)
      try {
        // Pinned, the id cannot be reused; alive and still this runtime thread's, it is the one to mark.
        if (
          Atomics.load(this.words, DomainWord.STATE + tid) === ThreadState.Alive &&
          Atomics.load(this.words, NATIVE + tid) === native + 1 &&
          this.markDead(tid)
        ) {
          marked.push(tid)
        }
      } finally {
        this.unpin(tid)
      }
    }
    return marked
  }

  /** The Int32 index of the DEATHS word in {@link words} (it grows by one, and is notified, at each death). @internal */
  get deathsIndex(): number {
    return DomainWord.DEATHS
  }

  /**
   * Ids handed out, how many of them are alive, and how many threads have
   * been marked dead so far (ids are reused once nothing names them, so
   * `dead` may exceed `ids`).
   */
  counts(): DomainCounts {
    const ids = Math.min(Atomics.load(this.words, DomainWord.NEXT_TID), MAX_THREADS)
    let alive = 0
    for (let tid = 1; tid <= ids; tid++) if (Atomics.load(this.words, DomainWord.STATE + tid) === ThreadState.Alive) alive++
    return { threads: ids, ids, alive, dead: Atomics.load(this.words, DomainWord.DEATHS) }
  }
}

/** Threads of a domain, from {@link Domain.counts}. */
export interface DomainCounts {
  /** Distinct ids handed out so far (the same as {@link ids}; kept for older callers). */
  readonly threads: number
  /** Distinct ids handed out so far: the highest id in use. Reuse keeps it near the most threads alive at once. */
  readonly ids: number
  /** Ids whose thread is alive now. */
  readonly alive: number
  /** Threads marked dead so far (each death counts, whatever id it had). */
  readonly dead: number
}

/** Domains this thread has joined, by domain id. */
const joined = new Map<string, Domain>()
/** The domain objects created in this thread join by default. */
let adopted: Domain | undefined

function randomId(): [number, number] {
  const words = new Int32Array(2)
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Int32Array) => Int32Array } }).crypto
  if (c?.getRandomValues) c.getRandomValues(words)
  else {
    words[0] = (Math.random() * 0x100000000) | 0
    words[1] = (Math.random() * 0x100000000) | 0
  }
  // Never all-zero: zero marks an unwritten table.
  if (words[0] === 0 && words[1] === 0) words[0] = 1
  return [words[0] ?? 1, words[1] ?? 0]
}

function idOf(words: Int32Array): string {
  const lo = Atomics.load(words, DomainWord.ID_LO) >>> 0
  const hi = Atomics.load(words, DomainWord.ID_HI) >>> 0
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
}

function createDomainBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(DOMAIN_BYTES)
  const words = new Int32Array(buffer)
  const [lo, hi] = randomId()
  Atomics.store(words, DomainWord.ID_LO, lo)
  Atomics.store(words, DomainWord.ID_HI, hi)
  writeHeader('Domain', buffer, 0, DOMAIN_BYTES)
  return buffer
}

function checkDomainBuffer(buffer: unknown): Int32Array {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== DOMAIN_BYTES) {
    throw new HandleError(
      `Expected a handle whose \`domain\` is a ${DOMAIN_BYTES}-byte SharedArrayBuffer, got ${buffer instanceof SharedArrayBuffer ? `one of ${buffer.byteLength} bytes` : describe(buffer)}`,
    )
  }
  const words = new Int32Array(buffer)
  if (
    Atomics.load(words, Header.MAGIC) !== MAGIC ||
    Atomics.load(words, Header.TYPE_TAG) !== TypeTag.Domain ||
    Atomics.load(words, Header.LAYOUT_VERSION) !== LAYOUT_VERSION.Domain
  ) {
    throw new HandleError('Expected a handle whose `domain` is a threadstate thread-id domain, got other memory')
  }
  return words
}

/**
 * The calling thread's view of the domain in `buffer` (a handle's `domain`),
 * joining it (taking a thread id) on first use. Without an argument: the
 * domain this thread creates objects in, adopting a new one if it has none.
 */
export function domainOf(buffer?: SharedArrayBuffer): Domain {
  if (buffer === undefined) {
    adopted ??= join(createDomainBuffer())
    return adopted
  }
  const words = checkDomainBuffer(buffer)
  const existing = joined.get(idOf(words))
  if (existing) return existing
  const domain = join(buffer)
  adopted ??= domain
  return domain
}

/** Whether this thread watches the Workers it creates (see {@link watchWorkers}). */
let watching = false

/**
 * From the first domain this thread joins on, every Worker it creates is
 * watched: when one exits, its thread ids are marked dead in every domain
 * this thread has joined, so a lock it held is taken over by the next
 * acquirer (OwnerDiedError) instead of hanging it. `superviseWorker` did this
 * for the workers it was given; now it is automatic where the runtime
 * announces new workers (Node: `process.on('worker')`), and
 * `superviseWorker` adds the report of what was marked.
 */
function watchWorkers(): void {
  if (watching) return
  watching = true
  onWorkerExit((native) => {
    for (const domain of joined.values()) domain.markDeadByNativeId(native)
  })
}

function join(buffer: SharedArrayBuffer): Domain {
  watchWorkers()
  const words = new Int32Array(buffer)
  const tid = reuseDeadId(words) || newId(words)
  // Fresh per-thread words before the id is alive (module comment): no wait
  // of a previous thread of this id, a new episode for any detector that
  // still holds a snapshot of it, this runtime thread's id.
  Atomics.store(words, WaitGraphWord.EDGE + tid, 0)
  Atomics.add(words, WaitGraphWord.EPISODE + tid, 1)
  const native = nativeThreadId()
  Atomics.store(words, NATIVE + tid, native === undefined ? 0 : native + 1)
  Atomics.store(words, DomainWord.STATE + tid, ThreadState.Alive)
  const domain = new Domain(buffer, idOf(words), tid)
  joined.set(domain.id, domain)
  return domain
}

function newId(words: Int32Array): number {
  const tid = Atomics.add(words, DomainWord.NEXT_TID, 1) + 1
  if (tid > MAX_THREADS) {
    Atomics.sub(words, DomainWord.NEXT_TID, 1)
    throw new ThreadstateError(
      `Expected at most ${MAX_THREADS} threads alive at once in one threadstate domain (ids of dead threads are reused once nothing names them), got thread number ${tid}`,
    )
  }
  return tid
}

/**
 * Claims the id of a dead thread that nothing names any more, the longest
 * dead first (module comment: claim, then check the count, else back off).
 * @returns the id, now STATE Reusing; 0 if there is none
 */
function reuseDeadId(words: Int32Array): number {
  for (;;) {
    const last = Math.min(Atomics.load(words, DomainWord.NEXT_TID), MAX_THREADS)
    let best = 0
    let bestAge = -1
    const deaths = Atomics.load(words, DomainWord.DEATHS)
    for (let tid = 1; tid <= last; tid++) {
      if (Atomics.load(words, DomainWord.STATE + tid) !== ThreadState.Dead || referencesOf(words, tid) !== 0) continue
      const age = (deaths - Atomics.load(words, DIED_AT + tid)) >>> 0
      if (age > bestAge) {
        best = tid
        bestAge = age
      }
    }
    if (best === 0) return 0
    if (Atomics.compareExchange(words, DomainWord.STATE + best, ThreadState.Dead, ThreadState.Reusing) !== ThreadState.Dead) continue
    // Only now, with the id claimed, does a zero count prove nothing names it (module comment, 1-3).
    if (referencesOf(words, best) === 0) return best
    Atomics.store(words, DomainWord.STATE + best, ThreadState.Dead) // pinned meanwhile: leave it for later
  }
}

function referencesOf(words: Int32Array, tid: number): number {
  return (Atomics.load(words, NAMED + tid) + Atomics.load(words, OTHERS + tid)) | 0
}

/** Domains the calling thread has joined (used by `superviseWorker`). */
export function joinedDomains(): Domain[] {
  return [...joined.values()]
}

/**
 * The calling thread's id in the domain of `handle` (or in its default
 * domain): the value lock words record as holder.
 */
export function currentThreadId(handle?: { readonly domain: SharedArrayBuffer }): number {
  return domainOf(handle?.domain).tid
}
