/**
 * A domain whose server died closes at once, and leaves nothing that keeps the process alive.
 * Found by the fleet demo (issue 13): after the private server died under a blocked XREAD, ioredis
 * settled that read neither on reconnect nor on disconnect(), so the bridge's close() waited for it
 * for ever and the connections kept reconnecting (a Ctrl-C'd demo hung). The bridge now gives up a
 * read when it closes, and any read after BLOCK + 10 s. Before the fix this test timed out: the
 * child never reported and never exited.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it, onTestFinished } from 'vitest'
import { describeRedis, startRedisServer } from './server.js'

describeRedis('closing a domain whose server died', () => {
  it('close() resolves promptly and the process exits on its own', async () => {
    const server = await startRedisServer()
    const child = fork(fileURLToPath(new URL('../fixtures/redis-close.mjs', import.meta.url)), [server.url], { stdio: 'pipe' })
    // Also when the test times out (a hang: its body never settles, so a finally would not run).
    onTestFinished(async () => {
      child.kill('SIGKILL')
      await server.stop()
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve())
      child.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before opening`)))
    })
    await server.stop()
    const report = new Promise<{ closedInMs: number }>((resolve) => child.once('message', (m) => resolve(m as { closedInMs: number })))
    child.send('go')
    const { closedInMs } = await report
    // A bound only a hang breaks (the fixed close takes milliseconds; the test's timeout is 60 s).
    expect(closedInMs).toBeLessThan(30_000)
    expect(await exited).toBe(0)
  }, 60_000)
})
