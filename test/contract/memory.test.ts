/**
 * The contract suites (test/contract/*.contract.ts) against the in-memory
 * implementations: a "peer" is a second instance attached to the same
 * shared memory from the handle, as another thread would.
 */
import { Mutex, SharedMap, SnapshotStore, StateBuffer, StateMachine, type AsyncLock, type Schema, type WritableMap, type WritableSnapshot } from '../../src/index.js'
import { describeAsyncLock } from './lock.contract.js'
import { describeSharedStateMachine } from './machine.contract.js'
import { describeWritableMap } from './map.contract.js'
import { describeWritableSnapshot } from './snapshot.contract.js'
import { describeWritableState } from './state.contract.js'

describeWritableMap('SharedMap (shared memory)', {
  create: (options) => SharedMap.create(options),
  peer: <V>(map: WritableMap<V>) => SharedMap.attach((map as SharedMap<V>).handle),
  overrunCommits: 200,
})

describeWritableSnapshot('SnapshotStore (shared memory)', {
  create: (initial) => SnapshotStore.create({ initial }),
  peer: <T>(store: WritableSnapshot<T>) => SnapshotStore.attach((store as SnapshotStore<T>).handle),
})

describeWritableState('StateBuffer (shared memory)', {
  create: <S extends Schema>(s: S, options: { readonly history: number }) => StateBuffer.create(s, options),
  peer: (buf) => StateBuffer.attach((buf as unknown as StateBuffer).handle) as never,
})

describeSharedStateMachine('StateMachine (shared memory)', {
  create: (definition) => StateMachine.create(definition),
  peer: (fsm) => StateMachine.attach((fsm as unknown as StateMachine).handle) as never,
})

describeAsyncLock('Mutex (shared memory)', {
  create: () => Mutex.create(),
  peer: (lock: AsyncLock<unknown>) => Mutex.attach((lock as Mutex).handle),
})
