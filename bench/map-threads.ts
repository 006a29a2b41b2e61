/**
 * The threads of the map benches, main's side (see map.ts for the suite):
 * the three maps main times, the owner worker of the `postMessage`
 * alternative and the writer worker that writes flat out while main times
 * gets.
 *
 * ```
 *  main ──── get/set ────▶ SharedMap ◀──── set, flat out ──── writer (map-writer.ts)
 *       ──── get/set ────▶ MutexTable ◀─── set, flat out ────
 *       ── request/reply ─▶ owner (map-owner.ts, a plain Map) ◀── set request/reply ──
 * ```
 *
 * The writer is a crew of one (rounds: KIND says which map it writes, main
 * raises STOP to end the round). The owner lives in its event loop and
 * answers main over its parent port and the writer over a MessageChannel.
 * Every map starts with the same entries (map-values.ts).
 *
 * @module
 */
import { MessageChannel } from 'node:worker_threads'
import { SharedMap } from 'threadstate'
import { Crew } from './workers/crew.js'
import { MapWriterResults } from './workers/map-kinds.js'
import { RpcClient, type PortMessage } from './workers/map-rpc.js'
import { MutexTable } from './workers/map-table.js'
import { POOL, initialEntries, type Reading } from './workers/map-values.js'

const writerScript = new URL('./workers/map-writer.js', import.meta.url)
const ownerScript = new URL('./workers/map-owner.js', import.meta.url)

/** A value of the benches' maps. */
export type MapValue = number | Reading

/** What a writer round did. */
export interface WriterRound {
  /** Writes the writer completed. */
  readonly writes: number
  /** Wall time of the round on main, ms. */
  readonly ms: number
}

/** The maps, the owner and (if asked for) the writer of one case. */
export class MapRig {
  readonly map: SharedMap<MapValue>
  readonly table: MutexTable<MapValue>
  /** Main's client of the owner's plain Map. */
  readonly rpc: RpcClient
  private readonly owner: Crew
  private readonly writer: Crew | undefined
  private readonly results = new SharedArrayBuffer(MapWriterResults.BYTES)
  private roundStart = 0

  /** @param withWriter spawn the writer worker too (the get case) */
  constructor(withWriter: boolean) {
    const entries = initialEntries()
    this.map = SharedMap.create<MapValue>({ initialCapacity: 2 * POOL })
    this.map.setMany(entries)
    this.table = MutexTable.create<MapValue>(4 * POOL)
    this.table.update(entries)
    this.owner = new Crew(ownerScript, 1, {})
    this.rpc = new RpcClient(this.owner.worker(0))
    if (withWriter) {
      this.writer = new Crew(writerScript, 1, { map: this.map.handle, table: this.table.handle, results: this.results })
      const { port1, port2 } = new MessageChannel()
      const toOwner: PortMessage = { op: 'port', port: port1 }
      const toWriter: PortMessage = { op: 'port', port: port2 }
      this.owner.worker(0).postMessage(toOwner, [port1])
      this.writer.worker(0).postMessage(toWriter, [port2])
    }
  }

  /** Starts the writer writing map `kind` (MapWriterKind) flat out. */
  startWriter(kind: number): void {
    const writer = this.writerCrew()
    writer.start(kind, 0, () => {
      new Float64Array(this.results)[MapWriterResults.WRITES] = 0
    })
    this.roundStart = performance.now()
  }

  /** Stops the writer and returns what it did this round. */
  async stopWriter(): Promise<WriterRound> {
    const writer = this.writerCrew()
    writer.stop()
    const ms = performance.now() - this.roundStart
    await writer.finished()
    return { writes: new Float64Array(this.results)[MapWriterResults.WRITES]!, ms }
  }

  private writerCrew(): Crew {
    if (!this.writer) throw new Error('Expected a rig with a writer, got one without')
    return this.writer
  }

  /** Runs `body` with the workers ready, closing them afterwards (terminating them on failure). */
  async use<R>(body: () => Promise<R>): Promise<R> {
    const crews = this.writer ? [this.owner, this.writer] : [this.owner]
    try {
      await Promise.all(crews.map((c) => c.ready()))
      const result = await body()
      await Promise.all(crews.map((c) => c.close()))
      return result
    } catch (error) {
      await Promise.all(crews.map((c) => c.terminate()))
      throw error
    }
  }
}
