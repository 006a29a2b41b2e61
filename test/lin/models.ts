/**
 * Sequential specifications of threadstate objects for the linearizability
 * checker (checker.ts). Inputs and outputs are what the fixture workers
 * (test/fixtures/lin-worker.mjs) record.
 */
import type { Model } from './checker.js'

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** SharedMap operations over a few keys; versions are the map's commit counter. */
export type MapInput =
  | { op: 'set'; key: string; value: number }
  | { op: 'delete'; key: string }
  | { op: 'getEntry'; key: string }
  | { op: 'update'; sets: [string, number][]; deletes: string[] }
  | { op: 'getMany'; keys: string[] }
  | { op: 'cas'; key: string; expected: number; value: number }
  | { op: 'size' }

interface MapState {
  readonly version: number
  readonly entries: Readonly<Record<string, readonly [number, number]>>
}

/** The whole map as one object: every operation, including multi-key ones. */
export const mapModel: Model<MapState, MapInput, unknown> = {
  init: () => ({ version: 0, entries: {} }),
  key: (s) => JSON.stringify([s.version, Object.entries(s.entries).sort()]),
  step(s, input, output) {
    const commit = (entries: Record<string, readonly [number, number]>): MapState => ({ version: s.version + 1, entries })
    switch (input.op) {
      case 'set': {
        const v = s.version + 1
        return { ok: output === v, next: commit({ ...s.entries, [input.key]: [input.value, v] }) }
      }
      case 'delete': {
        if (!(input.key in s.entries)) return { ok: output === false, next: s }
        const { [input.key]: _gone, ...rest } = s.entries
        return { ok: output === true, next: commit(rest) }
      }
      case 'getEntry': {
        const e = s.entries[input.key]
        return { ok: same(output, e ? { value: e[0], version: e[1] } : null), next: s }
      }
      case 'update': {
        const v = s.version + 1
        const entries: Record<string, readonly [number, number]> = { ...s.entries }
        for (const [k, value] of input.sets) entries[k] = [value, v]
        for (const k of input.deletes) delete entries[k]
        return { ok: output === v, next: commit(entries) }
      }
      case 'getMany':
        return { ok: same(output, input.keys.map((k) => s.entries[k]?.[0] ?? null)), next: s }
      case 'cas': {
        const current = s.entries[input.key]?.[1] ?? 0
        if (current !== input.expected) return { ok: output === false, next: s }
        return { ok: output === true, next: commit({ ...s.entries, [input.key]: [input.value, s.version + 1] }) }
      }
      case 'size':
        return { ok: output === Object.keys(s.entries).length, next: s }
    }
  },
}

/** A register per key (put without a result, read): checked one key at a time. */
export type RegisterInput = { op: 'put'; key: string; value: number } | { op: 'read'; key: string }

/** Per-key registers, partitioned by key. */
export const registerModel: Model<number | null, RegisterInput, unknown> = {
  init: () => null,
  key: (s) => String(s),
  partition: (input) => input.key,
  step(s, input, output) {
    if (input.op === 'put') return { ok: true, next: input.value }
    return { ok: output === s, next: s }
  },
}

/** A versioned whole value (SnapshotStore, StateBuffer): publish returns the version, read returns { value, version }. */
export type VersionedInput = { op: 'publish'; value: number } | { op: 'read' }

/** Version 1 holds `initial`; each publish makes the next version. */
export function versionedModel(initial: number, firstVersion = 1): Model<{ value: number; version: number }, VersionedInput, unknown> {
  return {
    init: () => ({ value: initial, version: firstVersion }),
    key: (s) => `${s.version}:${s.value}`,
    step(s, input, output) {
      if (input.op === 'publish') {
        const next = { value: input.value, version: s.version + 1 }
        return { ok: output === next.version, next }
      }
      return { ok: same(output, s), next: s }
    },
  }
}

/** StateMachine: transition (with optional `from`) returns whether it moved; state reads the current state. */
export type MachineInput = { op: 'transition'; to: string; from?: string } | { op: 'state' }

/** The machine's sequential behaviour, from its transitions table. */
export function machineModel(initial: string, allowed: (from: string, to: string) => boolean): Model<string, MachineInput, unknown> {
  return {
    init: () => initial,
    key: (s) => s,
    step(s, input, output) {
      if (input.op === 'state') return { ok: output === s, next: s }
      const moves = (input.from === undefined || input.from === s) && allowed(s, input.to)
      return { ok: output === moves, next: moves ? input.to : s }
    },
  }
}

/** A counter whose increment returns the value after it (a fetch-and-add), read with `sync`: the transactions of test/redis/cross-process.test.ts. */
export type CounterInput = { op: 'increment' } | { op: 'read' }

/** Starts at 0; each increment returns the next value; a read returns the current one. */
export const counterModel: Model<number, CounterInput, unknown> = {
  init: () => 0,
  key: (s) => String(s),
  step(s, input, output) {
    if (input.op === 'increment') return { ok: output === s + 1, next: s + 1 }
    return { ok: output === s, next: s }
  },
}
