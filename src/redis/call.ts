/**
 * Sending one script call with retries inside a deadline, and reading what
 * came back: the error classes the server's answers and a lost connection
 * become (errors.ts). A retry resends the same arguments, operation id
 * included, so a commit that ran before its reply was lost is answered from
 * its record instead of running twice (scripts.ts).
 *
 * @module
 */
import { ThreadstateError } from '../errors.js'
import type { Arg, RedisLink } from './client.js'
import { RedisConnectionError, RedisDataLostError, RedisOutcomeUnknownError, RedisShapeError, StaleFenceError } from './errors.js'
import type { Script } from './scripts.js'

/** Whether `error` is an answer of the server (a reply error), not a failure to get one. */
export function isReply(error: unknown): error is Error {
  if (!(error instanceof Error)) return false
  // ioredis: ReplyError; node-redis: ErrorReply.
  return error.name === 'ReplyError' || error.name === 'ErrorReply' || /^(ERR|NOSCRIPT|THREADSTATE_|WRONGTYPE|OOM|BUSY|NOPERM|READONLY)/.test(error.message)
}

/** Whether a failed attempt certainly never reached the server. */
function neverSent(error: unknown): boolean {
  return error instanceof NotSentError || (error instanceof Error && /isn't writeable|enableOfflineQueue|client is closed|The client is closed/i.test(error.message))
}

/** An attempt that gave up before sending (a plain Error subclass: {@link withRetries} retries it). */
class NotSentError extends Error {
  override name = 'NotSentError'
}

/**
 * The attempt and the `sent` option of {@link withRetries} for a command
 * sent on a link that may first have to be connected: an attempt sends only
 * while it is the current one, and asking `sent()` about a failed attempt
 * (which withRetries does at each failure, the deadline's included) ends its
 * right to send. So an attempt abandoned while still connecting can never
 * send later, after the call reported that nothing was applied.
 */
export function sendGate<L, T>(getLink: () => Promise<L>, send: (link: L) => Promise<T>): { attempt: () => Promise<T>; sent: () => boolean } {
  let current = 0
  let sent = false
  return {
    attempt: async () => {
      const me = ++current
      sent = false
      const link = await getLink()
      if (me !== current) throw new NotSentError('threadstate: the call gave up on this attempt before it was sent')
      sent = true
      return send(link)
    },
    sent: () => {
      current++
      return sent
    },
  }
}

/** Turns a reply error into threadstate's error for it. */
export function replyError(error: Error, what: string): Error {
  const message = error.message
  const epoch = /THREADSTATE_EPOCH (.*)/.exec(message)
  if (epoch) {
    const found = epoch[1] === 'nil' || epoch[1] === 'false' ? 'none (the keys are gone)' : `epoch ${epoch[1]}`
    return new RedisDataLostError(
      `Expected ${what} to hold the data this process opened, got ${found}: Redis lost or replaced it (a restart without persistence, a flush, a failover); nothing was written`,
    )
  }
  const fence = /THREADSTATE_FENCE (\d+) (.*)/.exec(message)
  if (fence) {
    return new StaleFenceError(
      `Expected a write to ${what} fenced by the newest lease of lock '${fence[2]}', got an older one: fence ${fence[1]} of that lock already wrote here (this holder's lease ended); nothing was written`,
      Number(fence[1]),
    )
  }
  const shape = /THREADSTATE_SHAPE (.*)/.exec(message)
  if (shape) return new RedisShapeError(`Expected ${what} to be what was asked for, got ${shape[1]}`)
  return new ThreadstateError(`Expected Redis to run ${what}'s command, got the error: ${message}`)
}

/** Runs `script` (EVALSHA, then EVAL after NOSCRIPT). */
export async function evalScript(link: RedisLink, script: Script, keys: readonly Arg[], args: readonly Arg[]): Promise<unknown> {
  try {
    return await link.send(['EVALSHA', script.sha, keys.length, ...keys, ...args])
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return link.send(['EVAL', script.source, keys.length, ...keys, ...args])
    throw error
  }
}

/** Deadline and naming of one call. */
export interface CallOptions {
  /** Give up after this many ms. */
  readonly timeoutMs: number
  /** The object, for messages. */
  readonly what: string
  /** The write's operation id: set for writes (an unanswered one is then an unknown outcome). */
  readonly operationId?: string
  /**
   * Whether the attempt that just failed got as far as sending its command
   * (false while it was still getting a connection), asked once per failure
   * ({@link sendGate} makes one that also stops that attempt from sending
   * later): a write whose attempts all failed before sending was not
   * applied, a RedisConnectionError rather than an unknown outcome. Without
   * it every failure counts as maybe sent.
   */
  readonly sent?: () => boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Runs `attempt` until it answers, retrying connection failures (the link
 * reconnects meanwhile) until the deadline.
 * @throws the reply error turned into threadstate's (replyError); RedisOutcomeUnknownError
 *   for a write that may have been sent and was never answered; RedisConnectionError otherwise
 */
export async function withRetries<T>(attempt: () => Promise<T>, options: CallOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let maybeSent = false
  let last: unknown
  for (let n = 0; ; n++) {
    const left = deadline - Date.now()
    if (left <= 0) break
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('threadstate: no reply within the deadline')), left)
      })
      return await Promise.race([attempt(), timedOut])
    } catch (error) {
      if (isReply(error)) throw replyError(error, options.what)
      // threadstate's own errors (a closed domain, a missing client library) are not worth retrying.
      if (error instanceof ThreadstateError) throw error
      last = error
      // Asked at every failure: it also ends the failed attempt's right to send (sendGate).
      const reachedSend = options.sent === undefined || options.sent()
      if (!neverSent(error) && reachedSend) maybeSent = true
    } finally {
      clearTimeout(timer)
    }
    await sleep(Math.min(10 * 2 ** n, 200, Math.max(0, deadline - Date.now())))
  }
  const why = last instanceof Error ? last.message : String(last)
  if (options.operationId !== undefined && maybeSent) {
    throw new RedisOutcomeUnknownError(
      `Expected a reply to a write of ${options.what} within ${options.timeoutMs} ms, got none (${why}): it may or may not have been applied, and will not be applied twice`,
      options.operationId,
    )
  }
  throw new RedisConnectionError(`Expected Redis to answer for ${options.what} within ${options.timeoutMs} ms, got no answer (${why})${options.operationId !== undefined ? ': the write was not applied' : ''}`)
}
