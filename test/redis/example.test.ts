/** examples/cluster-status-server.mjs runs and passes its own checks (it starts its own redis-server). */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { describeRedis } from './server.js'

describeRedis('examples on Redis', () => {
  it('cluster-status-server: 3 processes share the status, test and metrics maps through Redis; no mixed update, no two tests, no lost count', async () => {
    const file = fileURLToPath(new URL('../../examples/cluster-status-server.mjs', import.meta.url))
    const { REDIS_URL: _, ...env } = process.env
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [file], { timeout: 90_000, env }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr })
      })
    })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/from 3 processes/)
    expect(r.stdout).toMatch(/(\d+) responses, 0 inconsistent, 0 overlapping tests, 0 failed; request counter \1 for \1 served/)
  })
})
