#!/usr/bin/env bash
# Start and stop the SMTP servers that postie's integration tests talk to.
#
#   scripts/servers.sh start    install what is missing, (re)start both servers,
#                               check them, write $POSTIE_TEST_DIR/env.sh
#   scripts/servers.sh stop     stop both servers (state is kept for inspection)
#   scripts/servers.sh status   say what is running
#
# Must run as root (apt-get, and the Postfix master runs as root).
#
# Servers (loopback only, nothing is ever sent off this machine):
#   * a private Postfix instance, config in $POSTIE_TEST_DIR/postfix/etc, on
#     127.0.0.1:$POSTIE_POSTFIX_PORT (default 10025). Domain example.org is
#     delivered to one Maildir per local part:
#       $POSTIE_TEST_DIR/postfix/mail/example.org/<localpart>/new/
#     RCPT nobody@example.org -> 550 5.1.1, busy@example.org -> 450 4.2.1,
#     any other domain -> relay denied (554 5.7.1).
#   * aiosmtpd (scripts/servers/aiosmtpd_store.py) on
#     127.0.0.1:$POSTIE_AIOSMTPD_PORT (default 10026), storing every accepted
#     message as NNNNNN.eml + NNNNNN.json in $POSTIE_TEST_DIR/aiosmtpd/messages.
#     RCPT reject*@... -> 550 5.1.1, defer*@... -> 450 4.2.1.
#
# `start` always begins from a clean state: it stops a previous instance and
# deletes the previous instance's mail, queued messages and logs.
#
# Environment:
#   POSTIE_TEST_DIR        state directory (default: <repo>/.test-servers)
#   POSTIE_POSTFIX_PORT    Postfix smtpd port (default 10025)
#   POSTIE_AIOSMTPD_PORT   aiosmtpd port (default 10026)
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
}
if [ -L "$PF_LINK" ]; then
	set_postfix_dir "$(readlink -f "$PF_LINK")"
else
	set_postfix_dir "$PF_LINK"
fi

# aiosmtpd layout.
AIO_DIR=$TEST_DIR/aiosmtpd
AIO_MAIL=$AIO_DIR/messages
AIO_PID=$AIO_DIR/aiosmtpd.pid
AIO_LOG=$AIO_DIR/aiosmtpd.log
AIO_SCRIPT=$SCRIPT_DIR/servers/aiosmtpd_store.py
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
	if ! command -v postfix >/dev/null 2>&1 ||
		! command -v saslpasswd2 >/dev/null 2>&1 ||
		! deb_installed libsasl2-modules; then
		apt_update_once
		# Install the binaries only: no system-wide main.cf, no default instance.
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		apt_install postfix sasl2-bin libsasl2-modules
	fi
	[ -x "$PF_MASTER" ] || die "$PF_MASTER not found after installing postfix"
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
# Postfix configuration. main.cf and master.cf are written from scratch.
#
# To add more later:
#   * STARTTLS / SMTPS: add main_cf_tls (smtpd_tls_cert_file, ...) to
#     write_main_cf, and in master_cf_listeners add e.g.
#       master_cf_smtpd_listener "$LISTEN_HOST:$STARTTLS_PORT" smtpd_tls_security_level=may
#       master_cf_smtpd_listener "$LISTEN_HOST:$SMTPS_PORT" smtpd_tls_wrappermode=yes \
#           smtpd_tls_security_level=encrypt
#   * Cyrus SASL (sasldb): add main_cf_sasl (smtpd_sasl_auth_enable = yes,
#     smtpd_sasl_type = cyrus, cyrus_sasl_config_path = $PF_ETC/sasl with an
#     smtpd.conf saying "pwcheck_method: auxprop / auxprop_plugin: sasldb /
#     sasldb_path: ..."), create the users with saslpasswd2 -f, and put
#     permit_sasl_authenticated in front of SMTPD_RELAY_RESTRICTIONS.
#     Relayed mail cannot leave the machine: default_transport is error:.
# ---------------------------------------------------------------------------

# Evaluated in order at RCPT time.
SMTPD_RELAY_RESTRICTIONS="reject_unauth_destination"
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
relay_domains =
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
	# Later: main_cf_tls, main_cf_sasl
}

# master_cf_smtpd_listener HOST:PORT [name=value ...]
# One smtpd(8) listener; each name=value becomes a "-o name=value" override.
master_cf_smtpd_listener() {
	local addr=$1
	shift
	printf '%-20s inet  n       -       n       -       -       smtpd\n' "$addr"
	local opt
	for opt in "$@"; do
		printf '  -o %s\n' "$opt"
	done
}

master_cf_listeners() {
	master_cf_smtpd_listener "$LISTEN_HOST:$POSTFIX_PORT"
	# Later: STARTTLS and SMTPS listeners, see the comment above.
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
	mkdir -p "$PF_DIR/bin" "$MAIL_BASE/$MAIL_DOMAIN"
	install -m 755 "$DELIVER_SRC" "$DELIVER"
	# Only the domain directory is writable for the delivery user.
	chown -R "$VMAIL_UID:$VMAIL_GID" "$MAIL_BASE/$MAIL_DOMAIN"
	chmod 755 "$MAIL_BASE" "$MAIL_BASE/$MAIL_DOMAIN"
}

write_postfix_config() {
	mkdir -p "$PF_ETC" "$PF_QUEUE"
	write_main_cf >"$PF_ETC/main.cf"
	write_master_cf >"$PF_ETC/master.cf"
	write_maps
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

aiosmtpd_pid() {
	local pid
	[ -f "$AIO_PID" ] || return 1
	pid=$(tr -dc 0-9 <"$AIO_PID")
	[ -n "$pid" ] && pid_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "aiosmtpd_store.py" || return 1
	echo "$pid"
}

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

stop_aiosmtpd() {
	local pid
	if pid=$(aiosmtpd_pid); then
		log "stopping aiosmtpd (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 10; then
			warn "aiosmtpd $pid did not stop; killing it"
			kill -9 "$pid" 2>/dev/null || true
			wait_gone "$pid" 5 || die "cannot stop aiosmtpd $pid"
		fi
	fi
	rm -f "$AIO_PID"
}

port_free() { "$PYTHON" "$PROBE" free "$LISTEN_HOST:$1"; }

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
	if [ -f "$AIO_LOG" ]; then
		warn "---- last lines of $AIO_LOG ----"
		tail -n 20 "$AIO_LOG" >&2 || true
	fi
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

start_aiosmtpd() {
	log "starting aiosmtpd on $LISTEN_HOST:$AIOSMTPD_PORT (messages in $AIO_MAIL)"
	mkdir -p "$AIO_MAIL"
	setsid "$PYTHON" "$AIO_SCRIPT" --listen "$LISTEN_HOST:$AIOSMTPD_PORT" --dir "$AIO_MAIL" \
		--pidfile "$AIO_PID" </dev/null >>"$AIO_LOG" 2>&1 &
	local launched=$! tries=$((WAIT_SECONDS * 10))
	until [ -s "$AIO_PID" ]; do
		pid_alive "$launched" || die "aiosmtpd exited during start-up"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "aiosmtpd did not write $AIO_PID within ${WAIT_SECONDS}s"
		sleep 0.1
	done
}

wait_for_greetings() {
	"$PYTHON" "$PROBE" greeting "$LISTEN_HOST:$POSTFIX_PORT" --timeout "$WAIT_SECONDS" \
		--expect postfix.test >/dev/null || die "Postfix does not answer on $LISTEN_HOST:$POSTFIX_PORT"
	"$PYTHON" "$PROBE" greeting "$LISTEN_HOST:$AIOSMTPD_PORT" --timeout "$WAIT_SECONDS" \
		--expect aiosmtpd.test >/dev/null || die "aiosmtpd does not answer on $LISTEN_HOST:$AIOSMTPD_PORT"
}

# Check that Postfix really delivers to a Maildir and refuses to relay.
check_postfix() {
	local maildir=$MAIL_BASE/$MAIL_DOMAIN/probe tries=$((WAIT_SECONDS * 10))
	"$PYTHON" "$PROBE" rcpt "$LISTEN_HOST:$POSTFIX_PORT" --to x@elsewhere.test --expect 554 >/dev/null ||
		die "Postfix does not refuse relaying to x@elsewhere.test"
	"$PYTHON" "$PROBE" send "$LISTEN_HOST:$POSTFIX_PORT" --from probe-sender@postie.test \
		--to "probe@$MAIL_DOMAIN" || die "Postfix did not accept the probe message"
	until compgen -G "$maildir/new/*" >/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "the probe message did not reach $maildir/new within ${WAIT_SECONDS}s"
		sleep 0.1
	done
	rm -rf "$maildir"
}

write_env_file() {
	local tmp=$ENV_FILE.tmp
	{
		echo "# Written by scripts/servers.sh start. Source it before running the tests."
		printf 'export POSTIE_TEST_POSTFIX=%q\n' "$LISTEN_HOST:$POSTFIX_PORT"
		printf 'export POSTIE_TEST_POSTFIX_MAIL=%q\n' "$PF_MAIL"
		printf 'export POSTIE_TEST_AIOSMTPD=%q\n' "$LISTEN_HOST:$AIOSMTPD_PORT"
		printf 'export POSTIE_TEST_AIOSMTPD_DIR=%q\n' "$AIO_MAIL"
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

cmd_start() {
	local t0
	t0=$(now)
	require_root
	local port
	for port in "$POSTFIX_PORT" "$AIOSMTPD_PORT"; do
		if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
			die "bad port '$port' (POSTIE_POSTFIX_PORT / POSTIE_AIOSMTPD_PORT)"
		fi
	done
	[ "$POSTFIX_PORT" != "$AIOSMTPD_PORT" ] || die "POSTIE_POSTFIX_PORT and POSTIE_AIOSMTPD_PORT are equal"
	ensure_installed

	# Stop what a previous start left running, then start from a clean state.
	cmd_stop
	require_port_free "$POSTFIX_PORT" Postfix POSTIE_POSTFIX_PORT
	require_port_free "$AIOSMTPD_PORT" aiosmtpd POSTIE_AIOSMTPD_PORT

	trap 'on_start_exit $?' EXIT
	ensure_vmail_user
	choose_postfix_dir
	# Fresh mail, logs and aiosmtpd store. The queue and data directories are
	# kept (emptied in start_postfix): creating them costs "postfix start" ~1 s.
	rm -rf "${MAIL_BASE:?}" "${PF_DIR:?}/bin" "${PF_LOG:?}" "${AIO_DIR:?}" "${ENV_FILE:?}"
	mkdir -p "$AIO_DIR"

	prepare_delivery
	write_postfix_config
	start_postfix
	start_aiosmtpd
	wait_for_greetings
	check_postfix
	write_env_file
	trap - EXIT

	log "Postfix  on $LISTEN_HOST:$POSTFIX_PORT, Maildirs in $PF_MAIL/$MAIL_DOMAIN/<localpart>/"
	log "aiosmtpd on $LISTEN_HOST:$AIOSMTPD_PORT, messages in $AIO_MAIL"
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
		log "Postfix running (master pid $pid) on $LISTEN_HOST:$POSTFIX_PORT"
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
