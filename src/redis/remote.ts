/**
 * What every Redis-backed object's per-thread core shares (remote-map.ts,
 * remote-snapshot.ts): where it lives on the server, the status words its
 * threads share, running a command with retries inside the write timeout,
 * and the epoch check that turns data lost on the server into an error
 * instead of versions going back.
 *
 * @module
 */
import { HandleError, OptionError, ThreadstateError, describe } from '../errors.js'
import type { LinkDescriptor, RedisLink } from './client.js'
import { replyError, sendGate, withRetries } from './call.js'
import { RedisDataLostError } from './errors.js'
import { threadLink } from './thread-links.js'
import { checkWaitOptions } from '../sync/wait.js'
import { writeEnded, writeStarted } from './in-flight.js'

/** The server-side names and settings of one object (structured-cloneable: part of a handle). */
export interface RemoteSpec {
  /** The object's name (unique in its namespace). */
  readonly name: string
  /** `{namespace:name}`: the hash tag every key of the object starts with. */
  readonly tag: string
  /** What messages call it, e.g. `RedisSharedMap 'status'`. */
  readonly what: string
  /** The epoch the object had when this process opened it. */
  readonly epoch: string
  /** Write timeout (ms). */
  readonly timeoutMs: number
  /** Stream entries kept (MAXLEN). */
  readonly streamLength: number
  /** How long the server keeps a write's operation record (ms). */
  readonly operationTtlMs: number
  /** The server's clock minus this machine's wall clock (ms), estimated when the domain connected. */
  readonly clockOffsetMs: number
}

/** Status words shared by every thread of the process (the handle's `status` buffer). */
export const enum Status {
  /** 1 once the object's data was found gone or replaced (RedisDataLostError). */
  LOST = 0,
  /** Commits applied from the stream by the bridge. */
  BRIDGED = 1,
  /** Reloads of the whole object (a fresh open, or the stream no longer reached back far enough). */
  RELOADS = 2,
  /** Commits this process's threads applied themselves (read-your-writes). */
  OWN = 3,
  /** Writes resent after a lost connection (deduplicated on the server). */
  RETRIES = 4,
  WORDS = 5,
}

/** The handle format of every Redis-backed object; another library version's handle is refused. */
export const REMOTE_HANDLE_FORMAT = 1

/** What every Redis-backed object's handle carries besides its mirror. */
export interface RemoteHandle {
  /** `'RedisSharedMap'`, `'RedisSnapshotStore'` or `'RedisStateBuffer'`. */
  readonly kind: string
  /** The handle format; another library version's handle is refused. */
  readonly format: number
  /** Status words shared by the process's threads. */
  readonly status: SharedArrayBuffer
  /** The object on the server. */
  readonly spec: RemoteSpec
  /** How a worker opens its own connection for writes (undefined: writes only where the domain is). */
  readonly link: LinkDescriptor | undefined
  /** Timeout of one command (ms). */
  readonly commandTimeoutMs: number
}

/** The message of something thrown, whatever it is (a hostile handle's getters may throw anything). */
function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    return 'an unprintable value'
  }
}

/**
 * Runs an `attach()` body of a Redis-backed object: any failure that is not
 * already a threadstate error (a TypeError from a forged field, a
 * RangeError from a view over a forged buffer) becomes a `HandleError`, so
 * bad handles fail one way, as in memory (`attaching` of memory/handle.ts).
 */
export function attachingRemote<R>(kind: string, body: () => R): R {
  try {
    return body()
  } catch (error) {
    if (error instanceof ThreadstateError) throw error
    throw new HandleError(`Expected a valid ${kind} handle, got one that fails when attached: ${messageOf(error)}`)
  }
}

/** `value` as a plain object (not null, not an array), or a HandleError naming `field`. */
function objectField(value: unknown, kind: string, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HandleError(`Expected a ${kind} handle whose \`${field}\` is an object, got ${describe(value)}`)
  }
  return value as Record<string, unknown>
}

/** The key of a field path: `'spec.name'` names `name` (of the object `spec`). */
function keyOf(field: string): string {
  return field.slice(field.lastIndexOf('.') + 1)
}

/** Checks that `object[key]` is a string (non-empty unless `empty`); `field` is the key's path in the handle. @throws HandleError */
export function stringField(object: Record<string, unknown>, kind: string, field: string, empty = false): string {
  const value = object[keyOf(field)]
  if (typeof value !== 'string' || (!empty && value.length === 0)) {
    throw new HandleError(`Expected a ${kind} handle whose \`${field}\` is a${empty ? '' : ' non-empty'} string, got ${describe(value)}`)
  }
  return value
}

/** Checks that `object[key]` is a number for which `ok` holds (`expected` says which); `field` is the key's path in the handle. @throws HandleError */
export function numberField(object: Record<string, unknown>, kind: string, field: string, expected: string, ok: (n: number) => boolean): number {
  const value = object[keyOf(field)]
  if (typeof value !== 'number' || !ok(value)) {
    throw new HandleError(`Expected a ${kind} handle whose \`${field}\` is ${expected}, got ${describe(value)}`)
  }
  return value
}

const positiveInteger = (n: number): boolean => Number.isSafeInteger(n) && n > 0

/** The longest a timer can wait (ms): `setTimeout` fires a longer delay after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A timeout a timer can hold: an integer from 1 to {@link MAX_TIMER_MS}. */
const timerMs = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= MAX_TIMER_MS

/**
 * Checks a connection descriptor of a handle: what a worker's first write
 * opens its connection from (thread-links.ts, client.ts `linkFrom`).
 * @throws HandleError
 */
function checkLink(value: unknown, kind: string): void {
  if (value === undefined) return
  const link = objectField(value, kind, 'link')
  if (link['library'] !== 'ioredis' && link['library'] !== 'node-redis') {
    throw new HandleError(`Expected a ${kind} handle whose \`link.library\` is 'ioredis' or 'node-redis', got ${describe(link['library'])}`)
  }
  if (link['url'] !== undefined) stringField(link, kind, 'link.url')
  if (link['options'] !== undefined) objectField(link['options'], kind, 'link.options')
  const cluster = link['cluster']
  if (cluster !== undefined) {
    if (!Array.isArray(cluster) || cluster.length === 0) throw new HandleError(`Expected a ${kind} handle whose \`link.cluster\` is a non-empty array of nodes, got ${describe(cluster)}`)
    for (const node of cluster as unknown[]) {
      if (typeof node === 'string') continue
      const n = objectField(node, kind, 'link.cluster[]')
      stringField(n, kind, 'link.cluster[].host')
      numberField(n, kind, 'link.cluster[].port', 'a port number', (p) => Number.isInteger(p) && p > 0 && p < 65536)
    }
  }
}

/**
 * A plain copy of a Redis-backed object's or lock's handle, with what every
 * kind shares checked on the copy: `structuredClone` of it (the copy a
 * worker gets through `postMessage`), so every field is read once, here. A
 * getter cannot answer one value to the checks and another to the code that
 * uses the handle, and a Proxy, a function or a getter that throws is a
 * `HandleError`. The copy shares the handle's SharedArrayBuffers (the same
 * status words and mirror). `attach()` checks and uses only the copy.
 *
 * Checked: `kind`, `format`, `status` (a SharedArrayBuffer of at least
 * `statusBytes`), `link` (absent, or a descriptor a worker's connection can
 * be opened from), `commandTimeoutMs`, and that `spec` is an object (its
 * fields are the kind's: {@link checkRemoteSpec}, or the locks' own check).
 * @throws HandleError
 */
export function copyRemoteHandle(value: unknown, kind: string, statusBytes: number): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new HandleError(`Expected a ${kind} handle, got ${describe(value)}`)
  let copy: unknown
  try {
    copy = structuredClone(value)
  } catch (error) {
    throw new HandleError(`Expected a ${kind} handle of plain, structured-cloneable data, got one that cannot be copied: ${messageOf(error)}`)
  }
  const h = objectField(copy, kind, 'handle')
  if (h['kind'] !== kind) throw new HandleError(`Expected a ${kind} handle, got ${typeof h['kind'] === 'string' ? `a ${h['kind']} handle` : `an object whose \`kind\` is ${describe(h['kind'])}`}`)
  if (h['format'] !== REMOTE_HANDLE_FORMAT) {
    throw new HandleError(`Expected a ${kind} handle of format ${REMOTE_HANDLE_FORMAT}, got format ${describe(h['format'])}: another threadstate version made it`)
  }
  const status = h['status']
  if (!(status instanceof SharedArrayBuffer) || status.byteLength < statusBytes || status.byteLength % 4 !== 0) {
    throw new HandleError(`Expected a ${kind} handle whose \`status\` is a SharedArrayBuffer of ${statusBytes} bytes (a multiple of 4), got ${status instanceof SharedArrayBuffer ? `one of ${status.byteLength} bytes` : describe(status)}`)
  }
  checkLink(h['link'], kind)
  numberField(h, kind, 'commandTimeoutMs', 'an integer from 1 to 2^31-1 (ms)', timerMs)
  objectField(h['spec'], kind, 'spec')
  return h
}

/**
 * Checks a copied handle's `spec.name` and `spec.tag`: the tag must be the
 * hash tag `{namespace:name}` of the name (objects and locks alike).
 * @throws HandleError
 */
export function checkNameAndTag(spec: Record<string, unknown>, kind: string): void {
  const name = stringField(spec, kind, 'spec.name')
  const tag = stringField(spec, kind, 'spec.tag')
  if (!/^\{[^{}]+\}$/.test(tag) || !tag.endsWith(`:${name}}`)) {
    throw new HandleError(`Expected a ${kind} handle whose \`spec.tag\` is the hash tag \`{namespace:name}\` of ${describe(name)}, got ${describe(tag)}`)
  }
}

/** An epoch as `crypto.randomUUID()` writes it. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Checks the {@link RemoteSpec} of a copied handle ({@link copyRemoteHandle}):
 * every field the object's scripts, keys, retries and clock use later.
 * @throws HandleError
 */
export function checkRemoteSpec(handle: Record<string, unknown>, kind: string): RemoteSpec {
  const spec = handle['spec'] as Record<string, unknown>
  checkNameAndTag(spec, kind)
  stringField(spec, kind, 'spec.what')
  const epoch = stringField(spec, kind, 'spec.epoch')
  // Every epoch is a randomUUID() of the object's first open (domain.ts): anything else was never
  // the object's, and using it would only end in RedisDataLostError for every handle of the object
  // in this process (the mirror is shared), which a hostile-handle test found.
  if (!UUID.test(epoch)) throw new HandleError(`Expected a ${kind} handle whose \`spec.epoch\` is the object's epoch (a UUID), got ${describe(epoch)}`)
  numberField(spec, kind, 'spec.timeoutMs', 'an integer from 1 to 2^31-1 (ms)', timerMs)
  numberField(spec, kind, 'spec.streamLength', 'a positive integer', positiveInteger)
  numberField(spec, kind, 'spec.operationTtlMs', 'a positive integer (ms)', positiveInteger)
  numberField(spec, kind, 'spec.clockOffsetMs', 'a finite number (ms)', Number.isFinite)
  return spec as unknown as RemoteSpec
}

/**
 * Copies and checks what `attach` relies on in a handle of `kind`, common to
 * every Redis-backed object ({@link copyRemoteHandle}, {@link checkRemoteSpec}).
 * @returns the plain copy: use it, never `handle`
 * @throws HandleError
 */
export function checkRemoteHandle(handle: unknown, kind: string): Record<string, unknown> {
  const copy = copyRemoteHandle(handle, kind, Status.WORDS * 4)
  checkRemoteSpec(copy, kind)
  return copy
}

/** The connection an attached object writes through: this thread's own (thread-links.ts). */
export function attachedLink(handle: RemoteHandle): () => Promise<RedisLink> {
  return () =>
    handle.link === undefined
      ? Promise.reject(
          new OptionError(`Expected ${handle.spec.what} to be written where its RedisDomain is, or a domain connected by \`url\`/client options a worker can reuse, got a client threadstate cannot describe`),
        )
      : threadLink(handle.link, handle.commandTimeoutMs)
}

/** The figures every Redis-backed object reports from its status words. */
export function statusFigures(status: Int32Array): { bridged: number; ownApplied: number; reloads: number; retries: number; lost: boolean } {
  return {
    bridged: Atomics.load(status, Status.BRIDGED),
    ownApplied: Atomics.load(status, Status.OWN),
    reloads: Atomics.load(status, Status.RELOADS),
    retries: Atomics.load(status, Status.RETRIES),
    lost: Atomics.load(status, Status.LOST) !== 0,
  }
}

/** {@link statusFigures} as the snapshot store and state buffer name them (a reload of theirs is a catch-up). */
export function catchUpFigures(status: Int32Array): { bridged: number; ownApplied: number; catchUps: number; retries: number; lost: boolean } {
  const { reloads, ...rest } = statusFigures(status)
  return { ...rest, catchUps: reloads }
}

/** The keys of an object. */
export function keysOf(tag: string): { meta: string; data: string; ver: string; log: string } {
  return { meta: `${tag}:meta`, data: `${tag}:data`, ver: `${tag}:ver`, log: `${tag}:log` }
}

/** The key of operation `id`'s record. */
export function operationKey(tag: string, id: string): string {
  return `${tag}:op:${id}`
}

/** One thread's access to a remote object: the parts every kind shares. */
export class RemoteObject {
  readonly keys: ReturnType<typeof keysOf>

  constructor(
    readonly spec: RemoteSpec,
    readonly status: Int32Array,
    /** This thread's command connection. */
    protected readonly link: () => Promise<RedisLink>,
  ) {
    this.keys = keysOf(spec.tag)
  }

  /** Throws RedisDataLostError if the data was found gone (by any thread). */
  checkNotLost(): void {
    if (Atomics.load(this.status, Status.LOST) !== 0) {
      throw new RedisDataLostError(`Expected ${this.spec.what} to still hold its data on the server, got it gone or replaced (found earlier): open it again`)
    }
  }

  /** Marks the object lost for every thread of the process (and wakes their subscriptions: {@link whileNotLost}). */
  markLost(): void {
    Atomics.store(this.status, Status.LOST, 1)
    Atomics.notify(this.status, Status.LOST)
  }

  /**
   * The events of `events(signal)` until the caller's `signal` aborts, or
   * the object is found lost in any thread of the process: then it throws
   * RedisDataLostError (a subscriber must not wait for ever for versions a
   * lost object will never have).
   */
  async *whileNotLost<E>(events: (signal: AbortSignal) => AsyncGenerator<E, void, undefined>, signal: AbortSignal | undefined): AsyncGenerator<E, void, undefined> {
    checkWaitOptions(signal === undefined ? undefined : { signal })
    const status = this.status
    const lost = new AbortController()
    let done = false
    // Wakes when markLost() notifies; re-armed after other wake-ups (the notify below ends it).
    void (async () => {
      while (!done && Atomics.load(status, Status.LOST) === 0) {
        const wait = Atomics.waitAsync(status, Status.LOST, 0)
        if (wait.async) await wait.value
      }
      if (!done) lost.abort()
    })()
    try {
      this.checkNotLost()
      const combined = signal === undefined ? lost.signal : AbortSignal.any([signal, lost.signal])
      yield* events(combined)
      if (lost.signal.aborted && !signal?.aborted) this.checkNotLost()
    } finally {
      done = true
      Atomics.notify(status, Status.LOST)
    }
  }

  /**
   * Runs `command` on this thread's connection, retried after connection
   * failures until the write timeout (a write passes its operation id:
   * unanswered, it is then an unknown outcome). Data found lost marks the
   * object lost.
   */
  protected async run<T>(command: (link: RedisLink) => Promise<unknown>, operationId?: string): Promise<T> {
    let tries = 0
    // A failure while getting the connection applied nothing (sendGate, call.ts).
    const { attempt, sent } = sendGate(
      () => {
        if (tries++ > 0 && operationId !== undefined) Atomics.add(this.status, Status.RETRIES, 1)
        return this.link()
      },
      command,
    )
    // A write: the bridge defers its reads' work until this thread's writes are answered (in-flight.ts).
    if (operationId !== undefined) writeStarted()
    try {
      return (await withRetries(attempt, { timeoutMs: this.spec.timeoutMs, what: this.spec.what, sent, ...(operationId === undefined ? {} : { operationId }) })) as T
    } catch (error) {
      if (error instanceof RedisDataLostError) this.markLost()
      throw error
    } finally {
      if (operationId !== undefined) writeEnded()
    }
  }

  /**
   * Whether a stream entry belongs to another epoch than this process opened
   * (the object was lost and recreated under the same name while the bridge
   * kept reading the stream): then the object is marked lost, and the entry
   * must not be applied. Entries carry their epoch (`e`); one without it is
   * taken as this epoch's.
   */
  foreignEntry(fields: readonly Buffer[]): boolean {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i]!.length === 1 && fields[i]![0] === 0x65 /* 'e' */) {
        if (fields[i + 1]!.toString() === this.spec.epoch) return false
        this.markLost()
        return true
      }
    }
    return false
  }

  /**
   * The id and version of the newest stream entry this thread has seen. In
   * one epoch's stream, ids and versions grow together; an entry with a later
   * id and a version not above is not this stream's continuation: the keys
   * were recreated (another epoch), or a failover promoted a replica that
   * had not received the last commits, and versions went back.
   */
  private newest: { id: string; version: number } | undefined

  /**
   * Records stream entry `id` at `version`. @returns false if it cannot be
   * an entry of the stream this thread saw before (a later id with a version
   * not above the newest seen, or the same id with another version)
   */
  protected saw(id: string, version: number): boolean {
    const newest = this.newest
    if (newest === undefined || id === '0-0') {
      if (newest === undefined) this.newest = { id, version }
      return true
    }
    const order = compareIds(id, newest.id)
    if (order > 0) {
      if (version <= newest.version) return false
      this.newest = { id, version }
      return true
    }
    return order === 0 ? version === newest.version : version < newest.version
  }

  /**
   * Marks the object lost and throws: its versions went back on the server
   * with its epoch unchanged (a failover to a replica that had not received
   * the last commits, or data restored from an older copy).
   * @throws RedisDataLostError always
   */
  versionsWentBack(found: string): never {
    this.markLost()
    throw new RedisDataLostError(
      `Expected ${this.spec.what}'s versions never to go back, got ${found}: the server lost commits it had acknowledged (a failover to a replica that had not received them, or data restored from an older copy); open it again`,
    )
  }

  /** The version this process's mirror holds (the server's may never be lower). */
  protected localVersion(): number {
    return 0
  }

  /** Fields of the object's meta hash, after checking its epoch (RedisDataLostError if gone or replaced). */
  async meta(fields: readonly string[]): Promise<(Buffer | null)[]> {
    const [epoch, ...rest] = await this.run<(Buffer | null)[]>((link) => link.send(['HMGET', this.keys.meta, 'epoch', ...fields]))
    if (epoch === null || epoch === undefined || epoch.toString() !== this.spec.epoch) {
      this.markLost()
      throw replyError(new Error(`THREADSTATE_EPOCH ${epoch == null ? 'nil' : epoch.toString()}`), this.spec.what)
    }
    return rest
  }

  /**
   * The server's version of the object, after checking its epoch, and that
   * it is not below the mirror's.
   * @throws RedisDataLostError (the object marked lost) if either check fails
   */
  async serverVersion(): Promise<number> {
    // What the mirror held before asking: the server had all of it (it may apply more meanwhile).
    const local = this.localVersion()
    const [found] = await this.meta(['version'])
    const version = Number(found?.toString() ?? '0')
    if (version < local) this.versionsWentBack(`version ${version} on the server with this process at ${local}`)
    return version
  }

  /** A server timestamp (microseconds, as the scripts give it) on this machine's wall clock (ms). */
  localTime(micros: Buffer | string | number): number {
    return Number(micros.toString()) / 1000 - this.spec.clockOffsetMs
  }
}

/** Orders two stream ids (`<ms>-<seq>`): negative, 0 or positive. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  return Number(am) - Number(bm) || Number(as) - Number(bs)
}

/** The version field (`v`) of a stream entry (NaN if none). */
export function versionOf(fields: readonly Buffer[]): number {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.length === 1 && fields[i]![0] === 0x76 /* 'v' */) return Number(fields[i + 1]!.toString())
  return NaN
}
