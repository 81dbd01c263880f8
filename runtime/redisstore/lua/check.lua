-- check: KEYS[1] the epoch key of a record's hash slot. ARGV: 1 the epoch
-- id the store opened with. Pipelined behind the SET NX GET that claims an
-- absent key (see fresh.go), on the same connection, so it runs after it.
-- Returns 1 when the epoch key holds the id and Redis' evicted_keys count
-- is not above the count the epoch recorded; otherwise an IDEMLOST error
-- reply, as prelude.lua's epoch check and evicted(). Run alone, without
-- the prelude. INFO's reply is searched with a plain find: a pattern
-- match over it costs the server more than the INFO itself.
local ep = redis.call('GET', KEYS[1])
if not ep then
  return redis.error_reply('IDEMLOST the store epoch key ' .. KEYS[1] .. ' is missing')
end
if string.sub(ep, 1, 32) ~= ARGV[1] then
  return redis.error_reply('IDEMLOST the store epoch at ' .. KEYS[1] .. ' is ' .. string.sub(ep, 1, 32) .. ', not ' .. ARGV[1])
end
local info = redis.call('INFO', 'stats')
local i = string.find(info, 'evicted_keys:', 1, true)
local j = i and string.find(info, '\r', i, true)
local n = j and tonumber(string.sub(info, i + 13, j - 1))
local was = tonumber(string.sub(ep, 34))
if not n or not was then
  return redis.error_reply('ERR redisstore: no evicted_keys count in INFO stats, or none in the epoch at ' .. KEYS[1] .. ': the store cannot tell whether Redis evicted records')
end
if n > was then
  return redis.error_reply('IDEMLOST Redis evicted ' .. (n - was) .. ' keys since the store epoch at ' .. KEYS[1] .. ' was created')
end
return 1
