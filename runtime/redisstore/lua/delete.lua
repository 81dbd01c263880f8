-- delete: KEYS[1] the record. ARGV: 1 native expiry margin in milliseconds
-- ("" for none). Any record becomes a tombstone (see prelude) that expires
-- as the record would have; an absent key stays absent. Returns 1 when a
-- record was removed.
local k = KEYS[1]
local v = rec(k)
if not v or sub(v, 7, 7) == '0' then return 0 end
put(k, tombstone(v), expiry(v, ARGV[1]))
return 1
