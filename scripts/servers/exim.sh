# Exim for the tests (sourced by scripts/servers.sh, never run).
#
# Exim 4.96 from Debian 12's exim4-daemon-light, unpacked (never installed:
# its package conflicts with Postfix) into $POSTIE_TEST_CACHE/exim
# (/var/cache/postie-test/exim) and run from there as a foreground daemon
# with its own configuration, spool and logs in $POSTIE_TEST_DIR/exim. The
# binary looks its compiled-in user "Debian-exim" up at start-up, so
# exim_install creates that system user if it is missing (Exim itself runs
# as postie-test, see below). Loopback only; in env.sh each address is
# HOST:PORT (variable in brackets).
#
#   127.0.0.1:10050 (POSTIE_TEST_EXIM_SMTP, and the same address as
#       POSTIE_TEST_EXIM_SUBMISSION; port: POSTIE_EXIM_SMTP_PORT)
#       STARTTLS offered (the test CA's server.pem), AUTH only after it.
#       Greeting "220 exim.test ESMTP Exim 4.96 <date>".
#   127.0.0.1:10051 (POSTIE_TEST_EXIM_SUBMISSIONS; POSTIE_EXIM_SUBMISSIONS_PORT)
#       the same behind implicit TLS (tls_on_connect_ports), AUTH offered.
#   Both: RCPT *@example.org is accepted from anyone, with or without AUTH,
#     and delivered at once into one Maildir per local part (lower-cased),
#     $POSTIE_TEST_DIR/exim/mail/<localpart>/new/ (POSTIE_TEST_EXIM_MAIL),
#     files 0644, dirs 0755, owned by postie-test. Delivery runs in the
#     background after the reply to DATA (or BDAT LAST): the file appears
#     a few milliseconds after that reply, so read-back must poll.
#     RCPT nobody@example.org -> "550 5.1.1 no such user",
#     busy@example.org -> "450 4.2.1 mailbox busy, try later",
#     a local part that is empty, starts with a dot or has a slash ->
#     "550 5.1.3 bad local part", any other domain ->
#     "550 5.7.1 relay not permitted" (authenticated or not).
#     After DATA: "250 OK id=<queue id>" (e.g. "250 OK id=1xaCiw-0006uT-2s");
#     after BDAT LAST a two-line reply, "250-19 byte chunk, total 19" then
#     "250 OK id=...". AUTH before TLS: "503 AUTH command used when not
#     advertised".
#     EHLO offers SIZE 67108864, 8BITMIME, PIPELINING, PIPECONNECT, CHUNKING,
#     DSN, STARTTLS (not on 10051), SMTPUTF8, HELP, and AUTH after TLS.
#   AUTH (POSTIE_TEST_EXIM_MECHS): PLAIN, LOGIN (plaintext driver) and
#     CRAM-MD5 (cram_md5 driver) against alice / wonderland-secret and
#     bob / "b0b-p@ss wörd". The light build has no cyrus_sasl, dovecot or
#     gsasl authenticator, so no DIGEST-MD5 and no SCRAM. Wrong password:
#     "535 Incorrect authentication data".
#   The message is stored as received: no header is added except Exim's
#     "Return-path:" and Received: at the top (no Message-ID:, Date:,
#     Sender: or From: fix-ups, which Exim only makes for local or
#     submission-mode messages; no rewriting, no DKIM verification, no DNS,
#     ident or host lookups).
#     Incoming Return-Path:, Envelope-to: and Delivery-date: headers are kept
#     (Exim removes them by default). Stored with LF line ends.
#   Generous limits: 1000 messages per connection, 64 MiB messages, no limit
#     on non-mail commands (RSET, NOOP...), 1000 unknown commands or protocol
#     errors before Exim hangs up (default 3). Exim's strict pipelining check
#     stays on: a client that sends ahead where PIPELINING does not allow it
#     gets "554 SMTP synchronization error" and is disconnected.
#   Also exported: POSTIE_TEST_EXIM_VERSION (e.g. "4.96"), POSTIE_TEST_EXIM_LOG
#     (Exim's mainlog: connections, receptions "<=", rejections). Deliveries
#     ("=>") are logged in $POSTIE_TEST_DIR/exim/daemon.log instead: the
#     delivery processes run without Exim's privileges (see the config) and
#     then log to stderr.
# shellcheck shell=bash

SERVERS+=(exim)

EXIM_SMTP_PORT=$(port_of POSTIE_EXIM_SMTP_PORT 10050)
EXIM_SUBMISSIONS_PORT=$(port_of POSTIE_EXIM_SUBMISSIONS_PORT 10051)
EXIM_MECHS="PLAIN LOGIN CRAM-MD5"
EXIM_HOSTNAME=exim.test

EXIM_ROOT=$CACHE_DIR/exim                # the unpacked package
EXIM_BIN=$EXIM_ROOT/usr/sbin/exim4
# The user name compiled into Debian's binary (EXIM_USER=ref:Debian-exim).
EXIM_BUILD_USER=Debian-exim

# $EXIM_LINK is $POSTIE_TEST_DIR/exim: the instance's directory itself, or a
# symlink to one under /var/tmp when postie-test cannot reach
# $POSTIE_TEST_DIR (see choose_exim_dir). Exim is configured with real paths.
EXIM_LINK=$TEST_DIR/exim
set_exim_dir() {
	EXIM_DIR=$1
	EXIM_CONF=$EXIM_DIR/exim.conf
	EXIM_USERS=$EXIM_DIR/users      # lsearch file: user: password
	EXIM_SPOOL=$EXIM_DIR/spool
	EXIM_LOGDIR=$EXIM_DIR/log       # mainlog, rejectlog, paniclog
	EXIM_MAIL=$EXIM_DIR/mail        # the Maildirs: $EXIM_MAIL/<localpart>/
	EXIM_PID=$EXIM_DIR/exim.pid     # written by launch_daemon
	EXIM_OUT=$EXIM_DIR/daemon.log   # the daemon's stdout and stderr
	EXIM_CERT=$EXIM_DIR/server.pem  # copies of the test CA's server.pem/.key
	EXIM_KEY=$EXIM_DIR/server.key
}
if [ -L "$EXIM_LINK" ]; then
	set_exim_dir "$(readlink -f "$EXIM_LINK")"
else
	set_exim_dir "$EXIM_LINK"
fi

# Exim drops root for everything but listening: receiving, the spool, the
# logs and the deliveries all run as $VMAIL_USER, which must reach the
# instance's directory. When $POSTIE_TEST_DIR is out of its reach (e.g. a
# clone under /root, mode 700), the instance lives under /var/tmp and
# $POSTIE_TEST_DIR/exim is a symlink to it.
choose_exim_dir() {
	local dir
	mkdir -p "$TEST_DIR"
	if reachable_by "$VMAIL_USER" "$TEST_DIR"; then
		[ ! -L "$EXIM_LINK" ] || rm -f "$EXIM_LINK"
		dir=$EXIM_LINK
	else
		fallback_dir exim
		dir=$FALLBACK_DIR
		log "$VMAIL_USER cannot reach $TEST_DIR; the Exim instance lives in $dir"
		if [ "$(readlink "$EXIM_LINK" 2>/dev/null || true)" != "$dir" ]; then
			rm -rf "$EXIM_LINK"
			ln -s "$dir" "$EXIM_LINK"
		fi
	fi
	set_exim_dir "$dir"
}

# The users for AUTH, one "name: password" line each (lsearch: the data is
# the rest of the line, as it is, spaces and UTF-8 included).
write_exim_users() {
	printf '%s: %s\n' "$SASL_USER" "$SASL_PASSWORD" "$SASL_USER2" "$SASL_PASSWORD2" >"$EXIM_USERS"
	# Read by the receiving process, which runs as $VMAIL_USER.
	chown "root:$VMAIL_GID" "$EXIM_USERS"
	chmod 640 "$EXIM_USERS"
}

# The configuration, written from scratch on every start. Exim insists that
# it belongs to root and is writable by nobody else.
write_exim_conf() {
	# \$ is for Exim; $VAR is filled in here.
	cat >"$EXIM_CONF" <<EOF
# Generated by scripts/servers.sh; rewritten on every start. Do not edit.
keep_environment =
exim_path = $EXIM_BIN
# Not root: Exim keeps root only for a configuration listed in the binary's
# TRUSTED_CONFIG_LIST (/etc/exim4/trusted_configs), which is left alone. So
# Exim runs as the Maildirs' owner, and its re-executed delivery processes
# (which "lose privilege for using -C") can still deliver as that user.
exim_user = $VMAIL_USER
exim_group = $(id -gn "$VMAIL_USER")
primary_hostname = $EXIM_HOSTNAME
qualify_domain = $EXIM_HOSTNAME
spool_directory = $EXIM_SPOOL
log_file_path = $EXIM_LOGDIR/%slog
pid_file_path = $EXIM_DIR/exim-daemon.pid
log_selector = +received_recipients +smtp_protocol_error +smtp_syntax_error +tls_peerdn

local_interfaces = $LISTEN_HOST
daemon_smtp_ports = $EXIM_SMTP_PORT : $EXIM_SUBMISSIONS_PORT
tls_on_connect_ports = $EXIM_SUBMISSIONS_PORT
disable_ipv6 = true
smtp_connect_backlog = 128

# No DNS, ident or host-name lookups, no DKIM verification (DNS).
host_lookup =
helo_lookup_domains =
rfc1413_hosts =
rfc1413_query_timeout = 0s
dkim_verify_signers =

# TLS with the test CA's server certificate; AUTH only once TLS is on.
tls_advertise_hosts = *
tls_certificate = $EXIM_CERT
tls_privatekey = $EXIM_KEY
tls_dhparam = none
auth_advertise_hosts = \${if eq{\$tls_in_cipher}{}{}{*}}

# Generous limits; every message is delivered at once.
message_size_limit = 64M
smtp_accept_max = 100
smtp_accept_max_per_connection = 1000
smtp_accept_queue_per_connection = 0
smtp_accept_max_nonmail_hosts =
smtp_max_unknown_commands = 1000
smtp_max_synprot_errors = 1000
queue_only = false
dsn_advertise_hosts = *

# Keep the message as sent: Exim removes these headers by default.
return_path_remove = false
envelope_to_remove = false
delivery_date_remove = false

domainlist local_domains = $MAIL_DOMAIN
acl_smtp_rcpt = acl_rcpt

begin acl
acl_rcpt:
  deny    domains = +local_domains
          local_parts = \N^(|\..*|.*/.*)\$\N
          message = 5.1.3 bad local part
  deny    recipients = nobody@$MAIL_DOMAIN
          message = 5.1.1 no such user
  defer   recipients = busy@$MAIL_DOMAIN
          message = 450 4.2.1 mailbox busy, try later
  accept  domains = +local_domains
  deny    message = 5.7.1 relay not permitted

begin routers
maildir:
  driver = accept
  domains = +local_domains
  condition = \${if match{\$local_part}{\N^[^./][^/]*\$\N}}
  transport = maildir

begin transports
# Exim 4.96 refuses a path built from \$local_part (tainted, it comes from
# the client) and this router has no lookup to give an untainted
# \$local_part_data; the output of \${run} is untainted, so printf hands the
# local part back. (\${run} splits the command into arguments before it
# expands them: the local part is one argument, whatever it holds.)
maildir:
  driver = appendfile
  maildir_format
  directory = $EXIM_MAIL/\${run{/usr/bin/printf %s \$local_part}{\$value}fail}
  create_directory
  directory_mode = 0755
  mode = 0644
  mode_fail_narrower = false
  user = $VMAIL_USER
  return_path_add

begin authenticators
PLAIN:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and{{!eq{\$auth3}{}}{eq{\$auth3}{\${lookup{\$auth2}lsearch{$EXIM_USERS}}}}}}
  server_set_id = \$auth2
LOGIN:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if and{{!eq{\$auth2}{}}{eq{\$auth2}{\${lookup{\$auth1}lsearch{$EXIM_USERS}}}}}}
  server_set_id = \$auth1
CRAM_MD5:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${lookup{\$auth1}lsearch{$EXIM_USERS}{\$value}fail}
  server_set_id = \$auth1
EOF
	chmod 644 "$EXIM_CONF"
}

exim_pid() { pidfile_pid "$EXIM_PID" "-C $EXIM_CONF"; }

# Exim delivers a probe, refuses nobody@, and does TLS and AUTH (PLAIN over
# implicit TLS, CRAM-MD5 after STARTTLS; as alice: smtplib, which the probe
# uses, cannot send bob's UTF-8 password). The AUTH checks run alongside the
# rest (most of each check is Python starting up).
check_exim() {
	local h=$LISTEN_HOST maildir=$EXIM_MAIL/probe plain cram
	"$PYTHON" "$PROBE" auth "$h:$EXIM_SUBMISSIONS_PORT" --tls implicit --cafile "$TLS_DIR/ca.pem" \
		--user "$SASL_USER" --password "$SASL_PASSWORD" >/dev/null &
	plain=$!
	"$PYTHON" "$PROBE" auth "$h:$EXIM_SMTP_PORT" --tls starttls --cafile "$TLS_DIR/ca.pem" \
		--mechanism CRAM-MD5 --user "$SASL_USER" --password "$SASL_PASSWORD" >/dev/null &
	cram=$!
	"$PYTHON" "$PROBE" rcpt "$h:$EXIM_SMTP_PORT" --to "nobody@$MAIL_DOMAIN" --expect 550 >/dev/null ||
		die "Exim does not refuse nobody@$MAIL_DOMAIN with 550"
	"$PYTHON" "$PROBE" send "$h:$EXIM_SMTP_PORT" --from probe-sender@postie.test \
		--to "probe@$MAIL_DOMAIN" || die "Exim did not accept the probe message"
	wait_for_file Exim "$maildir/new/*" "$EXIM_LAUNCHED"
	rm -rf "$maildir"
	wait "$plain" || die "AUTH PLAIN as $SASL_USER over implicit TLS ($h:$EXIM_SUBMISSIONS_PORT) failed"
	wait "$cram" || die "AUTH CRAM-MD5 as $SASL_USER after STARTTLS ($h:$EXIM_SMTP_PORT) failed"
}

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

exim_ports() {
	cat <<EOF
$EXIM_SMTP_PORT POSTIE_EXIM_SMTP_PORT Exim SMTP and submission (STARTTLS)
$EXIM_SUBMISSIONS_PORT POSTIE_EXIM_SUBMISSIONS_PORT Exim submissions (implicit TLS)
EOF
}

exim_install() {
	# Only the daemon package: its binary is all we run (exim4-base holds
	# the cron job, init script and tools; exim4-config Debian's config).
	unpack_debs "$EXIM_ROOT" exim4-daemon-light
	[ -x "$EXIM_BIN" ] || die "$EXIM_BIN not found in the unpacked exim4-daemon-light"
	# The binary refuses to start without its compiled-in user, which
	# exim4-base's postinst would have made (same flags as there).
	if ! getent passwd "$EXIM_BUILD_USER" >/dev/null; then
		log "creating system user $EXIM_BUILD_USER (Exim's binary requires it; Exim runs as $VMAIL_USER)"
		useradd --system --user-group --no-create-home --home-dir /var/spool/exim4 \
			--shell /usr/sbin/nologin "$EXIM_BUILD_USER"
	fi
}

exim_start() {
	choose_exim_dir
	rm -rf "${EXIM_DIR:?}"
	mkdir -p "$EXIM_SPOOL" "$EXIM_LOGDIR" "$EXIM_MAIL"
	chown "$VMAIL_UID:$VMAIL_GID" "$EXIM_SPOOL" "$EXIM_LOGDIR" "$EXIM_MAIL"
	chmod 755 "$EXIM_DIR" "$EXIM_MAIL"
	# Exim reads the certificate as $VMAIL_USER, which may not reach $TLS_DIR.
	install -m 644 "$TLS_DIR/server.pem" "$EXIM_CERT"
	install -m 640 -g "$VMAIL_GID" "$TLS_DIR/server.key" "$EXIM_KEY"
	write_exim_users
	write_exim_conf
	log "starting Exim on $LISTEN_HOST:$EXIM_SMTP_PORT and $EXIM_SUBMISSIONS_PORT (config $EXIM_CONF)"
	# -bdf: the daemon in the foreground. No -q: no queue runner, nothing
	# is retried (every message is delivered when it arrives).
	launch_daemon "$EXIM_PID" "$EXIM_OUT" "$EXIM_BIN" -C "$EXIM_CONF" -bdf
	EXIM_LAUNCHED=$LAUNCHED
}

exim_ready() {
	greet Exim "$EXIM_HOSTNAME" "$LISTEN_HOST:$EXIM_SMTP_PORT" \
		--implicit-tls "$LISTEN_HOST:$EXIM_SUBMISSIONS_PORT"
	check_exim
}

exim_stop() {
	# On TERM the daemon also tries to remove exim-daemon.pid by running
	# "exim -oPX", which the binary refuses to a user other than root or
	# Debian-exim: a harmless line in daemon.log.
	stop_pidfile "$EXIM_PID" "-C $EXIM_CONF" Exim
}

exim_version() {
	"$EXIM_BIN" -C "$EXIM_CONF" -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p'
}

exim_env() {
	local h=$LISTEN_HOST
	env_line POSTIE_TEST_EXIM_VERSION "$(exim_version)"
	env_line POSTIE_TEST_EXIM_SMTP "$h:$EXIM_SMTP_PORT"
	env_line POSTIE_TEST_EXIM_SUBMISSION "$h:$EXIM_SMTP_PORT"
	env_line POSTIE_TEST_EXIM_SUBMISSIONS "$h:$EXIM_SUBMISSIONS_PORT"
	env_line POSTIE_TEST_EXIM_MECHS "$EXIM_MECHS"
	env_line POSTIE_TEST_EXIM_MAIL "$EXIM_LINK/mail"
	env_line POSTIE_TEST_EXIM_LOG "$EXIM_LINK/log/mainlog"
}

exim_status() {
	local pid
	if pid=$(exim_pid); then
		log "Exim running (pid $pid) on $LISTEN_HOST ports $EXIM_SMTP_PORT $EXIM_SUBMISSIONS_PORT"
	else
		log "Exim not running"
		return 1
	fi
}

exim_logs() { echo "$EXIM_LOGDIR/mainlog $EXIM_LOGDIR/paniclog $EXIM_OUT"; }

exim_summary() {
	log "Exim     on $LISTEN_HOST:$EXIM_SMTP_PORT (STARTTLS, AUTH after it), implicit TLS $EXIM_SUBMISSIONS_PORT,"
	log "         AUTH $EXIM_MECHS, Maildirs in $EXIM_LINK/mail/<localpart>/"
}
