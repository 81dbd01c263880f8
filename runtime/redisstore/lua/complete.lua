-- complete: KEYS[1] the record. ARGV: 1 fence (token, ' ow=', owner as in
-- the layout), 2 retain until (a layout time), 3 native expiry margin in
-- milliseconds ("" for none), 4 the result, absent for none.
-- Returns 1, or 0 when fenced. On the hot path of a first call, so it calls
-- no helper (see prelude.lua).
local k, A = KEYS[1], ARGV
local v = redis.call('GET', k)
if not v then return evicted() or 0 end
if sub(v, 1, 6) ~= 'idem1 ' then
  error('redisstore: the value at ' .. k .. ' is not an idem record (layout idem1); delete it or use another prefix')
end
if sub(v, 7, 7) ~= '1' or sub(v, 43, 94) ~= A[1] then return 0 end
-- The record from its token to the end of its namespace (an in-progress
-- record has no result), behind the new state and retention.
local rest = sub(v, 39, 284 + tonumber(sub(v, 274, 283)))
local r
if A[4] then
  r = 'idem1 2 rs=' .. A[2] .. rest .. ' res=' .. A[4]
else
  r = 'idem1 2 rs=' .. A[2] .. rest
end
if A[3] == '' then
  redis.call('SET', k, r)
  return 1
end
-- The native expiry: the margin after the retention, counted from the
-- grant (see expiry in helpers.lua).
local ms = (tonumber(sub(A[2], 1, 17)) - tonumber(sub(v, 161, 177))) * 1000
  + (tonumber(sub(A[2], 19, 27)) - tonumber(sub(v, 179, 187))) / 1000000
if ms < 0 then ms = 0 end
redis.call('SET', k, r, 'PX', math.max(1, math.ceil(ms) + tonumber(A[3])))
return 1
