# The DKIM verifiers the tests check postie's signatures with (sourced by
# scripts/servers.sh, never run). No daemon and no port: everything is
# offline, and no DNS query is ever made.
#
# scripts/servers/dkim_verify.py verifies a batch of messages (a JSON list
# of {"message": PATH, "keys": {"SEL._domainkey.DOMAIN": "v=DKIM1; ..."}})
# with two independent verifiers and prints one JSON result per message
# (format in its docstring):
#   * dkimpy (PyPI's dkimpy, Ed25519 through PyNaCl; installed with pip, or
#     Debian's python3-dkim/python3-nacl where there is no pip), each
#     DKIM-Signature verified on its own (dkim.DKIM(msg).verify(idx=i)), the
#     key given through its DNS callback;
#   * OpenDKIM (Debian's opendkim 2.11, never started as a service): the
#     filter's test mode, `opendkim -x CONF -vv -t -`, which runs the message
#     through its milter callbacks without an MTA; CONF has "Mode v" and
#     "TestPublicKeys FILE", so libopendkim reads the key records from FILE
#     instead of DNS. Its Authentication-Results field gives one result per
#     signature. One process per message (~10 ms).
# A batch of 40 messages with two signatures each takes ~0.6 s.
#
# `start` makes fresh keys under $POSTIE_TEST_DIR/dkim (POSTIE_TEST_DKIM_DIR),
# for the domain example.org:
#   rsa2048.pem        RSA-2048, PKCS#8 PEM (POSTIE_TEST_DKIM_RSA_KEY),
#   rsa2048.pkcs1.pem  the same as PKCS#1 ("BEGIN RSA PRIVATE KEY"),
#                      selector rsa2048 (POSTIE_TEST_DKIM_RSA_SELECTOR)
#   ed25519.pem        Ed25519, PKCS#8 PEM (POSTIE_TEST_DKIM_ED25519_KEY),
#   ed25519.raw        its 32-byte seed in base64 (RFC 8463's form),
#                      selector ed25519 (POSTIE_TEST_DKIM_ED25519_SELECTOR)
#   keys.json          {"rsa2048._domainkey.example.org": "v=DKIM1; k=rsa; p=...",
#                       "ed25519._domainkey.example.org": "v=DKIM1; k=ed25519; p=..."}
#                      (POSTIE_TEST_DKIM_KEYS; the records are also in
#                      POSTIE_TEST_DKIM_RSA_TXT and POSTIE_TEST_DKIM_ED25519_TXT)
# `ready` signs a sample with dkimpy (Ed25519 relaxed/relaxed, RSA
# simple/simple above it, From over-signed), stores it and a tampered copy
# (sample.eml, sample-tampered.eml, LF line ends as in a Maildir), and
# checks that both verifiers pass the first and fail the second.
#
# Environment:
#   POSTIE_TEST_DKIM_VERIFY   the command: append the batch file (or - and
#                             give it on stdin); words split on spaces
#                             (also as POSTIE_TEST_DKIM_PYTHON + _SCRIPT)
#   POSTIE_TEST_DKIM_VERSION  "dkimpy X, OpenDKIM Y" (also _DKIMPY_VERSION,
#                             _OPENDKIM_VERSION)
#   POSTIE_TEST_DKIM_DOMAIN   example.org
# "Running" means: the keys are there and the self-test passed; `stop`
# only says it is not (the files are kept).
# shellcheck shell=bash

SERVERS+=(dkim)

DKIM_DIR=$TEST_DIR/dkim
DKIM_SCRIPT=$SERVERS_DIR/dkim_verify.py
DKIM_DOMAIN=$MAIL_DOMAIN
DKIM_OK=$DKIM_DIR/ready # written once the self-test passed
DKIM_LOG=$DKIM_DIR/dkim.log
DKIM_KEYGEN=

have_dkimpy() { python3 -c 'import dkim, nacl.signing' >/dev/null 2>&1; }

opendkim_bin() { command -v opendkim 2>/dev/null || echo /usr/sbin/opendkim; }

install_dkimpy() {
	if python3 -m pip --version >/dev/null 2>&1; then
		log "pip install dkimpy pynacl"
		local -a pip_env=(PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1)
		# Debian's own python3 refuses pip installs (PEP 668) unless told otherwise.
		if python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))' 2>/dev/null; then
			pip_env+=(PIP_BREAK_SYSTEM_PACKAGES=1)
		fi
		env "${pip_env[@]}" python3 -m pip install -q dkimpy pynacl || warn "pip install dkimpy pynacl failed"
	fi
	have_dkimpy && return 0
	# No pip: Debian's packages, when python3 is Debian's interpreter.
	case "$(readlink -f "$(command -v python3)")" in
	/usr/bin/python3*) apt_install python3-dkim python3-nacl ;;
	esac
	have_dkimpy || die "could not install dkimpy and PyNaCl for $(command -v python3)"
}

# dkim_keygen DIR: both key pairs and their TXT records (run in the
# background by dkim_start: RSA-2048 takes 0.1-1 s).
dkim_keygen() {
	local dir=$1 rsa ed
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/rsa2048.pem" 2>/dev/null &&
		openssl pkey -in "$dir/rsa2048.pem" -traditional -out "$dir/rsa2048.pkcs1.pem" &&
		openssl genpkey -algorithm ed25519 -out "$dir/ed25519.pem" &&
		chmod 0644 "$dir"/*.pem || return 1
	# p= of an RSA key: the SubjectPublicKeyInfo; of an Ed25519 key: the
	# raw 32 bytes (RFC 8463), the end of its SubjectPublicKeyInfo.
	rsa=$(openssl pkey -in "$dir/rsa2048.pem" -pubout -outform DER | base64 -w0) &&
		ed=$(openssl pkey -in "$dir/ed25519.pem" -pubout -outform DER | tail -c 32 | base64 -w0) &&
		openssl pkey -in "$dir/ed25519.pem" -outform DER | tail -c 32 | base64 -w0 >"$dir/ed25519.raw" || return 1
	echo "v=DKIM1; k=rsa; p=$rsa" >"$dir/rsa2048.txt"
	echo "v=DKIM1; k=ed25519; p=$ed" >"$dir/ed25519.txt"
	printf '{\n "rsa2048._domainkey.%s": "%s",\n "ed25519._domainkey.%s": "%s"\n}\n' \
		"$DKIM_DOMAIN" "v=DKIM1; k=rsa; p=$rsa" "$DKIM_DOMAIN" "v=DKIM1; k=ed25519; p=$ed" \
		>"$dir/keys.json"
}

dkim_verify_command() { echo "$PYTHON $DKIM_SCRIPT --opendkim $(opendkim_bin)"; }

dkim_version_of() { awk -v n="$1" '$1 == n { print $2 }' "$DKIM_DIR/versions" 2>/dev/null; }

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

dkim_ports() { :; } # none

dkim_install() {
	have_dkimpy || install_dkimpy
	command -v opendkim >/dev/null 2>&1 || apt_install opendkim
}

dkim_start() {
	rm -rf "${DKIM_DIR:?}"
	mkdir -p "$DKIM_DIR"
	printf 'domain %s\nrsa2048 rsa2048\ned25519 ed25519\n' "$DKIM_DOMAIN" >"$DKIM_DIR/selectors"
	log "making DKIM keys in $DKIM_DIR"
	dkim_keygen "$DKIM_DIR" >>"$DKIM_LOG" 2>&1 &
	DKIM_KEYGEN=$!
}

dkim_ready() {
	if [ -n "$DKIM_KEYGEN" ]; then
		wait "$DKIM_KEYGEN" || die "making the DKIM keys failed"
		DKIM_KEYGEN=
	fi
	# shellcheck disable=SC2046 # the command's words
	$(dkim_verify_command) --self-test "$DKIM_DIR" >>"$DKIM_LOG" 2>&1 ||
		die "DKIM self-test failed (details in $DKIM_DIR/self-test.json)"
	touch "$DKIM_OK"
}

dkim_stop() {
	if [ -n "$DKIM_KEYGEN" ] && pid_alive "$DKIM_KEYGEN"; then
		kill "$DKIM_KEYGEN" 2>/dev/null || true
	fi
	rm -f "$DKIM_OK"
}

dkim_status() {
	if [ -f "$DKIM_OK" ] && [ -x "$(opendkim_bin)" ]; then
		log "dkim verifiers ready (no daemon; keys in $DKIM_DIR)"
	else
		log "dkim verifiers not ready"
		return 1
	fi
}

dkim_env() {
	local dkimpy opendkim
	dkimpy=$(dkim_version_of dkimpy)
	opendkim=$(dkim_version_of opendkim)
	env_line POSTIE_TEST_DKIM_VERSION "dkimpy $dkimpy, OpenDKIM $opendkim"
	env_line POSTIE_TEST_DKIM_DKIMPY_VERSION "$dkimpy"
	env_line POSTIE_TEST_DKIM_OPENDKIM_VERSION "$opendkim"
	env_line POSTIE_TEST_DKIM_VERIFY "$(dkim_verify_command)"
	env_line POSTIE_TEST_DKIM_PYTHON "$PYTHON"
	env_line POSTIE_TEST_DKIM_SCRIPT "$DKIM_SCRIPT"
	env_line POSTIE_TEST_DKIM_DIR "$DKIM_DIR"
	env_line POSTIE_TEST_DKIM_DOMAIN "$DKIM_DOMAIN"
	env_line POSTIE_TEST_DKIM_KEYS "$DKIM_DIR/keys.json"
	env_line POSTIE_TEST_DKIM_RSA_SELECTOR rsa2048
	env_line POSTIE_TEST_DKIM_RSA_KEY "$DKIM_DIR/rsa2048.pem"
	env_line POSTIE_TEST_DKIM_RSA_TXT "$(cat "$DKIM_DIR/rsa2048.txt")"
	env_line POSTIE_TEST_DKIM_ED25519_SELECTOR ed25519
	env_line POSTIE_TEST_DKIM_ED25519_KEY "$DKIM_DIR/ed25519.pem"
	env_line POSTIE_TEST_DKIM_ED25519_TXT "$(cat "$DKIM_DIR/ed25519.txt")"
}

dkim_logs() { echo "$DKIM_LOG"; }

dkim_summary() {
	log "dkim     dkimpy $(dkim_version_of dkimpy) + OpenDKIM $(dkim_version_of opendkim) (offline, no daemon), keys in $DKIM_DIR"
}
