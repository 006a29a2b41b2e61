/**
 * The worker side of each README example, compiled under the project's
 * `--strict` tsconfig (`npm run typecheck`) and run: the only cast is
 * Node's own `workerData` (typed `any`) to the message type the main side
 * built. No `attach<V>` type argument, no other cast: the handles carry the
 * types (issue 16 item 4). Each worker function gets `structuredClone` of
 * the message, exactly what a worker's `workerData` would be (the
 * SharedArrayBuffers stay shared), and its results are checked here.
 *
 * Broken variant, run once: `SharedMapHandle` without its value-type member
 * let `SharedMap.attach<number>(data.jobs)` compile (tsc: the
 * `@ts-expect-error` below unused). Inference alone survived it (TypeScript
 * infers from the type arguments of two references to one interface), which
 * is why the member is needed: without it nothing checks the type argument.
 */
import { describe, expect, it } from 'vitest'
import {
  Mutex,
  SharedMap,
  SnapshotStore,
  StateBuffer,
  StateMachine,
  TriggerFlags,
  Watchdog,
  bool,
  enumOf,
  f64,
  quat,
  schema,
  vec3,
} from '../src/index.js'

// ---- main side: what the README's examples create and send -------------------------------

const Drone = schema({
  position: vec3({ unit: 'm' }),
  velocity: vec3({ unit: 'm/s' }),
  attitude: quat(),
  mode: enumOf(['idle', 'armed', 'flying']),
  battery: f64({ unit: '%', min: 0, max: 100 }),
  armed: bool(),
})

interface Agent {
  readonly id: string
  tokens: number
}
interface Status {
  tick: number
  mode: 'running' | 'paused'
  agents: Agent[]
}

function mainSide() {
  const mutex = Mutex.create()
  const counter = new Int32Array(new SharedArrayBuffer(4))
  const drone = StateBuffer.create(Drone, { history: 16 })
  drone.publish({ position: [1, 2, 3], velocity: [0, 0, 0], attitude: [0, 0, 0, 1], mode: 'flying', battery: 80, armed: true })
  const status = SnapshotStore.create<Status>({ initial: { tick: 0, mode: 'running', agents: [{ id: 'a', tokens: 3 }] } })
  const services = SharedMap.create<boolean | string>()
  const jobs = SharedMap.create<{ id: string; tries: number; tags: string[] }>()
  jobs.set('j1', { id: 'j1', tries: 0, tags: ['nightly'] })
  const fsm = StateMachine.create({
    states: ['init', 'ready', 'walking', 'estop'],
    initial: 'init',
    transitions: { init: ['ready'], ready: ['walking'], walking: ['ready'], estop: ['init'] },
    anyTo: ['estop'],
  })
  const triggers = TriggerFlags.create(['calibrate', 'walk', 'stop'])
  const dog = Watchdog.create({ timeoutMs: 60_000 })
  // The message: handles (and plain shared memory), never the objects themselves.
  return {
    mutex: mutex.handle,
    counter,
    drone: drone.handle,
    status: status.handle,
    services: services.handle,
    jobs: jobs.handle,
    fsm: fsm.handle,
    triggers: triggers.handle,
    dog: dog.handle,
  }
}
type Message = ReturnType<typeof mainSide>

// ---- worker side: `workerData as Message` is the only cast ---------------------------------

/* eslint-disable @typescript-eslint/no-explicit-any -- `workerData` is `any` in Node's types */

/** Quick start: a Mutex across a worker. */
function mutexWorker(workerData: any): number {
  const { mutex: handle, counter } = workerData as Message
  const mutex = Mutex.attach(handle)
  for (let i = 0; i < 1000; i++) mutex.withLock(() => counter[0]!++)
  return counter[0]!
}

/** StateBuffer: the controller reads the drone's state. */
function controllerWorker(workerData: any): { x: number; mode: 'idle' | 'armed' | 'flying'; flat: number } {
  const drone = StateBuffer.attach((workerData as Message).drone) // the schema travels in the handle
  const reader = drone.reader({ maxAgeMs: 60_000 })
  const flat = new Float64Array(drone.size)
  reader.readInto(flat)
  const { value } = reader.read()!
  return { x: value.position[0], mode: value.mode, flat: flat[0]! }
}

/** SnapshotStore: an HTTP handler reads the status; a helper modifies it. */
function statusWorker(workerData: any): { body: string; firstAgent: string; tick: number } {
  const status = SnapshotStore.attach((workerData as Message).status) // SnapshotStore<Status>
  const current = status.get()
  // @ts-expect-error deep-frozen and typed so: no write compiles
  if (Math.random() > 2) current.agents[0]!.tokens++
  status.modify((prev) => ({ ...prev, tick: prev.tick + 1, agents: prev.agents.map((a) => ({ ...a, tokens: a.tokens + 1 })) }))
  return { body: JSON.stringify(current), firstAgent: current.agents[0]!.id, tick: status.get().tick }
}

/** SharedMap: request handlers share a status dictionary and a job table. */
function mapWorker(workerData: any): { tries: number; service: boolean | string | undefined } {
  const data = workerData as Message
  const services = SharedMap.attach(data.services) // SharedMap<boolean | string>
  services.setMany({ qsfp_service: true, sai_cmd: 'run' })
  const jobs = SharedMap.attach(data.jobs)
  const job = jobs.get('j1') // a private, mutable copy
  if (job) {
    job.tries++
    job.tags.push('retried')
    jobs.set('j1', job)
  }
  // @ts-expect-error a map of jobs is not a map of numbers
  if (Math.random() > 2) SharedMap.attach<number>(data.jobs)
  return { tries: jobs.getFrozen('j1')?.tries ?? -1, service: services.get('qsfp_service') }
}

/** StateMachine, TriggerFlags and Watchdog: the supervisor's side. */
function supervisorWorker(workerData: any): { state: 'init' | 'ready' | 'walking' | 'estop'; took: ('calibrate' | 'walk' | 'stop')[] } {
  const data = workerData as Message
  const fsm = StateMachine.attach(data.fsm)
  fsm.transition('ready', { reason: 'booted' })
  // @ts-expect-error not a state of this machine
  if (Math.random() > 2) fsm.transition('flying')
  const triggers = TriggerFlags.attach(data.triggers)
  triggers.set('walk')
  Watchdog.attach(data.dog).kick()
  return { state: fsm.state, took: triggers.takeAll() }
}

describe('the worker side of the README examples', () => {
  it('compiles with no cast but workerData, and works on what a worker would receive', () => {
    const message = mainSide()
    expect(mutexWorker(structuredClone(message))).toBe(1000)
    expect(controllerWorker(structuredClone(message))).toEqual({ x: 1, mode: 'flying', flat: 1 })
    const status = statusWorker(structuredClone(message))
    expect(status).toMatchObject({ firstAgent: 'a', tick: 1 })
    expect(JSON.parse(status.body)).toEqual({ tick: 0, mode: 'running', agents: [{ id: 'a', tokens: 3 }] })
    expect(mapWorker(structuredClone(message))).toEqual({ tries: 1, service: true })
    expect(SharedMap.attach(message.jobs).get('j1')?.tags).toEqual(['nightly', 'retried'])
    expect(supervisorWorker(structuredClone(message))).toEqual({ state: 'ready', took: ['walk'] })
  })
})
