/**
 * `superviseWorker`: make the locks of a worker that dies recoverable.
 *
 * @module
 */
import type { Worker } from 'node:worker_threads'
import { joinedDomains } from '../memory/thread.js'

/** What {@link superviseWorker} reports when the worker has exited. */
export interface SupervisedExit {
  /** Node `threadId` of the worker. */
  readonly workerThreadId: number
  /** The worker's exit code. */
  readonly exitCode: number
  /** threadstate thread ids marked dead (one per domain the worker had joined). */
  readonly markedDead: readonly number[]
}

/** Options of {@link superviseWorker}. */
export interface SuperviseOptions {
  /** Called after the worker's thread ids were marked dead. */
  readonly onExit?: (exit: SupervisedExit) => void
}

/**
 * Watches a Worker the caller spawned. When it exits (normally, by
 * `terminate()`, or by a crash), its threadstate thread ids are marked dead in
 * every domain this thread has joined: a lock it held is then taken over by
 * the next acquirer, who gets an `OwnerDiedError`, and threads already waiting
 * for it notice within 50 ms. In Node this happens anyway for every Worker a
 * thread creates once it has joined a domain (threadstate watches them);
 * `superviseWorker` adds the report (`onExit`: which ids were marked) and
 * covers a Worker created before this thread first used threadstate.
 *
 * The exit is handled on this thread's event loop, so the supervising thread
 * must not be blocked in a synchronous wait for a lock the worker holds: wait
 * with `lockAsync` there, or supervise from a thread that stays responsive.
 *
 * @returns a function that stops supervising
 * @example
 * ```ts
 * const worker = new Worker(url, { workerData: { mutex: mutex.handle } })
 * superviseWorker(worker)
 * ```
 */
export function superviseWorker(worker: Worker, options: SuperviseOptions = {}): () => void {
  // Read now: after the worker stops, worker.threadId may no longer name it.
  const workerThreadId = worker.threadId
  const onExit = (exitCode: number): void => {
    const markedDead: number[] = []
    for (const domain of joinedDomains()) {
      // Marked here, or already by the watch every thread keeps on the workers it creates. By
      // native id with each id pinned (markDeadByNativeId): ids are reused, and a separate look-up
      // then markDead could mark a new thread that took a reused id in between.
      const marked = domain.markDeadByNativeId(workerThreadId)
      markedDead.push(...new Set([...marked, ...domain.threadsWithNativeId(workerThreadId, true)]))
    }
    options.onExit?.({ workerThreadId, exitCode, markedDead })
  }
  worker.once('exit', onExit)
  return () => {
    worker.off('exit', onExit)
  }
}
