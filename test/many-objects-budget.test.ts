/**
 * The budget of growable buffers where the mapping limit cannot be read (browsers, Node off
 * Linux; memory/growable.ts): `#platform` is mocked to tell no limit, as the neutral variant does.
 * A thread may hold DEFAULT_GROWABLE_BUDGET growable buffers it created; the next is refused with
 * MappingLimitError, small objects (no growable buffer) are not, and buffers the garbage collector
 * freed are given back.
 *
 * Broken variants, run once: without the FinalizationRegistry's decrement, the last step still
 * threw MappingLimitError after the collection; with the budget check removed, the 16,385th
 * buffer was made.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it, vi } from 'vitest'

vi.mock('#platform', async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  mappingLimit: () => undefined,
  mappingsInUse: () => undefined,
}))

const { DEFAULT_GROWABLE_BUDGET, growableBuffer } = await import('../src/memory/growable.js')
const { MappingLimitError, SnapshotStore, SharedMap, CapacityError } = await import('../src/index.js')

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

describe('growable-buffer budget where the mapping limit cannot be read', () => {
  it(`refuses the growable buffer past ${DEFAULT_GROWABLE_BUDGET} held in this thread, and gives back freed ones`, { timeout: 120_000 }, async () => {
    let held: SharedArrayBuffer[] = []
    let error: unknown
    try {
      for (let i = 0; i <= DEFAULT_GROWABLE_BUDGET; i++) held.push(growableBuffer(4096, 1 << 20, 'test buffer'))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MappingLimitError)
    expect(error).toBeInstanceOf(CapacityError)
    expect((error as Error).message).toMatch(/fewer than 16384 growable buffers in this thread/)
    expect(held.length).toBe(DEFAULT_GROWABLE_BUDGET)
    // A default-size store needs a growable buffer: refused; small objects need none.
    expect(() => SnapshotStore.create({ initial: 1 })).toThrow(MappingLimitError)
    expect(() => SharedMap.create()).toThrow(MappingLimitError)
    expect(SnapshotStore.create({ initial: 1, maxBytes: 4096 }).get()).toBe(1)
    expect(SharedMap.create({ maxBytes: 4096 }).size).toBe(0)
    // Freed by the collector: the budget is given back (FinalizationRegistry callbacks run after a turn).
    held = []
    let store: unknown
    for (let attempt = 0; attempt < 50 && store === undefined; attempt++) {
      gc()
      await new Promise((resolve) => setTimeout(resolve, 20))
      try {
        store = SnapshotStore.create({ initial: 2 })
      } catch (e) {
        if (!(e instanceof MappingLimitError)) throw e
      }
    }
    expect(store).toBeDefined()
  })
})
