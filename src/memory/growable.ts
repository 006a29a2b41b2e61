/**
 * Data buffers of the objects that grow (SnapshotStore, SharedMap), and the
 * budget that stops a process from creating more growable buffers than its
 * memory mappings allow (issue 15 item 4).
 *
 * Why a budget: a growable `SharedArrayBuffer` (`{ maxByteLength }`) makes
 * V8 reserve `maxByteLength` of address space of its own and commit the
 * front of it, which costs two memory mappings (a read-write head and a
 * reserved tail; adjacent fixed-length buffers merge into the mappings of
 * the allocator instead). Linux allows a process `vm.max_map_count` mappings
 * (65,530 by default); when they run out, V8 cannot map heap pages and the
 * process dies (out of memory or SIGSEGV, uncatchable): measured at ~32,000
 * SnapshotStores or ~16,000 SharedMaps with default options.
 *
 * What is done about it:
 *
 * - **Small objects take no mapping.** An object whose `maxBytes` is at most
 *   {@link SMALL_OBJECT_MAX_BYTES} gets fixed-length buffers of its full
 *   size up front, from the ordinary allocator, and never grows them
 *   ({@link dataBuffer}). Nothing else changes: the same layout, protocol
 *   and offsets, only `buffer.growable` is false and `maxByteLength` equals
 *   `byteLength`.
 * - **Growable buffers are budgeted.** Before a growable buffer is made,
 *   {@link reserveGrowable} checks the budget and throws
 *   {@link MappingLimitError} (a `CapacityError`) instead of letting the
 *   process die. Where the platform tells the mapping limit and the mappings
 *   in use (Node on Linux: `/proc/sys/vm/max_map_count`, `/proc/self/maps`),
 *   the check reads them, but only when a cheap count of growable buffers
 *   created, shared by every thread of the process, reaches a checkpoint: a
 *   check that finds `h` mappings to spare (beyond a margin for V8's heap,
 *   thread stacks and libraries) sets the next checkpoint `h / 4` creations
 *   later, half of the room at two mappings each, so the margin is never
 *   entered unnoticed (the other half and the margin are left for what
 *   else maps memory meanwhile) and the file is read rarely: ~15 times on
 *   the way from 0 to the limit, once per ~14,000 creations while far from
 *   it. Reading it is not cheap near the limit (~180 ms at 57,000 mappings
 *   here: the kernel formats every line), so those few reads are the cost.
 *   The count is only a trigger, never decremented: the mappings are the
 *   truth, and buffers freed by the garbage collector free theirs.
 * - **Elsewhere** (browsers, Deno, Bun without Node compatibility, Node off
 *   Linux) no limit can be read: each thread may hold at most
 *   {@link DEFAULT_GROWABLE_BUDGET} growable buffers it created, counted
 *   while it references them (a `FinalizationRegistry` gives the count back
 *   when the garbage collector frees one: it may then live on in another
 *   thread, which only makes the budget generous, not wrong by more than
 *   the buffers shared that way).
 *
 * @module
 */
import { mappingLimit, mappingsInUse, processWideWords } from '#platform'
import { MappingLimitError } from '../errors.js'

/**
 * Objects whose `maxBytes` is at most this (64 KiB) get fixed-length buffers
 * of their full size, allocated up front, and take no memory mapping of
 * their own: make them as many as memory holds. Larger ones reserve
 * `maxBytes` of address space and grow into it, within a budget of memory
 * mappings ({@link MappingLimitError} past it; README, "How many objects").
 */
export const SMALL_OBJECT_MAX_BYTES = 65536

/**
 * Growable buffers one thread may hold where the platform does not tell the
 * mapping limit (browsers; Node off Linux). 16,384 growable buffers cost
 * ~32,768 mappings, half of Linux's default limit, leaving the rest to the
 * runtime and to other threads.
 */
export const DEFAULT_GROWABLE_BUDGET = 16384

/** Mappings one growable buffer costs (a committed head and a reserved tail). */
export const MAPPINGS_PER_GROWABLE = 2

/** Mappings kept free for the runtime (V8's heap, thread stacks, libraries): an eighth of the limit, at least 2,048. */
export function mappingMargin(limit: number): number {
  return Math.max(2048, Math.floor(limit / 8))
}

/** Word indices of the process-wide budget words. */
const Budget = {
  /** Growable buffers created in this process (a trigger only, never decremented). */
  CREATED: 0,
  /** CREATED value at which the next thread to create one reads the mappings. */
  NEXT_CHECK: 1,
  WORDS: 2,
} as const

let words: Int32Array | undefined
/** Growable buffers this thread created and still references (count-based budget only). */
let live = 0
let finalizer: FinalizationRegistry<undefined> | undefined

/**
 * Accounts for one new growable buffer of `what` (before it is made).
 * @throws MappingLimitError if the process is too close to its mapping limit
 *   (or, where the limit cannot be read, this thread holds
 *   {@link DEFAULT_GROWABLE_BUDGET} growable buffers already)
 */
export function reserveGrowable(what: string): void {
  const limit = mappingLimit()
  if (limit === undefined) {
    if (live >= DEFAULT_GROWABLE_BUDGET) {
      throw new MappingLimitError(
        `Expected fewer than ${DEFAULT_GROWABLE_BUDGET} growable buffers in this thread (the budget where the mapping limit cannot be read), got a ${what} needing one more. Give objects you make many of \`maxBytes\` <= ${SMALL_OBJECT_MAX_BYTES} (they need none), or drop some`,
      )
    }
    return
  }
  words ??= processWideWords('threadstate.growable-budget', Budget.WORDS)
  const created = Atomics.add(words, Budget.CREATED, 1) + 1
  if (created < Atomics.load(words, Budget.NEXT_CHECK)) return
  const used = mappingsInUse()
  if (used === undefined) return
  const spare = limit - mappingMargin(limit) - used
  if (spare < MAPPINGS_PER_GROWABLE) {
    throw new MappingLimitError(
      `Expected room for another growable buffer (for a ${what}) within this process's memory mappings: vm.max_map_count allows ${limit}, ${mappingMargin(limit)} are kept for the runtime, ${used} are in use and a growable buffer costs ${MAPPINGS_PER_GROWABLE}. Give objects you make many of \`maxBytes\` <= ${SMALL_OBJECT_MAX_BYTES} (they take no mapping), drop some, or raise vm.max_map_count`,
    )
  }
  Atomics.store(words, Budget.NEXT_CHECK, created + Math.max(1, Math.floor(spare / (2 * MAPPINGS_PER_GROWABLE))))
}

/**
 * A data buffer of `initialBytes` that may grow to `maxBytes`: fixed-length
 * of `maxBytes` when that is at most {@link SMALL_OBJECT_MAX_BYTES} (no
 * mapping of its own), else growable, within the budget.
 * @throws MappingLimitError if a growable buffer would exceed the budget
 */
export function dataBuffer(initialBytes: number, maxBytes: number, what: string): SharedArrayBuffer {
  if (maxBytes <= SMALL_OBJECT_MAX_BYTES) return new SharedArrayBuffer(maxBytes)
  return growableBuffer(initialBytes, maxBytes, what)
}

/**
 * A growable buffer within the budget ({@link reserveGrowable}).
 * @throws MappingLimitError if it would exceed the budget
 */
export function growableBuffer(initialBytes: number, maxBytes: number, what: string): SharedArrayBuffer {
  reserveGrowable(what)
  const buffer = new SharedArrayBuffer(initialBytes, { maxByteLength: maxBytes })
  if (mappingLimit() === undefined) {
    live++
    finalizer ??= new FinalizationRegistry(() => {
      live--
    })
    finalizer.register(buffer, undefined)
  }
  return buffer
}
