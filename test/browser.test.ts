/**
 * The core in a real browser: threadstate's browser bundle (esbuild, browser
 * conditions) on a cross-origin-isolated page in headless Chromium, with Web
 * Workers. Checks what only a browser can: SharedArrayBuffer handles cross
 * `postMessage` to module workers, workers block in Atomics.wait while the
 * page may not (BlockingNotAllowedError, lockAsync instead), no torn
 * StateBuffer read, exact Mutex counts, deadlock detection between workers.
 *
 * Needs Chromium (Debian package `chromium`; .ci/run installs it). Without it
 * the test is skipped with a message saying so.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundleCore } from './bundle.js'

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)

const dir = new URL('./browser/', import.meta.url)

/** Serves the page, its scripts and the bundle on 127.0.0.1, cross-origin isolated. */
async function serve(bundle: string): Promise<Server> {
  const files: Record<string, [string, string]> = {
    '/page.html': ['text/html', readFileSync(new URL('page.html', dir), 'utf8')],
    '/main.js': ['text/javascript', readFileSync(new URL('main.js', dir), 'utf8')],
    '/worker.js': ['text/javascript', readFileSync(new URL('worker.js', dir), 'utf8')],
    '/threadstate.js': ['text/javascript', bundle],
  }
  const server = createServer((req, res) => {
    const file = files[req.url ?? '']
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp')
    if (!file) {
      res.statusCode = 404
      res.end()
      return
    }
    res.setHeader('Content-Type', file[0])
    res.end(file[1])
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

describe.skipIf(!available)('in headless Chromium, with Web Workers', () => {
  let server: Server
  beforeAll(async () => {
    server = await serve((await bundleCore('browser', 'esm')).code)
  })
  afterAll(() => new Promise<void>((resolve) => server?.close(() => resolve())))

  it('runs the core unchanged: handles to workers, no torn read, exact counts, the page never blocks, deadlocks reported', async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/page.html`)
      await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 60_000 })
      type Figures = {
        crossOriginIsolated: boolean
        stateBuffer: { updates: number; torn: number; versions: number }
        pageRead: boolean
        mutex: { total: number; breaks: number; stats: { contended: number } }
        blocking: string
        timedAsync: boolean
        lockAsync: boolean
        deadlock: string[]
        pageWrites: { pageWrites: number; pageErrors: number; workerUpdates: number; workerSets: number }
        pageError?: string
      }
      const outcome = (await page.evaluate(() => (globalThis as { __result?: unknown }).__result)) as { ok: boolean; error?: string; result?: Figures }
      expect(errors).toEqual([])
      expect(outcome.error).toBeUndefined()
      const r = outcome.result!
      expect(r.crossOriginIsolated).toBe(true)
      expect(r.stateBuffer.updates).toBeGreaterThan(100)
      expect(r.stateBuffer.torn).toBe(0)
      expect(r.stateBuffer.versions).toBeGreaterThan(1) // the readers really read during writes (more than one version; how many depends on the load)
      expect(r.pageRead).toBe(true)
      expect(r.mutex.total).toBe(900_000)
      expect(r.mutex.stats.contended).toBeGreaterThan(0) // the workers really overlapped
      expect(r.mutex.breaks).toBe(0)
      expect(r.blocking).toBe('BlockingNotAllowedError')
      expect(r.timedAsync).toBe(false)
      expect(r.lockAsync).toBe(true)
      expect(r.deadlock).toEqual(['both', 'deadlock'])
      // The page wrote a StateBuffer and a SharedMap 20,000 times while workers wrote them flat out.
      expect(r.pageError).toBeUndefined()
      expect(r.pageWrites.pageWrites).toBe(20_000)
      expect(r.pageWrites.workerUpdates).toBeGreaterThan(1000)
      expect(r.pageWrites.workerSets).toBeGreaterThan(1000)
    } finally {
      await browser.close()
    }
  })
})
