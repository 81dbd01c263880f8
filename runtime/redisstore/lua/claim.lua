-- claim: KEYS[1] the record. ARGV: 1 the record a fresh grant writes (in
-- progress, token 1, attempts 1, created and updated at the request's Now,
-- which the script reads from it), 2 takeover ("1" or "0"), 3 native expiry
-- of a grant in milliseconds ("" for none).
--
-- Returns, by outcome:
--   a fresh grant (absent, tombstone, or past its retention): its token, an
--     integer; the caller knows the rest of the record;
--   a regrant to the same owner: 'G' followed by the record;
--   a takeover of a passed lease: 'T' followed by the record;
--   otherwise (completed, indeterminate, another live owner, a refused
--     takeover, or marked indeterminate by this claim): the record.
local k, R = KEYS[1], ARGV[1]
local v = rec(k)
if not v then
  put(k, R, ARGV[3])
  return 1
end
local st = sub(v, 7, 7)
if st == '0' or not after(v, 12, R, 161) then
  -- A tombstone, or past its retention: a fresh grant that goes on with
  -- the key's token sequence.
  local tk = tonumber(sub(v, 43, 58)) + 1
  put(k, sub(R, 1, 42) .. string.format('%016d', tk) .. sub(R, 59), ARGV[3])
  return tk
end
if st ~= '1' then return v end
if sub(v, 63, 94) == sub(R, 63, 94) then
  -- The same owner again (its first answer was lost): same grant, the
  -- lease runs at least as long as this request asks.
  if after(R, 99, v, 99) then
    v = sub(v, 1, 98) .. sub(R, 99, 125) .. sub(v, 126, 160) .. sub(R, 161, 187) .. sub(v, 188)
    redis.call('SETRANGE', k, 98, sub(v, 99, 187))
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
put(k, r, ARGV[3])
return 'T' .. r
