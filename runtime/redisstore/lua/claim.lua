-- claim: KEYS[1] the record. ARGV: 1 the record a fresh grant writes (in
-- progress, token 1, attempts 1, created and updated at the request's Now,
-- which the script reads from it), 2 takeover ("1" or "0"), 3 native expiry
-- of a grant in milliseconds, covering the later of its lease and its
-- retention ("" for none), 4 the native expiry margin in milliseconds (""
-- for none).
--
-- Returns, by outcome:
--   a fresh grant (absent, tombstone, or past its retention): its token, an
--     integer; the caller knows the rest of the record;
--   a regrant to the same owner: 'G' followed by the record;
--   a takeover of a passed lease: 'T' followed by the record;
--   otherwise (completed, indeterminate, another live owner, a refused
--     takeover, or marked indeterminate by this claim): the record.
--
-- The two hot paths, a new key and a replay, come first and call no helper
-- (see prelude.lua).
local k, R = KEYS[1], ARGV[1]
local v = redis.call('GET', k)
if not v then
  local e = evicted()
  if e then return e end
  if ARGV[3] == '' then
    redis.call('SET', k, R)
  else
    redis.call('SET', k, R, 'PX', ARGV[3])
  end
  return 1
end
if sub(v, 1, 6) ~= 'idem1 ' then
  error('redisstore: the value at ' .. k .. ' is not an idem record (layout idem1); delete it or use another prefix')
end
local st = sub(v, 7, 7)
-- Is the retention (12-38) after Now (R's updated time, 161-187)?
local rs, now = tonumber(sub(v, 12, 28)), tonumber(sub(R, 161, 177))
local live = rs > now or (rs == now and tonumber(sub(v, 30, 38)) > tonumber(sub(R, 179, 187)))
if live and (st == '2' or st == '3') then return v end

--#lease.lua
-- grant writes the granted record r with the grant's native expiry.
local function grant(r)
  if ARGV[3] == '' then
    redis.call('SET', k, r)
  else
    redis.call('SET', k, r, 'PX', ARGV[3])
  end
end

if st == '0' or not live then
  -- A tombstone, or past its retention: a fresh grant that goes on with
  -- the key's token sequence.
  local tk = tonumber(sub(v, 43, 58)) + 1
  grant(sub(R, 1, 42) .. string.format('%016d', tk) .. sub(R, 59))
  return tk
end
if st ~= '1' then
  error('redisstore: the record at ' .. k .. ' has state ' .. st .. '; delete it')
end
if sub(v, 63, 94) == sub(R, 63, 94) then
  -- The same owner again (its first answer was lost): same grant; the
  -- lease is never shortened, and the retention shifts with a lease it
  -- moves and the native expiry follows (as Renew does).
  if after(R, 99, v, 99) then
    v = shift(v, sub(R, 99, 125))
    v = sub(v, 1, 160) .. sub(R, 161, 187) .. sub(v, 188)
    redis.call('SETRANGE', k, 11, sub(v, 12, 187))
    local ms = expiry(v, ARGV[4])
    if ms then
      local ttl = redis.call('PTTL', k)
      if ttl >= 0 and ttl < ms then redis.call('PEXPIRE', k, ms) end
    end
  end
  return 'G' .. v
end
if after(v, 99, R, 161) then return v end
if ARGV[2] ~= '1' then
  -- A passed lease without takeover: indeterminate, updated now.
  v = 'idem1 3' .. sub(v, 8, 160) .. sub(R, 161, 187) .. sub(v, 188)
  redis.call('SETRANGE', k, 6, sub(v, 7, 187))
  return v
end
if sub(v, 206, 269) ~= sub(R, 206, 269) then
  -- A takeover of a record with another fingerprint: returned unchanged,
  -- so that a takeover never hides a key reused with other arguments.
  return v
end
-- Take over: the next token, one more attempt, the record's creation kept.
local r = sub(R, 1, 42) .. string.format('%016d', tonumber(sub(v, 43, 58)) + 1) ..
  sub(R, 59, 129) .. sub(v, 130, 156) .. sub(R, 157, 191) ..
  string.format('%010d', tonumber(sub(v, 192, 201)) + 1) .. sub(R, 202)
grant(r)
return 'T' .. r
