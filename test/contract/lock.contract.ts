/**
 * The AsyncLock contract (src/contracts.ts) as tests any implementation
 * runs: `describeAsyncLock(name, factory)`. A holder dying (OwnerDiedError)
 * needs a thread or process to die: each implementation tests it in its own
 * files (test/owner-died.test.ts, test/kill-mid-operation.test.ts).
 */
import { describe, expect, it } from 'vitest'
import { LockError, type AsyncLock } from '../../src/index.js'

/** Makes the locks a contract suite runs against. */
export interface LockFactory {
  /** A fresh, free lock. */
  create(): AsyncLock | Promise<AsyncLock>
  /**
   * A contender: another holder's view of the same lock. For a lock whose
   * holder is a thread (Mutex), another async task of the same thread is a
   * contender for `lockAsync` (it waits, it never re-enters); a ReentrantMutex
   * re-enters for every task of its thread, so its contenders are other
   * threads (test/mutex.test.ts).
   */
  peer(lock: AsyncLock): AsyncLock | Promise<AsyncLock>
}

/** Runs the AsyncLock contract against `factory`'s locks. */
export function describeAsyncLock(name: string, factory: LockFactory): void {
  describe(`AsyncLock contract: ${name}`, () => {
    it('lockAsync, tryLock and unlock; a contender waits, times out, then gets it', async () => {
      const lock = await factory.create()
      const other = await factory.peer(lock)
      expect(lock.isLocked).toBe(false)
      expect(lock.tryLock()).toBe(true)
      await lock.unlock()
      expect(await lock.lockAsync()).toBe(true)
      expect(lock.isLocked).toBe(true)
      expect(await other.lockAsync({ timeoutMs: 20 })).toBe(false)
      const waiting = other.lockAsync({ timeoutMs: 10_000 })
      await lock.unlock()
      expect(await waiting).toBe(true)
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
      expect(await other.lockAsync({ timeoutMs: 10_000 })).toBe(true)
      await other.unlock()
    })
  })
}
