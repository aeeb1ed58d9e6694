#!/usr/bin/env bash
# Throughput and build speed against the peers, in one interleaved run, as
# bench-workloads.md defines the workloads (W1-W6, PF): builds the clients of
# this bench workspace (postie-bench, lettre-bench, mail-send-bench; the
# Python client is bench/python_bench.py), starts Postfix's smtp-sink on
# loopback and a test Postfix of its own (scripts/servers.sh, on ports of
# its own: 10125-10137 and 10565, state in $CARGO_TARGET_DIR/test-servers),
# runs bench/compare.py and prints its table. Stops every server it started,
# whatever happens. The table comes twice: per workload, with each client's
# min-max, then as README's Markdown table (one row per workload, a column
# per client; `python3 bench/compare.py --render FILE` prints it again from
# the run's JSON).
#
#   bench/compare.sh [--rounds N] [--quick] [--max-secs T] [--workloads LIST] [--clients LIST]
#                    [--no-postfix] [--skip-checks] [--baseline REV]
#
#   --rounds N        interleaved rounds (default 5)
#   --quick           a tenth of every N, a 10 MiB attachment, 1 round: to
#                     see that everything works, not to measure
#   --max-secs T      not in the spec: no client starts a message after T
#                     seconds (the slow peers' rate over the process's wall
#                     time, marked "capped")
#   --workloads LIST  a subset, e.g. W1,W2,PF (W1 W2 W3 W4 W5 PF W6-1 W6-4)
#   --clients LIST    a subset, e.g. postie,smtp-source (postie, postie-tokio,
#                     lettre, lettre-tokio, mail-send, python, smtp-source;
#                     postie always runs: the ratios are against it)
#   --no-postfix      skip PF and W6 (no test Postfix needed)
#   --skip-checks     skip the check of each client's messages
#   --baseline REV    also build postie-bench from the git revision REV (into
#                     $CARGO_TARGET_DIR/baseline) and run it as the clients
#                     postie-base and postie-base-tokio: a change's effect on
#                     throughput, measured in the same interleaved run
#
# Needs: cargo, python3, Postfix's smtp-sink and smtp-source (apt install
# postfix; scripts/servers.sh installs it), root (smtp-sink drops to nobody,
# the test Postfix's master runs as root), a quiet machine. The raw results
# go to $CARGO_TARGET_DIR/compare-results.json.
#
# Duration on a 2-core machine (a first build adds about 5 minutes): lettre
# and mail-send lose about 40 ms per message to Nagle's algorithm and the
# server's delayed ACK (about 22 messages/s per connection), so the spec's
# N costs each of their three clients about 15 minutes per run of W1 and of
# W6-1, about 4 of W2 and W6-4 and 1.5 of PF; Python's email package needs
# about 4 minutes for W5. About 2 hours per round, 10 hours for the default
# 5 rounds. With --max-secs 60 about 22 minutes per round (under 2 hours for
# 5 rounds). --quick takes about 13 minutes.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}
SINK_PORT=${POSTIE_BENCH_SINK_PORT:-10040}

rounds=5
quick=()
extra=()
postfix=1
baseline=
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--quick) quick=(--quick); rounds=1; shift ;;
	--max-secs) extra+=(--max-secs "$2"); shift 2 ;;
	--workloads) extra+=(--workloads "$2"); shift 2 ;;
	--clients) extra+=(--clients "$2"); shift 2 ;;
	--skip-checks) extra+=(--skip-checks); shift ;;
	--no-postfix) postfix=0; shift ;;
	--baseline) baseline=$2; shift 2 ;;
	*)
		echo "usage: $0 [--rounds N] [--quick] [--max-secs T] [--workloads LIST] [--clients LIST] [--no-postfix] [--skip-checks] [--baseline REV]" >&2
		exit 2
		;;
	esac
done

if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
	export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
export PATH="$PATH:/usr/sbin:/sbin"
command -v python3 >/dev/null || { echo "compare.sh needs python3" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "compare.sh must run as root (smtp-sink, the test Postfix)" >&2; exit 1; }

# The test Postfix of this run: its own state directory and ports, so that
# it never meets the test servers of a checkout's tests.
export POSTIE_TEST_DIR=${POSTIE_BENCH_TEST_DIR:-$CARGO_TARGET_DIR/test-servers}
export POSTIE_POSTFIX_PORT=10125 POSTIE_AIOSMTPD_PORT=10126 POSTIE_POSTFIX_STARTTLS_REQUIRED_PORT=10127 \
	POSTIE_POSTFIX_AUTH_PLAIN_PORT=10128 POSTIE_POSTFIX_WRONG_NAME_PORT=10129 \
	POSTIE_POSTFIX_SELF_SIGNED_PORT=10130 POSTIE_AIOSMTPD_OAUTH_PORT=10131 \
	POSTIE_POSTFIX_STARTTLS_PORT=10132 POSTIE_POSTFIX_CLIENTCERT_PORT=10133 \
	POSTIE_POSTFIX_BARE_PORT=10134 POSTIE_POSTFIX_SHORT_IDLE_PORT=10135 POSTIE_LMTP_PORT=10136 \
	POSTIE_POSTFIX_SUBMISSION_PORT=10137 POSTIE_POSTFIX_SMTPS_PORT=10565 POSTIE_POSTFIX_PLAIN_STARTTLS=0

work=$(mktemp -d)
sink_pid=
compare_pid=
started_servers=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$compare_pid" ]; then
		# compare.py kills the client it is running when told to stop.
		kill "$compare_pid" 2>/dev/null || true
		wait "$compare_pid" 2>/dev/null || true
	fi
	if [ -n "$sink_pid" ]; then
		kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
	if [ "$started_servers" = 1 ]; then
		echo "==> stopping the test Postfix"
		bash "$REPO_ROOT/scripts/servers.sh" stop postfix >"$work/servers-stop.log" 2>&1 ||
			{ echo "compare.sh: scripts/servers.sh stop failed:" >&2; cat "$work/servers-stop.log" >&2; }
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v smtp-sink >/dev/null 2>&1 || ! command -v smtp-source >/dev/null 2>&1; then
	echo "==> installing postfix (for smtp-sink and smtp-source)"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
fi

if [ ! -x /usr/bin/time ]; then
	echo "==> installing GNU time (for the peak RSS of each client)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
fi

echo "==> building the clients (release)"
(cd "$BENCH_DIR" && cargo build --release --bins -q)

if [ -n "$baseline" ]; then
	rev=$(git -C "$REPO_ROOT" rev-parse --verify "$baseline^{commit}")
	echo "==> building postie-bench at $baseline ($rev) as the baseline"
	# Sources and target directory of their own, kept between runs: the
	# same path and the files' commit times (git archive keeps them) let
	# cargo reuse the last build of the same revision.
	base_src="$CARGO_TARGET_DIR/baseline-src"
	if [ "$(cat "$base_src/.rev" 2>/dev/null)" != "$rev" ]; then
		rm -rf "$base_src"
		mkdir -p "$base_src"
		git -C "$REPO_ROOT" archive "$rev" | tar -x -C "$base_src"
		echo "$rev" >"$base_src/.rev"
	fi
	(cd "$base_src/bench" &&
		CARGO_TARGET_DIR="$CARGO_TARGET_DIR/baseline" cargo build --release --bin postie-bench -q)
	extra+=(--baseline-bin "$CARGO_TARGET_DIR/baseline/release")
fi

port_open() {
	python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$1" 2>/dev/null
}

if port_open "$SINK_PORT"; then
	echo "compare.sh: 127.0.0.1:$SINK_PORT is in use; stop that program or set POSTIE_BENCH_SINK_PORT" >&2
	exit 1
fi
echo "==> smtp-sink on 127.0.0.1:$SINK_PORT"
(cd "$work" && exec smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 256) &
sink_pid=$!
for _ in $(seq 50); do
	port_open "$SINK_PORT" && break
	sleep 0.1
done
port_open "$SINK_PORT" || { echo "compare.sh: smtp-sink did not start" >&2; exit 1; }

postfix_args=()
if [ "$postfix" = 1 ]; then
	echo "==> starting the test Postfix (scripts/servers.sh, state in $POSTIE_TEST_DIR)"
	started_servers=1
	if ! bash "$REPO_ROOT/scripts/servers.sh" start postfix >"$work/servers.log" 2>&1; then
		tail -n 30 "$work/servers.log" >&2
		echo "compare.sh: scripts/servers.sh start failed" >&2
		exit 1
	fi
	# shellcheck disable=SC1091
	. "$POSTIE_TEST_DIR/env.sh"
	postfix_args=(--postfix "$POSTIE_TEST_POSTFIX" --postfix-queue "$POSTIE_TEST_POSTFIX_QUEUE"
		--submission "$POSTIE_TEST_POSTFIX_SUBMISSION" --ca-file "$POSTIE_TEST_CA"
		--username "$POSTIE_TEST_SASL_USER" --password-env POSTIE_TEST_SASL_PASSWORD)
fi

echo "==> a 50 MiB attachment"
head -c $((50 << 20)) /dev/urandom >"$work/attachment.bin"

# In the background and waited for, so that a signal to this script is
# handled at once (the cleanup stops compare.py, then the servers).
python3 "$BENCH_DIR/compare.py" --bin-dir "$CARGO_TARGET_DIR/release" \
	--sink "127.0.0.1:$SINK_PORT" "${postfix_args[@]}" --rounds "$rounds" "${quick[@]}" "${extra[@]}" \
	--attach-file "$work/attachment.bin" --json "$CARGO_TARGET_DIR/compare-results.json" &
compare_pid=$!
rc=0
wait "$compare_pid" || rc=$?
compare_pid=
exit "$rc"
