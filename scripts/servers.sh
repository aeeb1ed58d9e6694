#!/usr/bin/env bash
# Start and stop the SMTP servers that postie's integration tests talk to.
#
#   scripts/servers.sh start    install what is missing, (re)start all servers,
#                               check them, write $POSTIE_TEST_DIR/env.sh
#   scripts/servers.sh stop     stop all servers (state is kept for inspection)
#   scripts/servers.sh status   say what is running
#
# Must run as root (apt-get, and the Postfix master runs as root).
#
# Servers (loopback only, nothing is ever sent off this machine). In
# env.sh each address is exported as HOST:PORT (variable in brackets):
#   * a private Postfix instance, config in $POSTIE_TEST_DIR/postfix/etc. Domain
#     example.org is delivered to one Maildir per local part:
#       $POSTIE_TEST_DIR/postfix/mail/example.org/<localpart>/new/
#     RCPT nobody@example.org -> 550 5.1.1, busy@example.org -> 450 4.2.1,
#     any other domain -> "554 5.7.1 <x@elsewhere.test>: Relay access denied"
#     unless the client has authenticated (AUTH, or a client certificate on
#     port 10033). Authenticated clients may relay, but only relay.test is
#     "delivered" (to the same kind of Maildirs,
#     $POSTIE_TEST_DIR/postfix/mail/relay.test/<localpart>/new/); every other
#     relayed recipient bounces locally (default_transport = error).
#     Any recipient @discard.test is accepted from anyone on every listener,
#     queued, and thrown away (discard(8)): for throughput benchmarks.
#     Listeners, all for the same domains and Maildirs:
#       127.0.0.1:10025 (POSTIE_TEST_POSTFIX)   plain SMTP, no STARTTLS, no AUTH,
#           exactly as before TLS was added (with POSTIE_POSTFIX_PLAIN_STARTTLS=1:
#           STARTTLS offered and AUTH after it, like port 10032)
#       127.0.0.1:10032 (POSTIE_TEST_POSTFIX_STARTTLS)  STARTTLS offered
#           (may), AUTH only after STARTTLS
#       127.0.0.1:10027 (POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED)  STARTTLS
#           required before MAIL (530 5.7.0), AUTH only after STARTTLS
#       127.0.0.1:10465 (POSTIE_TEST_POSTFIX_SMTPS)  implicit TLS, AUTH
#       127.0.0.1:10028 (POSTIE_TEST_POSTFIX_AUTH_PLAIN)  no TLS at all, AUTH
#           offered in clear (PLAIN and LOGIN included)
#       127.0.0.1:10029 (POSTIE_TEST_POSTFIX_WRONG_NAME)  like 10032, but the
#           certificate is for wrong.example only
#       127.0.0.1:10030 (POSTIE_TEST_POSTFIX_SELF_SIGNED)  like 10032, but a
#           self-signed certificate (not from the test CA)
#       127.0.0.1:10033 (POSTIE_TEST_POSTFIX_CLIENT_CERT)  STARTTLS required
#           (530 5.7.0 before it) and a client certificate from the test CA
#           required (smtpd_tls_req_ccert; POSTIE_TEST_CLIENT_CERT and
#           POSTIE_TEST_CLIENT_KEY). No AUTH. A client with a verified
#           certificate may relay (so RCPT <x@relay.test> -> 250 proves the
#           certificate was presented and verified; other domains get
#           550 5.7.1 as for authenticated clients). Without a certificate
#           the TLS handshake (1.2 and 1.3) succeeds; Postfix sends nothing
#           until the first command after it (normally EHLO), answers that
#           one, whatever it is, with
#           "421 4.7.1 postfix.test Error: No client certificate presented"
#           and closes the connection. A certificate that does not verify
#           (not from the test CA, or without clientAuth) gets
#           "421 4.7.1 postfix.test Error: Client certificate not trusted".
#       127.0.0.1:10034 (POSTIE_TEST_POSTFIX_BARE)  like 10025, but the EHLO
#           reply leaves out PIPELINING, 8BITMIME, SMTPUTF8, DSN, CHUNKING and
#           SIZE (smtpd_discard_ehlo_keywords): a real server without the
#           extensions, for the "not offered" half of each extension test
#       127.0.0.1:10035 (POSTIE_TEST_POSTFIX_SHORT_IDLE)  like 10025, but
#           smtpd_timeout=2s: an idle connection is closed (421 4.4.2) after
#           2 s, for the pool and session tests
#       127.0.0.1:10037 (POSTIE_TEST_POSTFIX_SUBMISSION)  the benchmarks' W6
#           submission listener: STARTTLS required (530 5.7.0 before it),
#           then AUTH offering PLAIN alone (smtpd_sasl_mechanism_filter), so
#           every client authenticates the same way; mail to @discard.test
#           is queued and discarded as on every listener
#     AUTH is Cyrus SASL with a sasldb (auxprop), mechanisms PLAIN LOGIN
#     CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256, realm postfix.test.
#     Users: alice / wonderland-secret, bob / "b0b-p@ss wörd" (UTF-8, with a
#     space). Log in as "alice" (or "alice@postfix.test", the same user).
#     Wrong password: "535 5.7.8 Error: authentication failed: ...".
#   * aiosmtpd (scripts/servers/aiosmtpd_store.py) on 127.0.0.1:10026
#     (POSTIE_TEST_AIOSMTPD), storing every accepted message as NNNNNN.eml +
#     NNNNNN.json in $POSTIE_TEST_DIR/aiosmtpd/messages (POSTIE_TEST_AIOSMTPD_DIR).
#     RCPT reject*@... -> 550 5.1.1, defer*@... -> 450 4.2.1.
#   * a second aiosmtpd, same script, on 127.0.0.1:10031
#     (POSTIE_TEST_AIOSMTPD_OAUTH), messages in $POSTIE_TEST_DIR/aiosmtpd-oauth/
#     messages (POSTIE_TEST_AIOSMTPD_OAUTH_DIR): AUTH required, offered in
#     clear, only "AUTH OAUTHBEARER XOAUTH2", accepting user alice@example.org
#     with token ya29.test-token; a wrong token gets Gmail's JSON error
#     challenge, then 535 5.7.8 (details in aiosmtpd_store.py).
#   * an LMTP server (RFC 2033; scripts/servers/lmtp_store.py, aiosmtpd's
#     LMTP class), one process listening on 127.0.0.1:10036 (POSTIE_TEST_LMTP)
#     and on the Unix socket $POSTIE_TEST_DIR/lmtp/lmtp.sock, mode 0666
#     (POSTIE_TEST_LMTP_SOCKET); both the same. Greets "220 lmtp.test ...";
#     LHLO offers SIZE 33554432, 8BITMIME, SMTPUTF8, PIPELINING and
#     ENHANCEDSTATUSCODES; EHLO and HELO get 500. MAIL -> 250 2.1.0.
#     RCPT reject*@... -> 550 5.1.1 no such user, anything else ->
#     250 2.1.5 OK. After the end of DATA one reply per accepted recipient,
#     in RCPT order: lmtpfail*@... -> "550 5.2.1 <addr> mailbox unavailable",
#     lmtpdefer*@... -> "452 4.2.2 <addr> mailbox full", any other ->
#     "250 2.0.0 <addr> delivered" and stored as NNNNNN.eml + NNNNNN.json
#     ({"mail_from", "rcpt_to", "mail_options", "rcpt_options"}) in
#     $POSTIE_TEST_DIR/lmtp/messages/<localpart>/ (POSTIE_TEST_LMTP_DIR; local
#     part lower-cased; details in lmtp_store.py).
#
# TLS: a test CA made with openssl at start, in $POSTIE_TEST_DIR/tls
# (POSTIE_TEST_TLS_DIR; EC P-256 keys, valid 2 days, made again when missing
# or when less than a day is left):
#   ca.pem, ca.key              the CA (POSTIE_TEST_CA = ca.pem)
#   server.pem, server.key      localhost, postfix.test, IP 127.0.0.1
#   wrongname.pem, .key         wrong.example only, signed by the CA
#   selfsigned.pem, .key        localhost, 127.0.0.1, self-signed
#   client.pem, client.key      client certificate (clientAuth) from the CA
# Keys are world-readable: they are test keys, good for nothing else.
#
# env.sh also exports the credentials: POSTIE_TEST_SASL_USER(2),
# POSTIE_TEST_SASL_PASSWORD(2), POSTIE_TEST_OAUTH_USER, POSTIE_TEST_OAUTH_TOKEN,
# and the client certificate: POSTIE_TEST_CLIENT_CERT (client.pem) and
# POSTIE_TEST_CLIENT_KEY (client.key).
#
# `start` always begins from a clean state: it stops a previous instance and
# deletes the previous instance's mail, queued messages and logs (the CA is
# kept while it is valid).
#
# Environment:
#   POSTIE_TEST_DIR        state directory (default: <repo>/.test-servers)
#   Ports (defaults in brackets):
#   POSTIE_POSTFIX_PORT [10025]                  POSTIE_AIOSMTPD_PORT [10026]
#   POSTIE_POSTFIX_STARTTLS_PORT [10032]         POSTIE_AIOSMTPD_OAUTH_PORT [10031]
#   POSTIE_POSTFIX_STARTTLS_REQUIRED_PORT [10027]
#   POSTIE_POSTFIX_SMTPS_PORT [10465]            POSTIE_POSTFIX_AUTH_PLAIN_PORT [10028]
#   POSTIE_POSTFIX_WRONG_NAME_PORT [10029]       POSTIE_POSTFIX_SELF_SIGNED_PORT [10030]
#   POSTIE_POSTFIX_CLIENTCERT_PORT [10033]      POSTIE_POSTFIX_BARE_PORT [10034]
#   POSTIE_POSTFIX_SHORT_IDLE_PORT [10035]       POSTIE_LMTP_PORT [10036]
#   POSTIE_POSTFIX_SUBMISSION_PORT [10037]
#   POSTIE_POSTFIX_PLAIN_STARTTLS  1: port 10025 offers STARTTLS and AUTH after
#                          it too (off by default: postie's default is
#                          opportunistic STARTTLS with verification, so the
#                          tests that use 10025 would then need the test CA)
set -euo pipefail
umask 022

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

TEST_DIR=${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}
case $TEST_DIR in
/*) ;;
*) TEST_DIR=$PWD/$TEST_DIR ;;
esac
TEST_DIR=${TEST_DIR%/}

LISTEN_HOST=127.0.0.1
POSTFIX_PORT=${POSTIE_POSTFIX_PORT:-10025}
AIOSMTPD_PORT=${POSTIE_AIOSMTPD_PORT:-10026}
STARTTLS_PORT=${POSTIE_POSTFIX_STARTTLS_PORT:-10032}
STARTTLS_REQUIRED_PORT=${POSTIE_POSTFIX_STARTTLS_REQUIRED_PORT:-10027}
SMTPS_PORT=${POSTIE_POSTFIX_SMTPS_PORT:-10465}
AUTH_PLAIN_PORT=${POSTIE_POSTFIX_AUTH_PLAIN_PORT:-10028}
WRONG_NAME_PORT=${POSTIE_POSTFIX_WRONG_NAME_PORT:-10029}
SELF_SIGNED_PORT=${POSTIE_POSTFIX_SELF_SIGNED_PORT:-10030}
CLIENTCERT_PORT=${POSTIE_POSTFIX_CLIENTCERT_PORT:-10033}
BARE_PORT=${POSTIE_POSTFIX_BARE_PORT:-10034}
SHORT_IDLE_PORT=${POSTIE_POSTFIX_SHORT_IDLE_PORT:-10035}
SUBMISSION_PORT=${POSTIE_POSTFIX_SUBMISSION_PORT:-10037}
AIOSMTPD_OAUTH_PORT=${POSTIE_AIOSMTPD_OAUTH_PORT:-10031}
LMTP_PORT=${POSTIE_LMTP_PORT:-10036}
PLAIN_STARTTLS=${POSTIE_POSTFIX_PLAIN_STARTTLS:-0}

# Every port with the variable that sets it and what listens there, for the
# checks in cmd_start.
PORT_VARS=(
	"$POSTFIX_PORT POSTIE_POSTFIX_PORT Postfix"
	"$AIOSMTPD_PORT POSTIE_AIOSMTPD_PORT aiosmtpd"
	"$STARTTLS_PORT POSTIE_POSTFIX_STARTTLS_PORT Postfix STARTTLS"
	"$STARTTLS_REQUIRED_PORT POSTIE_POSTFIX_STARTTLS_REQUIRED_PORT Postfix STARTTLS required"
	"$SMTPS_PORT POSTIE_POSTFIX_SMTPS_PORT Postfix SMTPS"
	"$AUTH_PLAIN_PORT POSTIE_POSTFIX_AUTH_PLAIN_PORT Postfix AUTH in clear"
	"$WRONG_NAME_PORT POSTIE_POSTFIX_WRONG_NAME_PORT Postfix wrong-name certificate"
	"$SELF_SIGNED_PORT POSTIE_POSTFIX_SELF_SIGNED_PORT Postfix self-signed certificate"
	"$CLIENTCERT_PORT POSTIE_POSTFIX_CLIENTCERT_PORT Postfix client certificate required"
	"$BARE_PORT POSTIE_POSTFIX_BARE_PORT Postfix without extensions"
	"$SHORT_IDLE_PORT POSTIE_POSTFIX_SHORT_IDLE_PORT Postfix with a 2 s idle timeout"
	"$SUBMISSION_PORT POSTIE_POSTFIX_SUBMISSION_PORT Postfix submission (benchmarks)"
	"$AIOSMTPD_OAUTH_PORT POSTIE_AIOSMTPD_OAUTH_PORT aiosmtpd OAuth"
	"$LMTP_PORT POSTIE_LMTP_PORT LMTP"
)

# Test CA and certificates (see ensure_tls).
TLS_DIR=$TEST_DIR/tls
TLS_DAYS=2                 # validity of every certificate
TLS_MIN_LEFT=86400         # made again when less than this is left (seconds)
TLS_FILES=(ca.pem ca.key server.pem server.key wrongname.pem wrongname.key
	selfsigned.pem selfsigned.key client.pem client.key)

# SASL users (Cyrus sasldb) and the OAuth server's one user.
SASL_REALM=postfix.test    # = myhostname = smtpd_sasl_local_domain
SASL_MECHS="PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256"
SASL_USER=alice
SASL_PASSWORD=wonderland-secret
SASL_USER2=bob
SASL_PASSWORD2='b0b-p@ss wörd'
OAUTH_USER=alice@example.org
OAUTH_TOKEN=ya29.test-token
RELAY_DOMAIN=relay.test    # relayed by authenticated clients into a Maildir
DISCARD_DOMAIN=discard.test  # accepted from anyone, queued, then discarded (benchmarks)

# Postfix instance layout. $PF_LINK is $POSTIE_TEST_DIR/postfix: normally the
# instance's directory itself, but a symlink to a directory under /var/tmp
# when the unprivileged Postfix users cannot reach $POSTIE_TEST_DIR (see
# choose_postfix_dir). Postfix is always configured with the real paths.
PF_LINK=$TEST_DIR/postfix
PF_MAIL=$PF_LINK/mail        # the Maildirs, as the tests see them
PF_MASTER=/usr/lib/postfix/sbin/master
VMAIL_USER=postie-test       # delivery runs as this user (pipe(8) refuses root)
DELIVER_SRC=$SCRIPT_DIR/servers/maildir_deliver.sh
MAIL_DOMAIN=example.org

set_postfix_dir() {
	PF_DIR=$1
	PF_ETC=$PF_DIR/etc         # config_directory (postfix -c)
	PF_QUEUE=$PF_DIR/queue     # queue_directory
	PF_DATA=$PF_DIR/data       # data_directory
	PF_LOG=$PF_DIR/maillog     # maillog_file
	MAIL_BASE=$PF_DIR/mail     # Maildirs: $MAIL_BASE/example.org/<localpart>/
	DELIVER=$PF_DIR/bin/maildir_deliver.sh
	SASL_CONF_DIR=$PF_ETC/sasl # cyrus_sasl_config_path: smtpd.conf
	SASLDB=$PF_DIR/sasldb2     # the users (readable by group postfix)
}
if [ -L "$PF_LINK" ]; then
	set_postfix_dir "$(readlink -f "$PF_LINK")"
else
	set_postfix_dir "$PF_LINK"
fi

# aiosmtpd layout: the plain server, and the OAuth server (AIO_OAUTH_*).
AIO_DIR=$TEST_DIR/aiosmtpd
AIO_MAIL=$AIO_DIR/messages
AIO_PID=$AIO_DIR/aiosmtpd.pid
AIO_LOG=$AIO_DIR/aiosmtpd.log
AIO_OAUTH_DIR=$TEST_DIR/aiosmtpd-oauth
AIO_OAUTH_MAIL=$AIO_OAUTH_DIR/messages
AIO_OAUTH_PID=$AIO_OAUTH_DIR/aiosmtpd.pid
AIO_OAUTH_LOG=$AIO_OAUTH_DIR/aiosmtpd.log
AIO_SCRIPT=$SCRIPT_DIR/servers/aiosmtpd_store.py

# The LMTP server (also aiosmtpd): TCP and a Unix socket, one process.
LMTP_DIR=$TEST_DIR/lmtp
LMTP_MAIL=$LMTP_DIR/messages # one directory per local part
LMTP_SOCKET=$LMTP_DIR/lmtp.sock
LMTP_PID=$LMTP_DIR/lmtp.pid
LMTP_LOG=$LMTP_DIR/lmtp.log
LMTP_SCRIPT=$SCRIPT_DIR/servers/lmtp_store.py

PROBE=$SCRIPT_DIR/servers/smtp_probe.py

ENV_FILE=$TEST_DIR/env.sh

WAIT_SECONDS=20
PYTHON=python3

log() { printf 'servers.sh: %s\n' "$*"; }
warn() { printf 'servers.sh: %s\n' "$*" >&2; }
die() {
	warn "error: $*"
	exit 1
}

require_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get; the Postfix master runs as root)"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------
# Installation (only what is missing, so a second run does no network I/O)
# ---------------------------------------------------------------------------

APT_UPDATED=
apt_update_once() {
	if [ -z "$APT_UPDATED" ]; then
		log "apt-get update"
		apt-get update -q
		APT_UPDATED=1
	fi
}

apt_install() {
	apt_update_once
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

deb_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

have_aiosmtpd() { python3 -c 'import aiosmtpd' >/dev/null 2>&1; }

python_is_externally_managed() {
	python3 - <<'EOF' >/dev/null 2>&1
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)
EOF
}

install_aiosmtpd() {
	if python3 -m pip --version >/dev/null 2>&1; then
		log "pip install aiosmtpd"
		local -a pip_env=(PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1)
		# Debian's own python3 refuses pip installs (PEP 668) unless told otherwise.
		if python_is_externally_managed; then
			pip_env+=(PIP_BREAK_SYSTEM_PACKAGES=1)
		fi
		env "${pip_env[@]}" python3 -m pip install -q aiosmtpd || warn "pip install aiosmtpd failed"
	fi
	have_aiosmtpd && return 0
	# No pip (e.g. Debian's python3 without python3-pip): use Debian's package
	# when python3 is Debian's interpreter.
	case "$(readlink -f "$(command -v python3)")" in
	/usr/bin/python3*) apt_install python3-aiosmtpd ;;
	*)
		python3 -m ensurepip -q >/dev/null 2>&1 || true
		PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q aiosmtpd || true
		;;
	esac
	have_aiosmtpd || die "could not install the aiosmtpd Python package for $(command -v python3)"
}

ensure_installed() {
	# libsasl2-modules: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-*;
	# libsasl2-modules-db: the sasldb auxprop plugin; sasl2-bin: saslpasswd2.
	if ! command -v postfix >/dev/null 2>&1 ||
		! command -v saslpasswd2 >/dev/null 2>&1 ||
		! deb_installed libsasl2-modules ||
		! deb_installed libsasl2-modules-db; then
		apt_update_once
		# Install the binaries only: no system-wide main.cf, no default instance.
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		apt_install postfix sasl2-bin libsasl2-modules libsasl2-modules-db
	fi
	[ -x "$PF_MASTER" ] || die "$PF_MASTER not found after installing postfix"
	command -v openssl >/dev/null 2>&1 || apt_install openssl
	command -v python3 >/dev/null 2>&1 || apt_install python3
	have_aiosmtpd || install_aiosmtpd
	command -v setpriv >/dev/null 2>&1 || apt_install util-linux
	# The interpreter itself, not a wrapper such as pyenv's shim (saves ~0.1 s
	# per call).
	PYTHON=$(python3 -c 'import sys; print(sys.executable)')
}

# The Maildir delivery script runs as this user (pipe(8) will not run as root).
ensure_vmail_user() {
	if ! getent passwd "$VMAIL_USER" >/dev/null; then
		log "creating system user $VMAIL_USER (owner of the test Maildirs)"
		if getent group "$VMAIL_USER" >/dev/null; then
			useradd --system --gid "$VMAIL_USER" --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$VMAIL_USER"
		else
			useradd --system --user-group --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$VMAIL_USER"
		fi
	fi
	VMAIL_UID=$(id -u "$VMAIL_USER")
	VMAIL_GID=$(id -g "$VMAIL_USER")
}

# ---------------------------------------------------------------------------
# Test CA and certificates
# ---------------------------------------------------------------------------

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

# ---------------------------------------------------------------------------
# Cyrus SASL: smtpd.conf and the sasldb, made again on every start
# ---------------------------------------------------------------------------

write_sasl_config() {
	mkdir -p "$SASL_CONF_DIR"
	# Postfix asks Cyrus for application "smtpd" (smtpd_sasl_path), so
	# Cyrus reads smtpd.conf from cyrus_sasl_config_path.
	cat >"$SASL_CONF_DIR/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $SASLDB
mech_list: $SASL_MECHS
EOF
	rm -f "$SASLDB"
	local -a users=("$SASL_USER" "$SASL_PASSWORD" "$SASL_USER2" "$SASL_PASSWORD2")
	local i
	for ((i = 0; i < ${#users[@]}; i += 2)); do
		# -p: the password comes from stdin, as is (no prompt, no newline).
		printf '%s' "${users[i + 1]}" |
			saslpasswd2 -c -p -f "$SASLDB" -u "$SASL_REALM" "${users[i]}" ||
			die "saslpasswd2 could not add ${users[i]} to $SASLDB"
	done
	# smtpd checks passwords as the postfix user.
	chown root:postfix "$SASLDB"
	chmod 640 "$SASLDB"
}

# ---------------------------------------------------------------------------
# Postfix configuration. main.cf and master.cf are written from scratch.
#
# main.cf holds what all listeners share, with TLS and AUTH off; each
# listener in master.cf turns on what it offers with -o overrides.
# ---------------------------------------------------------------------------

# Evaluated in order at RCPT time. permit_sasl_authenticated only matters on
# the listeners with AUTH.
SMTPD_RELAY_RESTRICTIONS="permit_sasl_authenticated, reject_unauth_destination"
SMTPD_RECIPIENT_RESTRICTIONS="check_recipient_access regexp:\$config_directory/recipient_access.regexp"

main_cf_common() {
	cat <<EOF
# Generated by scripts/servers.sh; rewritten on every start. Do not edit.
compatibility_level = 3.6

# Private instance: everything lives under $PF_DIR.
# (config_directory is given by "postfix -c $PF_ETC".)
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
syslog_name = postfix-postie
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR

myhostname = postfix.test
mydomain = postfix.test
myorigin = \$myhostname
mydestination =
relay_domains = $DISCARD_DOMAIN
relayhost =
inet_interfaces = loopback-only
inet_protocols = ipv4

# Nobody is trusted by address: permit_mynetworks can never match, and no
# client gets its headers rewritten or completed (no added From:, Date:,
# Message-ID:, no address rewriting of headers).
mynetworks =
local_header_rewrite_clients =
remote_header_rewrite_domain =
always_add_missing_headers = no
append_dot_mydomain = no
recipient_delimiter =

local_recipient_maps =
alias_maps =
alias_database =
biff = no
smtputf8_enable = yes

# Nothing is ever delivered off this machine or to local(8) users.
default_transport = error:5.7.1 delivery off this test server is disabled
relay_transport = error:5.7.1 delivery off this test server is disabled
local_transport = error:5.1.1 local delivery is disabled on this test server

# Fast, forgiving settings for tests.
smtpd_banner = \$myhostname ESMTP postie test server
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0s
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000
in_flow_delay = 0s
EOF
}

main_cf_delivery() {
	cat <<EOF

# $MAIL_DOMAIN: one Maildir per local part, $MAIL_BASE/$MAIL_DOMAIN/<localpart>/.
# virtual_mailbox_maps only says which local parts exist (smtpd checks it at
# RCPT time); the "maildir" pipe(8) service in master.cf delivers, one
# recipient at a time, because virtual(8) refuses regexp substitution (\$1) in
# virtual_mailbox_maps and so cannot make a Maildir per local part.
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = regexp:\$config_directory/virtual_mailboxes.regexp
virtual_transport = maildir
maildir_destination_recipient_limit = 1

# $RELAY_DOMAIN is no domain of ours (so reject_unauth_destination refuses it
# to unauthenticated clients), but what authenticated clients (AUTH, or a
# verified client certificate) relay to it goes to the same Maildir
# delivery: $MAIL_BASE/$RELAY_DOMAIN/<localpart>/.
transport_maps = inline:{ $RELAY_DOMAIN=maildir:, $DISCARD_DOMAIN=discard: }

# $DISCARD_DOMAIN takes any recipient from anyone and throws the message
# away after queueing it (discard(8)), for throughput benchmarks where
# delivery must not be what limits the rate.
EOF
}

main_cf_tls() {
	cat <<EOF

# TLS: off here, turned on per listener in master.cf. Certificates from the
# test CA in $TLS_DIR.
smtpd_tls_security_level = none
smtpd_tls_cert_file = $TLS_DIR/server.pem
smtpd_tls_key_file = $TLS_DIR/server.key
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = no
smtpd_tls_session_cache_database =
EOF
}

main_cf_sasl() {
	cat <<EOF

# AUTH: Cyrus SASL, sasldb via auxprop ($SASL_CONF_DIR/smtpd.conf). Off here,
# turned on per listener in master.cf. Users live in realm $SASL_REALM.
smtpd_sasl_auth_enable = no
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASL_CONF_DIR
smtpd_sasl_local_domain = $SASL_REALM
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = no
broken_sasl_auth_clients = no
EOF
}

main_cf_restrictions() {
	cat <<EOF

smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_relay_restrictions = $SMTPD_RELAY_RESTRICTIONS
smtpd_recipient_restrictions = $SMTPD_RECIPIENT_RESTRICTIONS
EOF
}

write_main_cf() {
	main_cf_common
	main_cf_delivery
	main_cf_restrictions
	main_cf_tls
	main_cf_sasl
}

# master_cf_smtpd_listener HOST:PORT [name=value ...]
# One smtpd(8) listener; each name=value becomes a "-o name=value" override
# ("-o { name = value }" when the value has white space).
master_cf_smtpd_listener() {
	local addr=$1
	shift
	printf '%-20s inet  n       -       n       -       -       smtpd\n' "$addr"
	local opt
	for opt in "$@"; do
		case $opt in
		*[[:space:]]*) printf '  -o { %s = %s }\n' "${opt%%=*}" "${opt#*=}" ;;
		*) printf '  -o %s\n' "$opt" ;;
		esac
	done
}

master_cf_listeners() {
	local h=$LISTEN_HOST
	# STARTTLS offered, AUTH only after it (smtpd_tls_auth_only in main.cf).
	local -a may=(smtpd_tls_security_level=may smtpd_sasl_auth_enable=yes)
	if [ "$PLAIN_STARTTLS" = 1 ]; then
		master_cf_smtpd_listener "$h:$POSTFIX_PORT" "${may[@]}"
	else
		master_cf_smtpd_listener "$h:$POSTFIX_PORT"
	fi
	master_cf_smtpd_listener "$h:$STARTTLS_PORT" syslog_name=postfix-postie/starttls "${may[@]}"
	master_cf_smtpd_listener "$h:$STARTTLS_REQUIRED_PORT" syslog_name=postfix-postie/starttls-required \
		smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes
	master_cf_smtpd_listener "$h:$SMTPS_PORT" syslog_name=postfix-postie/smtps \
		smtpd_tls_wrappermode=yes smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes
	master_cf_smtpd_listener "$h:$AUTH_PLAIN_PORT" syslog_name=postfix-postie/auth-plain \
		smtpd_tls_security_level=none smtpd_sasl_auth_enable=yes smtpd_tls_auth_only=no
	master_cf_smtpd_listener "$h:$WRONG_NAME_PORT" syslog_name=postfix-postie/wrong-name "${may[@]}" \
		"smtpd_tls_cert_file=$TLS_DIR/wrongname.pem" "smtpd_tls_key_file=$TLS_DIR/wrongname.key"
	master_cf_smtpd_listener "$h:$SELF_SIGNED_PORT" syslog_name=postfix-postie/self-signed "${may[@]}" \
		"smtpd_tls_cert_file=$TLS_DIR/selfsigned.pem" "smtpd_tls_key_file=$TLS_DIR/selfsigned.key"
	# STARTTLS required, and a client certificate from the test CA: without
	# a verified one smtpd answers the first command after the handshake
	# with 421 4.7.1 and hangs up (req_ccert is ignored unless the security
	# level is encrypt). A verified certificate may relay (to relay.test,
	# see main_cf_delivery); no AUTH here.
	master_cf_smtpd_listener "$h:$CLIENTCERT_PORT" syslog_name=postfix-postie/client-cert \
		smtpd_tls_security_level=encrypt smtpd_tls_ask_ccert=yes smtpd_tls_req_ccert=yes \
		"smtpd_tls_CAfile=$TLS_DIR/ca.pem" \
		"smtpd_relay_restrictions=permit_tls_all_clientcerts,reject_unauth_destination"
	# The "not offered" server for the extension tests.
	master_cf_smtpd_listener "$h:$BARE_PORT" syslog_name=postfix-postie/bare \
		smtpd_discard_ehlo_keywords=silent-discard,pipelining,8bitmime,smtputf8,dsn,chunking,size
	# Closes a connection idle for 2 s (421 4.4.2), for the pool tests.
	master_cf_smtpd_listener "$h:$SHORT_IDLE_PORT" syslog_name=postfix-postie/short-idle \
		smtpd_timeout=2s
	# The benchmarks' W6: STARTTLS required, then AUTH PLAIN only.
	master_cf_smtpd_listener "$h:$SUBMISSION_PORT" syslog_name=postfix-postie/submission \
		smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes smtpd_sasl_mechanism_filter=plain
}

master_cf_services() {
	# Every service runs without chroot (column 5 = n).
	cat <<'EOF'
pickup               unix  n       -       n       60      1       pickup
cleanup              unix  n       -       n       -       0       cleanup
qmgr                 unix  n       -       n       300     1       qmgr
tlsmgr               unix  -       -       n       1000?   1       tlsmgr
rewrite              unix  -       -       n       -       -       trivial-rewrite
bounce               unix  -       -       n       -       0       bounce
defer                unix  -       -       n       -       0       bounce
trace                unix  -       -       n       -       0       bounce
verify               unix  -       -       n       -       1       verify
flush                unix  n       -       n       1000?   0       flush
proxymap             unix  -       -       n       -       -       proxymap
proxywrite           unix  -       -       n       -       1       proxymap
showq                unix  n       -       n       -       -       showq
error                unix  -       -       n       -       -       error
retry                unix  -       -       n       -       -       error
discard              unix  -       -       n       -       -       discard
anvil                unix  -       -       n       -       1       anvil
scache               unix  -       -       n       -       1       scache
postlog              unix-dgram n  -       n       -       1       postlogd
EOF
}

# Maildir delivery for virtual_transport (see main_cf_delivery), one recipient
# per run of maildir_deliver.sh. pipe(8) flags: D adds Delivered-To:, R adds
# Return-Path: (as virtual(8) would), X = final delivery, h and u fold the
# domain and the local part to lower case (Bob@Example.ORG -> example.org/bob).
master_cf_delivery() {
	printf '%-20s unix  -       n       n       -       -       pipe\n' maildir
	# shellcheck disable=SC2016 # ${domain} and ${user} are pipe(8) macros
	printf '  flags=DRXhu user=%s:%s argv=/bin/sh %s %s ${domain} ${user}\n' \
		"$VMAIL_USER" "$VMAIL_USER" "$DELIVER" "$MAIL_BASE"
}

write_master_cf() {
	echo "# Generated by scripts/servers.sh; rewritten on every start. Do not edit."
	echo "# service            type  private unpriv  chroot  wakeup  maxproc command"
	master_cf_listeners
	master_cf_services
	master_cf_delivery
}

write_maps() {
	# Which local parts exist: any that does not start with a dot nor
	# contain a slash (so no Maildir path can leave $MAIL_DOMAIN/). Postfix
	# looks up local parts that need quoting in quoted form ("a b"@...).
	# The patterns are delimited by % because they contain slashes.
	cat >"$PF_ETC/virtual_mailboxes.regexp" <<'EOF'
%^[^./@"][^/@]*@example\.org$%	OK
%^"[^./"][^/"]*"@example\.org$%	OK
EOF
	cat >"$PF_ETC/recipient_access.regexp" <<'EOF'
/^nobody@example\.org$/	550 5.1.1 no such user
/^busy@example\.org$/	450 4.2.1 mailbox busy, try later
EOF
}

# reachable_by USER DIR: USER can search DIR (and so every directory above it).
reachable_by() {
	setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --clear-groups test -x "$2" 2>/dev/null
}

# The Postfix master opens its lock file in data_directory as the postfix user,
# and the delivery script runs as $VMAIL_USER: both must reach the instance's
# directory. If $POSTIE_TEST_DIR is somewhere they cannot reach (e.g. a clone
# under /root, mode 700), the instance lives under /var/tmp and
# $POSTIE_TEST_DIR/postfix is a symlink to it.
choose_postfix_dir() {
	local dir
	mkdir -p "$TEST_DIR"
	if reachable_by postfix "$TEST_DIR" && reachable_by "$VMAIL_USER" "$TEST_DIR"; then
		[ ! -L "$PF_LINK" ] || rm -f "$PF_LINK"
		dir=$PF_LINK
	else
		dir=/var/tmp/postie-test-$(printf '%s' "$TEST_DIR" | md5sum | cut -c1-12)/postfix
		log "the postfix and $VMAIL_USER users cannot reach $TEST_DIR; the instance lives in $dir"
		mkdir -p "$dir"
		chmod 755 "${dir%/postfix}" "$dir"
		if [ "$(readlink "$PF_LINK" 2>/dev/null || true)" != "$dir" ]; then
			rm -rf "$PF_LINK"
			ln -s "$dir" "$PF_LINK"
		fi
	fi
	set_postfix_dir "$dir"
}

prepare_delivery() {
	mkdir -p "$PF_DIR/bin" "$MAIL_BASE/$MAIL_DOMAIN" "$MAIL_BASE/$RELAY_DOMAIN"
	install -m 755 "$DELIVER_SRC" "$DELIVER"
	# Only the domain directories are writable for the delivery user.
	chown -R "$VMAIL_UID:$VMAIL_GID" "$MAIL_BASE/$MAIL_DOMAIN" "$MAIL_BASE/$RELAY_DOMAIN"
	chmod 755 "$MAIL_BASE" "$MAIL_BASE/$MAIL_DOMAIN" "$MAIL_BASE/$RELAY_DOMAIN"
}

write_postfix_config() {
	mkdir -p "$PF_ETC" "$PF_QUEUE"
	write_main_cf >"$PF_ETC/main.cf"
	write_master_cf >"$PF_ETC/master.cf"
	write_maps
	write_sasl_config
	# Postfix commands wait (in 0.3 s steps, ~1.5 s in all) until main.cf's
	# time stamp is in the past; a freshly written one makes "postfix start"
	# that much slower. Back-date the generated files.
	touch -d "@$(($(date +%s) - 10))" "$PF_ETC"/*
}

# ---------------------------------------------------------------------------
# Process handling
# ---------------------------------------------------------------------------

# pid_alive PID: the process exists and is not a zombie (a daemon that exited
# stays a zombie until init reaps it, which can take a second or two).
pid_alive() {
	local state
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# wait_gone PID SECONDS: 0 once PID is gone, 1 if still alive after SECONDS.
wait_gone() {
	local pid=$1 tries=$(($2 * 10))
	while pid_alive "$pid"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

postfix_master_pid() {
	local pidfile=$PF_QUEUE/pid/master.pid pid
	[ -f "$pidfile" ] || return 1
	pid=$(awk '{ print $1; exit }' "$pidfile")
	[ -n "$pid" ] && pid_alive "$pid" || return 1
	# Only our own master: right binary, working directory = our queue.
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$PF_MASTER" ] || return 1
	[ "$(readlink -f "/proc/$pid/cwd" 2>/dev/null || true)" = "$(readlink -f "$PF_QUEUE")" ] || return 1
	echo "$pid"
}

# aiosmtpd_pid [PIDFILE [SCRIPT]]: the pid of the aiosmtpd that wrote PIDFILE
# (default: the plain server's), if it still runs the script named SCRIPT
# (default: aiosmtpd_store.py).
aiosmtpd_pid() {
	local pidfile=${1:-$AIO_PID} script=${2:-aiosmtpd_store.py} pid
	[ -f "$pidfile" ] || return 1
	pid=$(tr -dc 0-9 <"$pidfile")
	[ -n "$pid" ] && pid_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$script" || return 1
	echo "$pid"
}

lmtp_pid() { aiosmtpd_pid "$LMTP_PID" lmtp_store.py; }

stop_postfix() {
	local pid
	pid=$(postfix_master_pid) || return 0
	log "stopping Postfix (master pid $pid)"
	postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
	if ! wait_gone "$pid" 10; then
		warn "Postfix master $pid did not stop; killing its process group"
		kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || die "cannot stop Postfix master $pid"
	fi
}

# stop_aiosmtpd_at PIDFILE NAME [SCRIPT]
stop_aiosmtpd_at() {
	local pidfile=$1 name=$2 script=${3:-aiosmtpd_store.py} pid
	if pid=$(aiosmtpd_pid "$pidfile" "$script"); then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 10; then
			warn "$name $pid did not stop; killing it"
			kill -9 "$pid" 2>/dev/null || true
			wait_gone "$pid" 5 || die "cannot stop $name $pid"
		fi
	fi
	rm -f "$pidfile"
}

# All three aiosmtpd-based servers, the LMTP one included.
stop_aiosmtpd() {
	stop_aiosmtpd_at "$AIO_PID" aiosmtpd
	stop_aiosmtpd_at "$AIO_OAUTH_PID" "aiosmtpd (OAuth)"
	stop_aiosmtpd_at "$LMTP_PID" LMTP lmtp_store.py
	# The server removes its socket when it stops; not when it was killed.
	rm -f "$LMTP_SOCKET"
}

port_free() { "$PYTHON" "$PROBE" free "$LISTEN_HOST:$1" >/dev/null; }

require_port_free() {
	port_free "$1" && return 0
	warn "$LISTEN_HOST:$1 (for $2) is already in use by another program:"
	if command -v ss >/dev/null 2>&1; then
		ss -ltnp "sport = :$1" >&2 || true
	fi
	die "port $1 is busy; stop that program or set $3 to another port"
}

show_logs() {
	if [ -f "$PF_LOG" ]; then
		warn "---- last lines of $PF_LOG ----"
		tail -n 40 "$PF_LOG" >&2 || true
	else
		warn "(no Postfix log at $PF_LOG)"
	fi
	local f
	for f in "$AIO_LOG" "$AIO_OAUTH_LOG" "$LMTP_LOG"; do
		if [ -f "$f" ]; then
			warn "---- last lines of $f ----"
			tail -n 20 "$f" >&2 || true
		fi
	done
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

on_start_exit() {
	local rc=$1
	[ "$rc" -eq 0 ] && return 0
	warn "start failed (exit $rc)"
	show_logs
	stop_postfix || true
	stop_aiosmtpd || true
	rm -f "$ENV_FILE"
}

start_postfix() {
	log "starting Postfix on $LISTEN_HOST:$POSTFIX_PORT (config $PF_ETC)"
	# Drop whatever a previous run left queued (the master is not running).
	# Not "postsuper -d ALL": without a running postlogd, Postfix commands
	# spend seconds trying to log.
	local q
	for q in incoming active deferred hold corrupt maildrop bounce defer trace flush saved; do
		[ ! -d "$PF_QUEUE/$q" ] || find "$PF_QUEUE/$q" -type f -delete
	done
	if ! postfix -c "$PF_ETC" start; then
		die "postfix -c $PF_ETC start failed"
	fi
}

# launch_server SCRIPT PIDFILE LOG [arguments]
# Starts one Python server in the background (without waiting for it); its
# pid in LAUNCHED.
launch_server() {
	local script=$1 pidfile=$2 logfile=$3
	shift 3
	setsid "$PYTHON" "$script" --pidfile "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
	LAUNCHED=$!
}

# launch_aiosmtpd NAME PORT MESSAGES PIDFILE LOG [extra arguments]
# Starts one aiosmtpd_store.py in the background (without waiting for it).
launch_aiosmtpd() {
	local name=$1 port=$2 dir=$3 pidfile=$4 logfile=$5
	shift 5
	log "starting $name on $LISTEN_HOST:$port (messages in $dir)"
	mkdir -p "$dir"
	launch_server "$AIO_SCRIPT" "$pidfile" "$logfile" \
		--listen "$LISTEN_HOST:$port" --dir "$dir" "$@"
}

# launch_lmtp: lmtp_store.py on TCP and on the Unix socket.
launch_lmtp() {
	log "starting LMTP on $LISTEN_HOST:$LMTP_PORT and $LMTP_SOCKET (messages in $LMTP_MAIL/<localpart>/)"
	mkdir -p "$LMTP_MAIL"
	rm -f "$LMTP_SOCKET"
	launch_server "$LMTP_SCRIPT" "$LMTP_PID" "$LMTP_LOG" \
		--listen "$LISTEN_HOST:$LMTP_PORT" --unix-socket "$LMTP_SOCKET" --dir "$LMTP_MAIL"
}

# wait_aiosmtpd NAME PID PIDFILE: until the server has written its pid file.
wait_aiosmtpd() {
	local name=$1 launched=$2 pidfile=$3 tries=$((WAIT_SECONDS * 10))
	until [ -s "$pidfile" ]; do
		pid_alive "$launched" || die "$name exited during start-up"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "$name did not write $pidfile within ${WAIT_SECONDS}s"
		sleep 0.1
	done
}

# The aiosmtpd servers (both SMTP ones and LMTP) start in parallel (Python's
# start-up is most of it).
start_aiosmtpd() {
	local plain oauth lmtp
	launch_aiosmtpd aiosmtpd "$AIOSMTPD_PORT" "$AIO_MAIL" "$AIO_PID" "$AIO_LOG"
	plain=$LAUNCHED
	launch_aiosmtpd "aiosmtpd (OAuth)" "$AIOSMTPD_OAUTH_PORT" "$AIO_OAUTH_MAIL" \
		"$AIO_OAUTH_PID" "$AIO_OAUTH_LOG" --oauth-user "$OAUTH_USER" --oauth-token "$OAUTH_TOKEN"
	oauth=$LAUNCHED
	launch_lmtp
	lmtp=$LAUNCHED
	wait_aiosmtpd aiosmtpd "$plain" "$AIO_PID"
	wait_aiosmtpd "aiosmtpd (OAuth)" "$oauth" "$AIO_OAUTH_PID"
	# The pid file is written once both listeners are up.
	wait_aiosmtpd LMTP "$lmtp" "$LMTP_PID"
}

postfix_plain_ports() {
	echo "$POSTFIX_PORT $STARTTLS_PORT $STARTTLS_REQUIRED_PORT $AUTH_PLAIN_PORT $WRONG_NAME_PORT $SELF_SIGNED_PORT $CLIENTCERT_PORT $BARE_PORT $SHORT_IDLE_PORT $SUBMISSION_PORT"
}

wait_for_greetings() {
	local -a addrs=() port
	for port in $(postfix_plain_ports); do
		addrs+=("$LISTEN_HOST:$port")
	done
	"$PYTHON" "$PROBE" greeting "${addrs[@]}" --implicit-tls "$LISTEN_HOST:$SMTPS_PORT" \
		--timeout "$WAIT_SECONDS" --expect postfix.test >/dev/null ||
		die "Postfix does not answer on one of its ports"
	"$PYTHON" "$PROBE" greeting "$LISTEN_HOST:$AIOSMTPD_PORT" "$LISTEN_HOST:$AIOSMTPD_OAUTH_PORT" \
		--timeout "$WAIT_SECONDS" --expect aiosmtpd.test >/dev/null ||
		die "aiosmtpd does not answer on $LISTEN_HOST:$AIOSMTPD_PORT or $LISTEN_HOST:$AIOSMTPD_OAUTH_PORT"
	# LMTP greets with 220 like SMTP.
	"$PYTHON" "$PROBE" greeting "$LISTEN_HOST:$LMTP_PORT" --unix "$LMTP_SOCKET" \
		--timeout "$WAIT_SECONDS" --expect lmtp.test >/dev/null ||
		die "the LMTP server does not answer on $LISTEN_HOST:$LMTP_PORT or $LMTP_SOCKET"
}

# Check that Postfix really delivers to a Maildir and refuses to relay.
check_postfix() {
	local maildir=$MAIL_BASE/$MAIL_DOMAIN/probe tries=$((WAIT_SECONDS * 10)) ccert
	# The client certificate is asked for, verified against the test CA and
	# lets the client relay. In the background, alongside the other checks
	# (most of each check is Python starting up).
	"$PYTHON" "$PROBE" rcpt "$LISTEN_HOST:$CLIENTCERT_PORT" --to "probe@$RELAY_DOMAIN" --expect 250 \
		--starttls --cafile "$TLS_DIR/ca.pem" --cert "$TLS_DIR/client.pem" --key "$TLS_DIR/client.key" \
		>/dev/null &
	ccert=$!
	"$PYTHON" "$PROBE" rcpt "$LISTEN_HOST:$POSTFIX_PORT" --to x@elsewhere.test --expect 554 >/dev/null ||
		die "Postfix does not refuse relaying to x@elsewhere.test"
	# TLS with the test CA, and AUTH against the sasldb (as the postfix user).
	"$PYTHON" "$PROBE" auth "$LISTEN_HOST:$SMTPS_PORT" --tls implicit --cafile "$TLS_DIR/ca.pem" \
		--user "$SASL_USER" --password "$SASL_PASSWORD" >/dev/null ||
		die "AUTH PLAIN as $SASL_USER over SMTPS ($LISTEN_HOST:$SMTPS_PORT) failed"
	"$PYTHON" "$PROBE" send "$LISTEN_HOST:$POSTFIX_PORT" --from probe-sender@postie.test \
		--to "probe@$MAIL_DOMAIN" || die "Postfix did not accept the probe message"
	until compgen -G "$maildir/new/*" >/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "the probe message did not reach $maildir/new within ${WAIT_SECONDS}s"
		sleep 0.1
	done
	rm -rf "$maildir"
	wait "$ccert" ||
		die "relaying with the client certificate via $LISTEN_HOST:$CLIENTCERT_PORT failed"
}

# env_line NAME VALUE: "export NAME='VALUE'", quoted for any POSIX shell.
env_line() {
	local q="'\\''"
	printf "export %s='%s'\n" "$1" "${2//\'/$q}"
}

write_env_file() {
	local tmp=$ENV_FILE.tmp h=$LISTEN_HOST
	{
		echo "# Written by scripts/servers.sh start. Source it before running the tests."
		env_line POSTIE_TEST_POSTFIX "$h:$POSTFIX_PORT"
		env_line POSTIE_TEST_POSTFIX_MAIL "$PF_MAIL"
		env_line POSTIE_TEST_AIOSMTPD "$h:$AIOSMTPD_PORT"
		env_line POSTIE_TEST_AIOSMTPD_DIR "$AIO_MAIL"
		# TLS and AUTH
		env_line POSTIE_TEST_CA "$TLS_DIR/ca.pem"
		env_line POSTIE_TEST_TLS_DIR "$TLS_DIR"
		env_line POSTIE_TEST_POSTFIX_STARTTLS "$h:$STARTTLS_PORT"
		env_line POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED "$h:$STARTTLS_REQUIRED_PORT"
		env_line POSTIE_TEST_POSTFIX_SMTPS "$h:$SMTPS_PORT"
		env_line POSTIE_TEST_POSTFIX_AUTH_PLAIN "$h:$AUTH_PLAIN_PORT"
		env_line POSTIE_TEST_POSTFIX_WRONG_NAME "$h:$WRONG_NAME_PORT"
		env_line POSTIE_TEST_POSTFIX_SELF_SIGNED "$h:$SELF_SIGNED_PORT"
		env_line POSTIE_TEST_POSTFIX_CLIENT_CERT "$h:$CLIENTCERT_PORT"
		env_line POSTIE_TEST_POSTFIX_BARE "$h:$BARE_PORT"
		env_line POSTIE_TEST_POSTFIX_SHORT_IDLE "$h:$SHORT_IDLE_PORT"
		env_line POSTIE_TEST_POSTFIX_SUBMISSION "$h:$SUBMISSION_PORT"
		# The queue, for a benchmark that waits until it is empty.
		env_line POSTIE_TEST_POSTFIX_QUEUE "$PF_QUEUE"
		env_line POSTIE_TEST_CLIENT_CERT "$TLS_DIR/client.pem"
		env_line POSTIE_TEST_CLIENT_KEY "$TLS_DIR/client.key"
		env_line POSTIE_TEST_AIOSMTPD_OAUTH "$h:$AIOSMTPD_OAUTH_PORT"
		env_line POSTIE_TEST_AIOSMTPD_OAUTH_DIR "$AIO_OAUTH_MAIL"
		env_line POSTIE_TEST_LMTP "$h:$LMTP_PORT"
		env_line POSTIE_TEST_LMTP_SOCKET "$LMTP_SOCKET"
		env_line POSTIE_TEST_LMTP_DIR "$LMTP_MAIL"
		env_line POSTIE_TEST_SASL_USER "$SASL_USER"
		env_line POSTIE_TEST_SASL_PASSWORD "$SASL_PASSWORD"
		env_line POSTIE_TEST_SASL_USER2 "$SASL_USER2"
		env_line POSTIE_TEST_SASL_PASSWORD2 "$SASL_PASSWORD2"
		env_line POSTIE_TEST_OAUTH_USER "$OAUTH_USER"
		env_line POSTIE_TEST_OAUTH_TOKEN "$OAUTH_TOKEN"
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

cmd_start() {
	local t0
	t0=$(now)
	require_root
	local entry port var name seen=" "
	for entry in "${PORT_VARS[@]}"; do
		read -r port var name <<<"$entry"
		if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
			die "bad port '$port' ($var)"
		fi
		case $seen in
		*" $port "*) die "port $port is used twice (check the POSTIE_*_PORT variables; $var)" ;;
		esac
		seen="$seen$port "
	done
	# sun_path holds 107 bytes and a NUL.
	[ "$(printf '%s' "$LMTP_SOCKET" | wc -c)" -le 107 ] ||
		die "the LMTP socket path $LMTP_SOCKET is too long for a Unix socket (107 bytes at most); set POSTIE_TEST_DIR to a shorter path"
	case $PLAIN_STARTTLS in
	0 | 1) ;;
	*) die "POSTIE_POSTFIX_PLAIN_STARTTLS must be 0 or 1, not '$PLAIN_STARTTLS'" ;;
	esac
	ensure_installed

	# Stop what a previous start left running, then start from a clean state.
	cmd_stop
	# One probe for all ports (each python3 start costs ~30 ms); the error
	# message comes from require_port_free.
	local -a addrs=()
	for entry in "${PORT_VARS[@]}"; do
		read -r port var name <<<"$entry"
		addrs+=("$LISTEN_HOST:$port")
	done
	if ! "$PYTHON" "$PROBE" free "${addrs[@]}" >/dev/null; then
		for entry in "${PORT_VARS[@]}"; do
			read -r port var name <<<"$entry"
			require_port_free "$port" "$name" "$var"
		done
	fi

	trap 'on_start_exit $?' EXIT
	ensure_vmail_user
	choose_postfix_dir
	# Fresh mail, logs and aiosmtpd and LMTP stores (and socket). The queue
	# and data directories are kept (emptied in start_postfix): creating them
	# costs "postfix start" ~1 s.
	rm -rf "${MAIL_BASE:?}" "${PF_DIR:?}/bin" "${PF_LOG:?}" "${AIO_DIR:?}" "${AIO_OAUTH_DIR:?}" \
		"${LMTP_DIR:?}" "${ENV_FILE:?}"
	mkdir -p "$AIO_DIR" "$AIO_OAUTH_DIR" "$LMTP_DIR"

	ensure_tls
	prepare_delivery
	write_postfix_config
	start_postfix
	start_aiosmtpd
	wait_for_greetings
	check_postfix
	write_env_file
	trap - EXIT

	log "Postfix  on $LISTEN_HOST:$POSTFIX_PORT, Maildirs in $PF_MAIL/$MAIL_DOMAIN/<localpart>/"
	log "         STARTTLS $STARTTLS_PORT, STARTTLS required $STARTTLS_REQUIRED_PORT, SMTPS $SMTPS_PORT,"
	log "         AUTH in clear $AUTH_PLAIN_PORT, wrong-name cert $WRONG_NAME_PORT, self-signed cert $SELF_SIGNED_PORT,"
	log "         client certificate required $CLIENTCERT_PORT, without extensions $BARE_PORT, 2 s idle timeout $SHORT_IDLE_PORT,"
	log "         submission (STARTTLS required, AUTH PLAIN only; benchmarks) $SUBMISSION_PORT"
	log "aiosmtpd on $LISTEN_HOST:$AIOSMTPD_PORT, messages in $AIO_MAIL"
	log "aiosmtpd on $LISTEN_HOST:$AIOSMTPD_OAUTH_PORT (XOAUTH2/OAUTHBEARER required), messages in $AIO_OAUTH_MAIL"
	log "LMTP     on $LISTEN_HOST:$LMTP_PORT and $LMTP_SOCKET, messages in $LMTP_MAIL/<localpart>/"
	log "test CA: $TLS_DIR/ca.pem"
	log "ready in $(elapsed "$t0")s; environment for the tests: . $ENV_FILE"
}

cmd_stop() {
	require_root
	stop_postfix
	stop_aiosmtpd
}

cmd_status() {
	local pid rc=0
	if pid=$(postfix_master_pid); then
		log "Postfix running (master pid $pid) on $LISTEN_HOST ports $(postfix_plain_ports) $SMTPS_PORT"
	else
		log "Postfix not running"
		rc=1
	fi
	if pid=$(aiosmtpd_pid); then
		log "aiosmtpd running (pid $pid) on $LISTEN_HOST:$AIOSMTPD_PORT"
	else
		log "aiosmtpd not running"
		rc=1
	fi
	if pid=$(aiosmtpd_pid "$AIO_OAUTH_PID"); then
		log "aiosmtpd (OAuth) running (pid $pid) on $LISTEN_HOST:$AIOSMTPD_OAUTH_PORT"
	else
		log "aiosmtpd (OAuth) not running"
		rc=1
	fi
	if pid=$(lmtp_pid); then
		log "LMTP running (pid $pid) on $LISTEN_HOST:$LMTP_PORT and $LMTP_SOCKET"
	else
		log "LMTP not running"
		rc=1
	fi
	return "$rc"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
