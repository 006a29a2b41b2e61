/**
 * The per-process bridge: connections blocked in `XREAD BLOCK` on the
 * streams of every object the process follows, applying each commit to its
 * object's mirror in version order. A Stream, not pub/sub: pub/sub drops
 * what is published while a connection is down, a stream is read on from
 * the last id applied, so a reconnect (or a `CLIENT KILL` of this
 * connection) misses nothing.
 *
 * On one server, one connection reads every stream: a new object joins at
 * once, the XREAD in progress being ended with `CLIENT UNBLOCK` (from the
 * command connection) and a new one sent with its stream added. On a Redis
 * Cluster one XREAD cannot span slots, and every object has its own slot:
 * each object's stream gets a connection of its own (a {@link Lane}), which
 * ioredis's `Cluster` sends to the slot's owner and follows to its new
 * owner after a failover. When a read times out (an idle second) and after
 * every reconnect, each object checks its epoch (its data may be gone).
 *
 * @module
 */
import type { RedisLink } from './client.js'
import { writesSettled } from './in-flight.js'

/** One stream the bridge follows. */
export interface Followed {
  /** The stream's key. */
  readonly log: string
  /** The id of the last entry read (the next XREAD starts after it). */
  position: string
  /** Applies entries read from the stream, in order (may reload the mirror). */
  apply(entries: readonly (readonly [string, readonly Buffer[]])[]): Promise<void>
  /** Checks that the object's data still exists on the server (its epoch); called when idle and after reconnects. */
  check(): Promise<void>
}

const BLOCK_MS = 1000
const COUNT = 512

/** The bridge of one domain: one {@link Lane} for every stream, or on a cluster one per stream. */
export class Bridge {
  private shared: Lane | undefined
  private readonly lanes = new Map<string, Lane>()
  /** Figures of lanes closed since (a cluster's unfollowed streams). */
  private past = { applied: 0, errors: 0 }

  constructor(
    /** A new blocking connection (no command timeout) to the server or cluster. */
    private readonly open: () => RedisLink,
    /** The domain's command connection. */
    private readonly commands: RedisLink,
  ) {}

  /** Streams followed. */
  get following(): number {
    return this.commands.cluster ? this.lanes.size : (this.shared?.following ?? 0)
  }

  /** Commits applied from the streams (figures). */
  get applied(): number {
    let n = this.past.applied + (this.shared?.applied ?? 0)
    for (const lane of this.lanes.values()) n += lane.applied
    return n
  }

  /** Errors of the read loops (a dropped connection, say): each reconnects and reads on. */
  get errors(): number {
    let n = this.past.errors + (this.shared?.errors ?? 0)
    for (const lane of this.lanes.values()) n += lane.errors
    return n
  }

  /** Starts following `f` (at `f.position`). */
  follow(f: Followed): void {
    if (!this.commands.cluster) {
      this.shared ??= new Lane(this.open(), this.commands)
      this.shared.follow(f)
      return
    }
    let lane = this.lanes.get(f.log)
    if (lane === undefined) {
      lane = new Lane(this.open(), undefined)
      this.lanes.set(f.log, lane)
    }
    lane.follow(f)
  }

  /** Stops following `log`. */
  unfollow(log: string): void {
    if (!this.commands.cluster) {
      this.shared?.unfollow(log)
      return
    }
    const lane = this.lanes.get(log)
    if (lane === undefined) return
    this.lanes.delete(log)
    void lane.close().then(() => {
      this.past = { applied: this.past.applied + lane.applied, errors: this.past.errors + lane.errors }
    })
  }

  /** Stops reading and closes the bridge's connections. */
  async close(): Promise<void> {
    const all = [...this.lanes.values(), ...(this.shared === undefined ? [] : [this.shared])]
    this.lanes.clear()
    await Promise.all(all.map((lane) => lane.close()))
  }
}

/** One blocking connection and the streams it reads. */
class Lane {
  private readonly followed = new Map<string, Followed>()
  private closed = false
  private clientId: number | undefined
  private reading = false
  private checkDue = false
  /** A CLIENT UNBLOCK was sent for the read in progress. */
  private interrupted = false
  private wake: (() => void) | undefined
  private readonly done: Promise<void>
  /** Resolves (CLOSED) when the lane is closed: a read in progress is given up. */
  private readonly stopped: Promise<typeof CLOSED>
  private stop: () => void = () => {}
  /** Commits applied from the stream (figures). */
  applied = 0
  /** Errors of the read loop (a dropped connection, say): it reconnects and reads on. */
  errors = 0

  constructor(
    /** The lane's own connection, for blocking reads (no command timeout). */
    private readonly blocking: RedisLink,
    /** The domain's command connection, to end a read with CLIENT UNBLOCK; undefined for a lane of one stream (nothing joins it later). */
    private readonly commands: RedisLink | undefined,
  ) {
    blocking.onReady(() => {
      this.clientId = undefined
      this.checkDue = true
    })
    this.stopped = new Promise((resolve) => (this.stop = () => resolve(CLOSED)))
    this.done = this.loop()
  }

  /** Streams followed. */
  get following(): number {
    return this.followed.size
  }

  /** Starts following `f` (at `f.position`). */
  follow(f: Followed): void {
    this.followed.set(f.log, f)
    this.interrupt()
  }

  /** Stops following `log`. */
  unfollow(log: string): void {
    this.followed.delete(log)
  }

  /** Ends the XREAD in progress so the next one includes new streams. */
  private interrupt(): void {
    if (this.wake) {
      this.wake()
      return
    }
    if (this.reading && this.clientId !== undefined && this.commands !== undefined) {
      this.interrupted = true
      void this.commands.send(['CLIENT', 'UNBLOCK', this.clientId]).catch(() => {})
    }
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.closed) {
      if (this.followed.size === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve))
        this.wake = undefined
        continue
      }
      try {
        if (this.checkDue) {
          this.checkDue = false
          for (const f of [...this.followed.values()]) if (!this.closed) await f.check()
        }
        if (this.clientId === undefined && this.commands !== undefined) {
          const id = await this.guarded(this.blocking.send(['CLIENT', 'ID']))
          if (id === CLOSED) break
          this.clientId = Number(id)
        }
        const streams = [...this.followed.values()]
        this.reading = true
        const reply = await this.guarded(
          this.blocking.send(['XREAD', 'COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...streams.map((f) => f.log), ...streams.map((f) => f.position)]),
        )
        if (reply === CLOSED) break
        this.reading = false
        failures = 0
        // This thread's writers apply their own commits: let their replies through first (in-flight.ts).
        if (reply !== null) await writesSettled()
        if (reply === null) {
          // A read that timed out (an idle second: check the objects), or one
          // ended by follow() (a stream joined: read again at once).
          if (!this.interrupted) this.checkDue = true
          this.interrupted = false
          continue
        }
        this.interrupted = false
        for (const [name, entries] of streamsOf(reply)) {
          const f = this.followed.get(name.toString())
          if (f === undefined || entries.length === 0) continue
          f.position = entries[entries.length - 1]![0].toString()
          await f.apply(entries.map(([id, fields]) => [id.toString(), fields] as const))
          this.applied += entries.length
        }
      } catch {
        this.reading = false
        if (this.closed) break
        this.errors++
        this.checkDue = true
        this.clientId = undefined
        await new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** failures++, 500)))
      }
    }
  }

  /**
   * `read`, unless the lane is closed first (CLOSED) or no answer comes
   * within {@link READ_DEADLINE_MS} (an error: the loop reconnects). A read
   * can otherwise stay pending for ever: seen with ioredis when the server
   * died under a blocked XREAD, where neither the reconnecting connection
   * nor its `disconnect()` settled it, and `close()` never returned.
   */
  private guarded(read: Promise<unknown>): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`threadstate: no XREAD answer within ${READ_DEADLINE_MS} ms`)), READ_DEADLINE_MS)
    })
    return Promise.race([read, late, this.stopped]).finally(() => clearTimeout(timer))
  }

  /** Stops reading and closes the lane's connection. */
  async close(): Promise<void> {
    this.closed = true
    this.stop()
    this.wake?.()
    await this.blocking.close()
    await this.done
  }
}

/** What a read of a closed lane gives. */
const CLOSED = Symbol('closed')
/** The longest a blocked read may take past its BLOCK time before the lane gives it up and reconnects (ms). */
const READ_DEADLINE_MS = BLOCK_MS + 10_000

/**
 * The streams of an XREAD reply: RESP2 gives `[[name, entries], ...]`;
 * RESP3 a map, which ioredis 6 hands over flattened (`[name, entries, ...]`)
 * and node-redis as an object or a Map.
 */
function streamsOf(reply: unknown): [Buffer, [Buffer, Buffer[]][]][] {
  // node-redis with RESP3 gives the map as a Map or a plain object (keys as strings).
  if (reply instanceof Map) return [...reply].map(([name, entries]) => [Buffer.from(name as string | Buffer), entries as [Buffer, Buffer[]][]])
  if (!Array.isArray(reply)) return Object.entries(reply as Record<string, [Buffer, Buffer[]][]>).map(([name, entries]) => [Buffer.from(name), entries])
  if (reply.length > 0 && Buffer.isBuffer(reply[0])) {
    const out: [Buffer, [Buffer, Buffer[]][]][] = []
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([reply[i] as Buffer, reply[i + 1] as [Buffer, Buffer[]][]])
    return out
  }
  return reply as [Buffer, [Buffer, Buffer[]][]][]
}
