#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each and reports, per target,
# how many inputs were executed and whether it crashed.
#
#   scripts/fuzz.sh [SECONDS]          # default 30
#   ASAN=1 scripts/fuzz.sh 60          # with AddressSanitizer (RUSTC_BOOTSTRAP=1)
#   TARGETS="core_state_machine date" scripts/fuzz.sh 300
#   FUZZ_ARGS="-max_len=8192" scripts/fuzz.sh 60   # extra libFuzzer flags
#
# Works on stable Rust: without ASAN the targets are built with
# `--sanitizer none`, which needs no nightly feature.
#
# The committed seeds in fuzz/corpus/<target>/ are only read: what the
# fuzzer finds goes to fuzz/target/corpus/<target>/ (git-ignored), so the
# seed corpus stays small. Crash inputs go to fuzz/artifacts/<target>/, and
# the full libFuzzer output of each run to fuzz/target/logs/<target>.log.
# Replay one with:
#   cd fuzz && cargo fuzz run --sanitizer none TARGET artifacts/TARGET/crash-...
#
# Exits 1 when any target crashed (a panic, an assertion of the harness, a
# sanitizer report, an out-of-memory or a time-out), 2 on a usage or build
# error.
set -euo pipefail

SECONDS_PER_TARGET="${1:-30}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
    echo "usage: $0 [SECONDS]   (SECONDS: a whole number >= 1)" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$ROOT/fuzz"
cd "$FUZZ_DIR"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

SANITIZER_ARGS=(--sanitizer none)
ENV_PREFIX=()
if [ "${ASAN:-0}" = "1" ]; then
    # The address sanitizer needs unstable rustc flags; RUSTC_BOOTSTRAP lets
    # the stable compiler accept them. A separate target dir keeps the two
    # builds from invalidating each other.
    SANITIZER_ARGS=(--sanitizer address --target-dir target/asan)
    ENV_PREFIX=(env RUSTC_BOOTSTRAP=1)
fi

if [ -n "${TARGETS:-}" ]; then
    read -r -a targets <<<"$TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found in $FUZZ_DIR" >&2
    exit 2
fi

echo "building the fuzz targets (${SANITIZER_ARGS[*]})..." >&2
if ! "${ENV_PREFIX[@]}" cargo fuzz build "${SANITIZER_ARGS[@]}"; then
    echo "the fuzz targets do not build" >&2
    exit 2
fi

mkdir -p target/logs
read -r -a extra_args <<<"${FUZZ_ARGS:-}"
crashed=()
summary=()

for target in "${targets[@]}"; do
    log="target/logs/$target.log"
    work="target/corpus/$target"
    seeds="corpus/$target"
    mkdir -p "$work" "artifacts/$target"
    corpora=("$work")
    [ -d "$seeds" ] && corpora+=("$seeds")
    echo "=== $target: ${SECONDS_PER_TARGET}s" >&2
    status=0
    "${ENV_PREFIX[@]}" cargo fuzz run "${SANITIZER_ARGS[@]}" "$target" "${corpora[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 "${extra_args[@]}" \
        >"$log" 2>&1 || status=$?

    # libFuzzer's stat lines start with "#N"; the last one (the "DONE" line
    # on a clean finish) holds the number of executions.
    execs="$(grep -aoE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)"
    final="$(grep -aE '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1 || true)"
    [ -n "$final" ] && execs="$final"
    execs="${execs:-0}"

    if [ "$status" -eq 0 ] && grep -aqE '^#[0-9]+[[:space:]]+DONE' "$log"; then
        result="ok"
    else
        result="CRASH (exit $status)"
        crashed+=("$target")
        artifact="$(grep -aoE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/Test unit written to //' || true)"
        {
            echo "--- $target crashed; log: fuzz/$log"
            grep -aE "panicked at|^ERROR|==ERROR|SUMMARY|ALARM|out-of-memory|deadly signal" "$log" | head -n 5 || true
            grep -aA 3 "panicked at" "$log" | sed -n '2,4p' || true
            if [ -n "$artifact" ]; then
                echo "input: $artifact"
                [ -f "$artifact" ] && echo "hex:   $(od -An -tx1 -v "$artifact" | tr -d ' \n' | head -c 2000)"
            fi
        } >&2
    fi
    summary+=("$(printf '%-22s %12s  %s' "$target" "$execs" "$result")")
done

echo
printf '%-22s %12s  %s\n' "target" "executions" "result"
printf '%s\n' "${summary[@]}"
if [ "${#crashed[@]}" -gt 0 ]; then
    echo "crashed: ${crashed[*]}"
    exit 1
fi
echo "no crash in ${#targets[@]} targets (${SECONDS_PER_TARGET}s each)"
