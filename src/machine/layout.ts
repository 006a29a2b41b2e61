/**
 * Shared-memory layouts of a StateMachine and of TriggerFlags.
 *
 * ```
 *  StateMachine
 *  byte  0  header (MAGIC, TYPE_TAG=StateMachine, LAYOUT_VERSION, BYTE_LENGTH)
 *       16  STATE       Int32: (seq << 8) | state index; seq counts transitions mod 2^24
 *       20  WAITERS     Int32: threads sleeping on STATE
 *       24  REJECTED    Int32: transitions refused (not allowed, or another thread moved first)
 *       28  STATES      Int32: number of states
 *       32  LOG         Int32: entries of the transition log (a power of two)
 *       36  DEFINITION  Int32: hash of the states and transitions (attach checks it)
 *       48  CREATED_AT  Float64: when the initial state began (shared clock)
 *       64  the transition log: LOG entries of 128 bytes, entry `seq mod LOG`:
 *
 *  log entry
 *  byte  0  SEQ            Int32: the transition's seq (0 .. 2^24 - 1) when
 *                          complete; ENTRY_BUSY | tid while thread tid writes
 *                          it (claimed: log.ts); -2 never written
 *        4  FROM, 8 TO     Int32: state indices
 *       12  THREAD_ID      Int32: threadstate id of the thread that made it
 *       16  AT             Float64: when (shared clock)
 *       24  REASON_LENGTH  Int32: UTF-16 units of the reason
 *       32  REASON         48 UTF-16 units
 *
 *  TriggerFlags
 *  byte  0  header · 16 FLAGS (bit i = names[i]) · 20 WAITERS · 24 SETS (times a flag was set)
 * ```
 *
 * Every index below is derived from a byte offset of a {@link LayoutPlan}
 * (checked when the module loads: no overlap, aligned, within the region).
 *
 * @module
 */
import { f64At, i32At, LayoutPlan } from '../memory/fields.js'

/** UTF-16 units a log entry keeps of a transition's reason. */
export const REASON_UNITS = 48

const plan = new LayoutPlan('StateMachine')
const STATE = plan.i32('STATE')
const WAITERS = plan.i32('WAITERS')
const REJECTED = plan.i32('REJECTED')
const STATES = plan.i32('STATES')
const LOG = plan.i32('LOG')
const DEFINITION = plan.i32('DEFINITION')
const CREATED_AT = plan.at('CREATED_AT', 48, 8)
/** Byte offset of the log: the control words fill the first cache line. */
export const LOG_START = plan.finish(64)

const entry = new LayoutPlan('StateMachine log entry', false)
const SEQ = entry.i32('SEQ')
const FROM = entry.i32('FROM')
const TO = entry.i32('TO')
const THREAD_ID = entry.i32('THREAD_ID')
const AT = entry.f64('AT')
const REASON_LENGTH = entry.i32('REASON_LENGTH')
const REASON = entry.area('REASON', REASON_UNITS * 2)
/** Bytes of one log entry (a multiple of 8, so every entry's Float64 is aligned). */
export const ENTRY_BYTES = entry.finish(128)

/** Int32 word offsets of the StateMachine region. */
export const MachineWord = {
  STATE: i32At(STATE),
  WAITERS: i32At(WAITERS),
  REJECTED: i32At(REJECTED),
  STATES: i32At(STATES),
  LOG: i32At(LOG),
  DEFINITION: i32At(DEFINITION),
} as const

/** Float64 indices of the StateMachine region. */
export const MachineF64 = { CREATED_AT: f64At(CREATED_AT) } as const

/**
 * Offsets within a log entry, added to the entry's own index: Int32 words
 * to `entryByte >> 2`, the Float64 to `entryByte >> 3`, the reason's
 * UTF-16 units to `entryByte >> 1`.
 */
export const EntryField = {
  /** Int32: the entry's sequence word (see the diagram). */
  SEQ: i32At(SEQ),
  FROM: i32At(FROM),
  TO: i32At(TO),
  THREAD_ID: i32At(THREAD_ID),
  REASON_LENGTH: i32At(REASON_LENGTH),
  /** Float64 */
  AT: f64At(AT),
  /** Uint16: the first unit of the reason. */
  REASON: REASON >> 1,
} as const

/**
 * SEQ of a log entry being written: `ENTRY_BUSY | tid`, naming the writer's
 * thread id (at most 0xffff). Above every seq (< 2^24), so no busy mark is
 * a complete value.
 */
export const ENTRY_BUSY = 0x40000000
/** SEQ of a log entry never written. */
export const ENTRY_EMPTY = -2

/** Transition numbers count modulo 2^24 (STATE's upper 24 bits): seq & SEQ_MASK. */
export const SEQ_MASK = 0xffffff

/** Bytes of a StateMachine whose log has `entries` entries. */
export function machineBytes(entries: number): number {
  return LOG_START + entries * ENTRY_BYTES
}

const flags = new LayoutPlan('TriggerFlags')
const FLAGS = flags.i32('FLAGS')
const FLAG_WAITERS = flags.i32('WAITERS')
const SETS = flags.i32('SETS')
/** Bytes of a TriggerFlags region. */
export const FLAGS_BYTES = flags.finish(32)

/** Int32 word offsets of the TriggerFlags region. */
export const FlagsWord = {
  FLAGS: i32At(FLAGS),
  WAITERS: i32At(FLAG_WAITERS),
  SETS: i32At(SETS),
} as const
