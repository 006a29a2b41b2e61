/**
 * The worker thread of `redis/worker` (redis-procs.ts starts it): it
 * attaches the map main opened and times one awaited `set` at a time, two
 * ways, alternating sample by sample (the order swapping each sample):
 *
 * - own: `map.set(key, value)` on the attached map, which writes through the
 *   thread's own connection (thread-links.ts: opened at the first write) and
 *   applies the commit to the shared mirror itself;
 * - forwarded: posts `{ id, key, value }` to main over a MessagePort; main
 *   calls `map.set` and posts back `{ id, version }`.
 *
 * Each phase starts when main posts `{ phase }` on the parent port and ends
 * with `{ phase, own, forwarded }` (ms per sample) posted back; `'exit'`
 * closes the thread's connection and the port so the thread ends.
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { RedisSharedMap, closeThreadConnections, type RedisSharedMapHandle } from 'threadstate/redis'

/** What main passes. */
export interface RedisWorkerData {
  readonly handle: RedisSharedMapHandle<number>
  /** The forwarding channel's worker end (transferred). */
  readonly port: MessagePort
  readonly warmup: number
  readonly samples: number
}

/** A forwarded write (worker → main) and its answer (main → worker). */
export interface ForwardRequest {
  readonly id: number
  readonly key: string
  readonly value: number
}
export interface ForwardReply {
  readonly id: number
  readonly version: number
}

/** A phase's samples (worker → main). */
export interface PhaseResult {
  readonly phase: string
  readonly own: number[]
  readonly forwarded: number[]
}

function main(data: RedisWorkerData): void {
  const parent = parentPort
  if (!parent) throw new Error('Expected redis-worker.js to run in a worker thread')
  const map = RedisSharedMap.attach(data.handle)
  const port = data.port
  let nextId = 0
  let pending: ((reply: ForwardReply) => void) | undefined
  port.on('message', (reply: ForwardReply) => {
    const resolve = pending
    pending = undefined
    resolve?.(reply)
  })
  const forward = (key: string, value: number): Promise<ForwardReply> =>
    new Promise((resolve) => {
      pending = resolve
      port.postMessage({ id: nextId++, key, value } satisfies ForwardRequest)
    })

  const own = async (i: number): Promise<number> => {
    const key = `own/${i & 255}`
    const t0 = performance.now()
    const version = await map.set(key, i)
    const elapsed = performance.now() - t0
    // Read-your-writes: the worker's own commit is in the shared mirror when set resolves.
    if (map.get(key) !== i || map.version < version) throw new Error(`Expected the worker's own write of ${key} in the mirror, got ${map.get(key)}`)
    return elapsed
  }
  const forwarded = async (i: number): Promise<number> => {
    const key = `fwd/${i & 255}`
    const id = nextId
    const t0 = performance.now()
    const reply = await forward(key, i)
    const elapsed = performance.now() - t0
    if (reply.id !== id || map.version < reply.version || map.get(key) !== i) throw new Error(`Expected main's write of ${key} for request ${id} in the mirror, got reply ${reply.id}`)
    return elapsed
  }

  const runPhase = async (phase: string): Promise<void> => {
    const result: PhaseResult = { phase, own: [], forwarded: [] }
    for (let i = 0; i < data.warmup + data.samples; i++) {
      const a = i % 2 === 0 ? await own(i) : await forwarded(i)
      const b = i % 2 === 0 ? await forwarded(i) : await own(i)
      if (i < data.warmup) continue
      result.own.push(i % 2 === 0 ? a : b)
      result.forwarded.push(i % 2 === 0 ? b : a)
    }
    parent.postMessage(result)
  }

  parent.on('message', (message: { phase: string } | 'exit') => {
    if (message === 'exit') {
      void closeThreadConnections().then(() => {
        port.close()
        parent.close()
      })
      return
    }
    runPhase(message.phase).catch((error: unknown) => {
      // Rethrown outside the promise: the worker's 'error' event tells main.
      setImmediate(() => {
        throw error
      })
    })
  })
}

main(workerData as RedisWorkerData)
