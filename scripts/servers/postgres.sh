# A PostgreSQL server for the spool's database store (sourced by
# scripts/servers.sh, never run).
#
# Debian's postgresql (15 on Debian 12), one cluster of its own made with
# initdb at every start in $POSTIE_TEST_DIR/postgres/data (under /var/tmp
# when the postgres user cannot reach $POSTIE_TEST_DIR), run in the
# foreground as the postgres user (the server refuses root), on
# 127.0.0.1:10065 only (POSTIE_TEST_POSTGRES; port: POSTIE_POSTGRES_PORT),
# its Unix socket in that folder (never /var/run/postgresql), its log in
# $POSTIE_TEST_DIR/postgres/postgres.log.
#
# TLS: ssl=on with the test CA's server certificate (localhost, 127.0.0.1;
# scripts/servers/tls.sh), copied into the data folder because the server
# refuses a key others can read or it does not own. Plain TCP stays open
# (the server answers a client's TLS request; it does not demand one), so
# the tests connect both ways: sslmode=disable in clear, sslmode=verify-full
# with sslrootcert=$POSTIE_TEST_CA (POSTIE_TEST_POSTGRES_CA) over TLS.
#
# Client certificates: role postie_cert (POSTIE_TEST_POSTGRES_CERT_USER)
# logs in only over TLS with a client certificate from the test CA
# (pg_hba `cert`; the certificate's CN, "postie test client", mapped to
# the role by pg_ident.conf), never by password. It may make schemas in
# the tests' database.
#
# The tests log in over TCP as role postie_test (POSTIE_TEST_POSTGRES_USER)
# to database postie_test (POSTIE_TEST_POSTGRES_DB) with SCRAM-SHA-256. The
# password is made at random at each start and only written to a password
# file in libpq's PGPASSFILE format, mode 0600
# (POSTIE_TEST_POSTGRES_PASSFILE): the store's contract keeps passwords out
# of URLs and command lines, so the tests read it as a user would. The role
# owns its database, so a test can make and drop a schema of its own.
#
# A test instance, not a model for production: initdb --no-sync and fsync
# off (the tests commit at every change of state; they may stop and
# restart the server, never the machine, so nothing they check needs the
# disk flushed). Debian's package makes a cluster of its own ("15/main", port
# 5432) when installed; apt_install keeps it from starting, and nothing
# here uses or starts it.
# shellcheck shell=bash

SERVERS+=(postgres)

PG_PORT=$(port_of POSTIE_POSTGRES_PORT 10065)
PG_DIR=$TEST_DIR/postgres
PG_PID=$PG_DIR/postgres.pid
PG_LOG=$PG_DIR/postgres.log
PG_PASSFILE=$PG_DIR/pgpass
PG_DB=postie_test
PG_ROLE=postie_test
PG_CERT_ROLE=postie_cert # logs in with a client certificate only
PG_USER=postgres # the system user the server runs as
PG_LAUNCHED=

# The newest installed server's bin directory (Debian keeps each major
# version apart: /usr/lib/postgresql/<major>/bin).
pg_bin() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$dir" ] && [ -x "$dir/postgres" ] || return 1
	echo "$dir"
}

# The data folder: where the postgres user can reach it.
pg_data() {
	if reachable_by "$PG_USER" "$TEST_DIR"; then
		echo "$PG_DIR/data"
	else
		fallback_dir postgres
		echo "$FALLBACK_DIR/data"
	fi
}

# As the postgres user, with no root group left (setpriv, as the others).
as_pg() {
	setpriv --reuid="$(id -u "$PG_USER")" --regid="$(id -g "$PG_USER")" --init-groups "$@"
}

# psql as the superuser over the Unix socket (peer authentication), SQL on
# standard input, so that no password ever is on a command line.
pg_psql_socket() {
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_pid() { pidfile_pid "$PG_PID" "-p $PG_PORT"; }

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

postgres_ports() { echo "$PG_PORT POSTIE_POSTGRES_PORT postgresql"; }

postgres_install() {
	# postgresql-client comes with it (psql, for ready).
	pg_bin >/dev/null || apt_install postgresql
	getent passwd "$PG_USER" >/dev/null || die "the postgresql package made no $PG_USER user"
}

postgres_start() {
	local data
	PG_BIN=$(pg_bin) || die "no PostgreSQL server installed"
	rm -rf "${PG_DIR:?}"
	mkdir -p "$PG_DIR"
	data=$(pg_data)
	rm -rf "${data:?}"
	mkdir -p "$data"
	chown "$PG_USER:" "$data"
	chmod 700 "$data"
	PG_SOCKET_DIR=$(dirname "$data")/run
	mkdir -p "$PG_SOCKET_DIR"
	chown "$PG_USER:" "$PG_SOCKET_DIR"
	# The superuser by peer on the socket only; everyone else by password
	# over TCP (the tests' role). --no-sync: a test cluster.
	as_pg "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256 --no-sync --no-instructions \
		>>"$PG_LOG" 2>&1 || die "initdb failed (log: $PG_LOG)"
	# The server's certificate and key, the postgres user's and mode 0600
	# (the server refuses a key group or others can read).
	install -o "$PG_USER" -m 600 "$TLS_DIR/server.pem" "$data/server.crt"
	install -o "$PG_USER" -m 600 "$TLS_DIR/server.key" "$data/server.key"
	# Client certificates from the test CA log in as postie_cert (first
	# line: it must match before initdb's password lines).
	install -o "$PG_USER" -m 600 "$TLS_DIR/ca.pem" "$data/ca.crt"
	{
		echo "hostssl $PG_DB $PG_CERT_ROLE $LISTEN_HOST/32 cert map=certs"
		cat "$data/pg_hba.conf"
	} >"$data/pg_hba.conf.new"
	mv "$data/pg_hba.conf.new" "$data/pg_hba.conf"
	echo "certs \"postie test client\" $PG_CERT_ROLE" >>"$data/pg_ident.conf"
	chown "$PG_USER:" "$data/pg_hba.conf" "$data/pg_ident.conf"
	local server=(setpriv --reuid="$(id -u "$PG_USER")" --regid="$(id -g "$PG_USER")" --init-groups
		"$PG_BIN/postgres" -D "$data" -p "$PG_PORT" -c listen_addresses="$LISTEN_HOST"
		-c unix_socket_directories="$PG_SOCKET_DIR" -c fsync=off -c full_page_writes=off
		-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c ssl_ca_file=ca.crt)
	log "starting postgresql on $LISTEN_HOST:$PG_PORT"
	launch_daemon "$PG_PID" "$PG_LOG" "${server[@]}"
	PG_LAUNCHED=$LAUNCHED
	pg_write_restart "${server[@]}"
}

# Writes $PG_DIR/restart.sh (POSTIE_TEST_POSTGRES_RESTART): the relayers'
# crash test restarts the database mid-run with it, as an operator's
# restart would: a fast shutdown (every connection cut), then the same
# server on the same data folder, ready when the script exits 0.
pg_write_restart() {
	local script=$PG_DIR/restart.sh
	{
		echo '#!/bin/bash'
		echo '# Made by scripts/servers/postgres.sh at each start: restarts the test server.'
		echo 'set -u'
		printf 'pidfile=%q\n' "$PG_PID"
		echo 'pid=$(awk '"'"'{ print $1; exit }'"'"' "$pidfile")'
		echo 'kill -INT "$pid" || exit 1'
		echo 'while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done'
		printf 'setsid %s </dev/null >>%q 2>&1 &\n' "$(printf '%q ' "$@")" "$PG_LOG"
		echo 'echo $! >"$pidfile"'
		printf 'for _ in $(seq 200); do %s %q -X -q -h %q -p %q -U postgres -d postgres -c "select 1" >/dev/null 2>&1 && exit 0; sleep 0.05; done\n' \
			"$(printf '%q ' setpriv --reuid="$(id -u "$PG_USER")" --regid="$(id -g "$PG_USER")" --init-groups)" \
			"$PG_BIN/psql" "$PG_SOCKET_DIR" "$PG_PORT"
		echo 'exit 1'
	} >"$script"
	chmod 700 "$script"
}

postgres_ready() {
	local tries=$((WAIT_SECONDS * 10)) password
	until pg_psql_socket -c 'select 1' >/dev/null 2>&1; do
		pid_alive "$PG_LAUNCHED" || die "postgresql exited during start-up (log: $PG_LOG)"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "postgresql on $LISTEN_HOST:$PG_PORT does not answer"
		sleep 0.1
	done
	# The tests' role and database. The password goes on standard input
	# and into the password file, nowhere else.
	password=$(openssl rand -hex 24)
	(
		umask 077
		printf '%s:%s:%s:%s:%s\n' "$LISTEN_HOST" "$PG_PORT" "$PG_DB" "$PG_ROLE" "$password" >"$PG_PASSFILE"
	)
	pg_psql_socket >/dev/null <<SQL || die "cannot make role $PG_ROLE and database $PG_DB"
CREATE ROLE $PG_ROLE LOGIN PASSWORD '$password';
CREATE DATABASE $PG_DB OWNER $PG_ROLE;
CREATE ROLE $PG_CERT_ROLE LOGIN;
GRANT CONNECT, CREATE ON DATABASE $PG_DB TO $PG_CERT_ROLE;
SQL
	# As the tests connect: TCP, the password from the file, a query.
	[ "$(PGPASSFILE=$PG_PASSFILE "$PG_BIN/psql" -X -q -A -t -w -h "$LISTEN_HOST" -p "$PG_PORT" \
		-U "$PG_ROLE" -d "$PG_DB" -c 'select 40 + 2' 2>>"$PG_LOG")" = 42 ] ||
		die "postgresql on $LISTEN_HOST:$PG_PORT does not answer $PG_ROLE's query (log: $PG_LOG)"
}

postgres_stop() {
	local pid
	if pid=$(pg_pid); then
		# SIGINT is the fast shutdown (TERM waits for every client to leave).
		log "stopping postgresql (pid $pid)"
		kill -INT "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || stop_pid "$pid" postgresql
	fi
	rm -f "$PG_PID"
}

postgres_status() {
	local pid
	if pid=$(pg_pid); then
		log "postgresql running (pid $pid) on $LISTEN_HOST:$PG_PORT"
	else
		log "postgresql not running"
		return 1
	fi
}

postgres_version() {
	local bin
	bin=$(pg_bin) || return 0
	"$bin/postgres" --version 2>/dev/null | awk '{ print $3 }'
}

postgres_env() {
	env_line POSTIE_TEST_POSTGRES "$LISTEN_HOST:$PG_PORT"
	env_line POSTIE_TEST_POSTGRES_DB "$PG_DB"
	env_line POSTIE_TEST_POSTGRES_USER "$PG_ROLE"
	env_line POSTIE_TEST_POSTGRES_CERT_USER "$PG_CERT_ROLE"
	env_line POSTIE_TEST_POSTGRES_PASSFILE "$PG_PASSFILE"
	env_line POSTIE_TEST_POSTGRES_CA "$TLS_DIR/ca.pem"
	env_line POSTIE_TEST_POSTGRES_VERSION "$(postgres_version)"
	env_line POSTIE_TEST_POSTGRES_RESTART "$PG_DIR/restart.sh"
}

postgres_logs() { echo "$PG_LOG"; }

postgres_summary() {
	log "postgres PostgreSQL $(postgres_version) on $LISTEN_HOST:$PG_PORT, database $PG_DB, role $PG_ROLE (password in $PG_PASSFILE)"
}
