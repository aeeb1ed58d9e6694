#!/usr/bin/env bash
# Throughput against the peers, in one run: builds the clients of this bench
# workspace (postie-bench, lettre-bench, mail-send-bench), starts Postfix's
# smtp-sink on loopback and the test Postfix (scripts/servers.sh, for the
# W1 run against a real server that discards what it queues), runs
# bench/compare.py and prints its table. Stops what it started.
#
#   bench/compare.sh [--rounds N] [--quick] [--no-postfix]
#
#   --rounds N    interleaved rounds (default 3)
#   --quick       a tenth of the messages, a 10 MiB attachment, 1 round
#   --no-postfix  skip W1P (no Postfix needed)
#
# Needs: cargo, python3, Postfix's smtp-sink and smtp-source (apt install
# postfix; scripts/servers.sh installs it), root (smtp-sink drops to
# nobody). The raw results go to $CARGO_TARGET_DIR/compare-results.json.
# Takes about 10 minutes on a 2-core machine (a first build 5 more).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}
SINK_PORT=${POSTIE_BENCH_SINK_PORT:-10040}

rounds=3
quick=()
postfix=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--quick) quick=(--quick); rounds=1; shift ;;
	--no-postfix) postfix=0; shift ;;
	*) echo "usage: $0 [--rounds N] [--quick] [--no-postfix]" >&2; exit 2 ;;
	esac
done

if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
	export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
export PATH="$PATH:/usr/sbin:/sbin"
command -v python3 >/dev/null || { echo "compare.sh needs python3" >&2; exit 1; }

work=$(mktemp -d)
sink_pid=
started_servers=0
cleanup() {
	[ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null || true
	[ "$started_servers" = 0 ] || bash "$REPO_ROOT/scripts/servers.sh" stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

if ! command -v smtp-sink >/dev/null 2>&1 || ! command -v smtp-source >/dev/null 2>&1; then
	echo "==> installing postfix (for smtp-sink and smtp-source)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
fi

if [ ! -x /usr/bin/time ]; then
	echo "==> installing GNU time (for the peak RSS of each client)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
fi

echo "==> building the clients (release)"
(cd "$BENCH_DIR" && cargo build --release --bins -q)

echo "==> smtp-sink on 127.0.0.1:$SINK_PORT"
(cd "$work" && exec smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 256) &
sink_pid=$!
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $SINK_PORT), 1).close()" 2>/dev/null && break
	sleep 0.1
done

postfix_args=()
if [ "$postfix" = 1 ]; then
	if [ -z "${POSTIE_TEST_POSTFIX:-}" ]; then
		echo "==> starting the test Postfix (scripts/servers.sh)"
		bash "$REPO_ROOT/scripts/servers.sh" start >/dev/null
		started_servers=1
		# shellcheck disable=SC1091
		. "${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}/env.sh"
	fi
	postfix_args=(--postfix "$POSTIE_TEST_POSTFIX")
fi

echo "==> a 50 MiB attachment"
head -c $((50 << 20)) /dev/urandom >"$work/attachment.bin"

python3 "$BENCH_DIR/compare.py" --bin-dir "$CARGO_TARGET_DIR/release" \
	--sink "127.0.0.1:$SINK_PORT" "${postfix_args[@]}" --rounds "$rounds" "${quick[@]}" \
	--attach-file "$work/attachment.bin" --json "$CARGO_TARGET_DIR/compare-results.json"
