/**
 * Lua scripts of the Redis broker and presence manager. Each runs atomically, so saving a
 * publication and publishing it to PUB/SUB happen in one step per channel: subscribers see
 * publications in offset order. Times and TTLs are milliseconds. Frames follow envelope.ts.
 */
import { LuaScript } from './connection.js';

/**
 * Publish with history. KEYS: data (stream or list), meta, result. ARGV: 1 body, 2 history size,
 * 3 history ttl, 4 meta ttl, 5 epoch candidate, 6 PUB/SUB channel, 7 delta '0'|'1', 8 version,
 * 9 version epoch, 10 idempotent result ttl ('0' = no key), 11 mode 's' (stream) | 'l' (list).
 * Returns {offset, epoch, suppressed: 0 no, 1 idempotent repeat, 2 version}.
 */
export const PUBLISH_HISTORY = new LuaScript(`
local result_ttl = tonumber(ARGV[10])
if result_ttl > 0 then
  local cached = redis.call('hmget', KEYS[3], 'e', 's')
  if cached[1] then return {tonumber(cached[2]) or 0, cached[1], 1} end
end
local meta = redis.call('hmget', KEYS[2], 'e', 's', 'v', 've')
local epoch = meta[1]
local top = tonumber(meta[2]) or 0
if not epoch then
  epoch = ARGV[5]
  top = 0
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch)
end
local version = tonumber(ARGV[8])
if version > 0 then
  local last = tonumber(meta[3]) or 0
  if last > 0 and (ARGV[9] == '' or ARGV[9] == (meta[4] or '')) and version <= last then
    return {top, epoch, 2}
  end
  redis.call('hset', KEYS[2], 'v', ARGV[8], 've', ARGV[9])
end
local offset = redis.call('hincrby', KEYS[2], 's', 1)
local offset_s = string.format('%d', offset)
redis.call('pexpire', KEYS[2], ARGV[4])
local prev = ''
if offset == 1 then
  redis.call('del', KEYS[1])
elseif ARGV[7] == '1' then
  if ARGV[11] == 's' then
    local last = redis.call('xrevrange', KEYS[1], '+', '-', 'COUNT', 1)
    if last[1] then prev = last[1][2][2] end
  else
    local last = redis.call('lindex', KEYS[1], 0)
    if last then prev = string.sub(last, string.find(last, ':', 1, true) + 1) end
  end
end
if ARGV[11] == 's' then
  redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], offset_s .. '-0', 'd', ARGV[1])
else
  redis.call('lpush', KEYS[1], offset_s .. ':' .. ARGV[1])
  redis.call('ltrim', KEYS[1], 0, tonumber(ARGV[2]) - 1)
end
redis.call('pexpire', KEYS[1], ARGV[3])
redis.call('publish', ARGV[6], 'p' .. offset_s .. ':' .. epoch .. ':' .. ARGV[7] .. ':' .. #prev .. ':' .. prev .. ARGV[1])
if result_ttl > 0 then
  redis.call('hset', KEYS[3], 'e', epoch, 's', offset)
  redis.call('pexpire', KEYS[3], result_ttl)
end
return {offset, epoch, 0}
`);

/**
 * Publish without history, with an idempotency key or routed to the channel's cluster slot.
 * KEYS: result. ARGV: 1 frame, 2 PUB/SUB channel, 3 result ttl ('0' = no key).
 * Returns {offset, epoch, suppressed 0|1}.
 */
export const PUBLISH_LIVE = new LuaScript(`
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  local cached = redis.call('hmget', KEYS[1], 'e', 's')
  if cached[1] then return {tonumber(cached[2]) or 0, cached[1], 1} end
end
redis.call('publish', ARGV[2], ARGV[1])
if ttl > 0 then
  redis.call('hset', KEYS[1], 'e', '', 's', 0)
  redis.call('pexpire', KEYS[1], ttl)
end
return {0, '', 0}
`);

/**
 * Read history. KEYS: data, meta. ARGV: 1 epoch candidate, 2 meta ttl, 3 mode 's'|'l', 4 limit
 * (0 none, -1 all), 5 since offset ('' = none), 6 reverse '0'|'1'. Creates the meta (new epoch,
 * dropping any stale data) when missing and pushes its expiry. Lists return every item.
 * Returns {top, epoch, entries}.
 */
export const READ_HISTORY = new LuaScript(`
local meta = redis.call('hmget', KEYS[2], 'e', 's')
local epoch = meta[1]
local top = tonumber(meta[2]) or 0
if not epoch then
  epoch = ARGV[1]
  top = 0
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch)
end
redis.call('pexpire', KEYS[2], ARGV[2])
local limit = tonumber(ARGV[4])
if limit == 0 then return {top, epoch, {}} end
if ARGV[3] == 'l' then return {top, epoch, redis.call('lrange', KEYS[1], 0, -1)} end
local count = {}
if limit > 0 then count = {'COUNT', limit} end
if ARGV[6] == '1' then
  local from = top
  if ARGV[5] ~= '' then from = tonumber(ARGV[5]) - 1 end
  if from < 1 or from > top then return {top, epoch, {}} end
  return {top, epoch, redis.call('xrevrange', KEYS[1], string.format('%d', from) .. '-0', '-', unpack(count))}
end
local start = '-'
if ARGV[5] ~= '' then start = string.format('%d', tonumber(ARGV[5]) + 1) .. '-0' end
return {top, epoch, redis.call('xrange', KEYS[1], start, '+', unpack(count))}
`);

// The user of an encoded ClientInfo: its first field, a varint length then the bytes.
const USER_OF = `
local function user_of(info)
  local len, mul, pos = 0, 1, 1
  while true do
    local b = string.byte(info, pos)
    if not b then return '' end
    pos = pos + 1
    if b < 128 then len = len + b * mul break end
    len = len + (b - 128) * mul
    mul = mul * 128
  end
  return string.sub(info, pos, pos + len - 1)
end
local function dec_user(key, user)
  if redis.call('hincrby', key, user, -1) <= 0 then redis.call('hdel', key, user) end
end
`;

/**
 * Add or refresh a presence entry. KEYS: expire zset, data hash, user counts hash. ARGV: 1 client id,
 * 2 encoded info, 3 expire at (ms), 4 key ttl (ms), 5 user mapping '0'|'1'.
 */
export const PRESENCE_ADD = new LuaScript(`${USER_OF}
if ARGV[5] == '1' then
  local old = redis.call('hget', KEYS[2], ARGV[1])
  if old then dec_user(KEYS[3], user_of(old)) end
  redis.call('hincrby', KEYS[3], user_of(ARGV[2]), 1)
  redis.call('pexpire', KEYS[3], ARGV[4])
end
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[1], ARGV[3], ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
return 1
`);

/** Remove a presence entry. KEYS: as PRESENCE_ADD. ARGV: 1 client id, 2 user mapping '0'|'1'. */
export const PRESENCE_REMOVE = new LuaScript(`${USER_OF}
if ARGV[2] == '1' then
  local old = redis.call('hget', KEYS[2], ARGV[1])
  if old then dec_user(KEYS[3], user_of(old)) end
end
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('zrem', KEYS[1], ARGV[1])
return 1
`);

/**
 * Drop expired entries, then read. KEYS: as PRESENCE_ADD. ARGV: 1 now (ms), 2 user mapping '0'|'1',
 * 3 'all' (returns HGETALL pairs) | 'stats' (returns {clients, distinct users}).
 */
export const PRESENCE_READ = new LuaScript(`${USER_OF}
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1])
for i = 1, #expired do
  if ARGV[2] == '1' then
    local old = redis.call('hget', KEYS[2], expired[i])
    if old then dec_user(KEYS[3], user_of(old)) end
  end
  redis.call('hdel', KEYS[2], expired[i])
end
if #expired > 0 then redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1]) end
if ARGV[3] == 'all' then return redis.call('hgetall', KEYS[2]) end
if ARGV[2] == '1' then return {redis.call('hlen', KEYS[2]), redis.call('hlen', KEYS[3])} end
local users, n = {}, 0
for _, info in ipairs(redis.call('hvals', KEYS[2])) do
  local u = user_of(info)
  if not users[u] then users[u] = true n = n + 1 end
end
return {redis.call('hlen', KEYS[2]), n}
`);
