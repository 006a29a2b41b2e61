/**
 * Node variant of `#platform`, chosen by the `node` import condition. It tells
 * the core the Node `threadId` of the calling thread, so that
 * `superviseWorker()` (in `threadstate/node`) can find which threadstate
 * thread ids belonged to a worker that exited. Browsers get `./neutral.ts`.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { getEnvironmentData, receiveMessageOnPort, setEnvironmentData, threadId, type Worker } from 'node:worker_threads'

/** The runtime's own id of the calling thread: Node's `threadId` (0 = main). */
export function nativeThreadId(): number | undefined {
  return threadId
}

/**
 * Whether the CPU keeps plain loads and stores in program order around
 * atomics: true on x86 (TSO), false elsewhere (ARM64 reorders them), so
 * seqlock readers may skip their fence only where that is known.
 */
export const strongMemoryOrdering = process.arch === 'x64' || process.arch === 'ia32'

/**
 * Takes the oldest message queued on `channel` (a `BroadcastChannel`) without
 * returning to the event loop, as `{ message }`, or undefined if none is
 * queued: `receiveMessageOnPort`, which Node documents for a `MessagePort` or
 * a `BroadcastChannel`. A message posted on a channel is queued at every other
 * open channel of that name before `postMessage` returns (checked on Node 20:
 * 10,000 handshakes, none missed), so a thread in a tight loop sees it on its
 * next call.
 */
export function receiveMessageSync(channel: object): { readonly message: unknown } | undefined {
  // @types/node types the argument as MessagePort only; BroadcastChannel is documented too.
  return receiveMessageOnPort(channel as Parameters<typeof receiveMessageOnPort>[0])
}

/** Whether {@link receiveMessageSync} can take messages without returning to the event loop: yes in Node. */
export const canReceiveMessagesSync = true

/**
 * Calls `listener` with the Node `threadId` of every Worker this thread
 * creates from now on, once it has exited (normally, by `terminate()` or by
 * a crash): Node announces each new Worker to its creating thread
 * (`process.on('worker')`). The listeners keep nothing alive.
 */
export function onWorkerExit(listener: (nativeThreadId: number) => void): void {
  process.on('worker', (worker: Worker) => {
    // Read now: after the worker stops, worker.threadId may no longer name it.
    const id = worker.threadId
    worker.once('exit', () => listener(id))
  })
}

let limit: number | null | undefined

/**
 * The most memory mappings this process may have: Linux's
 * `vm.max_map_count` (read once), or undefined off Linux (no such limit to
 * read: growable buffers then get a count-based budget, `memory/growable.ts`).
 */
export function mappingLimit(): number | undefined {
  if (limit === undefined) {
    try {
      const value = Number.parseInt(readFileSync('/proc/sys/vm/max_map_count', 'latin1'), 10)
      limit = Number.isInteger(value) && value > 0 ? value : null
    } catch {
      limit = null
    }
  }
  return limit ?? undefined
}

/**
 * Memory mappings this process has now: the lines of `/proc/self/maps`, or
 * undefined where that cannot be read. Costs ~1 ms per 5,000 mappings: call
 * it rarely.
 */
export function mappingsInUse(): number | undefined {
  let maps: Buffer
  try {
    maps = readFileSync('/proc/self/maps')
  } catch {
    return undefined
  }
  let lines = 0
  for (let at = maps.indexOf(10); at >= 0; at = maps.indexOf(10, at + 1)) lines++
  return lines
}

/**
 * `words` Int32 words shared by every thread of the process under `key`,
 * zeroed when first made. Node's environment data (`setEnvironmentData`)
 * is copied into every Worker a thread creates afterwards, and a copied
 * SharedArrayBuffer shares its memory: so the first thread that asks makes
 * the words, and every Worker started after that (and their Workers) finds
 * the same ones. A Worker started before gets words of its own (a
 * process-wide figure then counts only part of the process).
 */
export function processWideWords(key: string, words: number): Int32Array {
  const found = getEnvironmentData(key)
  if (found instanceof SharedArrayBuffer && found.byteLength === 4 * words) return new Int32Array(found)
  const buffer = new SharedArrayBuffer(4 * words)
  setEnvironmentData(key, buffer)
  return new Int32Array(buffer)
}
