-- renew: KEYS[1] the record. ARGV: 1 owner, 2 token, 3/4 lease until.
-- Returns 1, or 0 when fenced.
local k, A = KEYS[1], ARGV
if not held(k, A[1], A[2]) then return 0 end
redis.call('HSET', k, 'ls', A[3], 'ln', A[4])
return 1
