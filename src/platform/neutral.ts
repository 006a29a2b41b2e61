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
