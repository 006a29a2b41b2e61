/**
 * Fuzzing with fast-check: random handles, random bytes in a region's header
 * and random fields fed to every kind's `attach()`; random bytes to the value
 * decoder and to the snapshot file loader. Every outcome must be a success
 * or a typed threadstate error: never another exception, a hang or a crash.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import {
  Barrier,
  Condition,
  DecodeError,
  HandleError,
  Mutex,
  RWLock,
  ReentrantMutex,
  Semaphore,
  SharedMap,
  SnapshotStore,
  StateBuffer,
  StateMachine,
  StateManager,
  ThreadstateError,
  TriggerFlags,
  Watchdog,
  f64,
  schema,
} from '../src/index.js'
import { decode } from '../src/encoding/values.js'
import { SnapshotFileError, loadSnapshot, saveSnapshot } from '../src/node/index.js'
import { STRESS } from './helpers.js'

interface Kind {
  readonly name: string
  create(): { readonly handle: object }
  attach(handle: never): unknown
}

const kinds: readonly Kind[] = [
  { name: 'Mutex', create: () => Mutex.create(), attach: (h) => Mutex.attach(h) },
  { name: 'ReentrantMutex', create: () => ReentrantMutex.create(), attach: (h) => ReentrantMutex.attach(h) },
  { name: 'RWLock', create: () => RWLock.create(), attach: (h) => RWLock.attach(h) },
  { name: 'Condition', create: () => Condition.create(), attach: (h) => Condition.attach(h) },
  { name: 'Semaphore', create: () => Semaphore.create(), attach: (h) => Semaphore.attach(h) },
  { name: 'Barrier', create: () => Barrier.create({ parties: 2 }), attach: (h) => Barrier.attach(h) },
  { name: 'StateBuffer', create: () => StateBuffer.create(schema({ x: f64() })), attach: (h) => StateBuffer.attach(h) },
  { name: 'SnapshotStore', create: () => SnapshotStore.create({ initial: { a: 1 } }), attach: (h) => SnapshotStore.attach(h) },
  { name: 'SharedMap', create: () => SharedMap.create(), attach: (h) => SharedMap.attach(h) },
  {
    name: 'StateMachine',
    create: () => StateMachine.create({ states: ['a', 'b'], initial: 'a', transitions: { a: ['b'] } }),
    attach: (h) => StateMachine.attach(h),
  },
  { name: 'TriggerFlags', create: () => TriggerFlags.create(['x', 'y']), attach: (h) => TriggerFlags.attach(h) },
  { name: 'Watchdog', create: () => Watchdog.create({ timeoutMs: 1000 }), attach: (h) => Watchdog.attach(h) },
  { name: 'StateManager', create: () => StateManager.create(), attach: (h) => StateManager.attach(h) },
]

const junk = fc.oneof(
  fc.anything(),
  fc.integer({ min: -10, max: 1 << 20 }),
  fc.constantFrom(NaN, -1, 0, 1, 7, 8, 2 ** 31, Infinity),
  fc.integer({ min: 0, max: 4096 }).map((n) => new SharedArrayBuffer(n)),
  fc.integer({ min: 0, max: 4096 }).map((n) => new SharedArrayBuffer(n, { maxByteLength: n + 4096 })),
  fc.integer({ min: 0, max: 64 }).map((n) => new ArrayBuffer(n)),
)

/** Runs `fn`: a value, or a ThreadstateError (recorded), or rethrows anything else. */
function outcome(fn: () => unknown): 'ok' | string {
  try {
    fn()
    return 'ok'
  } catch (error) {
    if (error instanceof ThreadstateError) return error.name
    throw error
  }
}

describe('fuzzing attach() and decoders', () => {
  for (const kind of kinds) {
    it(`${kind.name}.attach: random fields, random header bytes -> success or HandleError`, () => {
      const seen = new Set<string>()
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.string({ maxLength: 12 }), junk), { maxLength: 3 }),
          fc.array(fc.tuple(fc.nat({ max: 15 }), fc.nat({ max: 255 })), { maxLength: 4 }),
          (fields, headerBytes) => {
            const object = kind.create()
            const handle: Record<string, unknown> = { ...object.handle }
            const names = Object.keys(handle)
            for (const [name, value] of fields) handle[name.length > 0 && name.length < 4 ? names[name.length % names.length]! : name] = value
            const buffer = handle['buffer']
            const offset = handle['byteOffset']
            if (buffer instanceof SharedArrayBuffer && typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 && offset + 16 <= buffer.byteLength) {
              const bytes = new Uint8Array(buffer, offset, 16)
              for (const [at, value] of headerBytes) bytes[at] = value
            }
            const result = outcome(() => kind.attach(handle as never))
            seen.add(result)
            expect(['ok', 'HandleError', 'OptionError']).toContain(result)
          },
        ),
        { numRuns: 200 * STRESS },
      )
      expect(seen.has('HandleError')).toBe(true)
    })
  }

  it('a whole random handle is refused with HandleError by every kind', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('threadstate', 'type', 'layoutVersion', 'buffer', 'byteOffset', 'byteLength', 'domain', 'data'), junk), (h) => {
        for (const kind of kinds) {
          const result = outcome(() => kind.attach(h as never))
          expect(result).toBe('HandleError')
        }
      }),
      { numRuns: 200 * STRESS },
    )
  })

  it('decode: random bytes give a value or DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (bytes) => {
        try {
          decode(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 2_000 * STRESS },
    )
  })

  const dir = mkdtemp(join(tmpdir(), 'threadstate-fuzz-'))
  afterAll(async () => rm(await dir, { recursive: true, force: true }))

  it('loadSnapshot: random bytes and a saved file flipped or cut anywhere give SnapshotFileError', async () => {
    const path = join(await dir, 'snap.bin')
    const store = SnapshotStore.create({ initial: { list: [1, 2, 3], name: 'x'.repeat(50) } })
    await saveSnapshot(store, path)
    const good = new Uint8Array(await (await import('node:fs/promises')).readFile(path))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
            const copy = good.slice()
            copy[at]! ^= xor
            return copy
          }),
          fc.nat({ max: good.length - 1 }).map((n) => good.slice(0, n)),
        ),
        async (bytes) => {
          await writeFile(path, bytes)
          await expect(loadSnapshot(path)).rejects.toBeInstanceOf(SnapshotFileError)
        },
      ),
      { numRuns: 150 * STRESS },
    )
    expect(HandleError).toBeDefined()
  })
})
