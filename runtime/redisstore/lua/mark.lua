-- mark indeterminate: KEYS[1] the record. ARGV: 1 owner, 2 token, 3/4
-- retain until, 5 native expiry margin in milliseconds ("" for none).
-- Returns 1, or 0 when fenced.
local k, A = KEYS[1], ARGV
if not held(k, A[1], A[2]) then return 0 end
redis.call('HSET', k, 'st', '3', 'rs', A[3], 'rn', A[4])
local u = redis.call('HMGET', k, 'us', 'un')
expire_retained(k, A[3], A[4], u[1], u[2], A[5])
return 1
