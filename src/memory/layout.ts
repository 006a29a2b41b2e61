/**
 * The region header every shared object starts with, and the type tags.
 *
 * ```
 *  Int32 word   0        1          2               3
 *             +--------+----------+---------------+-------------+---- object words ...
 *             | MAGIC  | TYPE_TAG | LAYOUT_VERSION| BYTE_LENGTH |
 *             +--------+----------+---------------+-------------+----
 * ```
 *
 * `attach()` checks all four against the handle, so a handle of another kind,
 * another library version, or one pointing at the wrong bytes fails with a
 * `HandleError` instead of corrupting memory (the esfx "Invalid handle" habit).
 *
 * @module
 */

/** 'TSt1' in ASCII: marks the start of every threadstate region. */
export const MAGIC = 0x54537431

/** Word offsets of the common header, in Int32 words from the region start. */
export const Header = {
  MAGIC: 0,
  TYPE_TAG: 1,
  LAYOUT_VERSION: 2,
  BYTE_LENGTH: 3,
  /** First word an object may use for itself. */
  WORDS: 4,
} as const

/** Every region starts at a multiple of this, so Float64 fields are aligned. */
export const REGION_ALIGN = 8

/** The type tags written in the header, one per shared object kind. */
export const TypeTag = {
  Domain: 1,
  Mutex: 2,
  ReentrantMutex: 3,
  RWLock: 4,
  Condition: 5,
  Semaphore: 6,
  Barrier: 7,
  StateBuffer: 8,
  SnapshotStore: 9,
  SharedMap: 10,
  StateMachine: 11,
  Watchdog: 12,
  StateManager: 13,
  TriggerFlags: 14,
} as const

/** Name of a shared object kind, as it appears in a handle's `type`. */
export type TypeName = keyof typeof TypeTag

/**
 * Layout version of each kind. Bump it when the kind's words change: handles
 * made by another version are then refused by `attach()`.
 */
export const LAYOUT_VERSION: Readonly<Record<TypeName, number>> = {
  Domain: 4,
  Mutex: 2,
  ReentrantMutex: 2,
  RWLock: 3,
  Condition: 2,
  Semaphore: 1,
  Barrier: 2,
  StateBuffer: 3,
  SnapshotStore: 3,
  SharedMap: 4,
  StateMachine: 2,
  Watchdog: 1,
  StateManager: 1,
  TriggerFlags: 1,
}

/** Version of the handle object format itself (the `threadstate` field). */
export const HANDLE_FORMAT = 1
