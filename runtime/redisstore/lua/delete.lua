-- delete: KEYS[1] the record. Any record becomes a tombstone (see prelude);
-- an absent key stays absent. Returns 1 when a record was removed.
local k = KEYS[1]
local st = redis.call('HGET', k, 'st')
if not st or st == '0' then return 0 end
redis.call('HSET', k, 'st', '0')
redis.call('HDEL', k, 'ns', 'fp', 'ow', 'res', 'at', 'ls', 'ln', 'cs', 'cn', 'us', 'un')
return 1
