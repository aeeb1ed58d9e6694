#!/usr/bin/env bash
# The command line's cost per message against msmtp: N processes in a row,
# each sending one message (W1's 1 KiB text, read from a file on standard
# input, `-t`), by postie as sendmail (a link named sendmail) and by msmtp,
# both reading the same msmtprc (-C FILE), in interleaved rounds; wall time
# per message, medians, and postie / msmtp (the target: at most 0.5).
#
#   bench/cli_latency.sh [--rounds N] [--count N]
#
# Two modes:
#   plain  to Postfix's smtp-sink on loopback (no TLS, no AUTH);
#   tls    to the test Postfix's submission listener (scripts/servers.sh:
#          STARTTLS required, the certificate checked against the test CA,
#          AUTH PLAIN as the test user; the recipient's domain is
#          discarded after queueing).
#
# Needs: cargo, msmtp and Postfix (scripts/servers.sh installs both), root.
# Builds the postie CLI (release) into $CARGO_TARGET_DIR (default
# bench/target).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}
SINK_PORT=${POSTIE_BENCH_CLI_SINK_PORT:-10047}

rounds=3
count=200
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds N] [--count N]" >&2; exit 2 ;;
	esac
done

echo "==> building the postie CLI (release)"
(cd "$REPO_ROOT" && cargo build --release --quiet -p postie)
echo "==> starting the test Postfix"
bash "$REPO_ROOT/scripts/servers.sh" start postfix >/dev/null
# shellcheck disable=SC1091
. "${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}/env.sh"
command -v msmtp >/dev/null || { echo "msmtp is not installed (scripts/servers.sh installs it)" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
	[ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/sink"
(cd "$work/sink" && exec smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 256) &
sink=$!
ln -s "$CARGO_TARGET_DIR/release/postie" "$work/sendmail"

# The message: W1's body of 1024 bytes (bench-workloads.md), LF line ends
# as a file on disk has them.
{
	printf 'From: "Bench Sender" <sender@example.org>\nTo: "Bench Sink" <sink@discard.test>\nSubject: cli latency\n\n'
	python3 - <<'PY'
words = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
         "labore et dolore magna aliqua, ut enim ad minim veniam, quis nostrud exercitation ullamco "
         "laboris nisi ut aliquip ex ea commodo consequat").split(" ")
out, line, i = [], "", 0
while sum(len(l) + 1 for l in out) + len(line) < 1000:
    w = words[i % len(words)]; i += 1
    if len(line) + len(w) + 1 > 72:
        out.append(line); line = w
    else:
        line = (line + " " + w).strip()
out.append(line)
print("\n".join(out))
PY
} >"$work/message.eml"

submission=$POSTIE_TEST_POSTFIX_SUBMISSION
cat >"$work/plain.rc" <<EOF
account default
host 127.0.0.1
port $SINK_PORT
tls off
auth off
from sender@example.org
EOF
cat >"$work/tls.rc" <<EOF
account default
host localhost
port ${submission##*:}
tls on
tls_starttls on
tls_trust_file $POSTIE_TEST_CA
auth plain
user $POSTIE_TEST_SASL_USER
password $POSTIE_TEST_SASL_PASSWORD
from sender@example.org
EOF
chmod 600 "$work"/*.rc

# run CLIENT MODE: seconds per message over $count processes in a row.
run() {
	local bin=$1 mode=$2 start end i
	[ "$bin" = postie ] && bin=$work/sendmail || bin=msmtp
	start=$(date +%s.%N)
	for ((i = 0; i < count; i++)); do
		"$bin" -C "$work/$mode.rc" -t <"$work/message.eml" 2>>"$work/$1-$mode.err" ||
			{ echo "$1 ($mode) failed: $(tail -3 "$work/$1-$mode.err")" >&2; exit 1; }
	done
	end=$(date +%s.%N)
	awk -v n="$count" -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", (b - a) / n }'
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A times
for ((r = 1; r <= rounds; r++)); do
	for mode in plain tls; do
		for client in postie msmtp; do
			times[$client-$mode]+="$(run "$client" "$mode") "
		done
	done
	echo "round $r of $rounds done" >&2
done

echo
echo "$rounds interleaved round(s) of $count processes per client and mode; 2 cores"
printf '  %-6s %14s %14s %14s\n' mode "postie ms/msg" "msmtp ms/msg" "postie/msmtp"
fail=0
for mode in plain tls; do
	p=$(median <<<"${times[postie-$mode]}") m=$(median <<<"${times[msmtp-$mode]}")
	ratio=$(awk -v p="$p" -v m="$m" 'BEGIN { printf "%.2f", p / m }')
	printf '  %-6s %14.2f %14.2f %14s\n' "$mode" "$(awk -v p="$p" 'BEGIN { print p * 1000 }')" \
		"$(awk -v m="$m" 'BEGIN { print m * 1000 }')" "$ratio"
	if awk -v r="$ratio" 'BEGIN { exit !(r > 0.5) }'; then
		echo "FAIL  $mode: postie takes more than half of msmtp's time ($ratio)"
		fail=1
	fi
done
exit "$fail"
