#!/usr/bin/env bash
# The relayers' crash test at full size (not in CI): 10,000 messages in the
# PostgreSQL spool, 4 relayers SIGKILLed 50 times at random and started
# again, the database restarted once mid-run, a sink recording every
# delivery. Every message must end sent and delivered exactly once, or
# unknown and delivered at most once. CI runs the same test with 2,000
# messages and 10 kills (crates/postie/tests/spool_crash_pg.rs).
#
#   bench/spool_crash.sh [--messages N] [--kills K] [--seed S]
#
# Needs: cargo, root (the test PostgreSQL runs as the postgres user);
# starts the test server with scripts/servers.sh when it is not running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
messages=10000
kills=50
seed=
while [ $# -gt 0 ]; do
	case $1 in
	--messages) messages=$2; shift 2 ;;
	--kills) kills=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	*) echo "usage: $0 [--messages N] [--kills K] [--seed S]" >&2; exit 2 ;;
	esac
done
if [ -z "${POSTIE_TEST_POSTGRES:-}" ]; then
	bash "$ROOT/scripts/servers.sh" start postgres >&2
	# shellcheck disable=SC1091
	. "$ROOT/.test-servers/env.sh"
fi
export POSTIE_CRASH_MESSAGES=$messages POSTIE_CRASH_KILLS=$kills
[ -n "$seed" ] && export POSTIE_CRASH_SEED=$seed
cd "$ROOT"
cargo test --release -p postie --features postgres --test spool_crash_pg -- --nocapture 2>&1 |
	grep -E '^crash test|^test |panicked|test result'
