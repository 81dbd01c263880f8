-- Shared by every script of package redisstore; helpers.lua and lease.lua
-- follow it in the scripts that are not on a hot path (claim.lua and
-- complete.lua do without: creating the helpers' closures on every call
-- costs as much as the rest of a replay's script; claim.lua has lease.lua
-- spliced in past its hot paths).
--
-- A record is one string value in the layout documented in the package doc
-- (redisstore.go) and in record.go, which must agree with the 1-based
-- positions used here:
--
--   1-6 'idem1 '   7 state ('0' tombstone, '1' in progress, '2' completed,
--   '3' indeterminate)   12-38 retention   43-58 token   63-94 owner (hex)
--   99-125 lease   130-156 created   161-187 updated   192-201 attempts
--   206-269 fingerprint (hex)   274-283 namespace length   285- namespace,
--   then ' res=' and the result when there is one.
--
-- A tombstone is positions 1-58 only. A time is 27 characters: a sign, 16
-- digits of Unix seconds, '.', 9 digits of nanoseconds. Seconds are
-- compared as Lua numbers (doubles), exact below 2^53, which the Go side
-- checks. The owner and the token are adjacent (43-94: the token, ' ow=',
-- the owner): that substring is the fence the writes compare.
--
-- The store's epoch (see "Lost records" in the package doc): KEYS[2] is the
-- epoch key of KEYS[1]'s hash slot, holding the epoch id (32 hex digits), a
-- space, and Redis' evicted_keys count when the epoch was created; ARGV[1]
-- is the id the store opened with, or '' when loss detection is off (then
-- KEYS[2] is absent). Every script fails with an IDEMLOST error reply,
-- before it reads or writes anything else, when the epoch key is missing or
-- holds another id: Redis lost the data set (a restart without
-- persistence, FLUSHALL, the epoch evicted, another data set after a
-- failover). The check removes ARGV[1], so each script's own arguments
-- start at ARGV[1].

local sub = string.sub
local EP = false
if ARGV[1] ~= '' then
  EP = redis.call('GET', KEYS[2])
  if not EP then
    return redis.error_reply('IDEMLOST the store epoch key ' .. KEYS[2] .. ' is missing')
  end
  if sub(EP, 1, 32) ~= ARGV[1] then
    return redis.error_reply('IDEMLOST the store epoch at ' .. KEYS[2] .. ' is ' .. sub(EP, 1, 32) .. ', not ' .. ARGV[1])
  end
end
table.remove(ARGV, 1)

-- evicted returns an IDEMLOST error reply when Redis has evicted keys since
-- the epoch was created, so that a record found absent may be one that was
-- lost, and nil otherwise. Scripts call it only when a record they look for
-- is absent.
local function evicted()
  if not EP then return nil end
  local info = redis.call('INFO', 'stats')
  local i = string.find(info, 'evicted_keys:', 1, true)
  local j = i and string.find(info, '\r', i, true)
  local n = j and tonumber(sub(info, i + 13, j - 1))
  local was = tonumber(sub(EP, 34))
  if not n or not was then
    -- Fail closed, as check.lua does: without both counts an absent record
    -- cannot be told from an evicted one.
    return redis.error_reply('ERR redisstore: no evicted_keys count in INFO stats, or none in the epoch at ' .. KEYS[2] .. ': the store cannot tell whether Redis evicted records')
  end
  if n > was then
    return redis.error_reply('IDEMLOST Redis evicted ' .. (n - was) .. ' keys since the store epoch at ' .. KEYS[2] .. ' was created')
  end
  return nil
end
