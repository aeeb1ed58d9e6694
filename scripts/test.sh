#!/usr/bin/env bash
# The one test command, for a fresh Debian 12 machine, as root:
#
#   scripts/test.sh [extra arguments for cargo test]
#
# 1. scripts/servers.sh start: installs what is missing (Postfix with Cyrus
#    SASL, aiosmtpd, Exim, Dovecot, chasquid, Haraka, OpenSMTPD, microsocks,
#    dkimpy and OpenDKIM, dnsmasq, PostgreSQL, openssl), makes a test CA, starts every test server on loopback (one
#    script each in scripts/servers/) and writes $POSTIE_TEST_DIR/env.sh; they are
#    stopped again when this script exits.
# 2. cargo fmt --check, cargo clippy -D warnings, the import-cycle check,
#    scripts/deps.sh --check 60 and the libraries' docs without a broken
#    link (skipped when POSTIE_SKIP_LINT=1).
# 3. cargo test --workspace --all-features "$@", with the variables from
#    env.sh exported (the integration tests send with the blocking driver),
#    then postie-smtp's integration tests again with POSTIE_TEST_DRIVER=tokio
#    (the same tests on the tokio driver).
#
# Exits non-zero if any step fails; later steps still run so that one run
# shows every problem.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

export POSTIE_TEST_DIR=${POSTIE_TEST_DIR:-$REPO_ROOT/.test-servers}
# rustup's cargo may not be on PATH in a non-login shell.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
	export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

step() { printf '\n==> %s\n' "$*"; }

stop_servers() {
	local rc=$?
	trap - EXIT
	step "stopping test servers"
	bash scripts/servers.sh stop || true
	exit "$rc"
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "starting test servers (scripts/servers.sh start)"
bash scripts/servers.sh start
# shellcheck source=/dev/null
. "$POSTIE_TEST_DIR/env.sh"

failed=()

run_step() {
	local name=$1
	shift
	step "$name: $*"
	if "$@"; then
		return 0
	fi
	failed+=("$name")
}

if [ "${POSTIE_SKIP_LINT:-0}" = 1 ]; then
	step "POSTIE_SKIP_LINT=1: skipping cargo fmt and cargo clippy"
else
	run_step fmt cargo fmt --all -- --check
	run_step clippy cargo clippy --workspace --all-targets --all-features -- -D warnings
	run_step import-cycles python3 scripts/import-cycles.py \
		crates/postie-mime/src crates/postie-smtp/src crates/postie-outbox/src crates/postie-spool/src crates/postie/src
	# The default tree stays lean (the issue on performance: at most 60).
	run_step deps bash scripts/deps.sh --check 60
	# The libraries' documentation builds without a broken link (the
	# command's doc comments are its --help text, brackets and all).
	run_step docs env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features \
		-p postie-mime -p postie-smtp -p postie-outbox -p postie-spool
fi
run_step test cargo test --workspace --all-features --no-fail-fast "$@"
driver_tests=()
for file in crates/postie-smtp/tests/*.rs; do
	name=$(basename "$file" .rs)
	# The envelope rules never touch a driver.
	[ "$name" = envelope ] || driver_tests+=(--test "$name")
done
POSTIE_TEST_DRIVER=tokio run_step test-tokio-driver \
	cargo test -p postie-smtp --all-features --no-fail-fast "${driver_tests[@]}" "$@"

if [ "${#failed[@]}" -gt 0 ]; then
	step "FAILED: ${failed[*]}"
	exit 1
fi
step "all steps passed"
