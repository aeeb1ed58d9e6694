# Postfix for the tests (sourced by scripts/servers.sh, never run).
#
# Loopback only; in env.sh each address is exported as HOST:PORT (variable in
# brackets).
# A private Postfix instance, config in $POSTIE_TEST_DIR/postfix/etc. Domain
#     example.org is delivered to one Maildir per local part:
#       $POSTIE_TEST_DIR/postfix/mail/example.org/<localpart>/new/
#     RCPT nobody@example.org -> 550 5.1.1, busy@example.org -> 450 4.2.1,
#     any other domain -> "554 5.7.1 <x@elsewhere.test>: Relay access denied"
#     unless the client has authenticated (AUTH, or a client certificate on
#     port 10033). Authenticated clients may relay, but only relay.test is
#     "delivered" (to the same kind of Maildirs,
#     $POSTIE_TEST_DIR/postfix/mail/relay.test/<localpart>/new/); every other
#     relayed recipient bounces locally (default_transport = error).
#     Any recipient @discard.test is accepted from anyone on every listener,
#     queued, and thrown away (discard(8)): for throughput benchmarks.
#     Listeners, all for the same domains and Maildirs:
#       127.0.0.1:10025 (POSTIE_TEST_POSTFIX)   plain SMTP, no STARTTLS, no AUTH,
#           exactly as before TLS was added (with POSTIE_POSTFIX_PLAIN_STARTTLS=1:
#           STARTTLS offered and AUTH after it, like port 10032)
#       127.0.0.1:10032 (POSTIE_TEST_POSTFIX_STARTTLS)  STARTTLS offered
#           (may), AUTH only after STARTTLS
#       127.0.0.1:10027 (POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED)  STARTTLS
#           required before MAIL (530 5.7.0), AUTH only after STARTTLS
#       127.0.0.1:10465 (POSTIE_TEST_POSTFIX_SMTPS)  implicit TLS, AUTH
#       127.0.0.1:10028 (POSTIE_TEST_POSTFIX_AUTH_PLAIN)  no TLS at all, AUTH
#           offered in clear (PLAIN and LOGIN included)
#       127.0.0.1:10029 (POSTIE_TEST_POSTFIX_WRONG_NAME)  like 10032, but the
#           certificate is for wrong.example only
#       127.0.0.1:10030 (POSTIE_TEST_POSTFIX_SELF_SIGNED)  like 10032, but a
#           self-signed certificate (not from the test CA)
#       127.0.0.1:10033 (POSTIE_TEST_POSTFIX_CLIENT_CERT)  STARTTLS required
#           (530 5.7.0 before it) and a client certificate from the test CA
#           required (smtpd_tls_req_ccert; POSTIE_TEST_CLIENT_CERT and
#           POSTIE_TEST_CLIENT_KEY). No AUTH. A client with a verified
#           certificate may relay (so RCPT <x@relay.test> -> 250 proves the
#           certificate was presented and verified; other domains get
#           550 5.7.1 as for authenticated clients). Without a certificate
#           the TLS handshake (1.2 and 1.3) succeeds; Postfix sends nothing
#           until the first command after it (normally EHLO), answers that
#           one, whatever it is, with
#           "421 4.7.1 postfix.test Error: No client certificate presented"
#           and closes the connection. A certificate that does not verify
#           (not from the test CA, or without clientAuth) gets
#           "421 4.7.1 postfix.test Error: Client certificate not trusted".
#       127.0.0.1:10034 (POSTIE_TEST_POSTFIX_BARE)  like 10025, but the EHLO
#           reply leaves out PIPELINING, 8BITMIME, SMTPUTF8, DSN, CHUNKING and
#           SIZE (smtpd_discard_ehlo_keywords): a real server without the
#           extensions, for the "not offered" half of each extension test
#       127.0.0.1:10035 (POSTIE_TEST_POSTFIX_SHORT_IDLE)  like 10025, but
#           smtpd_timeout=2s: an idle connection is closed (421 4.4.2) after
#           2 s, for the pool and session tests
#       127.0.0.1:10037 (POSTIE_TEST_POSTFIX_SUBMISSION)  the benchmarks' W6
#           submission listener: STARTTLS required (530 5.7.0 before it),
#           then AUTH offering PLAIN alone (smtpd_sasl_mechanism_filter), so
#           every client authenticates the same way; mail to @discard.test
#           is queued and discarded as on every listener
#     AUTH is Cyrus SASL with a sasldb (auxprop), mechanisms PLAIN LOGIN
#     CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256, realm postfix.test.
#     Users: alice / wonderland-secret, bob / "b0b-p@ss wörd" (UTF-8, with a
#     space). Log in as "alice" (or "alice@postfix.test", the same user).
#     Wrong password: "535 5.7.8 Error: authentication failed: ...".
#   * aiosmtpd (scripts/servers/aiosmtpd_store.py) on 127.0.0.1:10026
#     (POSTIE_TEST_AIOSMTPD), storing every accepted message as NNNNNN.eml +
#     NNNNNN.json in $POSTIE_TEST_DIR/aiosmtpd/messages (POSTIE_TEST_AIOSMTPD_DIR).
#     RCPT reject*@... -> 550 5.1.1, defer*@... -> 450 4.2.1.
#   * a second aiosmtpd, same script, on 127.0.0.1:10031
# shellcheck shell=bash

SERVERS+=(postfix)

POSTFIX_PORT=$(port_of POSTIE_POSTFIX_PORT 10025)
STARTTLS_PORT=$(port_of POSTIE_POSTFIX_STARTTLS_PORT 10032)
STARTTLS_REQUIRED_PORT=$(port_of POSTIE_POSTFIX_STARTTLS_REQUIRED_PORT 10027)
SMTPS_PORT=$(port_of POSTIE_POSTFIX_SMTPS_PORT 10465)
AUTH_PLAIN_PORT=$(port_of POSTIE_POSTFIX_AUTH_PLAIN_PORT 10028)
WRONG_NAME_PORT=$(port_of POSTIE_POSTFIX_WRONG_NAME_PORT 10029)
SELF_SIGNED_PORT=$(port_of POSTIE_POSTFIX_SELF_SIGNED_PORT 10030)
CLIENTCERT_PORT=$(port_of POSTIE_POSTFIX_CLIENTCERT_PORT 10033)
BARE_PORT=$(port_of POSTIE_POSTFIX_BARE_PORT 10034)
SHORT_IDLE_PORT=$(port_of POSTIE_POSTFIX_SHORT_IDLE_PORT 10035)
SUBMISSION_PORT=$(port_of POSTIE_POSTFIX_SUBMISSION_PORT 10037)
# 1: port 10025 offers STARTTLS and AUTH after it too (off by default:
# postie's default is opportunistic STARTTLS with verification, so the tests
# that use 10025 would then need the test CA).
PLAIN_STARTTLS=${POSTIE_POSTFIX_PLAIN_STARTTLS:-0}

SASL_MECHS="PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256"

# Postfix instance layout. $PF_LINK is $POSTIE_TEST_DIR/postfix: normally the
# instance's directory itself, but a symlink to a directory under /var/tmp
# when the unprivileged Postfix users cannot reach $POSTIE_TEST_DIR (see
# choose_postfix_dir). Postfix is always configured with the real paths.
PF_LINK=$TEST_DIR/postfix
PF_MAIL=$PF_LINK/mail        # the Maildirs, as the tests see them
PF_MASTER=/usr/lib/postfix/sbin/master
DELIVER_SRC=$SERVERS_DIR/maildir_deliver.sh

set_postfix_dir() {
	PF_DIR=$1
	PF_ETC=$PF_DIR/etc         # config_directory (postfix -c)
	PF_QUEUE=$PF_DIR/queue     # queue_directory
	PF_DATA=$PF_DIR/data       # data_directory
	PF_LOG=$PF_DIR/maillog     # maillog_file
	MAIL_BASE=$PF_DIR/mail     # Maildirs: $MAIL_BASE/example.org/<localpart>/
	DELIVER=$PF_DIR/bin/maildir_deliver.sh
	SASL_CONF_DIR=$PF_ETC/sasl # cyrus_sasl_config_path: smtpd.conf
	SASLDB=$PF_DIR/sasldb2     # the users (readable by group postfix)
}
if [ -L "$PF_LINK" ]; then
	set_postfix_dir "$(readlink -f "$PF_LINK")"
else
	set_postfix_dir "$PF_LINK"
fi

# ---------------------------------------------------------------------------
# Cyrus SASL: smtpd.conf and the sasldb, made again on every start
# ---------------------------------------------------------------------------

write_sasl_config() {
	mkdir -p "$SASL_CONF_DIR"
	# Postfix asks Cyrus for application "smtpd" (smtpd_sasl_path), so
	# Cyrus reads smtpd.conf from cyrus_sasl_config_path.
	cat >"$SASL_CONF_DIR/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $SASLDB
mech_list: $SASL_MECHS
EOF
	rm -f "$SASLDB"
	local -a users=("$SASL_USER" "$SASL_PASSWORD" "$SASL_USER2" "$SASL_PASSWORD2")
	local i
	for ((i = 0; i < ${#users[@]}; i += 2)); do
		# -p: the password comes from stdin, as is (no prompt, no newline).
		printf '%s' "${users[i + 1]}" |
			saslpasswd2 -c -p -f "$SASLDB" -u "$SASL_REALM" "${users[i]}" ||
			die "saslpasswd2 could not add ${users[i]} to $SASLDB"
	done
	# smtpd checks passwords as the postfix user.
	chown root:postfix "$SASLDB"
	chmod 640 "$SASLDB"
}


# ---------------------------------------------------------------------------
# Postfix configuration. main.cf and master.cf are written from scratch.
#
# main.cf holds what all listeners share, with TLS and AUTH off; each
# listener in master.cf turns on what it offers with -o overrides.
# ---------------------------------------------------------------------------

# Evaluated in order at RCPT time. permit_sasl_authenticated only matters on
# the listeners with AUTH.
SMTPD_RELAY_RESTRICTIONS="permit_sasl_authenticated, reject_unauth_destination"
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
relay_domains = $DISCARD_DOMAIN
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

# $RELAY_DOMAIN is no domain of ours (so reject_unauth_destination refuses it
# to unauthenticated clients), but what authenticated clients (AUTH, or a
# verified client certificate) relay to it goes to the same Maildir
# delivery: $MAIL_BASE/$RELAY_DOMAIN/<localpart>/.
transport_maps = inline:{ $RELAY_DOMAIN=maildir:, $DISCARD_DOMAIN=discard: }

# $DISCARD_DOMAIN takes any recipient from anyone and throws the message
# away after queueing it (discard(8)), for throughput benchmarks where
# delivery must not be what limits the rate.
EOF
}

main_cf_tls() {
	cat <<EOF

# TLS: off here, turned on per listener in master.cf. Certificates from the
# test CA in $TLS_DIR.
smtpd_tls_security_level = none
smtpd_tls_cert_file = $TLS_DIR/server.pem
smtpd_tls_key_file = $TLS_DIR/server.key
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = no
smtpd_tls_session_cache_database =
EOF
}

main_cf_sasl() {
	cat <<EOF

# AUTH: Cyrus SASL, sasldb via auxprop ($SASL_CONF_DIR/smtpd.conf). Off here,
# turned on per listener in master.cf. Users live in realm $SASL_REALM.
smtpd_sasl_auth_enable = no
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASL_CONF_DIR
smtpd_sasl_local_domain = $SASL_REALM
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = no
broken_sasl_auth_clients = no
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
	main_cf_tls
	main_cf_sasl
}

# master_cf_smtpd_listener HOST:PORT [name=value ...]
# One smtpd(8) listener; each name=value becomes a "-o name=value" override
# ("-o { name = value }" when the value has white space).
master_cf_smtpd_listener() {
	local addr=$1
	shift
	printf '%-20s inet  n       -       n       -       -       smtpd\n' "$addr"
	local opt
	for opt in "$@"; do
		case $opt in
		*[[:space:]]*) printf '  -o { %s = %s }\n' "${opt%%=*}" "${opt#*=}" ;;
		*) printf '  -o %s\n' "$opt" ;;
		esac
	done
}

master_cf_listeners() {
	local h=$LISTEN_HOST
	# STARTTLS offered, AUTH only after it (smtpd_tls_auth_only in main.cf).
	local -a may=(smtpd_tls_security_level=may smtpd_sasl_auth_enable=yes)
	if [ "$PLAIN_STARTTLS" = 1 ]; then
		master_cf_smtpd_listener "$h:$POSTFIX_PORT" "${may[@]}"
	else
		master_cf_smtpd_listener "$h:$POSTFIX_PORT"
	fi
	master_cf_smtpd_listener "$h:$STARTTLS_PORT" syslog_name=postfix-postie/starttls "${may[@]}"
	master_cf_smtpd_listener "$h:$STARTTLS_REQUIRED_PORT" syslog_name=postfix-postie/starttls-required \
		smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes
	master_cf_smtpd_listener "$h:$SMTPS_PORT" syslog_name=postfix-postie/smtps \
		smtpd_tls_wrappermode=yes smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes
	master_cf_smtpd_listener "$h:$AUTH_PLAIN_PORT" syslog_name=postfix-postie/auth-plain \
		smtpd_tls_security_level=none smtpd_sasl_auth_enable=yes smtpd_tls_auth_only=no
	master_cf_smtpd_listener "$h:$WRONG_NAME_PORT" syslog_name=postfix-postie/wrong-name "${may[@]}" \
		"smtpd_tls_cert_file=$TLS_DIR/wrongname.pem" "smtpd_tls_key_file=$TLS_DIR/wrongname.key"
	master_cf_smtpd_listener "$h:$SELF_SIGNED_PORT" syslog_name=postfix-postie/self-signed "${may[@]}" \
		"smtpd_tls_cert_file=$TLS_DIR/selfsigned.pem" "smtpd_tls_key_file=$TLS_DIR/selfsigned.key"
	# STARTTLS required, and a client certificate from the test CA: without
	# a verified one smtpd answers the first command after the handshake
	# with 421 4.7.1 and hangs up (req_ccert is ignored unless the security
	# level is encrypt). A verified certificate may relay (to relay.test,
	# see main_cf_delivery); no AUTH here.
	master_cf_smtpd_listener "$h:$CLIENTCERT_PORT" syslog_name=postfix-postie/client-cert \
		smtpd_tls_security_level=encrypt smtpd_tls_ask_ccert=yes smtpd_tls_req_ccert=yes \
		"smtpd_tls_CAfile=$TLS_DIR/ca.pem" \
		"smtpd_relay_restrictions=permit_tls_all_clientcerts,reject_unauth_destination"
	# The "not offered" server for the extension tests.
	master_cf_smtpd_listener "$h:$BARE_PORT" syslog_name=postfix-postie/bare \
		smtpd_discard_ehlo_keywords=silent-discard,pipelining,8bitmime,smtputf8,dsn,chunking,size
	# Closes a connection idle for 2 s (421 4.4.2), for the pool tests.
	master_cf_smtpd_listener "$h:$SHORT_IDLE_PORT" syslog_name=postfix-postie/short-idle \
		smtpd_timeout=2s
	# The benchmarks' W6: STARTTLS required, then AUTH PLAIN only.
	master_cf_smtpd_listener "$h:$SUBMISSION_PORT" syslog_name=postfix-postie/submission \
		smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes smtpd_sasl_mechanism_filter=plain
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
		fallback_dir postfix
		dir=$FALLBACK_DIR
		log "the postfix and $VMAIL_USER users cannot reach $TEST_DIR; the instance lives in $dir"
		if [ "$(readlink "$PF_LINK" 2>/dev/null || true)" != "$dir" ]; then
			rm -rf "$PF_LINK"
			ln -s "$dir" "$PF_LINK"
		fi
	fi
	set_postfix_dir "$dir"
}

prepare_delivery() {
	mkdir -p "$PF_DIR/bin" "$MAIL_BASE/$MAIL_DOMAIN" "$MAIL_BASE/$RELAY_DOMAIN"
	install -m 755 "$DELIVER_SRC" "$DELIVER"
	# Only the domain directories are writable for the delivery user.
	chown -R "$VMAIL_UID:$VMAIL_GID" "$MAIL_BASE/$MAIL_DOMAIN" "$MAIL_BASE/$RELAY_DOMAIN"
	chmod 755 "$MAIL_BASE" "$MAIL_BASE/$MAIL_DOMAIN" "$MAIL_BASE/$RELAY_DOMAIN"
}

write_postfix_config() {
	mkdir -p "$PF_ETC" "$PF_QUEUE"
	write_main_cf >"$PF_ETC/main.cf"
	write_master_cf >"$PF_ETC/master.cf"
	write_maps
	write_sasl_config
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

# aiosmtpd_pid [PIDFILE [SCRIPT]]: the pid of the aiosmtpd that wrote PIDFILE
# (default: the plain server's), if it still runs the script named SCRIPT
# (default: aiosmtpd_store.py).

postfix_stop() {
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

# stop_aiosmtpd_at PIDFILE NAME [SCRIPT]

launch_postfix() {
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


# Postfix really delivers to a Maildir, refuses to relay, does TLS with the
# test CA and AUTH against the sasldb, and verifies client certificates.
check_postfix() {
	local maildir=$MAIL_BASE/$MAIL_DOMAIN/probe ccert
	# The client certificate is asked for, verified against the test CA and
	# lets the client relay. In the background, alongside the other checks
	# (most of each check is Python starting up).
	"$PYTHON" "$PROBE" rcpt "$LISTEN_HOST:$CLIENTCERT_PORT" --to "probe@$RELAY_DOMAIN" --expect 250 \
		--starttls --cafile "$TLS_DIR/ca.pem" --cert "$TLS_DIR/client.pem" --key "$TLS_DIR/client.key" \
		>/dev/null &
	ccert=$!
	"$PYTHON" "$PROBE" rcpt "$LISTEN_HOST:$POSTFIX_PORT" --to x@elsewhere.test --expect 554 >/dev/null ||
		die "Postfix does not refuse relaying to x@elsewhere.test"
	# TLS with the test CA, and AUTH against the sasldb (as the postfix user).
	"$PYTHON" "$PROBE" auth "$LISTEN_HOST:$SMTPS_PORT" --tls implicit --cafile "$TLS_DIR/ca.pem" \
		--user "$SASL_USER" --password "$SASL_PASSWORD" >/dev/null ||
		die "AUTH PLAIN as $SASL_USER over SMTPS ($LISTEN_HOST:$SMTPS_PORT) failed"
	"$PYTHON" "$PROBE" send "$LISTEN_HOST:$POSTFIX_PORT" --from probe-sender@postie.test \
		--to "probe@$MAIL_DOMAIN" || die "Postfix did not accept the probe message"
	wait_for_file Postfix "$maildir/new/*"
	rm -rf "$maildir"
	wait "$ccert" ||
		die "relaying with the client certificate via $LISTEN_HOST:$CLIENTCERT_PORT failed"
}

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

postfix_ports() {
	cat <<EOF
$POSTFIX_PORT POSTIE_POSTFIX_PORT Postfix
$STARTTLS_PORT POSTIE_POSTFIX_STARTTLS_PORT Postfix STARTTLS
$STARTTLS_REQUIRED_PORT POSTIE_POSTFIX_STARTTLS_REQUIRED_PORT Postfix STARTTLS required
$SMTPS_PORT POSTIE_POSTFIX_SMTPS_PORT Postfix SMTPS
$AUTH_PLAIN_PORT POSTIE_POSTFIX_AUTH_PLAIN_PORT Postfix AUTH in clear
$WRONG_NAME_PORT POSTIE_POSTFIX_WRONG_NAME_PORT Postfix wrong-name certificate
$SELF_SIGNED_PORT POSTIE_POSTFIX_SELF_SIGNED_PORT Postfix self-signed certificate
$CLIENTCERT_PORT POSTIE_POSTFIX_CLIENTCERT_PORT Postfix client certificate required
$BARE_PORT POSTIE_POSTFIX_BARE_PORT Postfix without extensions
$SHORT_IDLE_PORT POSTIE_POSTFIX_SHORT_IDLE_PORT Postfix with a 2 s idle timeout
$SUBMISSION_PORT POSTIE_POSTFIX_SUBMISSION_PORT Postfix submission (benchmarks)
EOF
}

postfix_install() {
	# libsasl2-modules: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-*;
	# libsasl2-modules-db: the sasldb auxprop plugin; sasl2-bin: saslpasswd2.
	if ! command -v postfix >/dev/null 2>&1 ||
		! command -v saslpasswd2 >/dev/null 2>&1 ||
		! deb_installed libsasl2-modules ||
		! deb_installed libsasl2-modules-db; then
		apt_update_once
		# Install the binaries only: no system-wide main.cf, no default instance.
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		apt_install postfix sasl2-bin libsasl2-modules libsasl2-modules-db
	fi
	[ -x "$PF_MASTER" ] || die "$PF_MASTER not found after installing postfix"
}

postfix_start() {
	case $PLAIN_STARTTLS in
	0 | 1) ;;
	*) die "POSTIE_POSTFIX_PLAIN_STARTTLS must be 0 or 1, not '$PLAIN_STARTTLS'" ;;
	esac
	choose_postfix_dir
	# Fresh mail and log. The queue and data directories are kept (emptied
	# in launch_postfix): creating them costs "postfix start" ~1 s.
	rm -rf "${MAIL_BASE:?}" "${PF_DIR:?}/bin" "${PF_LOG:?}"
	prepare_delivery
	write_postfix_config
	launch_postfix
}

postfix_plain_ports() {
	echo "$POSTFIX_PORT $STARTTLS_PORT $STARTTLS_REQUIRED_PORT $AUTH_PLAIN_PORT $WRONG_NAME_PORT $SELF_SIGNED_PORT $CLIENTCERT_PORT $BARE_PORT $SHORT_IDLE_PORT $SUBMISSION_PORT"
}

postfix_ready() {
	local -a addrs=() port
	for port in $(postfix_plain_ports); do
		addrs+=("$LISTEN_HOST:$port")
	done
	greet Postfix postfix.test "${addrs[@]}" --implicit-tls "$LISTEN_HOST:$SMTPS_PORT"
	check_postfix
}

postfix_env() {
	local h=$LISTEN_HOST
	env_line POSTIE_TEST_POSTFIX "$h:$POSTFIX_PORT"
	env_line POSTIE_TEST_POSTFIX_MAIL "$PF_MAIL"
	env_line POSTIE_TEST_POSTFIX_STARTTLS "$h:$STARTTLS_PORT"
	env_line POSTIE_TEST_POSTFIX_STARTTLS_REQUIRED "$h:$STARTTLS_REQUIRED_PORT"
	env_line POSTIE_TEST_POSTFIX_SMTPS "$h:$SMTPS_PORT"
	env_line POSTIE_TEST_POSTFIX_AUTH_PLAIN "$h:$AUTH_PLAIN_PORT"
	env_line POSTIE_TEST_POSTFIX_WRONG_NAME "$h:$WRONG_NAME_PORT"
	env_line POSTIE_TEST_POSTFIX_SELF_SIGNED "$h:$SELF_SIGNED_PORT"
	env_line POSTIE_TEST_POSTFIX_CLIENT_CERT "$h:$CLIENTCERT_PORT"
	env_line POSTIE_TEST_POSTFIX_BARE "$h:$BARE_PORT"
	env_line POSTIE_TEST_POSTFIX_SHORT_IDLE "$h:$SHORT_IDLE_PORT"
	env_line POSTIE_TEST_POSTFIX_SUBMISSION "$h:$SUBMISSION_PORT"
	# The queue, for a benchmark that waits until it is empty.
	env_line POSTIE_TEST_POSTFIX_QUEUE "$PF_QUEUE"
	env_line POSTIE_TEST_SASL_USER "$SASL_USER"
	env_line POSTIE_TEST_SASL_PASSWORD "$SASL_PASSWORD"
	env_line POSTIE_TEST_SASL_USER2 "$SASL_USER2"
	env_line POSTIE_TEST_SASL_PASSWORD2 "$SASL_PASSWORD2"
}

postfix_status() {
	local pid
	if pid=$(postfix_master_pid); then
		log "Postfix running (master pid $pid) on $LISTEN_HOST ports $(postfix_plain_ports) $SMTPS_PORT"
	else
		log "Postfix not running"
		return 1
	fi
}

postfix_logs() { echo "$PF_LOG"; }

postfix_summary() {
	log "Postfix  on $LISTEN_HOST:$POSTFIX_PORT, Maildirs in $PF_MAIL/$MAIL_DOMAIN/<localpart>/"
	log "         STARTTLS $STARTTLS_PORT, STARTTLS required $STARTTLS_REQUIRED_PORT, SMTPS $SMTPS_PORT,"
	log "         AUTH in clear $AUTH_PLAIN_PORT, wrong-name cert $WRONG_NAME_PORT, self-signed cert $SELF_SIGNED_PORT,"
	log "         client certificate required $CLIENTCERT_PORT, without extensions $BARE_PORT, 2 s idle timeout $SHORT_IDLE_PORT,"
	log "         submission (STARTTLS required, AUTH PLAIN only; benchmarks) $SUBMISSION_PORT"
}
