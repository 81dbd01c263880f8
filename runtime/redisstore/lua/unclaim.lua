-- unclaim: KEYS[1] the record. ARGV: 1 the grant a claim wrote with SET NX
-- GET (see fresh.go). Deletes the key while it still holds exactly that
-- value, which no other write can produce (it carries the claim's random
-- owner): the claim is withdrawn as if it never happened. Returns 1 when
-- deleted. Run alone, without the prelude: it must work when the epoch is
-- lost.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
