#!/usr/bin/env bash
# A mutation check anyone can run: plants known protocol bugs, one at a
# time, in a temporary copy of the module and prints which tests catch each
# (scripts/mutate/main.go lists the mutations). Extra arguments go to it:
#
#   bash scripts/mutate.sh                 # every mutation, tests run once
#   bash scripts/mutate.sh -race -count 3  # harder
#   bash scripts/mutate.sh -run heartbeat  # one mutation
#
# Servers are used when IDEM_TEST_* are set (`source scripts/services.sh`);
# otherwise their tests skip, which a mutation check tolerates.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/mutate "$@"
