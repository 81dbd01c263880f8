package redisstore

// ScriptClaimsOnly makes s claim every key with the claim script, as it
// does against a server older than Redis 7.0, which refuses SET NX GET
// (see fresh.go), so that tests cover that path on any server.
func ScriptClaimsOnly(s *Store) *Store {
	s.fresh.unsupported.Store(true)
	return s
}
