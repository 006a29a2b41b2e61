/**
 * The live dashboard over plain HTTP: every file with its content type,
 * `nosniff` and (the page) a restrictive CSP; uPlot byte for byte from the
 * installed package (no CDN); HEAD; 404 and 405; the Server-Sent Events
 * framing of the feed; one frame read per tick for all pages (the objects'
 * `stats()` is called once per frame, not once per page); the client cap;
 * nothing read while no page is open; bad options refused.
 *
 * Broken variants run once (docs/verification.md): a feed that read a
 * frame per client (stats() called 5x per frame: "once per frame" failed);
 * a cap checked with `>` instead of `>=` (the third page got 200); a feed
 * that did not stop when the last page left (stats() calls went on); the
 * title not escaped (the `<script>` of a title reached the page); the
 * last frame kept after the last page left (a new page's first frame was
 * the old one: "expected 11 to be 12").
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { Mutex, OptionError, SnapshotStore, StateBuffer, StateMachine, StateManager, f64, schema } from '../src/index.js'
import { ThreadstateMetrics, serveStatus, type DashboardFrame } from '../src/node/index.js'
import { pollUntil } from './helpers.js'

const require = createRequire(import.meta.url)

/** One open feed: its raw text so far and the frames parsed from it. */
interface Feed {
  readonly text: () => string
  readonly frames: DashboardFrame[]
  readonly status: number
  readonly close: () => void
}

async function openFeed(url: string): Promise<Feed> {
  const controller = new AbortController()
  const response = await fetch(`${url}/dashboard/feed`, { signal: controller.signal })
  let text = ''
  const frames: DashboardFrame[] = []
  if (response.ok && response.body) {
    const decoder = new TextDecoder()
    void (async () => {
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true })
          // Complete events only: each ends with a blank line.
          frames.length = 0
          for (const event of text.split('\n\n').slice(0, -1)) {
            const data = event.split('\n').filter((l) => l.startsWith('data: '))
            if (data.length > 0) frames.push(JSON.parse(data.map((l) => l.slice(6)).join('\n')) as DashboardFrame)
          }
        }
      } catch {
        // aborted
      }
    })()
  } else await response.text()
  return { text: () => text, frames, status: response.status, close: () => controller.abort() }
}

describe('the dashboard over HTTP', () => {
  it('serves the page, its script and style and uPlot with their content types, nosniff, a CSP on the page; HEAD; 404; 405', async () => {
    const mutex = Mutex.create()
    const server = await serveStatus({ metrics: new ThreadstateMetrics({ mutex }) })
    try {
      expect(server.dashboardUrl).toBe(`${server.url}/`)
      const files: [string, RegExp][] = [
        ['/', /^text\/html; charset=utf-8$/],
        ['/dashboard/app.js', /^text\/javascript; charset=utf-8$/],
        ['/dashboard/app.css', /^text\/css; charset=utf-8$/],
        ['/dashboard/uplot.js', /^text\/javascript; charset=utf-8$/],
        ['/dashboard/uplot.css', /^text\/css; charset=utf-8$/],
      ]
      for (const [path, type] of files) {
        const get = await fetch(server.url + path)
        expect(get.status, path).toBe(200)
        expect(get.headers.get('content-type'), path).toMatch(type)
        expect(get.headers.get('x-content-type-options'), path).toBe('nosniff')
        const body = Buffer.from(await get.arrayBuffer())
        expect(Number(get.headers.get('content-length')), path).toBe(body.length)
        const head = await fetch(server.url + path, { method: 'HEAD' })
        expect(head.status, path).toBe(200)
        expect(head.headers.get('content-type'), path).toBe(get.headers.get('content-type'))
        expect(head.headers.get('content-length'), path).toBe(String(body.length))
        expect((await head.arrayBuffer()).byteLength, path).toBe(0)
      }
      // uPlot is the installed package's file, byte for byte: no CDN, works offline.
      const uplot = Buffer.from(await (await fetch(`${server.url}/dashboard/uplot.js`)).arrayBuffer())
      expect(uplot.equals(readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')))).toBe(true)
      const page = await fetch(`${server.url}/`)
      const csp = page.headers.get('content-security-policy') ?? ''
      expect(csp).toMatch(/default-src 'none'/)
      expect(csp).toMatch(/script-src 'self'(;|$)/)
      expect(csp).toMatch(/connect-src 'self'(;|$)/)
      expect(csp).toMatch(/frame-ancestors 'none'/)
      const html = await page.text()
      expect(html).not.toMatch(/https?:\/\//) // nothing from elsewhere
      expect(html).not.toMatch(/<script>|<style>|\sstyle=|\son\w+=/) // no inline script or style (the CSP would block them)
      expect(html).toContain('href="metrics"')
      expect(html).not.toContain('href="status"') // no status given, no link to it

      const missing = await fetch(`${server.url}/dashboard/nope.js`)
      expect(missing.status).toBe(404)
      expect(missing.headers.get('x-content-type-options')).toBe('nosniff')
      expect(await missing.text()).toMatch(/try \/ or \/metrics/)
      expect((await fetch(`${server.url}/nope`, { method: 'HEAD' })).status).toBe(404)
      const post = await fetch(`${server.url}/`, { method: 'POST' })
      expect(post.status).toBe(405)
      expect(post.headers.get('allow')).toBe('GET, HEAD')
      const feedHead = await fetch(`${server.url}/dashboard/feed`, { method: 'HEAD' })
      expect(feedHead.status).toBe(200)
      expect(feedHead.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect(server.dashboardClients).toBe(0)
    } finally {
      await server.close()
    }
  })

  it("escapes the page's title", async () => {
    const server = await serveStatus({ dashboard: { objects: {}, title: '<script>alert("x")</script> & co' } })
    try {
      const html = await (await fetch(server.dashboardUrl!)).text()
      expect(html).toContain('<title>&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; co</title>')
      expect(html).not.toContain('<script>alert')
    } finally {
      await server.close()
    }
  })

  it('no dashboard without objects (status only) or with dashboard: false', async () => {
    const status = SnapshotStore.create({ initial: { a: 1 } })
    for (const options of [{ status }, { status, metrics: new ThreadstateMetrics({ status }), dashboard: false as const }]) {
      const server = await serveStatus(options)
      try {
        expect(server.dashboardUrl).toBeUndefined()
        expect((await fetch(`${server.url}/`)).status).toBe(404)
        expect((await fetch(`${server.url}/dashboard/feed`)).status).toBe(404)
        expect((await fetch(`${server.url}/status`)).status).toBe(200)
      } finally {
        await server.close()
      }
    }
  })

  it('the feed: SSE framing, every registered object, machine transitions, plots; one frame read per tick for 5 pages; nothing read with none; a fresh frame for a later page', async () => {
    const Pose = schema({ x: f64() })
    const pose = StateBuffer.create(Pose)
    const machine = StateMachine.create({ states: ['a', 'b'], initial: 'a', transitions: { a: ['b'] } })
    const registry = StateManager.create().add('pose', pose).add('machine', machine).add('lock', Mutex.create())
    pose.publish({ x: 1 })
    machine.transition('b', { reason: 'test' })
    let statsCalls = 0
    const counted = { stats: () => ({ calls: ++statsCalls }) }
    let plotted = 0
    const server = await serveStatus({
      dashboard: {
        objects: () => ({ ...Object.fromEntries(registry.names().map((n) => [n, registry.get(n as 'pose')])), counted }),
        plots: { 'pose x': () => ({ x: pose.latest()?.value.x ?? Number.NaN, n: ++plotted }) },
        maxAgeMs: { pose: 25 },
        intervalMs: 50,
      },
    })
    const feeds: Feed[] = []
    try {
      for (let i = 0; i < 5; i++) feeds.push(await openFeed(server.url))
      expect(feeds.map((f) => f.status)).toEqual([200, 200, 200, 200, 200])
      await pollUntil(() => feeds.every((f) => f.frames.length >= 6), 'every page has 6 frames')
      expect(server.dashboardClients).toBe(5)
      // Framing: a retry field, then events of one id line and one data line each.
      const text = feeds[0]!.text()
      expect(text.startsWith('retry: 2000\n\n')).toBe(true)
      for (const event of text.split('\n\n').slice(1, -1)) expect(event).toMatch(/^id: \d+\ndata: \{[^\n]*\}$/)
      const frame = feeds[0]!.frames.at(-1)!
      expect(frame.objects.map((o) => [o.name, o.kind])).toEqual([
        ['pose', 'StateBuffer'],
        ['machine', 'StateMachine'],
        ['lock', 'Mutex'],
        ['counted', 'object'],
      ])
      const poseFrame = frame.objects[0]!
      expect(poseFrame.maxAgeMs).toBe(25)
      expect((poseFrame.stats as { version: number }).version).toBe(1)
      const m = frame.objects[1]!
      expect(m.states).toEqual(['a', 'b'])
      expect(m.transitions?.map((t) => [t.from, t.to, t.reason])).toEqual([['a', 'b', 'test']])
      expect(frame.plots['pose x']?.x).toBe(1)
      // One read per frame whatever the number of pages: stats() and the plot ran once per frame seq.
      const seqs = new Set(feeds.flatMap((f) => f.frames.map((x) => x.seq)))
      const last = Math.max(...seqs)
      expect(server.dashboardFrames).toBeGreaterThanOrEqual(last)
      expect(statsCalls).toBe(server.dashboardFrames)
      expect(plotted).toBe(server.dashboardFrames)
      // The pages got the same frames (same bytes): each seq carries one `calls` value everywhere.
      const calls = new Map<number, number>()
      for (const f of feeds) {
        for (const x of f.frames) {
          const c = (x.objects[3]!.stats as { calls: number }).calls
          expect(calls.get(x.seq) ?? c).toBe(c)
          calls.set(x.seq, c)
        }
      }
      // Every page gone: nothing is read any more.
      for (const f of feeds) f.close()
      await pollUntil(() => server.dashboardClients === 0, 'every page is gone')
      const after = statsCalls
      await new Promise((resolve) => setTimeout(resolve, 300)) // 6 intervals
      expect(statsCalls).toBe(after)
      // A page that comes later gets a fresh frame first, not the one left from when the last page went.
      const encoded = server.dashboardFrames
      const again = await openFeed(server.url)
      feeds.push(again)
      await pollUntil(() => again.frames.length >= 1, 'a frame for the new page')
      expect(again.frames[0]!.seq).toBe(encoded + 1)
    } finally {
      for (const f of feeds) f.close()
      await server.close()
      registry.close()
    }
  })

  it('caps the pages (503 with retry-after beyond maxClients) and takes a new one when one leaves', async () => {
    const server = await serveStatus({ dashboard: { objects: { lock: Mutex.create() }, maxClients: 2, intervalMs: 50 } })
    const feeds: Feed[] = []
    try {
      feeds.push(await openFeed(server.url), await openFeed(server.url))
      await pollUntil(() => server.dashboardClients === 2, 'two pages connected')
      const third = await fetch(`${server.url}/dashboard/feed`)
      expect(third.status).toBe(503)
      expect(third.headers.get('retry-after')).toBe('2')
      expect(await third.text()).toMatch(/at most 2/)
      feeds[0]!.close()
      await pollUntil(() => server.dashboardClients === 1, 'one page left')
      feeds.push(await openFeed(server.url))
      expect(feeds[2]!.status).toBe(200)
    } finally {
      for (const f of feeds) f.close()
      await server.close()
    }
  })

  it('refuses bad dashboard options with a typed error before listening', async () => {
    await expect(serveStatus({ dashboard: { intervalMs: 0 } })).rejects.toThrow(OptionError)
    await expect(serveStatus({ dashboard: { intervalMs: 5 } })).rejects.toThrow(/`dashboard.intervalMs` to be an integer from 20 to 10000, got `5`/)
    await expect(serveStatus({ dashboard: { intervalMs: 60_000 } })).rejects.toThrow(/`dashboard.intervalMs` to be an integer from 20 to 10000/)
    await expect(serveStatus({ dashboard: { maxClients: 1.5 } })).rejects.toThrow(/`dashboard.maxClients` to be an integer from 1 to 1000/)
    await expect(serveStatus({ dashboard: { plots: { a: 1 as unknown as () => undefined } } })).rejects.toThrow(/`dashboard.plots\["a"\]` to be a function/)
    await expect(serveStatus({ dashboard: { maxAgeMs: { pose: -1 } } })).rejects.toThrow(/`dashboard.maxAgeMs\["pose"\]` to be a finite number > 0/)
    await expect(serveStatus({ dashboard: { objects: 3 as never } })).rejects.toThrow(OptionError)
  })
})
