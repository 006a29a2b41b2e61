/** The examples run and pass their own checks (each exits 1 if one fails). */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

function runExample(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = fileURLToPath(new URL(`../examples/${name}`, import.meta.url))
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr })
    })
  })
}

describe('examples', () => {
  it('drone-control: a 1 kHz controller reads fresh states, then stale ones once the estimator dies', async () => {
    const r = await runExample('drone-control.mjs')
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/controller: \d+ reads at ~1 kHz, \d+ fresh, [1-9]\d* stale/)
  })

  it('status-snapshot: handlers read consistent snapshots; the last one is persisted and restored', async () => {
    const r = await runExample('status-snapshot.mjs')
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/, 0 inconsistent/)
    expect(r.stdout).toMatch(/restored version \d+ with tick 2000/)
  })

  it('http-status-server: 4 handler workers share the status and test maps; no mixed update, no two tests, no lost count', async () => {
    const r = await runExample('http-status-server.mjs')
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/\d+ responses, 0 inconsistent, 0 overlapping tests, 0 failed; request counter (\d+) for \1 served/)
  })

  it('camera-registry: id and IP keys always agree; probes re-validated after I/O; no detection lost', async () => {
    const r = await runExample('camera-registry.mjs')
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/detections: (\d+) appended by 2 threads, \1 recorded/)
    expect(r.stdout).toMatch(/readers: \d+ reads \(\d+ whole snapshots\), 0 inconsistent/)
  })
})
