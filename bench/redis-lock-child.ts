/**
 * The waiting process of `redis/lock-handoff` (redis-locks.ts forks it): it
 * opens the lock the parent holds, and per sample, told `{ wait }`, says
 * `{ waiting }`, waits for the lock (a threadstate RedisMutex, or
 * redis-semaphore's Mutex, which polls), stamps the acquisition on
 * `process.hrtime.bigint()` minus the parent's base (CLOCK_MONOTONIC: one
 * clock for every process of the machine), reports `{ acquired, at }`,
 * releases at once and reports `{ released }`.
 *
 * argv: url, namespace, lock name, kind ('threadstate' | 'redis-semaphore'), base (ns).
 *
 * @module
 */
import { Redis } from 'ioredis'
import { Mutex as SemaphoreMutex } from 'redis-semaphore'
import { RedisDomain } from 'threadstate/redis'

async function main(): Promise<void> {
  const [url, namespace, name, kind, baseText] = process.argv.slice(2)
  if (url === undefined || namespace === undefined || name === undefined || baseText === undefined || (kind !== 'threadstate' && kind !== 'redis-semaphore')) {
    throw new Error(`Expected redis-lock-child.js url namespace name threadstate|redis-semaphore base, got ${process.argv.slice(2).join(' ')}`)
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
