/**
 * A real, throwaway Redis Cluster for the tests: `primaries` primaries and as many replicas each
 * as asked, every node a `redis-server --cluster-enabled yes` on a loopback port (its cluster bus
 * on port + 10000), no persistence, in one temp dir; joined with `redis-cli --cluster create`.
 * Faults: kill a node (SIGKILL), then wait until the cluster serves every slot again (a replica
 * promoted after `cluster-node-timeout`). Admin commands go through `redis-cli`, not a client
 * library, so the tests exercise threadstate's client rather than depend on one. Every node still
 * running when this process exits is killed.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster } from 'ioredis'
import { RedisDomain } from '../../src/redis/index.js'
import { findRedisBinary, forgetOnExit, redisUnavailable, spawnRedis, type RedisInstance } from '../../bench/redis-server.js'

const run = promisify(execFile)
/** How long a node may be silent before its replica takes over (ms): short, so failover tests are quick. */
export const NODE_TIMEOUT_MS = 1000
const READY_TIMEOUT_MS = 30_000

/** One node of a {@link RedisCluster}. */
export interface ClusterNodeProcess {
  readonly port: number
  readonly pid: number
  /** Whether it was killed. */
  readonly killed: boolean
}

/** A running cluster started by {@link startRedisCluster}. */
export interface RedisCluster {
  /** Every node, primaries first (as created). */
  readonly nodes: readonly ClusterNodeProcess[]
  /** `'127.0.0.1:port'` of every node: the startup nodes to give a client. */
  readonly startup: readonly string[]
  /** The port of the live node serving `key`'s slot as primary now. */
  primaryOf(key: string): Promise<number>
  /** Resolves once every replica of the primary on `port` is online and has applied all it was sent. */
  replicasInSync(port: number, timeoutMs?: number): Promise<void>
  /** SIGKILLs the node on `port` (no persistence: its data is gone; a replica takes over its slots). */
  kill(port: number): void
  /** Resolves once every live node reports `cluster_state:ok` and all slots are served. */
  waitHealthy(timeoutMs?: number): Promise<void>
  /** Kills every node and removes the temp dir; idempotent. */
  stop(): Promise<void>
}

/** Whether `port` can be bound on 127.0.0.1 now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** `count` ports whose cluster bus ports (+10000) are free too. */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = []
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (ports.includes(port) || ports.includes(port - 10_000) || ports.includes(port + 10_000)) continue
    if ((await bindable(port)) && (await bindable(port + 10_000))) ports.push(port)
  }
  return ports
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5_000 })
  return stdout
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts a cluster of `primaries` primaries with `replicas` replicas each; resolves once it
 * serves every slot.
 * @throws Error if a node does not start or the cluster does not form within 30 s
 */
export async function startRedisCluster(options: { primaries?: number; replicas?: number } = {}): Promise<RedisCluster> {
  const binary = findRedisBinary()
  if (binary === undefined) throw new Error(redisUnavailable())
  const primaries = options.primaries ?? 3
  const replicas = options.replicas ?? 1
  const total = primaries * (1 + replicas)
  const dir = await mkdtemp(join(tmpdir(), 'threadstate-cluster-'))
  const ports = await freePorts(total)
  const children: { port: number; instance: RedisInstance; killed: boolean }[] = []
  const killNode = (instance: RedisInstance): void => {
    if (instance.hasExited()) return
    try {
      process.kill(instance.pid, 'SIGKILL')
    } catch {
      // gone
    }
    forgetOnExit(instance.pid)
  }
  const stop = async (): Promise<void> => {
    for (const node of children) killNode(node.instance)
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      const home = join(dir, String(port))
      await mkdir(home)
      const instance = spawnRedis(binary, port, home, [
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
        // A replica may take over even if it lagged (the tests want failover, and check what it lost).
        '--cluster-replica-validity-factor', '0',
        // A new replica syncs at once (the default waits 5 s for more replicas to share the transfer).
        '--repl-diskless-sync-delay', '0',
      ])
      children.push({ port, instance, killed: false })
    }
    const deadline = Date.now() + READY_TIMEOUT_MS
    for (const port of ports) {
      while ((await cli(port, 'PING').catch(() => '')).trim() !== 'PONG') {
        const node = children.find((n) => n.port === port)!
        if (node.instance.hasExited()) throw new Error(`cluster node on port ${port} exited before answering PING:\n${node.instance.output()}`)
        if (Date.now() > deadline) throw new Error(`cluster node on port ${port} did not answer PING`)
        await sleep(20)
      }
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 })
  } catch (error) {
    await stop()
    throw error
  }

  const nodes = children.map((node) => ({
    port: node.port,
    pid: node.instance.pid,
    get killed() {
      return node.killed
    },
  }))

  const waitHealthy = async (timeoutMs = READY_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const states = await Promise.all(
        children.filter((n) => !n.killed).map(async (n) => {
          const info = await cli(n.port, 'CLUSTER', 'INFO').catch(() => '')
          return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info)
        }),
      )
      if (states.every(Boolean)) return
      if (Date.now() > deadline) throw new Error(`the cluster did not serve every slot again within ${timeoutMs} ms`)
      await sleep(50)
    }
  }
  await waitHealthy()

  return {
    nodes,
    startup: ports.map((p) => `127.0.0.1:${p}`),
    async primaryOf(key: string): Promise<number> {
      const alive = children.find((n) => !n.killed)!
      const slot = Number((await cli(alive.port, 'CLUSTER', 'KEYSLOT', key)).trim())
      const lines = (await cli(alive.port, 'CLUSTER', 'NODES')).split('\n')
      for (const line of lines) {
        const parts = line.split(' ')
        if (parts.length < 9 || !parts[2]!.includes('master') || parts[2]!.includes('fail')) continue
        const port = Number(/:(\d+)@/.exec(parts[1]!)?.[1])
        for (const range of parts.slice(8)) {
          const [from, to = from] = range.split('-').map(Number)
          if (from !== undefined && to !== undefined && slot >= from && slot <= to) return port
        }
      }
      throw new Error(`no live primary serves the slot of ${key} (${slot})`)
    },
    async replicasInSync(port: number, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const info = await cli(port, 'INFO', 'replication')
        const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? NaN)
        const replicas = [...info.matchAll(/^slave\d+:.*state=(\w+),offset=(\d+)/gm)]
        if (replicas.length > 0 && replicas.every((r) => r[1] === 'online' && Number(r[2]) === offset)) return
        if (Date.now() > deadline) throw new Error(`the replicas of the primary on port ${port} did not catch up within ${timeoutMs} ms:\n${info}`)
        await sleep(20)
      }
    },
    kill(port: number): void {
      const node = children.find((n) => n.port === port)
      if (node === undefined || node.killed) return
      node.killed = true
      killNode(node.instance)
    },
    waitHealthy,
    stop,
  }
}

/** A cluster and two domains on it, as the cluster suites use them. */
export interface ClusterDomains {
  readonly cluster: RedisCluster
  /** Connected by `cluster: startup` (a `Cluster` threadstate makes). */
  readonly one: RedisDomain
  /** Connected by `client`: an ioredis `Cluster` the user made, from one startup node. */
  readonly two: RedisDomain
  /** Closes both domains and the user's client, stops the cluster. */
  close(): Promise<void>
}

/**
 * Starts a cluster and connects two domains to it in `namespace`: one through a `Cluster`
 * threadstate makes, one through a `Cluster` the user made (threadstate must describe it for
 * workers).
 */
export async function startClusterDomains(namespace: string, options: { primaries?: number; replicas?: number } = {}): Promise<ClusterDomains> {
  const cluster = await startRedisCluster(options)
  let one: RedisDomain | undefined
  let userClient: Cluster | undefined
  let two: RedisDomain | undefined
  const close = async (): Promise<void> => {
    await one?.close()
    await two?.close()
    userClient?.disconnect()
    await cluster.stop()
  }
  try {
    one = await RedisDomain.connect({ cluster: cluster.startup, namespace })
    userClient = new Cluster(cluster.startup.slice(0, 1).map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })), {
      redisOptions: { autoResendUnfulfilledCommands: false },
    })
    two = await RedisDomain.connect({ client: userClient, namespace })
  } catch (error) {
    await close()
    throw error
  }
  return { cluster, one, two, close }
}
