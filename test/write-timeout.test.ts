/**
 * Issue 15 item 6: writes never wait for ever.
 *
 * - A writers' lock word naming a thread the domain never issued (scribbled
 *   memory) is taken over by the next write, reported like a dead writer
 *   (the object's recovery runs, `writersDied` counts it). Before, the write
 *   slept for ever: the holder was never "dead", only unknown.
 * - A sync write waits at most `writeTimeoutMs` (default 10 s) and throws
 *   TimeoutError; before, it waited for ever. In particular a Node main
 *   thread that publishes after terminating a worker that held the lock, but
 *   before its event loop processed the exit, used to block for ever.
 * - The async writes (`publishAsync`, `setAsync`, ...) wait without blocking
 *   the event loop, so that thread sees the exit and takes the lock over.
 *
 * Broken variants run once (docs/verification.md): the takeover checking
 * `isDead` instead of `cannotHold` (the scribbled-word test: TimeoutError
 * after writeTimeoutMs for every object); `lockWriter` ignoring its timeout
 * (the bounded-wait test hangs: the old code's behaviour).
 */
import { describe, expect, it } from 'vitest'
import { Mutex, OptionError, SharedMap, SnapshotStore, StateBuffer, TimeoutError, f64, schema } from '../src/index.js'
import { LAYOUT_VERSION } from '../src/memory/layout.js'
import { domainOf } from '../src/memory/thread.js'
import { MapArea } from '../src/map/layout.js'
import { SnapArea } from '../src/snapshot/layout.js'
import { StateArea } from '../src/state/layout.js'
import { MutexWord } from '../src/sync/robust-lock.js'
import { DEFAULT_WRITE_TIMEOUT_MS } from '../src/sync/writer-lock.js'
import { signals, spawn, until } from './helpers.js'

const Point = schema({ x: f64(), y: f64() })

/** One object of each kind, seen through what these tests need. */
interface Subject {
  readonly name: string
  /** Handle of the embedded writers' lock, as a Mutex handle (for a worker to hold it). */
  readonly mutexHandle: unknown
  /** The lock word. */
  readonly lockWord: Int32Array
  /** A sync write, in an object attached here with `writeTimeoutMs`. */
  write(writeTimeoutMs: number): number
  /** The async write, with its wait options. */
  writeAsync(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<unknown>
  writersDied(): number
}

function mutexAt(handle: { buffer: SharedArrayBuffer; byteOffset: number; domain: SharedArrayBuffer }, area: number) {
  const byteOffset = handle.byteOffset + area
  return {
    lockWord: new Int32Array(handle.buffer, byteOffset, Mutex.BYTE_LENGTH / 4),
    mutexHandle: { ...handle, type: 'Mutex', layoutVersion: LAYOUT_VERSION.Mutex, byteOffset, byteLength: Mutex.BYTE_LENGTH },
  }
}

function subjects(): Subject[] {
  const buffer = StateBuffer.create(Point)
  const store = SnapshotStore.create({ initial: { n: 0 } })
  const map = SharedMap.create<number>()
  let n = 0
  return [
    {
      name: 'StateBuffer',
      ...mutexAt(buffer.handle, StateArea.MUTEX),
      write: (writeTimeoutMs) => StateBuffer.attach(buffer.handle, Point, { writeTimeoutMs }).publish({ x: ++n, y: 0 }),
      writeAsync: (options) => buffer.publishAsync({ x: ++n, y: 0 }, options),
      writersDied: () => buffer.stats().writersDied,
    },
    {
      name: 'SnapshotStore',
      ...mutexAt(store.handle, SnapArea.MUTEX),
      write: (writeTimeoutMs) => SnapshotStore.attach(store.handle, { writeTimeoutMs }).publish({ n: ++n }),
      writeAsync: (options) => store.publishAsync({ n: ++n }, options),
      writersDied: () => store.stats().writersDied,
    },
    {
      name: 'SharedMap',
      ...mutexAt(map.handle, MapArea.MUTEX),
      write: (writeTimeoutMs) => SharedMap.attach<number>(map.handle, { writeTimeoutMs }).set('k', ++n),
      writeAsync: (options) => map.setAsync('k', ++n, options),
      writersDied: () => map.stats().writersDied,
    },
  ]
}

describe('a writers\' lock word naming a thread that never existed (issue 15 item 6)', () => {
  it('is taken over by the next write of every object, reported like a dead writer (it used to wait for ever)', async () => {
    const issued = domainOf().counts().threads
    // Ids the domain never handed out: just past the last one, the largest a word can name, and one with junk in the unused bits.
    const forged = [issued + 5, 0xffff, (0x0abc << 16) | (issued + 9)]
    for (const s of subjects()) {
      for (const [k, word] of forged.entries()) {
        Atomics.store(s.lockWord, MutexWord.STATE, word)
        const start = performance.now()
        expect(s.write(5_000), `${s.name}, forged word ${word.toString(16)}`).toBeGreaterThan(0)
        expect(performance.now() - start, `${s.name}: taken over, not timed out`).toBeLessThan(5_000)
        expect(s.writersDied()).toBe(k + 1)
        expect(Atomics.load(s.lockWord, MutexWord.STATE), `${s.name}: released and consistent again`).toBe(0)
      }
      // The async write takes it over too.
      Atomics.store(s.lockWord, MutexWord.STATE, issued + 11)
      await s.writeAsync({ timeoutMs: 5_000 })
      expect(s.writersDied()).toBe(forged.length + 1)
    }
  })

  it('a Mutex takes over such a word too (OwnerDiedError naming the id)', async () => {
    const m = Mutex.create()
    const words = new Int32Array(m.handle.buffer, m.handle.byteOffset, 8)
    const ghost = domainOf().counts().threads + 3
    Atomics.store(words, MutexWord.STATE, ghost)
    expect(() => m.lock(5_000)).toThrow(expect.objectContaining({ name: 'OwnerDiedError', deadOwner: ghost }))
    m.markConsistent()
    m.unlock()
    Atomics.store(words, MutexWord.STATE, ghost)
    await expect(m.lockAsync({ timeoutMs: 5_000 })).rejects.toMatchObject({ name: 'OwnerDiedError', deadOwner: ghost })
    m.markConsistent()
    m.unlock()
  })
})

describe('writes have a bounded wait and an async form (issue 15 item 6)', () => {
  it('writeTimeoutMs: default 10 s, finite numbers >= 0 only', () => {
    expect(DEFAULT_WRITE_TIMEOUT_MS).toBe(10_000)
    for (const bad of [Infinity, -1, Number.NaN, '5', null]) {
      expect(() => StateBuffer.create(Point, { writeTimeoutMs: bad as number })).toThrow(OptionError)
      expect(() => SnapshotStore.create({ initial: 1, writeTimeoutMs: bad as number })).toThrow(OptionError)
      expect(() => SharedMap.create({ writeTimeoutMs: bad as number })).toThrow(OptionError)
    }
    const map = SharedMap.create()
    expect(() => SharedMap.attach(map.handle, { writeTimeoutMs: Infinity })).toThrow(/writeTimeoutMs.*finite/)
  })

  for (const name of ['StateBuffer', 'SnapshotStore', 'SharedMap']) {
    it(`${name}: behind a live writer that never finishes, a write throws TimeoutError after writeTimeoutMs; after the writer's worker is terminated, a sync write before the exit is processed still times out (it used to block for ever), and an async write takes the lock over`, async () => {
      const s = subjects().find((x) => x.name === name)!
      const flags = signals()
      const holder = spawn('holdForever', { kind: 'Mutex', handle: s.mutexHandle, flags })
      await until(flags, 0, 1) // it holds the writers' lock and never lets go
      let start = performance.now()
      expect(() => s.write(200)).toThrow(TimeoutError)
      expect(performance.now() - start).toBeGreaterThanOrEqual(195)
      expect(() => s.write(0)).toThrow(/writers' lock within 0 ms \(writeTimeoutMs\), got it held by thread \d+/)
      await expect(s.writeAsync({ timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError)
      const controller = new AbortController()
      const aborted = s.writeAsync({ signal: controller.signal })
      controller.abort(new Error('stop'))
      await expect(aborted).rejects.toThrow('stop')
      expect(s.writersDied()).toBe(0)

      // The supervisor's case: the worker is terminated, this thread writes before its event loop ran the exit.
      const exited = holder.worker.terminate()
      start = performance.now()
      expect(() => s.write(300)).toThrow(TimeoutError) // bounded: the death cannot be seen while blocked
      expect(performance.now() - start).toBeGreaterThanOrEqual(295)
      // The async write waits without blocking: the exit is processed, the holder marked dead, the lock taken over.
      const version = s.writeAsync() // default bound: 10 s
      await exited
      await expect(version).resolves.toBeDefined()
      expect(s.writersDied()).toBe(1)
      expect(s.write(1_000)).toBeGreaterThan(0)
    })
  }
})
