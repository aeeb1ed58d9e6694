# The test CA and its certificates, shared by every server with TLS.
# Sourced by scripts/servers.sh, never run.
#
# Made with openssl in $POSTIE_TEST_DIR/tls (POSTIE_TEST_TLS_DIR; EC P-256
# keys, valid 2 days, made again when missing or when less than a day is
# left):
#   ca.pem, ca.key              the CA (POSTIE_TEST_CA = ca.pem)
#   server.pem, server.key      localhost, postfix.test, IP 127.0.0.1
#   wrongname.pem, .key         wrong.example only, signed by the CA
#   selfsigned.pem, .key        localhost, 127.0.0.1, self-signed
#   client.pem, client.key      client certificate (clientAuth) from the CA
#                               (POSTIE_TEST_CLIENT_CERT, POSTIE_TEST_CLIENT_KEY)
# Keys are world-readable: they are test keys, good for nothing else.
# shellcheck shell=bash

TLS_DIR=$TEST_DIR/tls
TLS_DAYS=2                 # validity of every certificate
TLS_MIN_LEFT=86400         # made again when less than this is left (seconds)
TLS_FILES=(ca.pem ca.key server.pem server.key wrongname.pem wrongname.key
	selfsigned.pem selfsigned.key client.pem client.key)


tls_is_fresh() {
	local f
	for f in "${TLS_FILES[@]}"; do
		[ -s "$TLS_DIR/$f" ] || return 1
	done
	openssl x509 -in "$TLS_DIR/ca.pem" -noout -checkend "$TLS_MIN_LEFT" >/dev/null 2>&1 || return 1
	# The client certificate must be one Postfix accepts on the client
	# certificate port: signed by this CA, with extendedKeyUsage clientAuth
	# (a CA directory from an older version of this script may lack it).
	openssl verify -CAfile "$TLS_DIR/ca.pem" -purpose sslclient "$TLS_DIR/client.pem" >/dev/null 2>&1
}

# Extensions for each kind of certificate (openssl req -config).
openssl_cnf() {
	cat <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, DNS:postfix.test, IP:127.0.0.1
[wrongname]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
[selfsigned]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = DNS:localhost, IP:127.0.0.1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:client.postie.test, email:client@postie.test
EOF
}

# new_cert DIR NAME SECTION SUBJECT [signed by DIR/ca.pem: yes|no]
# DIR/NAME.pem and DIR/NAME.key: an EC P-256 key and a certificate with the
# extensions of SECTION, signed by the CA or self-signed.
new_cert() {
	local dir=$1 name=$2 section=$3 subject=$4 signed=${5:-yes}
	local -a ca=()
	[ "$signed" = no ] || ca=(-CA "$dir/ca.pem" -CAkey "$dir/ca.key")
	openssl req -x509 -config "$dir/openssl.cnf" -extensions "$section" \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-keyout "$dir/$name.key" -out "$dir/$name.pem" \
		-days "$TLS_DAYS" -subj "$subject" "${ca[@]}" 2>"$dir/openssl.err" ||
		die "openssl could not make $name.pem: $(cat "$dir/openssl.err")"
}

# The test CA and its certificates in $TLS_DIR, made again when a file is
# missing or the CA has less than $TLS_MIN_LEFT seconds left. Built in a
# temporary directory and renamed into place.
ensure_tls() {
	if tls_is_fresh; then
		return 0
	fi
	log "making the test CA and certificates in $TLS_DIR"
	local tmp=$TLS_DIR.new
	rm -rf "$tmp"
	mkdir -p "$tmp"
	openssl_cnf >"$tmp/openssl.cnf"
	new_cert "$tmp" ca ca "/O=postie tests/CN=postie test CA" no
	new_cert "$tmp" server server "/O=postie tests/CN=localhost"
	new_cert "$tmp" wrongname wrongname "/O=postie tests/CN=wrong.example"
	new_cert "$tmp" selfsigned selfsigned "/O=postie tests/CN=localhost" no
	new_cert "$tmp" client client "/O=postie tests/CN=postie test client"
	rm -f "$tmp/openssl.cnf" "$tmp/openssl.err"
	# Test keys: readable by everyone (Postfix, tests running as any user).
	chmod 644 "$tmp"/*
	chmod 755 "$tmp"
	rm -rf "$TLS_DIR"
	mv "$tmp" "$TLS_DIR"
}


tls_env() {
	env_line POSTIE_TEST_CA "$TLS_DIR/ca.pem"
	env_line POSTIE_TEST_TLS_DIR "$TLS_DIR"
	env_line POSTIE_TEST_CLIENT_CERT "$TLS_DIR/client.pem"
	env_line POSTIE_TEST_CLIENT_KEY "$TLS_DIR/client.key"
}
