/**
 * threadstate: shared mutable state between JavaScript threads over
 * SharedArrayBuffer and Atomics. Runtime-neutral core (browsers, Node, Bun);
 * Node-only helpers are in `threadstate/node`.
 *
 * @packageDocumentation
 */
export {
  BarrierBrokenError,
  BlockingNotAllowedError,
  DeadlockError,
  HandleError,
  LockError,
  OptionError,
  OwnerDiedError,
  ThreadstateError,
  TimeoutError,
} from './errors.js'
export type { Handle } from './memory/handle.js'
export type { TypeName } from './memory/layout.js'
export { Domain, currentThreadId, domainOf, MAX_THREADS } from './memory/thread.js'
export { Mutex, type MutexHandle } from './sync/mutex.js'
export { ReentrantMutex, type ReentrantMutexHandle } from './sync/reentrant-mutex.js'
export { RWLock, type RWLockHandle, type RWLockOptions, type RWLockStats } from './sync/rwlock.js'
export { Condition, type ConditionHandle, type ConditionStats } from './sync/condition.js'
export { Semaphore, type SemaphoreHandle, type SemaphoreOptions, type SemaphoreStats } from './sync/semaphore.js'
export { Barrier, type BarrierHandle, type BarrierPassage } from './sync/barrier.js'
export { LockGuard, type WithLockOptions } from './sync/lockable.js'
export type { LockStats } from './sync/stats.js'
export type { AsyncWaitOptions } from './sync/wait.js'
