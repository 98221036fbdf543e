/**
 * Lua scripts of the Redis map broker. Each runs atomically on the channel's keys (KEYS 1..6 as
 * RedisMapKeys.channelKeys gives them, KEYS 7 the idempotency result where used), so a state
 * change, its stream entry and its PUB/SUB frame are one step: live order is stream order and a
 * state read sees exactly the writes up to the position it returns. Key expiry times use Redis
 * TIME (ms), so every node agrees on them.
 *
 * State value: `<offset>:<tagsLen>:<tags block><body>`; the tags block is the tags part of a body
 * (envelope.ts) so removals can carry the removed entry's tags. Stream entry: id `<offset>-0`,
 * fields `k` key, `r` '0'|'1' removed, `d` body. Live frame:
 * `<offset>:<epoch>:<delta>:<removed>:<keyLen>:<key><prevLen>:<prev><body>`, prev being
 * the key's previous state value when delta was asked.
 */
import { LuaScript } from './connection.js';

// Shared prologue: meta creation (dropping anything left from an older epoch), container expiry,
// the removal body and the live frame.
const COMMON = `
local function now_ms()
  local t = redis.call('time')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ensure_meta(candidate)
  local m = redis.call('hmget', KEYS[1], 'e', 's')
  if m[1] then return m[1], tonumber(m[2]) or 0 end
  redis.call('del', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
  redis.call('hset', KEYS[1], 'e', candidate, 's', 0)
  return candidate, 0
end
local function touch(ttl)
  if ttl > 0 then
    for _, i in ipairs({1, 3, 4, 5, 6}) do redis.call('pexpire', KEYS[i], ttl) end
  end
end
local function split_value(v)
  local c1 = string.find(v, ':', 1, true)
  local c2 = string.find(v, ':', c1 + 1, true)
  local n = tonumber(string.sub(v, c1 + 1, c2 - 1))
  return string.sub(v, c2 + 1, c2 + n), string.sub(v, c2 + n + 1)
end
local function removal_body(prefix, tags)
  if tags == '' then return prefix .. '\\0' end
  return prefix .. '\\2' .. tags
end
local function frame(offset, epoch, delta, removed, key, prev, body)
  return string.format('%d', tonumber(offset)) .. ':' .. epoch .. ':' .. delta .. ':' .. removed .. ':' .. #key .. ':' .. key .. #prev .. ':' .. prev .. body
end
local function append(size, ttl, key, removed, body)
  local offset = redis.call('hincrby', KEYS[1], 's', 1)
  redis.call('xadd', KEYS[2], 'MAXLEN', size, string.format('%d', offset) .. '-0', 'k', key, 'r', removed, 'd', body)
  redis.call('pexpire', KEYS[2], ttl)
  return offset
end
local function register(flag, channel, expire_at)
  if flag == '1' and expire_at > 0 then redis.call('zadd', KEYS[8], 'LT', expire_at, channel) end
end
local function cached_result(result_key, epoch)
  local c = redis.call('hmget', result_key, 'e', 's')
  if c[1] and c[1] == epoch then return tonumber(c[2]) or 0 end
  return nil
end
`;

/**
 * Publish. KEYS 1..6 channel keys, 7 result key, 8 cleanup registration (used when ARGV 16 is '1').
 * ARGV: 1 key, 2 body, 3 tags block, 4 stream size
 * (0 = no stream), 5 stream ttl, 6 meta lifetime (0 = never), 7 epoch candidate, 8 PUB/SUB channel
 * ('' = do not publish), 9 delta '0'|'1', 10 version, 11 version epoch, 12 key mode, 13 refresh ttl
 * on suppress '0'|'1', 14 key ttl (0 = none), 15 idempotent result ttl (0 = no key), 16 register '0'|'1'
 * ('0' on a cluster, where the registration lives in another slot and the caller registers), 17 channel.
 * Returns {offset, epoch, suppress reason ('' = applied), key expiry (Redis ms, 0 = none)}.
 */
export const MAP_PUBLISH = new LuaScript(`${COMMON}
local key = ARGV[1]
local epoch, top = ensure_meta(ARGV[7])
local result_ttl = tonumber(ARGV[15])
if result_ttl > 0 then
  local cached = cached_result(KEYS[7], epoch)
  if cached then return {cached, epoch, 'idempotency', 0} end
end
local size = tonumber(ARGV[4])
local cur = redis.call('hget', KEYS[3], key)
local version = tonumber(ARGV[10])
if size > 0 and version > 0 and cur then
  local v = redis.call('hget', KEYS[6], key)
  if v then
    local sep = string.find(v, ':', 1, true)
    local last = tonumber(string.sub(v, 1, sep - 1))
    if (ARGV[11] == '' or ARGV[11] == string.sub(v, sep + 1)) and version <= last then return {top, epoch, 'version', 0} end
  end
end
local key_ttl = tonumber(ARGV[14])
local meta_ttl = tonumber(ARGV[6])
if ARGV[12] == 'if_new' and cur then
  local expire_at = 0
  if ARGV[13] == '1' and key_ttl > 0 then
    expire_at = now_ms() + key_ttl
    redis.call('zadd', KEYS[5], expire_at, key)
    touch(meta_ttl)
    register(ARGV[16], ARGV[17], expire_at)
  end
  return {top, epoch, 'key_exists', expire_at}
end
if ARGV[12] == 'if_exists' and not cur then return {top, epoch, 'key_not_found', 0} end
local offset = top
if size > 0 then
  redis.call('hset', KEYS[1], 'ss', size, 'st', ARGV[5])
  offset = append(size, ARGV[5], key, '0', ARGV[2])
end
redis.call('hset', KEYS[3], key, string.format('%d', offset) .. ':' .. #ARGV[3] .. ':' .. ARGV[3] .. ARGV[2])
redis.call('zadd', KEYS[4], 0, key)
local expire_at = 0
if key_ttl > 0 then
  expire_at = now_ms() + key_ttl
  redis.call('zadd', KEYS[5], expire_at, key)
  register(ARGV[16], ARGV[17], expire_at)
else
  redis.call('zrem', KEYS[5], key)
end
if version > 0 then redis.call('hset', KEYS[6], key, ARGV[10] .. ':' .. ARGV[11]) end
touch(meta_ttl)
if ARGV[8] ~= '' then
  local prev = ''
  if ARGV[9] == '1' and cur then prev = cur end
  redis.call('publish', ARGV[8], frame(offset, epoch, ARGV[9], '0', key, prev, ARGV[2]))
end
if result_ttl > 0 then
  redis.call('hset', KEYS[7], 'e', epoch, 's', offset)
  redis.call('pexpire', KEYS[7], result_ttl)
end
return {offset, epoch, '', expire_at}
`);

/**
 * Remove. KEYS 1..6 channel keys, 7 result key. ARGV: 1 key, 2 stream size, 3 stream ttl, 4 meta
 * lifetime, 5 PUB/SUB channel, 6 body prefix (version byte + time varint), 7 given tags block,
 * 8 use given tags '0'|'1', 9 idempotent result ttl. An unknown channel is not created.
 * Returns {offset, epoch, suppress reason}.
 */
export const MAP_REMOVE = new LuaScript(`${COMMON}
local key = ARGV[1]
local m = redis.call('hmget', KEYS[1], 'e', 's')
if not m[1] then return {0, '', 'key_not_found'} end
local epoch, top = m[1], tonumber(m[2]) or 0
local result_ttl = tonumber(ARGV[9])
if result_ttl > 0 then
  local cached = cached_result(KEYS[7], epoch)
  if cached then return {cached, epoch, 'idempotency'} end
end
local cur = redis.call('hget', KEYS[3], key)
if not cur then return {top, epoch, 'key_not_found'} end
local tags = ARGV[7]
if ARGV[8] ~= '1' then tags = split_value(cur) end
redis.call('hdel', KEYS[3], key)
redis.call('zrem', KEYS[4], key)
redis.call('zrem', KEYS[5], key)
redis.call('hdel', KEYS[6], key)
local body = removal_body(ARGV[6], tags)
local offset = top
local size = tonumber(ARGV[2])
if size > 0 then offset = append(size, ARGV[3], key, '1', body) end
touch(tonumber(ARGV[4]))
if ARGV[5] ~= '' then redis.call('publish', ARGV[5], frame(offset, epoch, '0', '1', key, '', body)) end
if result_ttl > 0 then
  redis.call('hset', KEYS[7], 'e', epoch, 's', offset)
  redis.call('pexpire', KEYS[7], result_ttl)
end
return {offset, epoch, ''}
`);

/**
 * Remove expired keys of one channel. KEYS 1..6 channel keys. ARGV: 1 batch size, 2 body prefix,
 * 3 PUB/SUB channel ('' = do not publish). Removals are streamed when the channel's last write had
 * a stream. Returns {removed count, next expiry (Redis ms) or -1}.
 */
export const MAP_EXPIRE = new LuaScript(`${COMMON}
local due = redis.call('zrangebyscore', KEYS[5], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
local m = redis.call('hmget', KEYS[1], 'e', 'ss', 'st')
local size = tonumber(m[2]) or 0
local removed = 0
for _, key in ipairs(due) do
  redis.call('zrem', KEYS[5], key)
  local cur = redis.call('hget', KEYS[3], key)
  if cur then
    redis.call('hdel', KEYS[3], key)
    redis.call('zrem', KEYS[4], key)
    redis.call('hdel', KEYS[6], key)
    removed = removed + 1
    if m[1] then
      local body = removal_body(ARGV[2], split_value(cur))
      local offset = redis.call('hget', KEYS[1], 's')
      if size > 0 then offset = append(size, m[3], key, '1', body) end
      if ARGV[3] ~= '' then redis.call('publish', ARGV[3], frame(offset, m[1], '0', '1', key, '', body)) end
    end
  end
end
local nxt = redis.call('zrange', KEYS[5], 0, 0, 'WITHSCORES')
if nxt[2] then return {removed, tonumber(nxt[2])} end
return {removed, -1}
`);

/**
 * Read state. KEYS 1..6 channel keys. ARGV: 1 epoch candidate, 2 meta lifetime, 3 has revision
 * '0'|'1', 4 revision epoch, 5 single key ('' = page), 6 cursor ('' = first), 7 limit (-1 all).
 * Returns {top, epoch, unrecoverable 0|1, {key, value, ...}, next cursor}.
 */
export const MAP_READ_STATE = new LuaScript(`${COMMON}
local epoch, top = ensure_meta(ARGV[1])
touch(tonumber(ARGV[2]))
if ARGV[3] == '1' and ARGV[4] ~= epoch then return {top, epoch, 1, {}, ''} end
if ARGV[5] ~= '' then
  local v = redis.call('hget', KEYS[3], ARGV[5])
  if v then return {top, epoch, 0, {ARGV[5], v}, ''} end
  return {top, epoch, 0, {}, ''}
end
local limit = tonumber(ARGV[7])
if limit == 0 then return {top, epoch, 0, {}, ''} end
local from = '-'
if ARGV[6] ~= '' then from = '(' .. ARGV[6] end
local keys
if limit > 0 then keys = redis.call('zrangebylex', KEYS[4], from, '+', 'LIMIT', 0, limit + 1)
else keys = redis.call('zrangebylex', KEYS[4], from, '+') end
local cursor = ''
if limit > 0 and #keys > limit then
  keys[#keys] = nil
  cursor = keys[#keys]
end
local out = {}
if #keys > 0 then
  local values = redis.call('hmget', KEYS[3], unpack(keys))
  for i, k in ipairs(keys) do
    if values[i] then
      out[#out + 1] = k
      out[#out + 1] = values[i]
    end
  end
end
return {top, epoch, 0, out, cursor}
`);

/**
 * Read the change stream. KEYS 1..6 channel keys. ARGV: 1 epoch candidate, 2 meta lifetime, 3 since
 * offset ('' = none), 4 since epoch, 5 limit (-1 all, 0 none), 6 reverse '0'|'1'.
 * Returns {top, epoch, unrecoverable 0|1, entries}.
 */
export const MAP_READ_STREAM = new LuaScript(`${COMMON}
local epoch, top = ensure_meta(ARGV[1])
touch(tonumber(ARGV[2]))
local since = tonumber(ARGV[3])
if since and ARGV[4] ~= '' and ARGV[4] ~= epoch then return {top, epoch, 1, {}} end
if since and ARGV[6] ~= '1' then
  if since > top then return {top, epoch, 1, {}} end
  if since < top then
    local first = redis.call('xrange', KEYS[2], string.format('%d', since + 1) .. '-0', '+', 'COUNT', 1)
    if not first[1] or first[1][1] ~= string.format('%d', since + 1) .. '-0' then return {top, epoch, 1, {}} end
  end
end
local limit = tonumber(ARGV[5])
if limit == 0 then return {top, epoch, 0, {}} end
local count = {}
if limit > 0 then count = {'COUNT', limit} end
if ARGV[6] == '1' then
  local from = top
  if since then from = since - 1 end
  if from < 1 then return {top, epoch, 0, {}} end
  if from > top then from = top end
  return {top, epoch, 0, redis.call('xrevrange', KEYS[2], string.format('%d', from) .. '-0', '-', unpack(count))}
end
local start = '-'
if since then start = string.format('%d', since + 1) .. '-0' end
return {top, epoch, 0, redis.call('xrange', KEYS[2], start, '+', unpack(count))}
`);
