-- release: KEYS[1] the record. ARGV: 1 fence, 2 native expiry margin in
-- milliseconds ("" for none). Returns 1, or 0 when fenced. The record
-- becomes a tombstone (see prelude) that expires as the record would have.
local k, A = KEYS[1], ARGV
local v, lost = held(k, A[1])
if not v then return lost or 0 end
put(k, tombstone(v), expiry(v, A[2]))
return 1
