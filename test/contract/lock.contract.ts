/**
 * The AsyncLock contract (src/contracts.ts) as tests any implementation
 * runs: `describeAsyncLock(name, factory)`. A holder dying (OwnerDiedError)
 * needs a thread or process to die: each implementation tests it in its own
 * files (test/owner-died.test.ts, test/kill-mid-operation.test.ts).
 */
import { describe, expect, it } from 'vitest'
import { LockError, type AsyncLock, type AsyncReadWriteLock } from '../../src/index.js'

/** Makes the locks a contract suite runs against. */
export interface LockFactory {
  /** A fresh, free lock. */
  create(): AsyncLock<unknown> | Promise<AsyncLock<unknown>>
  /**
   * A contender: another holder's view of the same lock. For a lock whose
   * holder is a thread (Mutex), another async task of the same thread is a
   * contender for `lockAsync` (it waits, it never re-enters); a ReentrantMutex
   * re-enters for every task of its thread, so its contenders are other
   * threads (test/mutex.test.ts).
   */
  peer(lock: AsyncLock<unknown>): AsyncLock<unknown> | Promise<AsyncLock<unknown>>
}

/** Runs the AsyncLock contract against `factory`'s locks. */
export function describeAsyncLock(name: string, factory: LockFactory): void {
  describe(`AsyncLock contract: ${name}`, () => {
    it('lockAsync, tryLock and unlock; a contender waits, times out, then gets it', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      expect(lock.isLocked).toBe(false)
      // What an acquisition gives is truthy: true in memory, a lease on Redis (tryLock a round trip there).
      expect(await lock.tryLock()).toBeTruthy()
      await lock.unlock()
      expect(await lock.lockAsync()).toBeTruthy()
      expect(lock.isLocked).toBe(true)
      expect(await other.lockAsync({ timeoutMs: 20 })).toBe(false)
      const waiting = other.lockAsync({ timeoutMs: 10_000 })
      await lock.unlock()
      expect(await waiting).toBeTruthy()
      await other.unlock()
      expect(lock.isLocked).toBe(false)
      expect(lock.isPoisoned).toBe(false)
    })

    it('releasing a lock nobody holds is a LockError', async () => {
      const lock = await factory.create()
      await expect(async () => lock.unlock()).rejects.toThrow(LockError)
    })

    it('withLockAsync runs bodies one at a time and releases after a throw', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      let inside = 0
      let most = 0
      const body = async (): Promise<void> => {
        inside++
        most = Math.max(most, inside)
        await new Promise((r) => setImmediate(r))
        inside--
      }
      await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? lock : other).withLockAsync(body)))
      expect(most).toBe(1)
      await expect(
        lock.withLockAsync(() => {
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(lock.isLocked).toBe(false)
    })

    it('an aborted wait rejects with the signal reason and leaves the lock usable', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      await lock.lockAsync()
      const controller = new AbortController()
      const waiting = other.lockAsync({ signal: controller.signal })
      controller.abort(new Error('gave up'))
      await expect(waiting).rejects.toThrow('gave up')
      await lock.unlock()
      expect(await other.lockAsync({ timeoutMs: 10_000 })).toBeTruthy()
      await other.unlock()
    })
  })
}

/** Makes the readers-writer locks {@link describeAsyncReadWriteLock} runs against. */
export interface ReadWriteLockFactory {
  /** A fresh, free lock. */
  create(): AsyncReadWriteLock<unknown> | Promise<AsyncReadWriteLock<unknown>>
  /** Another holder's view of the same lock (another thread, or another process's domain). */
  peer(lock: AsyncReadWriteLock<unknown>): AsyncReadWriteLock<unknown> | Promise<AsyncReadWriteLock<unknown>>
}

/** Runs the AsyncReadWriteLock contract against `factory`'s locks. */
export function describeAsyncReadWriteLock(name: string, factory: ReadWriteLockFactory): void {
  describe(`AsyncReadWriteLock contract: ${name}`, () => {
    it('readers share, a writer excludes readers and writers; each gets it once the holders leave', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      expect(await lock.readLockAsync()).toBeTruthy()
      expect(await other.readLockAsync({ timeoutMs: 5_000 })).toBeTruthy()
      expect(await other.writeLockAsync({ timeoutMs: 20 })).toBe(false)
      await other.readUnlock()
      const writing = other.writeLockAsync({ timeoutMs: 10_000 })
      await lock.readUnlock()
      expect(await writing).toBeTruthy()
      expect(other.isWriteLocked).toBe(true)
      expect(await lock.readLockAsync({ timeoutMs: 20 })).toBe(false)
      expect(await lock.writeLockAsync({ timeoutMs: 20 })).toBe(false)
      const reading = lock.readLockAsync({ timeoutMs: 10_000 })
      await other.writeUnlock()
      expect(await reading).toBeTruthy()
      await lock.readUnlock()
    })

    it('writer-preferring: a reader arriving while a writer waits goes after it', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      const order: string[] = []
      await lock.readLockAsync()
      const writer = other.withWriteAsync(() => void order.push('writer'), { timeoutMs: 10_000 })
      // Let the writer queue before the second reader arrives.
      await new Promise((r) => setTimeout(r, 100))
      const reader = other.withReadAsync(() => void order.push('reader'), { timeoutMs: 10_000 })
      await new Promise((r) => setTimeout(r, 50))
      await lock.readUnlock()
      await Promise.all([writer, reader])
      expect(order).toEqual(['writer', 'reader'])
    })

    it('releasing what is not held is a LockError; withWriteAsync bodies run one at a time', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      await expect(async () => lock.readUnlock()).rejects.toThrow(LockError)
      await expect(async () => lock.writeUnlock()).rejects.toThrow(LockError)
      let inside = 0
      let most = 0
      const body = async (): Promise<void> => {
        inside++
        most = Math.max(most, inside)
        await new Promise((r) => setImmediate(r))
        inside--
      }
      await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? lock : other).withWriteAsync(body)))
      expect(most).toBe(1)
    })
  })
}
