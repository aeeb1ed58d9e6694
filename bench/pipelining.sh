#!/usr/bin/env bash
# Pipelining against every interop server: W1's message (1 KiB text, built
# fresh each time) sent N times on one connection by postie-bench, with
# PIPELINING used and with it refused (--no-pipelining), in interleaved
# rounds; messages per second, medians, and the ratio pipelined /
# unpipelined, which must not fall below 0.95 (within the noise of "never
# slower").
#
#   bench/pipelining.sh [--rounds N] [--count N] [--servers LIST]
#
# A server that does not offer PIPELINING (aiosmtpd, OpenSMTPD) gets the
# same commands in both modes; it is listed, but only the servers that
# offer it are compared.
#
# Servers (scripts/servers.sh starts the missing ones; each takes mail for
# example.org without authentication on its SMTP port, in clear):
#   postfix (the queueing test Postfix), aiosmtpd, exim, chasquid, haraka,
#   opensmtpd (which ends a session after 100 messages: postie opens the
#   next connection itself).
# Envelope: bench@postie.test -> bench@example.org (a sender outside the
# servers' own domain, so none asks for authentication).
#
# Needs: cargo, and root for scripts/servers.sh. Builds postie-bench
# (release) into $CARGO_TARGET_DIR (default bench/target).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}

rounds=3
count=1000
servers=postfix,aiosmtpd,exim,chasquid,haraka,opensmtpd
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds N] [--count N] [--servers LIST]" >&2; exit 2 ;;
	esac
done
IFS=, read -r -a names <<<"$servers"

echo "==> building postie-bench (release)"
(cd "$BENCH_DIR" && cargo build --release --quiet --bin postie-bench)
BIN=$CARGO_TARGET_DIR/release/postie-bench

echo "==> starting the servers"
bash "$REPO_ROOT/scripts/servers.sh" start "${names[@]}" >/dev/null
# shellcheck disable=SC1091
. "${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}/env.sh"

# address NAME: the server's plain SMTP HOST:PORT.
address() {
	case $1 in
	postfix) echo "$POSTIE_TEST_POSTFIX" ;;
	aiosmtpd) echo "$POSTIE_TEST_AIOSMTPD" ;;
	*)
		local var
		var="POSTIE_TEST_$(tr '[:lower:]' '[:upper:]' <<<"$1")_SMTP"
		echo "${!var:?$var is not set}"
		;;
	esac
}

# rate NAME MODE: one run's messages per second (MODE: on or off).
rate() {
	local addr host port extra=() out start end
	addr=$(address "$1")
	host=${addr%:*} port=${addr##*:}
	[ "$2" = off ] && extra=(--no-pipelining)
	start=$(date +%s.%N)
	out=$("$BIN" --host "$host" --port "$port" --count "$count" --size 1024 --connections 1 \
		--mail-from=bench@postie.test --rcpt-to=bench@example.org "${extra[@]}" 2>&1) || {
		echo "postie-bench failed against $1 ($2): $out" >&2
		exit 1
	}
	end=$(date +%s.%N)
	awk -v n="$count" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }'
}

# offers NAME: whether the server's EHLO reply offers PIPELINING.
offers() {
	local addr
	addr=$(address "$1")
	python3 - "${addr%:*}" "${addr##*:}" <<'PY'
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=10)
s.ehlo("bench.test")
offered = s.has_extn("pipelining")
s.quit()
sys.exit(0 if offered else 1)
PY
}

median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A on off
compared=()
for name in "${names[@]}"; do
	if offers "$name"; then
		compared+=("$name")
	else
		echo "$name does not offer PIPELINING: both modes send the same commands, not compared"
	fi
done
for ((r = 1; r <= rounds; r++)); do
	for name in "${compared[@]}"; do
		on[$name]+="$(rate "$name" on) "
		off[$name]+="$(rate "$name" off) "
	done
	echo "round $r of $rounds done" >&2
done

echo
echo "$rounds interleaved round(s) of $count messages (1 KiB, one connection) per server and mode; 2 cores"
printf '  %-10s %14s %16s %8s\n' server pipelined/s unpipelined/s ratio
fail=0
for name in "${compared[@]}"; do
	p=$(median <<<"${on[$name]}") u=$(median <<<"${off[$name]}")
	ratio=$(awk -v p="$p" -v u="$u" 'BEGIN { printf "%.2f", p / u }')
	printf '  %-10s %14s %16s %8s\n' "$name" "$p" "$u" "$ratio"
	if awk -v r="$ratio" 'BEGIN { exit !(r < 0.95) }'; then
		echo "FAIL  $name: pipelining slower than not ($ratio)"
		fail=1
	fi
done
exit "$fail"
