/**
 * comlink's Node adapter for the `peers` suite (peers-cases.ts and its
 * owner worker), kept out of peers-lib.ts so that the contended-lock worker
 * (locks suite) loads without comlink installed.
 *
 * @module
 */
import nodeAdapterModule from 'comlink/dist/umd/node-adapter.js'

/**
 * comlink's Node adapter (wraps a `worker_threads` MessagePort as a comlink
 * endpoint). Its CommonJS build sets `module.exports` to the function, which
 * Node hands to a default import, while TypeScript types that import as the
 * module's `{ default }`: take whichever is the function.
 */
export const nodeEndpoint: typeof nodeAdapterModule.default = ((nodeAdapterModule as unknown as { default?: unknown }).default ??
  nodeAdapterModule) as typeof nodeAdapterModule.default
