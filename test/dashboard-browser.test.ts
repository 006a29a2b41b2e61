/**
 * The live dashboard (`serveStatus`'s `GET /`) in real headless Chromium:
 * a small program runs (two workers publishing a StateBuffer and contending
 * on a Mutex, a StateMachine cycling, a Watchdog on the StateBuffer, a
 * RateLoop, a SnapshotStore) while the page is open. The page must load
 * with no console error, no failed request and no CSP violation (uPlot and
 * the page's script are served by the status server itself: no CDN); its
 * figures must move (versions, lock acquisitions, the machine's state and
 * timeline), uPlot must draw its charts, and when the writers stop, the
 * watchdog must show EXPIRED and the StateBuffer STALE. A screenshot is
 * written to the system's temporary directory (its path is printed).
 *
 * Broken variants run once (docs/verification.md): the feed encoding a
 * frame's JSON over several lines behind one `data:` (each SSE event cut
 * short: the page's JSON.parse threw on every event, no frame was ever
 * rendered, the wait for frames timed out); the page's CSP with
 * `script-src 'none'` (no script ran: no figure ever appeared, the wait
 * for it timed out).
 *
 * Needs Chromium (Debian package `chromium`; .ci/run installs it); without
 * it the test is skipped with a message saying so.
 */
import { spawn as spawnProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Mutex, RateLoop, SnapshotStore, StateBuffer, StateMachine, Watchdog, f64, schema, u32 } from '../src/index.js'
import { serveStatus } from '../src/node/index.js'
import { raise, signals, spawn } from './helpers.js'

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`dashboard browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

const Pose = schema({ x: f64(), y: f64(), count: u32() })

/** The page's `document`, as far as the checks below use it (the test's own types know no DOM; page.evaluate runs the callbacks in the page, so each names it itself). */
interface PageDocument {
  readonly body: { readonly dataset: Readonly<Record<string, string | undefined>> }
  querySelector(selector: string): { readonly textContent: string | null } | null
}

/** Polls an async check (a reading of the page) every 200 ms until it holds; throws after `timeoutMs`, naming `what`. */
async function pollPage(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** The number in a figure's text ("1,234/s" -> 1234). */
const figure = (text: string | null | undefined): number => Number((text ?? '').replace(/[^0-9.-]/g, '').replace(/^\.|\.$/g, '') || Number.NaN)

describe.skipIf(!available)('the dashboard in headless Chromium', () => {
  it('loads with no console error, its figures move while a program runs, charts are drawn, a screenshot is taken', async () => {
    const pose = StateBuffer.create(Pose, { history: 8 })
    const mutex = Mutex.create()
    const machine = StateMachine.create({ states: ['idle', 'busy', 'stopped'], initial: 'idle', transitions: { idle: ['busy'], busy: ['idle'] }, anyTo: ['stopped'] })
    let expiries = 0
    const watchdog = Watchdog.forStateBuffer(pose, { maxAgeMs: 1000, onExpire: () => void expiries++ })
    const status = SnapshotStore.create({ initial: { ticks: 0 } })
    const reader = pose.reader({ maxAgeMs: 50 })
    let ticks = 0
    const loop = new RateLoop({
      hz: 50,
      onTick: () => {
        ticks++
        reader.read()
        if (ticks % 10 === 0) machine.transition(machine.is('idle') ? 'busy' : 'idle', { reason: `tick ${ticks}` })
        if (ticks % 5 === 0) status.publish({ ticks })
      },
    })
    const flags = signals(4)
    const workers = [1, 2].map((id) => spawn<number>('writer', { pose: pose.handle, mutex: mutex.handle, flags, id }, 'dashboard-program.mjs'))
    const running = loop.start()
    watchdog.start()
    let server: Awaited<ReturnType<typeof serveStatus>> | undefined
    let browser: Awaited<ReturnType<(typeof import('playwright-core'))['chromium']['launch']>> | undefined
    try {
      server = await serveStatus({
        status,
        dashboard: {
          title: 'dashboard test',
          objects: () => ({ pose, mutex, machine, watchdog, status, loop }),
          plots: { 'pose x': () => ({ x: pose.latest()?.value.x ?? 0 }) },
          maxAgeMs: { pose: 50 },
          intervalMs: 100,
        },
      })
      const { chromium } = await import('playwright-core')
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: LAUNCH_ARGS,
      })
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
      const problems: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`)
      })
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
      page.on('requestfailed', (r) => {
        if (!r.url().endsWith('/dashboard/feed')) problems.push(`request failed: ${r.url()}`) // the feed is cut when the server closes
      })
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`)
      })
      await page.goto(server.dashboardUrl!)
      const text = (selector: string): Promise<string | null> => page.locator(selector).first().textContent({ timeout: 10_000 })
      const read = async () => ({
        version: figure(await text('[data-object="pose"] [data-field="version"]')),
        acquisitions: figure(/\(([\d,]+) in all\)/.exec((await text('[data-object="mutex"] [data-field="acquisitions"]')) ?? '')?.[1]),
        transitions: figure((await text('[data-object="machine"] [data-field="transitions · rejected"]'))?.split('·')[0]),
        publishes: figure(await text('[data-object="status"] [data-field="version"]')),
        segments: await page.locator('[data-object="machine"] .timeline .seg').count(),
        loop: await text('[data-object="loop"] [data-field="rate"]'),
      })
      // The workers may take a while to start on a loaded machine: wait for the first version, then
      // for every figure to move (no rate, no time bound: only that they do move).
      await pollPage(async () => (await read()).version > 0, 'the page shows a published pose', 60_000)
      const before = await read()
      let after = before
      const moved = (x: typeof before): boolean =>
        x.version > before.version && x.acquisitions > before.acquisitions && x.publishes > before.publishes && x.transitions > before.transitions && x.segments >= 2
      await pollPage(async () => moved((after = await read())), 'every figure on the page moves', 60_000)
      expect(after.version).toBeGreaterThan(before.version)
      expect(after.acquisitions).toBeGreaterThan(before.acquisitions)
      expect(after.publishes).toBeGreaterThan(before.publishes)
      expect(after.transitions).toBeGreaterThan(before.transitions)
      expect(after.segments).toBeGreaterThanOrEqual(2) // idle and busy on the timeline
      expect(after.loop).toMatch(/of 50 Hz/)
      expect(await text('[data-object="machine"] .state')).toMatch(/^(idle|busy)$/)
      // ok while the writers publish (waited for: a writer starved for 1 s by the machine's load may expire it for a moment)
      await page.waitForFunction(() => /^ok/.test((globalThis as unknown as { document: PageDocument }).document.querySelector('[data-object="watchdog"] [data-field="state"]')?.textContent ?? ''), undefined, { timeout: 30_000 })
      // uPlot drew: a chart per StateBuffer, SnapshotStore, Mutex, RateLoop, and the plot.
      expect(await page.locator('.uplot canvas').count()).toBeGreaterThanOrEqual(5)
      expect(await page.locator('[data-plot="pose x"] .uplot').count()).toBe(1)

      // The writers stop: the watchdog expires and the pose goes stale, on the page.
      raise(flags, 0)
      await Promise.all(workers.map((w) => w.result))
      await page.waitForFunction(() => (globalThis as unknown as { document: PageDocument }).document.querySelector('[data-object="watchdog"] [data-field="state"]')?.textContent === 'EXPIRED', undefined, { timeout: 30_000 })
      expect(await text('[data-object="pose"] [data-field="age"]')).toMatch(/STALE/)
      expect(expiries).toBeGreaterThan(0)
      const shot = join(tmpdir(), `threadstate-dashboard-${process.pid}.png`)
      await page.screenshot({ path: shot, fullPage: true })
      console.log(`dashboard screenshot: ${shot}`)
      expect(problems).toEqual([])
    } finally {
      await browser?.close()
      await server?.close()
      raise(flags, 0)
      loop.stop()
      await running.catch(() => {})
      watchdog.stop()
    }
  }, 90_000)
  it('the drone demo: its first line is the dashboard URL; the page shows every object, the flight plots move, no console error', async () => {
    const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url))
    const child = spawnProcess(process.execPath, [bin, 'demo', '--duration', '80'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
        if (stdout.includes('\n')) {
          const first = stdout.slice(0, stdout.indexOf('\n'))
          const match = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(first)
          if (match) resolve(match[1]!)
          else reject(new Error(`expected the dashboard URL first, got ${JSON.stringify(first)}`))
        }
      })
      void exited.then(() => reject(new Error(`the demo ended without printing its dashboard URL:\n${stdout}`)))
    })
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS })
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } })
      const problems: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`)
      })
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
      await page.goto(url)
      const frames = (n: number) =>
        page.waitForFunction((t) => Number((globalThis as unknown as { document: PageDocument }).document.body.dataset['frames'] ?? '0') >= t, n, { timeout: 30_000 })
      const version = async (): Promise<number> => figure(await page.locator('[data-object="pose"] [data-field="version"]').textContent({ timeout: 10_000 }))
      await frames(2)
      await pollPage(async () => (await version()) > 0, 'the page shows a published pose', 60_000)
      const first = await version()
      await pollPage(async () => (await version()) > first, 'the pose version moving on the page', 60_000)
      for (const name of ['pose', 'command', 'telemetry', 'status', 'machine', 'operator', 'watchdog', 'gains', 'threads']) {
        expect(await page.locator(`[data-object="${name}"]`).count(), name).toBe(1)
      }
      for (const title of ['drone position vs reference (m)', 'tracking error (m)', 'controller loop jitter (ms)']) {
        await page.locator(`[data-plot="${title}"] .uplot canvas`).waitFor({ timeout: 60_000 }) // once the controller has published
        expect(await page.locator(`[data-plot="${title}"] .uplot canvas`).count(), title).toBe(1)
      }
      const shot = join(tmpdir(), `threadstate-dashboard-demo-${process.pid}.png`)
      await page.screenshot({ path: shot, fullPage: true })
      console.log(`demo dashboard screenshot: ${shot}`)
      expect(await page.locator('[data-object="machine"] .state').textContent()).toMatch(/^(init|ready|flying|landed|estop)$/)
      expect(problems).toEqual([])
    } finally {
      await browser.close()
      child.kill()
      await exited
    }
  }, 90_000)
})
