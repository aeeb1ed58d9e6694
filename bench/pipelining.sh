#!/usr/bin/env bash
# Pipelining against every interop server: W1's message (1 KiB text, built
# fresh each time) sent N times on one connection by postie-bench, with
# PIPELINING used and with it refused (--no-pipelining); messages per
# second, and the ratio pipelined / unpipelined, which must not fall below
# 0.95 (within the noise of "never slower").
#
#   bench/pipelining.sh [--rounds N] [--count N] [--warmup N] [--settle S] [--servers LIST]
#
# How it is measured, so that a server that speeds up or slows down during
# the bench does not favour one mode:
#   - warm-up: first --warmup messages (default 3000) to each server in each
#     mode, not counted. Haraka (Node.js) runs 2 to 2.5 times faster after
#     ~8,000 messages than just after its start (403 -> 1,019 messages/s
#     over ten runs of 1,000 unpipelined, on this 2-core machine); without
#     the warm-up, whichever mode ran first in each round met the colder
#     server.
#   - each round runs the modes in the order pipelined, unpipelined,
#     unpipelined, pipelined (ABBA): a drift that is linear over the round
#     (the server warming up, another process's load rising or falling)
#     costs both modes the same.
#   - the round's ratio is the unpipelined time over the pipelined time of
#     that round (the same messages); the verdict is the median of the
#     rounds' ratios. The rates shown are the medians of the rounds' rates.
#   - one server at a time, with --settle seconds (default 5) of pause
#     before each and after its warm-up, so that no server's background
#     deliveries fall on another's runs.
#   - many short rounds (default 9 of 500 messages x4): one round's ratio
#     spreads by +-10 to 15% here (other processes share the 2 cores), so
#     3 rounds cannot tell a 5% gain from a 5% loss.
#
# What pipelining can gain against Haraka (measured with tcpdump on lo,
# 3,000 messages per mode, warm server): little, and nothing postie can
# add. Haraka runs the commands of a pipelined group one at a time, after
# its plugins, and is CPU-bound (its CPU time per message, ~800-1,400 us,
# is ~90% of the wall time per message in both modes). Each reply is its
# own write with Nagle on: it sends "250 sender" at once, but holds "250
# recipient" and "354" (written ~60 and ~100 us later) until postie
# acknowledges the first reply, and postie's kernel acknowledges a small
# segment only when postie reads it (the TCP_QUICKACK after each read).
# When the other core is busy, postie is woken on Haraka's core and runs
# once Haraka waits: the ACK comes ~120-200 us after "250 sender", and the
# two held replies then arrive as one segment. MAIL sent to 354 received:
# median 319-431 us pipelined, 368-481 us unpipelined (each of 4 runs of
# 1,000 per mode, ABBA); whole message median 941-1,439 us against
# 988-1,448 us. The gain, ~40 us a message (~4%), is the client's two
# saved turnarounds (each ~15-20 us on loopback); a 1,000-message run's
# rate moves by 10 to 40% with the other processes on this 2-core machine,
# so only many rounds resolve it.
#
# A server that does not offer PIPELINING (aiosmtpd, OpenSMTPD) gets the
# same commands in both modes; it is listed, but only the servers that
# offer it are compared.
#
# Servers (scripts/servers.sh starts each afresh, so Haraka starts cold;
# each takes mail for example.org without authentication on its SMTP port,
# in clear):
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

rounds=9
count=500
warmup=3000
settle=5
servers=postfix,aiosmtpd,exim,chasquid,haraka,opensmtpd
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds N] [--count N] [--warmup N] [--settle S] [--servers LIST]" >&2; exit 2 ;;
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

# elapsed NAME MODE [COUNT]: the seconds one run of COUNT (default
# --count) messages takes (MODE: on or off).
elapsed() {
	local addr host port extra=() out start end n=${3:-$count}
	addr=$(address "$1")
	host=${addr%:*} port=${addr##*:}
	[ "$2" = off ] && extra=(--no-pipelining)
	start=$(date +%s.%N)
	out=$("$BIN" --host "$host" --port "$port" --count "$n" --size 1024 --connections 1 \
		--mail-from=bench@postie.test --rcpt-to=bench@example.org "${extra[@]}" 2>&1) || {
		echo "postie-bench failed against $1 ($2): $out" >&2
		exit 1
	}
	end=$(date +%s.%N)
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }'
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

# median: the median of the numbers on stdin, separated by spaces or
# newlines (the empty field after a trailing space is not a number: it used
# to count as one, so the "median" of 3 rounds was the mean of the lowest
# two).
median() { tr ' ' '\n' | sort -g | awk 'NF { v[++n] = $1 } END { print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'; }

declare -A on off ratios
compared=()
for name in "${names[@]}"; do
	if offers "$name"; then
		compared+=("$name")
	else
		echo "$name does not offer PIPELINING: both modes send the same commands, not compared"
	fi
done
# One server at a time: its warm-up, then its rounds. A server's
# background work (Postfix's and chasquid's queue deliveries, Exim's forked
# delivery per message) outlives the run that made it and falls mostly on
# the next run, a drift that is not linear: when the servers took turns
# within each round, Exim's first pipelined run met Postfix's deliveries
# (Exim x0.92 with 7 of 9 rounds under 1 in such a run, x1.00 alone). So
# the bench waits --settle seconds before each server and after its
# warm-up.
for name in "${compared[@]}"; do
	sleep "$settle"
	if [ "$warmup" -gt 0 ]; then
		elapsed "$name" on "$warmup" >/dev/null
		elapsed "$name" off "$warmup" >/dev/null
		sleep "$settle"
	fi
	for ((r = 1; r <= rounds; r++)); do
		# ABBA: pipelined, unpipelined, unpipelined, pipelined.
		# (One assignment a line: set -e then stops at a failed run.)
		a1=$(elapsed "$name" on)
		b1=$(elapsed "$name" off)
		b2=$(elapsed "$name" off)
		a2=$(elapsed "$name" on)
		read -r p u ratio < <(awk -v n="$count" -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" \
			'BEGIN { printf "%.1f %.1f %.4f\n", 2 * n / (a1 + a2), 2 * n / (b1 + b2), (b1 + b2) / (a1 + a2) }')
		on[$name]+="$p " off[$name]+="$u " ratios[$name]+="$ratio "
	done
	echo "$name done" >&2
done

echo
echo "$rounds round(s) of $count messages (1 KiB, one connection) x4 per server (pipelined, unpipelined,"
echo "unpipelined, pipelined), after $warmup per mode of warm-up; $(nproc) cores"
printf '  %-10s %14s %16s %8s   %s\n' server pipelined/s unpipelined/s ratio "rounds' ratios"
fail=0
for name in "${compared[@]}"; do
	p=$(median <<<"${on[$name]}") u=$(median <<<"${off[$name]}")
	ratio=$(median <<<"${ratios[$name]}")
	ratio=$(awk -v r="$ratio" 'BEGIN { printf "%.2f", r }')
	printf '  %-10s %14s %16s %8s   %s\n' "$name" "$p" "$u" "$ratio" "${ratios[$name]}"
	if awk -v r="$ratio" 'BEGIN { exit !(r < 0.95) }'; then
		echo "FAIL  $name: pipelining slower than not ($ratio)"
		fail=1
	fi
done
exit "$fail"
