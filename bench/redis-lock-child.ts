/**
 * The waiting process of `redis/lock-handoff` (redis-locks.ts forks it): it
 * opens the lock the parent holds, and per sample, told `{ wait }`, says
 * `{ waiting }`, waits for the lock (a threadstate RedisMutex, or
 * redis-semaphore's Mutex, which polls), stamps the acquisition on
 * `process.hrtime.bigint()` minus the parent's base (CLOCK_MONOTONIC: one
 * clock for every process of the machine), reports `{ acquired, at }`,
 * releases at once and reports `{ released }`.
 *
 * argv: url, namespace, lock name (the stream name for `floor`), kind ('threadstate' |
 * 'redis-semaphore' | 'floor': a blocked XREAD woken by the parent's XADD, then one EVALSHA), base (ns).
 *
 * @module
 */
import { Redis } from 'ioredis'
import { Mutex as SemaphoreMutex } from 'redis-semaphore'
import { RedisDomain } from 'threadstate/redis'

async function main(): Promise<void> {
  const [url, namespace, name, kind, baseText] = process.argv.slice(2)
  if (url === undefined || namespace === undefined || name === undefined || baseText === undefined || (kind !== 'threadstate' && kind !== 'redis-semaphore' && kind !== 'floor')) {
    throw new Error(`Expected redis-lock-child.js url namespace name threadstate|redis-semaphore|floor base, got ${process.argv.slice(2).join(' ')}`)
  }
  const send = process.send?.bind(process)
  if (send === undefined) throw new Error('Expected redis-lock-child.js to be forked with an IPC channel')
  const base = BigInt(baseText)
  const now = (): number => Number(process.hrtime.bigint() - base)
  let lock: { acquire(): Promise<unknown>; release(): Promise<unknown>; close(): Promise<void> }
  if (kind === 'threadstate') {
    const domain = await RedisDomain.connect({ url, namespace })
    const mutex = await domain.mutex(name, { leaseMs: 10_000 })
    lock = { acquire: () => mutex.lockAsync(), release: () => mutex.unlock(), close: () => domain.close() }
  } else if (kind === 'floor') {
    // The least a notified hand-off costs: wait for the parent's XADD on stream `name` (blocked
    // XREAD), then one EVALSHA round trip (the acquisition). "release" does nothing.
    const reader = new Redis(url)
    const writer = new Redis(url)
    const sha = String(await writer.script('LOAD', 'return 1'))
    let last = '$'
    lock = {
      acquire: async () => {
        const reply = (await reader.xread('BLOCK', 0, 'STREAMS', name, last)) as [string, [string, string[]][]][] | null
        const entries = reply?.[0]?.[1]
        if (entries !== undefined && entries.length > 0) last = entries[entries.length - 1]![0]
        await writer.evalsha(sha, 0)
      },
      release: async () => undefined,
      close: async () => {
        reader.disconnect()
        writer.disconnect()
      },
    }
  } else {
    const client = new Redis(url)
    const mutex = new SemaphoreMutex(client, name, { lockTimeout: 10_000, acquireTimeout: 10_000 })
    lock = { acquire: () => mutex.acquire(), release: () => mutex.release(), close: async () => void client.disconnect() }
  }
  process.on('message', (message: { wait?: number; exit?: true }) => {
    if (message.exit) {
      void lock.close().then(() => process.exit(0))
      return
    }
    const i = message.wait!
    void (async () => {
      send({ waiting: i })
      await lock.acquire()
      send({ acquired: i, at: now() })
      await lock.release()
      send({ released: i })
    })()
  })
  send({ ready: true })
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
