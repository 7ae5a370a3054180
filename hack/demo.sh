#!/usr/bin/env bash
# `make demo`: build the local control plane on first run (with a visible progress message), then
# run cmd/demo against it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
assets=$(FLEETLAPS_ENVTEST_KUBECTL=1 hack/envtest-assets.sh | tail -1)
export PATH="$assets:$PATH"   # kubectl, built from source like the control plane
exec go run ./cmd/demo --assets "$assets" "$@"
