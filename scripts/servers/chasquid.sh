# chasquid for the tests (sourced by scripts/servers.sh, never run).
#
# chasquid 1.11, Debian 12's package (installed with apt, its own service
# never started): a private instance, `chasquid -config_dir
# $POSTIE_TEST_DIR/chasquid/etc` in the foreground, running as the
# postie-test user, everything (config, data_dir, queue, logs, Maildirs)
# under $POSTIE_TEST_DIR/chasquid (a symlink to /var/tmp/... when that user
# cannot reach $POSTIE_TEST_DIR, as for Postfix). Loopback only; in env.sh
# each address is exported as HOST:PORT (variable in brackets):
#   127.0.0.1:10056 (POSTIE_TEST_CHASQUID_SMTP)  smtp_address, the port-25
#       role: no AUTH needed to deliver to example.org; STARTTLS offered,
#       AUTH PLAIN after it
#   127.0.0.1:10057 (POSTIE_TEST_CHASQUID_SUBMISSION)  submission_address:
#       STARTTLS offered, AUTH PLAIN only after it, and MAIL is refused until
#       AUTH ("550 5.7.9 Mail to submission port must be authenticated")
#   127.0.0.1:10058 (POSTIE_TEST_CHASQUID_SUBMISSIONS)  submission over
#       implicit TLS (RFC 8314), AUTH PLAIN, MAIL only after AUTH
# Ports: POSTIE_CHASQUID_SMTP_PORT, POSTIE_CHASQUID_SUBMISSION_PORT,
# POSTIE_CHASQUID_SUBMISSIONS_PORT. Greeting "220 localhost ESMTP chasquid";
# the certificate is the test CA's server.pem (certs/localhost/).
#
# Mail: every local part of example.org is delivered (maildir_deliver.sh)
# to $POSTIE_TEST_DIR/chasquid/mail/example.org/<localpart>/new/
# (POSTIE_TEST_CHASQUID_MAIL), files 0644, local part lower-cased (chasquid
# normalizes addresses; UTF-8 local parts work with SMTPUTF8), no "."
# dropping or "+suffix" removal. RCPT nobody@example.org (and a local part
# with "/") gets "550 5.1.1 Destination address is unknown (user does not
# exist)"; local parts chasquid cannot parse (leading dot, quoted with a
# space) get "501 5.1.3 Malformed destination address". Other domains
# without AUTH: "503 5.7.1 Relay not allowed" (503, not 554); after AUTH
# anything is accepted, but only example.org is delivered (other mail waits
# in the queue: there is no DNS). chasquid prepends Received: and, on
# unauthenticated connections, Received-SPF: (see below); it changes nothing
# else. The reply after DATA carries no queue id: it is "250 2.0.0 " and one
# of five random NetHack phrases; the id (11 characters, base64url) is only
# in the mail log, $POSTIE_TEST_DIR/chasquid/mail.log
# (POSTIE_TEST_CHASQUID_MAILLOG).
#
# AUTH: PLAIN only (POSTIE_TEST_CHASQUID_MECHS), never before TLS ("503
# 5.7.10 You feel vulnerable"). chasquid's users belong to a domain, so the
# login must be user@domain: alice@example.org / wonderland-secret and
# bob@example.org / "b0b-p@ss wörd" (POSTIE_TEST_CHASQUID_USER, _PASSWORD,
# _USER2, _PASSWORD2); a bare "alice" is refused like a wrong password:
# "535 5.7.8 Incorrect user or password". Every AUTH takes ~0.1 s (chasquid
# pads it on purpose).
#
# Quirks: the third reply >= 400 on one connection is replaced by "421
# 4.5.0 Too many errors, bye" and the connection closed. At most 101
# recipients per message. POSTIE_TEST_CHASQUID_VERSION is the upstream
# version ("1.11"; chasquid -version says "1.11-2+b2").
#
# SPF: chasquid checks SPF for the MAIL FROM domain on every unauthenticated
# MAIL (DNS TXT lookups). Here the resolver loses a packet now and then, and
# Go's resolver then waits 5 s: about one MAIL in 60 answered 5 s late. With
# internet access a sender at a domain publishing "-all" (example.com, most
# likely example.org) would get "550 5.7.23 SPF check failed". So chasquid
# runs in a private mount namespace (unshare) whose /etc/resolv.conf points
# at a loopback address where nothing listens: every lookup fails at once,
# SPF is "temperror", which chasquid accepts (header: "Received-SPF:
# temperror (lookup ... connection refused)"). Where unshare is not allowed
# (an unprivileged container) chasquid uses the system resolver, with a
# warning (and mail relayed after AUTH could then really leave the machine).
# shellcheck shell=bash

SERVERS+=(chasquid)

CHASQUID_SMTP_PORT=$(port_of POSTIE_CHASQUID_SMTP_PORT 10056)
CHASQUID_SUBMISSION_PORT=$(port_of POSTIE_CHASQUID_SUBMISSION_PORT 10057)
CHASQUID_SUBMISSIONS_PORT=$(port_of POSTIE_CHASQUID_SUBMISSIONS_PORT 10058)

CQ_MECHS="PLAIN"
CQ_USER=$SASL_USER@$MAIL_DOMAIN
CQ_USER2=$SASL_USER2@$MAIL_DOMAIN
CQ_LINK=$TEST_DIR/chasquid # the instance, as the tests see it

set_chasquid_dir() {
	CQ_DIR=$1
	CQ_ETC=$CQ_DIR/etc          # -config_dir
	CQ_DATA=$CQ_DIR/data        # data_dir (queue, domaininfo, sts-cache)
	CQ_MAIL_BASE=$CQ_DIR/mail   # Maildirs: $CQ_MAIL_BASE/example.org/<localpart>/
	CQ_DELIVER=$CQ_DIR/bin/maildir_deliver.sh
	CQ_RESOLV=$CQ_DIR/resolv.conf
	CQ_PID=$CQ_DIR/chasquid.pid
	CQ_LOG=$CQ_DIR/chasquid.log # the daemon's own log (stderr)
	CQ_MAILLOG=$CQ_DIR/mail.log # mail_log_path: one line per event
}
if [ -L "$CQ_LINK" ]; then
	set_chasquid_dir "$(readlink -f "$CQ_LINK")"
else
	set_chasquid_dir "$CQ_LINK"
fi

# chasquid (and so the delivery) runs as $VMAIL_USER, which must reach the
# instance's directory. When it cannot reach $POSTIE_TEST_DIR (e.g. a clone
# under /root, mode 700), the instance lives under /var/tmp and
# $POSTIE_TEST_DIR/chasquid is a symlink to it.
choose_chasquid_dir() {
	local dir
	mkdir -p "$TEST_DIR"
	if reachable_by "$VMAIL_USER" "$TEST_DIR"; then
		[ ! -L "$CQ_LINK" ] || rm -f "$CQ_LINK"
		dir=$CQ_LINK
	else
		fallback_dir chasquid
		dir=$FALLBACK_DIR
		log "$VMAIL_USER cannot reach $TEST_DIR; the chasquid instance lives in $dir"
		if [ "$(readlink "$CQ_LINK" 2>/dev/null || true)" != "$dir" ]; then
			rm -rf "$CQ_LINK"
			ln -s "$dir" "$CQ_LINK"
		fi
	fi
	set_chasquid_dir "$dir"
	# Pipe aliases are split at white space (see write_chasquid_hook).
	case $CQ_DIR in
	*[[:space:]]*) die "chasquid cannot run from $CQ_DIR (white space in the path); set POSTIE_TEST_DIR" ;;
	esac
}

write_chasquid_conf() {
	cat <<EOF
# Generated by scripts/servers.sh; rewritten on every start. Do not edit.
hostname: "localhost"
smtp_address: "$LISTEN_HOST:$CHASQUID_SMTP_PORT"
submission_address: "$LISTEN_HOST:$CHASQUID_SUBMISSION_PORT"
submission_over_tls_address: "$LISTEN_HOST:$CHASQUID_SUBMISSIONS_PORT"
data_dir: "$CQ_DATA"
mail_log_path: "$CQ_MAILLOG"
# Local parts are taken as they are: no "." dropping, no "+suffix" removal.
drop_characters: ""
suffix_separators: ""
# Users (alice, bob) are delivered by hooks/alias-resolve like every other
# local part; the MDA is the same delivery, in case a user ever reaches it.
mail_delivery_agent_bin: "/bin/sh"
mail_delivery_agent_args: "$CQ_DELIVER"
mail_delivery_agent_args: "$CQ_MAIL_BASE"
mail_delivery_agent_args: "%to_domain%"
mail_delivery_agent_args: "%to_user%"
EOF
}

# chasquid accepts a local recipient only if it is a user or an alias, and a
# catch-all alias ("*: ...") would deliver everything to one mailbox. The
# alias-resolve hook, run with each address chasquid looks up (at RCPT, and
# again when queueing), makes every local part an alias for a pipe into its
# own Maildir; printing nothing means "no such alias", so nobody@ (and
# "*@", the catch-all lookup) are refused with 550 5.1.1.
write_chasquid_hook() {
	cat <<EOF
#!/bin/sh
# Generated by scripts/servers.sh: chasquid's alias-resolve hook (see
# scripts/servers/chasquid.sh). Argument: a normalized local address.
addr=\$1
localpart=\${addr%@*}
[ "\${addr##*@}" = "$MAIL_DOMAIN" ] || exit 0
case \$localpart in
'' | nobody | '*' | .* | */* | *[[:space:]]*) exit 0 ;;
esac
echo "| /bin/sh $CQ_DELIVER $CQ_MAIL_BASE $MAIL_DOMAIN \$localpart"
EOF
}

write_chasquid_config() {
	local domain=$CQ_ETC/domains/$MAIL_DOMAIN
	mkdir -p "$CQ_ETC/certs/localhost" "$CQ_ETC/hooks" "$domain" "$CQ_DATA" \
		"$CQ_DIR/bin" "$CQ_MAIL_BASE/$MAIL_DOMAIN"
	write_chasquid_conf >"$CQ_ETC/chasquid.conf"
	# chasquid serves every certs/<name>/fullchain.pem + privkey.pem.
	cp "$TLS_DIR/server.pem" "$CQ_ETC/certs/localhost/fullchain.pem"
	cp "$TLS_DIR/server.key" "$CQ_ETC/certs/localhost/privkey.pem"
	write_chasquid_hook >"$CQ_ETC/hooks/alias-resolve"
	chmod 755 "$CQ_ETC/hooks/alias-resolve"
	install -m 755 "$SERVERS_DIR/maildir_deliver.sh" "$CQ_DELIVER"
	# The users (scrypt), in domains/example.org/users.
	chasquid-util -C="$CQ_ETC" user-add "$CQ_USER" --password="$SASL_PASSWORD" >/dev/null ||
		die "chasquid-util could not add $CQ_USER"
	chasquid-util -C="$CQ_ETC" user-add "$CQ_USER2" --password="$SASL_PASSWORD2" >/dev/null ||
		die "chasquid-util could not add $CQ_USER2"
	# A resolver with nowhere to go (see the header): connection refused at
	# once; timeout:1 bounds the wait should a packet ever be dropped.
	printf 'nameserver 127.255.255.254\noptions timeout:1 attempts:1\n' >"$CQ_RESOLV"
	chown "$VMAIL_UID:$VMAIL_GID" "$domain/users"
	chown -R "$VMAIL_UID:$VMAIL_GID" "$CQ_DATA" "$CQ_MAIL_BASE/$MAIL_DOMAIN"
	: >"$CQ_MAILLOG"
	chown "$VMAIL_UID:$VMAIL_GID" "$CQ_MAILLOG"
}

launch_chasquid() {
	local -a run=(setpriv --reuid="$VMAIL_UID" --regid="$VMAIL_GID" --clear-groups
		chasquid -config_dir "$CQ_ETC")
	log "starting chasquid on $LISTEN_HOST:$CHASQUID_SMTP_PORT (config $CQ_ETC)"
	# unshare without --fork execs: the pid launch_daemon records is
	# chasquid's own. The namespace (and its resolv.conf) dies with it.
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
	local -a ns=(unshare --mount --propagation private
		/bin/sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$CQ_RESOLV")
	if "${ns[@]}" true 2>/dev/null; then
		launch_daemon "$CQ_PID" "$CQ_LOG" "${ns[@]}" "${run[@]}"
	else
		warn "cannot bind-mount /etc/resolv.conf in a private mount namespace here:" \
			"chasquid's SPF lookups use the system resolver" \
			"(unauthenticated MAIL may take 5 s, or fail SPF for senders at real domains)"
		launch_daemon "$CQ_PID" "$CQ_LOG" "${run[@]}"
	fi
	CQ_LAUNCHED=$LAUNCHED
}

# chasquid delivers to a Maildir, refuses nobody@, and does TLS with the test
# CA and AUTH against its user database. The checks run in parallel (most of
# each is Python starting up).
check_chasquid() {
	local maildir=$CQ_MAIL_BASE/$MAIL_DOMAIN/probe h=$LISTEN_HOST auth nobody
	"$PYTHON" "$PROBE" auth "$h:$CHASQUID_SUBMISSIONS_PORT" --tls implicit --cafile "$TLS_DIR/ca.pem" \
		--user "$CQ_USER" --password "$SASL_PASSWORD" >/dev/null &
	auth=$!
	"$PYTHON" "$PROBE" rcpt "$h:$CHASQUID_SMTP_PORT" --to "nobody@$MAIL_DOMAIN" --expect 550 >/dev/null &
	nobody=$!
	"$PYTHON" "$PROBE" send "$h:$CHASQUID_SMTP_PORT" --from probe-sender@postie.test \
		--to "probe@$MAIL_DOMAIN" || die "chasquid did not accept the probe message"
	wait_for_file chasquid "$maildir/new/*" "$CQ_LAUNCHED"
	rm -rf "$maildir"
	wait "$nobody" || die "chasquid does not refuse nobody@$MAIL_DOMAIN with 550"
	wait "$auth" || die "AUTH PLAIN as $CQ_USER over implicit TLS ($h:$CHASQUID_SUBMISSIONS_PORT) failed"
}

chasquid_pid() { pidfile_pid "$CQ_PID" "chasquid -config_dir $CQ_ETC"; }

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

chasquid_ports() {
	cat <<EOF
$CHASQUID_SMTP_PORT POSTIE_CHASQUID_SMTP_PORT chasquid SMTP
$CHASQUID_SUBMISSION_PORT POSTIE_CHASQUID_SUBMISSION_PORT chasquid submission
$CHASQUID_SUBMISSIONS_PORT POSTIE_CHASQUID_SUBMISSIONS_PORT chasquid submissions
EOF
}

chasquid_install() {
	if ! command -v chasquid >/dev/null 2>&1 || ! command -v chasquid-util >/dev/null 2>&1; then
		apt_install chasquid
		# apt_install starts nothing, but the package enables its units for
		# the next boot where systemd runs: the tests want no system chasquid.
		if [ -d /run/systemd/system ]; then
			systemctl disable --now chasquid.service chasquid-smtp.socket \
				chasquid-submission.socket chasquid-submission_tls.socket >/dev/null 2>&1 || true
		fi
	fi
	command -v chasquid >/dev/null 2>&1 || die "chasquid not found after installing it"
}

chasquid_start() {
	choose_chasquid_dir
	rm -rf "${CQ_DIR:?}"/*
	write_chasquid_config
	launch_chasquid
}

chasquid_ready() {
	greet chasquid "ESMTP chasquid" "$LISTEN_HOST:$CHASQUID_SMTP_PORT" \
		"$LISTEN_HOST:$CHASQUID_SUBMISSION_PORT" --implicit-tls "$LISTEN_HOST:$CHASQUID_SUBMISSIONS_PORT"
	check_chasquid
}

chasquid_stop() {
	stop_pidfile "$CQ_PID" "chasquid -config_dir $CQ_ETC" chasquid
}

chasquid_status() {
	local pid
	if pid=$(chasquid_pid); then
		log "chasquid running (pid $pid) on $LISTEN_HOST ports $CHASQUID_SMTP_PORT $CHASQUID_SUBMISSION_PORT $CHASQUID_SUBMISSIONS_PORT"
	else
		log "chasquid not running"
		return 1
	fi
}

chasquid_env() {
	local h=$LISTEN_HOST version
	# "chasquid 1.11-2+b2 (source date: ...)" -> 1.11
	version=$(chasquid -version 2>/dev/null | awk '{ sub(/-.*/, "", $2); print $2; exit }')
	env_line POSTIE_TEST_CHASQUID_VERSION "$version"
	env_line POSTIE_TEST_CHASQUID_SMTP "$h:$CHASQUID_SMTP_PORT"
	env_line POSTIE_TEST_CHASQUID_SUBMISSION "$h:$CHASQUID_SUBMISSION_PORT"
	env_line POSTIE_TEST_CHASQUID_SUBMISSIONS "$h:$CHASQUID_SUBMISSIONS_PORT"
	env_line POSTIE_TEST_CHASQUID_MECHS "$CQ_MECHS"
	env_line POSTIE_TEST_CHASQUID_MAIL "$CQ_LINK/mail/$MAIL_DOMAIN"
	env_line POSTIE_TEST_CHASQUID_MAILLOG "$CQ_LINK/mail.log"
	env_line POSTIE_TEST_CHASQUID_USER "$CQ_USER"
	env_line POSTIE_TEST_CHASQUID_PASSWORD "$SASL_PASSWORD"
	env_line POSTIE_TEST_CHASQUID_USER2 "$CQ_USER2"
	env_line POSTIE_TEST_CHASQUID_PASSWORD2 "$SASL_PASSWORD2"
}

chasquid_logs() { echo "$CQ_LOG" "$CQ_MAILLOG"; }

chasquid_summary() {
	log "chasquid on $LISTEN_HOST:$CHASQUID_SMTP_PORT, submission $CHASQUID_SUBMISSION_PORT, submissions $CHASQUID_SUBMISSIONS_PORT,"
	log "         Maildirs in $CQ_LINK/mail/$MAIL_DOMAIN/<localpart>/ (AUTH PLAIN as $CQ_USER)"
}
