/**
 * The Lua scripts that are the only writers of an object's keys on the
 * server. Each runs atomically (Redis runs one script at a time), so a
 * commit's checks, its version, its data and its stream entry can never
 * disagree, and no reader anywhere sees part of one.
 *
 * Keys of one object share a hash tag (`{namespace:name}`), so every script
 * touches one Redis Cluster slot:
 *
 * ```
 *   {ns:name}:meta    hash: kind, shape, epoch, version
 *   {ns:name}:data    hash: key -> value bytes (wire.ts)
 *   {ns:name}:ver     hash: key -> version of the commit that wrote it
 *   {ns:name}:log     stream: one entry per commit: v version, e epoch, o operation
 *                     id, c 1 if it cleared the map first, d the changes blob (a
 *                     mirror applies no entry of another epoch: a stream
 *                     recreated under the same name after a loss)
 *   {ns:name}:op:<id> string: the version operation <id> committed (expires)
 * ```
 *
 * Every script first checks the object's epoch: a random id written when the
 * object was created. Redis losing its data (restart without persistence,
 * flush, failover) removes it or, once the object is created again,
 * changes it: the script then answers THREADSTATE_EPOCH and nothing is
 * written, so versions never silently restart at 1.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { fenceCheck } from './lock-scripts.js'

/** A script with its SHA-1 (for EVALSHA; EVAL of the source after NOSCRIPT). */
export interface Script {
  readonly source: string
  readonly sha: string
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/**
 * Creates the object if it does not exist, else checks its kind and shape.
 * KEYS: meta. ARGV: kind, shape, a new epoch. Returns {epoch, created 1|0}.
 */
export const OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'shape', ARGV[2], 'epoch', ARGV[3], 'version', 0)
  return {ARGV[3], 1}
end
if kind ~= ARGV[1] then return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not a ' .. ARGV[1]) end
local shape = redis.call('HGET', KEYS[1], 'shape')
if shape ~= ARGV[2] then return redis.error_reply('THREADSTATE_SHAPE shape ' .. tostring(shape) .. ', not ' .. ARGV[2]) end
return {redis.call('HGET', KEYS[1], 'epoch'), 0}
`)

/**
 * A map's whole state at one version, with the id of its last stream entry
 * (the bridge reads on from there). KEYS: meta, data, ver, log. ARGV: epoch.
 * Returns {version, last id, {key, value, ...}, {key, version, ...}}.
 */
export const MAP_SNAPSHOT = script(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch ~= ARGV[1] then return redis.error_reply('THREADSTATE_EPOCH ' .. tostring(epoch)) end
local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {redis.call('HGET', KEYS[1], 'version'), id, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
`)

/**
 * One map commit. KEYS: meta, data, ver, log, op. ARGV: epoch, operation
 * id, operation record ttl (ms), stream length (MAXLEN ~), clear (1|0),
 * number of checks n, then n pairs (key, expected version: the entry's
 * version, 0 absent, -1 present), then the changes blob (wire.ts), then
 * the fence: lock name ('' unfenced) and fence (lock-scripts.ts
 * `fenceCheck`: THREADSTATE_FENCE if a later fence of that lock wrote here).
 * Returns {1, version} committed, {1, version, 1} committed earlier by this
 * operation id (a retry), {0, current version} a check failed (nothing
 * written), {2, current version} the checks held and there was nothing to
 * write (a read-only transaction, validated).
 */
export const MAP_COMMIT = script(`
local meta, data, ver, log, op = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local epoch = redis.call('HGET', meta, 'epoch')
if epoch ~= ARGV[1] then return redis.error_reply('THREADSTATE_EPOCH ' .. tostring(epoch)) end
local done = redis.call('GET', op)
if done then return {1, tonumber(done), 1} end
${fenceCheck('meta', '8 + 2 * tonumber(ARGV[6])')}
local n = tonumber(ARGV[6])
local at = 7
for i = 1, n do
  local want = tonumber(ARGV[at + 1])
  local have = tonumber(redis.call('HGET', ver, ARGV[at]) or '0')
  if (want < 0 and have == 0) or (want >= 0 and have ~= want) then
    return {0, tonumber(redis.call('HGET', meta, 'version'))}
  end
  at = at + 2
end
local blob = ARGV[at]
if n > 0 and ARGV[5] ~= '1' and #blob == 0 then
  -- Checks and nothing to write: a read-only transaction, validated.
  return {2, tonumber(redis.call('HGET', meta, 'version'))}
end
local version = redis.call('HINCRBY', meta, 'version', 1)
if ARGV[5] == '1' then redis.call('DEL', data, ver) end
local pos = 1
local size = #blob
while pos <= size do
  local kl = struct.unpack('<I4', blob, pos)
  local key = string.sub(blob, pos + 4, pos + 3 + kl)
  pos = pos + 4 + kl
  local vl = struct.unpack('<I4', blob, pos)
  pos = pos + 4
  if vl == 0 then
    redis.call('HDEL', data, key)
    redis.call('HDEL', ver, key)
  else
    redis.call('HSET', data, key, string.sub(blob, pos, pos + vl - 1))
    redis.call('HSET', ver, key, version)
    pos = pos + vl
  end
end
redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', 'v', version, 'e', ARGV[1], 'o', ARGV[2], 'c', ARGV[5], 'd', blob)
redis.call('SET', op, version, 'PX', ARGV[3])
return {1, version}
`)


/** The server's time as microseconds since the epoch, a decimal string (exact: no float formatting). */
const NOW_MICROS = `local now = redis.call('TIME')
local ts = now[1] .. string.format('%06d', tonumber(now[2]))`

/**
 * Creates a snapshot store holding version 1 if it does not exist, else
 * checks its kind; returns its latest snapshot either way.
 * KEYS: meta, log. ARGV: shape, a new epoch, initial bytes, flags, stream length.
 * Returns {epoch, version, bytes, flags, timestamp (us), source, last stream id}.
 */
export const SNAPSHOT_OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  ${NOW_MICROS}
  redis.call('HSET', KEYS[1], 'kind', 'snapshot', 'shape', ARGV[1], 'epoch', ARGV[2], 'version', 1, 'value', ARGV[3], 'flags', ARGV[4], 'ts', ts, 'source', '')
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], '*', 'v', 1, 'e', ARGV[2], 't', ts, 'f', ARGV[4], 's', '', 'd', ARGV[3])
elseif kind ~= 'snapshot' then
  return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not a snapshot')
end
local m = redis.call('HMGET', KEYS[1], 'epoch', 'version', 'value', 'flags', 'ts', 'source')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {m[1], m[2], m[3], m[4], m[5], m[6], id}
`)

/**
 * One snapshot publish. KEYS: meta, log, op. ARGV: epoch, operation id,
 * record ttl (ms), stream length (exact MAXLEN: entries hold whole
 * snapshots), expected version (-1: any), source, flags, bytes, fence lock
 * name ('' unfenced), fence.
 * Returns {1, version, 0, timestamp (us)}, {1, version, 1} (a retry of a
 * committed operation), or {0, current version} (expected version not met).
 */
export const SNAPSHOT_PUBLISH = script(`
local meta, log, op = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if epoch ~= ARGV[1] then return redis.error_reply('THREADSTATE_EPOCH ' .. tostring(epoch)) end
local done = redis.call('GET', op)
if done then return {1, tonumber(done), 1} end
${fenceCheck('meta', 9)}
local current = tonumber(redis.call('HGET', meta, 'version'))
local want = tonumber(ARGV[5])
if want >= 0 and current ~= want then return {0, current} end
local version = current + 1
${NOW_MICROS}
redis.call('HSET', meta, 'version', version, 'value', ARGV[8], 'flags', ARGV[7], 'ts', ts, 'source', ARGV[6])
redis.call('XADD', log, 'MAXLEN', ARGV[4], '*', 'v', version, 'e', ARGV[1], 't', ts, 'f', ARGV[7], 's', ARGV[6], 'd', ARGV[8])
redis.call('SET', op, version, 'PX', ARGV[3])
return {1, version, 0, ts}
`)

/**
 * Creates a state buffer (version 0: nothing published) if it does not
 * exist, else checks its kind and schema. KEYS: meta, log. ARGV: schema
 * fingerprint hash, a new epoch. Returns {epoch, version, last stream id}.
 */
export const STATE_OPEN = script(`
local kind = redis.call('HGET', KEYS[1], 'kind')
if not kind then
  redis.call('HSET', KEYS[1], 'kind', 'state', 'shape', ARGV[1], 'epoch', ARGV[2], 'version', 0)
elseif kind ~= 'state' then
  return redis.error_reply('THREADSTATE_SHAPE a ' .. kind .. ', not a state buffer')
elseif redis.call('HGET', KEYS[1], 'shape') ~= ARGV[1] then
  return redis.error_reply('THREADSTATE_SHAPE a state buffer of another schema')
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
local m = redis.call('HMGET', KEYS[1], 'epoch', 'version')
return {m[1], m[2], id}
`)

/**
 * One state publish. KEYS: meta, log, op. ARGV: epoch, operation id, record
 * ttl (ms), stream length (MAXLEN ~: the history other processes can catch
 * up from), timestamp (us on the server's clock; empty: now), source, the
 * flat state (Float64 LE), fence lock name ('' unfenced), fence.
 * Returns {1, version, 0, timestamp (us)} or
 * {1, version, 1} (a retry of a committed operation).
 */
export const STATE_PUBLISH = script(`
local meta, log, op = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if epoch ~= ARGV[1] then return redis.error_reply('THREADSTATE_EPOCH ' .. tostring(epoch)) end
local done = redis.call('GET', op)
if done then return {1, tonumber(done), 1} end
${fenceCheck('meta', 8)}
local version = redis.call('HINCRBY', meta, 'version', 1)
local ts = ARGV[5]
if ts == '' then
  local now = redis.call('TIME')
  ts = now[1] .. string.format('%06d', tonumber(now[2]))
end
redis.call('HSET', meta, 'value', ARGV[7], 'ts', ts, 'source', ARGV[6])
redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', 'v', version, 'e', ARGV[1], 't', ts, 's', ARGV[6], 'd', ARGV[7])
redis.call('SET', op, version, 'PX', ARGV[3])
return {1, version, 0, ts}
`)
