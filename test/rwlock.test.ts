/** RWLock: readers share, writers are alone, writers are not starved. */
import { describe, expect, it } from 'vitest'
import { DeadlockError, LockError, OptionError, RWLock } from '../src/index.js'
import { raise, run, signals, spawn, until } from './helpers.js'

describe('RWLock, one thread', () => {
  it('read locks nest, write lock is exclusive, upgrade is a DeadlockError', () => {
    const rw = RWLock.create()
    expect(rw.readLock()).toBe(true)
    expect(rw.readLock()).toBe(true)
    expect(rw.readers).toBe(2)
    expect(() => rw.writeLock()).toThrow(/holds a read lock/)
    expect(rw.isWriteLocked).toBe(false) // the failed upgrade gave the writer word back
    rw.readUnlock()
    rw.readUnlock()
    expect(() => rw.readUnlock()).toThrow(LockError)
    expect(rw.writeLock()).toBe(true)
    expect(() => rw.readLock()).toThrow(DeadlockError)
    expect(() => rw.writeLock()).toThrow(DeadlockError)
    try {
      rw.writeLock()
      expect.unreachable()
    } catch (error) {
      expect((error as DeadlockError).cycle).toEqual([]) // a self-deadlock: no cycle of threads
    }
    expect(rw.tryReadLock()).toBe(false)
    rw.writeUnlock()
    expect(() => rw.writeUnlock()).toThrow(/nobody holds/)
    expect(rw.tryWriteLock()).toBe(true)
    rw.writeUnlock()
  })

  it('async waits of one thread: a reader behind its own writer, a writer draining its own reader; abort and timeout give up cleanly', async () => {
    const rw = RWLock.create()
    rw.writeLock()
    const stopReading = new AbortController()
    const reading = rw.readLockAsync({ signal: stopReading.signal })
    setTimeout(() => stopReading.abort(new Error('stop reading')), 20)
    await expect(reading).rejects.toThrow('stop reading')
    const reader = rw.readLockAsync({ timeoutMs: 5_000 })
    rw.writeUnlock()
    expect(await reader).toBe(true)
    // Holding a read lock: writeLockAsync takes the writer word, then waits for the readers (us).
    const stopWriting = new AbortController()
    const writing = rw.writeLockAsync({ signal: stopWriting.signal })
    setTimeout(() => stopWriting.abort(new Error('stop writing')), 20)
    await expect(writing).rejects.toThrow('stop writing')
    expect(rw.isWriteLocked).toBe(false) // the abort gave the writer word back
    expect(await rw.writeLockAsync({ timeoutMs: 20 })).toBe(false)
    expect(rw.isWriteLocked).toBe(false) // and so did the timeout
    rw.readUnlock()
    expect(rw.stats().write.timeouts).toBe(3)
    expect(await rw.writeLockAsync({ timeoutMs: 5_000 })).toBe(true)
    rw.writeUnlock()
  })

  it('withRead / withWrite and their async forms; stats of both sides', async () => {
    const rw = RWLock.create()
    expect(rw.withRead(() => 1)).toBe(1)
    expect(rw.withWrite(() => 2)).toBe(2)
    expect(await rw.withReadAsync(async () => 3)).toBe(3)
    expect(await rw.withWriteAsync(async () => 4)).toBe(4)
    const s = rw.stats()
    expect(s.reads).toBe(2)
    expect(s.write.acquisitions).toBe(2)
    expect(s.activeReaders).toBe(0)
  })

  it('rejects a bad readerSlots option', () => {
    expect(() => RWLock.create({ readerSlots: 0 })).toThrow(OptionError)
    expect(() => RWLock.create({ readerSlots: 1.5 })).toThrow(/Expected `readerSlots` to be an integer/)
  })

  it('more reader threads than slots still work (overflow counter)', () => {
    const rw = RWLock.create({ readerSlots: 1 })
    const second = RWLock.attach(rw.handle)
    expect(rw.readLock()).toBe(true)
    expect(second.readLock()).toBe(true) // same thread: finds its slot again
    expect(rw.readers).toBe(2)
    rw.readUnlock()
    second.readUnlock()
    expect(rw.readers).toBe(0)
  })
})

describe('RWLock across threads', () => {
  it('writeLock(timeoutMs) keeps one deadline across waiting for a writer and then for readers', async () => {
    // A reader holds the lock. Another writer takes the writer word and waits
    // 200 ms for that reader, then gives up. Our writeLock(300) waits ~200 ms
    // for that writer, then for the reader: it must give up at ~300 ms in all,
    // not 200 + 300 (a fresh deadline per phase).
    const rw = RWLock.create()
    const data = new Int32Array(new SharedArrayBuffer(8))
    const flags = signals()
    const reader = spawn('readHold', { handle: rw.handle, data, flags, slot: 1 })
    await until(flags, 1, 1)
    const writer = spawn<{ ok?: boolean }>('lockAndReport', { kind: 'RWLock', handle: rw.handle, flags, timeoutMs: 200 })
    while (!rw.isWriteLocked) await new Promise((resolve) => setTimeout(resolve, 1)) // it holds the word, draining
    const start = performance.now()
    const got = rw.writeLock(300)
    const waited = performance.now() - start
    expect(got).toBe(false)
    expect(await writer.result).toMatchObject({ ok: true, value: { ok: false } })
    expect(waited).toBeGreaterThanOrEqual(299)
    expect(waited).toBeLessThan(450) // a fresh deadline per phase takes ~500 ms
    raise(flags, 7)
    await reader.result
  })

  it('a nested readLock by a reader counted in the overflow counter gets in at once, even with a writer waiting (issue 15 item 5)', async () => {
    const rw = RWLock.create({ readerSlots: 1 })
    const data = new Int32Array(new SharedArrayBuffer(8))
    const flags = signals()
    const holder = spawn('readHold', { handle: rw.handle, data, flags, slot: 1 }) // takes the only slot
    await until(flags, 1, 1)
    expect(rw.readLock(0)).toBe(true) // this thread has no slot: its hold is in the overflow counter
    const writer = spawn<{ ok?: boolean }>('lockAndReport', { kind: 'RWLock', handle: rw.handle, flags, timeoutMs: 5000 })
    while (!rw.isWriteLocked) await new Promise((resolve) => setTimeout(resolve, 1)) // it holds the word, draining
    const start = performance.now()
    // Nesting: waiting for the writer would wait for ourselves (the writer waits for our first hold).
    expect(rw.readLock(1000)).toBe(true)
    expect(performance.now() - start).toBeLessThan(900) // not the whole timeout
    rw.readUnlock()
    rw.readUnlock()
    raise(flags, 7)
    await holder.result
    expect(await writer.result).toMatchObject({ ok: true, value: { ok: true } })
  })

  it('two readers are inside at once', async () => {
    const rw = RWLock.create()
    const data = new Int32Array(new SharedArrayBuffer(8))
    const flags = signals()
    const a = spawn('readHold', { handle: rw.handle, data, flags, slot: 1 })
    const b = spawn('readHold', { handle: rw.handle, data, flags, slot: 2 })
    await until(flags, 1, 1)
    await until(flags, 2, 1)
    expect(Atomics.load(data, 0)).toBe(2) // both inside, neither released yet
    expect(rw.readers).toBe(2)
    expect(rw.tryWriteLock()).toBe(false)
    expect(await rw.writeLockAsync({ timeoutMs: 50 })).toBe(false)
    raise(flags, 7)
    await Promise.all([a.result, b.result])
    expect(rw.tryWriteLock()).toBe(true)
    rw.writeUnlock()
  })

  it('a writer is alone, and is not starved by a continuous stream of readers', async () => {
    const rw = RWLock.create()
    const data = new Int32Array(new SharedArrayBuffer(8)) // [readers inside, writer inside]
    const flags = signals()
    const readers = Array.from({ length: 4 }, () =>
      run<{ reads: number; violations: number }>('readStream', { handle: rw.handle, data, flags }),
    )
    await until(flags, 1, 4)
    let writes = 0
    let overlaps = 0
    const deadline = performance.now() + 1_000
    while (performance.now() < deadline) {
      // 4 readers keep the lock read-held almost all the time; the writer still gets in.
      expect(await rw.writeLockAsync({ timeoutMs: 5_000 })).toBe(true)
      Atomics.store(data, 1, 1)
      if (Atomics.load(data, 0) !== 0) overlaps++
      Atomics.store(data, 1, 0)
      rw.writeUnlock()
      writes++
    }
    raise(flags, 0) // stop readers
    const results = await Promise.all(readers)
    expect(overlaps).toBe(0)
    expect(results.reduce((n, r) => n + r.violations, 0)).toBe(0)
    expect(results.every((r) => r.reads > 0)).toBe(true)
    expect(writes).toBeGreaterThan(10)
  })
})
