#!/usr/bin/env bash
# up.sh DIR: provision a throw-away Samba AD DC into DIR (loopback only), extend its schema with
# the Windows LAPS and legacy LAPS attributes, create the controller's bind accounts with only the
# outer LAPS permission ring, and start it. Prints shell-style KEY=value lines (also written to
# DIR/env) describing how to reach it.
#
# Environment:
#   SAMBA_EXTEND_SCHEMA=0   skip the LAPS schema extension (a domain without msLAPS-*)
#   SAMBA_COMPUTERS=N       add N computer objects (cn=fleet-NNNNN, a mix of LAPS states, see
#                           gen-computers.py) offline with ldbadd before start
#   SAMBA_LOAD_CHUNK=5000   computers per ldbadd transaction (see the comment at the load)
#   SAMBA_FIXTURE_T0=UNIX   time base of those computers' LAPS times (default: midnight UTC of the
#                           previous day; printed back as SAMBA_FIXTURE_T0)
#   SAMBA_IP=127.x.y.z      loopback address to bind (default: a random one)
#   SAMBA_SMB=1             also serve SYSVOL over SMB (smbd, winbindd, cldap) and create the Group
#                           Policy publishing accounts (see below). smbd finds winbindd only in
#                           /run/samba/winbindd, so only one such DC can run on a machine at a time
#                           (the Go harness holds a file lock for it)
#   SAMBA_START=0           prepare everything but do not start samba; the caller runs
#                           "samba -F --no-process-group -M single -s $SAMBA_CONF" itself (the Go
#                           harness does, so that samba dies with the test binary) and writes its
#                           pid to DIR/samba.pid for down.sh
#
# Samba 4.17 hard-codes its LDAP ports (389, 636, 3268, 3269), so instead of a random port each
# instance binds a random address of 127.0.0.0/8; Linux routes the whole block to lo.
set -euo pipefail

DIR=${1:?usage: up.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

for bin in samba samba-tool ldbadd ldbmodify openssl; do
	command -v "$bin" >/dev/null || {
		echo "up.sh: $bin not found; install the Debian packages in $HERE/packages.txt" >&2
		exit 2
	}
done

REALM=FLEET.TEST
DOMAIN=FLEET
BASE="DC=fleet,DC=test"
ADMINPASS='Adm1n-Passw0rd!'
CTRLPASS='Ctrl-Passw0rd!1'
ROPASS='R3ad-Only-Passw0rd!'

SAMBA_IP=${SAMBA_IP:-$(pick_ip)}
IP=$SAMBA_IP
SAMBA_FIXTURE_T0=${SAMBA_FIXTURE_T0:-$(( ($(date +%s) / 86400 - 1) * 86400 ))}
T=$DIR/samba
mkdir -p "$T" "$DIR/tls" "$DIR/run"

log() { echo "up.sh: $*" >&2; }

make_tls "$DIR" "$IP"

# --- provision
log "provisioning $REALM into $T"
samba-tool domain provision --targetdir="$T" --realm=$REALM --domain=$DOMAIN \
	--server-role=dc --dns-backend=NONE --use-rfc2307 --adminpass="$ADMINPASS" \
	--host-name=dc1 --host-ip="$IP" \
	--option="interfaces = $IP/8" --option="bind interfaces only = yes" \
	--option="ldb:nosync = true" >"$DIR/provision.log" 2>&1 || {
	cat "$DIR/provision.log" >&2
	exit 1
}
CONF=$T/etc/smb.conf
# provision rewrites [global]; drop what we override, then add what it drops or does not know.
sed -i -E '/^\s*(server services|log file|logging|ldb:nosync) *=/d' "$CONF"
sed -i "/^\[global\]/a\\
\tserver services = ldap\\
\tldb:nosync = true\\
\tldap server require strong auth = no\\
\tpid directory = $T/pid\\
\tncalrpc dir = $T/ncalrpc\\
\twinbindd socket directory = $T/winbindd\\
\tntp signd socket directory = $T/ntp_signd\\
\tlog file = $DIR/samba.log\\
\ttls enabled = yes\\
\ttls keyfile = $DIR/tls/key.pem\\
\ttls certfile = $DIR/tls/cert.pem\\
\ttls cafile = $DIR/tls/ca.pem\\
\tdsdb:schema update allowed = true" "$CONF"
if [[ "${SAMBA_SMB:-0}" == 1 ]]; then
	mkdir -p /run/samba/winbindd
	sed -i -E 's/^(\s*)server services = ldap$/\1server services = ldap, cldap, s3fs, winbindd/; s#^(\s*)winbindd socket directory = .*#\1winbindd socket directory = /run/samba/winbindd#' "$CONF"
fi
SAM=$T/private/sam.ldb
ldbx() { "$@" --option="dsdb:schema update allowed=true" -H "$SAM"; }

if [[ "${SAMBA_EXTEND_SCHEMA:-1}" != 0 ]]; then
	log "extending the schema"
	sed "s/@BASE@/$BASE/g" "$HERE/laps-schema-attributes.ldif" > "$DIR/schema1.ldif"
	sed "s/@BASE@/$BASE/g" "$HERE/laps-schema-class.ldif" > "$DIR/schema2.ldif"
	ldbmodify -H "$SAM" --option="dsdb:schema update allowed=true" "$DIR/schema1.ldif" >"$DIR/schema.log" 2>&1
	ldbmodify -H "$SAM" --option="dsdb:schema update allowed=true" "$DIR/schema2.ldif" >>"$DIR/schema.log" 2>&1
fi

log "creating accounts and fixture objects"
samba-tool user create fleetlaps-ctrl "$CTRLPASS" -H "$SAM" -s "$CONF" >/dev/null
samba-tool user create fleetlaps-ro "$ROPASS" -H "$SAM" -s "$CONF" >/dev/null
samba-tool group add "LAPS Readers" -H "$SAM" -s "$CONF" >/dev/null
samba-tool ou create "OU=Fleet,$BASE" -H "$SAM" -s "$CONF" >/dev/null
CTRLSID=$(samba-tool user show fleetlaps-ctrl -H "$SAM" -s "$CONF" --attributes=objectSid | awk '/^objectSid:/{print $2}')

if [[ "${SAMBA_EXTEND_SCHEMA:-1}" != 0 ]]; then
	# The outer ring: write (and read) the two expiration attributes, inherited by computer
	# objects, on every container that holds computers. Reading of non-confidential metadata
	# comes from the default "Authenticated Users: read" of the computer class.
	COMPUTER_CLASS=bf967a86-0de6-11d0-a285-00aa003049e2
	for ou in "OU=Fleet,$BASE" "CN=Computers,$BASE" "OU=Domain Controllers,$BASE"; do
		for attr in 7b3c1e9a-0a6e-4a8e-9d0b-4c1a44010001 7b3c1e9a-0a6e-4a8e-9d0b-4c1a44010009; do
			samba-tool dsacl set -H "$SAM" -s "$CONF" --objectdn="$ou" \
				--sddl="(OA;CIIO;RPWP;$attr;$COMPUTER_CLASS;$CTRLSID)" >/dev/null
		done
	done
fi

GPOPASS='Gp0-Publisher!1'
if [[ "${SAMBA_SMB:-0}" == 1 ]]; then
	# Group Policy publishing accounts. fleetlaps-gpo has exactly the documented rights: create
	# groupPolicyContainer children on CN=Policies (it then owns, and may change and delete, what
	# it creates), write gPLink on OU=Linked and below, and modify on the SYSVOL Policies folder.
	# fleetlaps-gpo-nosysvol lacks the SYSVOL right; fleetlaps-gpo-none has no right at all.
	GPC_CLASS=f30e3bc2-9ff0-11d1-b603-0000f80367c1
	GPLINK_ATTR=f30e3bbe-9ff0-11d1-b603-0000f80367c1
	samba-tool ou create "OU=Linked,$BASE" -H "$SAM" -s "$CONF" >/dev/null
	samba-tool ou create "OU=Unlinkable,$BASE" -H "$SAM" -s "$CONF" >/dev/null
	POLICIES_DIR=$T/state/sysvol/$(echo "$REALM" | tr 'A-Z' 'a-z')/Policies
	FSACL=$(samba-tool ntacl get --as-sddl "$POLICIES_DIR" -s "$CONF")
	for acct in fleetlaps-gpo fleetlaps-gpo-nosysvol fleetlaps-gpo-none; do
		samba-tool user create "$acct" "$GPOPASS" -H "$SAM" -s "$CONF" >/dev/null
		sid=$(samba-tool user show "$acct" -H "$SAM" -s "$CONF" --attributes=objectSid | awk '/^objectSid:/{print $2}')
		[[ $acct == fleetlaps-gpo-none ]] && continue
		samba-tool dsacl set -H "$SAM" -s "$CONF" --objectdn="CN=Policies,CN=System,$BASE" --sddl="(OA;;CC;$GPC_CLASS;;$sid)" >/dev/null
		samba-tool dsacl set -H "$SAM" -s "$CONF" --objectdn="OU=Linked,$BASE" --sddl="(OA;CI;RPWP;$GPLINK_ATTR;;$sid)" >/dev/null
		[[ $acct == fleetlaps-gpo ]] && FSACL="$FSACL(A;OICI;0x001301bf;;;$sid)"
	done
	samba-tool ntacl set "$FSACL" "$POLICIES_DIR" -s "$CONF" >/dev/null
fi

if [[ -n "${SAMBA_COMPUTERS:-}" && "${SAMBA_COMPUTERS}" -gt 0 ]]; then
	# Every add copies each index list it extends (ldb keeps a copy per operation so that a
	# failed add can be rolled back), so attributes that all computers share (objectClass,
	# objectCategory, sAMAccountType, primaryGroupID, userAccountControl: nine lists of one
	# entry per computer) make the load quadratic. Measured on 2 shared cores: 1,000 computers
	# cost 1.5 s of CPU into an empty OU and 12 s at 15,000 (100,000 would take over an hour);
	# with those five attributes unindexed, 1.0 s per 1,000 at 5,000 and about 5 s at 60,000
	# (what still grows stays indexed, probably OU=Fleet's one-level list). So a fleet bigger than
	# one chunk is loaded with them unindexed (searchFlags bit 1 cleared in the schema) and the
	# flags are restored before the last computer is added: that ldbadd opens the database with
	# the restored schema, which rebuilds every index once, then adds it. The result is the
	# same database (samba-tool dbcheck: 0 errors), except that those five schema objects
	# carry one more change in their metadata.
	chunk=${SAMBA_LOAD_CHUNK:-5000}
	SCHEMA_NC="CN=Schema,CN=Configuration,$BASE"
	SHARED_ATTRS=(Object-Class Object-Category SAM-Account-Type Primary-Group-ID User-Account-Control)
	search_flags() { # CN-of-attribute-schema AND-MASK
		local cn=$1 mask=$2 old
		old=$(ldbsearch -H "$SAM" -b "CN=$cn,$SCHEMA_NC" -s base searchFlags 2>/dev/null | awk '/^searchFlags:/{print $2}')
		[[ -n "$old" ]] || { log "no searchFlags on CN=$cn"; return 1; }
		printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: searchFlags\nsearchFlags: %d\n\n' "$cn" "$SCHEMA_NC" $((old & mask))
		echo "$cn $old" >> "$DIR/searchflags.saved"
	}
	last=$SAMBA_COMPUTERS
	: > "$DIR/load.log"
	if ((SAMBA_COMPUTERS > chunk)); then
		last=$((SAMBA_COMPUTERS - 1))
		: > "$DIR/searchflags.saved"
		for cn in "${SHARED_ATTRS[@]}"; do search_flags "$cn" $((~1)); done > "$DIR/unindex.ldif"
		ldbx ldbmodify "$DIR/unindex.ldif" >/dev/null
	fi
	log "adding $SAMBA_COMPUTERS computers, $chunk per transaction"
	load() { # FIRST COUNT
		local t0=${EPOCHREALTIME/./}
		SAMBA_FIXTURE_T0=$SAMBA_FIXTURE_T0 python3 "$HERE/gen-computers.py" "$BASE" "$2" "$1" > "$DIR/computers.ldif"
		ldbx ldbadd "$DIR/computers.ldif" >/dev/null
		echo "first=$1 computers=$2 ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))" >> "$DIR/load.log"
	}
	for ((start = 1; start <= last; start += chunk)); do
		load "$start" $((last - start + 1 < chunk ? last - start + 1 : chunk))
	done
	if ((last < SAMBA_COMPUTERS)); then
		while read -r cn old; do
			printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: searchFlags\nsearchFlags: %d\n\n' "$cn" "$SCHEMA_NC" "$old"
		done < "$DIR/searchflags.saved" > "$DIR/reindex.ldif"
		ldbx ldbmodify "$DIR/reindex.ldif" >/dev/null
		load "$SAMBA_COMPUTERS" 1 # rebuilds the indexes, then adds the last computer
	fi
	rm -f "$DIR/computers.ldif"
fi

# What running the manager against this DC needs (README, "Running the manager outside a
# cluster"): the bind account's password as a credentials directory, and a directories file whose
# connection, namespace and discovery labels match config/samples/laps_v1_lapspolicy.yaml.
mkdir -p "$DIR/credentials"
(umask 077 && printf '%s' "$CTRLPASS" > "$DIR/credentials/password")
cat > "$DIR/directories.yaml" <<YAML
directories:
- name: corp-ad
  type: activeDirectory
  credentialsDir: $DIR/credentials
  syncInterval: 30s
  settings:
    urls: ["ldaps://$IP:636"]
    caFile: $DIR/tls/ca.pem
    bindDN: "CN=fleetlaps-ctrl,CN=Users,$BASE"
    searchBases: ["OU=Fleet,$BASE"]
  discovery:
    enabled: true
    namespace: frontline
    searchBase: "OU=Fleet,$BASE"
    labels: {tier: workstation}
  namespaces: [frontline]
YAML

cat > "$DIR/env" <<ENV
SAMBA_DIR=$DIR
SAMBA_DIRECTORIES=$DIR/directories.yaml
SAMBA_CREDENTIALS_DIR=$DIR/credentials
SAMBA_IP=$IP
SAMBA_FIXTURE_T0=$SAMBA_FIXTURE_T0
SAMBA_LDAPS_URL=ldaps://$IP:636
SAMBA_LDAP_URL=ldap://$IP:389
SAMBA_CA=$DIR/tls/ca.pem
SAMBA_WRONG_CA=$DIR/tls/wrong-ca.pem
SAMBA_REALM=$REALM
SAMBA_DOMAIN=$DOMAIN
SAMBA_BASE=$BASE
SAMBA_ADMIN_DN=CN=Administrator,CN=Users,$BASE
SAMBA_ADMIN_PASSWORD=$ADMINPASS
SAMBA_BIND_DN=CN=fleetlaps-ctrl,CN=Users,$BASE
SAMBA_BIND_PASSWORD=$CTRLPASS
SAMBA_RO_DN=CN=fleetlaps-ro,CN=Users,$BASE
SAMBA_RO_PASSWORD=$ROPASS
SAMBA_SAM=$SAM
SAMBA_CONF=$CONF
ENV
if [[ "${SAMBA_SMB:-0}" == 1 ]]; then
	cat >> "$DIR/env" <<ENV
SAMBA_SMB_ADDR=$IP:445
SAMBA_GPO_DN=CN=fleetlaps-gpo,CN=Users,$BASE
SAMBA_GPO_NOSYSVOL_DN=CN=fleetlaps-gpo-nosysvol,CN=Users,$BASE
SAMBA_GPO_NONE_DN=CN=fleetlaps-gpo-none,CN=Users,$BASE
SAMBA_GPO_PASSWORD=$GPOPASS
ENV
fi
if [[ "${SAMBA_START:-1}" == 0 ]]; then
	cat "$DIR/env"
	exit 0
fi

log "starting samba on $IP"
samba -F --no-process-group -M single -s "$CONF" >"$DIR/samba.out" 2>&1 </dev/null &
echo $! > "$DIR/samba.pid"
for _ in $(seq 1 150); do
	if (exec 3<>"/dev/tcp/$IP/636") 2>/dev/null; then break; fi
	if ! kill -0 "$(cat "$DIR/samba.pid")" 2>/dev/null; then
		log "samba exited; see $DIR/samba.out and $DIR/samba.log"
		tail -20 "$DIR/samba.out" >&2
		exit 1
	fi
	sleep 0.1
done
(exec 3<>"/dev/tcp/$IP/636") 2>/dev/null || { log "samba did not open $IP:636"; exit 1; }

echo "SAMBA_PID=$(cat "$DIR/samba.pid")" >> "$DIR/env"
cat "$DIR/env"
