/**
 * Platform facts for runtimes without a native thread id (browsers, Deno,
 * Bun without Node compatibility). Chosen through the `#platform` import
 * condition in package.json; the Node variant is `./node.ts`.
 *
 * @module
 */

/** The runtime's own id of the calling thread, when the runtime has one. */
export function nativeThreadId(): number | undefined {
  return undefined
}

/**
 * Whether the CPU is known to keep plain loads and stores in program order
 * around atomics (x86-64 TSO). Unknown here, so false: readers then put a
 * read-modify-write between copying and re-checking (see DESIGN.md).
 */
export const strongMemoryOrdering = false

/**
 * Takes the oldest message queued on `channel` (a `BroadcastChannel`) without
 * returning to the event loop, as `{ message }`, or undefined if none is
 * queued. Unsupported here ({@link canReceiveMessagesSync} is false): browsers
 * deliver messages only between tasks, so this always returns undefined.
 */
export function receiveMessageSync(_channel: object): { readonly message: unknown } | undefined {
  return undefined
}

/**
 * Whether {@link receiveMessageSync} can take messages without returning to
 * the event loop (so a thread in a tight loop still receives them).
 */
export const canReceiveMessagesSync = false

/**
 * Calls `listener` when a worker this thread created has exited, where the
 * runtime says so. Browsers, Deno and Bun without Node compatibility do not:
 * nothing is called (a worker's death is reported by `superviseWorker`-like
 * code of the application, or not at all).
 */
export function onWorkerExit(_listener: (nativeThreadId: number) => void): void {}

/**
 * The most memory mappings this process may have (Linux's
 * `vm.max_map_count`), or undefined where the runtime cannot tell: here,
 * always undefined, so growable buffers get a count-based budget
 * (`memory/growable.ts`).
 */
export function mappingLimit(): number | undefined {
  return undefined
}

/** Memory mappings this process has now, or undefined where the runtime cannot tell (here: always). */
export function mappingsInUse(): number | undefined {
  return undefined
}

const processWide = new Map<string, Int32Array>()

/**
 * `words` Int32 words shared by every thread of the process under `key`,
 * zeroed when first made. Here there is no process-wide store: each thread
 * gets its own words.
 */
export function processWideWords(key: string, words: number): Int32Array {
  let found = processWide.get(key)
  if (found === undefined) processWide.set(key, (found = new Int32Array(new SharedArrayBuffer(4 * words))))
  return found
}
