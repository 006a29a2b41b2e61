/**
 * The Lua scripts of the Redis-backed locks (locks.ts). One model serves
 * every kind: a lock is a set of *holds*, each a lease that expires on the
 * server's clock, and a FIFO queue of waiters.
 *
 * ```
 *   {ns:name}:meta     hash: kind, permits, fence (the last fence issued),
 *                      ticket (the last queue ticket), poisoned ('' or the
 *                      hold, "<holder>#<attempt> <fence>", of an exclusive
 *                      holder whose lease expired without an unlock)
 *   {ns:name}:holders  zset: hold -> lease expiry (server ms). A hold is
 *                      "<holder>#<attempt>#<i>": one per permit (i = 1..n;
 *                      n = 1 for a mutex, a reader, a writer)
 *   {ns:name}:info     hash: hold -> "<mode> <fence>"; waiter -> "<mode> <n>"
 *                      (mode: w exclusive, r shared, s a semaphore permit)
 *   {ns:name}:queue    zset: waiter "<holder>#<attempt>" -> ticket (FIFO)
 *   {ns:name}:qexp     zset: waiter -> expiry (server ms; a waiter re-checks,
 *                      which renews it, well before: a dead one drops out)
 *   {ns:name}:log      stream: one entry per release that found waiters (the
 *                      process bridges read it and wake their waiters)
 * ```
 *
 * Every script reads the time with `redis.call('TIME')`: leases expire on
 * the server's clock only, never a client's.
 *
 * **Fences.** An acquisition's fence is `max(last fence + 1, server time in
 * microseconds)`. Within the lock's life that is the counter Kleppmann's
 * fencing tokens need (strictly increasing); and when Redis loses the
 * lock's keys (a restart without persistence, a failover to a replica that
 * missed writes, a flush) the next fence is seeded from the server's clock,
 * which is past every fence issued before: a fence never exceeds the time it
 * was issued at by more than the acquisitions made within one microsecond
 * (none: a script takes longer). So fences never go backwards, with no
 * epoch to carry around and compare, and they stay plain integers (below
 * 2^53 until the year 2255) that a user's store can compare with `<`. What
 * it rests on: the server's clock does not step back across the loss
 * (across a failover, the new primary's clock is not behind the old one's
 * by more than the time the failover took).
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type { Script } from './scripts.js'

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/** Names the keys. */
const KEY_NAMES = `
local meta, holders, info, queue, qexp, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
`

/** Names the keys and reads the server's clock (ms and us). */
const PRELUDE = `${KEY_NAMES}
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
`

/** Creates the lock's meta if missing (data lost: the fence seeds from the clock), else checks kind and permits. Sets `shapeError`. */
const KIND_CHECK = `
local shapeError = nil
local kind = redis.call('HGET', meta, 'kind')
if not kind then
  redis.call('HSET', meta, 'kind', ARGV[1], 'permits', ARGV[2], 'fence', 0, 'ticket', 0, 'poisoned', '')
elseif kind ~= ARGV[1] then
  shapeError = 'THREADSTATE_SHAPE a ' .. kind .. ', not a ' .. ARGV[1]
elseif redis.call('HGET', meta, 'permits') ~= ARGV[2] then
  shapeError = 'THREADSTATE_SHAPE a ' .. kind .. ' of ' .. tostring(redis.call('HGET', meta, 'permits')) .. ' permits, not ' .. ARGV[2]
end
`

/** Drops expired holds (an exclusive one poisons the lock) and expired waiters. */
const PRUNE = `
for _, h in ipairs(redis.call('ZRANGEBYSCORE', holders, '-inf', nowMs)) do
  local i = redis.call('HGET', info, h)
  if i and string.sub(i, 1, 1) == 'w' then
    redis.call('HSET', meta, 'poisoned', string.sub(h, 1, #h - 2) .. ' ' .. string.sub(i, 3))
  end
  redis.call('ZREM', holders, h)
  redis.call('HDEL', info, h)
end
for _, w in ipairs(redis.call('ZRANGEBYSCORE', qexp, '-inf', nowMs)) do
  redis.call('ZREM', queue, w)
  redis.call('ZREM', qexp, w)
  redis.call('HDEL', info, w)
end
`

/** Appends a wake-up notice for the process bridges, if anybody waits. */
const WAKE = `
if redis.call('ZCARD', queue) > 0 then redis.call('XADD', log, 'MAXLEN', '~', 64, '*', 'w', 1) end
`

/**
 * Checks or creates the lock. KEYS: meta, holders, info, queue, qexp, log.
 * ARGV: kind, permits. Returns the id of the log's last entry ('0-0' if none).
 */
export const LOCK_OPEN = script(`${PRELUDE}${KIND_CHECK}
if shapeError then return redis.error_reply(shapeError) end
local last = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
if #last > 0 then return last[1][1] end
return '0-0'
`)

/**
 * One acquisition attempt. KEYS: meta, holders, info, queue, qexp, log.
 * ARGV: kind, permits, attempt "<holder>#<attempt>", mode (w|r|s), n
 * (permits wanted), lease ms, queue (1: join the queue on failure, 0: a
 * try), waiter ttl ms.
 *
 * Returns {1, fence, poisoned hold or '', lease ms}: acquired (also the
 * answer to a retry of an attempt that already acquired: idempotent);
 * {0, ms}: not now, re-check within ms (the soonest lease or waiter
 * expiry) or when woken; {4, poisoned hold}: a read refused because a
 * writer died (OwnerDiedError, not holding).
 *
 * Admission: a writer or a mutex when nobody holds and it is the head of
 * the queue (or the queue is empty); semaphore permits when enough are free
 * and it is the head; a reader when no writer holds and no writer is queued
 * ahead of it (writer-preferring: a reader that arrives while a writer waits
 * queues behind it).
 */
export const LOCK_ACQUIRE = script(`${PRELUDE}
local attempt, mode, n, lease = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
-- The uncontended path: the lock exists as this kind, nobody holds it (so no hold expired) and nobody waits.
local m = redis.call('HMGET', meta, 'kind', 'permits', 'fence', 'poisoned')
if m[1] == ARGV[1] and m[2] == ARGV[2] and (mode ~= 'r' or m[4] == '') and redis.call('ZCARD', holders) == 0 and redis.call('ZCARD', queue) == 0 then
  local fence = math.max(tonumber(m[3]) + 1, nowUs)
  local fenceText = string.format('%d', fence)
  redis.call('HSET', meta, 'fence', fenceText)
  for i = 1, n do
    redis.call('ZADD', holders, nowMs + lease, attempt .. '#' .. i)
    redis.call('HSET', info, attempt .. '#' .. i, mode .. ' ' .. fenceText)
  end
  if mode ~= 'w' then return {1, fence, '', lease} end
  return {1, fence, m[4], lease}
end
${KIND_CHECK}
if shapeError then return redis.error_reply(shapeError) end
local held = redis.call('HGET', info, attempt .. '#1')
local heldUntil = redis.call('ZSCORE', holders, attempt .. '#1')
if held and heldUntil and tonumber(heldUntil) > nowMs then
  return {1, tonumber(string.sub(held, 3)), '', tonumber(heldUntil) - nowMs}
end
${PRUNE}
local poisoned = redis.call('HGET', meta, 'poisoned') or ''
local queued = redis.call('ZSCORE', queue, attempt)
local ok = false
if mode == 'r' then
  if poisoned ~= '' then
    redis.call('ZREM', queue, attempt)
    redis.call('ZREM', qexp, attempt)
    redis.call('HDEL', info, attempt)
    return {4, poisoned}
  end
  ok = true
  for _, h in ipairs(redis.call('ZRANGE', holders, 0, -1)) do
    local i = redis.call('HGET', info, h)
    if i and string.sub(i, 1, 1) == 'w' then ok = false break end
  end
  if ok then
    for _, w in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
      if w == attempt then break end
      local i = redis.call('HGET', info, w)
      if i and string.sub(i, 1, 1) == 'w' then ok = false break end
    end
  end
else
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if head == nil or head == attempt then
    if mode == 'w' then ok = redis.call('ZCARD', holders) == 0
    else ok = redis.call('ZCARD', holders) + n <= tonumber(ARGV[2]) end
  end
end
if ok then
  local fence = math.max(tonumber(redis.call('HGET', meta, 'fence')) + 1, nowUs)
  local fenceText = string.format('%d', fence)
  redis.call('HSET', meta, 'fence', fenceText)
  for i = 1, n do
    redis.call('ZADD', holders, nowMs + lease, attempt .. '#' .. i)
    redis.call('HSET', info, attempt .. '#' .. i, mode .. ' ' .. fenceText)
  end
  if queued then
    redis.call('ZREM', queue, attempt)
    redis.call('ZREM', qexp, attempt)
    redis.call('HDEL', info, attempt)
    -- Admitted from the queue with room left (readers, permits): the next may fit too.
    if mode ~= 'w' then ${WAKE} end
  end
  if mode ~= 'w' then poisoned = '' end
  return {1, fence, poisoned, lease}
end
if ARGV[7] == '1' then
  if not queued then
    redis.call('ZADD', queue, redis.call('HINCRBY', meta, 'ticket', 1), attempt)
    redis.call('HSET', info, attempt, mode .. ' ' .. n)
  end
  redis.call('ZADD', qexp, nowMs + tonumber(ARGV[8]), attempt)
end
local soonest = nowMs + tonumber(ARGV[8])
local h = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')
if h[2] then soonest = math.min(soonest, tonumber(h[2])) end
local q = redis.call('ZRANGE', qexp, 0, 0, 'WITHSCORES')
if q[2] then soonest = math.min(soonest, tonumber(q[2])) end
return {0, math.max(1, soonest - nowMs + 1)}
`)

/**
 * Releases holds. KEYS: meta, holders, info, queue, qexp, log. ARGV: the
 * holds. A hold whose lease expired but that nobody took since is still
 * released (nobody can have held meanwhile). Returns how many of them were
 * still there (fewer: a lease was lost, taken over after it expired or
 * gone with the data). Wakes the waiters.
 */
export const LOCK_RELEASE = script(`${KEY_NAMES}
local released = 0
for i = 1, #ARGV do
  if redis.call('ZREM', holders, ARGV[i]) == 1 then released = released + 1 end
  redis.call('HDEL', info, ARGV[i])
end
${WAKE}
return released
`)

/**
 * Renews holds that are still valid on the server's clock. KEYS: meta,
 * holders, info, queue, qexp, log. ARGV: lease ms, then the holds.
 * Returns one 1 (renewed) or 0 (lost: expired, taken, or gone) per hold.
 */
export const LOCK_RENEW = script(`${PRELUDE}
local out = {}
local expiry = nowMs + tonumber(ARGV[1])
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', holders, ARGV[i])
  if score and tonumber(score) > nowMs then
    redis.call('ZADD', holders, 'XX', expiry, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`)

/**
 * After an OwnerDiedError: the holder declares the data repaired. KEYS:
 * meta, holders, info, queue, qexp, log. ARGV: the caller's exclusive hold.
 * Returns 1, or 0 if the caller does not hold the lock (a lost lease).
 */
export const LOCK_CONSISTENT = script(`${KEY_NAMES}
if not redis.call('ZSCORE', holders, ARGV[1]) then return 0 end
redis.call('HSET', meta, 'poisoned', '')
return 1
`)

/**
 * A waiter gives up (timeout, abort, or an attempt whose outcome was never
 * learnt): it leaves the queue, and holds the attempt got without learning
 * it are released, so no ghost outlives the attempt. KEYS: meta, holders,
 * info, queue, qexp, log. ARGV: attempt, n. Wakes the others (the one that
 * left may have been the head).
 */
export const LOCK_CANCEL = script(`${KEY_NAMES}
redis.call('ZREM', queue, ARGV[1])
redis.call('ZREM', qexp, ARGV[1])
redis.call('HDEL', info, ARGV[1])
for i = 1, tonumber(ARGV[2]) do
  redis.call('ZREM', holders, ARGV[1] .. '#' .. i)
  redis.call('HDEL', info, ARGV[1] .. '#' .. i)
end
${WAKE}
return 1
`)

/**
 * The lock as the server sees it now. KEYS: meta, holders, info, queue,
 * qexp, log. Returns {fence, poisoned, {hold, expiry in ms from now, info, ...}, waiters}.
 */
export const LOCK_STATE = script(`${PRELUDE}
local out = {}
local h = redis.call('ZRANGE', holders, 0, -1, 'WITHSCORES')
for i = 1, #h, 2 do
  out[#out + 1] = h[i]
  out[#out + 1] = tonumber(h[i + 1]) - nowMs
  out[#out + 1] = redis.call('HGET', info, h[i]) or ''
end
return {redis.call('HGET', meta, 'fence') or '0', redis.call('HGET', meta, 'poisoned') or '', out, redis.call('ZCARD', queue)}
`)

/**
 * The fence check of a threadstate object's write (scripts.ts): `ARGV[a]`
 * names the lock by its hash tag `{namespace:name}` ('' for an unfenced
 * write: lock-engine.ts `fenceArgs`), `ARGV[a + 1]` is the fence. The
 * object's meta keeps the highest fence of each lock that reached it
 * (`fence:{namespace:name}`: locks of one name in two namespaces are two
 * locks here too); a write with a lower one is refused (THREADSTATE_FENCE,
 * nothing written): its holder's lease ended and a later holder already
 * wrote. `meta` is the object's meta key variable; `a` the index (a Lua
 * expression).
 */
export function fenceCheck(meta: string, a: number | string): string {
  return `
local fenceAt = ${a}
if ARGV[fenceAt] ~= '' then
  local fenceField = 'fence:' .. ARGV[fenceAt]
  local seenFence = tonumber(redis.call('HGET', ${meta}, fenceField) or '0')
  if tonumber(ARGV[fenceAt + 1]) < seenFence then
    return redis.error_reply('THREADSTATE_FENCE ' .. string.format('%d', seenFence) .. ' ' .. ARGV[fenceAt])
  end
  redis.call('HSET', ${meta}, fenceField, ARGV[fenceAt + 1])
end
`
}
