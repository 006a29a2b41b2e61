/**
 * StateMachine and TriggerFlags: definitions and errors on one thread; the
 * transition log's claim protocol driven step by step (writers of one entry
 * exclude each other: the SPIN finding log-wrap); 4 workers racing the same
 * transitions (exactly one winner each, the history a legal path, estop from
 * every state); listeners after the commit, outside any lock; takeAll losing
 * no flag set concurrently.
 */
import { describe, expect, it } from 'vitest'
import { HandleError, ListenerError, OptionError, StateMachine, TransitionError, TriggerFlags } from '../src/index.js'
import { LAYOUTS } from '../src/memory/fields.js'
import { ENTRY_BUSY, ENTRY_BYTES, ENTRY_EMPTY, EntryField, LOG_START, MachineF64, MachineWord, SEQ_MASK } from '../src/machine/layout.js'
import { CLAIM_SPIN, TransitionLog } from '../src/machine/log.js'
import { currentThreadId, domainOf } from '../src/memory/thread.js'
import { STRESS, raise, signals, spawn, until, results } from './helpers.js'

const FIXTURE = 'machine-worker.mjs'
const robot = {
  states: ['init', 'ready', 'calibrating', 'walking', 'stopped', 'estop'],
  initial: 'init',
  transitions: { init: ['ready'], ready: ['calibrating', 'walking'], calibrating: ['ready'], walking: ['stopped'], stopped: ['ready'], estop: ['init'] },
  anyTo: ['estop'],
} as const


describe('StateMachine, one thread', () => {
  it('allows only the defined transitions; anyTo from every other state', () => {
    const fsm = StateMachine.create(robot)
    expect(fsm.state).toBe('init')
    expect(fsm.transition('walking')).toBe(false)
    expect(fsm.transition('ready', { reason: 'booted' })).toBe(true)
    expect(fsm.is('ready')).toBe(true)
    expect(fsm.transition('walking', { from: 'calibrating' })).toBe(false)
    expect(fsm.transition('walking', { from: 'ready' })).toBe(true)
    for (const s of robot.states) {
      if (s === 'estop') continue
      const m = StateMachine.create({ ...robot, initial: s })
      expect(m.transition('estop', { reason: 'test' })).toBe(true)
      expect(m.transition('estop')).toBe(false) // already there: not a transition
    }
    expect(fsm.stats()).toMatchObject({ state: 'walking', transitions: 2, rejected: 2 })
  })

  it('transitionOrThrow says from, to and what is allowed; unknown states are errors', () => {
    const fsm = StateMachine.create(robot)
    let error: TransitionError | undefined
    try {
      fsm.transitionOrThrow('walking')
    } catch (e) {
      error = e as TransitionError
    }
    expect(error).toBeInstanceOf(TransitionError)
    expect(error).toMatchObject({ from: 'init', to: 'walking', allowed: ['ready', 'estop'] })
    expect(error!.message).toMatch(/allowed from "init" \(to "ready", "estop"\), got "walking"/)
    expect(() => fsm.transition('flying' as never)).toThrow(TransitionError)
    expect(() => StateMachine.create({ ...robot, initial: 'nope' as never })).toThrow(OptionError)
    expect(() => StateMachine.create({ ...robot, transitions: { init: ['nowhere' as never] } })).toThrow(/nowhere/)
    expect(() => StateMachine.create({ ...robot, states: ['a', 'a'] as never })).toThrow(OptionError)
  })

  it('history is the committed path with reasons; long reasons are truncated', () => {
    const fsm = StateMachine.create({ ...robot, historySize: 4 })
    fsm.transition('ready', { reason: 'r1' })
    fsm.transition('walking', { reason: 'x'.repeat(100) })
    fsm.transition('stopped')
    fsm.transition('ready')
    fsm.transition('estop', { reason: 'watchdog' })
    const h = fsm.history()
    expect(h.map((t) => `${t.from}>${t.to}`)).toEqual(['ready>walking', 'walking>stopped', 'stopped>ready', 'ready>estop'])
    expect(h[0]!.reason).toHaveLength(48)
    expect(h[3]).toMatchObject({ reason: 'watchdog', seq: 5 })
    expect(fsm.history(2).map((t) => t.to)).toEqual(['ready', 'estop'])
  })

  it('listeners run after the commit, can transition again, and their errors do not undo it', () => {
    const fsm = StateMachine.create(robot)
    const seen: string[] = []
    const off = fsm.onTransition((t) => {
      seen.push(`${t.from}>${t.to}:${fsm.state}`)
      if (t.to === 'ready') fsm.transition('calibrating') // re-entering is safe: no lock is held
    })
    fsm.transition('ready')
    expect(seen).toEqual(['init>ready:ready', 'ready>calibrating:calibrating'])
    off()
    fsm.onTransition(() => {
      throw new Error('listener bug')
    })
    expect(() => fsm.transition('ready')).toThrow(ListenerError)
    expect(fsm.state).toBe('ready')
  })

  it('waits for a state, sync and async; subscribe sees other instances; handles are checked', async () => {
    const fsm = StateMachine.create(robot)
    const other = StateMachine.attach(structuredClone(fsm.handle))
    expect(fsm.waitFor('ready', 10)).toBe(false)
    const events = fsm.subscribe()
    const first = events.next()
    setTimeout(() => other.transition('ready', { reason: 'other' }), 10)
    expect(await fsm.waitForAsync('ready', { timeoutMs: 5000 })).toBe(true)
    expect((await first).value).toMatchObject({ from: 'init', to: 'ready', reason: 'other' })
    other.transition('estop')
    expect((await events.next()).value).toMatchObject({ from: 'ready', to: 'estop' })
    await events.return()
    const tampered = { ...fsm.handle, definition: { ...robot, anyTo: [] } }
    expect(() => StateMachine.attach(tampered as never)).toThrow(HandleError)
    expect(() => StateMachine.attach({ ...fsm.handle, definition: null } as never)).toThrow(HandleError)
  })
})

describe('StateMachine log and layout', () => {
  it('keeps the byte positions of layout version 1, checked by its plans', () => {
    expect(MachineWord).toEqual({ STATE: 4, WAITERS: 5, REJECTED: 6, STATES: 7, LOG: 8, DEFINITION: 9 })
    expect(MachineF64).toEqual({ CREATED_AT: 6 })
    expect([LOG_START, ENTRY_BYTES]).toEqual([64, 128])
    expect(EntryField).toEqual({ SEQ: 0, FROM: 1, TO: 2, THREAD_ID: 3, REASON_LENGTH: 6, AT: 2, REASON: 16 })
    for (const kind of ['StateMachine', 'StateMachine log entry', 'TriggerFlags']) expect(LAYOUTS.has(kind), kind).toBe(true)
  })

  it('an entry whose writer has not finished, or that a later lap took, is left out of the history', () => {
    const fsm = StateMachine.create({ ...robot, historySize: 4 })
    fsm.transition('ready', { reason: 'r1' })
    fsm.transition('walking', { reason: 'r2' })
    fsm.transition('stopped', { reason: 'r3' })
    const words = new Int32Array(fsm.handle.buffer, fsm.handle.byteOffset)
    const seqWord = (seq: number) => (LOG_START + (seq % 4) * ENTRY_BYTES) / 4 + EntryField.SEQ
    expect(fsm.history().map((t) => t.reason)).toEqual(['r1', 'r2', 'r3'])
    Atomics.store(words, seqWord(2), ENTRY_BUSY | 5) // thread 5 (its winner, or another lap's) is writing it
    expect(fsm.history().map((t) => t.reason)).toEqual(['r1', 'r3'])
    Atomics.store(words, seqWord(2), 6) // transition 6 has it now
    expect(fsm.history().map((t) => t.reason)).toEqual(['r1', 'r3'])
    Atomics.store(words, seqWord(2), 2)
    expect(fsm.history().map((t) => t.seq)).toEqual([1, 2, 3])
    expect(fsm.history()[1]).toMatchObject({ from: 'ready', to: 'walking', reason: 'r2', seq: 2 })
  })
})

describe('StateMachine log: writers of one entry exclude each other (SPIN finding log-wrap)', () => {
  const at = (s: string) => robot.states.indexOf(s as never)

  it('a later lap leaves an entry another live thread is still writing; its reader gets that entry whole', () => {
    // historySize 1: every transition writes entry 0 (the finding needs two concurrent transitions).
    const fsm = StateMachine.create({ ...robot, historySize: 1 })
    const { buffer, byteOffset, byteLength } = fsm.handle
    const words = new Int32Array(buffer, byteOffset, byteLength >> 2)
    const f64 = new Float64Array(buffer, byteOffset, byteLength >> 3)
    const units = new Uint16Array(buffer, byteOffset, byteLength >> 1)
    const e = LOG_START >> 2 // entry 0, Int32 index
    const reader = new TransitionLog(buffer, byteOffset, byteLength, 1, domainOf(fsm.handle.domain))
    const me = currentThreadId(fsm.handle)
    expect(fsm.transition('ready', { reason: 'r1' })).toBe(true) // seq 1, complete
    // Thread A (an id no thread has: not marked dead, so a live writer to the log) wins seq 2,
    // ready -> calibrating, claims the entry as claim() does, writes from and to, and is preempted.
    const a = me + 1000
    const before = (1 << 8) | at('ready')
    expect(Atomics.compareExchange(words, MachineWord.STATE, before, (2 << 8) | at('calibrating'))).toBe(before)
    expect(Atomics.compareExchange(words, e + EntryField.SEQ, 1, ENTRY_BUSY | a)).toBe(1)
    words[e + EntryField.FROM] = at('ready')
    words[e + EntryField.TO] = at('calibrating')
    // This thread wins seq 3 (calibrating -> ready): the same entry. The transition stands,
    // without waiting for A, and leaves A's entry alone.
    const t0 = performance.now()
    expect(fsm.transition('ready', { reason: 'b' })).toBe(true)
    expect(performance.now() - t0).toBeLessThan(50)
    expect(fsm.state).toBe('ready')
    expect(Atomics.load(words, e + EntryField.SEQ)).toBe(ENTRY_BUSY | a)
    expect([words[e + EntryField.FROM], words[e + EntryField.TO]]).toEqual([at('ready'), at('calibrating')])
    // A finishes its record and releases the entry with seq 2.
    words[e + EntryField.THREAD_ID] = a
    f64[(LOG_START >> 3) + EntryField.AT] = 42
    words[e + EntryField.REASON_LENGTH] = 1
    units[(LOG_START >> 1) + EntryField.REASON] = 'a'.charCodeAt(0)
    Atomics.store(words, e + EntryField.SEQ, 2)
    // A reader of seq 2 (one that loaded STATE before seq 3) gets A's entry, whole: no field of seq 3.
    expect(reader.read(2)).toEqual({ from: at('ready'), to: at('calibrating'), threadId: a, at: 42, reason: 'a' })
    // Seq 3's entry was left out: the history skips it.
    expect(reader.read(3)).toBeUndefined()
    expect(fsm.history()).toEqual([])
  })

  it('subscribe() waits for the entry of a winner preempted between its compareExchange and the end of its entry; one that never comes is skipped after a second', async () => {
    const fsm = StateMachine.create(robot)
    const { buffer, byteOffset, byteLength } = fsm.handle
    const words = new Int32Array(buffer, byteOffset, byteLength >> 2)
    const log = new TransitionLog(buffer, byteOffset, byteLength, 64, domainOf(fsm.handle.domain))
    const me = currentThreadId(fsm.handle)
    const events = fsm.subscribe()
    const first = events.next()
    const within = <T>(p: Promise<T>, ms: number): Promise<T | 'late'> => Promise.race([p, new Promise<'late'>((r) => setTimeout(() => r('late'), ms))])
    // The winner of seq 1 (init -> ready), preempted right after its compareExchange: the state has
    // moved, its entry is not claimed yet, and the subscriber wakes (a sleep's slice ends).
    expect(Atomics.compareExchange(words, MachineWord.STATE, at('init'), (1 << 8) | at('ready'))).toBe(at('init'))
    Atomics.notify(words, MachineWord.STATE)
    await new Promise((r) => setTimeout(r, 30))
    // It claims the entry, and is preempted again mid-write.
    expect(log.claim(1, me)).toBe(true)
    Atomics.notify(words, MachineWord.STATE)
    await new Promise((r) => setTimeout(r, 30))
    log.write(1, at('init'), at('ready'), me, 1234, 'late')
    log.release(1)
    Atomics.notify(words, MachineWord.STATE)
    expect(await within(first, 2_000)).toEqual({ done: false, value: { from: 'init', to: 'ready', at: 1234, threadId: me, reason: 'late', seq: 1 } })
    // The winner of seq 2 dies before it claims its entry: the subscriber waits at most a second, then
    // delivers seq 3 (the transition of seq 2 stands; its entry never comes).
    const third = events.next()
    expect(Atomics.compareExchange(words, MachineWord.STATE, (1 << 8) | at('ready'), (2 << 8) | at('walking'))).toBe((1 << 8) | at('ready'))
    expect(fsm.transition('stopped', { reason: 'next' })).toBe(true)
    expect(await within(third, 3_000)).toMatchObject({ done: false, value: { from: 'walking', to: 'stopped', reason: 'next', seq: 3 } })
    await events.return(undefined)
  })

  it('claim, write, release: one writer at a time, a newer lap never overwritten, a dead writer taken over, seqs modulo 2^24', () => {
    const fsm = StateMachine.create({ ...robot, historySize: 2 })
    const { buffer, byteOffset, byteLength } = fsm.handle
    const words = new Int32Array(buffer, byteOffset, byteLength >> 2)
    const dead = new Set<number>()
    const writer = () => new TransitionLog(buffer, byteOffset, byteLength, 2, { isDead: (tid) => dead.has(tid) })
    const word = (seq: number) => Atomics.load(words, ((LOG_START + (seq & 1) * ENTRY_BYTES) >> 2) + EntryField.SEQ)
    const A = 7
    const B = 8
    const la = writer()
    const lb = writer()
    const entry = (tid: number, reason: string) => ({ from: 1, to: 2, threadId: tid, at: 5, reason })

    // Entry 0 never written: A (winner of seq 2) claims it and writes; B (winner of seq 4) arrives meanwhile.
    expect(word(2)).toBe(ENTRY_EMPTY)
    expect(la.claim(2, A)).toBe(true)
    expect(word(2)).toBe(ENTRY_BUSY | A)
    la.write(2, 1, 2, A, 5, 'a2')
    expect(lb.claim(4, B)).toBe(false) // A lives and holds it: CLAIM_SPIN steps, then left out
    expect(lb.record(4, 3, 4, B, 6, 'b4')).toBe(false)
    expect(word(2)).toBe(ENTRY_BUSY | A) // B wrote nothing, not even the word
    expect(lb.read(2)).toBeUndefined() // not complete yet
    la.release(2)
    expect(lb.read(2)).toEqual(entry(A, 'a2'))
    // Now B claims from the older, complete seq 2.
    expect(lb.record(4, 1, 2, B, 5, 'b4')).toBe(true)
    expect(word(4)).toBe(4)
    expect(lb.read(4)).toEqual(entry(B, 'b4'))
    expect(lb.read(2)).toBeUndefined()

    // A newer lap's entry is never overwritten: the late winner of seq 6 finds seq 8 there.
    expect(la.record(8, 1, 2, A, 5, 'a8')).toBe(true)
    expect(lb.record(6, 1, 2, B, 5, 'b6')).toBe(false)
    expect(lb.read(8)).toEqual(entry(A, 'a8'))

    // A dies holding entry 0: left out while it is not marked dead, taken over once it is.
    expect(la.claim(10, A)).toBe(true)
    expect(lb.record(12, 1, 2, B, 5, 'b12')).toBe(false)
    dead.add(A)
    expect(lb.record(12, 1, 2, B, 5, 'b12')).toBe(true)
    expect(lb.read(12)).toEqual(entry(B, 'b12'))
    expect(lb.read(10)).toBeUndefined()

    // Seqs wrap at 2^24: entry 1 holds 2^24 - 1; the winner of seq 1 of the next lap is newer,
    // and a late winner of 2^24 - 3 older.
    expect(lb.record(SEQ_MASK, 1, 2, B, 5, 'last')).toBe(true)
    expect(lb.record(SEQ_MASK - 2, 1, 2, B, 5, 'late')).toBe(false)
    expect(lb.read(SEQ_MASK)).toEqual(entry(B, 'last'))
    expect(lb.record(1, 1, 2, B, 5, 'wrapped')).toBe(true)
    expect(lb.read(1)).toEqual(entry(B, 'wrapped'))
    expect(lb.record(SEQ_MASK, 1, 2, B, 5, 'stale')).toBe(false) // 2^24 - 1 is now the older lap

    // A value the code never writes is left alone, and a claim never takes more than CLAIM_SPIN steps.
    Atomics.store(words, (LOG_START >> 2) + EntryField.SEQ, -7)
    expect(lb.record(14, 1, 2, B, 5, 'x')).toBe(false)
    Atomics.store(words, (LOG_START >> 2) + EntryField.SEQ, ENTRY_BUSY | 9)
    const t0 = performance.now()
    for (let k = 0; k < 100; k++) lb.claim(16, B)
    expect((performance.now() - t0) / 100).toBeLessThan(1) // ms per claim left out: CLAIM_SPIN loads, no wait
    expect(CLAIM_SPIN).toBeGreaterThan(0)
  })
})

describe('StateMachine across threads', () => {
  it('4 workers race every transition: one winner each, a legal path, estop from anywhere', async () => {
    const fsm = StateMachine.create({
      states: ['s0', 's1', 's2', 's3', 'estop'],
      initial: 's0',
      transitions: { s0: ['s1'], s1: ['s2'], s2: ['s3'], s3: ['s0'], estop: ['s0'] },
      anyTo: ['estop'],
      historySize: 1 << 16,
    })
    const flags = signals()
    const attempts = 5_000 * STRESS
    const ws = Array.from({ length: 4 }, (_, id) =>
      spawn<{ won: number[]; refused: number; listenerSawCommitted: boolean; estopFrom: string[] }>('fsmRace', { handle: fsm.handle, flags, id, attempts, estopEvery: 7 }, FIXTURE),
    )
    await until(flags, 1, 4)
    raise(flags, 2)
    const out = await results(ws)
    const wins = out.flatMap((o) => o.won)
    const total = fsm.stats().transitions
    expect(new Set(wins).size).toBe(wins.length) // no seq won twice
    expect(wins.length).toBe(total)
    expect(out.reduce((n, o) => n + o.refused, 0) + total).toBe(4 * attempts)
    expect(out.reduce((n, o) => n + o.refused, 0)).toBeGreaterThan(0) // they really raced
    expect(out.every((o) => o.listenerSawCommitted)).toBe(true)
    const history = fsm.history()
    expect(history.length).toBe(Math.min(total, 1 << 16))
    for (let i = 1; i < history.length; i++) {
      expect(history[i]!.from).toBe(history[i - 1]!.to)
      expect(history[i]!.seq).toBe(history[i - 1]!.seq + 1)
      expect(fsm.canTransition(history[i]!.to, history[i]!.from)).toBe(true)
    }
    // Estops won from every state, over the whole run (the history keeps only the last 65,536
    // transitions, and a worker left alone at the end always estops from s1).
    const estopFrom = new Set(out.flatMap((o) => o.estopFrom))
    expect(estopFrom).toEqual(new Set(['s0', 's1', 's2', 's3']))
  })
})

describe('TriggerFlags', () => {
  it('set, test, take, takeAll, waits, errors', async () => {
    const triggers = TriggerFlags.create(['calibrate', 'walk', 'stop'])
    expect(triggers.set('walk')).toBe(false)
    expect(triggers.set('walk')).toBe(true)
    expect(triggers.test('walk')).toBe(true)
    expect(triggers.take('walk')).toBe(true)
    expect(triggers.take('walk')).toBe(false)
    triggers.set('stop')
    triggers.set('calibrate')
    expect(triggers.takeAll()).toEqual(['calibrate', 'stop'])
    expect(triggers.takeAll()).toEqual([])
    expect(triggers.waitAny(5)).toBe(false)
    setTimeout(() => TriggerFlags.attach<'calibrate' | 'walk' | 'stop'>(triggers.handle).set('stop'), 10)
    expect(await triggers.waitAnyAsync({ timeoutMs: 5000 })).toBe(true)
    expect(triggers.peek()).toEqual(['stop'])
    expect(() => triggers.set('fly' as never)).toThrow(OptionError)
    expect(() => TriggerFlags.create([])).toThrow(OptionError)
    expect(() => TriggerFlags.attach({ ...triggers.handle, names: 5 } as never)).toThrow(HandleError)
  })

  it('takeAll from a worker loses no flag set concurrently by 4 workers; read-then-clear does', async () => {
    for (const racy of [false, true]) {
      const triggers = TriggerFlags.create(['a', 'b', 'c', 'd'])
      const flags = signals()
      const times = 20_000 * STRESS
      const setters = ['a', 'b', 'c', 'a'].map((name) => spawn<number>('flagSet', { handle: triggers.handle, flags, name, times }, FIXTURE))
      const taker = spawn<Record<string, number>>('flagTake', { handle: triggers.handle, flags, racy }, FIXTURE)
      await until(flags, 1, 5)
      raise(flags, 2)
      const fresh = await results(setters)
      raise(flags, 0)
      const [taken] = await results([taker])
      const lost = fresh[0]! + fresh[3]! - (taken!['a'] ?? 0) + fresh[1]! - (taken!['b'] ?? 0) + fresh[2]! - (taken!['c'] ?? 0)
      if (racy) expect(lost).toBeGreaterThan(0)
      else {
        expect(lost).toBe(0)
        expect(taken!['b']).toBe(fresh[1])
        expect(fresh.reduce((a, b) => a + b, 0)).toBeGreaterThan(100) // the taker kept up: the race was real
      }
    }
  })
})
