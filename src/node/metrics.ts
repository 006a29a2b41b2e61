/**
 * Prometheus metrics of shared objects, through prom-client: every numeric
 * figure of every object's `stats()` becomes a gauge labelled with the
 * object's name and kind, read at scrape time (stats are read from shared
 * memory without taking any lock, so a scrape never slows the threads down).
 * A lock's wait-time histogram (`waitHistogram`) becomes a real Prometheus
 * histogram, `<prefix>lock_wait_seconds`, so `histogram_quantile()` works
 * across scrapes and instances.
 *
 * @module
 */
import { Gauge, Registry } from 'prom-client'
import { OptionError, describe } from '../errors.js'
import { WAIT_BUCKETS, type LockStats, type WaitBucket } from '../sync/stats.js'

/** Anything with figures: every threadstate object. */
export interface HasStats {
  /** Figures, nested objects allowed; numbers and booleans become gauges, strings `_info` gauges. */
  stats(): object
  /** The object's handle, whose `type` names its kind. */
  readonly handle?: {
    /** Kind of the object (`Mutex`, `SharedMap`, ...). */
    readonly type?: string
  }
}

/** Where the objects come from: a fixed record, or a function called at every scrape (a registry). */
export type MetricsSource = Readonly<Record<string, HasStats>> | (() => Readonly<Record<string, HasStats>>)

/** Options of {@link ThreadstateMetrics}. */
export interface MetricsOptions {
  /** Registry to register the gauges in. @default a new Registry */
  readonly registry?: Registry
  /** Prefix of every metric name. @default 'threadstate_' */
  readonly prefix?: string
  /** Also collect prom-client's default Node metrics (event loop lag, heap, ...). @default false */
  readonly defaultMetrics?: boolean
}

/**
 * Upper bounds of a lock's wait-histogram buckets, in seconds (stats.ts:
 * bucket k counts waits below 2^k µs; the last one everything longer).
 */
const WAIT_BOUNDS_S = Array.from({ length: WAIT_BUCKETS - 1 }, (_, k) => 2 ** k / 1e6)

/** One lock's wait histogram, found in an object's stats. */
interface WaitSeries {
  readonly labels: Readonly<Record<string, string>>
  readonly buckets: readonly WaitBucket[]
  readonly sumMs: number
  readonly count: number
}

/**
 * A prom-client metric of type histogram whose series are set at collection
 * time from the locks' shared histograms (prom-client's own Histogram only
 * takes single observations).
 */
class LockWaitHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly help = 'time contended lock acquisitions waited, from the lock\'s shared log2 histogram (stats().waitHistogram)'
  series: WaitSeries[] = []

  constructor(readonly name: string) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: object[] } {
    const values: object[] = []
    for (const s of this.series) {
      let cumulative = 0
      let b = 0
      for (const bound of WAIT_BOUNDS_S) {
        while (b < s.buckets.length && s.buckets[b]!.belowMs / 1000 <= bound * (1 + 1e-9)) cumulative += s.buckets[b++]!.count
        values.push({ labels: { ...s.labels, le: bound }, value: cumulative, metricName: `${this.name}_bucket` })
      }
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels: s.labels, value: s.sumMs / 1000, metricName: `${this.name}_sum` })
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}

/** Lock figures with a wait histogram, anywhere in `value` (an RWLock keeps its writers' under `write`). */
function findWaits(value: unknown, path: string[], out: [string[], LockStats][]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return
  const figures = value as Partial<LockStats>
  if (Array.isArray(figures.waitHistogram) && typeof figures.contended === 'number' && typeof figures.waitTotalMs === 'number') {
    out.push([path, figures as LockStats])
    return
  }
  for (const [key, v] of Object.entries(value)) findWaits(v, [...path, key], out)
}

/** snake_case of a stats path. */
function metricName(path: readonly string[]): string {
  return path
    .join('_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .toLowerCase()
}

/** Flattens figures into [path, value] pairs: numbers and booleans, and strings (as info). */
function flatten(value: unknown, path: string[], out: [string[], number | string][]): void {
  if (typeof value === 'number') out.push([path, value])
  else if (typeof value === 'boolean') out.push([path, value ? 1 : 0])
  else if (typeof value === 'string') out.push([path, value])
  else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) flatten(v, [...path, key], out)
  }
}

/**
 * Gauges for the stats of shared objects, in Prometheus text format.
 *
 * @example
 * ```ts
 * const metrics = new ThreadstateMetrics({ pose, status, fsm })
 * http.createServer(async (req, res) => {
 *   res.setHeader('content-type', metrics.contentType)
 *   res.end(await metrics.metrics())
 * })
 * ```
 */
export class ThreadstateMetrics {
  /** The prom-client registry the gauges live in. */
  readonly registry: Registry
  private readonly source: () => Readonly<Record<string, HasStats>>
  private readonly prefix: string
  private readonly gauges = new Map<string, Gauge>()
  private readonly waits: LockWaitHistogram

  constructor(source: MetricsSource, options: MetricsOptions = {}) {
    if (typeof source !== 'function' && (typeof source !== 'object' || source === null)) {
      throw new OptionError(`Expected a record of objects with stats(), or a function returning one, got ${describe(source)}`)
    }
    this.source = typeof source === 'function' ? source : () => source
    this.registry = options.registry ?? new Registry()
    this.prefix = options.prefix ?? 'threadstate_'
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(this.prefix)) throw new OptionError(`Expected a Prometheus metric-name prefix, got ${describe(this.prefix)}`)
    this.registry.registerMetric(
      new Gauge({ name: `${this.prefix}scrape_errors`, help: 'objects whose stats() threw during the last scrape', registers: [], labelNames: ['object'] }),
    )
    this.waits = new LockWaitHistogram(`${this.prefix}lock_wait_seconds`)
    this.registry.registerMetric(this.waits as unknown as Gauge)
    if (options.defaultMetrics) {
      // Imported lazily so the module stays cheap when unused.
      void import('prom-client').then(({ collectDefaultMetrics }) => collectDefaultMetrics({ register: this.registry }))
    }
  }

  /** Content type of {@link metrics}' text. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** The objects whose figures are exported, as the source gives them now (the dashboard shows the same). */
  objects(): Readonly<Record<string, HasStats>> {
    return this.source()
  }

  /** Reads every object's stats and returns the Prometheus text exposition. */
  async metrics(): Promise<string> {
    this.collect()
    return this.registry.metrics()
  }

  /** Reads every object's stats into the gauges (called by {@link metrics}). */
  collect(): void {
    for (const gauge of this.gauges.values()) gauge.reset()
    const errors = this.registry.getSingleMetric(`${this.prefix}scrape_errors`) as Gauge
    errors.reset()
    const series: WaitSeries[] = []
    for (const [object, target] of Object.entries(this.source())) {
      const type = target.handle?.type ?? 'object'
      let figures: object
      try {
        figures = target.stats()
      } catch {
        errors.inc({ object })
        continue
      }
      const locks: [string[], LockStats][] = []
      findWaits(figures, [], locks)
      for (const [path, s] of locks) {
        // Count from the buckets themselves (not `contended`, read at another instant), so +Inf equals the last bucket sum.
        const count = s.waitHistogram.reduce((n, b) => n + b.count, 0)
        series.push({ labels: { object, type, side: path.join('_') }, buckets: s.waitHistogram, sumMs: s.waitTotalMs, count })
      }
      const pairs: [string[], number | string][] = []
      flatten(figures, [], pairs)
      for (const [path, value] of pairs) {
        if (typeof value === 'string') {
          this.gauge(`${metricName(path)}_info`, ['object', 'type', 'value']).set({ object, type, value }, 1)
        } else if (Number.isFinite(value)) {
          this.gauge(metricName(path), ['object', 'type']).set({ object, type }, value)
        }
      }
    }
    this.waits.series = series
  }

  private gauge(name: string, labelNames: string[]): Gauge {
    const full = this.prefix + name
    let gauge = this.gauges.get(full)
    if (!gauge) {
      gauge = new Gauge({ name: full, help: `threadstate stats() field ${name}`, labelNames, registers: [this.registry] })
      this.gauges.set(full, gauge)
    }
    return gauge
  }
}
