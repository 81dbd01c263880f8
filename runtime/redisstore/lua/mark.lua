-- mark indeterminate: KEYS[1] the record. ARGV: 1 fence, 2 retain until,
-- 3 native expiry margin in milliseconds ("" for none).
-- Returns 1, or 0 when fenced.
local k, A = KEYS[1], ARGV
local v, lost = held(k, A[1])
if not v then return lost or 0 end
local r = 'idem1 3 rs=' .. A[2] .. sub(body(v), 39)
put(k, r, expiry(r, A[3]))
return 1
