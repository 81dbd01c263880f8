-- sweep: KEYS[1] a record. ARGV: 1 now (a layout time). Deletes the
-- completed or indeterminate record, or the tombstone, when its retention
-- is not after now; never an in-progress record, whose holder may be alive
-- under another clock. Returns 1 when a record (not a tombstone) was
-- deleted, else 0.
local k = KEYS[1]
local v = rec(k)
if not v or sub(v, 7, 7) == '1' or after(v, 12, ARGV[1], 1) then return 0 end
redis.call('DEL', k)
if sub(v, 7, 7) == '0' then return 0 end
return 1
