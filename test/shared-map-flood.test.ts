/**
 * SharedMap keys chosen to collide (issue 15 item 11). The table hash was
 * unseeded FNV-1a: anyone could compute, offline, thousands of keys with one
 * hash (a Joux multicollision: 11 stages of a 2-unit birthday search give
 * 2^11 keys), and every insert and lookup of them walked all the others with
 * the writers' lock held. Each map now hashes with a random seed kept in its
 * memory (src/map/layout.ts, hashKey). The probe lengths are read from the
 * table itself: each entry's distance from its home slot.
 *
 * Broken variant, run once: hashKey without the seed (and fold), as before:
 * the crafted keys' longest probe is 1,023 slots (bound 64): caught.
 */
import { describe, expect, it } from 'vitest'
import { SharedMap } from '../src/index.js'
import { MAP_CONTROL_BYTES, MapWord, Table } from '../src/map/layout.js'

/** The old table hash: FNV-1a from its fixed start, as an attacker computes it. */
function unseededFnv(key: string, h = 0x811c9dc5): number {
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h | 0
}

/**
 * 2^stages keys with one unseeded FNV-1a hash: per stage, a birthday search
 * for two 2-unit blocks (pseudo-random units, no surrogates) that take the
 * current state to one state; any choice of block per stage then gives the
 * same hash.
 */
function craftCollisions(stages: number): string[] {
  let state = 0x811c9dc5 | 0
  let x = 12345
  const unit = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    return 0x100 + ((x >>> 8) % 0xd700)
  }
  const pairs: [string, string][] = []
  for (let stage = 0; stage < stages; stage++) {
    const seen = new Map<number, string>()
    for (;;) {
      const block = String.fromCharCode(unit(), unit())
      const next = unseededFnv(block, state)
      const other = seen.get(next)
      if (other !== undefined && other !== block) {
        pairs.push([other, block])
        state = next
        break
      }
      seen.set(next, block)
    }
  }
  let keys = ['']
  for (const [a, b] of pairs) keys = keys.flatMap((k) => [k + a, k + b])
  return keys
}

/** The longest distance of an entry from its home slot in `map`'s table. */
function longestProbe(map: { readonly handle: SharedMap["handle"] }): number {
  const ctl = new Int32Array(map.handle.buffer, map.handle.byteOffset, MAP_CONTROL_BYTES / 4)
  const d32 = new Int32Array(map.handle.data)
  const table = ctl[MapWord.TABLE]!
  const capacity = d32[(table + Table.CAPACITY) >> 2]!
  const slots = (table + Table.SLOTS) >> 2
  let longest = 0
  for (let i = 0; i < capacity; i++) {
    if (d32[slots + 2 * i + 1] === 0) continue
    const home = d32[slots + 2 * i]! & (capacity - 1)
    longest = Math.max(longest, (i - home) & (capacity - 1))
  }
  return longest
}

/** Longest probe allowed: random hashing of these tables (at most half full) stays far below it. */
const PROBE_BOUND = 64

describe('SharedMap keys chosen to collide', () => {
  it('1,024 keys crafted to share one unseeded FNV-1a hash spread out: longest probe <= 64 (was 1,023)', () => {
    const keys = craftCollisions(10)
    expect(new Set(keys).size).toBe(1024)
    expect(new Set(keys.map((k) => unseededFnv(k))).size).toBe(1) // they do collide under the old hash
    const map = SharedMap.create<number>()
    keys.forEach((key, i) => map.set(key, i))
    expect(map.size).toBe(1024)
    expect(longestProbe(map)).toBeLessThanOrEqual(PROBE_BOUND)
    keys.forEach((key, i) => expect(map.get(key)).toBe(i))
  })

  it('a flood of 50,000 random keys: longest probe <= 64 (holds for any sound hash; only collisions break it)', () => {
    const map = SharedMap.create<number>()
    for (let i = 0; i < 50_000; i++) map.set(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${(i * 7919) % 65536}`, i)
    expect(longestProbe(map)).toBeLessThanOrEqual(PROBE_BOUND)
  })

  it('every map has its own seed, kept in its memory: an attached copy hashes alike', () => {
    const a = SharedMap.create<number>()
    const b = SharedMap.create<number>()
    const seed = (m: { readonly handle: SharedMap["handle"] }): number => new Int32Array(m.handle.buffer, m.handle.byteOffset, MAP_CONTROL_BYTES / 4)[MapWord.SEED]!
    expect(seed(a)).not.toBe(seed(b)) // 2^-32 to fail by chance
    a.set('x', 1)
    const attached = SharedMap.attach<number>(structuredClone(a.handle))
    expect(attached.get('x')).toBe(1)
    attached.set('y', 2)
    expect(a.get('y')).toBe(2)
  })
})
