/**
 * A real, throwaway `redis-server` for the Redis-backed tests: one process per call on a free
 * loopback port, no persistence, its own temp dir; faults a test can inject (pause the process,
 * restart it empty on the same port); and {@link describeRedis}, which runs a suite only where a
 * server binary exists (locally a named skip, in CI a failure). Speaks raw RESP over `node:net`
 * (no client library), so it tests the clients rather than depending on one.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { describe, it } from 'vitest'

/** A running `redis-server` started by {@link startRedisServer}. */
export interface RedisServer {
  /** Its TCP port on 127.0.0.1; the same after {@link RedisServer.restartEmpty}. */
  readonly port: number
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  /** The current process's id (a new one after {@link RedisServer.restartEmpty}). */
  readonly pid: number
  /** SIGSTOP the server (clients see no replies; connections and writes still succeed). */
  pause(): void
  /** SIGCONT: a paused server answers again, in order, what it was sent meanwhile. */
  resume(): void
  /**
   * kill -9 and start a new empty server on the SAME port (data lost, as a restart without
   * persistence); resolves once the new process answers PING.
   */
  restartEmpty(): Promise<void>
  /** Stops it (SIGTERM, then SIGKILL after 2 s; a paused server is resumed to see the SIGTERM), removes its temp dir; idempotent. */
  stop(): Promise<void>
}

const BINARY = 'redis-server'
const INSTALL_HINT = `no ${BINARY}: install it (apt-get install redis-server) to run these`
/** How long a starting server has to answer PING. */
const READY_TIMEOUT_MS = 10_000
const POLL_MS = 20
/** Attempts at a fresh port when another process took the one picked meanwhile. */
const PORT_ATTEMPTS = 5
/** A restart waits this long for the port to become bindable again. */
const REBIND_TIMEOUT_MS = 2_000
const STOP_GRACE_MS = 2_000
/** How much of a server's output is kept for error messages. */
const OUTPUT_LIMIT = 16_384

/**
 * Servers still running, killed synchronously when this process exits or gets a terminating
 * signal (a crashed or forgotten test leaks none: vitest ends its fork workers with SIGTERM, which
 * skips 'exit' handlers).
 */
const running = new Set<number>()
/** Temp dirs of servers not stopped yet, removed on exit with them. */
const liveDirs = new Set<string>()
let exitHookInstalled = false

function killAll(): void {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  running.clear()
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  liveDirs.clear()
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killAll)
  for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(name, () => {
      killAll()
      // A listener replaces the signal's default action: if ours was the only one, re-raise it
      // so the process still ends as it would have.
      if (process.listenerCount(name) === 0) process.kill(process.pid, name)
    })
  }
}

let binaryChecked = false
let binaryMissing: string | undefined

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

/** Why Redis tests cannot run here, or undefined when a redis-server binary exists (on PATH). */
export function redisUnavailable(): string | undefined {
  if (!binaryChecked) {
    binaryMissing = findBinary() === undefined ? INSTALL_HINT : undefined
    binaryChecked = true
  }
  return binaryMissing
}

/**
 * What {@link describeRedis} does with a suite: `'run'` it when a server is available; without
 * one, `'skip'` it locally but `'fail'` in CI (where a missing server is a broken setup, never
 * a reason to pass).
 */
export function redisSuiteMode(options: { ci: boolean; available: boolean }): 'run' | 'skip' | 'fail' {
  if (options.available) return 'run'
  return options.ci ? 'fail' : 'skip'
}

/** Whether `env` says this is CI: `CI` set to anything but empty, `0` or `false` (`CI=true` in .ci/run). */
export function isCI(env: NodeJS.ProcessEnv): boolean {
  const value = (env['CI'] ?? '').trim().toLowerCase()
  return value !== '' && value !== '0' && value !== 'false'
}

/**
 * `describe` for suites needing a server: runs them normally when redis-server exists; otherwise,
 * locally, a `describe.skip` whose name says why ("no redis-server: install it (apt-get install
 * redis-server) to run these"); with CI=true in the environment a missing server is a FAILING
 * test, never a skip.
 */
export const describeRedis: (name: string, fn: () => void) => void = (name, fn) => {
  const why = redisUnavailable()
  switch (redisSuiteMode({ ci: isCI(process.env), available: why === undefined })) {
    case 'run':
      describe(name, fn)
      return
    case 'skip':
      describe.skip(`${name} (skipped: ${why})`, fn)
      return
    case 'fail':
      describe(name, () => {
        it(`needs ${BINARY} (CI must not skip it)`, () => {
          throw new Error(`CI=${process.env['CI']}: ${why} (in CI a missing server fails these suites; .ci/run installs it)`)
        })
      })
      return
  }
}

/** A free TCP port on 127.0.0.1 right now (another process may take it before we bind it). */
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Sends one inline command over a new connection and returns its raw reply (a simple string,
 * error, integer or bulk string), or undefined if nothing complete came within `timeoutMs` or the
 * connection failed.
 */
function rawCommand(port: number, command: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let data = Buffer.alloc(0)
    const done = (reply: string | undefined) => {
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
      const type = String.fromCharCode(data[0]!)
      if (type !== '$') return done(data.subarray(0, lineEnd).toString('utf8'))
      const length = Number(data.subarray(1, lineEnd).toString('latin1'))
      if (length < 0) return done('$-1')
      const end = lineEnd + 2 + length
      if (data.length >= end + 2) done(data.subarray(lineEnd + 2, end).toString('utf8'))
    })
  })
}

/** One `redis-server` process. */
interface Instance {
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves when the process is gone (or never started). */
  readonly exited: Promise<void>
  hasExited(): boolean
  /** Its stdout and stderr so far (the first {@link OUTPUT_LIMIT} characters). */
  output(): string
}

function spawnServer(binary: string, port: number, dir: string): Instance {
  installExitHook()
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
    // Not detached: a Ctrl-C to the test run reaches the servers too (same process group).
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  let gone = false
  const collect = (chunk: Buffer) => {
    if (output.length < OUTPUT_LIMIT) output += chunk.toString('utf8').slice(0, OUTPUT_LIMIT - output.length)
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = new Promise<void>((resolve) => {
    const finish = () => {
      gone = true
      if (child.pid !== undefined) running.delete(child.pid)
      resolve()
    }
    child.once('exit', finish)
    child.once('error', (error) => {
      collect(Buffer.from(`spawn ${binary}: ${error.message}\n`))
      finish()
    })
  })
  if (child.pid !== undefined) running.add(child.pid)
  // A server a test forgot to stop must not keep this process alive; the exit hook kills it.
  child.unref()
  ;(child.stdout as { unref?: () => void } | null)?.unref?.()
  ;(child.stderr as { unref?: () => void } | null)?.unref?.()
  return { child, pid: child.pid ?? -1, exited, hasExited: () => gone, output: () => output }
}

/**
 * Waits until `instance` answers PING on `port` (and is the process answering, by INFO's
 * `process_id`). `'port-taken'` if it exited because another process holds the port.
 * @throws Error with the server's output if it exits otherwise, or does not answer within 10 s
 */
async function waitReady(instance: Instance, port: number): Promise<'ready' | 'port-taken'> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  for (;;) {
    if (instance.hasExited()) {
      if (/address already in use/i.test(instance.output())) return 'port-taken'
      throw new Error(`redis-server on port ${port} exited before answering PING:\n${instance.output()}`)
    }
    if ((await rawCommand(port, 'PING', 1_000)) === '+PONG') {
      // Another process may have taken the port between freePort() and the spawn: make sure the
      // PONG came from ours (which then exits with "Address already in use").
      const info = await rawCommand(port, 'INFO server', 1_000)
      const pid = /process_id:(\d+)/.exec(info ?? '')?.[1]
      if (pid !== undefined && Number(pid) === instance.pid) return 'ready'
      if (pid !== undefined) {
        await Promise.race([instance.exited, sleep(1_000)])
        if (instance.hasExited()) return 'port-taken'
        instance.child.kill('SIGKILL')
        throw new Error(`port ${port} is answered by another redis-server (pid ${pid}), and ours (pid ${instance.pid}) still runs`)
      }
    }
    if (performance.now() > deadline) {
      instance.child.kill('SIGKILL')
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS / 1000} s:\n${instance.output()}`)
    }
    await sleep(POLL_MS)
  }
}

/** Kills `instance` with `signal`, if still running. */
function signal(instance: Instance, name: NodeJS.Signals): void {
  if (instance.hasExited()) return
  try {
    process.kill(instance.pid, name)
  } catch {
    // exited meanwhile
  }
}

/**
 * Starts a `redis-server` on a free 127.0.0.1 port, without persistence, in a new temp dir;
 * resolves once it answers PING. Every server still running when this process exits is killed.
 * @throws Error if there is no redis-server ({@link redisUnavailable}), or it does not start
 */
export async function startRedisServer(): Promise<RedisServer> {
  const why = redisUnavailable()
  const binary = findBinary()
  if (why !== undefined || binary === undefined) throw new Error(why ?? INSTALL_HINT)
  const dir = await mkdtemp(join(tmpdir(), 'threadstate-redis-'))
  liveDirs.add(dir)
  let current: Instance | undefined
  let port = 0
  try {
    for (let attempt = 1; current === undefined; attempt++) {
      port = await freePort()
      const instance = spawnServer(binary, port, dir)
      if ((await waitReady(instance, port)) === 'ready') current = instance
      else if (attempt >= PORT_ATTEMPTS) throw new Error(`redis-server: ${PORT_ATTEMPTS} free ports were taken before it could bind them:\n${instance.output()}`)
    }
  } catch (error) {
    liveDirs.delete(dir)
    await rm(dir, { recursive: true, force: true })
    throw error
  }

  let stopped: Promise<void> | undefined
  /** restartEmpty and stop run one at a time, in call order. */
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = queue.then(fn)
    queue = result.catch(() => undefined)
    return result
  }
  const live = (): Instance => {
    if (stopped !== undefined || current === undefined) throw new Error(`redis-server on port ${port} is stopped`)
    return current
  }

  const restartEmpty = async (): Promise<void> => {
    const old = current!
    signal(old, 'SIGKILL')
    await old.exited
    const deadline = performance.now() + REBIND_TIMEOUT_MS
    for (;;) {
      const instance = spawnServer(binary, port, dir)
      current = instance
      if ((await waitReady(instance, port)) === 'ready') return
      if (performance.now() > deadline) throw new Error(`redis-server could not bind port ${port} again after a restart:\n${instance.output()}`)
      await sleep(50)
    }
  }

  const stop = async (): Promise<void> => {
    const instance = current
    if (instance !== undefined && !instance.hasExited()) {
      signal(instance, 'SIGTERM')
      signal(instance, 'SIGCONT') // a paused process acts on the SIGTERM only once continued
      const timer = setTimeout(() => signal(instance, 'SIGKILL'), STOP_GRACE_MS)
      await instance.exited
      clearTimeout(timer)
    }
    liveDirs.delete(dir)
    await rm(dir, { recursive: true, force: true })
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return current?.pid ?? -1
    },
    pause: () => signal(live(), 'SIGSTOP'),
    resume: () => signal(live(), 'SIGCONT'),
    restartEmpty: () => {
      try {
        live()
      } catch (error) {
        return Promise.reject(error as Error)
      }
      return serial(restartEmpty)
    },
    stop: () => {
      // Marked stopped at once (pause/resume/restartEmpty throw from now on); runs after a restart under way.
      stopped ??= serial(stop)
      return stopped
    },
  }
}
