package store

// InMemory is implemented by stores whose operations never wait: not for
// I/O, not for another process, only for a short in-process lock (the
// reference memstore). A store call cannot outlast any deadline there, so
// the runtime passes such a store the caller's context as it is instead of
// arming a timer per write to bound it by the holder's lease and by
// DefaultStoreTimeout; the store still checks that context and fails with
// its error when it is done.
//
// InMemoryStore returns the store itself. The runtime trusts the mark only
// when s.InMemoryStore() == s, so a wrapper that embeds an in-memory store
// (a fault injector, an instrumented store whose methods may block) is
// never taken for one through the promoted method.
type InMemory interface {
	Store
	InMemoryStore() Store
}

// IsInMemory reports whether s is an InMemory store, itself (not a wrapper
// of one).
func IsInMemory(s Store) bool {
	m, ok := s.(InMemory)
	return ok && m.InMemoryStore() == s
}
