-- complete: KEYS[1] the record. ARGV: 1 fence (token, ' ow=', owner as in
-- the layout), 2 retain until (a layout time), 3 native expiry margin in
-- milliseconds ("" for none), 4 the result, absent for none.
-- Returns 1, or 0 when fenced.
local k, A = KEYS[1], ARGV
local v = held(k, A[1])
if not v then return 0 end
local r = 'idem1 2 rs=' .. A[2] .. sub(body(v), 39)
if A[4] then r = r .. ' res=' .. A[4] end
put(k, r, expiry(r, A[3]))
return 1
