#!/usr/bin/env bash
# DKIM: signing speed against the peers, and the peak RSS of signing and
# sending a 50 MiB attachment. Prints two tables.
#
#   bench/dkim.sh [--rounds N] [--count N] [--rss-rounds N] [--quick]
#                 [--no-parts] [--skip-signing] [--skip-rss]
#
# 1. Signing alone (bench/src/bin/dkim-bench): the W5 message of
#    bench-workloads.md, serialized once by postie, signed --count times
#    (default 10,000) by postie (Signer::sign_bytes), lettre 0.11 (its dkim
#    feature) and mail-auth (mail-send's signer), with rsa-sha256 (the
#    2048-bit key bench/keys/rsa2048.pem) and ed25519-sha256
#    (bench/keys/ed25519.pem), relaxed/relaxed, the same fields; --rounds
#    interleaved rounds (default 5), medians and the ratio postie / fastest
#    peer. Every client's signature is verified with postie's verifier
#    before the rounds and after every batch. With the parts table (unless
#    --no-parts): the crypto under each signer timed alone. See dkim-bench's
#    doc comment for exactly what is timed per client.
# 2. Peak RSS: `postie send --attach FILE` of a 50 MiB random file (a
#    message of about 69 MiB) to Postfix's smtp-sink on loopback, without
#    DKIM, with --dkim-key rsa2048.pem, with ed25519.pem, and with both;
#    --rss-rounds interleaved rounds (default 5); GNU time's maximum
#    resident set size (%M) of the postie process. Target: under 16 MiB
#    signed. Before the rounds one message signed with both keys goes to a
#    second smtp-sink that writes it to a file, and `postie dkim verify`
#    must pass both signatures (keys from `postie dkim record`).
#    smtp-sink, not `postie sink`: postie's sink offers SIZE 52428800 and
#    refuses the 69 MiB message at MAIL FROM.
#
# Needs: cargo, Postfix's smtp-sink (apt install postfix), GNU time. As root,
# smtp-sink runs as nobody. Builds dkim-bench and the postie CLI (release)
# into $CARGO_TARGET_DIR (default bench/target). About 6 minutes once built
# on a 2-core machine (the signing rounds; RSA dominates).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}
SINK_PORT=${POSTIE_BENCH_DKIM_SINK_PORT:-10044}
CHECK_PORT=$((SINK_PORT + 1))

rounds=5
count=10000
rss_rounds=5
parts=(--parts)
signing=1
rss=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--rss-rounds) rss_rounds=$2; shift 2 ;;
	--quick) rounds=1; count=1000; rss_rounds=1; shift ;;
	--no-parts) parts=(); shift ;;
	--skip-signing) signing=0; shift ;;
	--skip-rss) rss=0; shift ;;
	*)
		echo "usage: $0 [--rounds N] [--count N] [--rss-rounds N] [--quick] [--no-parts] [--skip-signing] [--skip-rss]" >&2
		exit 2
		;;
	esac
done

if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
	export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
export PATH="$PATH:/usr/sbin:/sbin"

work=$(mktemp -d)
sink_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$sink_pid" ]; then
		kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> building dkim-bench and the postie CLI (release)"
(cd "$BENCH_DIR" && cargo build --release --bin dkim-bench -q)
(cd "$REPO_ROOT" && cargo build --release -p postie --bin postie -q)
postie=$CARGO_TARGET_DIR/release/postie

if [ "$signing" = 1 ]; then
	echo "==> signing: $rounds interleaved round(s) of $count signatures per client and algorithm"
	"$CARGO_TARGET_DIR/release/dkim-bench" --rounds "$rounds" --count "$count" "${parts[@]}"
fi

[ "$rss" = 1 ] || exit 0

command -v smtp-sink >/dev/null 2>&1 || { echo "dkim.sh: needs Postfix's smtp-sink (apt install postfix)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "dkim.sh: needs GNU time (apt install time)" >&2; exit 1; }

port_open() {
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$1" 2>/dev/null
}

# start_sink PORT [smtp-sink options]: smtp-sink on 127.0.0.1:PORT.
start_sink() {
	local port=$1
	shift
	if port_open "$port"; then
		echo "dkim.sh: 127.0.0.1:$port is in use; set POSTIE_BENCH_DKIM_SINK_PORT (it and the next port are used)" >&2
		exit 1
	fi
	local user=()
	[ "$(id -u)" -ne 0 ] || user=(-u nobody)
	(cd "$work" && exec smtp-sink "${user[@]}" "$@" "127.0.0.1:$port" 16) &
	sink_pid=$!
	for _ in $(seq 50); do
		port_open "$port" && return 0
		sleep 0.1
	done
	echo "dkim.sh: smtp-sink did not start" >&2
	exit 1
}

stop_sink() {
	kill "$sink_pid" 2>/dev/null || true
	wait "$sink_pid" 2>/dev/null || true
	sink_pid=
}

echo "==> a 50 MiB attachment (random bytes)"
head -c $((50 << 20)) /dev/urandom >"$work/attachment.bin"

# The keys as postie takes them: the user's, mode 600.
mkdir -m 700 "$work/keys"
install -m 600 "$BENCH_DIR/keys/rsa2048.pem" "$BENCH_DIR/keys/ed25519.pem" "$work/keys/"
rsa_key=(--dkim-key "$work/keys/rsa2048.pem" --dkim-selector rsa)
ed_key=(--dkim-key "$work/keys/ed25519.pem" --dkim-selector ed)

# One message, the attachment, to smtp-sink (the port and DKIM flags follow).
send=("$postie" send --server 127.0.0.1 --tls none
	--from '"Bench Sender" <sender@example.org>' --to sink@example.com
	--subject 'DKIM peak RSS' --body 'The attachment is 50 MiB of random bytes.'
	--attach "$work/attachment.bin" -q)

echo "==> check: a message signed with both keys, captured and verified with postie dkim verify"
mkdir "$work/dump"
if [ "$(id -u)" -eq 0 ]; then
	# smtp-sink writes as nobody: the dump directory is its, and the work
	# directory (mode 700 from mktemp) lets it through.
	chown nobody "$work/dump"
	chmod 711 "$work"
fi
start_sink "$CHECK_PORT" -d "$work/dump/%H%M%S."
"${send[@]}" --port "$CHECK_PORT" "${rsa_key[@]}" "${ed_key[@]}"
stop_sink
{
	"$postie" dkim record --key "$work/keys/rsa2048.pem" --domain example.org --selector rsa
	"$postie" dkim record --key "$work/keys/ed25519.pem" --domain example.org --selector ed
} >"$work/keys.txt"
captured=("$work"/dump/*)
[ "${#captured[@]}" = 1 ] && [ -f "${captured[0]}" ] || { echo "dkim.sh: smtp-sink captured ${#captured[@]} files, not 1" >&2; exit 1; }
verdicts=$("$postie" dkim verify "${captured[0]}" --txt "$work/keys.txt") ||
	{ echo "$verdicts"; echo "dkim.sh: the captured message does not verify" >&2; exit 1; }
echo "$verdicts" | sed 's/^/    /'
[ "$(grep -c '^pass' <<<"$verdicts")" = 2 ] || { echo "dkim.sh: not two passing signatures" >&2; exit 1; }
rm -f "${captured[0]}"

echo "==> peak RSS: $rss_rounds interleaved round(s)"
start_sink "$SINK_PORT"
configs=(none rsa ed25519 both)
results=$work/rss.txt
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rss_rounds; r++)); do
	for ((i = 0; i < ${#configs[@]}; i++)); do
		config=${configs[$(((i + r) % ${#configs[@]}))]}
		case $config in
		none) flags=() ;;
		rsa) flags=("${rsa_key[@]}") ;;
		ed25519) flags=("${ed_key[@]}") ;;
		both) flags=("${rsa_key[@]}" "${ed_key[@]}") ;;
		esac
		/usr/bin/time -f '%M %e' -o "$work/time.txt" "${send[@]}" --port "$SINK_PORT" "${flags[@]}" ||
			{ echo "dkim.sh: postie send ($config) failed" >&2; exit 1; }
		echo "$config $(tail -n 1 "$work/time.txt")" >>"$results"
	done
done
stop_sink
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$results" "$rss_rounds" "$(nproc)" "$load_before" "$load_after" <<'EOF'
import statistics, sys

path, rounds, cores, before, after = sys.argv[1:6]
runs = {}
for line in open(path):
    config, kib, secs = line.split()
    runs.setdefault(config, []).append((int(kib), float(secs)))
print()
print(f"Peak RSS of `postie send --attach` of a 50 MiB file (to smtp-sink), {rounds} interleaved "
      f"round(s); {cores} cores; load average before {before}, after {after}.")
print("Peak RSS is GNU time's %M of the postie process; wall time is the process's.")
print(f"  {'DKIM':<22}{'peak RSS max':>13}{'median':>10}{'wall s':>9}  {'[min-max]':<13}")
labels = {"none": "none", "rsa": "rsa-sha256 (2048)", "ed25519": "ed25519-sha256",
          "both": "rsa + ed25519"}
verdicts = []
base = statistics.median(s for _, s in runs["none"])
for config in ["none", "rsa", "ed25519", "both"]:
    kib = [k for k, _ in runs[config]]
    secs = [s for _, s in runs[config]]
    peak = max(kib) / 1024
    print(f"  {labels[config]:<22}{peak:>9.1f} MiB{statistics.median(kib) / 1024:>6.1f} MiB"
          f"{statistics.median(secs):>9.2f}  [{min(secs):.2f}-{max(secs):.2f}]")
    if config != "none":
        verdicts.append(f"{'PASS' if peak < 16 else 'FAIL'}  peak RSS signed ({labels[config]}): "
                        f"{peak:.1f} MiB (target < 16 MiB); wall time x{statistics.median(secs) / base:.2f} of unsigned")
print()
for v in verdicts:
    print(v)
EOF
