#!/usr/bin/env bash
# Installs the Debian packages a target needs and the machine lacks, before anything is built, and
# says what it installs. Used by .ci/run, `make test` and `make demo`, so a fresh Debian machine
# with only Go needs no manual set-up.
#
#   hack/install-packages.sh [LIST...]
#
# Each LIST is a file of package names (one or more a line, `#` starts a comment). Without LISTs it
# reads every list the tests use: hack/*/packages.txt and hack/*-packages.txt. make, git and
# ca-certificates are always included (the go command needs them for modules and VCS stamping).
# apt-get runs directly as root, else through sudo. FLEETLAPS_SKIP_PACKAGES=1 skips the step.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "${FLEETLAPS_SKIP_PACKAGES:-0}" = 1 ]; then exit 0; fi
if [ $# -eq 0 ]; then
  set -- "$ROOT"/hack/*/packages.txt "$ROOT"/hack/*-packages.txt
fi
pkgs=$(cat "$@" 2>/dev/null | sed 's/#.*//' | tr -s ' \t\n' '\n' | grep -v '^$' || true)
pkgs=$(printf 'make\ngit\nca-certificates\n%s\n' "$pkgs" | grep -v '^$' | sort -u)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo ">> not a Debian machine (no dpkg-query/apt-get): make sure these are installed:" $pkgs >&2
  exit 0
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then exit 0; fi

if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null; then
  as_root() { sudo "$@"; }
else
  echo ">> these Debian packages are missing:$missing" >&2
  echo ">> install them as root (apt-get install$missing) or install sudo, then run again" >&2
  exit 1
fi

echo ">> installing missing Debian packages with apt-get:$missing" >&2
# Samba's packages must not start daemons on the machine: the tests start their own, on loopback.
# policy-rc.d (exit 101) tells Debian's maintainer scripts not to start services.
ours=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  ours=1
  trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
fi
start=$(date +%s)
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
# shellcheck disable=SC2086 # one word per package
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
if [ -n "$ours" ]; then as_root rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
echo ">> installed$missing in $(( $(date +%s) - start ))s" >&2
