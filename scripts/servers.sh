#!/usr/bin/env bash
# Start and stop the mail servers postie's integration tests talk to.
#
#   scripts/servers.sh start [SERVER...]   install what is missing, (re)start
#                                           the servers (all by default), check
#                                           that each delivers, and write
#                                           $POSTIE_TEST_DIR/env.sh
#   scripts/servers.sh stop [SERVER...]    stop them (state is kept for inspection)
#   scripts/servers.sh status [SERVER...]  say what is running
#   scripts/servers.sh list                the servers' names
#
# Must run as root (apt-get; the Postfix master runs as root). Loopback only:
# nothing is ever sent off this machine.
#
# Each server is one script, scripts/servers/<name>.sh, whose header says what
# it listens on, what it does with mail, and which variables env.sh exports
# for it (every address as HOST:PORT). Shared helpers are in
# scripts/servers/lib.sh, the test CA in scripts/servers/tls.sh. A server
# script adds its name to SERVERS and defines, for NAME:
#   NAME_ports     one line per port: "PORT VARIABLE description"
#   NAME_install   install what is missing (apt, pip, npm, or unpacked .debs)
#   NAME_start     a clean state, its configuration, and the daemons launched
#   NAME_ready     wait until it answers, then check it really delivers
#   NAME_stop      stop its daemons (nothing when none runs)
#   NAME_status    log whether it runs; non-zero when not
#   NAME_env       its env.sh lines (env_line NAME VALUE)
#   NAME_logs      its log files, for a failed start
#   NAME_summary   a line or two for the end of a start
#
# `start` always begins from a clean state: it stops a previous instance of
# each server it starts and deletes that instance's mail, queues and logs
# (the CA is kept while it is valid). env.sh lists every server running
# when it is written, so starting one server again keeps the others in it.
#
# Environment: POSTIE_TEST_DIR, the state directory (default
# <repo>/.test-servers); each port can be moved with the variable its
# server's script names (POSTIE_<SERVER>_..._PORT).
set -euo pipefail
umask 022

# shellcheck source=servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/servers/lib.sh"
# shellcheck source=servers/tls.sh
. "$SERVERS_DIR/tls.sh"

SERVERS=()
# The order servers start in: Dovecot's submission relays to Postfix.
for server in postfix aiosmtpd exim dovecot chasquid haraka opensmtpd socks dkim dns postgres; do
	# shellcheck source=/dev/null
	. "$SERVERS_DIR/$server.sh"
done
unset server

# The servers named on the command line (all when none is), checked.
SELECTED=()
select_servers() {
	local name known
	if [ "$#" -eq 0 ]; then
		SELECTED=("${SERVERS[@]}")
		return 0
	fi
	for name in "$@"; do
		for known in "${SERVERS[@]}"; do
			[ "$name" = "$known" ] && continue 2
		done
		die "no server named '$name' (servers: ${SERVERS[*]})"
	done
	SELECTED=("$@")
}

# Every port of every server is a number, and no two are the same.
check_ports() {
	local server port var name seen=" "
	for server in "${SERVERS[@]}"; do
		while read -r port var name; do
			if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
				die "bad port '$port' ($var)"
			fi
			case $seen in
			*" $port "*) die "port $port is used twice (check the POSTIE_*_PORT variables; $var)" ;;
			esac
			seen="$seen$port "
		done < <("${server}_ports")
	done
}

# The selected servers' ports are free once they are stopped. One probe for
# all ports (each python3 start costs ~30 ms); the error message comes from
# require_port_free.
check_ports_free() {
	local server port var name
	local -a lines=() addrs=()
	for server in "${SELECTED[@]}"; do
		while read -r port var name; do
			lines+=("$port $var $name")
			addrs+=("$LISTEN_HOST:$port")
		done < <("${server}_ports")
	done
	# A server with no port (the DKIM verifiers) has nothing to check.
	[ "${#addrs[@]}" -gt 0 ] || return 0
	"$PYTHON" "$PROBE" free "${addrs[@]}" >/dev/null && return 0
	local line
	for line in "${lines[@]}"; do
		read -r port var name <<<"$line"
		require_port_free "$port" "$name" "$var"
	done
}

# What every server needs.
install_common() {
	command -v openssl >/dev/null 2>&1 || apt_install openssl
	command -v python3 >/dev/null 2>&1 || apt_install python3
	command -v setpriv >/dev/null 2>&1 || apt_install util-linux
	# Not servers, but what the tests compare with or drive: msmtp (its
	# reading of the same msmtprc files), mail(1) and git send-email (as
	# sendmail's callers).
	command -v msmtp >/dev/null 2>&1 || apt_install msmtp
	# scripts/deps.sh (a CI step) reads cargo metadata with jq.
	command -v jq >/dev/null 2>&1 || apt_install jq
	command -v mail >/dev/null 2>&1 || apt_install bsd-mailx
	[ -x "$(git --exec-path 2>/dev/null)/git-send-email" ] || apt_install git git-email
	# The interpreter itself, not a wrapper such as pyenv's shim (saves ~0.1 s
	# per call).
	PYTHON=$(python3 -c 'import sys; print(sys.executable)')
}

show_logs() {
	local server f
	for server in "${SELECTED[@]}"; do
		for f in $("${server}_logs"); do
			if [ -f "$f" ]; then
				warn "---- last lines of $f ----"
				tail -n 30 "$f" >&2 || true
			else
				warn "(no log at $f)"
			fi
		done
	done
}

stop_selected() {
	local server
	for server in "${SELECTED[@]}"; do
		"${server}_stop" || true
	done
}

on_start_exit() {
	local rc=$1
	[ "$rc" -eq 0 ] && return 0
	warn "start failed (exit $rc)"
	show_logs
	stop_selected
	rm -f "$ENV_FILE"
}

# env.sh: the CA, and every server that runs now.
write_env_file() {
	local tmp server
	tmp=$(mktemp "$ENV_FILE.XXXXXX")
	{
		echo "# Written by scripts/servers.sh start. Source it before running the tests."
		tls_env
		for server in "${SERVERS[@]}"; do
			if "${server}_status" >/dev/null 2>&1; then
				"${server}_env"
			fi
		done
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

cmd_start() {
	local t0 server
	t0=$(now)
	require_root
	remove_stale_policy
	check_ports
	install_common
	for server in "${SELECTED[@]}"; do
		"${server}_install"
	done
	ensure_vmail_user
	# Stop what a previous start left running, then start from a clean state.
	stop_selected
	check_ports_free
	trap 'on_start_exit $?' EXIT
	mkdir -p "$TEST_DIR"
	rm -f "$ENV_FILE"
	ensure_tls
	for server in "${SELECTED[@]}"; do
		"${server}_start"
	done
	for server in "${SELECTED[@]}"; do
		"${server}_ready"
	done
	write_env_file
	trap - EXIT
	for server in "${SELECTED[@]}"; do
		"${server}_summary"
	done
	log "test CA: $TLS_DIR/ca.pem"
	log "ready in $(elapsed "$t0")s; environment for the tests: . $ENV_FILE"
}

cmd_stop() {
	require_root
	stop_selected
}

cmd_status() {
	local server rc=0
	for server in "${SELECTED[@]}"; do
		"${server}_status" || rc=1
	done
	return "$rc"
}

command=${1:-}
[ "$#" -eq 0 ] || shift
case $command in
start)
	select_servers "$@"
	cmd_start
	;;
stop)
	select_servers "$@"
	cmd_stop
	;;
status)
	select_servers "$@"
	cmd_status
	;;
list) printf '%s\n' "${SERVERS[@]}" ;;
*)
	echo "usage: $0 start|stop|status [SERVER...] | list" >&2
	exit 2
	;;
esac
