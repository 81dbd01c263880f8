#!/usr/bin/env bash
# The one command that runs every test of the module, exactly as CI does
# (.ci/run calls this script and nothing else):
#
#   bash scripts/test.sh
#
# It starts throwaway PostgreSQL and Redis servers on loopback for the
# store tests (installing them from Debian packages when it runs as root and
# they are missing; see scripts/services.sh), then checks formatting, vets,
# checks that committed generated code is current, and runs all tests with
# the race detector. Extra arguments go to `go test` (e.g. -run Sweep).
#
# The tests' output goes through scripts/testreport, which prints each
# package as it finishes, the packages still running every 30s, the output
# of every failed test, and every skipped test with its reason. Under CI
# (.ci/run exports CI=true) a missing server and a skipped test are
# failures, unless the test says it cannot apply on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
source scripts/services.sh

echo "== gofmt -l ."
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change these files; run 'gofmt -w .':"
	echo "$unformatted"
	exit 1
fi

echo "== go vet ./..."
go vet ./...

# go.mod's go directive is the oldest Go the module supports (go 1.24: the
# tool block needs it; dependencies are kept at versions that need no newer
# Go, so that users are not forced to upgrade). Check it with exactly that
# toolchain, which the module proxy serves (downloaded once, then cached):
# vet compiles every package and test; a few fast packages run their tests.
min_go=$(go mod edit -json | sed -n 's/^[[:space:]]*"Go": "\(.*\)",*$/\1/p')
echo "== GOTOOLCHAIN=go$min_go: go vet ./... and the tests of the packages users link first"
GOTOOLCHAIN="go$min_go" go vet ./...
GOTOOLCHAIN="go$min_go" go test -count=1 ./annotations/... ./internal/defaults ./runtime/memstore ./runtime/idemtest ./runtime/idemproto ./runtime/idemgrpc ./examples/adopt

echo "== idemgen -check ./examples/..."
go run ./cmd/idemgen -check ./examples/...

# go-libsql (libSQL, Turso's SQLite fork) and mattn/go-sqlite3 both define
# SQLite's C symbols and cannot be linked into one test binary: the
# db-effect tests run on libSQL alone, in binaries built with the tag
# idem_libsql. Both drivers need cgo.
if [ "$(go env CGO_ENABLED)" = 1 ]; then
	echo "== go test -race -tags idem_libsql (the db effect on libSQL)"
	go vet -tags idem_libsql ./runtime ./runtime/internal/sqldialect
	go test -race -count=1 -tags idem_libsql -run 'DBEffect|Libsql|Statements' -skip 'SIGKILL' ./runtime ./runtime/internal/sqldialect
else
	echo "== cgo is off (no C compiler): the db effect is not tested on mattn/go-sqlite3 and libSQL"
fi

echo "== go test -race ./..."
report_dir=$(mktemp -d "${TMPDIR:-/tmp}/idem-testreport.XXXXXX")
go build -o "$report_dir/testreport" ./scripts/testreport
status=0
go test -race -count=1 -timeout 15m -json "$@" ./... | "$report_dir/testreport" || status=$?
rm -rf "$report_dir"
exit "$status"
