-- sweep: KEYS[1] a record. ARGV: 1/2 now. Deletes the record or tombstone
-- when its retention is not after now. Returns 1 when a record (not a
-- tombstone) was deleted, else 0.
local k, A = KEYS[1], ARGV
local c = redis.call('HMGET', k, 'st', 'rs', 'rn')
if not c[1] or after(c[2], c[3], A[1], A[2]) then return 0 end
redis.call('DEL', k)
if c[1] == '0' then return 0 end
return 1
