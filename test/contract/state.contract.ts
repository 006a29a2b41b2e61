/**
 * The WritableState contract (src/contracts.ts) as tests any implementation
 * runs: `describeWritableState(name, factory)`.
 */
import { describe, expect, it } from 'vitest'
import { SchemaError, bool, enumOf, f64, schema, vec3, type Infer, type Schema, type WritableState } from '../../src/index.js'

/** Makes the states a contract suite runs against. */
export interface StateFactory {
  /** A fresh state of `schema` keeping at least `history` versions. */
  create<S extends Schema>(schema: S, options: { readonly history: number }): WritableState<S> | Promise<WritableState<S>>
  /** Another holder's view of the same state. */
  peer<S extends Schema>(state: WritableState<S>): WritableState<S> | Promise<WritableState<S>>
}

const Drone = schema({
  position: vec3({ unit: 'm' }),
  mode: enumOf(['idle', 'armed', 'flying']),
  battery: f64({ unit: '%', min: 0, max: 100 }),
  armed: bool(),
})
const pose: Infer<typeof Drone> = { position: [1, 2, 3], mode: 'armed', battery: 87.5, armed: true }

/** Runs the WritableState contract against `factory`'s states. */
export function describeWritableState(name: string, factory: StateFactory): void {
  describe(`WritableState contract: ${name}`, () => {
    it('publish returns versions 1, 2, ...; latest, at and a peer read them back', async () => {
      const buf = await factory.create(Drone, { history: 8 })
      expect(buf.latest()).toBeUndefined()
      expect(buf.version).toBe(0)
      expect(await buf.publish(pose, { source: 'estimator' })).toBe(1)
      expect(await buf.publish({ ...pose, position: { value: [100, 0, 0], unit: 'cm' } })).toBe(2)
      const latest = buf.latest()!
      expect(latest.version).toBe(2)
      expect(latest.value.position[0]).toBeCloseTo(1) // converted to the field's unit
      expect(latest.source).toBeUndefined()
      expect(buf.at(1)?.source).toBe('estimator')
      expect(buf.at(1)?.value).toEqual(pose)
      const peer = await factory.peer(buf)
      expect(await peer.waitForVersionAsync(2, { timeoutMs: 10_000 })).toBe(true)
      expect(peer.latest()!.value).toEqual(latest.value)
    })

    it('a bad state is a SchemaError naming the field, and nothing is published', async () => {
      const buf = await factory.create(Drone, { history: 8 })
      await buf.publish(pose)
      for (const [bad, path] of [
        [{ ...pose, battery: Number.NaN }, 'battery'],
        [{ ...pose, battery: 101 }, 'battery'],
        [{ ...pose, mode: 'landing' }, 'mode'],
        [{ ...pose, position: [1, 2] }, 'position'],
        [{ ...pose, extra: 1 }, 'extra'],
        [{ ...pose, battery: { value: 5, unit: 'm' } }, 'battery'],
      ] as const) {
        let error: unknown
        try {
          await buf.publish(bad as never)
        } catch (e) {
          error = e
        }
        expect(error, path).toBeInstanceOf(SchemaError)
        expect((error as SchemaError).path, path).toBe(path)
      }
      expect(buf.version).toBe(1)
    })

    it('readers tell fresh (a new version) and stale (older than maxAgeMs)', async () => {
      const buf = await factory.create(Drone, { history: 8 })
      // Bounds a loaded machine cannot break: a publish read back within 10 s is not stale; one
      // stamped a minute ago is (a 20 ms bound failed on a busy box, a publish taking longer).
      const reader = buf.reader({ maxAgeMs: 10_000 })
      expect(reader.read()).toBeUndefined()
      await buf.publish(pose)
      expect(reader.read()).toMatchObject({ version: 1, fresh: true, stale: false })
      expect(reader.read()!.fresh).toBe(false)
      await buf.publish(pose, { timestamp: performance.timeOrigin + performance.now() - 60_000 })
      const old = reader.read()!
      expect(old).toMatchObject({ fresh: true, stale: true })
      expect(old.ageMs).toBeGreaterThanOrEqual(60_000)
    })

    it('history is newest first; at() finds what the history still holds', async () => {
      const buf = await factory.create(Drone, { history: 4 })
      for (let i = 0; i < 20; i++) await buf.publish({ ...pose, battery: i })
      expect(buf.history(4).map((e) => [e.version, e.value.battery])).toEqual([[20, 19], [19, 18], [18, 17], [17, 16]])
      expect(buf.at(20)?.value.battery).toBe(19)
      expect(buf.at(1)).toBeUndefined()
      expect(buf.at(21)).toBeUndefined()
    })

    it("subscribe: 'latest' coalesces with `skipped`; 'every' delivers each version in order, `overrun` past the history", async () => {
      const buf = await factory.create(Drone, { history: 4 })
      const latest = buf.subscribe()
      const first = latest.next()
      await buf.publish(pose)
      expect((await first).value).toMatchObject({ version: 1, skipped: 0, overrun: false })
      for (let i = 0; i < 5; i++) await buf.publish(pose)
      expect((await latest.next()).value).toMatchObject({ version: 6, skipped: 4 })
      await latest.return(undefined)

      const every = buf.subscribe({ mode: 'every' })
      const next = every.next()
      await buf.publish(pose) // 7
      expect((await next).value).toMatchObject({ version: 7, overrun: false })
      await buf.publish(pose)
      await buf.publish(pose)
      expect([(await every.next()).value!.version, (await every.next()).value!.version]).toEqual([8, 9])
      for (let i = 0; i < 20; i++) await buf.publish(pose) // 10..29: more than the history holds
      const lapped = (await every.next()).value!
      expect(lapped.overrun).toBe(true)
      expect(lapped.skipped).toBeGreaterThan(0)
      expect((await every.next()).value!.version).toBe(lapped.version + 1)
      await every.return(undefined)
    })

    it('waitForVersionAsync: a peer publish resolves it, a timeout answers false, an abort rejects', async () => {
      const buf = await factory.create(Drone, { history: 4 })
      const peer = await factory.peer(buf)
      expect(await buf.waitForVersionAsync(1, { timeoutMs: 20 })).toBe(false)
      const waiting = buf.waitForVersionAsync(1, { timeoutMs: 10_000 })
      await peer.publish(pose)
      expect(await waiting).toBe(true)
      const controller = new AbortController()
      const aborted = buf.waitForVersionAsync(9, { signal: controller.signal })
      controller.abort(new Error('stop'))
      await expect(aborted).rejects.toThrow('stop')
    })
  })
}
