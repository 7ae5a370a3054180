#!/usr/bin/env bash
# relocate.sh DIR: make DIR, a copy of a tree that up.sh prepared with SAMBA_START=0 (and that
# samba never ran on), a DC of its own: a fresh loopback address (another copy of the same tree
# may be running), new certificates for that address (the copied ones may be for another address
# or near their 30-day end), and every path and address in smb.conf, env and directories.yaml
# pointed at DIR. The directory database holds neither (provisioned with --dns-backend=NONE).
# Prints the env lines as up.sh does. SAMBA_IP=127.x.y.z picks the address.
set -euo pipefail

DIR=${1:?usage: relocate.sh DIR}
DIR=$(cd "$DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ -f "$DIR/env" ]] || { echo "relocate.sh: $DIR/env not found: not a tree prepared by up.sh" >&2; exit 2; }
[[ ! -e "$DIR/samba.pid" ]] || { echo "relocate.sh: $DIR was started; only never-started trees can be copied" >&2; exit 2; }
OLD_DIR=$(sed -n 's/^SAMBA_DIR=//p' "$DIR/env")
OLD_IP=$(sed -n 's/^SAMBA_IP=//p' "$DIR/env")
[[ -n "$OLD_DIR" && -n "$OLD_IP" ]] || { echo "relocate.sh: $DIR/env names no SAMBA_DIR or SAMBA_IP" >&2; exit 2; }
IP=${SAMBA_IP:-$(pick_ip)}

make_tls "$DIR" "$IP"
old_ip_re=${OLD_IP//./\\.}
for f in "$DIR/samba/etc/smb.conf" "$DIR/env" "$DIR/directories.yaml"; do
	sed -i -e "s|$OLD_DIR|$DIR|g" -e "s/\\b$old_ip_re\\b/$IP/g" "$f"
done
cat "$DIR/env"
