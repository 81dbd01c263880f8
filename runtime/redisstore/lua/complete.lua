-- complete: KEYS[1] the record. ARGV: 1 owner, 2 token, 3 "1" when there is
-- a result, 4 the result, 5/6 retain until, 7 native expiry margin in
-- milliseconds ("" for none). Returns 1, or 0 when fenced.
local k, A = KEYS[1], ARGV
if not held(k, A[1], A[2]) then return 0 end
redis.call('HSET', k, 'st', '2', 'rs', A[5], 'rn', A[6])
if A[3] == '1' then
  redis.call('HSET', k, 'res', A[4])
else
  redis.call('HDEL', k, 'res')
end
local u = redis.call('HMGET', k, 'us', 'un')
expire_retained(k, A[5], A[6], u[1], u[2], A[7])
return 1
