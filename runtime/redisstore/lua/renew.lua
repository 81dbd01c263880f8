-- renew: KEYS[1] the record. ARGV: 1 fence, 2 lease until (a layout time),
-- 3 native expiry margin in milliseconds ("" for none). Returns 1, or 0
-- when fenced. The lease moves to ARGV[2]; a lease moved forward shifts
-- the retention with it (see shift), and the native expiry is extended to
-- cover the retention (see expiry), never shortened.
local k, A = KEYS[1], ARGV
local v, lost = held(k, A[1])
if not v then return lost or 0 end
local r
if after(A[2], 1, v, 99) then
  r = shift(v, A[2])
else
  r = sub(v, 1, 98) .. A[2] .. sub(v, 126)
end
redis.call('SETRANGE', k, 11, sub(r, 12, 125))
local ms = expiry(r, A[3])
if ms then
  local ttl = redis.call('PTTL', k)
  if ttl >= 0 and ttl < ms then redis.call('PEXPIRE', k, ms) end
end
return 1
