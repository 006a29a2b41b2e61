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
  CapacityError,
  DeadlockError,
  HandleError,
  LockError,
  MappingLimitError,
  OptionError,
  OwnerDiedError,
  ThreadstateError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
} from './errors.js'
export type { Handle } from './memory/handle.js'
export { DEFAULT_GROWABLE_BUDGET, SMALL_OBJECT_MAX_BYTES } from './memory/growable.js'
export type { TypeName } from './memory/layout.js'
export { Domain, currentThreadId, domainOf, MAX_THREADS, type DomainCounts } from './memory/thread.js'
export { Mutex, type MutexHandle } from './sync/mutex.js'
export type { MutexOptions } from './sync/robust-lock.js'
export { ReentrantMutex, type ReentrantMutexHandle } from './sync/reentrant-mutex.js'
export { RWLock, type RWLockHandle, type RWLockOptions, type RWLockStats } from './sync/rwlock.js'
export { Condition, type ConditionHandle, type ConditionStats } from './sync/condition.js'
export { Semaphore, type SemaphoreHandle, type SemaphoreOptions, type SemaphoreStats } from './sync/semaphore.js'
export { Barrier, type BarrierHandle, type BarrierPassage } from './sync/barrier.js'
export { LockGuard, type WithLockOptions } from './sync/lockable.js'
export type { LockStats } from './sync/stats.js'
export { threadMayBlock, type AsyncWaitOptions } from './sync/wait.js'
export { DEFAULT_WRITE_TIMEOUT_MS } from './sync/writer-lock.js'
export {
  SchemaError,
  bool,
  enumOf,
  f32,
  f64,
  i32,
  quat,
  schema,
  u32,
  vec,
  vec3,
  type BoolField,
  type EnumField,
  type Field,
  type Infer,
  type Input,
  type NumberField,
  type NumberKind,
  type NumberOptions,
  type Schema,
  type Shape,
  type VecField,
  type WithUnit,
} from './state/schema.js'
export type { FlatField } from './state/codec.js'
export { StateReader, type ReadResult, type ReaderOptions, type StateEntry } from './state/reader.js'
export {
  StateBuffer,
  type StateBufferHandle,
  type StateBufferOptions,
  type StateBufferAttachOptions,
  type StateBufferStats,
  type StateEvent,
  type SubscribeOptions,
  type StatePublishOptions,
} from './state/state-buffer.js'
export { DecodeError, EncodeError, MAX_DEPTH } from './encoding/values.js'
export type { DeepReadonly } from './encoding/freeze.js'
export type {
  StandardFailure,
  StandardResult,
  StandardSchemaProps,
  StandardSchemaV1,
  StandardSuccess,
} from './encoding/standard-schema.js'
export {
  SnapshotStore,
  type PublishOptions,
  type Snapshot,
  type SnapshotEvent,
  type SnapshotStoreHandle,
  type SnapshotStoreOptions,
  type SnapshotStoreStats,
} from './snapshot/snapshot-store.js'
export { Publisher, type PublisherOptions } from './snapshot/publisher.js'
export {
  FROZEN_CACHE_KEYS,
  KeyError,
  SharedMap,
  type MapChange,
  type MapChangeEvent,
  type MapEntry,
  type MapTransaction,
  type SharedMapHandle,
  type SharedMapOptions,
  type SharedMapStats,
  type SetManyOptions,
} from './map/shared-map.js'
export {
  ListenerError,
  StateMachine,
  TransitionError,
  type StateMachineDefinition,
  type StateMachineHandle,
  type StateMachineOptions,
  type StateMachineStats,
  type Transition,
  type TransitionOptions,
} from './machine/state-machine.js'
export { TriggerFlags, type TriggerFlagsHandle, type TriggerFlagsStats } from './machine/trigger-flags.js'
export { MAX_HZ, RateLoop, type RateLoopOptions, type RateLoopStats, type TickInfo } from './runtime/rate-loop.js'
export {
  Watchdog,
  type StateBufferWatchdogOptions,
  type WatchdogExpiry,
  type WatchdogHandle,
  type WatchdogOptions,
  type WatchdogStats,
  type WatchdogWatchOptions,
} from './runtime/watchdog.js'
export {
  RegistryError,
  StateManager,
  type EntriesOf,
  type EntryStats,
  type RegistryEntries,
  type RegistryEntryHandle,
  type RegistryErrorReason,
  type RegistryStats,
  type SharedObject,
  type StateManagerHandle,
} from './runtime/registry.js'
export type {
  AsyncLock,
  AsyncReadWriteLock,
  AsyncSemaphore,
  Awaitable,
  ReadableMap,
  SharedStateMachine,
  SnapshotSource,
  StateSource,
  SubscriptionOptions,
  VersionedReadable,
  WritableMap,
  WritableSnapshot,
  WritableState,
} from './contracts.js'
