/**
 * RedisTriggerFlags: TriggerFlags whose truth is on a Redis server: `set`
 * from any process, `take` by exactly one taker across every process (a
 * read-and-clear in one script, FLAGS_CHANGE in machine-scripts.ts); `test`,
 * `peek` and the waits read a mirror in this process's shared memory.
 *
 * The mirror is one 64-bit word, `version << 32 | bits`, moved only forward
 * by compareExchange: every commit carries the whole set of bits, so the
 * newest version any thread applies is the truth as of that version, and
 * appliers racing (the bridge, a writing thread) never move it back.
 *
 * ```
 *  mirror (SharedArrayBuffer, 16 bytes)
 *  BigUint64 0   STATE     version << 32 | bits (bit i = names[i])
 *  Int32     2   CHANGES   bumped after every change applied (waits sleep on it)
 *  Int32     3   WAITERS   threads sleeping on CHANGES
 * ```
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { HandleError, OptionError, describe } from '../errors.js'
import { waitUntil, waitUntilAsync } from '../sync/version-wait.js'
import { checkWaitOptions, type AsyncWaitOptions } from '../sync/wait.js'
import type { RedisLink } from './client.js'
import { evalScript } from './call.js'
import { FLAGS_CHANGE } from './machine-scripts.js'
import { RemoteObject, Status, attachedLink, attachingRemote, checkRemoteHandle, operationKey, statusFigures, type RemoteHandle, type RemoteSpec } from './remote.js'

/** Word offsets of the flags mirror (see the module comment). */
const FlagsMirror = { STATE: 0, CHANGES: 2, WAITERS: 3, BYTES: 16 } as const

/** The structured-cloneable handle of RedisTriggerFlags: `RedisTriggerFlags.attach(handle)` in a worker. */
export interface RedisTriggerFlagsHandle<F extends string = string> extends RemoteHandle {
  /** Always `'RedisTriggerFlags'`. */
  readonly kind: 'RedisTriggerFlags'
  /** The flag names, bit i for names[i]. */
  readonly names: readonly F[]
  /** The mirror (16 bytes). */
  readonly mirror: SharedArrayBuffer
}

/** Figures of RedisTriggerFlags in this process. */
export interface RedisTriggerFlagsStats<F extends string = string> {
  /** The flags set now (the mirror's). */
  readonly set: F[]
  /** Changes committed on the server so far (the mirror's version). */
  readonly version: number
  /** Changes the bridge applied to the mirror. */
  readonly bridged: number
  /** Changes this process's threads applied themselves. */
  readonly ownApplied: number
  /** Writes resent after a lost connection (deduplicated on the server). */
  readonly retries: number
  /** Whether the data on the server was found gone or replaced. */
  readonly lost: boolean
}

/** Checks flag names (as in memory: 1 to 31, unique strings). @throws OptionError */
export function checkFlagNames(names: unknown): readonly string[] {
  if (!Array.isArray(names) || names.length === 0 || names.length > 31 || !names.every((n) => typeof n === 'string')) {
    throw new OptionError(`Expected 1 to 31 flag names, got ${describe(names)}`)
  }
  if (new Set(names).size !== names.length) throw new OptionError(`Expected unique flag names, got ${describe(names)}`)
  return names as readonly string[]
}

/** A new mirror. */
export function flagsMirror(): SharedArrayBuffer {
  return new SharedArrayBuffer(FlagsMirror.BYTES)
}

/** One thread's access to remote trigger flags. */
export class RemoteFlags extends RemoteObject {
  private readonly state: BigUint64Array
  private readonly words: Int32Array

  constructor(spec: RemoteSpec, mirror: SharedArrayBuffer, status: Int32Array, link: () => Promise<RedisLink>) {
    super(spec, status, link)
    this.state = new BigUint64Array(mirror, 0, 1)
    this.words = new Int32Array(mirror)
  }

  /** The mirror's bits. */
  bits(): number {
    return Number(Atomics.load(this.state, FlagsMirror.STATE) & 0xffffffffn)
  }

  /** The mirror's version. */
  version(): number {
    return Number(Atomics.load(this.state, FlagsMirror.STATE) >> 32n)
  }

  /** Applies the bits the server had at `version`, if the mirror is older. @returns whether it changed */
  apply(version: number, bits: number): boolean {
    const next = (BigInt(version) << 32n) | BigInt(bits >>> 0)
    for (;;) {
      const word = Atomics.load(this.state, FlagsMirror.STATE)
      if (word >> 32n >= BigInt(version)) return false
      if (Atomics.compareExchange(this.state, FlagsMirror.STATE, word, next) !== word) continue
      Atomics.add(this.words, FlagsMirror.CHANGES, 1)
      if (Atomics.load(this.words, FlagsMirror.WAITERS) !== 0) Atomics.notify(this.words, FlagsMirror.CHANGES)
      return true
    }
  }

  /**
   * Sets the bits of `set` and clears those of `take` in one step on the
   * server. @returns the bits before; the mirror holds the change when this resolves
   */
  async change(set: number, take: number): Promise<number> {
    this.checkNotLost()
    const operationId = randomUUID()
    const k = this.keys
    const [kind, version, old] = await this.run<[number, number, number]>(
      (link) =>
        evalScript(link, FLAGS_CHANGE, [k.meta, k.log, operationKey(this.spec.tag, operationId)], [this.spec.epoch, operationId, this.spec.operationTtlMs, this.spec.streamLength, set, take]),
      operationId,
    )
    const bits = kind === 1 ? ((old | set) & ~take) : old
    if (this.apply(version, bits)) Atomics.add(this.status, Status.OWN, 1)
    return old
  }

  /** Applies the newest of stream entries read by the bridge. */
  applyEntries(entries: readonly (readonly [string, readonly Buffer[]])[]): void {
    const last = entries[entries.length - 1]
    if (last === undefined || this.foreignEntry(last[1])) return // another epoch's stream: marked lost, not applied
    let version = 0
    let bits = 0
    for (let i = 0; i + 1 < last[1].length; i += 2) {
      const name = last[1][i]!.toString()
      if (name === 'v') version = Number(last[1][i + 1]!.toString())
      else if (name === 'b') bits = Number(last[1][i + 1]!.toString())
    }
    if (this.apply(version, bits)) Atomics.add(this.status, Status.BRIDGED, 1)
  }

  /** Brings the mirror to the server's bits. @returns the server's version */
  async sync(): Promise<number> {
    this.checkNotLost()
    const [version, bits] = await this.meta(['version', 'bits'])
    const v = Number(version?.toString() ?? '0')
    this.apply(v, Number(bits?.toString() ?? '0'))
    return v
  }

  /** Brings the mirror to the server's bits if it is behind `target` (the bridge's idle check). */
  async catchUp(target: number): Promise<void> {
    if (this.version() < target) await this.sync()
  }

  /** Waits (blocking) until `done()` holds. */
  waitUntil(done: () => boolean, timeoutMs?: number): boolean {
    return waitUntil(this.words, FlagsMirror.CHANGES, FlagsMirror.WAITERS, done, timeoutMs)
  }

  /** Waits (async) until `done()` holds. */
  waitUntilAsync(done: () => boolean, options: AsyncWaitOptions): Promise<boolean> {
    return waitUntilAsync(this.words, FlagsMirror.CHANGES, FlagsMirror.WAITERS, done, options)
  }
}

/**
 * Named flags on a Redis server, shared by every process that opens them
 * (`RedisDomain.triggerFlags(name, names)`): the in-memory
 * `TriggerFlags` API, with writes async. `set` from anywhere; `take`
 * and `takeAll` read and clear on the server in one step, so each set flag
 * is taken exactly once across every process. `test`, `peek` and the waits
 * read this process's mirror (the server may be ahead: {@link sync}).
 *
 * @example
 * ```ts
 * const triggers = await redis.triggerFlags('robot-triggers', ['calibrate', 'walk', 'stop'])
 * await triggers.set('walk')                      // any process
 * for (const t of await triggers.takeAll()) ...   // supervisor: each set flag exactly once
 * ```
 */
export class RedisTriggerFlags<F extends string = string> {
  /** Send this to a worker; `RedisTriggerFlags.attach(handle)` there. */
  readonly handle: RedisTriggerFlagsHandle<F>
  /** The flag names. */
  readonly names: readonly F[]
  private readonly remote: RemoteFlags
  private readonly bitOf: ReadonlyMap<string, number>
  private readonly status: Int32Array

  /** @internal use `RedisDomain.triggerFlags` or {@link RedisTriggerFlags.attach} */
  constructor(handle: RedisTriggerFlagsHandle<F>, remote: RemoteFlags | undefined) {
    this.handle = handle
    this.names = handle.names
    this.status = new Int32Array(handle.status)
    this.remote = remote ?? new RemoteFlags(handle.spec, handle.mirror, this.status, attachedLink(handle))
    this.bitOf = new Map(handle.names.map((n, i) => [n, 1 << i]))
  }

  /**
   * Rebuilds the flags from their handle in another thread of the same process.
   * @throws HandleError for something that is not such a handle
   */
  static attach<F extends string = string>(handle: RedisTriggerFlagsHandle<F>): RedisTriggerFlags<F> {
    return attachingRemote('RedisTriggerFlags', () => {
      // One plain copy, checked, is all the flags read (remote.ts copyRemoteHandle).
      const copy = checkRemoteHandle(handle, 'RedisTriggerFlags') as unknown as RedisTriggerFlagsHandle<F>
      if (!(copy.mirror instanceof SharedArrayBuffer) || copy.mirror.byteLength < FlagsMirror.BYTES) {
        throw new HandleError(`Expected a RedisTriggerFlags handle whose \`mirror\` is a SharedArrayBuffer of ${FlagsMirror.BYTES} bytes, got ${describe(copy.mirror)}`)
      }
      try {
        checkFlagNames(copy.names)
      } catch (error) {
        throw new HandleError(`Expected a RedisTriggerFlags handle with valid names, got: ${(error as Error).message}`)
      }
      return new RedisTriggerFlags<F>(copy, undefined)
    })
  }

  /** The name they were opened by. */
  get name(): string {
    return this.handle.spec.name
  }

  private bit(name: F): number {
    const bit = this.bitOf.get(name)
    if (bit === undefined) throw new OptionError(`Expected a flag of ${JSON.stringify(this.names)}, got ${describe(name)}`)
    return bit
  }

  /** Sets `name` on the server. @returns whether it was already set */
  async set(name: F): Promise<boolean> {
    const bit = this.bit(name)
    return ((await this.remote.change(bit, 0)) & bit) !== 0
  }

  /** Clears `name` on the server. @returns whether it was set: of several takers in any processes, exactly one gets true per set */
  async take(name: F): Promise<boolean> {
    const bit = this.bit(name)
    return ((await this.remote.change(0, bit)) & bit) !== 0
  }

  /** Reads and clears every flag on the server in one step. @returns those that were set */
  async takeAll(): Promise<F[]> {
    const old = await this.remote.change(0, 0x7fffffff)
    return this.names.filter((_, i) => (old & (1 << i)) !== 0)
  }

  /** Whether `name` is set, in the mirror (without clearing it). */
  test(name: F): boolean {
    return (this.remote.bits() & this.bit(name)) !== 0
  }

  /** The flags set now, in the mirror. */
  peek(): F[] {
    const now = this.remote.bits()
    return this.names.filter((_, i) => (now & (1 << i)) !== 0)
  }

  /** Blocks until the mirror has some flag set, at most `timeoutMs`; false on timeout. Does not clear. */
  waitAny(timeoutMs?: number): boolean {
    return this.remote.waitUntil(() => this.remote.bits() !== 0, timeoutMs)
  }

  /** Async form of {@link waitAny}; keeps a Node process alive while waiting. */
  waitAnyAsync(options: AsyncWaitOptions = {}): Promise<boolean> {
    options = checkWaitOptions(options)
    return this.remote.waitUntilAsync(() => this.remote.bits() !== 0, options)
  }

  /** Resolves once the mirror holds the server's flags as they were when called. @returns the server's version */
  sync(): Promise<number> {
    return this.remote.sync()
  }

  /** Whether the data on the server was found gone or replaced (writes reject with RedisDataLostError). */
  get lost(): boolean {
    return Atomics.load(this.status, Status.LOST) !== 0
  }

  /** Figures of this process's mirror. */
  stats(): RedisTriggerFlagsStats<F> {
    const { bridged, ownApplied, retries, lost } = statusFigures(this.status)
    return { set: this.peek(), version: this.remote.version(), bridged, ownApplied, retries, lost }
  }
}
