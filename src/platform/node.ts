/**
 * Node variant of `#platform`, chosen by the `node` import condition. It tells
 * the core the Node `threadId` of the calling thread, so that
 * `superviseWorker()` (in `threadstate/node`) can find which threadstate
 * thread ids belonged to a worker that exited. Browsers get `./neutral.ts`.
 *
 * @module
 */
import { threadId } from 'node:worker_threads'

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
