/** Handles: structured-cloneable, validated on attach with "expected X, got Y" messages. */
import { describe, expect, it } from 'vitest'
import { Barrier, Condition, HandleError, Mutex, ReentrantMutex, RWLock, Semaphore, StateBuffer, f64, schema } from '../src/index.js'
import { Header } from '../src/memory/layout.js'
import { StateWord, stateBytes } from '../src/state/layout.js'
import { run } from './helpers.js'

const kinds = [
  ['Mutex', () => Mutex.create(), (h: never) => Mutex.attach(h)],
  ['ReentrantMutex', () => ReentrantMutex.create(), (h: never) => ReentrantMutex.attach(h)],
  ['RWLock', () => RWLock.create(), (h: never) => RWLock.attach(h)],
  ['Condition', () => Condition.create(), (h: never) => Condition.attach(h)],
  ['Semaphore', () => Semaphore.create(), (h: never) => Semaphore.attach(h)],
  ['Barrier', () => Barrier.create({ parties: 2 }), (h: never) => Barrier.attach(h)],
] as const

describe('handles', () => {
  for (const [name, create, attach] of kinds) {
    describe(name, () => {
      it('survives structuredClone and attaches to the same memory', () => {
        const original = create()
        const clone = structuredClone(original.handle)
        expect(clone.type).toBe(name)
        const attached = attach(clone as never)
        expect(attached.handle.buffer.byteLength).toBe(original.handle.buffer.byteLength)
      })

      it('refuses a non-object, a foreign object and a handle of another kind', () => {
        expect(() => attach(undefined as never)).toThrow(HandleError)
        expect(() => attach(42 as never)).toThrow(/Expected a \w+ handle, got `42` \(number\)/)
        expect(() => attach({ foo: 1 } as never)).toThrow(/not a threadstate handle/)
        const other = name === 'Mutex' ? ReentrantMutex.create() : Mutex.create()
        expect(() => attach(other.handle as never)).toThrow(/got a handle of type/)
      })

      it('refuses another layout version (a handle from another library version)', () => {
        const h = { ...create().handle, layoutVersion: 99 }
        expect(() => attach(h as never)).toThrow(/layout version .*got layout version `99`.*another threadstate version/)
      })

      it('refuses out-of-range or misaligned offsets and wrong lengths', () => {
        const h = create().handle
        expect(() => attach({ ...h, byteOffset: 3 } as never)).toThrow(/byteOffset/)
        expect(() => attach({ ...h, byteOffset: -8 } as never)).toThrow(/byteOffset/)
        expect(() => attach({ ...h, byteOffset: h.buffer.byteLength } as never)).toThrow(/inside its buffer/)
        expect(() => attach({ ...h, byteLength: h.byteLength + 8 } as never)).toThrow(HandleError)
        expect(() => attach({ ...h, buffer: new ArrayBuffer(h.byteLength) } as never)).toThrow(/SharedArrayBuffer/)
        expect(() => attach({ ...h, domain: new SharedArrayBuffer(64) } as never)).toThrow(/domain/)
      })

      it('refuses memory whose header was overwritten (corrupted handle)', () => {
        const h = create().handle
        const words = new Int32Array(h.buffer, h.byteOffset, Header.WORDS)
        words[Header.MAGIC] = 0x12345678
        expect(() => attach(h as never)).toThrow(/corrupted or points at the wrong bytes/)
      })
    })
  }

  it('StateBuffer: a forged, self-consistent header with a ring that is not a power of two >= 4 is refused (was: accepted; a ring of 1 made `.version` spin for ever)', () => {
    const genuine = StateBuffer.create(schema({ x: f64() }), { history: 3 })
    const size = genuine.size
    for (const slots of [1, 2, 3, 5, 6, 12]) {
      const bytes = stateBytes(slots, size)
      const buffer = new SharedArrayBuffer(bytes)
      const from = new Uint8Array(genuine.handle.buffer, genuine.handle.byteOffset, Math.min(bytes, genuine.handle.byteLength))
      new Uint8Array(buffer).set(from)
      const words = new Int32Array(buffer)
      words[Header.BYTE_LENGTH] = bytes
      words[StateWord.SLOTS] = slots
      const forged = { ...genuine.handle, buffer, byteOffset: 0, byteLength: bytes }
      expect(() => StateBuffer.attach(forged), `${slots} slots`).toThrow(/ring of 4 to 65536 slots/)
    }
  })

  it('a handle travels to a worker and attaches there', async () => {
    const mutex = Mutex.create()
    const result = await run<string>('unlockForeign', { kind: 'Mutex', handle: mutex.handle })
    // Attached fine; unlocking a lock it does not hold is a LockError, not a HandleError.
    expect(result).toMatch(/^LockError: Expected unlock\(\) by the thread holding the mutex/)
  })
})
