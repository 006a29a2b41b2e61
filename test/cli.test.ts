/**
 * The CLI: the drone demo (clean and with the estimator killed) passes its
 * checks and serves /status and /metrics while it runs; the locks demo
 * passes; `bench` writes markdown and JSON; bad input gets usage and exit 2.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import type * as BenchRun from '../bench/run.js'
import type { BenchModule } from '../src/cli/bench.js'
import type { DemoStatus } from '../src/cli/drone/protocol.js'

const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url))

interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function cli(...args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** A demo process: its status URL (from the line it prints at start) and its outcome. */
interface DemoProcess {
  readonly url: Promise<string>
  readonly done: Promise<Outcome>
}

function startDemo(...args: string[]): DemoProcess {
  const child = spawn(process.execPath, [bin, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let foundUrl: (url: string) => void = () => {}
  const url = new Promise<string>((resolve, reject) => {
    foundUrl = resolve
    child.once('close', () => reject(new Error(`the demo ended without printing its status URL:\n${stdout}${stderr}`)))
  })
  url.catch(() => {}) // awaited by the tests that need it
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    const match = /^status:\s+(http:\/\/127\.0\.0\.1:\d+)\/status$/m.exec(stdout)
    if (match) foundUrl(match[1]!)
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill(), 60_000)
  const done = new Promise<Outcome>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, stdout, stderr })
    }),
  )
  return { url, done }
}

/** Polls `GET /status` until `accept` says yes or the demo ends; returns the last status read. */
async function pollStatus(demo: DemoProcess, accept: (s: DemoStatus) => boolean): Promise<DemoStatus | undefined> {
  const url = await demo.url
  let ended = false
  void demo.done.then(() => (ended = true))
  let last: DemoStatus | undefined
  while (!ended) {
    try {
      last = (await (await fetch(`${url}/status`)).json()) as DemoStatus
      if (accept(last)) return last
    } catch {
      return last // the server closed: the run is over
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return last
}

/** The number in `text` matched by the first group of `pattern` ("1,234" -> 1234). */
function figure(text: string, pattern: RegExp): number {
  const match = pattern.exec(text)
  return match ? Number(match[1]!.replaceAll(',', '')) : Number.NaN
}

const OBJECTS = ['pose', 'command', 'telemetry', 'status', 'machine', 'operator', 'watchdog', 'gains']

describe('threadstate demo (drone control stack)', () => {
  // Both runs go at once (each keeps under a core busy): the suite waits ~4 s, not 8.
  let clean: DemoProcess
  let killed: DemoProcess
  let killedEstop: Promise<DemoStatus | undefined>
  beforeAll(() => {
    clean = startDemo('--duration', '3')
    killed = startDemo('--duration', '3.5', '--kill-estimator-after', '1.5')
    // Poll from the start: the other tests may still run when this demo reaches estop (or ends).
    killedEstop = pollStatus(killed, (s) => s.machine.state === 'estop')
  })

  it('serves GET /status (the snapshot) and GET /metrics (every object) while it runs', async () => {
    // Flying, or already landed on a loaded machine whose polls were slower than the flight: either
    // way the served status must show the estimator publishing and the path through 'flying'.
    const flying = await pollStatus(clean, (s) => (s.machine.state === 'flying' || s.machine.state === 'landed') && s.estimator.version > 0)
    expect(['flying', 'landed']).toContain(flying?.machine.state)
    expect(flying!.estimator.version).toBeGreaterThan(0)
    expect(flying!.machine.history.map((t) => t.to).slice(0, 2)).toEqual(['ready', 'flying'])
    const response = await fetch(`${await clean.url}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/text\/plain/)
    const metrics = await response.text()
    expect(metrics).toMatch(/^threadstate_updates\{object="pose",type="StateBuffer"\} [1-9]\d*$/m)
    expect(metrics).toMatch(/^threadstate_reads\{object="gains",type="RWLock"\} \d+$/m)
    for (const name of OBJECTS) expect(metrics, name).toContain(`object="${name}"`)
  })

  it('a clean run passes its checks: no torn reads, init -> ready -> flying -> landed, exit 0', async () => {
    const r = await clean.done
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).not.toContain('\x1b[') // not a terminal: plain lines, no ANSI
    expect(r.stdout.split('\n')[0]).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/) // the dashboard's URL comes first
    expect(r.stdout).toMatch(/^ +\d+\.\d s +\w+ +\| pose v\d+/m) // the periodic plain line
    expect(figure(r.stdout, /no torn reads: (\d+) of [\d,]+ reads/)).toBe(0)
    expect(figure(r.stdout, /no torn reads: \d+ of ([\d,]+) reads/)).toBeGreaterThan(0)
    expect(r.stdout).toContain('✓ the machine went init -> ready -> flying -> landed, no estop')
    expect(r.stdout).toMatch(/All \d+ checks passed/)
    expect(r.stdout).not.toContain('✗')
  })

  it('killing the estimator: the watchdog drives the machine to estop; stale reads, none torn', async () => {
    const estop = await killedEstop
    expect(estop?.machine.state).toBe('estop')
    expect(estop!.machine.history.at(-1)?.reason).toMatch(/^watchdog/)
    const r = await killed.done
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/estimator thread exited \(code 1\); superviseWorker marked thread \d+ dead/)
    expect(r.stdout).toMatch(/machine \w+ -> estop: watchdog: no pose for \d+ ms/)
    expect(figure(r.stdout, /flagged stale: ([\d,]+) stale reads/)).toBeGreaterThan(0)
    expect(figure(r.stdout, /no torn reads: (\d+) of/)).toBe(0)
    expect(r.stdout).toMatch(/All \d+ checks passed/)
  })
})

describe('threadstate CLI', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'threadstate-bench-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('demo-locks --duration 1 passes every check and exits 0', async () => {
    const r = await cli('demo-locks', '--duration', '1')
    expect(r.code, r.stdout).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/All \d+ checks passed/)
    expect(r.stdout).toMatch(/DeadlockError/)
    expect(r.stdout).toMatch(/OwnerDiedError/)
  })

  it('bench --quick <case> --out <dir> writes the markdown table and the JSON', async () => {
    const r = await cli('bench', '--quick', 'state-buffer/bytes', '--out', dir)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stderr).toMatch(/\[1\/1\] state-buffer\/bytes/) // progress
    const markdown = readFileSync(join(dir, 'state-buffer.md'), 'utf8')
    expect(markdown).toMatch(/^## state-buffer \(--quick\)/)
    expect(markdown).toMatch(/^\| bench +\| median \/ value/m)
    expect(markdown).toMatch(/^\| bytes/m)
    expect(r.stdout).toContain(markdown.trim().split('\n')[0]) // the table is printed too
    const json = JSON.parse(readFileSync(join(dir, 'state-buffer.json'), 'utf8')) as { suite: string; cases: string[]; rows: unknown[] }
    expect(json.suite).toBe('state-buffer')
    expect(json.cases).toEqual(['state-buffer/bytes'])
    expect(json.rows.length).toBeGreaterThan(0)
  })

  it('bad flags and unknown commands print usage and exit 2', async () => {
    const cases = [
      ['nope'],
      [],
      ['demo', '--duration', 'abc'],
      ['demo', '--duration', '0.5'],
      ['demo', '--bogus'],
      ['demo', '--port', '70000'],
      ['demo', '--duration', '3', '--kill-estimator-after', '3'],
      ['demo', 'extra'],
      ['demo-locks', '--duration', '-1'],
      ['bench', 'no-such-case'],
      ['bench', '--nope'],
    ]
    const results = await Promise.all(cases.map((args) => cli(...args)))
    results.forEach((r, i) => {
      const args = cases[i]!.join(' ')
      expect(r.code, args).toBe(2)
      expect(r.stderr, args).toMatch(/Usage: threadstate/)
      expect(r.stderr, args).toMatch(/^threadstate: Expected/)
    })
    expect(results[6]!.stderr).toMatch(/--kill-estimator-after.*before the end of the run/)
  })

  it('--help lists the commands and exits 0', async () => {
    const r = await cli('--help')
    expect(r.code).toBe(0)
    for (const command of ['demo', 'demo-locks', 'bench']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
    const demo = await cli('demo', '--help')
    expect(demo.code).toBe(0)
    expect(demo.stdout).toMatch(/--kill-estimator-after/)
  })

  it('bench/run.ts provides what the CLI loads from it', () => {
    expectTypeOf<typeof BenchRun>().toExtend<BenchModule>()
  })
})
