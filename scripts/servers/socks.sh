# SOCKS5 proxies for the tests (sourced by scripts/servers.sh, never run).
#
# microsocks 1.0.3 (Debian's microsocks package): a small SOCKS5 server
# (RFC 1928, CONNECT only; RFC 1929 username/password when given -u/-P), no
# configuration file. Two instances, each run in the foreground as
# postie-test, logging to $POSTIE_TEST_DIR/socks/<name>.log:
#   127.0.0.1:10062 (POSTIE_TEST_SOCKS; port: POSTIE_SOCKS_PORT)
#     No authentication: offered only "no authentication" it accepts.
#   127.0.0.1:10063 (POSTIE_TEST_SOCKS_AUTH; port: POSTIE_SOCKS_AUTH_PORT)
#     Username/password only (POSTIE_TEST_SOCKS_USER / POSTIE_TEST_SOCKS_PASSWORD,
#     carol / tunnel-secret, given on microsocks' command line, which it
#     blanks once read: test credentials only). A client
#     offering only "no authentication" gets method 0xFF; a wrong password
#     gets RFC 1929 status 1 and the connection closed.
# Both connect anywhere they are asked (the tests only ask for loopback
# servers). A name is resolved by the proxy with getaddrinfo (the tests give
# "localhost"); a refused connection is REP 5, a name that does not resolve
# REP 1 (microsocks' "general failure"); the reply's bound address is always
# 0.0.0.0:0 (ATYP 1).
# Nothing is kept between starts: the logs are deleted.
# shellcheck shell=bash

SERVERS+=(socks)

SOCKS_PORT=$(port_of POSTIE_SOCKS_PORT 10062)
SOCKS_AUTH_PORT=$(port_of POSTIE_SOCKS_AUTH_PORT 10063)
SOCKS_USER=carol
SOCKS_PASSWORD=tunnel-secret

SOCKS_DIR=$TEST_DIR/socks
SOCKS_PROBE=$SERVERS_DIR/socks_probe.py

# The instances: name, port, and microsocks' authentication arguments.
socks_instances() {
	echo "plain $SOCKS_PORT"
	echo "auth $SOCKS_AUTH_PORT -u $SOCKS_USER -P $SOCKS_PASSWORD"
}

# The pid of instance NAME on PORT, if it runs.
socks_pid() { pidfile_pid "$SOCKS_DIR/$1.pid" "-p $2"; }

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

socks_ports() {
	echo "$SOCKS_PORT POSTIE_SOCKS_PORT microsocks"
	echo "$SOCKS_AUTH_PORT POSTIE_SOCKS_AUTH_PORT microsocks-with-auth"
}

socks_install() {
	command -v microsocks >/dev/null 2>&1 || apt_install microsocks
}

socks_start() {
	local name port auth
	rm -rf "${SOCKS_DIR:?}"
	mkdir -p "$SOCKS_DIR"
	SOCKS_LAUNCHED=()
	while read -r name port auth; do
		log "starting microsocks ($name) on $LISTEN_HOST:$port"
		# shellcheck disable=SC2086 # $auth is the -u/-P pair or nothing
		launch_daemon "$SOCKS_DIR/$name.pid" "$SOCKS_DIR/$name.log" \
			setpriv --reuid="$VMAIL_UID" --regid="$VMAIL_GID" --clear-groups \
			microsocks -i "$LISTEN_HOST" -p "$port" $auth
		SOCKS_LAUNCHED+=("$LAUNCHED")
	done < <(socks_instances)
}

socks_ready() {
	local pid self=$LISTEN_HOST:$SOCKS_PORT auth=$LISTEN_HOST:$SOCKS_AUTH_PORT
	for pid in "${SOCKS_LAUNCHED[@]}"; do
		pid_alive "$pid" || die "microsocks exited during start-up"
	done
	# Each proxy connects to a listener that is certainly there: its own.
	"$PYTHON" "$SOCKS_PROBE" "$self" "$self" --timeout "$WAIT_SECONDS" --expect connected >/dev/null ||
		die "microsocks on $self does not connect"
	"$PYTHON" "$SOCKS_PROBE" "$auth" "$auth" --timeout "$WAIT_SECONDS" \
		--user "$SOCKS_USER" --password "$SOCKS_PASSWORD" --expect connected >/dev/null ||
		die "microsocks on $auth does not connect with $SOCKS_USER's password"
	"$PYTHON" "$SOCKS_PROBE" "$auth" "$auth" --expect no-method >/dev/null ||
		die "microsocks on $auth accepts clients without a password"
	"$PYTHON" "$SOCKS_PROBE" "$auth" "$auth" --user "$SOCKS_USER" --password wrong \
		--expect auth-refused >/dev/null ||
		die "microsocks on $auth accepts a wrong password"
}

socks_stop() {
	local name port auth pid
	while read -r name port auth; do
		if pid=$(socks_pid "$name" "$port"); then
			stop_pid "$pid" "microsocks ($name)"
		fi
		rm -f "$SOCKS_DIR/$name.pid"
	done < <(socks_instances)
}

socks_status() {
	local name port auth pid rc=0
	while read -r name port auth; do
		if pid=$(socks_pid "$name" "$port"); then
			log "microsocks ($name) running (pid $pid) on $LISTEN_HOST:$port"
		else
			log "microsocks ($name) not running"
			rc=1
		fi
	done < <(socks_instances)
	return "$rc"
}

socks_version() {
	dpkg-query -W -f='${Version}' microsocks 2>/dev/null | sed 's/-[^-]*$//'
}

socks_env() {
	env_line POSTIE_TEST_SOCKS_VERSION "$(socks_version)"
	env_line POSTIE_TEST_SOCKS "$LISTEN_HOST:$SOCKS_PORT"
	env_line POSTIE_TEST_SOCKS_AUTH "$LISTEN_HOST:$SOCKS_AUTH_PORT"
	env_line POSTIE_TEST_SOCKS_USER "$SOCKS_USER"
	env_line POSTIE_TEST_SOCKS_PASSWORD "$SOCKS_PASSWORD"
}

socks_logs() { echo "$SOCKS_DIR/plain.log $SOCKS_DIR/auth.log"; }

socks_summary() {
	log "microsocks $(socks_version) on $LISTEN_HOST:$SOCKS_PORT (no auth) and $LISTEN_HOST:$SOCKS_AUTH_PORT (user $SOCKS_USER)"
}
