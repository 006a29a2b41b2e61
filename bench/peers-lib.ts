/**
 * The peer libraries of the `peers` suite, loaded without side effects.
 *
 * `multithreading`'s entry point (`import 'multithreading'`) installs Web
 * Worker polyfills on Node: it replaces `globalThis.Worker`, `self` and
 * `ErrorEvent`, and in a worker thread listens on `parentPort` (which keeps
 * the worker alive after its work is done). The bench process runs other
 * suites and its crew workers must exit when told, so the primitives are
 * loaded from the package's own modules (`src/lib/sync/mod.js`,
 * `src/lib/json_buffer.js`: plain classes over SharedArrayBuffer, the same
 * code its entry point re-exports) by file URL, past its `exports` map.
 * The types below are the part of its API the suite uses, as its .d.ts
 * files declare them.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** A guard of a multithreading lock: `dispose()` releases it. */
export interface MtGuard<T> {
  readonly value: T
  dispose(): void
}

/** multithreading's `Mutex<T>` (`new Mutex(data?, lockBuffer?)`). */
export interface MtMutex<T> {
  blockingLock(): MtGuard<T>
  lock(): Promise<MtGuard<T>>
}

/** multithreading's `RwLock<T>`. */
export interface MtRwLock<T> {
  blockingRead(): MtGuard<T>
  blockingWrite(): MtGuard<T>
}

/** multithreading's `Semaphore` (`new Semaphore(initialCount, buffer?)`). */
export interface MtSemaphore {
  blockingAcquire(amount?: number): { dispose(): void }
}

/** What the suite takes from multithreading. */
export interface Multithreading {
  readonly Mutex: new <T = void>(data?: T, lockBuffer?: SharedArrayBuffer) => MtMutex<T>
  readonly RwLock: new <T = void>(data?: T, stateBuffer?: SharedArrayBuffer) => MtRwLock<T>
  readonly Semaphore: new (initialCount: number, buffer?: SharedArrayBuffer) => MtSemaphore
  /** `new SharedJsonBuffer(initial)`: a JSON value in shared memory, read and written through Proxies. */
  readonly SharedJsonBuffer: new <T extends object>(initial: T) => T
}

/** The lock word of a multithreading Mutex (its first Int32: 0 free, 1 held), to hand it to a worker. */
export function mtLockBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4)
}

let loaded: Promise<Multithreading> | undefined

/** Loads multithreading's primitives (once per thread). */
export function loadMultithreading(): Promise<Multithreading> {
  loaded ??= (async () => {
    // The "node" condition of its exports: src/node/lib.js; the primitives sit in src/lib/.
    const entry = createRequire(import.meta.url).resolve('multithreading')
    const lib = join(dirname(entry), '..', 'lib')
    const sync = (await import(pathToFileURL(join(lib, 'sync', 'mod.js')).href)) as Pick<Multithreading, 'Mutex' | 'RwLock' | 'Semaphore'>
    const json = (await import(pathToFileURL(join(lib, 'json_buffer.js')).href)) as Pick<Multithreading, 'SharedJsonBuffer'>
    return { Mutex: sync.Mutex, RwLock: sync.RwLock, Semaphore: sync.Semaphore, SharedJsonBuffer: json.SharedJsonBuffer }
  })()
  return loaded
}

