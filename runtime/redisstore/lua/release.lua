-- release: KEYS[1] the record. ARGV: 1 owner, 2 token. Returns 1, or 0
-- when fenced. The record becomes a tombstone (see prelude).
local k, A = KEYS[1], ARGV
if not held(k, A[1], A[2]) then return 0 end
redis.call('HSET', k, 'st', '0')
redis.call('HDEL', k, 'ns', 'fp', 'ow', 'res', 'at', 'ls', 'ln', 'cs', 'cn', 'us', 'un')
return 1
