-- sweep: KEYS[1] a record. ARGV: 1 now (a layout time). Deletes the record
-- or tombstone when its retention is not after now. Returns 1 when a record
-- (not a tombstone) was deleted, else 0.
local k = KEYS[1]
local v = rec(k)
if not v or after(v, 12, ARGV[1], 1) then return 0 end
redis.call('DEL', k)
if sub(v, 7, 7) == '0' then return 0 end
return 1
