/** The CLI: the demo runs and passes its own checks; bad input gets usage and exit 2. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const bin = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url))

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

describe('threadstate CLI', () => {
  it('demo --duration 1 passes every check and exits 0', async () => {
    const r = await cli('demo', '--duration', '1')
    expect(r.code, r.stdout).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/All \d+ checks passed/)
    expect(r.stdout).toMatch(/DeadlockError/)
    expect(r.stdout).toMatch(/OwnerDiedError/)
    expect(r.code).toBe(0)
  })

  it('bad flags and unknown commands print usage and exit 2', async () => {
    for (const args of [['nope'], ['demo', '--duration', 'abc'], ['demo', '--bogus'], []]) {
      const r = await cli(...args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(/[Uu]sage/)
    }
  })

  it('--help prints usage and exits 0', async () => {
    const r = await cli('--help')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/demo/)
  })
})
