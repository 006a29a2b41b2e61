/**
 * Every shared-memory layout is built with LayoutPlan (src/memory/fields.ts),
 * which refuses overlapping, misaligned or out-of-bounds fields when the
 * module loads. This checks that the objects' layouts are all registered and
 * well-formed, and that the check itself catches what it should.
 */
import { describe, expect, it } from 'vitest'
import '../src/index.js'
import { LAYOUTS, LayoutPlan, checkSpans } from '../src/memory/fields.js'

describe('shared-memory layouts', () => {
  it('every object kind with a layout module has a finished, well-formed plan', () => {
    expect([...LAYOUTS.keys()]).toEqual(expect.arrayContaining(['SnapshotStore']))
    for (const layout of LAYOUTS.values()) {
      expect(() => checkSpans(layout.kind, layout.fields, layout.bytes), layout.kind).not.toThrow()
      expect(layout.fields.length, layout.kind).toBeGreaterThan(1)
    }
  })

  it('refuses overlapping, misaligned and out-of-bounds fields', () => {
    const overlap = new LayoutPlan('test overlap')
    overlap.i32('A')
    overlap.at('B', 16, 8)
    expect(() => overlap.finish()).toThrow(/A \(16\.\.20\) overlapping B at 16/)
    const misaligned = new LayoutPlan('test misaligned', false)
    misaligned.at('F', 4, 8)
    expect(() => misaligned.finish()).toThrow(/aligned to 8/)
    const outside = new LayoutPlan('test outside')
    outside.f64('X')
    expect(() => outside.finish(20)).toThrow(/within 20 bytes/)
    const fine = new LayoutPlan('test fine')
    expect([fine.i32('A'), fine.f64('B'), fine.i32('C'), fine.area('D', 64, 64)]).toEqual([16, 24, 32, 64])
    expect(fine.finish()).toBe(128)
  })
})
