/**
 * The object layer's one read protocol: optimistic reads validated by a
 * sequence number (a seqlock, Lameter's "Effective synchronization on Linux/NUMA
 * systems", 2005; Boehm's "Can seqlocks get along with programming language
 * memory models?", 2012). StateBuffer, SnapshotStore, SharedMap and the
 * StateMachine log read through this module and nothing else; the memory
 * ordering argument below is written here once.
 *
 * Two shapes of the same protocol:
 *
 * - {@link VersionRing}: a published-version word PUB and a ring of S slots
 *   (S a power of two); version v lives in slot `v mod S`. The writer (one at
 *   a time: it holds the object's writer lock) fills slot `(PUB + 1) mod S`
 *   with plain stores, then stores PUB + 1. Slot `v mod S` next changes when
 *   version v + S is written, which starts only after PUB = v + S - 1 was
 *   stored. So a reader that loaded PUB = p, copied slot `p mod S`, and then
 *   loads PUB again and finds it advanced by at most S - 2 knows the writer
 *   had not begun overwriting the slot: the copy is whole. With S slots a
 *   reader retries only when the writer completes S - 1 publications during
 *   one copy, which is why a full-speed writer does not starve readers as a
 *   single sequence word does (94 % retries measured here).
 *   Used by StateBuffer (S = its history) and SnapshotStore (S = 4).
 *
 * - {@link SeqWord}: one sequence word for a whole structure: odd while a
 *   writer changes it (`beginWrite`), even again after (`endWrite`). A reader
 *   loads an even value, reads, and accepts what it read only if the word
 *   still has that value. Used by SharedMap (one word for the whole table) and
 *   the StateMachine log (one word per entry, through static forms that take
 *   `(words, index)`: the entry's writer claims the word with a busy mark
 *   ({@link SeqWord.claimEntry}), writes, and stores the entry's complete
 *   value ({@link SeqWord.releaseEntry}); a reader takes the entry only if
 *   the word holds the value it expects before and after its copy
 *   ({@link SeqWord.readEntry})).
 *
 * Readers never act on what they copied before validating it: a torn copy is
 * dropped and retried, never decoded; offsets read during a change are
 * bounds-checked by the caller's copy step, which then answers {@link RETRY}.
 *
 * **Memory ordering** (DESIGN.md, "Do not lean on x86"). `Atomics` operations
 * are sequentially consistent, plain typed-array accesses are not ordered with
 * them on weakly ordered CPUs (ARM64):
 *
 * - Reader: the plain loads of the copy, written before the re-check's
 *   `Atomics.load`, may be satisfied after it, so the re-check could pass while
 *   the copy saw a later (torn) state. A read-modify-write between the copy
 *   and the re-check ({@link ReadFence.order}: `Atomics.exchange` on a word of
 *   the reader's own, so readers do not contend) keeps the copy before the
 *   re-check: V8 compiles it on ARM64 to a load-acquire/store-release
 *   exclusive pair, and ARMv8's release and acquire accesses are ordered
 *   with each other (RCsc), so the re-check's load cannot pass it, nor it the
 *   copy. The ECMAScript memory model promises as much for sequentially
 *   consistent read-modify-writes.
 * - Writer of a {@link SeqWord}: plain stores written after the odd
 *   `Atomics.store` may become visible before it, so a reader could see a
 *   changed structure with the word still even. `beginWrite` puts a
 *   read-modify-write after the store. The same holds for an entry claimed
 *   with `compareExchange` ({@link SeqWord.claimEntry}): on ARM64 V8 makes it
 *   a load-acquire / store-release exclusive pair (or one CASAL), and a plain
 *   store written after the store-release half may become visible before it,
 *   so `claimEntry` also puts the read-modify-write after a successful claim:
 *   its load-acquire cannot pass the claim's store-release (RCsc), and the
 *   plain stores cannot pass that load-acquire.
 * - Writer of a {@link VersionRing}: between storing PUB = v and writing any
 *   plain byte of a slot a reader may still copy (version v + 1 onwards goes
 *   to other slots), the writer releases and re-acquires its writer lock, two
 *   read-modify-writes; the lag bound (S - 2) covers the slot it writes next.
 *
 * On x86-64 (TSO: loads are not reordered with loads, stores not with stores)
 * these read-modify-writes are not needed and are skipped
 * (`strongMemoryOrdering` from the platform module). Tests on this x86 machine
 * cannot catch a missing barrier: the SPIN models in `verify/spin/` check the
 * protocol under sequential consistency, and this argument covers the rest.
 *
 * @module
 */
import { strongMemoryOrdering } from '#platform'
import { atomicMax } from '../memory/atomics.js'
import { wakeAfterRelease } from './version-wait.js'

// A module-local copy: TurboFan folds a module's own `const` into the code
// that reads it, not an imported binding (measured on RETRY: imported, each
// comparison became a call of the generic StrictEqual builtin).
const STRONG: boolean = strongMemoryOrdering

/** What a copy step returns when what it read cannot be a consistent state: the read is retried. */
export const RETRY: unique symbol = Symbol('threadstate.retry')
/** Type of {@link RETRY}. */
export type Retry = typeof RETRY

/**
 * The reader's barrier between its plain copy and its re-check: a
 * read-modify-write on a word that only this reader writes (argument in the
 * module comment). Nothing on x86-64.
 */
export class ReadFence {
  private words: Int32Array
  private index: number

  /** A fence on a private word; {@link moveTo} may put it on a word of the reader's own in shared memory. */
  constructor() {
    this.words = new Int32Array(new SharedArrayBuffer(4))
    this.index = 0
  }

  /** Does the read-modify-write on `words[index]` from now on (a word no other thread writes). */
  moveTo(words: Int32Array, index: number): void {
    this.words = words
    this.index = index
  }

  /** The barrier. */
  order(): void {
    if (!STRONG) Atomics.exchange(this.words, this.index, 0)
  }

  /** The word the barrier writes: for generated code that inlines {@link order}. */
  get word(): { readonly words: Int32Array; readonly index: number } {
    return { words: this.words, index: this.index }
  }
}

/** The writer's barrier after marking a structure or an entry busy (module comment). Nothing on x86-64. */
function orderAfterBusy(words: Int32Array, index: number, value: number): void {
  // Exchanging the word with the value it already holds: a read-modify-write
  // that changes nothing, on a word only the writer (lock held, or the
  // entry's claim won) stores to; other writers of an entry only try
  // compareExchanges from other values there, which fail and store nothing.
  if (!STRONG) Atomics.exchange(words, index, value)
}

/** How many times one read was retried, recorded where the object keeps its figures. */
export interface RetryFigures {
  /** A read needed `tries` retries (> 0) before it got a whole copy. */
  retried(tries: number): void
}

/** Records retries in two Int32 words of an object's region: a total and the longest streak. */
export class RetryWords implements RetryFigures {
  constructor(
    private readonly words: Int32Array,
    private readonly total: number,
    private readonly longest: number,
  ) {}

  /** Adds `tries` to the total and raises the longest streak. */
  retried(tries: number): void {
    if (this.total >= 0) Atomics.add(this.words, this.total, tries)
    atomicMax(this.words, this.longest, tries)
  }
}

/** Rings of at most this many slots get a view per slot in generated code ({@link VersionRing.layOutSlots}). */
export const SLOT_VIEWS = 256

/** Names generated code binds itself ({@link VersionRing.compile}); `extra` may not reuse them. */
const RESERVED = new Set(['words', 'f', 'views', 'fw'])

/** What {@link VersionRing.compileReadLoop} builds a read loop from. */
export interface ReadLoopSpec {
  /** Retries in a row before the loop gives up and returns -1. */
  readonly maxRetries: number
  /**
   * Statements copying the slot: `word(k)` is the expression of the slot's
   * Float64 word `k` (an integer, or the source text of an integer
   * expression). They write into `t`, or into locals of their own.
   */
  readonly copy: (word: (k: number | string) => string) => string
  /** Statements run once the copy is whole; the retries it took are in `tries`. */
  readonly accept: string
  /** The expression returned after `accept`. */
  readonly result: string
  /** Further free variables of `copy`, `accept` and `result`: identifier to value. */
  readonly extra?: Readonly<Record<string, unknown>>
}

/** Source text naming one slot in generated code ({@link VersionRing.slotSource}). */
export interface SlotSource {
  /** A statement that points at the slot. */
  readonly decl: string
  /** The expression of the slot's Float64 word `k` (an integer, or the source text of an integer expression). */
  readonly word: (k: number | string) => string
}

/** A non-negative integer as source text, for generated code (checked: nothing else is pasted). */
function literal(name: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`Expected ${name} to be an integer >= 0, got ${n}`)
  return String(n)
}

/**
 * A published-version word and a ring of slots: the reader's side of the
 * protocol, and the writer's publication. See the module comment.
 */
export class VersionRing {
  /** Ring length S minus 1 (S a power of two). */
  readonly mask: number
  /** The largest advance of PUB during a copy that still proves it whole: S - 2. */
  readonly maxLag: number
  /** Version of the last accepted copy's PUB, and the retries it took (out-parameters of {@link read}). */
  pub = 0
  tries = 0

  constructor(
    /** The object's Int32 words. */
    readonly words: Int32Array,
    /** Index of PUB: low 32 bits of the latest published version. */
    readonly pubIndex: number,
    /** Index of WAITERS: threads sleeping on PUB (the writer notifies only if > 0). */
    readonly waitersIndex: number,
    /** S, a power of two >= 2. */
    readonly slots: number,
    /** The reader's barrier. */
    readonly fence: ReadFence,
  ) {
    this.mask = slots - 1
    this.maxLag = slots - 2
  }

  // ---- reader -------------------------------------------------------------------

  /** PUB now: copy slot `p & mask`, then {@link whole}(p). */
  begin(): number {
    return Atomics.load(this.words, this.pubIndex)
  }

  /** After copying slot `p & mask`: whether the copy is whole (the check of {@link read}). */
  whole(p: number): boolean {
    this.fence.order()
    return ((Atomics.load(this.words, this.pubIndex) - p) >>> 0) <= this.maxLag
  }

  /**
   * Runs `copy(p)` (copy slot `p & mask`, or answer {@link RETRY} if what it
   * read cannot be right) until a copy is whole; returns what it returned.
   * Leaves the PUB it was taken at in {@link pub} and the retries in
   * {@link tries}, and reports retries to `figures`.
   * @returns RETRY only after `maxRetries` retries in a row (the caller says the reader starved)
   */
  read<R>(copy: (p: number) => R | Retry, maxRetries: number, figures?: RetryFigures): R | Retry {
    for (let tries = 0; ; tries++) {
      const p = Atomics.load(this.words, this.pubIndex)
      const r = copy(p)
      this.fence.order()
      if (r !== RETRY && ((Atomics.load(this.words, this.pubIndex) - p) >>> 0) <= this.maxLag) {
        this.pub = p
        this.tries = tries
        if (tries > 0) figures?.retried(tries)
        return r
      }
      if (tries >= maxRetries) return RETRY
    }
  }

  /**
   * Copies version `version` through `copy` if it is still in the ring (not
   * overwritten, and published): undefined if not, or if it was overwritten
   * during the copy. `copy` answers {@link RETRY} when the slot does not hold
   * `version`.
   */
  readVersion<R>(version: number, copy: () => R | Retry): R | undefined {
    const low = version % 4294967296 | 0
    if (((Atomics.load(this.words, this.pubIndex) - low) >>> 0) > this.maxLag) return undefined
    const r = copy()
    this.fence.order()
    if (r === RETRY || ((Atomics.load(this.words, this.pubIndex) - low) >>> 0) > this.maxLag) return undefined
    return r
  }

  // ---- generated code (StateBuffer's reads and flat write) ----------------------

  /** Where the slots are, for generated code: set by {@link layOutSlots}. */
  private layout: { f64: Float64Array; ring: number; stride: number; views: Float64Array[] | undefined } | undefined

  /**
   * Says where the slots are, for {@link slotSource} and the code
   * {@link compile} builds: slot k's words start at Float64 index
   * `ring + k * stride` of `f64`. With up to {@link SLOT_VIEWS} slots every
   * slot gets a Float64Array view of its own, made here once.
   *
   * Why views, measured on a 25-double state (x86-64, Node 20): a read loop
   * that copies a slot's view at constant indexes (`s[3]`) into constant
   * indexes of the target, its integers (PUB's index, the mask, the lag
   * bound, the fence word's index, the retry budget) literals and, on x86-64,
   * without the fence line, costs 19-20 ns, as much as a hand-written
   * one-word seqlock (18.5 ns). With the slot's words at a computed base
   * (`f[b + 3]`) it cost 25 ns; with the target's offset as a parameter too,
   * 28 ns; with the integers as closure variables, 29 ns. Beyond SLOT_VIEWS
   * slots (a history above 255) the views would cost each thread that reads
   * or writes ~100 B per slot, so the code reads `f[b + k]`.
   */
  layOutSlots(f64: Float64Array, ring: number, stride: number): void {
    let views: Float64Array[] | undefined
    if (this.slots <= SLOT_VIEWS) {
      views = []
      for (let k = 0; k < this.slots; k++) views.push(new Float64Array(f64.buffer, f64.byteOffset + (ring + k * stride) * 8, stride))
    }
    this.layout = { f64, ring, stride, views }
  }

  /**
   * Source text naming the slot of PUB value `at` (an expression of the
   * generated code) as `name`: its view, or its Float64 index in `f`.
   */
  slotSource(name: string, at: string): SlotSource {
    const layout = this.slotLayout()
    const mask = literal('the mask', this.mask)
    if (layout.views !== undefined) return { decl: `const ${name} = views[(${at}) & ${mask}];`, word: (k) => `${name}[${k}]` }
    const base = `${literal('the ring index', layout.ring)} + ((${at}) & ${mask}) * ${literal('the stride', layout.stride)}`
    return { decl: `const ${name} = ${base};`, word: (k) => `f[${name} + ${k}]` }
  }

  /**
   * Compiles `return function (params) { body }` with `new Function`: free
   * variables `words` (the object's Int32 words), `f` (its Float64 view),
   * `views` (the slot views), `fw` (the fence's word array), and `extra`'s.
   * Every value is passed in as data; only checked integers ({@link literal})
   * and the callers' own statements are pasted into the source.
   */
  compile<F>(params: string, body: string, extra: Readonly<Record<string, unknown>> = {}): F {
    const layout = this.slotLayout()
    for (const name of Object.keys(extra)) {
      if (!/^[A-Za-z_$][\w$]*$/.test(name) || RESERVED.has(name)) throw new TypeError(`Expected a free identifier for generated code, got ${name}`)
    }
    const factory = new Function('words', 'f', 'views', 'fw', ...Object.keys(extra), `"use strict"; return function (${params}) {\n${body}\n}`) as (
      ...args: unknown[]
    ) => F
    return factory(this.words, layout.f64, layout.views, this.fence.word.words, ...Object.values(extra))
  }

  /**
   * Compiles the read loop of {@link read} with the copy written out (one
   * call per read). The function takes a target `t` and, in a loop: loads
   * PUB into `p1`, points `s` at slot `p1 & mask` ({@link slotSource}), runs
   * `spec.copy`, orders the copy before the re-check (the fence of
   * {@link read}), and once PUB moved by at most {@link maxLag} runs
   * `spec.accept` and returns `spec.result`: only a whole copy reaches
   * `accept` and `result`. After `maxRetries` retries in a row it returns -1
   * (`t` then holds a torn copy). Same protocol as {@link read}; the fence
   * word is the one the fence uses now (after a {@link ReadFence.moveTo},
   * compile again). Why this shape: {@link layOutSlots}.
   */
  compileReadLoop(spec: ReadLoopSpec): (t: Float64Array) => number {
    const slot = this.slotSource('s', 'p1')
    const pub = literal('the PUB index', this.pubIndex)
    const body = VersionRing.readLoopSource({
      pub,
      slot: slot.decl,
      copy: spec.copy(slot.word),
      fence: STRONG ? '' : `Atomics.exchange(fw, ${literal('the fence index', this.fence.word.index)}, 0);`,
      maxLag: literal('the lag bound', this.maxLag),
      accept: spec.accept,
      result: spec.result,
      maxRetries: literal('the retry budget', spec.maxRetries),
    })
    return this.compile('t', body, spec.extra)
  }

  private slotLayout(): NonNullable<VersionRing['layout']> {
    if (this.layout === undefined) throw new Error('Expected layOutSlots() before generating code for a ring')
    return this.layout
  }

  /** The body {@link compileReadLoop} compiles: its parts, pasted in order. */
  static readLoopSource(p: {
    pub: string
    slot: string
    copy: string
    fence: string
    maxLag: string
    accept: string
    result: string
    maxRetries: string
  }): string {
    return `
      for (let tries = 0; ; tries++) {
        const p1 = Atomics.load(words, ${p.pub});
        ${p.slot}
        ${p.copy}
        ${p.fence}
        if (((Atomics.load(words, ${p.pub}) - p1) >>> 0) <= ${p.maxLag}) {
          ${p.accept}
          return ${p.result};
        }
        if (tries >= ${p.maxRetries}) return -1;
      }`
  }

  // ---- writer (holding the object's writer lock) ------------------------------------

  /** PUB as the writer sees it (a plain read: only writers store PUB, and they hold the lock). */
  published(): number {
    return this.words[this.pubIndex]!
  }

  /** The slot the next version goes to. */
  nextSlot(): number {
    return (this.words[this.pubIndex]! + 1) & this.mask
  }

  /**
   * {@link publish} without the wake-up, for a writer that read `pub` =
   * {@link published} under the lock (and filled the slot of `pub + 1`),
   * releases its writer lock next and then calls {@link wakeAfterRelease}:
   * one read of PUB per write instead of three, and the wake-up costs a
   * plain read instead of an `Atomics.load` (~7 ns here).
   */
  advance(pub: number): void {
    Atomics.store(this.words, this.pubIndex, (pub + 1) | 0)
  }

  /**
   * After {@link advance} and the release of the writer lock: wakes waiters
   * if any sleep, reading WAITERS plainly (the argument is version-wait.ts's
   * `wakeAfterRelease`). The SPIN model state-buffer.pml has the writer in
   * this order.
   */
  wakeAfterRelease(): void {
    wakeAfterRelease(this.words, this.pubIndex, this.waitersIndex)
  }

  /** Makes the filled slot {@link nextSlot} the latest, and wakes waiters if any sleep. */
  publish(): void {
    const words = this.words
    Atomics.store(words, this.pubIndex, (words[this.pubIndex]! + 1) | 0)
    if (Atomics.load(words, this.waitersIndex) !== 0) Atomics.notify(words, this.pubIndex)
  }
}

/**
 * A {@link VersionRing} with a FLOOR word: the oldest PUB value whose slot
 * still holds its version. A writer that gives a published slot's memory to
 * another slot (SnapshotStore reusing regions) first raises FLOOR past it
 * ({@link retire}); {@link read} and {@link whole} then also refuse copies
 * taken at a PUB below FLOOR, loaded after the fence like PUB's re-check.
 * A class of its own so that rings without a floor (StateBuffer) pay nothing.
 */
export class FlooredRing extends VersionRing {
  constructor(
    words: Int32Array,
    pubIndex: number,
    waitersIndex: number,
    slots: number,
    fence: ReadFence,
    /** Index of FLOOR. */
    readonly floorIndex: number,
  ) {
    super(words, pubIndex, waitersIndex, slots, fence)
  }

  /** After copying slot `p & mask`: whether the copy is whole (PUB moved by at most maxLag, `p` not below FLOOR). */
  override whole(p: number): boolean {
    this.fence.order()
    return ((Atomics.load(this.words, this.pubIndex) - p) >>> 0) <= this.maxLag && ((Atomics.load(this.words, this.floorIndex) - p) | 0) <= 0
  }

  /** {@link VersionRing.read} with the FLOOR check of {@link whole}. */
  override read<R>(copy: (p: number) => R | Retry, maxRetries: number, figures?: RetryFigures): R | Retry {
    for (let tries = 0; ; tries++) {
      const p = Atomics.load(this.words, this.pubIndex)
      const r = copy(p)
      if (r !== RETRY && this.whole(p)) {
        this.pub = p
        this.tries = tries
        if (tries > 0) figures?.retried(tries)
        return r
      }
      if (tries >= maxRetries) return RETRY
    }
  }

  /**
   * {@link VersionRing.publish}, keeping FLOOR within 2^30 of PUB (they are
   * compared as a signed 32-bit difference): raising it to a PUB the lag
   * bound refuses anyway changes no reader's verdict.
   */
  override publish(): void {
    const next = (this.words[this.pubIndex]! + 1) | 0
    if (((next - this.words[this.floorIndex]!) >>> 0) > 0x40000000) this.retire((next - this.maxLag - 1) | 0)
    super.publish()
  }

  /**
   * Raises FLOOR to `floor` (a PUB value <= PUB): copies taken at an older
   * PUB are refused from now on, so the writer may write into the memory of
   * their slots. Call it before the first plain store into that memory: the
   * store of FLOOR is followed by the writer barrier (module comment), so no
   * plain store written after it becomes visible before it, and a reader
   * whose copy saw such a store loads this FLOOR or a later one after its
   * fence.
   */
  retire(floor: number): void {
    Atomics.store(this.words, this.floorIndex, floor)
    orderAfterBusy(this.words, this.floorIndex, floor)
  }
}

/** Loads of the word a reader spends waiting for a write in progress (odd) before counting a retry. */
const ODD_SPIN = 2000

/**
 * A sequence word over a whole structure (SharedMap) or one entry of it (a
 * StateMachine log entry): the reader's loop with its retry figures and a
 * fallback, and the writer's marks. See the module comment.
 */
export class SeqWord {
  /** Tries the last {@link read} lost before it succeeded (or gave up). */
  lost = 0

  constructor(
    /** The Int32 words holding the sequence word. */
    readonly words: Int32Array,
    /** Its index. */
    readonly index: number,
    /** The reader's barrier. */
    readonly fence: ReadFence,
  ) {}

  // ---- reader -------------------------------------------------------------------

  /**
   * The word, after waiting a few microseconds for a write in progress (odd)
   * to end: writes are short, and a reader that gave up at once would fall
   * back to its lock whenever it met one. Still odd if the writer is slow
   * (preempted, or dead): the caller then counts a retry.
   */
  begin(): number {
    const words = this.words
    let s = Atomics.load(words, this.index)
    for (let spin = 0; (s & 1) !== 0 && spin < ODD_SPIN; spin++) s = Atomics.load(words, this.index)
    return s
  }

  /** After reading at sequence `s` (even): whether nothing changed meanwhile. */
  validate(s: number): boolean {
    this.fence.order()
    return Atomics.load(this.words, this.index) === s
  }

  /**
   * Runs `attempt` optimistically until what it read is consistent, at most
   * `tries` times; returns what it returned, or {@link RETRY} if every try
   * lost to a writer (the caller then reads under its writer lock). Failed
   * tries are counted through `onRetry`.
   */
  read<R>(attempt: () => R | Retry, tries: number, onRetry: () => void): R | Retry {
    // Written out here once. SharedMap's one-key reads write this loop out around begin()/validate() for speed (map/reader.ts says why).
    for (let n = 0; n < tries; n++) {
      const s = this.begin()
      if ((s & 1) === 0) {
        const r = attempt()
        this.fence.order()
        if (r !== RETRY && Atomics.load(this.words, this.index) === s) {
          this.lost = n
          return r
        }
      }
      onRetry()
    }
    this.lost = tries
    return RETRY
  }

  /**
   * Reads one entry guarded by its own sequence word at `index`, which holds
   * `expected` when the entry is complete (the StateMachine log: the
   * transition's seq): undefined if it does not, or changed during the read.
   */
  static readEntry<R>(words: Int32Array, index: number, expected: number, fence: ReadFence, read: () => R): R | undefined {
    if (Atomics.load(words, index) !== expected) return undefined
    const r = read()
    fence.order()
    return Atomics.load(words, index) === expected ? r : undefined
  }

  // ---- writer of a structure (holding the object's writer lock) ------------------------

  /** Marks the structure busy (odd) before changing it. @returns the word's value before */
  beginWrite(): number {
    const words = this.words
    const before = words[this.index]!
    const mark = (before + 1) | 0
    Atomics.store(words, this.index, mark)
    orderAfterBusy(words, this.index, mark)
    return before
  }

  /** Marks the structure consistent again with `value` (even). */
  endWrite(value: number): void {
    Atomics.store(this.words, this.index, value)
  }

  // ---- writer of an entry (static: no object per entry) -------------------------------

  /**
   * Claims the entry whose sequence word is `words[index]`: replaces `from`
   * (the value the caller saw there and judged it may take over: a complete
   * value it may overwrite, or the busy mark of a dead writer) by `mark`, a
   * busy mark no complete value equals, in one compareExchange, so of
   * writers racing for one entry at most one claims it, and while the word
   * holds `mark` no other writer does. After a successful claim, the writer
   * barrier (module comment). Write the entry only after a successful claim,
   * then {@link releaseEntry}. Static, taking `(words, index)`: the
   * StateMachine log makes no SeqWord per entry (calls on per-entry objects
   * cost 6-9 % of a transition).
   * @returns the value found: `from` if the claim succeeded, else what the word held instead
   */
  static claimEntry(words: Int32Array, index: number, from: number, mark: number): number {
    const found = Atomics.compareExchange(words, index, from, mark)
    if (found === from) orderAfterBusy(words, index, mark)
    return found
  }

  /** Ends a claim: stores the entry's complete value (after its plain stores: a sequentially consistent store). */
  static releaseEntry(words: Int32Array, index: number, value: number): void {
    Atomics.store(words, index, value)
  }
}
