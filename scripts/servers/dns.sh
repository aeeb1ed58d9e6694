# A DNS server for `postie dkim verify`'s lookups (sourced by
# scripts/servers.sh, never run).
#
# dnsmasq 2.90 (Debian's dnsmasq-base), in the foreground as root (it drops
# to nobody), on 127.0.0.1:10064 UDP and TCP (POSTIE_TEST_DNS; port:
# POSTIE_DNS_PORT), with no upstream, no hosts file and no configuration
# file. It is the authority for example.org: a name there that it holds no
# record for is NXDOMAIN. Its TXT records, made at start from the signing
# keys of the repository's test data (crates/postie-smtp/src/dkim/testdata):
#   rsa2048._domainkey.example.org   the record of rsa2048.pem
#   ed25519._domainkey.example.org   the record of ed25519.pem
#   big._domainkey.example.org       ed25519.pem's record with an n= note
#                                    of 1,600 bytes: over the 1232 bytes of
#                                    a UDP answer, so it comes truncated
#                                    and must be asked again over TCP
#   revoked._domainkey.example.org   v=DKIM1; k=rsa; p=   (a revoked key)
# Each record is given as strings of at most 255 bytes, as a zone file
# holds it. Queries are logged to $POSTIE_TEST_DIR/dns/dnsmasq.log.
# shellcheck shell=bash

SERVERS+=(dns)

DNS_PORT=$(port_of POSTIE_DNS_PORT 10064)
DNS_DIR=$TEST_DIR/dns
DNS_TESTDATA=$REPO_ROOT/crates/postie-smtp/src/dkim/testdata
DNS_LAUNCHED=

# dns_record KEYFILE: the DKIM record of a private key.
dns_record() {
	case "$(openssl pkey -in "$1" -noout -text 2>/dev/null | head -1)" in
	ED25519*) echo "v=DKIM1; k=ed25519; p=$(openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0)" ;;
	*) echo "v=DKIM1; k=rsa; p=$(openssl pkey -in "$1" -pubout -outform DER | base64 -w0)" ;;
	esac
}

# dns_txt_option NAME TEXT: dnsmasq's --txt-record for TEXT, cut into
# strings of 255 bytes (dnsmasq takes the strings comma-separated).
dns_txt_option() {
	local name=$1 text=$2 option
	option="--txt-record=$name"
	while [ -n "$text" ]; do
		option+=",${text:0:255}"
		text=${text:255}
	done
	echo "$option"
}

dns_pid() { pidfile_pid "$DNS_DIR/dnsmasq.pid" "--port=$DNS_PORT"; }

# ---------------------------------------------------------------------------
# The server interface (see scripts/servers.sh)
# ---------------------------------------------------------------------------

dns_ports() { echo "$DNS_PORT POSTIE_DNS_PORT dnsmasq"; }

dns_install() {
	command -v dnsmasq >/dev/null 2>&1 || apt_install dnsmasq-base
}

dns_start() {
	local rsa ed note domain=$MAIL_DOMAIN
	rm -rf "${DNS_DIR:?}"
	mkdir -p "$DNS_DIR"
	rsa=$(dns_record "$DNS_TESTDATA/rsa2048.pem") && ed=$(dns_record "$DNS_TESTDATA/ed25519.pem") ||
		die "cannot read the DKIM test keys in $DNS_TESTDATA"
	note=$(printf 'x%.0s' $(seq 1600))
	local -a records=(
		"$(dns_txt_option "rsa2048._domainkey.$domain" "$rsa")"
		"$(dns_txt_option "ed25519._domainkey.$domain" "$ed")"
		"$(dns_txt_option "big._domainkey.$domain" "v=DKIM1; k=ed25519; n=$note; p=${ed##*p=}")"
		"$(dns_txt_option "revoked._domainkey.$domain" "v=DKIM1; k=rsa; p=")"
	)
	log "starting dnsmasq on $LISTEN_HOST:$DNS_PORT"
	launch_daemon "$DNS_DIR/dnsmasq.pid" "$DNS_DIR/dnsmasq.log" \
		dnsmasq --keep-in-foreground --conf-file=/dev/null --port="$DNS_PORT" \
		--listen-address="$LISTEN_HOST" --bind-interfaces --no-resolv --no-hosts \
		--local="/$domain/" --log-queries --log-facility=- "${records[@]}"
	DNS_LAUNCHED=$LAUNCHED
}

dns_ready() {
	local tries=$((WAIT_SECONDS * 10))
	# The big record over UDP comes truncated; asked over TCP, whole.
	until "$PYTHON" - "$LISTEN_HOST" "$DNS_PORT" "big._domainkey.$MAIL_DOMAIN" <<'PY' >/dev/null 2>&1; do
import socket, struct, sys
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 16, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1); u.sendto(q, (host, port))
r = u.recv(4096)
assert r[:2] == q[:2] and r[2] & 0x02, "UDP answer not truncated"
t = socket.create_connection((host, port), 1); t.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", t.recv(2))[0]; r = b""
while len(r) < n: r += t.recv(n - len(r))
assert r[3] & 0x0F == 0 and struct.unpack(">H", r[6:8])[0] >= 1 and b"n=xxx" in r
PY
		pid_alive "$DNS_LAUNCHED" || die "dnsmasq exited during start-up (log: $DNS_DIR/dnsmasq.log)"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || die "dnsmasq on $LISTEN_HOST:$DNS_PORT does not answer"
		sleep 0.1
	done
}

dns_stop() {
	stop_pidfile "$DNS_DIR/dnsmasq.pid" "--port=$DNS_PORT" dnsmasq
}

dns_status() {
	local pid
	if pid=$(dns_pid); then
		log "dnsmasq running (pid $pid) on $LISTEN_HOST:$DNS_PORT"
	else
		log "dnsmasq not running"
		return 1
	fi
}

dns_version() { dnsmasq --version 2>/dev/null | awk 'NR == 1 { print $3 }'; }

dns_env() {
	env_line POSTIE_TEST_DNS "$LISTEN_HOST:$DNS_PORT"
	env_line POSTIE_TEST_DNS_VERSION "$(dns_version)"
	env_line POSTIE_TEST_DNS_DOMAIN "$MAIL_DOMAIN"
}

dns_logs() { echo "$DNS_DIR/dnsmasq.log"; }

dns_summary() {
	log "dns      dnsmasq $(dns_version) on $LISTEN_HOST:$DNS_PORT (UDP and TCP), DKIM records of the test keys for $MAIL_DOMAIN"
}
