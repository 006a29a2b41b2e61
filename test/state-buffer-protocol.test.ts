/**
 * StateBuffer's read protocol and layout, deterministically on one thread: a
 * writer that laps a reader mid-copy is simulated from inside the copy (a
 * Proxy target whose setter runs the writer), so the lag bound of the ring
 * (accept PUB - p <= S - 2, retry at S - 1) is checked exactly, not only
 * when a stress run happens to hit the window. The layout keeps its byte
 * positions (layout version 3: version 2's positions plus DELTA); a schema is compiled
 * once per thread.
 */
import { describe, expect, it } from 'vitest'
import { StateBuffer, schema, vec } from '../src/index.js'
import { LAYOUTS } from '../src/memory/fields.js'
import { LAYOUT_VERSION } from '../src/memory/layout.js'
import { codecOf } from '../src/state/codec.js'
import { stateMirrorOf } from '../src/state/state-buffer.js'
import { Overflow, ReaderCounter, SlotMeta, StateArea, StateF64, StateWord, stateBytes } from '../src/state/layout.js'

const Flat25 = schema({ a: vec(25) })
/** State k: a[i] = k * (i + 1), so a copy mixing two states is visible. */
const stateOf = (k: number) => ({ a: Array.from({ length: 25 }, (_, i) => k * (i + 1)) })
const isWhole = (a: ArrayLike<number>): boolean => Array.from(a).every((x, i) => x === a[0]! * (i + 1))

/**
 * A readInto target whose element `at` runs `writer` the first time it is
 * written: the writer acts in the middle of the reader's copy.
 */
function interruptedTarget(at: number, writer: () => void): { target: Float64Array; copied: Float64Array } {
  const copied = new Float64Array(25)
  let fired = false
  const target = new Proxy(copied, {
    set(array, key, value: number) {
      if (!fired && key === String(at)) {
        fired = true
        writer()
      }
      array[Number(key)] = value
      return true
    },
    get: (array, key) => Reflect.get(array, key),
  })
  return { target, copied }
}

describe('StateBuffer read protocol: the lag bound of the ring', () => {
  it('a copy during which the writer completed S - 2 versions is whole and accepted', () => {
    const buf = StateBuffer.create(Flat25, { history: 1 })
    const slots = new Int32Array(buf.handle.buffer)[StateWord.SLOTS]!
    expect(slots).toBe(4)
    buf.publish(stateOf(1))
    const reader = buf.reader()
    const { target, copied } = interruptedTarget(12, () => {
      for (let i = 0; i < slots - 2; i++) buf.publish(stateOf(100 + i))
    })
    expect(reader.readInto(target)).toBe(1)
    expect(Array.from(copied)).toEqual(stateOf(1).a)
    expect(buf.stats().readRetries).toBe(0)
  })

  it('a copy during which the writer completed S - 1 versions and began rewriting the slot is retried, never returned torn', () => {
    const buf = StateBuffer.create(Flat25, { history: 1 })
    const slots = new Int32Array(buf.handle.buffer)[StateWord.SLOTS]!
    const f = new Float64Array(buf.handle.buffer)
    buf.publish(stateOf(1))
    const reader = buf.reader()
    const { target, copied } = interruptedTarget(12, () => {
      for (let i = 0; i < slots - 1; i++) buf.publish(stateOf(100 + i)) // PUB = 1 + S - 1
      // The writer begins version 1 + S, in the slot of version 1 (not published yet).
      const base = StateArea.RING / 8 + (1 % slots) * (SlotMeta.WORDS + 25)
      for (let i = 0; i < 25; i++) f[base + SlotMeta.WORDS + i] = 999 * (i + 1)
    })
    const version = reader.readInto(target)
    expect(isWhole(copied)).toBe(true)
    expect(version).toBe(slots) // the retry read the latest whole version
    expect(Array.from(copied)).toEqual(stateOf(100 + slots - 2).a)
    expect(buf.stats().readRetries).toBe(1)
  })
})

describe('StateBuffer as a mirror: a publish that jumps over versions (threadstate/redis)', () => {
  const flat = (k: number) => Float64Array.from(stateOf(k).a)

  it('a jump lands in the next slot (DELTA says where): a copy in progress stays whole; versions before the jump are gone, later ones found', async () => {
    const buf = StateBuffer.create(Flat25, { history: 1 })
    const mirror = stateMirrorOf(buf as unknown as StateBuffer)
    const slots = new Int32Array(buf.handle.buffer)[StateWord.SLOTS]!
    for (let v = 1; v <= 3; v++) expect(mirror.publishAt(v, flat(v), 1000 + v, undefined)).toBe(true)
    const every = buf.subscribe({ mode: 'every' })
    const next = every.next() // starts at version 3
    const reader = buf.reader()
    // Mid-copy of version 3, the mirror jumps to 3 + S (its slot by version would be version 3's own).
    const { target, copied } = interruptedTarget(12, () => expect(mirror.publishAt(3 + slots, flat(50), 2000, 'remote')).toBe(true))
    expect(reader.readInto(target)).toBe(3)
    expect(Array.from(copied)).toEqual(stateOf(3).a)
    expect(buf.version).toBe(3 + slots)
    expect(buf.at(3 + slots)).toMatchObject({ version: 3 + slots, timestamp: 2000, source: 'remote', value: stateOf(50) })
    expect(buf.at(3)).toBeUndefined()
    expect(buf.at(2 + slots)).toBeUndefined()
    expect(mirror.publishAt(4 + slots, flat(51), 2001, undefined)).toBe(true)
    expect(mirror.publishAt(4 + slots, flat(52), 2002, undefined)).toBe(false) // already held
    expect(buf.history().map((e) => e.version)).toEqual([4 + slots, 3 + slots])
    expect((await next).value).toMatchObject({ version: 3 + slots, overrun: true, skipped: slots - 1 })
    expect((await every.next()).value).toMatchObject({ version: 4 + slots, overrun: false })
    await every.return(undefined)
  })
})

describe('StateBuffer layout', () => {
  it('keeps the byte positions of layout version 3 (version 2 plus DELTA in a spare word), checked by its plans', () => {
    expect(LAYOUT_VERSION.StateBuffer).toBe(3)
    expect(StateWord).toEqual({ PUB: 4, WAITERS: 5, SLOTS: 6, SIZE: 7, HASH: 8, SOURCES_USED: 9, WRITERS_DIED: 10, DELTA: 11 })
    expect(StateF64).toEqual({ UPDATES: 8 })
    expect(Overflow).toEqual({ READS: 9, FRESH: 10, STALE: 11, RETRIES: 12 })
    expect(StateArea).toEqual({ MUTEX: 128, SOURCES: 448, READERS: 704, RING: 1216 })
    expect(ReaderCounter).toEqual({ MAX: 8, BYTES: 64, OWNER: 0, FENCE: 1, READS: 1, FRESH: 2, STALE: 3, RETRIES: 4, LONGEST_STREAK: 5 })
    expect(SlotMeta).toEqual({ VERSION: 0, TIMESTAMP: 1, SOURCE: 2, WORDS: 3 })
    expect(stateBytes(16, 25)).toBe(1216 + 16 * 28 * 8)
    // Cache lines: PUB's line holds no counter a reader writes; each reader counter and the mutex start a line.
    expect(StateArea.MUTEX % 64).toBe(0)
    expect(StateArea.READERS % 64).toBe(0)
    expect(Overflow.READS * 8).toBeGreaterThanOrEqual(64)
    for (const kind of ['StateBuffer', 'StateBuffer reader counter', 'StateBuffer slot metadata']) expect(LAYOUTS.has(kind), kind).toBe(true)
    expect(LAYOUTS.get('StateBuffer')!.bytes).toBe(StateArea.RING)
  })
})

describe('StateBuffer schema compilation', () => {
  it('compiles a schema once per thread: by the schema object, then by its fingerprint', () => {
    const Shape = schema({ x: vec(3), y: vec(2) })
    const codec = codecOf(Shape)
    expect(codecOf(Shape)).toBe(codec)
    expect(codecOf(schema({ x: vec(3), y: vec(2) }))).toBe(codec) // another object, same fingerprint
    expect(codecOf(structuredClone(Shape))).toBe(codec) // a handle's clone
    const buf = StateBuffer.create(Shape)
    expect(StateBuffer.attach(buf.handle, Shape).size).toBe(5)
    expect(codecOf(schema({ x: vec(3), y: vec(3) }))).not.toBe(codec)
  })
})
