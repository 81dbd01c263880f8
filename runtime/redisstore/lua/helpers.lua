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

-- after reports whether the time at position i of s is after the time at
-- position j of t.
local function after(s, i, t, j)
  local a, b = tonumber(sub(s, i, i + 16)), tonumber(sub(t, j, j + 16))
  if a ~= b then return a > b end
  return tonumber(sub(s, i + 18, i + 26)) > tonumber(sub(t, j + 18, j + 26))
end

-- expiry returns the native expiry, in milliseconds, of a write that keeps
-- record v's retention (or nil when margin is '', no native expiry): margin
-- milliseconds after the retention, counted from v's last grant as if no
-- time had passed since, so Redis never drops a record before the caller's
-- clock passes its retention. At least 1, which SET PX accepts.
local function expiry(v, margin)
  if margin == '' then return nil end
  local ms = (tonumber(sub(v, 12, 28)) - tonumber(sub(v, 161, 177))) * 1000
    + (tonumber(sub(v, 30, 38)) - tonumber(sub(v, 179, 187))) / 1000000
  if ms < 0 then ms = 0 end
  ms = math.ceil(ms) + tonumber(margin)
  if ms < 1 then ms = 1 end
  return ms
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
