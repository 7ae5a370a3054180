#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver + etcd, and kubectl with FLEETLAPS_ENVTEST_KUBECTL=1) from
# the Go module proxy, because setup-envtest's binary downloads cannot be reached here. Recipe:
# ../shared/ENVTEST-RECIPE.md. Binaries are cached in bin/k8s/<version>-<os>-<arch>/ and only the
# missing ones are built. The LAST line of stdout is that directory (callers use `tail -1`);
# progress goes to stderr. Inputs are read only from variables named FLEETLAPS_* (a caller's
# unrelated OUT or K8S must not redirect or change the cache): FLEETLAPS_ENVTEST_DIR (cache
# directory), FLEETLAPS_K8S_VERSION, FLEETLAPS_ETCD_VERSION, FLEETLAPS_ENVTEST_KUBECTL=1.
set -euo pipefail
K8S=${FLEETLAPS_K8S_VERSION:-1.37.2}
ETCD=${FLEETLAPS_ETCD_VERSION:-3.7.3}
WITH_KUBECTL=${FLEETLAPS_ENVTEST_KUBECTL:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${FLEETLAPS_ENVTEST_DIR:-$ROOT/bin/k8s/$K8S-$(go env GOOS)-$(go env GOARCH)}
mkdir -p "$OUT"

need_apiserver=0; need_etcd=0; need_kubectl=0
[ -x "$OUT/kube-apiserver" ] || need_apiserver=1
{ [ -x "$OUT/etcd" ] && [ -f "$OUT/.etcd-$ETCD" ]; } || need_etcd=1
[ "$WITH_KUBECTL" = 1 ] && [ ! -x "$OUT/kubectl" ] && need_kubectl=1
if [ $need_apiserver = 0 ] && [ $need_etcd = 0 ] && [ $need_kubectl = 0 ]; then
  echo "$OUT"
  exit 0
fi

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod

if [ $need_apiserver = 1 ] || [ $need_kubectl = 1 ]; then
  echo ">> building Kubernetes v$K8S binaries from source into $OUT (cold: ~8 min on 2 cores; cached afterwards)" >&2
  mkdir -p "$W/k"
  STAGING_VER=v0.${K8S#1.}
  GOMOD=$(cd "$W" && go mod download -json "k8s.io/kubernetes@v$K8S" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    printf 'module kbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\n' "$K8S"
    printf 'tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\nreplace (\n'
    # Replace exactly the staging modules that kubernetes requires at v0.0.0 (recipe pitfalls).
    awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {printf "\t%s => %s %s\n", $1, $1, v}' v="$STAGING_VER" "$GOMOD" | sort -u
    printf ')\n'
  } > "$W/k/go.mod"
  MINOR=${K8S#1.}; MINOR=${MINOR%%.*}
  LDF="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDF="$LDF -X $p.gitVersion=v$K8S -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
  done
  (cd "$W/k" && go mod tidy >&2)
  if [ $need_apiserver = 1 ]; then
    (cd "$W/k" && go build -ldflags "$LDF" -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2)
    mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
    "$OUT/kube-apiserver" --version >&2
  fi
  if [ $need_kubectl = 1 ]; then
    (cd "$W/k" && go build -ldflags "$LDF" -o "$OUT/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl >&2)
    mv "$OUT/kubectl.tmp" "$OUT/kubectl"
    "$OUT/kubectl" version --client >&2 || true
  fi
fi

if [ $need_etcd = 1 ]; then
  echo ">> building etcd v$ETCD from source into $OUT" >&2
  mkdir -p "$W/e"
  printf 'module ebuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n\ntool go.etcd.io/etcd/server/v3\n' "$ETCD" > "$W/e/go.mod"
  (cd "$W/e" && go mod tidy >&2 && go build -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$OUT/etcd.tmp" "$OUT/etcd"
  touch "$OUT/.etcd-$ETCD"
  "$OUT/etcd" --version 2>&1 | sed -n 1p >&2
fi
echo "$OUT"
