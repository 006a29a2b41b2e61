/**
 * Async waits keep a Node process alive: a pending Atomics.waitAsync alone
 * does not, so a process whose only pending work is lockAsync / subscribe /
 * waitForVersionAsync would exit early (code 13) without threadstate's timer.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('./fixtures/keep-alive.mjs', import.meta.url))

function runScript(what: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, what], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr })
    })
  })
}

describe('async waits keep the process alive', () => {
  it('waitForVersionAsync', async () => {
    const r = await runScript('wait')
    expect(r.stdout.trim()).toBe('waited true')
    expect(r.code).toBe(0)
  })

  it('subscribe', async () => {
    const r = await runScript('subscribe')
    expect(r.stdout.trim()).toBe('event 1')
    expect(r.code).toBe(0)
  })

  it('lockAsync', async () => {
    const r = await runScript('lock')
    expect(r.stdout.trim()).toBe('locked true')
    expect(r.code).toBe(0)
  })
})
