-- Helpers of the scripts that are not on a hot path (see prelude.lua).

-- rec returns the record at k, or nil (false) when there is none, and fails
-- on a value that is not in this layout.
local function rec(k)
  local v = redis.call('GET', k)
  if v and sub(v, 1, 6) ~= 'idem1 ' then
    error('redisstore: the value at ' .. k .. ' is not an idem record (layout idem1); delete it or use another prefix')
  end
  return v
end

-- put writes value r at k with native expiry ms (a number or a decimal
-- string), or with none when ms is nil or ''. SET replaces any earlier
-- expiry.
local function put(k, r, ms)
  if ms == nil or ms == '' then
    redis.call('SET', k, r)
  else
    redis.call('SET', k, r, 'PX', ms)
  end
end

-- held returns the record at k when it is in progress under fence f (the
-- token and owner as in positions 43-94), else nil; and, when there is no
-- record at k and Redis evicted keys since the epoch began, the IDEMLOST
-- error reply to return instead (see evicted).
local function held(k, f)
  local v = rec(k)
  if not v then return nil, evicted() end
  if sub(v, 7, 7) == '1' and sub(v, 43, 94) == f then return v end
  return nil
end

-- tombstone returns what is left of record v once released or deleted:
-- state '0', its retention and its token.
local function tombstone(v)
  return 'idem1 0' .. sub(v, 8, 58)
end

-- body returns record v up to the end of its namespace (without any result).
local function body(v)
  return sub(v, 1, 284 + tonumber(sub(v, 274, 283)))
end
