/**
 * `describe()` names a bad value inside the typed error about it. A hostile value (a revoked Proxy,
 * a throwing `length` or `constructor` getter) once turned that error into a raw TypeError from
 * describe itself (e.g. `SharedMap.create({ maxBytes: revoked })` threw "Cannot perform 'IsArray'
 * on a proxy that has been revoked" instead of OptionError). Broken variant: the describe() before
 * this test (no try): both tests fail.
 */
import { describe as suite, expect, it } from 'vitest'
import { OptionError, describe } from '../src/errors.js'
import { SharedMap as Map2 } from '../src/index.js'

const revoked = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

suite('describe() of hostile values', () => {
  it('never throws: a revoked Proxy, a throwing constructor getter, an array Proxy with a throwing length', () => {
    expect(describe(revoked())).toMatch(/throws when inspected/)
    expect(describe({ get constructor(): never { throw new Error('no') } })).toMatch(/throws when inspected/)
    expect(describe(new Proxy([1], { get: (t, k) => { if (k === 'length') throw new Error('no'); return Reflect.get(t, k) } }))).toMatch(/throws when inspected/)
    expect(describe({ constructor: { name: 42 } })).toBe('an object')
    expect(describe([1, 2])).toBe('an array of length 2')
    expect(describe(new Date(0))).toBe('a Date')
  })

  it('an option given a revoked Proxy is the OptionError about that option', () => {
    expect(() => Map2.create({ maxBytes: revoked() as unknown as number })).toThrow(OptionError)
  })
})
