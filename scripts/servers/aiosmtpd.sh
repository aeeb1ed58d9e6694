# The Python test servers, all built on aiosmtpd (sourced by scripts/servers.sh,
# never run). Loopback only.
#
# * aiosmtpd (scripts/servers/aiosmtpd_store.py) on 127.0.0.1:10026
#     (POSTIE_TEST_AIOSMTPD), storing every accepted message as NNNNNN.eml +
#     NNNNNN.json in $POSTIE_TEST_DIR/aiosmtpd/messages (POSTIE_TEST_AIOSMTPD_DIR).
#     RCPT reject*@... -> 550 5.1.1, defer*@... -> 450 4.2.1.
# * a second aiosmtpd, same script, on 127.0.0.1:10031
#     (POSTIE_TEST_AIOSMTPD_OAUTH), messages in $POSTIE_TEST_DIR/aiosmtpd-oauth/
#     messages (POSTIE_TEST_AIOSMTPD_OAUTH_DIR): AUTH required, offered in
#     clear, only "AUTH OAUTHBEARER XOAUTH2", accepting user alice@example.org
#     with token ya29.test-token; a wrong token gets Gmail's JSON error
#     challenge, then 535 5.7.8 (details in aiosmtpd_store.py).
# * an LMTP server (RFC 2033; scripts/servers/lmtp_store.py, aiosmtpd's
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
# shellcheck shell=bash

SERVERS+=(aiosmtpd)

AIOSMTPD_PORT=$(port_of POSTIE_AIOSMTPD_PORT 10026)
AIOSMTPD_OAUTH_PORT=$(port_of POSTIE_AIOSMTPD_OAUTH_PORT 10031)
LMTP_PORT=$(port_of POSTIE_LMTP_PORT 10036)

# aiosmtpd layout: the plain server, and the OAuth server (AIO_OAUTH_*).
AIO_DIR=$TEST_DIR/aiosmtpd
AIO_MAIL=$AIO_DIR/messages
AIO_PID=$AIO_DIR/aiosmtpd.pid
AIO_LOG=$AIO_DIR/aiosmtpd.log
AIO_OAUTH_DIR=$TEST_DIR/aiosmtpd-oauth
AIO_OAUTH_MAIL=$AIO_OAUTH_DIR/messages
AIO_OAUTH_PID=$AIO_OAUTH_DIR/aiosmtpd.pid
AIO_OAUTH_LOG=$AIO_OAUTH_DIR/aiosmtpd.log
AIO_SCRIPT=$SERVERS_DIR/aiosmtpd_store.py

# The LMTP server (also aiosmtpd): TCP and a Unix socket, one process.
LMTP_DIR=$TEST_DIR/lmtp
LMTP_MAIL=$LMTP_DIR/messages # one directory per local part
LMTP_SOCKET=$LMTP_DIR/lmtp.sock
LMTP_PID=$LMTP_DIR/lmtp.pid
LMTP_LOG=$LMTP_DIR/lmtp.log
LMTP_SCRIPT=$SERVERS_DIR/lmtp_store.py

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

# launch_server SCRIPT PIDFILE LOG [arguments]
# Starts one Python server in the background (without waiting for it); its
# pid in LAUNCHED. The server writes PIDFILE itself once it listens.
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
# start-up is most of it); aiosmtpd_ready waits for them.
start_aiosmtpd() {
	launch_aiosmtpd aiosmtpd "$AIOSMTPD_PORT" "$AIO_MAIL" "$AIO_PID" "$AIO_LOG"
	AIO_LAUNCHED=$LAUNCHED
	launch_aiosmtpd "aiosmtpd (OAuth)" "$AIOSMTPD_OAUTH_PORT" "$AIO_OAUTH_MAIL" \
		"$AIO_OAUTH_PID" "$AIO_OAUTH_LOG" --oauth-user "$OAUTH_USER" --oauth-token "$OAUTH_TOKEN"
	AIO_OAUTH_LAUNCHED=$LAUNCHED
	launch_lmtp
	LMTP_LAUNCHED=$LAUNCHED
}

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

aiosmtpd_ports() {
	cat <<EOF
$AIOSMTPD_PORT POSTIE_AIOSMTPD_PORT aiosmtpd
$AIOSMTPD_OAUTH_PORT POSTIE_AIOSMTPD_OAUTH_PORT aiosmtpd OAuth
$LMTP_PORT POSTIE_LMTP_PORT LMTP
EOF
}

aiosmtpd_install() {
	command -v python3 >/dev/null 2>&1 || apt_install python3
	have_aiosmtpd || install_aiosmtpd
}

aiosmtpd_stop() {
	stop_pidfile "$AIO_PID" aiosmtpd_store.py aiosmtpd
	stop_pidfile "$AIO_OAUTH_PID" aiosmtpd_store.py "aiosmtpd (OAuth)"
	stop_pidfile "$LMTP_PID" lmtp_store.py LMTP
	# The server removes its socket when it stops; not when it was killed.
	rm -f "$LMTP_SOCKET"
}

aiosmtpd_start() {
	# sun_path holds 107 bytes and a NUL.
	[ "$(printf '%s' "$LMTP_SOCKET" | wc -c)" -le 107 ] ||
		die "the LMTP socket path $LMTP_SOCKET is too long for a Unix socket (107 bytes at most); set POSTIE_TEST_DIR to a shorter path"
	rm -rf "${AIO_DIR:?}" "${AIO_OAUTH_DIR:?}" "${LMTP_DIR:?}"
	mkdir -p "$AIO_DIR" "$AIO_OAUTH_DIR" "$LMTP_DIR"
	start_aiosmtpd
}

aiosmtpd_ready() {
	wait_aiosmtpd aiosmtpd "$AIO_LAUNCHED" "$AIO_PID"
	wait_aiosmtpd "aiosmtpd (OAuth)" "$AIO_OAUTH_LAUNCHED" "$AIO_OAUTH_PID"
	# The pid file is written once both listeners are up.
	wait_aiosmtpd LMTP "$LMTP_LAUNCHED" "$LMTP_PID"
	greet aiosmtpd aiosmtpd.test "$LISTEN_HOST:$AIOSMTPD_PORT" "$LISTEN_HOST:$AIOSMTPD_OAUTH_PORT"
	# LMTP greets with 220 like SMTP.
	greet LMTP lmtp.test "$LISTEN_HOST:$LMTP_PORT" --unix "$LMTP_SOCKET"
}

aiosmtpd_env() {
	local h=$LISTEN_HOST
	env_line POSTIE_TEST_AIOSMTPD "$h:$AIOSMTPD_PORT"
	env_line POSTIE_TEST_AIOSMTPD_DIR "$AIO_MAIL"
	env_line POSTIE_TEST_AIOSMTPD_OAUTH "$h:$AIOSMTPD_OAUTH_PORT"
	env_line POSTIE_TEST_AIOSMTPD_OAUTH_DIR "$AIO_OAUTH_MAIL"
	env_line POSTIE_TEST_LMTP "$h:$LMTP_PORT"
	env_line POSTIE_TEST_LMTP_SOCKET "$LMTP_SOCKET"
	env_line POSTIE_TEST_LMTP_DIR "$LMTP_MAIL"
	env_line POSTIE_TEST_OAUTH_USER "$OAUTH_USER"
	env_line POSTIE_TEST_OAUTH_TOKEN "$OAUTH_TOKEN"
}

aiosmtpd_status() {
	local pid rc=0
	if pid=$(pidfile_pid "$AIO_PID" aiosmtpd_store.py); then
		log "aiosmtpd running (pid $pid) on $LISTEN_HOST:$AIOSMTPD_PORT"
	else
		log "aiosmtpd not running"
		rc=1
	fi
	if pid=$(pidfile_pid "$AIO_OAUTH_PID" aiosmtpd_store.py); then
		log "aiosmtpd (OAuth) running (pid $pid) on $LISTEN_HOST:$AIOSMTPD_OAUTH_PORT"
	else
		log "aiosmtpd (OAuth) not running"
		rc=1
	fi
	if pid=$(pidfile_pid "$LMTP_PID" lmtp_store.py); then
		log "LMTP running (pid $pid) on $LISTEN_HOST:$LMTP_PORT and $LMTP_SOCKET"
	else
		log "LMTP not running"
		rc=1
	fi
	return "$rc"
}

aiosmtpd_logs() { echo "$AIO_LOG" "$AIO_OAUTH_LOG" "$LMTP_LOG"; }

aiosmtpd_summary() {
	log "aiosmtpd on $LISTEN_HOST:$AIOSMTPD_PORT, messages in $AIO_MAIL"
	log "aiosmtpd on $LISTEN_HOST:$AIOSMTPD_OAUTH_PORT (XOAUTH2/OAUTHBEARER required), messages in $AIO_OAUTH_MAIL"
	log "LMTP     on $LISTEN_HOST:$LMTP_PORT and $LMTP_SOCKET, messages in $LMTP_MAIL/<localpart>/"
}
