/**
 * Contract suite: every exclusive lock kind keeps critical sections on plain
 * (non-atomic) fields exclusive, with more workers than cores (4 on 2) so the
 * holder is preempted inside its critical section. Exact totals catch lost
 * updates; the entry invariant (data[0] === data[1]) catches overlap. The same
 * test against no lock at all must fail: proof that the check can fail.
 */
import { describe, expect, it } from 'vitest'
import { Mutex, ReentrantMutex, RWLock, Semaphore } from '../src/index.js'
import { STRESS, raise, run, signals, until } from './helpers.js'

const WORKERS = 4

type Kind = 'Mutex' | 'ReentrantMutex' | 'RWLock' | 'Semaphore' | 'none'

function create(kind: Kind): { handle: unknown } {
  switch (kind) {
    case 'Mutex':
      return Mutex.create()
    case 'ReentrantMutex':
      return ReentrantMutex.create()
    case 'RWLock':
      return RWLock.create()
    case 'Semaphore':
      return Semaphore.create({ permits: 1, max: 1 })
    case 'none':
      return { handle: undefined }
  }
}

async function hammer(kind: Kind, iterations: number) {
  const lock = create(kind)
  const data = new Int32Array(new SharedArrayBuffer(16))
  const flags = signals()
  const results = Array.from({ length: WORKERS }, () =>
    run<{ breaks: number }>('count', { kind, handle: lock.handle, data, iterations, flags }),
  )
  await until(flags, 1, WORKERS) // every worker attached and ready
  raise(flags, 0) // go
  const outcomes = await Promise.all(results)
  return {
    total: data[0]!,
    expected: WORKERS * iterations,
    breaks: outcomes.reduce((n, o) => n + o.breaks, 0),
    lock,
  }
}

describe('mutual exclusion (4 workers on 2 cores, plain fields)', () => {
  it(`Mutex: 4 x ${250 * STRESS}k critical sections, exact total, invariant never broken`, async () => {
    const r = await hammer('Mutex', 250_000 * STRESS)
    expect(r.breaks).toBe(0)
    expect(r.total).toBe(r.expected)
    const stats = (r.lock as Mutex).stats()
    expect(stats.acquisitions).toBe(r.expected)
    expect(stats.timeouts).toBe(0)
  })

  for (const kind of ['ReentrantMutex', 'RWLock', 'Semaphore'] as const) {
    it(`${kind}: 4 x ${100 * STRESS}k critical sections, exact total, invariant never broken`, async () => {
      const r = await hammer(kind, 100_000 * STRESS)
      expect(r.breaks).toBe(0)
      expect(r.total).toBe(r.expected)
    })
  }

  it('no lock (deliberately broken variant): the same check catches lost updates or overlap', async () => {
    // If this ever passed, the check above would prove nothing. On a machine
    // busy with other work the four workers can happen to run one after the
    // other (each loop is a few ms), so it gets up to 5 tries: one that
    // catches a lost update or an overlap proves the check can fail.
    let caught = false
    for (let attempt = 0; attempt < 5 && !caught; attempt++) {
      const r = await hammer('none', 250_000)
      caught = r.breaks > 0 || r.total !== r.expected
    }
    expect(caught).toBe(true)
  })
})
