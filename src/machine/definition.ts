/**
 * A StateMachine's definition: checked into the table of allowed
 * transitions every thread uses, and hashed into shared memory so that
 * `attach` refuses a handle whose definition was changed.
 *
 * @module
 */
import { OptionError, describe } from '../errors.js'
import type { StateMachineDefinition } from './state-machine.js'

/** States a machine may have (a state index is the low byte of STATE). */
export const MAX_STATES = 255

/** A checked definition. */
export interface CheckedDefinition {
  /** The state names, in definition order. */
  readonly states: readonly string[]
  /** `allowed[from][to]`, by state index. */
  readonly allowed: readonly (readonly boolean[])[]
  /** Index of the initial state. */
  readonly initial: number
}

/** FNV-1a of the canonical JSON of a definition. */
export function definitionHash(d: StateMachineDefinition<string>): number {
  const canonical = JSON.stringify([
    d.states,
    d.initial,
    d.states.map((s) => [...(d.transitions[s] ?? [])].sort()),
    [...(d.anyTo ?? [])].sort(),
  ])
  let h = 0x811c9dc5
  for (let i = 0; i < canonical.length; i++) h = Math.imul(h ^ canonical.charCodeAt(i), 0x01000193)
  return h | 0
}

/**
 * Checks a definition (from options or from a handle: anything).
 * @throws OptionError naming what is wrong
 */
export function checkDefinition(d: unknown): CheckedDefinition {
  if (typeof d !== 'object' || d === null) throw new OptionError(`Expected a state machine definition, got ${describe(d)}`)
  const { states, initial, transitions, anyTo = [] } = d as StateMachineDefinition<string>
  if (!Array.isArray(states) || states.length === 0 || states.length > MAX_STATES || !states.every((s) => typeof s === 'string')) {
    throw new OptionError(`Expected \`states\` to be 1 to ${MAX_STATES} state names, got ${describe(states)}`)
  }
  if (new Set(states).size !== states.length) throw new OptionError(`Expected unique state names, got ${describe(states)}`)
  const index = new Map(states.map((s, i) => [s, i]))
  const known = (s: unknown, where: string): number => {
    const i = index.get(s as string)
    if (i === undefined) throw new OptionError(`Expected a state of ${JSON.stringify(states)} in ${where}, got ${describe(s)}`)
    return i
  }
  const start = known(initial, '`initial`')
  if (typeof transitions !== 'object' || transitions === null) {
    throw new OptionError(`Expected \`transitions\` to map states to arrays of states, got ${describe(transitions)}`)
  }
  const allowed = states.map(() => states.map(() => false))
  for (const [from, tos] of Object.entries(transitions as Record<string, unknown>)) {
    const f = known(from, '`transitions` keys')
    if (!Array.isArray(tos)) throw new OptionError(`Expected \`transitions.${from}\` to be an array of states, got ${describe(tos)}`)
    for (const to of tos) allowed[f]![known(to, `\`transitions.${from}\``)] = true
  }
  if (!Array.isArray(anyTo)) throw new OptionError(`Expected \`anyTo\` to be an array of states, got ${describe(anyTo)}`)
  for (const to of anyTo) {
    const t = known(to, '`anyTo`')
    for (let f = 0; f < states.length; f++) if (f !== t) allowed[f]![t] = true
  }
  return { states, allowed, initial: start }
}
