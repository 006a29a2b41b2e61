/**
 * `threadstate/redis`: threadstate's objects shared across processes and
 * machines through a Redis server (7.0 or later, or Valkey). Redis holds
 * the truth; every process reads a mirror in its own shared memory at
 * memory speed, from any of its threads; writes are one server-side
 * script each. Node only: this entry point never enters the core's import
 * graph.
 *
 * @example
 * ```ts
 * import { RedisDomain } from 'threadstate/redis'
 * const redis = await RedisDomain.connect({ url: 'redis://127.0.0.1:6379', namespace: 'fleet' })
 * const status = await redis.sharedMap<boolean>('status')
 * await status.set('qsfp_service', true)
 * status.get('qsfp_service') // true, from the mirror
 * ```
 *
 * @module
 */
export { RedisDomain, type RedisDomainOptions, type RedisDomainStats } from './domain.js'
export { RedisSharedMap, type RedisSharedMapHandle, type RedisSharedMapOptions, type RedisSharedMapStats } from './shared-map.js'
export { RedisSnapshotStore, type RedisSnapshotStoreHandle, type RedisSnapshotStoreOptions, type RedisSnapshotStoreStats } from './snapshot-store.js'
export { RedisStateBuffer, type RedisStateBufferHandle, type RedisStateBufferOptions, type RedisStateBufferStats } from './state-buffer.js'
export { RedisStateMachine, type RedisStateMachineHandle, type RedisStateMachineOptions, type RedisStateMachineStats } from './state-machine.js'
export { RedisTriggerFlags, type RedisTriggerFlagsHandle, type RedisTriggerFlagsStats } from './trigger-flags.js'
export { RedisWatchdog, type RedisWatchdogHandle, type RedisWatchdogOptions, type RedisWatchdogStats, type RedisWatchdogWatchOptions } from './watchdog.js'
export { RedisStateManager, type RedisRegistrable, type RedisRegistryEntry, type RedisRegistryKind } from './state-manager.js'
export { closeThreadConnections } from './thread-links.js'
export { RedisMutex, RedisReentrantMutex, RedisRWLock, RedisSemaphore, type RedisLease, type RedisLockHandle, type RedisLockOptions, type RedisSemaphoreOptions, type RedisWithLockOptions } from './locks.js'
export type { FenceToken, LockKind, LockSpec, RedisLockHold, RedisLockState, RedisWriteOptions } from './lock-engine.js'
export { LeaseLostError, RedisOwnerDiedError, StaleFenceError } from './errors.js'
export type { ConnectOptions, LinkDescriptor } from './client.js'
export type { RemoteSpec } from './remote.js'
export { RedisConnectionError, RedisDataLostError, RedisOutcomeUnknownError, RedisShapeError } from './errors.js'
