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

echo "== idemgen -check ./examples/..."
go run ./cmd/idemgen -check ./examples/...

echo "== go test -race ./..."
go test -race -count=1 -timeout 15m "$@" ./...
