/**
 * The throwaway `redis-server` of the `redis` bench suite, started the way
 * test/redis/server.ts starts the tests' (that file imports vitest, and
 * tsconfig.bench.json compiles only bench/): a free 127.0.0.1 port, no
 * persistence (`--save '' --appendonly no`), its own temp dir, ready once
 * it answers PING (from our pid, by INFO), stopped by pid (SIGTERM, SIGKILL
 * after 2 s) and killed if this process exits first.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** A running server. */
export interface BenchRedis {
  readonly port: number
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  readonly pid: number
  /** Stops it and removes its temp dir; idempotent. */
  stop(): Promise<void>
}

const BINARY = 'redis-server'
const READY_TIMEOUT_MS = 10_000
const PORT_ATTEMPTS = 5
const STOP_GRACE_MS = 2_000

/** Servers not stopped yet (pid → temp dir): killed if this process exits first. */
const running = new Map<number, string>()
let hooked = false

function killAll(): void {
  for (const [pid, dir] of running) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone already
    }
    rmSync(dir, { recursive: true, force: true })
  }
  running.clear()
}

function hookExit(): void {
  if (hooked) return
  hooked = true
  process.on('exit', killAll)
  for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(name, () => {
      killAll()
      if (process.listenerCount(name) === 0) process.kill(process.pid, name)
    })
  }
}

/** The path of `redis-server` on PATH, or undefined. */
function findBinary(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, BINARY)
    try {
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Why the suite cannot run here, or undefined when `redis-server` is on PATH. */
export function redisUnavailable(): string | undefined {
  return findBinary() === undefined ? `no ${BINARY} on PATH: apt-get install redis-server` : undefined
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** One inline command on a new connection: its first reply line (or a bulk string's body), undefined on failure or timeout. */
function rawCommand(port: number, command: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let data = Buffer.alloc(0)
    const done = (reply: string | undefined): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reply)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    socket.on('error', () => done(undefined))
    socket.on('close', () => done(undefined))
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      const lineEnd = data.indexOf('\r\n')
      if (lineEnd < 0) return
      if (data[0] !== 0x24 /* $ */) return done(data.subarray(0, lineEnd).toString('utf8'))
      const length = Number(data.subarray(1, lineEnd).toString('latin1'))
      const end = lineEnd + 2 + Math.max(0, length)
      if (length < 0) return done('$-1')
      if (data.length >= end + 2) done(data.subarray(lineEnd + 2, end).toString('utf8'))
    })
  })
}

interface Instance {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  gone: boolean
  output: string
}

function spawnServer(binary: string, port: number, dir: string): Instance {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const instance: Instance = { child, exited: Promise.resolve(), gone: false, output: '' }
  const collect = (chunk: Buffer): void => {
    if (instance.output.length < 16_384) instance.output += chunk.toString('utf8')
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  ;(instance as { exited: Promise<void> }).exited = new Promise<void>((resolve) => {
    const finish = (): void => {
      instance.gone = true
      resolve()
    }
    child.once('exit', finish)
    child.once('error', (error) => {
      collect(Buffer.from(`spawn ${binary}: ${error.message}\n`))
      finish()
    })
  })
  child.unref()
  ;(child.stdout as { unref?: () => void } | null)?.unref?.()
  ;(child.stderr as { unref?: () => void } | null)?.unref?.()
  return instance
}

/** Waits for PING from our process; 'port-taken' if it exited because another process holds the port. */
async function waitReady(instance: Instance, port: number): Promise<'ready' | 'port-taken'> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  for (;;) {
    if (instance.gone) {
      if (/address already in use/i.test(instance.output)) return 'port-taken'
      throw new Error(`redis-server on port ${port} exited before answering PING:\n${instance.output}`)
    }
    if ((await rawCommand(port, 'PING', 1_000)) === '+PONG') {
      const pid = /process_id:(\d+)/.exec((await rawCommand(port, 'INFO server', 1_000)) ?? '')?.[1]
      if (pid !== undefined && Number(pid) === instance.child.pid) return 'ready'
      if (pid !== undefined) {
        await Promise.race([instance.exited, sleep(1_000)])
        if (instance.gone) return 'port-taken'
        instance.child.kill('SIGKILL')
        throw new Error(`port ${port} is answered by another redis-server (pid ${pid})`)
      }
    }
    if (performance.now() > deadline) {
      instance.child.kill('SIGKILL')
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS / 1000} s:\n${instance.output}`)
    }
    await sleep(20)
  }
}

/**
 * Starts a server on a free port in a new temp dir; resolves once it answers.
 * @throws Error without a redis-server binary, or if it does not start
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  const binary = findBinary()
  if (binary === undefined) throw new Error(redisUnavailable())
  hookExit()
  const dir = mkdtempSync(join(tmpdir(), 'threadstate-bench-redis-'))
  let instance: Instance | undefined
  let port = 0
  try {
    for (let attempt = 1; instance === undefined; attempt++) {
      port = await freePort()
      const candidate = spawnServer(binary, port, dir)
      if (candidate.child.pid !== undefined) running.set(candidate.child.pid, dir)
      if ((await waitReady(candidate, port)) === 'ready') instance = candidate
      else if (candidate.child.pid !== undefined) running.delete(candidate.child.pid)
      if (instance === undefined && attempt >= PORT_ATTEMPTS) throw new Error(`redis-server: ${PORT_ATTEMPTS} free ports were taken before it could bind them`)
    }
  } catch (error) {
    for (const [pid, d] of running) {
      if (d !== dir) continue
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
      running.delete(pid)
    }
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  const live = instance
  const pid = live.child.pid!
  let stopped: Promise<void> | undefined
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid,
    stop: () =>
      (stopped ??= (async () => {
        if (!live.gone) {
          live.child.kill('SIGTERM')
          const timer = setTimeout(() => live.child.kill('SIGKILL'), STOP_GRACE_MS)
          await live.exited
          clearTimeout(timer)
        }
        running.delete(pid)
        rmSync(dir, { recursive: true, force: true })
      })()),
  }
}
