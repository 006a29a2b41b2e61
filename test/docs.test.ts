/**
 * What the README and TSDoc say, held to the code (issue 16 item 4: docs a
 * new user tripped on). Each check reads the text it guards, so a drift in
 * either fails here.
 *
 * Broken variants, run once: the README, registry.ts and state-buffer.ts
 * as they were before (the Examples list without camera-registry.mjs and
 * http-status-server.mjs: "examples/camera-registry.mjs is not listed";
 * registerKind's TSDoc listing 9 kinds where add() takes 12: the lists
 * differ; no rounding rule for `history`: "expected ... to contain
 * '`history: 16` keeps 31'").
 */
import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { EncodeError, SharedMap, SnapshotStore, StateBuffer, StateManager, f64, schema } from '../src/index.js'

const root = new URL('../', import.meta.url)
const readme = readFileSync(new URL('README.md', root), 'utf8')

/** The text of the README section under `heading` (up to the next heading of that level or higher). */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`README has no ${heading}`)
  const level = heading.indexOf(' ')
  const rest = readme.slice(start + heading.length + 2)
  const end = rest.search(new RegExp(`\\n#{1,${level}} `))
  return end < 0 ? rest : rest.slice(0, end)
}

describe('docs', () => {
  it("the README's Examples section lists every example, and only those", () => {
    const examples = readdirSync(new URL('examples/', root)).filter((f) => f.endsWith('.mjs')).sort()
    const text = section('## Examples')
    for (const file of examples) expect(text, `examples/${file} is not listed`).toContain(`examples/${file}`)
    const listed = [...text.matchAll(/examples\/([\w-]+\.mjs)/g)].map((m) => m[1]!)
    expect([...new Set(listed)].sort()).toEqual(examples)
  })

  it("registerKind's TSDoc lists the built-in kinds add() accepts", () => {
    // add() names the kinds it accepts when it refuses something.
    const manager = StateManager.create()
    let message = ''
    try {
      manager.add('x', {} as never)
    } catch (error) {
      message = (error as Error).message
    }
    manager.close()
    const accepted = /\(([^)]+)\)/.exec(message)![1]!.split(', ').sort()
    expect(accepted.length).toBeGreaterThanOrEqual(12)
    const source = readFileSync(new URL('src/runtime/registry.ts', root), 'utf8')
    const doc = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*static registerKind/.exec(source)![1]!
    const documented = [...doc.matchAll(/`(\w+)`/g)].map((m) => m[1]!).filter((name) => /^[A-Z]/.test(name))
    expect([...new Set(documented)].sort()).toEqual(accepted)
  })

  it('history: n keeps n versions at least, in a ring rounded as the TSDoc and README say', () => {
    const rule = (history: number): number => {
      let slots = 4
      while (slots < history + 1) slots *= 2
      return slots - 1
    }
    const s = schema({ x: f64() })
    for (const history of [1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 100]) {
      const kept = StateBuffer.create(s, { history }).stats().historyCapacity
      expect(kept, `history ${history}`).toBe(rule(history))
      expect(kept).toBeGreaterThanOrEqual(history)
    }
    // The examples the docs give.
    expect([rule(16), rule(32), rule(31)]).toEqual([31, 63, 31])
    expect(readme).toContain('`history: 16` keeps 31')
    expect(readme).toContain('`history: 32` keeps 63')
    const tsdoc = readFileSync(new URL('src/state/state-buffer.ts', root), 'utf8')
    expect(tsdoc).toContain('`history: 32` keeps 63')
  })

  describe("the README's table of values that round-trip", () => {
    const cycle: Record<string, unknown> = { name: 'loop' }
    cycle['self'] = cycle
    const shared = { id: 1 }
    const roundTrip: [string, unknown][] = [
      ['null, booleans, strings', { a: null, b: true, c: 'x' }],
      ['-0, NaN, Infinity', [-0, Number.NaN, Infinity, -Infinity]],
      ['BigInt, undefined', { big: 2n ** 70n, u: undefined }],
      ['a null-prototype object', Object.assign(Object.create(null) as object, { a: 1 })],
      ['Map, Set, Date', { m: new Map([['k', 1]]), s: new Set([1, 2]), d: new Date(5) }],
      ['RegExp', /ab+c/giu],
      ['typed arrays, ArrayBuffer, DataView', { f: new Float64Array([1.5]), b: new Uint8Array([1, 2]).buffer, v: new DataView(new ArrayBuffer(4)) }],
    ]
    const refused: [string, unknown][] = [
      ['a function', { f: () => 1 }],
      ['a symbol', { s: Symbol('s') }],
      ['an Error', { e: new Error('boom') }],
      ['a URL', { u: new URL('https://example.com/') }],
      ['a Promise', { p: Promise.resolve() }],
      ['a boxed primitive', { n: Object(1) as unknown }],
      ['a class instance', { c: new (class Point {})() }],
      ['a subclass of Map', { m: new (class Registry extends Map {})() }],
      ['an array with holes', [1, , 3]], // eslint-disable-line no-sparse-arrays
      ['a lone surrogate', { s: '\ud800' }],
    ]
    for (const [what, value] of roundTrip) {
      it(`comes back as it went in: ${what}`, () => {
        const map = SharedMap.create()
        map.set('k', value)
        expect(map.get('k')).toEqual(value)
        const store = SnapshotStore.create({ initial: value })
        expect(store.get()).toEqual(value)
      })
    }
    it('keeps cycles and shared references, identity included', () => {
      const map = SharedMap.create<{ a: unknown; b: unknown; c: Record<string, unknown> }>()
      map.set('k', { a: shared, b: shared, c: cycle })
      const back = map.get('k')!
      expect(back.a).toBe(back.b)
      expect(back.c['self']).toBe(back.c)
      const frozen = SnapshotStore.create({ initial: { a: shared, b: shared, c: cycle } }).get()
      expect(frozen.a).toBe(frozen.b)
      expect(frozen.c['self']).toBe(frozen.c)
    })
    it('a Node Buffer comes back as a Uint8Array', () => {
      const map = SharedMap.create()
      map.set('k', Buffer.from('hi'))
      const back = map.get('k')
      expect(back).toBeInstanceOf(Uint8Array)
      expect(Buffer.isBuffer(back)).toBe(false)
      expect([...(back as Uint8Array)]).toEqual([104, 105])
    })
    for (const [what, value] of refused) {
      it(`is refused with EncodeError, nothing stored: ${what}`, () => {
        const map = SharedMap.create()
        expect(() => map.set('k', value)).toThrow(EncodeError)
        expect(map.has('k')).toBe(false)
        const store = SnapshotStore.create<unknown>({ initial: 1 })
        expect(() => store.publish(value)).toThrow(EncodeError)
        expect(store.version).toBe(1)
      })
    }
    it('the README table names each of these', () => {
      const table = section('### Which values round-trip')
      for (const word of ['`RegExp`', 'cycles and shared references, identity kept', '`Error`', '`URL`', '`Promise`', 'boxed primitives', '`Uint8Array`', 'holes', 'lone surrogate', '`MAX_DEPTH`']) {
        expect(table).toContain(word)
      }
    })
  })
})
