# Haraka (Node.js MTA) for the tests (sourced by scripts/servers.sh, never run).
#
# Haraka 3.3.x from npm (Haraka@3.3), installed into
# $POSTIE_TEST_CACHE/haraka (default /var/cache/postie-test/haraka); it needs
# Node.js >= 20 (/usr/bin/node; when that is missing or older, Node 22 from
# the npm registry's node-linux-<arch> package goes next to Haraka). One
# process (no cluster), in the foreground, as $VMAIL_USER, configuration
# written from scratch on every start in $POSTIE_TEST_DIR/haraka/config (a
# symlink to a directory under /var/tmp when $VMAIL_USER cannot reach
# $POSTIE_TEST_DIR). Loopback only; in env.sh (variable in brackets):
#   127.0.0.1:10059 (POSTIE_TEST_HARAKA_SMTP and POSTIE_TEST_HARAKA_SUBMISSION,
#       the same listener): greets "220 haraka.test ESMTP Haraka/3.3.N ready
#       (<6 hex chars of the connection uuid>)"; EHLO offers PIPELINING
#       8BITMIME SMTPUTF8 "SIZE 26214400" STARTTLS (no ENHANCEDSTATUSCODES,
#       DSN, CHUNKING); STARTTLS with the test CA's server.pem; AUTH only
#       after STARTTLS (before it: not in the EHLO reply, and "AUTH ..." gets
#       "530 5.7.0 Must issue a STARTTLS command first"). example.org is
#       accepted with or without AUTH.
#   127.0.0.1:10060 (POSTIE_TEST_HARAKA_SUBMISSIONS): the same behind implicit
#       TLS (Haraka's smtps_port), AUTH offered at once, no STARTTLS.
# AUTH: auth/flat_file, PLAIN LOGIN CRAM-MD5 (POSTIE_TEST_HARAKA_MECHS), users
#   alice / wonderland-secret and bob / "b0b-p@ss wörd" -> "235 2.7.0
#   Authentication successful". A wrong password gets "535 5.7.8
#   Authentication failed" at once (Haraka normally waits 1, 2, 4... s per
#   failure; the plugin timeout of 1 s here makes that 0).
# Mail (scripts/servers/haraka_maildir.js, a queue plugin): MAIL -> "250
#   sender <a@b> OK", RCPT -> "250 recipient <a@b> OK", DATA -> "354 go
#   ahead, make my day"; RCPT nobody@example.org -> "550 5.1.1
#   <nobody@example.org>: no such user"; another domain -> "550 I cannot
#   deliver mail for <x@y>" (Haraka's own reply), or after AUTH "550 5.7.1
#   <x@y>: delivery off this test server is disabled". Every other
#   <localpart>@example.org is written once per distinct local part
#   (lower-cased) to the Maildir $POSTIE_TEST_DIR/haraka/mail/<localpart>/new/
#   (POSTIE_TEST_HARAKA_MAIL), files 0644, owned by $VMAIL_USER. Reply:
#   "250 Message Queued (<connection uuid>.<n>)", e.g.
#   "250 Message Queued (52C88A72-ED81-416B-886A-BDD5F278B761.1)".
#   The stored file is the message as received (CRLF line ends, dots
#   unstuffed) with one Received: field on top:
#     Received: from <helo> (localhost [127.0.0.1])
#     \tby haraka.test (Haraka/3.3.N) with ESMTP[S][A] id <uuid>.<n>
#     \tenvelope-from <sender>[\n\ttls <cipher>][ (authenticated bits=0)];
#     \t<date>
#   No other header is added or changed (no Authentication-Results, no
#   dkim/spf/headers plugins); header lines go through Haraka's header parser
#   and are written back as UTF-8 text (a non-UTF-8 byte in a header becomes
#   U+FFFD), body lines are kept byte for byte. DATA lines longer than 1 MiB
#   would be folded (Haraka's data_line_length, 992 by default, is raised).
# Limits: SIZE 26214400 (Haraka's default), any number of messages per
#   connection. Quirks (Haraka 3.3): a command pipelined after the
#   end-of-DATA dot, before its reply, is refused with "503 Bad sequence of
#   commands - pipelined after end of DATA"; a bare LF in DATA gets 451 and
#   the connection closed; each reply is its own write() with Nagle on, so
#   a pipelined MAIL+RCPT+DATA got its 2nd and 3rd replies ~40 ms late (Nagle on
#   its side, the client's delayed ACK; postie now acknowledges each read at
#   once: they come together about 0.1-0.2 ms after the first).
# Also POSTIE_TEST_HARAKA_VERSION (e.g. 3.3.4, as in the greeting).
# shellcheck shell=bash

SERVERS+=(haraka)

HARAKA_SMTP_PORT=$(port_of POSTIE_HARAKA_SMTP_PORT 10059)
HARAKA_SMTPS_PORT=$(port_of POSTIE_HARAKA_SUBMISSIONS_PORT 10060)
HARAKA_SPEC=3.3            # npm Haraka@3.3: the newest 3.3.x
HARAKA_MECHS="PLAIN LOGIN CRAM-MD5"
HARAKA_HOSTNAME=haraka.test

HK_PREFIX=$CACHE_DIR/haraka                 # npm --prefix
HK_PKG=$HK_PREFIX/node_modules/Haraka
HK_BIN=$HK_PKG/bin/haraka
HK_NODE_PREFIX=$CACHE_DIR/haraka-node       # Node 22 when the system's is too old
HK_NODE=/usr/bin/node
HK_PLUGIN_SRC=$SERVERS_DIR/haraka_maildir.js
HK_LINK=$TEST_DIR/haraka

set_haraka_dir() {
	HK_DIR=$1
	HK_CONF=$HK_DIR/config
	HK_MAIL=$HK_DIR/mail
	HK_PID=$HK_DIR/haraka.pid
	HK_LOG=$HK_DIR/haraka.log
}
if [ -L "$HK_LINK" ]; then
	set_haraka_dir "$(readlink -f "$HK_LINK")"
else
	set_haraka_dir "$HK_LINK"
fi

# ---------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------

node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

# The node to run Haraka with: /usr/bin/node when it is >= 20 (Haraka 3.3's
# engines), else Node 22 from the npm registry's prebuilt package.
choose_node() {
	local sys arch
	sys=$(command -v node || true)
	if [ -n "$sys" ] && [ "$(node_major "$sys")" -ge 20 ]; then
		HK_NODE=$sys
		return 0
	fi
	case $(uname -m) in
	x86_64) arch=x64 ;;
	aarch64) arch=arm64 ;;
	*) die "Haraka needs Node.js >= 20; install it for $(uname -m)" ;;
	esac
	HK_NODE=$HK_NODE_PREFIX/node_modules/node-linux-$arch/bin/node
	[ -x "$HK_NODE" ] && [ "$(node_major "$HK_NODE")" -ge 20 ] && return 0
	command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	log "npm install node-linux-$arch@22 (Node.js for Haraka, into $HK_NODE_PREFIX)"
	mkdir -p "$HK_NODE_PREFIX"
	npm install --prefix "$HK_NODE_PREFIX" "node-linux-$arch@22" --no-audit --no-fund --ignore-scripts ||
		die "npm install node-linux-$arch@22 failed"
	[ -x "$HK_NODE" ] || die "no $HK_NODE after npm install"
}

# The installed Haraka's version, from its package.json (no node start).
haraka_version() {
	sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$HK_PKG/package.json" 2>/dev/null | head -n 1
}

haraka_install() {
	choose_node
	case $(haraka_version) in
	"$HARAKA_SPEC".*) [ -f "$HK_BIN" ] && return 0 ;;
	esac
	command -v npm >/dev/null 2>&1 || apt_install npm
	log "npm install Haraka@$HARAKA_SPEC (into $HK_PREFIX)"
	mkdir -p "$HK_PREFIX"
	# --ignore-scripts: the only install script is an optional syslog
	# module's node-gyp build, which Haraka does without.
	npm install --prefix "$HK_PREFIX" "Haraka@$HARAKA_SPEC" --omit=dev --no-audit --no-fund \
		--ignore-scripts --loglevel=error || die "npm install Haraka@$HARAKA_SPEC failed"
	[ -f "$HK_BIN" ] || die "$HK_BIN not found after npm install"
}

# ---------------------------------------------------------------------------
# Configuration, written from scratch on every start
# ---------------------------------------------------------------------------

# Haraka runs as $VMAIL_USER, which must reach its directory; when it cannot
# reach $TEST_DIR (e.g. a clone under /root, mode 700), the instance lives
# under /var/tmp and $TEST_DIR/haraka is a symlink to it.
choose_haraka_dir() {
	local dir
	mkdir -p "$TEST_DIR"
	if reachable_by "$VMAIL_USER" "$TEST_DIR"; then
		[ ! -L "$HK_LINK" ] || rm -f "$HK_LINK"
		dir=$HK_LINK
	else
		fallback_dir haraka
		dir=$FALLBACK_DIR
		log "$VMAIL_USER cannot reach $TEST_DIR; the Haraka instance lives in $dir"
		if [ "$(readlink "$HK_LINK" 2>/dev/null || true)" != "$dir" ]; then
			rm -rf "$HK_LINK"
			ln -s "$dir" "$HK_LINK"
		fi
	fi
	set_haraka_dir "$dir"
}

write_haraka_config() {
	local c=$HK_CONF
	mkdir -p "$c/auth" "$HK_DIR/plugins" "$HK_DIR/queue" "$HK_MAIL"
	# Only what is listed runs: no DNS checks (no mail_from.is_resolvable,
	# spf, fcrdns, dns-list), nothing that edits messages (dkim, headers),
	# no karma/greylist. Order matters: haraka_maildir strips AUTH from the
	# EHLO reply after auth/flat_file added it, and refuses nobody@ before
	# rcpt_to.in_host_list accepts the domain.
	printf '%s\n' tls auth/flat_file haraka_maildir rcpt_to.in_host_list >"$c/plugins"
	install -m 644 "$HK_PLUGIN_SRC" "$HK_DIR/plugins/haraka_maildir.js"
	echo "$HARAKA_HOSTNAME" >"$c/me"
	echo "$MAIL_DOMAIN" >"$c/host_list"
	# nodes=0: one process, no cluster master (which would fork a worker).
	# The port named smtps_port gets implicit TLS.
	cat >"$c/smtp.ini" <<EOF
listen=$LISTEN_HOST:$HARAKA_SMTP_PORT,$LISTEN_HOST:$HARAKA_SMTPS_PORT
smtps_port=$HARAKA_SMTPS_PORT
nodes=0
inactivity_timeout=300
EOF
	# Haraka's own connection.ini (it holds settings that have no default in
	# the code) with overrides appended (a later key wins).
	# data_line_length: Haraka folds longer DATA lines (992 by default).
	# clean_auth_results: would rename a message's Authentication-Results.
	cp "$HK_PKG/config/connection.ini" "$c/connection.ini"
	cat >>"$c/connection.ini" <<EOF

; postie overrides
[headers]
add_received=true
clean_auth_results=false
show_version=true
[max]
bytes=26214400
data_line_length=1048576
EOF
	# Certificates from the test CA; no client certificate asked for.
	install -m 644 "$TLS_DIR/server.pem" "$c/tls_cert.pem"
	install -m 644 "$TLS_DIR/server.key" "$c/tls_key.pem"
	# Without DH parameters Haraka runs "openssl dhparam 2048" (seconds of
	# CPU) on every start; the RFC 7919 group is instant.
	openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$c/dhparams.pem" 2>/dev/null ||
		die "openssl could not write DH parameters"
	cat >"$c/tls.ini" <<EOF
key=tls_key.pem
cert=tls_cert.pem
dhparam=dhparams.pem
requestCert=false
rejectUnauthorized=false
EOF
	cat >"$c/auth_flat_file.ini" <<EOF
[core]
methods=${HARAKA_MECHS// /,}
constrain_sender=false
[users]
$SASL_USER=$SASL_PASSWORD
$SASL_USER2=$SASL_PASSWORD2
EOF
	# A failed AUTH waits min(2^(n-1), timeout-1) s before the 535.
	echo 1 >"$c/auth/flat_file.timeout"
	cat >"$c/haraka_maildir.ini" <<EOF
base=$HK_MAIL
domain=$MAIL_DOMAIN
EOF
	cat >"$c/log.ini" <<EOF
[main]
level=info
timestamps=true
format=default
EOF
	chown -R "$VMAIL_UID:$VMAIL_GID" "$HK_DIR/queue" "$HK_MAIL"
}

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

haraka_ports() {
	cat <<EOF
$HARAKA_SMTP_PORT POSTIE_HARAKA_SMTP_PORT Haraka SMTP/submission
$HARAKA_SMTPS_PORT POSTIE_HARAKA_SUBMISSIONS_PORT Haraka submissions (implicit TLS)
EOF
}

haraka_pid() { pidfile_pid "$HK_PID" "bin/haraka -c $HK_DIR"; }

haraka_stop() {
	local pid
	pid=$(haraka_pid) || {
		rm -f "$HK_PID"
		return 0
	}
	# Haraka catches SIGINT only (SIGTERM also when it is pid 1); TERM's
	# default action ends it at once, which is fine: nothing is queued.
	stop_pid "$pid" Haraka
	rm -f "$HK_PID"
}

haraka_start() {
	choose_haraka_dir
	rm -rf "${HK_DIR:?}"
	mkdir -p "$HK_DIR"
	write_haraka_config
	log "starting Haraka $(haraka_version) on $LISTEN_HOST:$HARAKA_SMTP_PORT and :$HARAKA_SMTPS_PORT (config $HK_CONF)"
	launch_daemon "$HK_PID" "$HK_LOG" setpriv --reuid="$VMAIL_UID" --regid="$VMAIL_GID" --clear-groups \
		"$HK_NODE" "$HK_BIN" -c "$HK_DIR"
	HK_LAUNCHED=$LAUNCHED
}

# The greetings, one delivery into the Maildir, nobody@ refused, and AUTH
# over implicit TLS (PLAIN) and after STARTTLS (CRAM-MD5). (smtplib cannot
# send bob's UTF-8 password.)
haraka_ready() {
	local h=$LISTEN_HOST maildir=$HK_MAIL/probe ca=$TLS_DIR/ca.pem a1 a2
	# Node needs ~0.7 s before it listens. The probe polls for the greetings
	# in the background (as greet does); fail early if Haraka exits meanwhile.
	"$PYTHON" "$PROBE" greeting "$h:$HARAKA_SMTP_PORT" --implicit-tls "$h:$HARAKA_SMTPS_PORT" \
		--timeout "$WAIT_SECONDS" --expect "$HARAKA_HOSTNAME ESMTP Haraka/" >/dev/null &
	a1=$!
	while kill -0 "$a1" 2>/dev/null; do
		if ! pid_alive "$HK_LAUNCHED"; then
			kill "$a1" 2>/dev/null || true
			die "Haraka exited during start-up"
		fi
		sleep 0.05
	done
	wait "$a1" || die "Haraka does not greet on $h:$HARAKA_SMTP_PORT and $h:$HARAKA_SMTPS_PORT"
	"$PYTHON" "$PROBE" auth "$h:$HARAKA_SMTPS_PORT" --tls implicit --cafile "$ca" \
		--user "$SASL_USER" --password "$SASL_PASSWORD" >/dev/null &
	a1=$!
	"$PYTHON" "$PROBE" auth "$h:$HARAKA_SMTP_PORT" --tls starttls --cafile "$ca" \
		--user "$SASL_USER" --password "$SASL_PASSWORD" --mechanism CRAM-MD5 >/dev/null &
	a2=$!
	"$PYTHON" "$PROBE" rcpt "$h:$HARAKA_SMTP_PORT" --to "nobody@$MAIL_DOMAIN" --expect 550 >/dev/null ||
		die "Haraka does not refuse nobody@$MAIL_DOMAIN"
	"$PYTHON" "$PROBE" send "$h:$HARAKA_SMTP_PORT" --from probe-sender@postie.test \
		--to "probe@$MAIL_DOMAIN" || die "Haraka did not accept the probe message"
	wait_for_file Haraka "$maildir/new/*" "$HK_LAUNCHED"
	rm -rf "$maildir"
	wait "$a1" || die "AUTH PLAIN as $SASL_USER over implicit TLS ($h:$HARAKA_SMTPS_PORT) failed"
	wait "$a2" || die "AUTH CRAM-MD5 as $SASL_USER after STARTTLS ($h:$HARAKA_SMTP_PORT) failed"
}

haraka_env() {
	local h=$LISTEN_HOST
	env_line POSTIE_TEST_HARAKA_VERSION "$(haraka_version)"
	env_line POSTIE_TEST_HARAKA_SMTP "$h:$HARAKA_SMTP_PORT"
	env_line POSTIE_TEST_HARAKA_SUBMISSION "$h:$HARAKA_SMTP_PORT"
	env_line POSTIE_TEST_HARAKA_SUBMISSIONS "$h:$HARAKA_SMTPS_PORT"
	env_line POSTIE_TEST_HARAKA_MECHS "$HARAKA_MECHS"
	env_line POSTIE_TEST_HARAKA_MAIL "$HK_LINK/mail"
}

haraka_status() {
	local pid
	if pid=$(haraka_pid); then
		log "Haraka running (pid $pid) on $LISTEN_HOST:$HARAKA_SMTP_PORT and :$HARAKA_SMTPS_PORT (implicit TLS)"
	else
		log "Haraka not running"
		return 1
	fi
}

haraka_logs() { echo "$HK_LOG"; }

haraka_summary() {
	log "Haraka   $(haraka_version) on $LISTEN_HOST:$HARAKA_SMTP_PORT (STARTTLS, AUTH after it) and :$HARAKA_SMTPS_PORT (implicit TLS),"
	log "         Maildirs in $HK_LINK/mail/<localpart>/"
}
