#!/usr/bin/env bash
# Relaying from the PostgreSQL spool, end to end: N messages (W2's, a
# 1 KiB text body) waiting in the table are sent to Postfix's smtp-sink by
# 1 relayer (`postie spool run --once --connections 4`) and by 4 relayers
# at once (`--connections 1` each: the same 4 connections); against, in
# the same interleaved rounds, postie-bench's direct W2 rate (20,000
# messages over 4 connections, bench/compare.sh's workload) and the
# database's own commit rate (pgbench's built-in simple-update, 4 clients,
# on the same server). Ratios of medians; 4 relayers should reach at least
# half of the lower of the two (a few database round trips per batch, not
# per message).
#
#   bench/spool_relay.sh [--rounds R] [--count N] [--batch B] [--seconds S]
#
# The database is the test server of scripts/servers.sh (started when
# POSTIE_TEST_POSTGRES is not set): a test instance with fsync off, so the
# commit rate is the server's CPU, not a disk's. Each relay run works in a
# schema of its own, made and dropped here; the messages are put in the
# table by one `postie send --defer` and copies made in SQL (each with its
# own Subject, size and hash), the way another program may insert rows.
#
# Needs: cargo, root (smtp-sink runs as nobody), Postfix's smtp-sink,
# PostgreSQL's pgbench and psql (scripts/servers.sh installs both).
set -euo pipefail
shopt -s inherit_errexit

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
SINK_PORT=${POSTIE_BENCH_RELAY_SINK_PORT:-10047}

rounds=3
count=20000
batch=200
seconds=5
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--batch) batch=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds R] [--count N] [--batch B] [--seconds S]" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" -eq 0 ] || { echo "spool_relay.sh must run as root (smtp-sink)" >&2; exit 1; }
if [ -z "${POSTIE_TEST_POSTGRES:-}" ]; then
	bash "$ROOT/scripts/servers.sh" start postgres >&2
	# shellcheck disable=SC1091
	. "$ROOT/.test-servers/env.sh"
fi
PGHOST=${POSTIE_TEST_POSTGRES%:*}
PGPORT=${POSTIE_TEST_POSTGRES##*:}
export PGPASSFILE=$POSTIE_TEST_POSTGRES_PASSFILE
PGUSER=$POSTIE_TEST_POSTGRES_USER
PGDB=$POSTIE_TEST_POSTGRES_DB
BASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$PGDB"

echo "==> building postie (release, feature postgres) and postie-bench (release)" >&2
(cd "$ROOT" && cargo build --release --quiet -p postie --features postgres)
POSTIE=$ROOT/target/release/postie
(cd "$BENCH_DIR" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target} \
	cargo build --release --quiet --bin postie-bench)
BENCH=${CARGO_TARGET_DIR:-$BENCH_DIR/target}/release/postie-bench

work=$(mktemp -d)
cleanup() {
	[ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
	psql_run "DROP SCHEMA IF EXISTS postie_relay_bench CASCADE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

psql_run() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDB" -c "$1"
}

(cd "$work" && exec smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 256) &
sink=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break
	sleep 0.1
done

# W2's message body: 1,024 bytes of the workloads' text (bench-workloads.md).
python3 - "$work/body.txt" <<'PY'
import sys
words = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua, ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat").split(" ")
size, out, i = 1024, [], 0
left = size
while left > 0:
    line = ""
    while True:
        word = words[i % len(words)]
        candidate = word if not line else line + " " + word
        if len(candidate) > 72:
            break
        line, i = candidate, i + 1
    if len(line) + 2 < left:
        out.append(line + "\r\n"); left -= len(line) + 2
    elif left == 1:
        out.append("x"); left = 0
    else:
        cut = line[: left - 2]
        if cut.endswith(" "):
            cut = cut[:-1] + "x"
        out.append(cut + "\r\n"); left = 0
open(sys.argv[1], "w", newline="").write("".join(out))
PY

# A fresh schema holding $count queued messages for the sink.
fill() {
	psql_run "DROP SCHEMA IF EXISTS postie_relay_bench CASCADE; CREATE SCHEMA postie_relay_bench" >/dev/null
	local url="$BASE_URL?sslmode=disable&options=-csearch_path%3Dpostie_relay_bench"
	local id
	id=$(POSTIE_SPOOL_STORE=$url "$POSTIE" send --defer --json --server 127.0.0.1 \
		--port "$SINK_PORT" --tls none --from '"Bench Sender" <sender@example.org>' \
		--to '"Bench Sink" <sink@example.com>' --subject "relay bench" \
		--body "$(cat "$work/body.txt")" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["spooled"])')
	psql_run "SET search_path = postie_relay_bench;
		INSERT INTO postie_spool (id, state, format, created, account, config, transport,
		    reverse_path, recipients, message, size, sha256, next_attempt, last_attempt)
		SELECT s.id || '-' || g, 'queued', s.format, s.created, s.account, s.config,
		    s.transport, s.reverse_path, s.recipients, m.bytes, octet_length(m.bytes),
		    encode(sha256(m.bytes), 'hex'), now(), now()
		FROM postie_spool s, generate_series(1, $count) g,
		    LATERAL (SELECT convert_to(replace(convert_from(s.message, 'UTF8'),
		        'Subject: relay bench', 'Subject: relay bench ' || g), 'UTF8') AS bytes) m
		WHERE s.id = '$id';
		DELETE FROM postie_spool WHERE id = '$id';" >/dev/null
	psql_run "VACUUM ANALYZE postie_relay_bench.postie_spool" >/dev/null
	echo "$url"
}

# relay RELAYERS CONNECTIONS: seconds to send every message; checks that
# all of them were recorded as sent.
relay() {
	local relayers=$1 connections=$2 url start end pids=() n
	url=$(fill)
	start=$(date +%s.%N)
	for _ in $(seq "$relayers"); do
		POSTIE_SPOOL_STORE=$url "$POSTIE" spool run --once --quiet --batch "$batch" \
			--connections "$connections" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || { echo "spool_relay.sh: a relayer failed" >&2; exit 1; }
	done
	end=$(date +%s.%N)
	n=$(psql_run "SELECT count(*) FROM postie_relay_bench.postie_spool WHERE state = 'sent'")
	[ "$n" -eq "$count" ] || { echo "spool_relay.sh: $n of $count sent" >&2; exit 1; }
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

direct() {
	"$BENCH" --host 127.0.0.1 --port "$SINK_PORT" --count "$count" --size 1024 --connections 4 |
		sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p'
}

commit_rate() {
	pgbench -n -b simple-update -c 4 -j 2 -T "$seconds" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$PGDB" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

echo "==> pgbench tables (scale 1)" >&2
pgbench -i -q -s 1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$PGDB" >/dev/null 2>&1

results=$work/results
: >"$results"
for round in $(seq "$rounds"); do
	echo "==> round $round of $rounds" >&2
	echo "pgbench $(commit_rate)" >>"$results"
	echo "direct $(direct)" >>"$results"
	secs=$(relay 1 4)
	echo "relay1 $(awk -v n="$count" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')" >>"$results"
	secs=$(relay 4 1)
	echo "relay4 $(awk -v n="$count" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')" >>"$results"
done
psql_run "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers" >/dev/null

median() {
	grep "^$1 " "$results" | awk '{ print $2 }' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
pg=$(median pgbench)
direct_rate=$(median direct)
r1=$(median relay1)
r4=$(median relay4)
echo
echo "relaying $count messages (1 KiB) from the PostgreSQL spool to smtp-sink, batches of $batch, medians of $rounds interleaved rounds"
printf '  %-44s %12s\n' "what" "per second"
printf '  %-44s %12s\n' "pgbench simple-update, 4 clients (commits)" "$pg"
printf '  %-44s %12s\n' "postie-bench W2 direct, 4 connections" "$direct_rate"
printf '  %-44s %12s\n' "1 relayer, 4 connections" "$r1"
printf '  %-44s %12s\n' "4 relayers, 1 connection each" "$r4"
awk -v pg="$pg" -v d="$direct_rate" -v r1="$r1" -v r4="$r4" 'BEGIN {
	low = (pg < d) ? pg : d
	printf "  4 relayers: x%.2f the lower of the two (%s); 1 relayer: x%.2f\n", r4 / low, (pg < d) ? "pgbench" : "direct W2", r1 / low
	exit !(r4 >= low / 2)
}' || { echo "FAIL  4 relayers under half of the lower of pgbench and direct W2"; exit 1; }
