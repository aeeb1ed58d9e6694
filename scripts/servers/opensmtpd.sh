# OpenSMTPD for the tests (sourced by scripts/servers.sh, never run).
#
# OpenSMTPD 6.8.0p2 from Debian 12's opensmtpd package, which conflicts with
# Postfix (it provides mail-transport-agent): it is never installed, only
# unpacked (unpack_debs) into $POSTIE_TEST_CACHE/opensmtpd (default
# /var/cache/postie-test/opensmtpd) and run from there in the foreground:
#   .../usr/sbin/smtpd -d -f $POSTIE_TEST_DIR/opensmtpd/smtpd.conf
# (-d: no daemon, log to stderr = $POSTIE_TEST_DIR/opensmtpd/smtpd.log; -F
# would log to syslog).
#
# Loopback only, plain SMTP only:
#   127.0.0.1:10061 (POSTIE_TEST_OPENSMTPD_SMTP; port: POSTIE_OPENSMTPD_SMTP_PORT)
#     No STARTTLS, no AUTH (so no SUBMISSION variables): this build cannot
#     complete a TLS handshake with Debian 12's OpenSSL 3 (the client gets a
#     "tlsv1 alert internal error", the log "SSL routines::EVP lib", with EC
#     and RSA keys alike), and it has AUTH only behind TLS.
#     Greeting "220 opensmtpd.test ESMTP OpenSMTPD"; EHLO offers 8BITMIME,
#     ENHANCEDSTATUSCODES, SIZE 36700160, DSN, HELP (no PIPELINING, no
#     SMTPUTF8, no CHUNKING).
#     Anyone may send to example.org: every local part is delivered to
#     $POSTIE_TEST_DIR/opensmtpd/mail/<localpart>/new/ (POSTIE_TEST_OPENSMTPD_MAIL;
#     local part folded to lower case, as by the test Postfix; files 0644,
#     directories 0755, owned by postie-test; written by maildir_deliver.sh,
#     so the file names end in ".postfix.test" like the test Postfix's).
#     RCPT nobody@example.org -> "550 5.1.1 no such user"; any other domain
#     -> "550 Invalid recipient: <x@elsewhere.test>" (no enhanced code).
#     Nothing is ever relayed: there is no relay action (bounces to remote
#     senders are refused locally and dropped).
#     The point of this server: at most 100 messages per connection
#     (POSTIE_TEST_OPENSMTPD_MAX_MAILS, set in smtpd.conf with "smtp limit
#     max-mails"). The 101st MAIL FROM, and every later one, gets
#     "452 4.5.3 Too many recipients: Too many messages sent"; the connection
#     stays open (RSET, NOOP, QUIT still answer 250/221).
#     After DATA: "250 2.0.0 9df8651b Message accepted for delivery" (the
#     message id: 8 hex digits, random).
#   POSTIE_TEST_OPENSMTPD_VERSION   "6.8.0p2" (from "smtpd -h")
#
# What the server does to messages (smtp_session.c; cannot be turned off):
#   * prepends Return-Path:, Delivered-To: (the recipient as given in RCPT)
#     and Received: (with "for <rcpt>" when there is one recipient);
#   * since the listener is on 127.0.0.1 it counts as "local": a message
#     without Date: or Message-ID: gets them appended at the END of its
#     header ("Message-ID: <16 hex digits@opensmtpd.test>");
#   * removes every Bcc: header;
#   * appends "@opensmtpd.test" to addresses without a domain in From:, To:
#     and Cc: ("From: alice" -> "From: alice@opensmtpd.test").
#   Local parts with a quoted string ("a b"@example.org) are refused:
#   "501 5.1.3 Recipient address syntax error".
#
# Compiled-in paths that no option moves (the system package would use the
# same ones; it cannot be installed next to Postfix, and start refuses to run
# when the package is installed or another OpenSMTPD runs):
#   /var/spool/smtpd            the queue. EVERY START EMPTIES IT, so mail a
#                               previous run left queued never leaks into a
#                               test.
#   /var/run/smtpd.sock         the smtpctl control socket
#   /var/lib/opensmtpd/empty    the chroot of the unprivileged processes
#                               (created by opensmtpd_install, as by the
#                               package)
#   /usr/libexec/opensmtpd/*    the delivery helpers (mail.maildir, mail.mda,
#                               ...). They are not there, and not needed: the
#                               "maildir" mda wrapper replaces the whole
#                               delivery command with scripts/servers/
#                               maildir_deliver.sh (copied into the instance).
# System users opensmtpd and opensmtpq (this build's names for _smtpd and
# _smtpq), created by opensmtpd_install as the package's postinst would.
# Delivery runs as postie-test: a virtual table maps every address to it.
# shellcheck shell=bash

SERVERS+=(opensmtpd)

OPENSMTPD_PORT=$(port_of POSTIE_OPENSMTPD_SMTP_PORT 10061)
OPENSMTPD_MAX_MAILS=100
OPENSMTPD_HOSTNAME=opensmtpd.test

OS_ROOT=$CACHE_DIR/opensmtpd # the unpacked package
OS_SMTPD=$OS_ROOT/usr/sbin/smtpd
OS_DIR=$TEST_DIR/opensmtpd
OS_CONF=$OS_DIR/smtpd.conf
OS_PID=$OS_DIR/smtpd.pid
OS_LOG=$OS_DIR/smtpd.log
OS_MAIL=$OS_DIR/mail # the Maildirs, as the tests see them
# Compiled into smtpd (see the header).
OS_SPOOL=/var/spool/smtpd
OS_CHROOT=/var/lib/opensmtpd/empty

# Where the Maildirs and the delivery script really are: $OS_DIR, or a
# directory under /var/tmp when $VMAIL_USER cannot reach $POSTIE_TEST_DIR
# (then $OS_MAIL is a symlink to it).
set_opensmtpd_real_dir() {
	OS_REAL=$1
	OS_REAL_MAIL=$OS_REAL/mail
	OS_DELIVER=$OS_REAL/bin/maildir_deliver.sh
}
set_opensmtpd_real_dir "$OS_DIR"

# ---------------------------------------------------------------------------
# smtpd.conf
# ---------------------------------------------------------------------------

write_opensmtpd_conf() {
	# The delivery command runs under /bin/sh -c as $VMAIL_USER. $LOCAL is
	# the recipient's local part exactly as given (smtpd's %{rcpt.user}
	# would turn characters such as ' & | into ':'); it is quoted for the
	# shell and folded to lower case. maildir_deliver.sh BASE DOMAIN LOCAL
	# writes to BASE/DOMAIN/LOCAL, hence "mail" as the "domain". Its exit
	# codes are what smtpd expects: 75 defers, anything else non-zero bounces.
	cat <<EOF
# Generated by scripts/servers.sh; rewritten on every start. Do not edit.
# OpenSMTPD test instance on $LISTEN_HOST:$OPENSMTPD_PORT (scripts/servers/opensmtpd.sh).

# Every address at $MAIL_DOMAIN is delivered as the one user $VMAIL_USER.
table vusers { "@" = "$VMAIL_USER" }
table nobodies { "nobody@$MAIL_DOMAIN" }

filter "nobody" phase rcpt-to match rcpt-to <nobodies> reject "550 5.1.1 no such user"

# The per-connection message limit the tests are about (the default is the
# same; set here so that they do not depend on it).
smtp limit max-mails $OPENSMTPD_MAX_MAILS

listen on $LISTEN_HOST port $OPENSMTPD_PORT hostname $OPENSMTPD_HOSTNAME filter "nobody"

# "mda" would run /usr/libexec/opensmtpd/mail.mda, which is not installed; a
# wrapper replaces the whole command (its %{mda}, the command given to the
# action, is not used).
mda wrapper "maildir" "/bin/sh '$OS_DELIVER' '$OS_REAL' mail \"\$(printf '%s' \"\$LOCAL\" | tr A-Z a-z)\""
action "local" mda "unused" wrapper "maildir" virtual <vusers>

match from any for domain "$MAIL_DOMAIN" action "local"
EOF
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

opensmtpd_pid() { pidfile_pid "$OS_PID" "-d -f $OS_CONF"; }

# An OpenSMTPD that is not ours (another POSTIE_TEST_DIR's, or a system one)
# shares the compiled-in spool and control socket.
opensmtpd_foreign_pid() {
	local pid
	command -v pgrep >/dev/null 2>&1 || return 1
	# Postfix's smtpd is /usr/lib/postfix/sbin/smtpd, which does not match.
	for pid in $(pgrep -x smtpd || true); do
		case $(readlink "/proc/$pid/exe" 2>/dev/null || true) in
		"$OS_SMTPD" | /usr/sbin/smtpd)
			echo "$pid"
			return 0
			;;
		esac
	done
	return 1
}

# The Maildirs and the delivery script, reachable by $VMAIL_USER.
prepare_opensmtpd_mail() {
	local real
	if reachable_by "$VMAIL_USER" "$TEST_DIR"; then
		set_opensmtpd_real_dir "$OS_DIR"
	else
		fallback_dir opensmtpd
		real=$FALLBACK_DIR
		log "$VMAIL_USER cannot reach $TEST_DIR; the OpenSMTPD Maildirs live in $real/mail"
		rm -rf "${real:?}/mail"
		set_opensmtpd_real_dir "$real"
		ln -s "$OS_REAL_MAIL" "$OS_MAIL"
	fi
	mkdir -p "$OS_REAL_MAIL" "${OS_DELIVER%/*}"
	install -m 755 "$SERVERS_DIR/maildir_deliver.sh" "$OS_DELIVER"
	chown "$VMAIL_UID:$VMAIL_GID" "$OS_REAL_MAIL"
	chmod 755 "$OS_REAL_MAIL"
}

# Empty the compiled-in queue, keeping its top directories (smtpd made them
# with the owners and modes it checks).
wipe_opensmtpd_spool() {
	[ -d "$OS_SPOOL" ] || return 0
	find "$OS_SPOOL" -mindepth 2 -delete
}

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

opensmtpd_ports() {
	echo "$OPENSMTPD_PORT POSTIE_OPENSMTPD_SMTP_PORT OpenSMTPD"
}

opensmtpd_install() {
	if deb_installed opensmtpd; then
		die "the opensmtpd package is installed: its daemon would share $OS_SPOOL with the test instance; remove it"
	fi
	unpack_debs "$OS_ROOT" opensmtpd
	[ -x "$OS_SMTPD" ] || die "$OS_SMTPD not found after unpacking opensmtpd"
	# The users the package's postinst creates; smtpd refuses to start
	# without them ("unknown user opensmtpd").
	local name
	for name in opensmtpd opensmtpq; do
		getent group "$name" >/dev/null || groupadd --system "$name"
		if ! getent passwd "$name" >/dev/null; then
			log "creating system user $name (for OpenSMTPD's privilege separation)"
			useradd --system --gid "$name" --no-create-home --home-dir "$OS_CHROOT" \
				--shell /usr/sbin/nologin "$name"
		fi
	done
	# The unprivileged processes chroot here (the package ships it empty).
	if [ ! -d "$OS_CHROOT" ]; then
		mkdir -p "$OS_CHROOT"
		chmod 755 "${OS_CHROOT%/empty}" "$OS_CHROOT"
	fi
}

opensmtpd_start() {
	local pid
	if pid=$(opensmtpd_foreign_pid); then
		die "another OpenSMTPD (pid $pid, $(readlink "/proc/$pid/exe" 2>/dev/null || echo '?')) runs and shares $OS_SPOOL; stop it first"
	fi
	rm -rf "${OS_DIR:?}"
	mkdir -p "$OS_DIR"
	prepare_opensmtpd_mail
	write_opensmtpd_conf >"$OS_CONF"
	wipe_opensmtpd_spool
	log "starting OpenSMTPD on $LISTEN_HOST:$OPENSMTPD_PORT (config $OS_CONF)"
	launch_daemon "$OS_PID" "$OS_LOG" "$OS_SMTPD" -d -f "$OS_CONF"
	OS_LAUNCHED=$LAUNCHED
}

opensmtpd_ready() {
	local maildir=$OS_MAIL/probe
	pid_alive "$OS_LAUNCHED" || die "OpenSMTPD exited during start-up"
	greet OpenSMTPD "$OPENSMTPD_HOSTNAME ESMTP OpenSMTPD" "$LISTEN_HOST:$OPENSMTPD_PORT"
	"$PYTHON" "$PROBE" rcpt "$LISTEN_HOST:$OPENSMTPD_PORT" --to "nobody@$MAIL_DOMAIN" --expect 550 >/dev/null ||
		die "OpenSMTPD does not refuse nobody@$MAIL_DOMAIN with 550"
	"$PYTHON" "$PROBE" send "$LISTEN_HOST:$OPENSMTPD_PORT" --from probe-sender@postie.test \
		--to "Probe@$MAIL_DOMAIN" || die "OpenSMTPD did not accept the probe message"
	# Also checks the folding to lower case.
	wait_for_file OpenSMTPD "$maildir/new/*" "$OS_LAUNCHED"
	rm -rf "$maildir"
}

opensmtpd_stop() {
	local pid
	pid=$(opensmtpd_pid) || return 0
	# On TERM the parent stops its children and removes the control socket.
	stop_pid "$pid" OpenSMTPD
	rm -f "$OS_PID"
}

opensmtpd_status() {
	local pid
	if pid=$(opensmtpd_pid); then
		log "OpenSMTPD running (pid $pid) on $LISTEN_HOST:$OPENSMTPD_PORT"
	else
		log "OpenSMTPD not running"
		return 1
	fi
}

# "smtpd -h" prints "version: OpenSMTPD 6.8.0p2" and the usage, and exits 1.
opensmtpd_version() {
	{ "$OS_SMTPD" -h 2>&1 || true; } | sed -n 's/^version: OpenSMTPD //p'
}

opensmtpd_env() {
	env_line POSTIE_TEST_OPENSMTPD_VERSION "$(opensmtpd_version)"
	env_line POSTIE_TEST_OPENSMTPD_SMTP "$LISTEN_HOST:$OPENSMTPD_PORT"
	env_line POSTIE_TEST_OPENSMTPD_MAIL "$OS_MAIL"
	env_line POSTIE_TEST_OPENSMTPD_MAX_MAILS "$OPENSMTPD_MAX_MAILS"
}

opensmtpd_logs() { echo "$OS_LOG"; }

opensmtpd_summary() {
	log "OpenSMTPD $(opensmtpd_version) on $LISTEN_HOST:$OPENSMTPD_PORT (plain SMTP, at most $OPENSMTPD_MAX_MAILS messages per connection), Maildirs in $OS_MAIL/<localpart>/"
}
