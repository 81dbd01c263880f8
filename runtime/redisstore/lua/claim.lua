-- claim: KEYS[1] the record. ARGV: 1 namespace, 2 fingerprint, 3 owner,
-- 4/5 now, 6/7 lease until, 8/9 retain until (seconds/nanoseconds),
-- 10 takeover ("1" or "0"), 11 native expiry of a new grant in milliseconds
-- ("" for none).
-- Returns {outcome, fields...} with fields in FIELDS order. Outcome: 0 the
-- record is returned unchanged (also when a takeover is refused because the
-- fingerprints differ), 1 granted (new, replaced, or regranted to its
-- owner), 2 granted by taking over a passed lease, 3 marked indeterminate.
local k, A = KEYS[1], ARGV

local function grant(token, attempts, cs, cn)
  redis.call('HSET', k, 'st', '1', 'ns', A[1], 'fp', A[2], 'ow', A[3], 'tk', token,
    'ls', A[6], 'ln', A[7], 'rs', A[8], 'rn', A[9], 'at', attempts,
    'cs', cs, 'cn', cn, 'us', A[4], 'un', A[5])
  redis.call('HDEL', k, 'res')
  if A[11] == '' then
    redis.call('PERSIST', k)
  else
    redis.call('PEXPIRE', k, A[11])
  end
end

local cur = redis.call('HMGET', k, 'st', 'ow', 'ls', 'ln', 'rs', 'rn', 'fp')
local st = cur[1]
local outcome = 0
if not st or st == '0' or not after(cur[5], cur[6], A[4], A[5]) then
  -- Absent, a tombstone, or past its retention: a fresh grant that goes on
  -- with the key's token sequence where the hash still has it.
  local token = 1
  if st then token = redis.call('HINCRBY', k, 'tk', 1) end
  grant(token, 1, A[4], A[5])
  outcome = 1
elseif st == '1' then
  if cur[2] == A[3] then
    -- The same owner again (its first answer was lost): same grant, the
    -- lease runs at least as long as this request asks.
    if after(A[6], A[7], cur[3], cur[4]) then
      redis.call('HSET', k, 'ls', A[6], 'ln', A[7], 'us', A[4], 'un', A[5])
    end
    outcome = 1
  elseif not after(cur[3], cur[4], A[4], A[5]) then
    if A[10] ~= '1' then
      redis.call('HSET', k, 'st', '3', 'us', A[4], 'un', A[5])
      outcome = 3
    elseif cur[7] == A[2] then
      local token = redis.call('HINCRBY', k, 'tk', 1)
      local attempts = redis.call('HINCRBY', k, 'at', 1)
      local created = redis.call('HMGET', k, 'cs', 'cn')
      grant(token, attempts, created[1], created[2])
      outcome = 2
    end
    -- Otherwise a takeover of a record with another fingerprint: it is
    -- returned unchanged, so that a takeover never hides a key reused
    -- with other arguments.
  end
end
local rec = redis.call('HMGET', k, unpack(FIELDS))
table.insert(rec, 1, outcome)
return rec
