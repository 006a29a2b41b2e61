/**
 * SnapshotStore across threads: readers in 4 workers never see a
 * half-written snapshot while a writer publishes flat out and the data buffer
 * grows under them; each thread gets the same object for a version; a writer
 * killed mid-publish never stalls readers.
 */
import { describe, expect, it } from 'vitest'
import { SnapshotStore } from '../src/index.js'
import { superviseWorker } from '../src/node/index.js'
import { STRESS, attachRepeatedly, raise, run, signals, spawn, until } from './helpers.js'

describe('SnapshotStore across threads', () => {
  it('4 readers x checksummed nested snapshots, writer flat out, buffer growing: 0 torn', async () => {
    const store = SnapshotStore.create<unknown>({ initial: { boot: true } })
    const flags = signals()
    const writer = spawn<number>('snapWriter', { handle: store.handle, flags })
    const readers = await Promise.all(
      Array.from({ length: 4 }, () =>
        run<{ torn: number; identity: number; versions: number }>('snapReader', { handle: store.handle, flags, reads: 20_000 * STRESS }),
      ),
    )
    raise(flags, 0)
    const published = await writer.result
    expect(published.ok && published.value).toBeGreaterThan(20)
    expect(readers.reduce((n, r) => n + r.torn, 0)).toBe(0)
    expect(readers.reduce((n, r) => n + r.identity, 0)).toBe(0)
    expect(readers.every((r) => r.versions > 1)).toBe(true)
    const stats = store.stats()
    expect(stats.grows).toBeGreaterThan(0)
    expect(stats.sources['writer']).toBe(stats.publishes - 1)
  })

  it('attach while a writer publishes flat out (regions moved and reused, FLOOR raised): never taken for forged memory', async () => {
    // attach checks the store's memory (issue 15 item 14) while a publish may
    // be half done: FLOOR is PUB + 1 between retiring the oldest slot and
    // moving PUB, and a slot's region fields change one at a time. The old
    // check (one look, FLOOR <= PUB) refused such a state as forged.
    const maxBytes = 256 << 10
    const store = SnapshotStore.create<unknown>({ initial: { boot: true }, maxBytes })
    const flags = signals()
    const writer = spawn<number>('write', { handle: store.handle, flags, maxBytes }, 'snapshot-regions.mjs')
    await until(flags, 1, 1)
    raise(flags, 2)
    const { refused } = await attachRepeatedly(() => SnapshotStore.attach(store.handle).version, 2_000 * STRESS, 200, 50)
    raise(flags, 0)
    const published = await writer.result
    expect(refused.slice(0, 3)).toEqual([])
    expect(published.ok && published.value).toBeGreaterThan(8) // regions reused from the 5th on
  })

  it('64 KB snapshots, 4 readers preempted mid-copy by a flat-out writer: 0 torn', async () => {
    const store = SnapshotStore.create<unknown>({ initial: { boot: true } })
    const flags = signals()
    const writer = spawn<number>('snapWriter', { handle: store.handle, flags, shape: 'floats' })
    const readers = await Promise.all(
      Array.from({ length: 4 }, () =>
        run<{ torn: number; identity: number; versions: number }>('snapReader', { handle: store.handle, flags, reads: 100_000 * STRESS }),
      ),
    )
    raise(flags, 0)
    await writer.result
    expect(readers.reduce((n, r) => n + r.torn, 0)).toBe(0)
    expect(readers.reduce((n, r) => n + r.versions, 0)).toBeGreaterThan(100)
    // Retry figures agree with each other (lapped copies are counted, with the longest streak).
    const s = store.stats()
    expect(s.longestRetryStreak).toBeLessThanOrEqual(s.readRetries)
    expect(s.readRetries > 0).toBe(s.longestRetryStreak > 0)
  })

  it('a writer killed mid-publish never stalls readers; the next publish recovers', async () => {
    const store = SnapshotStore.create({ initial: { n: 0 } })
    store.publish({ n: 1 })
    const flags = signals()
    const victim = spawn('snapDie', { handle: store.handle, flags })
    const marked = new Promise((resolve) => superviseWorker(victim.worker, { onExit: resolve }))
    await until(flags, 3, 1)
    expect(store.get()).toEqual({ n: 1 }) // readers take no lock
    await victim.worker.terminate()
    await marked
    expect(store.publish({ n: 2 })).toBe(3)
    expect(store.get()).toEqual({ n: 2 })
    expect(store.stats().writersDied).toBe(1)
  })

  it('waitForVersionAsync wakes when a worker publishes', async () => {
    const store = SnapshotStore.create<unknown>({ initial: {} })
    const flags = signals()
    const waiting = store.waitForVersionAsync(11, { timeoutMs: 20_000 })
    await run('snapWriter', { handle: store.handle, flags, count: 10 })
    expect(await waiting).toBe(true)
    expect((store.get() as { seq: number }).seq).toBe(9)
  })
})
