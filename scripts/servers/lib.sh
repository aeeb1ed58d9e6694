# Shared by scripts/servers.sh and every scripts/servers/<server>.sh: paths,
# the test users, logging, installing, process handling and env.sh lines.
# Sourced, never run.
# shellcheck shell=bash

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

SERVERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SERVERS_DIR/../.." && pwd)

TEST_DIR=${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}
case $TEST_DIR in
/*) ;;
*) TEST_DIR=$PWD/$TEST_DIR ;;
esac
TEST_DIR=${TEST_DIR%/}

LISTEN_HOST=127.0.0.1

# The users every server with AUTH knows (Postfix through Cyrus SASL, the
# others through their own user databases), and the OAuth server's one user.
SASL_REALM=postfix.test
SASL_USER=alice
SASL_PASSWORD=wonderland-secret
SASL_USER2=bob
SASL_PASSWORD2='b0b-p@ss wörd'
OAUTH_USER=alice@example.org
OAUTH_TOKEN=ya29.test-token

MAIL_DOMAIN=example.org    # delivered into Maildirs by every server
RELAY_DOMAIN=relay.test    # relayed by authenticated clients into a Maildir
DISCARD_DOMAIN=discard.test  # accepted from anyone, queued, then discarded (benchmarks)
VMAIL_USER=postie-test     # owner of the test Maildirs; delivery runs as it

PROBE=$SERVERS_DIR/smtp_probe.py
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

# The policy that keeps apt from starting services during our installs,
# marked as ours.
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_MARK="# postie test servers: no service starts during this install"

# One an interrupted run of ours left behind would keep every later upgrade
# from restarting services: removed (only ours, by its mark).
remove_stale_policy() {
	if [ -f "$POLICY_RC" ] && grep -qxF "$POLICY_MARK" "$POLICY_RC"; then
		rm -f "$POLICY_RC"
	fi
}

# apt_install PACKAGE...: installed without starting any service (there is no
# init system here, and the tests run their own instances with their own
# configuration).
apt_install() {
	apt_update_once
	log "apt-get install $*"
	local policy=$POLICY_RC made=
	remove_stale_policy
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" >"$policy"
		chmod 755 "$policy"
		made=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" || rc=$?
	[ -z "$made" ] || rm -f "$policy"
	return "$rc"
}

deb_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# Where downloaded and unpacked software is kept between runs (a start wipes
# each server's state under $TEST_DIR, never this).
CACHE_DIR=${POSTIE_TEST_CACHE:-/var/cache/postie-test}

# unpack_debs DIR PACKAGE...: the packages' files under DIR (dpkg-deb -x),
# never installed. For MTAs whose packages conflict with Postfix (each
# provides mail-transport-agent): they run from DIR with their own
# configuration. The shared libraries they depend on (lib* packages) are
# installed; nothing else they depend on is. Fetched once; DIR/.unpacked
# names what is there.
unpack_debs() {
	local dir=$1 want pkg
	shift
	# The packages with the versions apt would fetch now: a security update
	# unpacks again.
	want=
	for pkg in "$@"; do
		want="$want $pkg=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
	done
	want=${want# }
	if [ -f "$dir/.unpacked" ] && [ "$(cat "$dir/.unpacked")" = "$want" ]; then
		return 0
	fi
	apt_update_once
	local tmp=$dir.debs
	rm -rf "$tmp" "$dir"
	mkdir -p "$tmp" "$dir"
	log "apt-get download $want (unpacked into $dir, not installed)"
	(cd "$tmp" && apt-get download -q "$@") || die "apt-get download $want failed"
	local deb lib
	local -a libs=()
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dir" || die "dpkg-deb -x $deb failed"
		# "libfoo1 (>= 1.2), libbar | libbaz" -> libfoo1 libbar
		for lib in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//' | tr -d ' '); do
			case $lib in
			lib*) deb_installed "$lib" || libs+=("$lib") ;;
			esac
		done
	done
	[ "${#libs[@]}" -eq 0 ] || apt_install "${libs[@]}"
	# dpkg-deb -x as root keeps setuid and setgid bits (exim4 is setuid
	# root): files no package manager tracks must not carry them. The test
	# instances are started by root (or as the test user) and need none.
	find "$dir" -type f -perm /6000 -exec chmod ug-s {} +
	rm -rf "$tmp"
	echo "$want" >"$dir/.unpacked"
}

# The Maildir delivery runs as this user (Postfix's pipe(8) will not run as
# root, and no server should write the test mail as root).
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

# fallback_dir NAME: sets FALLBACK_DIR to /var/tmp/postie-test-<hash of
# $TEST_DIR>/NAME, made if missing, for a server whose users cannot reach
# $TEST_DIR. The path is predictable and root works through it, so the
# base and NAME must be real directories (no links) that root owns and
# no one else can write: one another user made first is refused.
fallback_dir() {
	local base d
	base=/var/tmp/postie-test-$(printf '%s' "$TEST_DIR" | md5sum | cut -c1-12)
	for d in "$base" "$base/$1"; do
		[ -e "$d" ] || [ -L "$d" ] || mkdir -m 755 "$d" || die "cannot make $d"
		if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(stat -c %u "$d")" != 0 ] ||
			[ $((0$(stat -c %a "$d") & 022)) -ne 0 ]; then
			die "$d is not a directory of root's that only root can write (a link, or made by someone else): remove it"
		fi
	done
	FALLBACK_DIR=$base/$1
}

# reachable_by USER DIR: USER can search DIR (and so every directory above it).
reachable_by() {
	setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --clear-groups test -x "$2" 2>/dev/null
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

# pidfile_pid PIDFILE PATTERN: the pid in PIDFILE, if that process is alive
# and its command line contains PATTERN (so a reused pid is never taken for
# ours).
pidfile_pid() {
	local pidfile=$1 pattern=$2 pid
	[ -f "$pidfile" ] || return 1
	pid=$(awk '{ print $1; exit }' "$pidfile" | tr -dc 0-9)
	[ -n "$pid" ] && pid_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
	echo "$pid"
}

# stop_pid PID NAME: TERM, then KILL (of its process group too) if it stays.
stop_pid() {
	local pid=$1 name=$2
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 10; then
		warn "$name $pid did not stop; killing it"
		kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || die "cannot stop $name $pid"
	fi
}

# stop_pidfile PIDFILE PATTERN NAME: stop_pid on pidfile_pid, then remove
# PIDFILE.
stop_pidfile() {
	local pid
	if pid=$(pidfile_pid "$1" "$2"); then
		stop_pid "$pid" "$3"
	fi
	rm -f "$1"
}

# launch_daemon PIDFILE LOG COMMAND...: COMMAND in its own session in the
# background, output to LOG; its pid is written to PIDFILE (for servers that
# stay in the foreground and write none themselves) and left in LAUNCHED.
launch_daemon() {
	local pidfile=$1 logfile=$2
	shift 2
	setsid "$@" </dev/null >>"$logfile" 2>&1 &
	LAUNCHED=$!
	echo "$LAUNCHED" >"$pidfile"
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

# greet NAME EXPECT HOST:PORT... [--implicit-tls HOST:PORT] [--unix PATH]:
# each address answers with a 220 greeting containing EXPECT within
# $WAIT_SECONDS.
greet() {
	local name=$1 expect=$2
	shift 2
	"$PYTHON" "$PROBE" greeting "$@" --timeout "$WAIT_SECONDS" --expect "$expect" >/dev/null ||
		die "$name does not answer on one of $*"
}

# wait_for_file NAME FILE PID: until FILE exists (a server's mail, a pid
# file), failing early when PID has exited.
wait_for_file() {
	local name=$1 file=$2 launched=${3:-} tries=$((WAIT_SECONDS * 10))
	until compgen -G "$file" >/dev/null; do
		[ -z "$launched" ] || pid_alive "$launched" || die "$name exited during start-up"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "$name: $file did not appear within ${WAIT_SECONDS}s"
		sleep 0.1
	done
}

# env_line NAME VALUE: "export NAME='VALUE'", quoted for any POSIX shell.
env_line() {
	local q="'\\''"
	printf "export %s='%s'\n" "$1" "${2//\'/$q}"
}

# port_of VAR DEFAULT: the port in $VAR or DEFAULT.
port_of() {
	local value=${!1:-}
	echo "${value:-$2}"
}
