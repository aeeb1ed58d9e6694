#!/usr/bin/env bash
# A pool's rate limit, held: postie-bench --pool-rate=R sends N messages
# (1 KiB, built fresh) through one blocking Pool of C connections shared by
# C threads, to Postfix's smtp-sink on loopback (which is far faster than
# R), for each rate R; the achieved rate is N over the time from the first
# send to the last reply (postie-bench's RESULT line), which is R within 2%
# when the limit holds (the first message goes at once, so N/R is about
# (N-1)/R plus one send).
#
#   bench/rate_limit.sh [--rates LIST] [--seconds S] [--connections C]
#
# Needs: cargo, Postfix's smtp-sink (apt install postfix), root (smtp-sink
# runs as nobody). Builds postie-bench (release) into $CARGO_TARGET_DIR
# (default bench/target).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}
SINK_PORT=${POSTIE_BENCH_RATE_SINK_PORT:-10046}

rates=50,200,1000
seconds=10
connections=4
while [ $# -gt 0 ]; do
	case $1 in
	--rates) rates=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	*) echo "usage: $0 [--rates LIST] [--seconds S] [--connections C]" >&2; exit 2 ;;
	esac
done

echo "==> building postie-bench (release)"
(cd "$BENCH_DIR" && cargo build --release --quiet --bin postie-bench)
BIN=$CARGO_TARGET_DIR/release/postie-bench

work=$(mktemp -d)
cleanup() {
	[ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
(cd "$work" && exec smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 256) &
sink=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break
	sleep 0.1
done

echo
echo "pool of $connections connections shared by $connections threads, about $seconds s per rate, smtp-sink on loopback"
printf '  %-10s %10s %10s %12s %8s\n' "limit/s" messages seconds achieved/s error
fail=0
IFS=, read -r -a list <<<"$rates"
for rate in "${list[@]}"; do
	count=$((rate * seconds))
	out=$("$BIN" --host 127.0.0.1 --port "$SINK_PORT" --count "$count" --size 1024 \
		--connections "$connections" --pool-rate="$rate")
	secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$out")
	read -r achieved error < <(awk -v n="$count" -v s="$secs" -v r="$rate" \
		'BEGIN { a = n / s; printf "%.1f %+.2f%%\n", a, (a - r) / r * 100 }')
	printf '  %-10s %10s %10s %12s %8s\n' "$rate" "$count" "$secs" "$achieved" "$error"
	if awk -v a="$achieved" -v r="$rate" 'BEGIN { d = (a - r) / r; exit !(d > 0.02 || d < -0.02) }'; then
		echo "FAIL  rate $rate: achieved $achieved/s is not within 2%"
		fail=1
	fi
done
exit "$fail"
