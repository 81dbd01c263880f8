-- The lease and retention rules, shared by claim.lua (spliced in after its
-- hot paths, where --#lease.lua stands) and the scripts with helpers.

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

-- shift returns record v with its lease moved to n, a layout time after
-- v's lease, and its retention moved with it: store.ShiftRetention. A zero
-- lease or retention (the zero time.Time), or a retention not after the
-- lease, has no gap to keep: the retention becomes the later of itself and
-- n. Otherwise it moves by as much as the lease, computed in whole seconds
-- and nanoseconds apart (exact in doubles) and capped at store.MaxTime.
local function shift(v, n)
  local l, r = sub(v, 99, 125), sub(v, 12, 38)
  local zero = '-0000062135596800.000000000'
  if l == zero or r == zero or not after(r, 1, l, 1) then
    if after(n, 1, r, 1) then r = n end
  else
    local s = tonumber(sub(r, 1, 17)) + tonumber(sub(n, 1, 17)) - tonumber(sub(l, 1, 17))
    local ns = tonumber(sub(r, 19, 27)) + tonumber(sub(n, 19, 27)) - tonumber(sub(l, 19, 27))
    if ns >= 1000000000 then
      s, ns = s + 1, ns - 1000000000
    elseif ns < 0 then
      s, ns = s - 1, ns + 1000000000
    end
    if s > 9223372036 or (s == 9223372036 and ns > 854775807) then
      r = '+0000009223372036.854775807'
    elseif s < 0 then
      r = string.format('-%016d.%09d', -s, ns)
    else
      r = string.format('+%016d.%09d', s, ns)
    end
  end
  return sub(v, 1, 11) .. r .. sub(v, 39, 98) .. n .. sub(v, 126)
end
