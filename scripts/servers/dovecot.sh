# Dovecot 2.3 (Debian 12: dovecot-core, dovecot-submissiond, dovecot-lmtpd)
# for the tests: sourced by scripts/servers.sh, never run.
#
# A private instance, `dovecot -F -c $POSTIE_TEST_DIR/dovecot/dovecot.conf`,
# protocols submission and lmtp only (no IMAP, no POP3), loopback only; in
# env.sh each address is exported as HOST:PORT (variable in brackets).
# Greets "220 dovecot.test Dovecot ready." on every port.
#   127.0.0.1:10053 (POSTIE_TEST_DOVECOT_SUBMISSION)  submission (RFC 6409),
#       STARTTLS offered, then AUTH
#   127.0.0.1:10054 (POSTIE_TEST_DOVECOT_SUBMISSIONS)  the same behind
#       implicit TLS (RFC 8314)
#     Certificate: the test CA's server.pem; TLS 1.2 at least. AUTH
#     mechanisms (POSTIE_TEST_DOVECOT_MECHS): PLAIN LOGIN CRAM-MD5 DIGEST-MD5
#     SCRAM-SHA-1 SCRAM-SHA-256, users alice / wonderland-secret and
#     bob / "b0b-p@ss wörd" (DIGEST-MD5 hashes the password as UTF-8, never
#     as ISO-8859-1). Wrong password: "535 5.7.8 Authentication failed."
#     (after ~0.5 s; the growing per-IP auth penalty is switched off).
#     QUIRK: Dovecot counts a connection from 127.0.0.1 to 127.0.0.1 as
#     secure, so on 10053 AUTH is offered and accepted BEFORE STARTTLS too
#     (disable_plaintext_auth cannot refuse it on loopback).
#     Authenticated mail is relayed to the test Postfix (127.0.0.1:10025,
#     POSTIE_POSTFIX_PORT; it must run: without it MAIL FROM gets "421 4.4.0
#     dovecot.test Failed to connect to relay server (connect)"), so
#     LOCAL@example.org lands in $POSTIE_TEST_DIR/postfix/mail/example.org/
#     LOCAL/new/ (POSTIE_TEST_DOVECOT_MAIL = POSTIE_TEST_DOVECOT_SUBMISSION_MAIL).
#     Postfix's RCPT and DATA replies are passed on, RCPT errors with the
#     address once more in front: "550 5.1.1 <nobody@example.org>
#     <nobody@example.org>: Recipient address rejected: no such user" (busy@
#     -> 450 4.2.1, other domains -> 554 5.7.1 Relay access denied); after
#     DATA: "250 2.0.0 Ok: 247 bytes queued as B689756C07B". Dovecot adds a
#     "Received: from probe.test ([127.0.0.1]) by dovecot.test with ESMTPSA
#     id ..." header (Postfix then adds its own, Return-Path and
#     Delivered-To); the message is otherwise passed on byte for byte.
#     EHLO: 8BITMIME AUTH BURL CHUNKING ENHANCEDSTATUSCODES SIZE (no number)
#     STARTTLS PIPELINING; no DSN, no SMTPUTF8.
#   127.0.0.1:10055 (POSTIE_TEST_DOVECOT_LMTP)  LMTP, and the same on the
#       Unix socket POSTIE_TEST_DOVECOT_LMTP_SOCKET (mode 0666)
#     Delivers into one Maildir per user, $POSTIE_TEST_DIR/dovecot/mail/
#     USER/new/ (POSTIE_TEST_DOVECOT_LMTP_MAIL), as $VMAIL_USER, files 0644.
#     Only the local part counts, lower-cased (Alice@anything -> alice), and
#     "+detail" is dropped (alice+x -> alice's INBOX). Users: alice, bob,
#     full (POSTIE_TEST_DOVECOT_QUOTA_USER: quota 1 KiB) and probe (used by
#     the start-up check); anyone else gets "550 5.1.1 <nobody@example.org>
#     User doesn't exist: nobody@example.org" at RCPT. The quota is checked
#     after the final dot only, per recipient: "552 5.2.2 <full@example.org>
#     Quota exceeded (mailbox for user is full)" while the other recipients
#     get "250 2.0.0 <alice@example.org> OKtGAyZqFWusMgAAg+zDdQ Saved" (the
#     first; later ones "250 2.0.0 <bob@example.org> OKtGAyZqFWusMgAAg+zDdQ:R4
#     Saved", n in R<n> counting the RCPT commands). Headers added:
#     Return-Path, "Received: from probe.test ([127.0.0.1]) by dovecot.test
#     with LMTP id ...", and Delivered-To only when the transaction has a
#     single recipient; a multi-recipient message is one file hard-linked
#     into each Maildir. LHLO offers 8BITMIME CHUNKING ENHANCEDSTATUSCODES
#     PIPELINING STARTTLS. "full" can also log in (password full-secret).
# Sockets live in $POSTIE_TEST_DIR/dovecot/run unless that path is too long
# for a Unix socket, then in /run/postie-test-dovecot-<hash>. If the dovecot
# and $VMAIL_USER users cannot reach $POSTIE_TEST_DIR, the instance lives in
# /var/tmp/postie-test-<hash>/dovecot and $POSTIE_TEST_DIR/dovecot is a
# symlink to it (as for Postfix). Ports: POSTIE_DOVECOT_SUBMISSION_PORT,
# POSTIE_DOVECOT_SUBMISSIONS_PORT, POSTIE_DOVECOT_LMTP_PORT.
# shellcheck shell=bash

SERVERS+=(dovecot)

DV_SUBMISSION_PORT=$(port_of POSTIE_DOVECOT_SUBMISSION_PORT 10053)
DV_SUBMISSIONS_PORT=$(port_of POSTIE_DOVECOT_SUBMISSIONS_PORT 10054)
DV_LMTP_PORT=$(port_of POSTIE_DOVECOT_LMTP_PORT 10055)
DV_RELAY_PORT=$(port_of POSTIE_POSTFIX_PORT 10025)   # the test Postfix (postfix.sh)
DV_MECHS="PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256"
DV_QUOTA_USER=full
DV_PROBE_USER=probe            # LMTP start-up check (cannot log in)
DV_RELAY_PROBE=dovecot-probe   # its local part in Postfix's Maildirs
DV_LINK=$TEST_DIR/dovecot
DV_SUBMISSION_MAIL=$TEST_DIR/postfix/mail/$MAIL_DOMAIN # Postfix's Maildirs

set_dovecot_dir() {
	DV_DIR=$1
	DV_CONF=$DV_DIR/dovecot.conf
	DV_PASSWD=$DV_DIR/passwd
	DV_MAIL=$DV_DIR/mail
	DV_LOG=$DV_DIR/dovecot.log
	DV_PID=$DV_DIR/dovecot.pid
	# base_dir: the longest socket Dovecot makes in it is ~25 bytes
	# ("token-login/imap-urlauth"); sun_path holds 107.
	DV_RUN=$DV_DIR/run
	if [ "$(printf '%s' "$DV_RUN" | wc -c)" -gt 80 ]; then
		DV_RUN=/run/postie-test-dovecot-$(printf '%s' "$TEST_DIR" | md5sum | cut -c1-12)
	fi
	DV_LMTP_SOCKET=$DV_RUN/lmtp
}
if [ -L "$DV_LINK" ]; then
	set_dovecot_dir "$(readlink -f "$DV_LINK")"
else
	set_dovecot_dir "$DV_LINK"
fi

# The auth process (user dovecot) reads the passwd-file, deliveries run as
# $VMAIL_USER: both must reach the instance's directory.
choose_dovecot_dir() {
	local dir=$DV_LINK
	mkdir -p "$TEST_DIR"
	if reachable_by dovecot "$TEST_DIR" && reachable_by "$VMAIL_USER" "$TEST_DIR"; then
		[ ! -L "$DV_LINK" ] || rm -f "$DV_LINK"
	else
		fallback_dir dovecot
		dir=$FALLBACK_DIR
		log "the dovecot and $VMAIL_USER users cannot reach $TEST_DIR; Dovecot lives in $dir"
		if [ "$(readlink "$DV_LINK" 2>/dev/null || true)" != "$dir" ]; then
			rm -rf "$DV_LINK"
			ln -s "$dir" "$DV_LINK"
		fi
	fi
	set_dovecot_dir "$dir"
}

# ensure_system_user NAME HOME: as Debian's dovecot-core makes them.
ensure_system_user() {
	getent passwd "$1" >/dev/null && return 0
	log "creating system user $1 (Dovecot needs it)"
	if getent group "$1" >/dev/null; then
		useradd --system --gid "$1" --no-create-home --home-dir "$2" --shell /usr/sbin/nologin "$1"
	else
		useradd --system --user-group --no-create-home --home-dir "$2" --shell /usr/sbin/nologin "$1"
	fi
}

# passwd-file: user:password:uid:gid:gecos:home:shell:extra fields. Space
# and UTF-8 in a password are fine, a colon is not. userdb_* fields are the
# user's settings; nologin refuses every AUTH.
write_dovecot_passwd() {
	case "$SASL_PASSWORD$SASL_PASSWORD2" in
	*:*) die "a test password contains ':', which a Dovecot passwd-file cannot hold" ;;
	esac
	{
		printf '%s:{PLAIN}%s::::::\n' "$SASL_USER" "$SASL_PASSWORD" "$SASL_USER2" "$SASL_PASSWORD2"
		printf '%s:{PLAIN}%s::::::userdb_quota_rule=*:storage=1K\n' "$DV_QUOTA_USER" full-secret
		printf '%s:{PLAIN}%s::::::nologin\n' "$DV_PROBE_USER" probe-secret
	} >"$DV_PASSWD"
	chown root:dovecot "$DV_PASSWD"
	chmod 640 "$DV_PASSWD"
}

write_dovecot_conf() {
	cat <<EOF
# Generated by scripts/servers.sh; rewritten on every start. Do not edit.
# Private instance: everything lives under $DV_DIR (sockets: $DV_RUN).
base_dir = $DV_RUN
state_dir = $DV_DIR/state
instance_name = postie-test-dovecot
log_path = $DV_LOG
auth_verbose = yes
protocols = submission lmtp
listen = $LISTEN_HOST
hostname = dovecot.test
postmaster_address = postmaster@$MAIL_DOMAIN
default_internal_user = dovecot
default_login_user = dovenull

ssl = yes
ssl_cert = <$TLS_DIR/server.pem
ssl_key = <$TLS_DIR/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes

# Every mechanism works with {PLAIN} passwords. Log-ins as alice and
# alice@anything are the same user, as are LMTP's Alice@example.org and alice.
auth_mechanisms = plain login cram-md5 digest-md5 scram-sha-1 scram-sha-256
auth_username_format = %Ln
# Failures are still answered in ~0.5 s (Dovecot flushes them twice a second).
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DV_PASSWD
}
userdb {
  driver = passwd-file
  args = $DV_PASSWD
}

mail_uid = $VMAIL_UID
mail_gid = $VMAIL_GID
first_valid_uid = $VMAIL_UID
last_valid_uid = $VMAIL_UID
first_valid_gid = $VMAIL_GID
last_valid_gid = $VMAIL_GID
# The users' Maildirs are made 0755 in advance: Dovecot gives new files and
# directories the mode of that root (0644/0755, so tests can read them).
mail_location = maildir:$DV_MAIL/%n
mail_fsync = never

# Submission: authenticated mail goes to the test Postfix.
submission_relay_host = $LISTEN_HOST
submission_relay_port = $DV_RELAY_PORT
submission_relay_trusted = no

# LMTP: a message too big for a user's quota is refused for that recipient
# after the final dot (552), not at RCPT; +detail goes to the INBOX.
lmtp_save_to_detail_mailbox = no
lmtp_rcpt_check_quota = no
quota_full_tempfail = no
protocol lmtp {
  mail_plugins = quota
}
plugin {
  quota = maildir:User quota
}

service submission-login {
  inet_listener submission {
    address = $LISTEN_HOST
    port = $DV_SUBMISSION_PORT
  }
  inet_listener submissions {
    address = $LISTEN_HOST
    port = $DV_SUBMISSIONS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = $LISTEN_HOST
    port = $DV_LMTP_PORT
  }
  unix_listener lmtp {
    mode = 0666
  }
}
# Every failed AUTH from an address makes the next ones from it wait longer
# (2, 4, 8, 15 s: anvil's auth penalty). The auth process looks the
# penalty up on the socket anvil-auth-penalty and skips it when there is no
# such socket: anvil listens elsewhere.
service anvil {
  unix_listener anvil-auth-penalty {
    path = anvil-no-penalty
  }
}
EOF
}

dovecot_pid() { pidfile_pid "$DV_PID" "-c $DV_CONF"; }

# child_pids PID: its children (from /proc: procps may be missing).
child_pids() {
	local stat line ppid
	for stat in /proc/[0-9]*/stat; do
		{ read -r line <"$stat"; } 2>/dev/null || continue
		# "pid (comm) state ppid ...", comm may hold anything.
		read -r _ ppid _ <<<"${line##*) }"
		if [ "$ppid" = "$1" ]; then
			line=${stat#/proc/}
			echo "${line%/stat}"
		fi
	done
}

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

dovecot_ports() {
	cat <<EOF
$DV_SUBMISSION_PORT POSTIE_DOVECOT_SUBMISSION_PORT Dovecot submission
$DV_SUBMISSIONS_PORT POSTIE_DOVECOT_SUBMISSIONS_PORT Dovecot submissions
$DV_LMTP_PORT POSTIE_DOVECOT_LMTP_PORT Dovecot LMTP
EOF
}

dovecot_install() {
	local -a missing=()
	local pkg
	for pkg in dovecot-core dovecot-submissiond dovecot-lmtpd; do
		deb_installed "$pkg" || missing+=("$pkg")
	done
	[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
	command -v dovecot >/dev/null 2>&1 || die "dovecot not found after installing ${missing[*]}"
	# Normally made by dovecot-core's postinst.
	ensure_system_user dovecot /usr/lib/dovecot
	ensure_system_user dovenull /nonexistent
}

dovecot_start() {
	choose_dovecot_dir
	# A clean state; a stale anvil-auth-penalty socket would bring the
	# penalty back (and a 5 s wait at the first AUTH).
	rm -rf "${DV_DIR:?}"/* "${DV_RUN:?}"
	mkdir -p "$DV_DIR/state" "$DV_MAIL"
	local user
	for user in "$SASL_USER" "$SASL_USER2" "$DV_QUOTA_USER" "$DV_PROBE_USER"; do
		mkdir -m 755 "$DV_MAIL/$user"
	done
	chown -R "$VMAIL_UID:$VMAIL_GID" "$DV_MAIL"
	write_dovecot_passwd
	write_dovecot_conf >"$DV_CONF"
	log "starting Dovecot on $LISTEN_HOST:$DV_SUBMISSION_PORT, $DV_SUBMISSIONS_PORT, $DV_LMTP_PORT (config $DV_CONF)"
	launch_daemon "$DV_PID" "$DV_LOG" "$(command -v dovecot)" -F -c "$DV_CONF"
	DV_LAUNCHED=$LAUNCHED
}

# Greetings, a message delivered by LMTP, AUTH over implicit TLS, and (when
# the test Postfix runs: `servers.sh start` starts it first) a message
# submitted with STARTTLS + AUTH (bob: the UTF-8 password) and delivered by
# Postfix. Starts nothing: without Postfix only the rest is checked.
dovecot_ready() {
	local h=$LISTEN_HOST ca=$TLS_DIR/ca.pem lmtp auth postfix=1 relay=$DV_SUBMISSION_MAIL/$DV_RELAY_PROBE
	wait_for_file Dovecot "$DV_RUN/master.pid" "$DV_LAUNCHED"
	greet Dovecot dovecot.test "$h:$DV_SUBMISSION_PORT" "$h:$DV_LMTP_PORT" \
		--implicit-tls "$h:$DV_SUBMISSIONS_PORT" --unix "$DV_LMTP_SOCKET"
	"$PYTHON" "$PROBE" send "$h:$DV_LMTP_PORT" --lmtp --from probe-sender@postie.test \
		--to "$DV_PROBE_USER@$MAIL_DOMAIN" >/dev/null &
	lmtp=$!
	# --no-quit: without its relay, the submission service answers the
	# QUIT after AUTH with 421.
	"$PYTHON" "$PROBE" auth "$h:$DV_SUBMISSIONS_PORT" --tls implicit --cafile "$ca" \
		--user "$SASL_USER" --password "$SASL_PASSWORD" --no-quit >/dev/null &
	auth=$!
	if port_free "$DV_RELAY_PORT"; then
		postfix=
		warn "nothing listens on $h:$DV_RELAY_PORT (the test Postfix): Dovecot's submission cannot deliver; checked only its TLS and AUTH"
	else
		"$PYTHON" "$PROBE" send "$h:$DV_SUBMISSION_PORT" --tls starttls --cafile "$ca" \
			--user "$SASL_USER2" --password "$SASL_PASSWORD2" \
			--from probe-sender@postie.test --to "$DV_RELAY_PROBE@$MAIL_DOMAIN" ||
			die "Dovecot submission ($h:$DV_SUBMISSION_PORT, STARTTLS, AUTH as $SASL_USER2) did not accept the probe"
	fi
	wait "$auth" || die "AUTH PLAIN as $SASL_USER over implicit TLS ($h:$DV_SUBMISSIONS_PORT) failed"
	wait "$lmtp" || die "Dovecot LMTP ($h:$DV_LMTP_PORT) did not accept the probe"
	# LMTP has saved the message when it says 250.
	compgen -G "$DV_MAIL/$DV_PROBE_USER/new/*" >/dev/null || die "Dovecot LMTP did not deliver the probe"
	rm -rf "${DV_MAIL:?}/$DV_PROBE_USER"
	if [ -n "$postfix" ]; then
		wait_for_file "Postfix (relayed by Dovecot)" "$relay/new/*"
		rm -rf "$relay"
	fi
}

dovecot_stop() {
	local pid child
	local -a children=()
	if pid=$(dovecot_pid); then
		# Its services can outlive the master for a moment, and LMTP ones
		# hold the listening socket.
		mapfile -t children < <(child_pids "$pid")
		stop_pid "$pid" Dovecot
		for child in "${children[@]}"; do
			wait_gone "$child" 5 || kill -9 "$child" 2>/dev/null || true
		done
	fi
	rm -f "$DV_PID"
}

dovecot_status() {
	local pid
	if pid=$(dovecot_pid); then
		log "Dovecot running (pid $pid) on $LISTEN_HOST ports $DV_SUBMISSION_PORT $DV_SUBMISSIONS_PORT $DV_LMTP_PORT"
	else
		log "Dovecot not running"
		return 1
	fi
}

dovecot_env() {
	local h=$LISTEN_HOST
	env_line POSTIE_TEST_DOVECOT_VERSION "$(dovecot --version | cut -d' ' -f1)"
	env_line POSTIE_TEST_DOVECOT_SUBMISSION "$h:$DV_SUBMISSION_PORT"
	env_line POSTIE_TEST_DOVECOT_SUBMISSIONS "$h:$DV_SUBMISSIONS_PORT"
	env_line POSTIE_TEST_DOVECOT_MECHS "$DV_MECHS"
	env_line POSTIE_TEST_DOVECOT_MAIL "$DV_SUBMISSION_MAIL"
	env_line POSTIE_TEST_DOVECOT_SUBMISSION_MAIL "$DV_SUBMISSION_MAIL"
	env_line POSTIE_TEST_DOVECOT_LMTP "$h:$DV_LMTP_PORT"
	env_line POSTIE_TEST_DOVECOT_LMTP_SOCKET "$DV_LMTP_SOCKET"
	env_line POSTIE_TEST_DOVECOT_LMTP_MAIL "$DV_LINK/mail"
	env_line POSTIE_TEST_DOVECOT_QUOTA_USER "$DV_QUOTA_USER"
}

dovecot_logs() { echo "$DV_LOG"; }

dovecot_summary() {
	log "Dovecot  submission $LISTEN_HOST:$DV_SUBMISSION_PORT (STARTTLS), $DV_SUBMISSIONS_PORT (TLS), relaying to Postfix on $DV_RELAY_PORT"
	log "         LMTP $LISTEN_HOST:$DV_LMTP_PORT and $DV_LMTP_SOCKET, Maildirs in $DV_LINK/mail/<user>/"
}
