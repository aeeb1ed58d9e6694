#!/usr/bin/env bash
# The soak run (minutes; not in CI): a pool of 4 connections shared by 4
# threads (bench/src/bin/soak.rs) sends --count messages (default 500,000)
# to the test Postfix, which queues each and then discards it, while this
# script stops Postfix every --every seconds (default 30) for --down seconds
# (default 3) and starts it again. Then it checks, from Postfix's own log
# (a message counts as queued when its queue id, which cleanup's
# `message-id=` line names, reached the queue manager: `(queue active)`;
# a cleanup interrupted by the stop logs the message-id of a message that
# was never queued):
#   * every message the pool reported accepted was queued exactly once;
#   * no message was queued twice: the client sends a message again only
#     when the pool said it was not sent, so a duplicate would mean postie
#     called a message "not sent" that the server had taken;
#   * the others were reported to their caller as unknown (the connection
#     lost after the data: Postfix may have queued them, which is counted)
#     or failed;
# and that the client's peak resident set after warm-up (10% of the
# messages) is within 10% of its size then.
#
#   bench/soak.sh [--count N] [--every S] [--down S]
#
# Needs: cargo, root (scripts/servers.sh starts the test Postfix). Builds
# soak (release) into $CARGO_TARGET_DIR (default bench/target).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}

count=500000
every=30
down=3
while [ $# -gt 0 ]; do
	case $1 in
	--count) count=$2; shift 2 ;;
	--every) every=$2; shift 2 ;;
	--down) down=$2; shift 2 ;;
	*) echo "usage: $0 [--count N] [--every S] [--down S]" >&2; exit 2 ;;
	esac
done

echo "==> building soak (release)"
(cd "$BENCH_DIR" && cargo build --release --quiet --bin soak)
echo "==> starting the test Postfix"
bash "$REPO_ROOT/scripts/servers.sh" start postfix >/dev/null
# shellcheck disable=SC1091
. "${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}/env.sh"
pf_dir=$(dirname "$POSTIE_TEST_POSTFIX_QUEUE")
pf_etc=$pf_dir/etc
pf_log=$pf_dir/maillog
[ -f "$pf_log" ] || { echo "no Postfix log at $pf_log" >&2; exit 1; }

work=$(mktemp -d)
run=$(date +%s)-$$
client=
cleanup() {
	[ -z "$client" ] || kill "$client" 2>/dev/null || true
	pf_start || true
	rm -rf "$work"
}
trap cleanup EXIT

# Postfix's stop returns before its master has gone, and a start meanwhile
# fails its integrity check: wait for each.
pf_running() { postfix -c "$pf_etc" status >/dev/null 2>&1; }
pf_stop() {
	postfix -c "$pf_etc" stop >/dev/null 2>&1 || true
	for _ in $(seq 200); do pf_running || return 0; sleep 0.1; done
	echo "Postfix did not stop" >&2
	return 1
}
pf_start() {
	pf_running && return 0
	# A cleanup killed by the stop leaves an empty file in incoming/, which
	# fails the start's integrity check (scripts/servers.sh clears them too).
	find "$pf_dir/queue/incoming" -type f -empty -delete 2>/dev/null || true
	for _ in $(seq 20); do
		postfix -c "$pf_etc" start >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "Postfix did not start again" >&2
	return 1
}
log_start=$(stat -c %s "$pf_log")

echo "==> $count messages (run $run); Postfix stopped for ${down}s every ${every}s"
"$CARGO_TARGET_DIR/release/soak" --host "${POSTIE_TEST_POSTFIX%:*}" --port "${POSTIE_TEST_POSTFIX##*:}" \
	--count "$count" --threads 4 --run "$run" --out "$work/outcomes" >"$work/summary" &
client=$!
restarts=0
start=$(date +%s)
while kill -0 "$client" 2>/dev/null; do
	for ((i = 0; i < every * 10; i++)); do
		kill -0 "$client" 2>/dev/null || break 2
		sleep 0.1
	done
	pf_stop
	sleep "$down"
	pf_start
	restarts=$((restarts + 1))
done
wait "$client" || { echo "the soak client failed" >&2; exit 1; }
client=
elapsed=$(($(date +%s) - start))
# Postfix's log is written by its own daemon: give it a moment.
sleep 2

tail -c +"$((log_start + 1))" "$pf_log" | awk -v run="$run" '
	# QUEUEID: message-id=<soak-N-RUN@postie.bench>   (cleanup)
	match($0, /: message-id=<soak-[0-9]+-/) {
		split($6, q, ":"); id = $0
		sub(/.*message-id=<soak-/, "", id); split(id, parts, "-")
		if (index($0, "-" run "@postie.bench>")) msg[q[1]] = parts[1]
	}
	# QUEUEID: from=<...>, size=..., nrcpt=1 (queue active)   (qmgr)
	# (Postfix reuses a queue id within seconds: each cleanup line pairs
	# with the next queue-active line of its id.)
	/\(queue active\)/ { split($6, q, ":"); if (q[1] in msg) { count[msg[q[1]]]++; delete msg[q[1]] } }
	END { for (n in count) print n, count[n] }
' >"$work/queued"
python3 - "$work/outcomes" "$work/queued" "$work/summary" "$restarts" "$elapsed" <<'PY'
import sys, collections
outcomes, queued_file, summary_file, restarts, elapsed = sys.argv[1:6]
queued = {int(n): int(c) for n, c in (l.split() for l in open(queued_file))}
reported = {}
reasons = collections.Counter()
for line in open(outcomes):
    n, kind, *why = line.rstrip("\n").split(" ", 2)
    reported[int(n)] = kind
    if kind != "accepted":
        reasons[kind + ": " + (why[0] if why else "")[:70]] += 1
summary = open(summary_file).read().split()
fields = dict(f.split("=", 1) for f in summary if "=" in f)
accepted = [n for n, k in reported.items() if k == "accepted"]
failed = [n for n, k in reported.items() if k != "accepted"]
twice = [n for n, c in queued.items() if c > 1]
lost = [n for n in accepted if queued.get(n, 0) != 1]
failed_but_queued = [n for n in failed if queued.get(n, 0) == 1]
unreported = int(fields["msgs"]) - len(reported)
warm, peak = int(fields["warm"]), int(fields["peak"])
growth = (peak - warm) / warm * 100 if warm else 0.0
print()
print(f"{fields['msgs']} messages in {elapsed} s ({int(fields['msgs']) / max(int(elapsed), 1):.0f}/s), Postfix restarted {restarts} times")
print(f"  accepted (reported to the caller)      {len(accepted)}")
print(f"  sent again after a 'not sent'          {fields['retries']}")
print(f"  unknown or failed (reported)           {len(failed)}, of which Postfix queued {len(failed_but_queued)}")
for reason, n in reasons.most_common(5):
    print(f"      {n:8}  {reason}")
print(f"  accepted but not queued exactly once   {len(lost)}" + (f" (e.g. {sorted(lost)[:5]})" if lost else ""))
print(f"  queued twice or more                   {len(twice)}" + (f" (e.g. {sorted(twice)[:5]})" if twice else ""))
print(f"  not reported at all                    {unreported}")
print(f"  client RSS: {warm} KiB after warm-up, peak {peak} KiB after it ({growth:+.1f}%)")
ok = not lost and not twice and unreported == 0 and growth <= 10
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
