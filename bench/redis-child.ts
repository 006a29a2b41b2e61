/**
 * Process B of `redis/propagation` (redis-procs.ts forks it): it opens the
 * map process A writes and a pair of bare ioredis connections, then runs two
 * loops side by side, each answering one of A's variants:
 *
 * - map: waits in `waitForVersionAsync` for A's next commit of key `p`
 *   (whose value is A's clock when it called `set`), stamps its arrival,
 *   writes `ack` (the version it saw) back through the map, and reports the
 *   one-way time to A over IPC;
 * - stream: blocked in `XREAD BLOCK 0` on stream `a2b`, stamps each entry's
 *   arrival, `XADD`s an ack to `b2a` and reports the same way.
 *
 * The clock is `process.hrtime.bigint()` minus a base A passes: Linux's
 * CLOCK_MONOTONIC, one clock for every process of the machine, so A's stamp
 * and B's are comparable without any offset.
 *
 * argv: url, namespace, map name, stream a2b, stream b2a, base (ns).
 * IPC to A: `{ kind: 'ready' }`, then per sample
 * `{ kind: 'map' | 'stream', seq, oneWayNs }`; from A: `'exit'`.
 *
 * @module
 */
import { Redis } from 'ioredis'
import { RedisDomain } from 'threadstate/redis'

/** What B reports per sample. */
export interface ChildReport {
  readonly kind: 'map' | 'stream'
  /** The map version or the stream entry's sequence number. */
  readonly seq: number
  /** Arrival on B's clock − A's stamp, ns. */
  readonly oneWayNs: number
}

async function main(): Promise<void> {
  const [url, namespace, mapName, a2b, b2a, baseText] = process.argv.slice(2)
  if (url === undefined || namespace === undefined || mapName === undefined || a2b === undefined || b2a === undefined || baseText === undefined) {
    throw new Error(`Expected redis-child.js url namespace map a2b b2a base, got ${process.argv.slice(2).join(' ')}`)
  }
  const send = process.send?.bind(process)
  if (send === undefined) throw new Error('Expected redis-child.js to be forked with an IPC channel')
  const base = BigInt(baseText)
  const now = (): number => Number(process.hrtime.bigint() - base)
  const domain = await RedisDomain.connect({ url, namespace })
  const map = await domain.sharedMap<number>(mapName)
  const reader = new Redis(url, { lazyConnect: true })
  const writer = new Redis(url, { lazyConnect: true })
  reader.on('error', () => {})
  writer.on('error', () => {})
  await Promise.all([reader.connect(), writer.connect()])
  /** Set once A said exit: the loops' pending reads then fail (connections closed) and are ignored. */
  let closing = false

  const mapLoop = async (): Promise<void> => {
    // A's commits and B's acks alternate: A writes p at v, B acks at v + 1, A's next p is v + 2.
    let next = map.version + 1
    for (;;) {
      await map.waitForVersionAsync(next)
      const arrived = now()
      const entry = map.getEntry('p')
      if (entry === undefined || entry.version !== next) throw new Error(`Expected A's write of p at version ${next}, got ${entry?.version}`)
      const ack = map.set('ack', entry.version)
      send({ kind: 'map', seq: entry.version, oneWayNs: arrived - entry.value } satisfies ChildReport)
      next = (await ack) + 1
    }
  }

  const streamLoop = async (): Promise<void> => {
    let last = '0-0'
    for (;;) {
      const reply = await reader.xread('BLOCK', 0, 'STREAMS', a2b, last)
      const arrived = now()
      const entries = reply?.[0]?.[1]
      if (entries === undefined || entries.length !== 1) throw new Error(`Expected one entry of ${a2b} per wake-up, got ${entries?.length ?? 'none'}`)
      const [id, fields] = entries[0]!
      last = id
      const seq = Number(fields[3])
      const ack = writer.xadd(b2a, '*', 's', seq)
      send({ kind: 'stream', seq, oneWayNs: arrived - Number(fields[1]) } satisfies ChildReport)
      await ack
    }
  }

  process.on('message', (message) => {
    if (message !== 'exit' || closing) return
    closing = true
    void (async () => {
      reader.disconnect()
      writer.disconnect()
      await domain.close()
      process.exit(0)
    })()
  })
  for (const loop of [mapLoop, streamLoop]) {
    loop().catch((error: unknown) => {
      if (closing) return
      console.error('redis-child:', error)
      process.exit(1)
    })
  }
  send({ kind: 'ready' })
}

await main()
