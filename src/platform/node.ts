/**
 * Node variant of `#platform`, chosen by the `node` import condition. It tells
 * the core the Node `threadId` of the calling thread, so that
 * `superviseWorker()` (in `threadstate/node`) can find which threadstate
 * thread ids belonged to a worker that exited. Browsers get `./neutral.ts`.
 *
 * @module
 */
import { receiveMessageOnPort, threadId, type Worker } from 'node:worker_threads'

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
