# lib.sh: shared by up.sh and relocate.sh (sourced, not run).

# pick_ip: a random loopback address whose LDAP ports are free. Samba 4.17 hard-codes its LDAP
# ports (389, 636, 3268, 3269), so instead of a random port each instance binds a random address
# of 127.0.0.0/8; Linux routes the whole block to lo.
pick_ip() {
	local ip
	for _ in $(seq 1 50); do
		ip="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
		# ss (iproute2) may be missing on a minimal machine; a clash is then caught at start.
		if ! command -v ss >/dev/null || ! ss -Hltn "( sport = :636 or sport = :389 )" | grep -q "$ip:"; then break; fi
	done
	echo "$ip"
}

# make_tls DIR IP: own CA and a server certificate with IP SANs in DIR/tls (Samba's self-made
# one has a negative serial that Go rejects), plus an unrelated CA for "wrong CA" tests.
make_tls() {
	local dir=$1 ip=$2
	mkdir -p "$dir/tls"
	(
		cd "$dir/tls"
		rm -f ./*.pem ./*.key ./*.csr ./*.srl ext.cnf
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=fleetlaps test CA" \
			-keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.fleet.test" -keyout key.pem -out server.csr 2>/dev/null
		printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:dc1.fleet.test,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$ip" > ext.cnf
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
			-extfile ext.cnf -out cert.pem 2>/dev/null
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=wrong CA" \
			-keyout wrong-ca.key -out wrong-ca.pem 2>/dev/null
		chmod 600 key.pem ca.key wrong-ca.key
	)
}
