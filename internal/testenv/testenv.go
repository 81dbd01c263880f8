// Package testenv tells tests where the real servers they need are.
//
// The servers come from scripts/services.sh, which `bash scripts/test.sh`
// sources: it starts throwaway PostgreSQL and Redis instances and exports
// IDEM_TEST_POSTGRES_DSN, IDEM_TEST_REDIS_URL and
// IDEM_TEST_REDIS_CLUSTER_ADDR. A test that needs a server
// asks this package for its address; when the variable is unset the test is
// skipped on a developer's machine and fails under CI=true, so CI can never
// pass by silently skipping the stores it must prove.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// Environment variables read by this package.
const (
	// PostgresDSNVar names the variable holding a PostgreSQL connection
	// string, e.g. postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable.
	PostgresDSNVar = "IDEM_TEST_POSTGRES_DSN"
	// RedisURLVar names the variable holding a Redis URL, e.g.
	// redis://127.0.0.1:56379/0.
	RedisURLVar = "IDEM_TEST_REDIS_URL"
	// RedisClusterAddrVar names the variable holding the host:port of a
	// Redis Cluster node (scripts/services.sh starts a one-node cluster),
	// e.g. 127.0.0.1:56479.
	RedisClusterAddrVar = "IDEM_TEST_REDIS_CLUSTER_ADDR"
	// CIVar names the variable that CI sets to true; under it a missing
	// server fails the test instead of skipping it.
	CIVar = "CI"
)

// PostgresDSN returns the PostgreSQL connection string from
// IDEM_TEST_POSTGRES_DSN. When it is unset, it fails t under CI=true and
// skips t otherwise; in both cases it does not return.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return lookup(t, PostgresDSNVar, "PostgreSQL")
}

// RedisURL returns the Redis URL from IDEM_TEST_REDIS_URL. When it is unset,
// it fails t under CI=true and skips t otherwise; in both cases it does not
// return.
func RedisURL(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisURLVar, "Redis")
}

// RedisClusterAddr returns the host:port of a Redis Cluster node from
// IDEM_TEST_REDIS_CLUSTER_ADDR. When it is unset, it fails t under CI=true
// and skips t otherwise; in both cases it does not return.
func RedisClusterAddr(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisClusterAddrVar, "Redis Cluster")
}

func lookup(t testing.TB, name, server string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if inCI() {
		t.Fatal(name + " is not set: CI must provide " + server + "; run tests with `bash scripts/test.sh`, which starts it (scripts/services.sh)")
		return ""
	}
	t.Skip(name + " is not set, so the " + server + " tests are skipped; run `bash scripts/test.sh` (which starts throwaway servers via scripts/services.sh), or export " + name + " to point at your own " + server)
	return ""
}

// inCI reports whether CI is set to a true value (true, 1, TRUE...).
func inCI() bool {
	b, err := strconv.ParseBool(os.Getenv(CIVar))
	return err == nil && b
}
