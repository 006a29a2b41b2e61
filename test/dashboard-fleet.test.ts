/**
 * The live dashboard of `threadstate demo-fleet` (three processes on a real
 * redis-server): its first line is the dashboard URL; the feed lists the
 * Redis-backed objects with their kinds (RedisStateBuffer,
 * RedisSnapshotStore, RedisStateMachine with its states and transitions,
 * RedisTriggerFlags, RedisWatchdog, whose `stats()` is a promise read on
 * the server, and the domain's bridge figures) and the flight plots; the
 * pose's mirror version moves between frames; and, where Chromium is
 * installed, the page renders a card for each with no console error.
 *
 * Broken variant run once (docs/verification.md): the feed not awaiting a
 * promise from `stats()` (the RedisWatchdog's): its frame object carried
 * `{}` and the `expired` check failed.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { DashboardFrame } from '../src/node/index.js'
import { pollUntil } from './helpers.js'
import { describeRedis, startRedisServer, type RedisServer } from './redis/server.js'

const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url))
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'

describeRedis('the dashboard of threadstate demo-fleet', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('first line is its URL; the feed shows every Redis-backed object, the watchdog read on the server, the plots; the pose moves', async () => {
    // Long enough to outlast every step on a loaded machine (it once ended, after its 10 s, before
    // Chromium reached the page: ERR_CONNECTION_REFUSED); Ctrl-C ends it when the test is done.
    const child = spawn(process.execPath, [bin, 'demo-fleet', '--duration', '100', '--plain', '--redis', server.url], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
    const feed = new AbortController()
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk
          if (!stdout.includes('\n')) return
          const first = stdout.slice(0, stdout.indexOf('\n'))
          const match = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(first)
          if (match) resolve(match[1]!)
          else reject(new Error(`expected the dashboard URL first, got ${JSON.stringify(first)}`))
        })
        void exited.then(() => reject(new Error(`demo-fleet ended without printing its dashboard URL:\n${stdout}${stderr}`)))
      })
      const frames: DashboardFrame[] = []
      const response = await fetch(`${url}dashboard/feed`, { signal: feed.signal })
      expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      void (async () => {
        let text = ''
        const decoder = new TextDecoder()
        try {
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
            text += decoder.decode(chunk, { stream: true })
            let end: number
            while ((end = text.indexOf('\n\n')) >= 0) {
              const data = text.slice(0, end).split('\n').find((l) => l.startsWith('data: '))
              text = text.slice(end + 2)
              if (data !== undefined) frames.push(JSON.parse(data.slice(6)) as DashboardFrame)
            }
          }
        } catch {
          // aborted
        }
      })()
      const poseVersion = (f: DashboardFrame): number => (f.objects.find((o) => o.name === 'pose')?.stats as { version?: number } | undefined)?.version ?? 0
      await pollUntil(() => frames.some((f) => poseVersion(f) > 0), 'a frame with a published pose', 30_000)
      const first = frames.find((f) => poseVersion(f) > 0)!
      await pollUntil(() => frames.some((f) => poseVersion(f) > poseVersion(first)), 'the pose moving', 30_000)
      // The supervisor moves the machine (init -> ready) once it sees the pose and a command: wait for that frame.
      const moved = (f: DashboardFrame): boolean => (f.objects.find((o) => o.name === 'machine')?.transitions?.length ?? 0) > 0
      await pollUntil(() => frames.some(moved), 'a frame with a transition of the machine', 30_000)
      const frame = frames.find(moved)!
      const kinds = Object.fromEntries(frame.objects.map((o) => [o.name, o.kind]))
      expect(kinds).toEqual({
        pose: 'RedisStateBuffer',
        command: 'RedisStateBuffer',
        telemetry: 'RedisStateBuffer',
        status: 'RedisSnapshotStore',
        gains: 'RedisSnapshotStore',
        machine: 'RedisStateMachine',
        operator: 'RedisTriggerFlags',
        watchdog: 'RedisWatchdog',
        redis: 'RedisDomain',
      })
      for (const o of frame.objects) expect(o.error, o.name).toBeUndefined()
      const watchdog = frame.objects.find((o) => o.name === 'watchdog')!.stats as { expired?: unknown; timeoutMs?: unknown }
      expect(typeof watchdog.expired).toBe('boolean')
      expect(watchdog.timeoutMs).toBe(1000)
      const machine = frame.objects.find((o) => o.name === 'machine')!
      expect(machine.states).toContain('flying')
      expect(machine.transitions?.length).toBeGreaterThan(0)
      expect(Object.keys(frame.plots)).toEqual(expect.arrayContaining(['drone position vs reference (m)', 'tracking error (m)']))

      if (existsSync(CHROMIUM)) {
        const { chromium } = await import('playwright-core')
        const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] })
        try {
          const page = await browser.newPage()
          const problems: string[] = []
          page.on('console', (m) => {
            if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`)
          })
          page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
          await page.goto(url)
          await page.locator('[data-object="watchdog"] [data-field="state"]').waitFor({ timeout: 30_000 })
          for (const name of Object.keys(kinds)) expect(await page.locator(`[data-object="${name}"]`).count(), name).toBe(1)
          expect(await page.locator('[data-object="machine"] .timeline .seg').count()).toBeGreaterThan(0)
          expect(problems).toEqual([])
        } finally {
          await browser.close()
        }
      }
    } finally {
      feed.abort()
      child.kill('SIGINT')
      await exited
    }
  }, 120_000)
})
