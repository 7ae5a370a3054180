#!/usr/bin/env bash
# `make demo`: build the local control plane on first run (with a visible progress message) and
# the kubectl plugin, then run cmd/demo against them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
assets=$(FLEETLAPS_ENVTEST_KUBECTL=1 hack/envtest-assets.sh | tail -1)
export PATH="$assets:$PATH"   # kubectl, built from source like the control plane
# kubectl finds plugins on PATH: the demo's status view puts .demo/bin there for you.
CGO_ENABLED=0 go build -o .demo/bin/kubectl-laps ./cmd/kubectl-laps
exec go run ./cmd/demo --assets "$assets" "$@"
