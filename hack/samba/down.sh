#!/usr/bin/env bash
# down.sh DIR: stop the Samba started by up.sh DIR and remove DIR.
set -euo pipefail
DIR=${1:?usage: down.sh DIR}
if [[ -f "$DIR/samba.pid" ]]; then
	pid=$(cat "$DIR/samba.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
fi
if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$DIR"; fi
