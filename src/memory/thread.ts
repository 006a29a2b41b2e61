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
 * The table also records whether each thread is alive. `superviseWorker()` (in
 * `threadstate/node`) marks the ids of an exited worker dead; a lock whose
 * holder is dead is then taken over by the next acquirer, who gets an
 * `OwnerDiedError` (the robust-mutex protocol of Linux futexes and
 * `pthread_mutex_consistent`).
 *
 * ```
 *  Int32 words
 *  0..3   region header (MAGIC, TYPE_TAG=Domain, LAYOUT_VERSION, BYTE_LENGTH)
 *  4      NEXT_TID        last id handed out (ids start at 1; 0 = nobody)
 *  5      DEATHS          number of ids marked dead so far
 *  6, 7   ID_LO, ID_HI    random 64-bit domain id (SharedArrayBuffer objects
 *                         cloned into another thread are new JS objects, so
 *                         identity is checked by this id, not by the object)
 *  8..    STATE[tid]      0 unused, 1 alive, 2 dead      (MAX_THREADS words)
 *  ..     NATIVE[tid]     runtime thread id + 1, 0 unknown (MAX_THREADS words)
 *  ..     WAIT_EDGE[tid]  while the thread sleeps in a blocking lock() without a
 *                         timeout: the holder it waits for | verifications << 16;
 *                         0 otherwise (sync/wait-graph.ts)      (MAX_THREADS words)
 *  ..     WAIT_EPISODE[tid] waits the thread has published     (MAX_THREADS words)
 * ```
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
const DOMAIN_BYTES = (WaitGraphWord.EPISODE + MAX_THREADS + 1) * 4

/** Liveness of a thread id in its domain. */
export const ThreadState = { Unused: 0, Alive: 1, Dead: 2 } as const

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
  }

  /** Whether thread `tid` of this domain has been marked dead. */
  isDead(tid: number): boolean {
    return Atomics.load(this.words, DomainWord.STATE + tid) === ThreadState.Dead
  }

  /**
   * Whether `tid` cannot hold anything in this domain: marked dead, or an id
   * never handed out (a lock word naming it was overwritten: scribbled
   * memory). A thread's STATE is Alive before it gets its Domain, so before
   * it can put its id in any lock word; a lock word naming an id whose STATE
   * is not Alive therefore names nobody who can release it.
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
    Atomics.add(this.words, DomainWord.DEATHS, 1)
    // Async waiters of every thread sleep without re-checking on a timer and
    // watch DEATHS instead (sync/wait.ts): wake them to look again.
    Atomics.notify(this.words, DomainWord.DEATHS)
    return true
  }

  /** Ids of threads whose runtime thread id is `native` (Node: `worker.threadId`): the live ones, or with `dead` the ones marked dead. */
  threadsWithNativeId(native: number, dead = false): number[] {
    const found: number[] = []
    const state = dead ? ThreadState.Dead : ThreadState.Alive
    const last = Math.min(Atomics.load(this.words, DomainWord.NEXT_TID), MAX_THREADS)
    for (let tid = 1; tid <= last; tid++) {
      if (Atomics.load(this.words, NATIVE + tid) === native + 1 && Atomics.load(this.words, DomainWord.STATE + tid) === state) {
        found.push(tid)
      }
    }
    return found
  }

  /** The Int32 index of the DEATHS word in {@link words} (it grows by one, and is notified, at each death). @internal */
  get deathsIndex(): number {
    return DomainWord.DEATHS
  }

  /** Number of threads that have taken an id, and how many were marked dead. */
  counts(): DomainCounts {
    return {
      threads: Math.min(Atomics.load(this.words, DomainWord.NEXT_TID), MAX_THREADS),
      dead: Atomics.load(this.words, DomainWord.DEATHS),
    }
  }
}

/** Threads of a domain, from {@link Domain.counts}. */
export interface DomainCounts {
  /** Thread ids handed out. */
  readonly threads: number
  /** Of those, marked dead. */
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
    for (const domain of joined.values()) for (const tid of domain.threadsWithNativeId(native)) domain.markDead(tid)
  })
}

function join(buffer: SharedArrayBuffer): Domain {
  watchWorkers()
  const words = new Int32Array(buffer)
  const tid = Atomics.add(words, DomainWord.NEXT_TID, 1) + 1
  if (tid > MAX_THREADS) {
    throw new ThreadstateError(
      `Expected at most ${MAX_THREADS} threads to join one threadstate domain, got thread number ${tid}`,
    )
  }
  const native = nativeThreadId()
  if (native !== undefined) Atomics.store(words, NATIVE + tid, native + 1)
  Atomics.store(words, DomainWord.STATE + tid, ThreadState.Alive)
  const domain = new Domain(buffer, idOf(words), tid)
  joined.set(domain.id, domain)
  return domain
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
