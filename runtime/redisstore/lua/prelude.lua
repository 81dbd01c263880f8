-- Shared by every script of package redisstore.
--
-- A record is a hash. Fields: st state ("1" in progress, "2" completed,
-- "3" indeterminate, "0" tombstone of a released or deleted record, kept so
-- that the key's token sequence goes on increasing), ns namespace, fp
-- fingerprint (32 bytes), ow owner (16 bytes), tk token, at attempts, res
-- result (absent for none), and the caller's times as Unix seconds and
-- nanoseconds: ls/ln lease, rs/rn retention, cs/cn created, us/un updated.
-- Seconds are compared as Lua numbers (doubles), exact below 2^53, which the
-- Go side checks; nanoseconds are below 10^9.

-- after reports whether time a (seconds as, nanoseconds an) is after time b.
local function after(as, an, bs, bn)
  as, bs = tonumber(as), tonumber(bs)
  if as ~= bs then return as > bs end
  return tonumber(an) > tonumber(bn)
end

-- expire_retained sets the native expiry (a backstop for Sweep) of key k
-- that is retained until (rs, rn) by a holder granted at (us, un): margin
-- milliseconds after the retention, counted from the grant as if no time
-- had passed since, so Redis never drops a record before the caller's
-- clock passes its retention. margin "" means no native expiry.
local function expire_retained(k, rs, rn, us, un, margin)
  if margin == '' then return end
  local ms = (tonumber(rs) - tonumber(us)) * 1000 + (tonumber(rn) - tonumber(un)) / 1000000
  if ms < 0 then ms = 0 end
  redis.call('PEXPIRE', k, math.ceil(ms) + tonumber(margin))
end

-- held reports whether k is in progress under owner ow and token tk.
local function held(k, ow, tk)
  local c = redis.call('HMGET', k, 'st', 'ow', 'tk')
  return c[1] == '1' and c[2] == ow and c[3] == tk
end

local FIELDS = {'st', 'ns', 'fp', 'ow', 'tk', 'ls', 'ln', 'rs', 'rn', 'res', 'at', 'cs', 'cn', 'us', 'un'}
