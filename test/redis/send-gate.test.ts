/**
 * A Redis write whose every attempt failed before sending (the connection could not be made) was
 * not applied: withRetries says so (RedisConnectionError), not "outcome unknown", and an attempt it
 * gave up on while still connecting never sends afterwards (sendGate). No server needed: the link
 * is a promise the test resolves. Broken variants, run once: `sent()` that does not end the failed
 * attempt's right to send (the third test fails: the abandoned attempt sent 150 ms after the call
 * reported nothing applied); withRetries ignoring the `sent` option (the first test fails with
 * RedisOutcomeUnknownError, the third too).
 */
import { describe, expect, it } from 'vitest'
import { sendGate, withRetries } from '../../src/redis/call.js'
import { RedisConnectionError, RedisOutcomeUnknownError } from '../../src/redis/errors.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('sendGate + withRetries', () => {
  it('attempts that never got a connection: RedisConnectionError (not applied)', async () => {
    const { attempt, sent } = sendGate(() => Promise.reject(new Error('ECONNREFUSED')), async () => 'sent')
    await expect(withRetries(attempt, { timeoutMs: 150, what: 'x', operationId: 'op', sent })).rejects.toThrow(RedisConnectionError)
  })

  it('an attempt that sent and got no answer: RedisOutcomeUnknownError', async () => {
    const { attempt, sent } = sendGate(async () => 'link', () => Promise.reject(new Error('socket closed')))
    await expect(withRetries(attempt, { timeoutMs: 150, what: 'x', operationId: 'op', sent })).rejects.toThrow(RedisOutcomeUnknownError)
  })

  it('an attempt still connecting at the deadline never sends later', async () => {
    let sends = 0
    let connect!: (link: string) => void
    const { attempt, sent } = sendGate(() => new Promise<string>((resolve) => (connect = resolve)), async () => ++sends)
    await expect(withRetries(attempt, { timeoutMs: 100, what: 'x', operationId: 'op', sent })).rejects.toThrow(RedisConnectionError)
    connect('late link') // the connection comes up after the call gave up
    await sleep(150)
    expect(sends).toBe(0)
  })
})
