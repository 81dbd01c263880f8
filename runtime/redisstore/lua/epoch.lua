-- epoch: KEYS[1] an epoch key (see prelude.lua). ARGV: 1 a fresh epoch id
-- (32 hex digits), 2 '1' to create the epoch when the key is missing.
-- Returns the key's value (the id, a space, and Redis' evicted_keys count
-- when the epoch was created), or nil when it is missing and not created.
-- Run alone, without the prelude.
local v = redis.call('GET', KEYS[1])
if v or ARGV[2] ~= '1' then return v end
v = ARGV[1] .. ' ' .. (string.match(redis.call('INFO', 'stats'), 'evicted_keys:(%d+)') or '0')
redis.call('SET', KEYS[1], v)
return v
