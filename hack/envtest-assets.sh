#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver + etcd) from the Go module proxy, because
# setup-envtest's binary downloads cannot be reached here. Recipe: ../shared/ENVTEST-RECIPE.md.
# Binaries are cached in bin/k8s/<version>-linux-amd64/ and the build is skipped when both exist.
# The LAST line of stdout is that directory (callers use `tail -1`); progress goes to stderr.
set -euo pipefail
K8S=${K8S:-1.37.2}
ETCD=${ETCD:-3.7.3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GOOS_=$(go env GOOS); GOARCH_=$(go env GOARCH)
OUT=${OUT:-$ROOT/bin/k8s/$K8S-$GOOS_-$GOARCH_}
mkdir -p "$OUT"

have() { [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ] && [ -f "$OUT/.etcd-$ETCD" ]; }
if have; then
  echo "$OUT"
  exit 0
fi

echo ">> building kube-apiserver v$K8S and etcd v$ETCD from source into $OUT (cold: ~8 min on 2 cores)" >&2
STAGING_VER=v0.${K8S#1.}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/k" "$W/e"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
GOMOD=$(cd "$W" && go mod download -json "k8s.io/kubernetes@v$K8S" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
  printf 'module kbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\ntool k8s.io/kubernetes/cmd/kube-apiserver\n\nreplace (\n' "$K8S"
  # Replace exactly the staging modules that kubernetes requires at v0.0.0 (pitfalls in the recipe).
  awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {printf "\t%s => %s %s\n", $1, $1, v}' v="$STAGING_VER" "$GOMOD" | sort -u
  printf ')\n'
} > "$W/k/go.mod"
MINOR=${K8S#1.}; MINOR=${MINOR%%.*}
LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $p.gitVersion=v$K8S -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
done
(cd "$W/k" && go mod tidy >&2 && go build -ldflags "$LDF" -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2)
printf 'module ebuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n\ntool go.etcd.io/etcd/server/v3\n' "$ETCD" > "$W/e/go.mod"
(cd "$W/e" && go mod tidy >&2 && go build -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
mv "$OUT/etcd.tmp" "$OUT/etcd"
touch "$OUT/.etcd-$ETCD"
"$OUT/kube-apiserver" --version >&2
"$OUT/etcd" --version | head -1 >&2
echo "$OUT"
