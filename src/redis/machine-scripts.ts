/**
 * The Lua scripts of the state machine, trigger flags, watchdog and name
 * registry on Redis: the only writers of their keys. Same conventions as
 * scripts.ts: every key of an object under its hash tag `{ns:name}`, the
 * epoch checked first (RedisDataLostError instead of counters going back),
 * an operation id whose record answers a retried write, the server's TIME
 * as the only clock.
 *
 * ```
 *   state machine  {ns:name}:meta  hash: kind=machine, shape (definition hash), epoch,
 *                                  version (transitions so far), state (index), ts (us)
 *                  {ns:name}:log   stream: v version, e epoch, o operation id, f from,
 *                                  s to, t server time (us), p thread id, r reason
 *   trigger flags  {ns:name}:meta  hash: kind=flags, shape (the names), epoch, version,
 *                                  bits (bit i = names[i]), sets
 *                  {ns:name}:log   stream: v version, e epoch, b the bits after the change
 *   watchdog       {ns:name}:meta  hash: kind=watchdog, shape (timeoutMs), epoch,
 *                                  last (us of the latest kick), fired (the `last` of the
 *                                  last silence declared), kicks, expiries
 *   registry       {ns:}:meta      hash: kind=registry, epoch, seq
 *                  {ns:}:names     hash: name -> JSON of the entry (reserved by HSETNX)
 *   any            {ns:name}:op:<id>  what operation <id> answered (expires)
 * ```
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type { Script } from './scripts.js'

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/** The server's time as microseconds since the epoch: `ts` a decimal string (exact), `now` a number (exact below 2^53). */
const NOW = `local clock = redis.call('TIME')
local ts = clock[1] .. string.format('%06d', tonumber(clock[2]))
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])`

const EPOCH_CHECK = (epoch: string) => `if epoch ~= ${epoch} then return redis.error_reply('THREADSTATE_EPOCH ' .. tostring(epoch)) end`

/**
 * Creates a machine in its initial state if it does not exist, else checks
 * its kind and definition. KEYS: meta, log. ARGV: shape, a new epoch,
 * initial state index. Returns {epoch, version, state, last stream id}.
 */
export const MACHINE_OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  ${NOW}
  redis.call('HSET', KEYS[1], 'kind', 'machine', 'shape', ARGV[1], 'epoch', ARGV[2], 'version', 0, 'state', ARGV[3], 'ts', ts)
elseif kind ~= 'machine' then
  return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not a state machine')
elseif redis.call('HGET', KEYS[1], 'shape') ~= ARGV[1] then
  return redis.error_reply('THREADSTATE_SHAPE a state machine of another definition')
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
local m = redis.call('HMGET', KEYS[1], 'epoch', 'version', 'state')
return {m[1], tonumber(m[2]), tonumber(m[3]), id}
`)

/**
 * One transition: a compare-and-set of the state and the transition counter
 * in one step. KEYS: meta, log, op. ARGV: epoch, operation id, record ttl
 * (ms), stream length (MAXLEN ~), to (index), from (index, -1: any state),
 * the column of `to` in the allowed table ('1' at position i+1 if state i
 * may move to `to`), reason, thread id, timestamp (us since the epoch on the
 * server's clock; '': the server's TIME).
 * Returns {1, version, from, timestamp (us)} committed; {1, version, -1,
 * '', 1} committed earlier by this operation id (a retry); {0, version,
 * state} refused (not allowed from the current state, or not in `from`):
 * nothing written.
 */
export const MACHINE_TRANSITION = script(`
local meta, log, op = KEYS[1], KEYS[2], KEYS[3]
local m = redis.call('HMGET', meta, 'epoch', 'state', 'version')
local epoch = m[1]
${EPOCH_CHECK('ARGV[1]')}
local done = redis.call('GET', op)
if done then return {1, tonumber(done), -1, '', 1} end
local state = tonumber(m[2])
local want = tonumber(ARGV[6])
if (want >= 0 and state ~= want) or string.sub(ARGV[7], state + 1, state + 1) ~= '1' then
  return {0, tonumber(m[3]), state}
end
local version = tonumber(m[3]) + 1
local ts = ARGV[10]
if ts == '' then
  local clock = redis.call('TIME')
  ts = clock[1] .. string.format('%06d', tonumber(clock[2]))
end
redis.call('HSET', meta, 'state', ARGV[5], 'version', version, 'ts', ts)
redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', 'v', version, 'e', ARGV[1], 'o', ARGV[2], 'f', state, 's', ARGV[5], 't', ts, 'p', ARGV[9], 'r', ARGV[8])
redis.call('SET', op, version, 'PX', ARGV[3])
return {1, version, state, ts}
`)

/**
 * Creates trigger flags (all clear) if they do not exist, else checks kind
 * and names. KEYS: meta, log. ARGV: shape (the names), a new epoch.
 * Returns {epoch, version, bits, last stream id}.
 */
export const FLAGS_OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  redis.call('HSET', KEYS[1], 'kind', 'flags', 'shape', ARGV[1], 'epoch', ARGV[2], 'version', 0, 'bits', 0, 'sets', 0)
elseif kind ~= 'flags' then
  return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not trigger flags')
elseif redis.call('HGET', KEYS[1], 'shape') ~= ARGV[1] then
  return redis.error_reply('THREADSTATE_SHAPE trigger flags of other names')
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
local m = redis.call('HMGET', KEYS[1], 'epoch', 'version', 'bits')
return {m[1], tonumber(m[2]), tonumber(m[3]), id}
`)

/**
 * Sets the bits of one mask and clears those of another, in one step.
 * KEYS: meta, log, op. ARGV: epoch, operation id, record ttl (ms), stream
 * length, set mask, take mask. Returns {1, version, bits before} (a change
 * committed, or answered from the record of this operation id), or {2,
 * version, bits before} (nothing changed: no commit).
 */
export const FLAGS_CHANGE = script(`
local meta, log, op = KEYS[1], KEYS[2], KEYS[3]
local m = redis.call('HMGET', meta, 'epoch', 'bits', 'version')
local epoch = m[1]
${EPOCH_CHECK('ARGV[1]')}
local done = redis.call('GET', op)
if done then
  local sep = string.find(done, ':')
  return {1, tonumber(string.sub(done, 1, sep - 1)), tonumber(string.sub(done, sep + 1))}
end
local old = tonumber(m[2])
local set, take = tonumber(ARGV[5]), tonumber(ARGV[6])
if set ~= 0 then redis.call('HINCRBY', meta, 'sets', 1) end
local bits = bit.band(bit.bor(old, set), bit.bnot(take))
if bits == old then return {2, tonumber(m[3]), old} end
local version = redis.call('HINCRBY', meta, 'version', 1)
redis.call('HSET', meta, 'bits', bits)
redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', 'v', version, 'e', ARGV[1], 'b', bits)
redis.call('SET', op, version .. ':' .. old, 'PX', ARGV[3])
return {1, version, old}
`)

/**
 * Creates a watchdog armed now (its first silence counts from creation) if
 * it does not exist, else checks kind and timeout. KEYS: meta. ARGV:
 * timeoutMs, a new epoch. Returns {epoch}.
 */
export const WATCHDOG_OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  ${NOW}
  redis.call('HSET', KEYS[1], 'kind', 'watchdog', 'shape', ARGV[1], 'epoch', ARGV[2], 'last', ts, 'fired', 0, 'kicks', 0, 'expiries', 0)
elseif kind ~= 'watchdog' then
  return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not a watchdog')
elseif redis.call('HGET', KEYS[1], 'shape') ~= ARGV[1] then
  return redis.error_reply('THREADSTATE_SHAPE a watchdog of timeoutMs ' .. tostring(redis.call('HGET', KEYS[1], 'shape')) .. ', not ' .. ARGV[1])
end
return {redis.call('HGET', KEYS[1], 'epoch')}
`)

/**
 * A kick: the latest kick becomes the server's time now (never moved back).
 * KEYS: meta. ARGV: epoch. Returns the kick's time (us, a string). A retry
 * of a kick whose reply was lost kicks again, later: harmless.
 */
export const WATCHDOG_KICK = script(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
${EPOCH_CHECK('ARGV[1]')}
${NOW}
if now > tonumber(redis.call('HGET', KEYS[1], 'last')) then redis.call('HSET', KEYS[1], 'last', ts) end
redis.call('HINCRBY', KEYS[1], 'kicks', 1)
return ts
`)

/**
 * A watcher's check, on the server's clock: if the latest kick is at least
 * timeoutMs old and this silence was not declared yet, declares it (moves
 * \`fired\` to \`last\`: a compare-and-set, so one watcher of all processes
 * wins each silence). KEYS: meta. ARGV: epoch.
 * Returns {state, last (us), now (us), expiries, kicks} with state 1: this call declared the
 * expiry; 2: expired, declared before; 0: not expired.
 */
export const WATCHDOG_CHECK = script(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'fired', 'shape', 'expiries', 'kicks')
local epoch = m[1]
${EPOCH_CHECK('ARGV[1]')}
${NOW}
local last = tonumber(m[2])
local state = 0
local expiries = tonumber(m[5])
if now - last >= tonumber(m[4]) * 1000 then
  state = 2
  if tonumber(m[3]) < last then
    redis.call('HSET', KEYS[1], 'fired', m[2])
    expiries = redis.call('HINCRBY', KEYS[1], 'expiries', 1)
    state = 1
  end
end
return {state, m[2], ts, expiries, tonumber(m[6])}
`)

/**
 * Opens a namespace's registry of names (creates its epoch).
 * KEYS: meta. ARGV: a new epoch. Returns {epoch}.
 */
export const REGISTRY_OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  redis.call('HSET', KEYS[1], 'kind', 'registry', 'epoch', ARGV[1], 'seq', 0)
elseif kind ~= 'registry' then
  return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not a registry')
end
return {redis.call('HGET', KEYS[1], 'epoch')}
`)

/**
 * Reserves a name: of several callers, across processes, exactly one
 * (HSETNX) gets it. KEYS: meta, names. ARGV: epoch, name, entry JSON
 * (without its seq). Returns {1, seq} reserved, {0, the entry} taken.
 */
export const REGISTRY_RESERVE = script(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
${EPOCH_CHECK('ARGV[1]')}
local taken = redis.call('HGET', KEYS[2], ARGV[2])
if taken then return {0, taken} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[2], ARGV[2], string.sub(ARGV[3], 1, -2) .. ',"seq":' .. seq .. '}')
return {1, seq}
`)
