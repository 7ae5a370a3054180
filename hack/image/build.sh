#!/usr/bin/env bash
# Builds the manager image with no registry: the Go toolchain and modules build a static binary on
# this machine, and buildah assembles it FROM scratch (--pull=never) into local container storage.
#   hack/image/build.sh [TAG]        default TAG: localhost/fleetlaps/manager:dev
# Then `podman save -o fleetlaps.tar TAG` (or `skopeo copy containers-storage:TAG
# docker://registry.internal/...`) carries it to the site's own registry. Needs buildah and
# ca-certificates (hack/image/packages.txt); run as root or with rootless storage configured.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tag=${1:-localhost/fleetlaps/manager:dev}
ca=/etc/ssl/certs/ca-certificates.crt
for tool in buildah go; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (Debian packages: hack/image/packages.txt)" >&2; exit 1; }
done
[ -s "$ca" ] || { echo "build.sh: $ca missing: install the ca-certificates package" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# The flags of `make build` and the connected Dockerfile: the packages `make build` compiled are
# reused from the Go build cache.
CGO_ENABLED=0 GOOS=linux go build -C "$root" -trimpath -ldflags "-s -w" -o "$ctx/manager" ./cmd/manager
cp "$ca" "$ctx/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/group"
chmod 0755 "$ctx/manager"
chmod 0644 "$ctx/ca-certificates.crt" "$ctx/passwd" "$ctx/group"
# --timestamp 0: the same inputs give the same image digest.
buildah build --quiet --pull=never --timestamp 0 -f "$root/hack/image/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "$tag"
