-- renew: KEYS[1] the record. ARGV: 1 fence, 2 lease until (a layout time).
-- Returns 1, or 0 when fenced. The native expiry is kept.
local k, A = KEYS[1], ARGV
if not held(k, A[1]) then return 0 end
redis.call('SETRANGE', k, 98, A[2])
return 1
