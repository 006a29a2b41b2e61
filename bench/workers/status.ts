/**
 * The objects the SnapshotStore benches move: the status of an agent runtime
 * loop as seed 004 describes it (its `SelfState`: vital parameters, learning
 * and adaptation parameters, a memory of weighted events, recent events,
 * plans, loop figures), written as a JS service would hold it (camelCase,
 * `Date.now()` timestamps, computed doubles left unrounded).
 *
 * {@link agentStatus} grows the memory (and, one in three, the recent
 * events) until the object's JSON reaches the size asked for, so a "2 KB"
 * and a "64 KB" status have the same shape and differ only in list lengths.
 * Values come from a fixed-seed generator: every run moves the same bytes.
 *
 * @module
 */

/** Event types of the seed's runtime loop. */
const EVENT_TYPES = ['noise', 'decay', 'recovery', 'shock', 'idle', 'memory_echo'] as const
type EventType = (typeof EVENT_TYPES)[number]

const SOURCES = ['environment', 'sensor:temperature', 'sensor:load', 'api', 'self'] as const

type PerEvent = Record<EventType, number>

/** One weighted memory of the agent. */
export interface MemoryEntry {
  readonly type: EventType
  readonly significance: number
  readonly timestamp: number
  readonly weight: number
  readonly feedbackCount: number
  readonly source: string
}

/** One recent event, as the loop received it. */
export interface RecentEvent {
  readonly type: EventType
  readonly intensity: number
  readonly timestamp: number
  readonly source: string
  readonly delta: { readonly energy: number; readonly stability: number; readonly tension: number }
}

/** The status object of an agent runtime loop (seed 004). */
export interface AgentStatus {
  lifeId: string
  /** The loop's tick; the benches set it per sample so readers can check what they got. */
  tick: number
  ageSeconds: number
  active: boolean
  mode: 'running' | 'degraded' | 'paused'
  vital: { energy: number; integrity: number; stability: number; fatigue: number; tension: number }
  subjectiveTime: { value: number; rate: number; baseRate: number; intensityCoefficient: number }
  lastEvent: { type: EventType; intensity: number; timestamp: number } | null
  learning: { sensitivity: PerEvent; thresholds: PerEvent; updatedAt: number }
  adaptation: { sensitivity: PerEvent; inertia: number }
  planning: { goals: { id: string; description: string; priority: number; progress: number; done: boolean }[]; sequence: string[] }
  loop: { tickIntervalMs: number; lastTickMs: number; overruns: number; queueDepth: number; startedAt: number; snapshotsSaved: number }
  memory: MemoryEntry[]
  recentEvents: RecentEvent[]
}

/** A fixed-seed linear congruential generator in [0, 1). */
function generator(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/** Epoch ms the statuses pretend to be taken at (fixed, so the bytes are too). */
const NOW = 1_768_900_000_000

/**
 * A status whose JSON (`JSON.stringify`, UTF-8) is at least `jsonBytes` long,
 * by at most one memory entry (and one recent event) more.
 */
export function agentStatus(jsonBytes: number): AgentStatus {
  const random = generator(4)
  const perEvent = (scale: number): PerEvent =>
    Object.fromEntries(EVENT_TYPES.map((type) => [type, scale * random()])) as PerEvent
  const status: AgentStatus = {
    lifeId: 'life-7f3a9c21',
    tick: 0,
    ageSeconds: 1823.3412 + random(),
    active: true,
    mode: 'running',
    vital: { energy: 100 * random(), integrity: random(), stability: random(), fatigue: 100 * random(), tension: random() },
    subjectiveTime: { value: 12_345.678 * (1 + random()), rate: 1 + random(), baseRate: 1, intensityCoefficient: random() },
    lastEvent: { type: 'shock', intensity: random(), timestamp: NOW - 1200 },
    learning: { sensitivity: perEvent(1), thresholds: perEvent(0.5), updatedAt: NOW - 60_000 },
    adaptation: { sensitivity: perEvent(1), inertia: random() },
    planning: {
      goals: [
        { id: 'g1', description: 'restore energy above 80', priority: 2, progress: random(), done: false },
        { id: 'g2', description: 'keep tension below 0.3', priority: 1, progress: random(), done: false },
      ],
      sequence: ['observe', 'recover', 'consolidate'],
    },
    loop: { tickIntervalMs: 100, lastTickMs: 3 * random(), overruns: 2, queueDepth: 0, startedAt: NOW - 1_823_341, snapshotsSaved: 182 },
    memory: [],
    recentEvents: [],
  }
  for (let i = 0; Buffer.byteLength(JSON.stringify(status)) < jsonBytes; i++) {
    const type = EVENT_TYPES[i % EVENT_TYPES.length]!
    const source = SOURCES[i % SOURCES.length]!
    const timestamp = NOW - 100 * i - Math.floor(100 * random())
    status.memory.push({ type, significance: random(), timestamp, weight: random(), feedbackCount: Math.floor(10 * random()), source })
    if (i % 3 === 0) {
      status.recentEvents.push({
        type,
        intensity: random(),
        timestamp,
        source,
        delta: { energy: random() - 0.5, stability: (random() - 0.5) / 10, tension: (random() - 0.5) / 10 },
      })
    }
  }
  return status
}

/** A status size the benches measure, named by its JSON size. */
export interface StatusSize {
  /** Row label, e.g. `2 KB`. */
  readonly label: string
  /** Smallest JSON size, bytes. */
  readonly jsonBytes: number
}

/** The two sizes of the brief: a realistic ~2 KB status and a ~64 KB one. Index = the SIZE control word. */
export const STATUS_SIZES: readonly StatusSize[] = [
  { label: '2 KB', jsonBytes: 2048 },
  { label: '64 KB', jsonBytes: 65536 },
]
