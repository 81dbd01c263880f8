// Package testenv tells tests where the real servers they need are.
//
// The servers come from scripts/services.sh, which `bash scripts/test.sh`
// sources: it starts throwaway PostgreSQL, Redis and MariaDB instances and
// exports IDEM_TEST_POSTGRES_DSN, IDEM_TEST_REDIS_URL,
// IDEM_TEST_REDIS_CLUSTER_ADDR and IDEM_TEST_MYSQL_DSN. A test that needs a server
// asks this package for its address; when the variable is unset the test is
// skipped on a developer's machine and fails under CI, so CI can never pass
// by silently skipping the stores it must prove.
//
// The same rule holds for anything else a test needs from the machine (a
// command on PATH, a database privilege): such a test calls [Skip], which
// fails under CI. A test that cannot apply on any machine (a helper process
// run only by its parent test) calls [NotApplicable], whose message the test
// report (scripts/test.sh) accepts under CI; every other skip fails CI there.
package testenv

import (
	"os"
	"strings"
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
	// MySQLDSNVar names the variable holding a MySQL or MariaDB data source
	// name in github.com/go-sql-driver/mysql's form, e.g.
	// idem@tcp(127.0.0.1:53306)/idem.
	MySQLDSNVar = "IDEM_TEST_MYSQL_DSN"
	// CIVar names the variable that CI sets (.ci/run exports CI=true
	// itself); under it a missing server fails the test instead of
	// skipping it. See [CI] for the values that count as set.
	CIVar = "CI"
)

// NotApplicablePrefix starts the skip message of [NotApplicable]. Under CI
// the test report of scripts/test.sh fails every skipped test whose output
// lacks it.
const NotApplicablePrefix = "not applicable on any machine: "

// CI reports whether the tests run under CI: CI is set to anything but
// "", "0", "false", "no" or "off" (in any case). CI systems spell it true, 1
// or yes; treating any other value as set errs on the side of failing.
func CI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(CIVar))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// Skip skips t because this machine lacks something the test needs, and
// fails t instead under CI, where the machine must provide it. reason says
// what is missing and how to provide it. It does not return.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if CI() {
		t.Fatal("CI must not skip this test (" + CIVar + "=" + os.Getenv(CIVar) + "): " + reason)
		return
	}
	t.Skip(reason)
}

// NotApplicable skips t on every machine, CI included, for a reason that
// holds everywhere: why says what makes the test meaningless here (for
// example "helper process, run only by TestX"). It does not return.
func NotApplicable(t testing.TB, why string) {
	t.Helper()
	t.Skip(NotApplicablePrefix + why)
}

// PostgresDSN returns the PostgreSQL connection string from
// IDEM_TEST_POSTGRES_DSN. When it is unset, it fails t under CI (see [CI]) and
// skips t otherwise; in both cases it does not return.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return lookup(t, PostgresDSNVar, "PostgreSQL")
}

// RedisURL returns the Redis URL from IDEM_TEST_REDIS_URL. When it is unset,
// it fails t under CI (see [CI]) and skips t otherwise; in both cases it does not
// return.
func RedisURL(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisURLVar, "Redis")
}

// RedisClusterAddr returns the host:port of a Redis Cluster node from
// IDEM_TEST_REDIS_CLUSTER_ADDR. When it is unset, it fails t under CI (see [CI])
// and skips t otherwise; in both cases it does not return.
func RedisClusterAddr(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisClusterAddrVar, "Redis Cluster")
}

// MySQLDSN returns the MySQL (or MariaDB) data source name from
// IDEM_TEST_MYSQL_DSN. When it is unset, it fails t under CI (see [CI]) and
// skips t otherwise; in both cases it does not return.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	return lookup(t, MySQLDSNVar, "MySQL")
}

func lookup(t testing.TB, name, server string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if CI() {
		t.Fatal(name + " is not set: CI must provide " + server + "; run tests with `bash scripts/test.sh`, which starts it (scripts/services.sh)")
		return ""
	}
	t.Skip(name + " is not set, so the " + server + " tests are skipped; run `bash scripts/test.sh` (which starts throwaway servers via scripts/services.sh), or export " + name + " to point at your own " + server)
	return ""
}
