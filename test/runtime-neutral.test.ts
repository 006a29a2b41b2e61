/**
 * The core must run unchanged in a browser worker: bundled for the browser
 * (the `#platform` import resolved with browser conditions), it pulls in no
 * Node module, and the bundle runs in a plain JS context where `process`,
 * `Buffer` and `require` do not exist.
 */
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { bundleCore } from './bundle.js'

const bundle = (platform: 'browser' | 'node') => bundleCore(platform)

describe('runtime-neutral core', () => {
  it('bundles for the browser with the neutral platform module and no Node module', async () => {
    const { inputs } = await bundle('browser')
    expect(inputs.some((f) => f.endsWith('platform/neutral.js'))).toBe(true)
    expect(inputs.some((f) => f.endsWith('platform/node.js'))).toBe(false)
    // Only our own files, js-quantities and msgpackr's browser build (pure JS); nothing from Node.
    const allowed = ['dist/', 'node_modules/js-quantities/', 'node_modules/msgpackr/']
    expect(inputs.filter((f) => !allowed.some((a) => f.includes(a)))).toEqual([])
    expect(inputs.some((f) => /msgpackr\/(node-index|dist\/node)/.test(f))).toBe(false)
  })

  it('runs in a context with no process, Buffer or require: locks and a StateBuffer work there', async () => {
    const { code } = await bundle('browser')
    const sandbox = {
      SharedArrayBuffer,
      Atomics,
      performance,
      setTimeout,
      clearTimeout,
      crypto: globalThis.crypto,
      structuredClone,
      TextEncoder,
      TextDecoder,
      result: undefined as unknown,
    }
    runInNewContext(
      `${code};
       const m = threadstate.Mutex.create();
       m.lock(); const held = m.isHeldByCurrentThread; m.unlock();
       const rw = threadstate.RWLock.create(); rw.readLock(); rw.readUnlock();
       const S = threadstate.schema({ p: threadstate.vec3({ unit: 'm' }) });
       const buf = threadstate.StateBuffer.create(S);
       buf.publish({ p: { value: [100, 0, 0], unit: 'cm' } }, { source: 'browser' });
       const latest = buf.latest();
       const store = threadstate.SnapshotStore.create({ initial: { m: new Map([['k', 1]]) } });
       store.publish({ m: new Map([['k', 2]]) });
       result = { held, free: !m.isLocked, hasProcess: typeof process, hasBuffer: typeof Buffer, tid: threadstate.currentThreadId(),
         state: [latest.value.p[0], latest.source], snapshot: store.get().m.get('k') };`,
      sandbox,
    )
    expect(sandbox.result).toEqual({
      held: true,
      free: true,
      hasProcess: 'undefined',
      hasBuffer: 'undefined',
      tid: 1,
      state: [1, 'browser'],
      snapshot: 2,
    })
  })

  it('under the node condition, the platform module reports the Node thread id', async () => {
    const { inputs } = await bundle('node')
    expect(inputs.some((f) => f.endsWith('platform/node.js'))).toBe(true)
  })
})

describe('a thread that may not block', () => {
  it('a blocking wait there throws BlockingNotAllowedError, and the async form works', async () => {
    const { code } = await bundle('browser')
    // Atomics.wait that throws like a browser main thread's.
    const atomics = Object.create(Atomics, {
      wait: {
        value: () => {
          throw new TypeError('Atomics.wait cannot be called in this context')
        },
      },
    })
    const sandbox = {
      SharedArrayBuffer,
      Atomics: atomics,
      performance,
      setTimeout,
      clearTimeout,
      TextEncoder,
      TextDecoder,
      out: {} as Record<string, unknown>,
    }
    runInNewContext(
      `${code};
       const s = threadstate.Semaphore.create({ permits: 0 });
       try { s.acquire(1, 1000) } catch (e) { out.name = e.name; out.message = e.message }
       out.pending = s.acquireAsync(1, { timeoutMs: 5000 }); s.release();`,
      sandbox,
    )
    expect(sandbox.out['name']).toBe('BlockingNotAllowedError')
    expect(sandbox.out['message']).toMatch(/use the async form/)
    expect(await (sandbox.out['pending'] as Promise<boolean>)).toBe(true)
  })
})
