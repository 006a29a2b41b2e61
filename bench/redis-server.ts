/**
 * The one throwaway `redis-server` starter of the project: the `redis`
 * bench suite's servers, the private server of `threadstate demo-fleet`
 * (built to dist/bench/ and shipped), the Redis tests' (test/redis/server.ts
 * adds vitest's `describeRedis` on top) and the cluster nodes of
 * test/redis/cluster.ts (through {@link spawnRedis} and
 * {@link killOnExit}). It lives here because tsconfig.bench.json compiles
 * only bench/ (and the demo loads it from dist/bench), while the tests can
 * import any source file.
 *
 * A server gets a free 127.0.0.1 port, no persistence (`--save ''
 * --appendonly no`), its own temp dir; it is ready once it answers PING
 * and INFO says the answering process is ours (another process may take the
 * port between picking it and binding it: then another port is tried);
 * stopped by pid (SIGTERM, SIGKILL after 2 s); and killed, with its temp
 * dir removed, if this process exits or gets a terminating signal first.
 * Speaks raw RESP over `node:net` (no client library), so the tests test
 * the clients rather than depend on one.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** A running server (what the bench suite and the fleet demo use). */
export interface BenchRedis {
  /** Its TCP port on 127.0.0.1; the same after {@link RedisProcess.restartEmpty}. */
  readonly port: number
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  /** The current process's id (a new one after {@link RedisProcess.restartEmpty}). */
  readonly pid: number
  /** Stops it (SIGTERM, then SIGKILL after 2 s; a paused server is resumed to see the SIGTERM), removes its temp dir; idempotent. */
  stop(): Promise<void>
}

/** A running server with the faults a test can inject. */
export interface RedisProcess extends BenchRedis {
  /** SIGSTOP the server (clients see no replies; connections and writes still succeed). */
  pause(): void
  /** SIGCONT: a paused server answers again, in order, what it was sent meanwhile. */
  resume(): void
  /**
   * kill -9 and start a new empty server on the SAME port (data lost, as a restart without
   * persistence); resolves once the new process answers PING.
   */
  restartEmpty(): Promise<void>
}

const BINARY = 'redis-server'
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

/** Servers still running (pids) and the temp dirs not removed yet: killed / removed when this process exits first. */
const running = new Set<number>()
const liveDirs = new Set<string>()
let hooked = false

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

function hookExit(): void {
  if (hooked) return
  hooked = true
  process.on('exit', killAll)
  // vitest ends its fork workers with SIGTERM, which skips 'exit' handlers.
  for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(name, () => {
      killAll()
      // A listener replaces the signal's default action: if ours was the only one, re-raise it
      // so the process still ends as it would have.
      if (process.listenerCount(name) === 0) process.kill(process.pid, name)
    })
  }
}

/**
 * Kills `pid` (SIGKILL) if this process exits or gets a terminating signal
 * before {@link forgetOnExit}`(pid)`; removes `dir` too, when given.
 */
export function killOnExit(pid: number, dir?: string): void {
  hookExit()
  running.add(pid)
  if (dir !== undefined) liveDirs.add(dir)
}

/** Undoes {@link killOnExit} for `pid` (and `dir`). */
export function forgetOnExit(pid: number, dir?: string): void {
  running.delete(pid)
  if (dir !== undefined) liveDirs.delete(dir)
}

let binaryChecked = false
let binaryPath: string | undefined

/** The path of `redis-server` on PATH, or undefined. */
export function findRedisBinary(): string | undefined {
  if (!binaryChecked) {
    binaryChecked = true
    for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
      if (dir === '') continue
      const candidate = join(dir, BINARY)
      try {
        accessSync(candidate, fsConstants.X_OK)
        binaryPath = candidate
        break
      } catch {
        // not here
      }
    }
  }
  return binaryPath
}

/** Why no server can be started here, or undefined when `redis-server` is on PATH. */
export function redisUnavailable(): string | undefined {
  return findRedisBinary() === undefined ? `no ${BINARY} on PATH: install it (apt-get install redis-server)` : undefined
}

/** A free TCP port on 127.0.0.1 right now (another process may take it before it is bound). */
export function freePort(): Promise<number> {
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

/**
 * Sends one inline command over a new connection and returns its raw reply (a simple string,
 * error, integer, or a bulk string's body), or undefined if nothing complete came within
 * `timeoutMs` or the connection failed.
 */
export function rawCommand(port: number, command: string, timeoutMs: number): Promise<string | undefined> {
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
      if (length < 0) return done('$-1')
      const end = lineEnd + 2 + length
      if (data.length >= end + 2) done(data.subarray(lineEnd + 2, end).toString('utf8'))
    })
  })
}

/** One `redis-server` process. */
export interface RedisInstance {
  readonly child: ChildProcess
  /** Its pid (-1 if it never started). */
  readonly pid: number
  /** Resolves when the process is gone (or never started). */
  readonly exited: Promise<void>
  hasExited(): boolean
  /** Its stdout and stderr so far (the first 16 KiB). */
  output(): string
}

/**
 * Spawns `redis-server` on 127.0.0.1:`port` with no persistence, `dir` as
 * its working dir, and `extraArgs` (e.g. cluster settings); killed if this
 * process exits first (until it exits by itself). Does not wait for it.
 */
export function spawnRedis(binary: string, port: number, dir: string, extraArgs: readonly string[] = []): RedisInstance {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning', ...extraArgs],
    // Not detached: a Ctrl-C to the run reaches the servers too (same process group).
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  let gone = false
  const collect = (chunk: Buffer): void => {
    if (output.length < OUTPUT_LIMIT) output += chunk.toString('utf8').slice(0, OUTPUT_LIMIT - output.length)
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = new Promise<void>((resolve) => {
    const finish = (): void => {
      gone = true
      if (child.pid !== undefined) forgetOnExit(child.pid)
      resolve()
    }
    child.once('exit', finish)
    child.once('error', (error) => {
      collect(Buffer.from(`spawn ${binary}: ${error.message}\n`))
      finish()
    })
  })
  if (child.pid !== undefined) killOnExit(child.pid)
  // A server nobody stopped must not keep this process alive; the exit hook kills it.
  child.unref()
  ;(child.stdout as { unref?: () => void } | null)?.unref?.()
  ;(child.stderr as { unref?: () => void } | null)?.unref?.()
  return { child, pid: child.pid ?? -1, exited, hasExited: () => gone, output: () => output }
}

/**
 * Waits until `instance` answers PING on `port` and is the process answering (INFO's
 * `process_id`). `'port-taken'` if it exited because another process holds the port.
 * @throws Error with the server's output if it exits otherwise, or does not answer within 10 s
 */
async function waitReady(instance: RedisInstance, port: number): Promise<'ready' | 'port-taken'> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  for (;;) {
    if (instance.hasExited()) {
      if (/address already in use/i.test(instance.output())) return 'port-taken'
      throw new Error(`redis-server on port ${port} exited before answering PING:\n${instance.output()}`)
    }
    if ((await rawCommand(port, 'PING', 1_000)) === '+PONG') {
      const pid = /process_id:(\d+)/.exec((await rawCommand(port, 'INFO server', 1_000)) ?? '')?.[1]
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

/** Sends `name` to `instance`, if still running. */
function signal(instance: RedisInstance, name: NodeJS.Signals): void {
  if (instance.hasExited()) return
  try {
    process.kill(instance.pid, name)
  } catch {
    // exited meanwhile
  }
}

/**
 * Starts a server on a free port in a new temp dir; resolves once it answers.
 * @throws Error without a redis-server binary ({@link redisUnavailable}), or if it does not start
 */
export async function startRedisProcess(options: { readonly dirPrefix?: string } = {}): Promise<RedisProcess> {
  const binary = findRedisBinary()
  if (binary === undefined) throw new Error(redisUnavailable())
  hookExit()
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix ?? 'threadstate-redis-'))
  liveDirs.add(dir)
  let current: RedisInstance | undefined
  let port = 0
  try {
    for (let attempt = 1; current === undefined; attempt++) {
      port = await freePort()
      const instance = spawnRedis(binary, port, dir)
      if ((await waitReady(instance, port)) === 'ready') current = instance
      else if (attempt >= PORT_ATTEMPTS) throw new Error(`redis-server: ${PORT_ATTEMPTS} free ports were taken before it could bind them:\n${instance.output()}`)
    }
  } catch (error) {
    liveDirs.delete(dir)
    rmSync(dir, { recursive: true, force: true })
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
  const live = (): RedisInstance => {
    if (stopped !== undefined || current === undefined) throw new Error(`redis-server on port ${port} is stopped`)
    return current
  }

  const restartEmpty = async (): Promise<void> => {
    const old = current!
    signal(old, 'SIGKILL')
    await old.exited
    const deadline = performance.now() + REBIND_TIMEOUT_MS
    for (;;) {
      const instance = spawnRedis(binary, port, dir)
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
    rmSync(dir, { recursive: true, force: true })
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

/**
 * Starts a server for the bench suite or the fleet demo ({@link startRedisProcess}).
 * @throws Error without a redis-server binary, or if it does not start
 */
export function startBenchRedis(): Promise<RedisProcess> {
  return startRedisProcess({ dirPrefix: 'threadstate-bench-redis-' })
}
