/**
 * threadstate on Node, Bun and Deno (issue 16): test/runtimes/smoke.mjs, the cross-thread
 * behaviour a new user would check (workers counting under a Mutex, a StateBuffer writer with
 * checksumming readers, SharedMap transactions and multi-key writes, SnapshotStore
 * read-modify-writes, racing StateMachine transitions, deadlock detection, a holder terminated
 * holding a lock, and threadstate/node's persistence, metrics and status server), run unchanged
 * on each runtime. Bun and Deno come from their npm packages (devDependencies): in CI a missing
 * binary fails, locally it skips saying so.
 *
 * Bun reads the project's tsconfig.json `paths` for JavaScript imports too, and this repo's maps
 * `#platform` to the neutral TypeScript source for typechecking; the smoke runs Bun with a
 * tsconfig without paths, which is what a project that installed threadstate has. (Run with the
 * repo's, Bun took the browser platform: no thread ids for `superviseWorker`, so a terminated
 * holder was never reported.)
 *
 * The checks could fail on every runtime: the smoke run once with the counters' lock left out
 * (`THREADSTATE_SMOKE_UNLOCKED=1`, 2026-12-06) lost updates on all three: node 42,316, bun 21,555,
 * deno 45,852 of 80,000 (without the start barrier the workers did not even overlap: 80,000).
 */
import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { isCI } from './redis/server.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const smoke = fileURLToPath(new URL('./runtimes/smoke.mjs', import.meta.url))
const bin = (name: string) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url))

const runtimes: { name: string; command: string; args: string[] }[] = [
  { name: 'node', command: process.execPath, args: [smoke] },
  { name: 'bun', command: bin('bun'), args: ['--tsconfig-override', fileURLToPath(new URL('./runtimes/tsconfig.json', import.meta.url)), smoke] },
  { name: 'deno', command: bin('deno'), args: ['run', '--allow-all', smoke] },
]

function installed(command: string): boolean {
  try {
    accessSync(command, constants.X_OK)
    return true
  } catch {
    return false
  }
}

type Result = Record<string, Record<string, unknown> & { error?: string }>

for (const runtime of runtimes) {
  const present = installed(runtime.command)
  const suite = present || isCI(process.env) ? describe : describe.skip
  suite(`threadstate on ${runtime.name}${present ? '' : ` (no ${runtime.command}: npm ci installs it)`}`, () => {
    it('workers, locks, state, maps, snapshots, machines, deadlocks, a dead holder and threadstate/node behave as on Node', async () => {
      const { stdout } = await run(runtime.command, runtime.args, { cwd: root, timeout: 240_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } })
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
      expect(line, stdout).toBeDefined()
      const r = JSON.parse(line!.slice('RESULT '.length)) as Result
      for (const [name, scenario] of Object.entries(r)) if (typeof scenario === 'object') expect(scenario.error, `${name} on ${runtime.name}`).toBeUndefined()
      expect(r['runtime']).toMatch(new RegExp(`^${runtime.name} `))
      // Exact counters: no lost update under a Mutex, in a transaction, in a modify.
      expect(r['mutex']).toEqual({ total: 80_000, expected: 80_000 })
      expect(r['sharedMap']).toMatchObject({ n: 1200, expected: 1200, mixed: 0 })
      expect(r['snapshotStore']).toMatchObject({ n: 1200, expected: 1200, version: 1201 })
      // Checksummed reads while a writer publishes flat out: none torn.
      expect(r['stateBuffer']!['torn']).toBe(0)
      expect(r['stateBuffer']!['versionsSeen']).toBeGreaterThan(0)
      expect(r['stateBuffer']!['published']).toBe(r['stateBuffer']!['version'])
      // Each won idle->busy is followed by its busy->idle: two transitions per win, no lost one.
      expect(r['stateMachine']!['wins']).toBeGreaterThan(0)
      expect(r['stateMachine']!['transitions']).toBe(2 * (r['stateMachine']!['wins'] as number))
      expect(r['stateMachine']!['state']).toBe('idle')
      // A lock cycle: exactly one of the two is told, the other goes on.
      expect(r['deadlock']).toEqual({ deadlockErrors: 1, got: 1, other: [] })
      // A holder terminated holding the lock: reported with superviseWorker, never silently handed over.
      expect(r['ownerDied']).toMatchObject({ reported: true, holding: true })
      expect(r['nodeExtras']).toMatchObject({ restored: 5, restoredVersion: 6, version: 6, metrics: true, status: { n: 5 } })
    }, 300_000)
  })
}
