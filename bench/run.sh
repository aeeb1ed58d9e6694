#!/usr/bin/env bash
# Runs every benchmark of this workspace and prints one table of ratios.
#
#   bench/run.sh [--rounds N] [--rev REV] [--quick]
#
#   --rounds N  repeat each measurement N times (default 5); the order of the
#               libraries is rotated every round, and each round measures one
#               benchmark per process, so slow drift of a noisy machine hits
#               all of them alike. The table shows the median of the rounds
#               and, for ratios, the range over rounds (each round's ratio is
#               taken between measurements made close together).
#   --rev REV   benchmark postie-mime as committed at REV (git archive of
#               the workspace into $CARGO_TARGET_DIR/src-REV), not the work
#               tree: for when the work tree is mid-edit and does not build.
#   --quick     shorter measurements (warm-up 0.5 s, measurement 1 s), 1 round.
#
# Each criterion measurement: warm-up 1 s, measurement 2 s, 10,000 bootstrap
# resamples. Needs cargo, python3 and git (for --rev). Takes about 5 minutes
# on a 2-core machine once built (a first build takes 2 to 3 more minutes).
# Raw logs: $CARGO_TARGET_DIR/run-logs/; criterion data:
# $CARGO_TARGET_DIR/criterion-run/.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_DIR/target}

rounds=5
rev=
warm_up=1
measure=2
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--rev) rev=$2; shift 2 ;;
	--quick) rounds=1; warm_up=0.5; measure=1; shift ;;
	*) echo "usage: $0 [--rounds N] [--rev REV] [--quick]" >&2; exit 2 ;;
	esac
done

if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
	export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
command -v python3 >/dev/null || { echo "run.sh needs python3 for the table" >&2; exit 1; }

work=$BENCH_DIR
postie_src="work tree"
if [ -n "$rev" ]; then
	sha=$(git -C "$REPO_ROOT" rev-parse --verify "$rev^{commit}")
	snap=$CARGO_TARGET_DIR/src-${sha:0:12}
	rm -rf "$snap"
	mkdir -p "$snap/bench"
	git -C "$REPO_ROOT" archive "$sha" Cargo.toml Cargo.lock crates | tar -x -C "$snap"
	cp -r "$BENCH_DIR/Cargo.toml" "$BENCH_DIR/src" "$BENCH_DIR/benches" "$snap/bench/"
	[ ! -f "$BENCH_DIR/Cargo.lock" ] || cp "$BENCH_DIR/Cargo.lock" "$snap/bench/"
	work=$snap/bench
	postie_src="commit ${sha:0:12}"
fi

logs=$CARGO_TARGET_DIR/run-logs
export CRITERION_HOME=$CARGO_TARGET_DIR/criterion-run
rm -rf "$logs" "$CRITERION_HOME"
mkdir -p "$logs" "$CRITERION_HOME"

echo "==> building (postie-mime from the $postie_src)"
cd "$work"
cargo build --release --bin big_attachment 2>&1 | tail -n 1
cargo bench --no-run --message-format=json 2>"$logs/build.err" >"$logs/build.json" ||
	{ cat "$logs/build.err" >&2; exit 1; }
exe() {
	python3 - "$logs/build.json" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[2] \
            and "bench" in m["target"]["kind"] and m.get("executable"):
        print(m["executable"])
        break
EOF
}
build_serialize_exe=$(exe build_serialize)
base64_exe=$(exe base64)
big_exe=$CARGO_TARGET_DIR/release/big_attachment
[ -x "$build_serialize_exe" ] && [ -x "$base64_exe" ] && [ -x "$big_exe" ] ||
	{ echo "benchmark executables not found" >&2; exit 1; }

# One criterion benchmark per process: `run_one EXE ID ROUND`.
run_one() {
	"$1" --bench --exact "$2" --warm-up-time "$warm_up" --measurement-time "$measure" \
		--nresamples 10000 --save-baseline "r$3" --noplot >>"$logs/criterion.log" 2>&1 ||
		{ echo "failed: $2 (see $logs/criterion.log)" >&2; tail -n 20 "$logs/criterion.log" >&2; exit 1; }
}

# Runs the ids given after the executable, rotated by the round number.
run_rotated() {
	local exe=$1 round=$2
	shift 2
	local ids=("$@") n=$# i
	for ((i = 0; i < n; i++)); do
		local id=${ids[$(((i + round) % n))]}
		printf '    %s\n' "$id"
		run_one "$exe" "$id" "$round"
	done
}

big_file_dir=$(mktemp -d "${TMPDIR:-/tmp}/postie-bench.XXXXXX")
trap 'rm -rf "$big_file_dir"' EXIT
big_file=$big_file_dir/big.bin
"$big_exe" postie --file "$big_file" --reps 0 # makes the file, measures nothing

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$SECONDS
for ((r = 1; r <= rounds; r++)); do
	echo "==> round $r of $rounds ($((SECONDS - start)) s so far)"
	for group in build_serialize build_serialize_text_only; do
		run_rotated "$build_serialize_exe" "$r" "$group/postie" "$group/lettre" "$group/mail-builder"
	done
	for size in 1MiB 16MiB; do
		run_rotated "$base64_exe" "$r" "base64_$size/postie_writer" "base64_$size/bare" \
			"base64_$size/bare_chunked" "base64_$size/wrap_per_line" "base64_$size/wrap_two_pass"
	done
	libs=(postie mail-builder lettre postie-bytes)
	for ((i = 0; i < ${#libs[@]}; i++)); do
		lib=${libs[$(((i + r) % ${#libs[@]}))]}
		printf '    big_attachment %s\n' "$lib"
		"$big_exe" "$lib" --file "$big_file" | tee -a "$logs/big_attachment.log" | sed 's/^/      /'
	done
done
echo "==> done in $((SECONDS - start)) s"
echo
machine="$(nproc) cores; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$CRITERION_HOME" "$logs/big_attachment.log" "$rounds" "$postie_src" "$machine" <<'EOF'
import json, os, statistics, sys

home, big_log, rounds, src, machine = sys.argv[1:6]
rounds = int(rounds)
med = statistics.median

def ns(group, bench, r):
    """Median time per iteration (ns) of one round."""
    path = os.path.join(home, group, bench, f"r{r}", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]

def times(group, bench):
    return [ns(group, bench, r) for r in range(1, rounds + 1)]

def rng(values, fmt="{:.2f}"):
    if len(values) < 2:
        return ""
    return "[" + fmt.format(min(values)) + "-" + fmt.format(max(values)) + "]"

verdicts = []

def verdict(name, ok):
    verdicts.append(f"{'PASS' if ok else 'FAIL'}  {name}")

print(f"postie-mime from the {src}; {rounds} round(s); ratios are postie's speed")
print("divided by the other's (> 1: postie faster), the median over rounds of")
print("each round's ratio, with the range over rounds in brackets. Absolute")
print("numbers are context only: the machine is shared and noisy.")
print(f"Machine: {machine}.")

for group, title in [
    ("build_serialize", "1. build + serialize a typical message (1 KiB text, 2 KiB HTML, 10 KiB attachment)"),
    ("build_serialize_text_only", "1b. the same without the attachment (headers, structure, text only)"),
]:
    print()
    print(title)
    print(f"   {'library':<14}{'msg/s':>10}  {'per round':<42}{'postie/this':>12}  range")
    p = times(group, "postie")
    for lib in ["postie", "lettre", "mail-builder"]:
        t = times(group, lib)
        rate = [1e9 / x for x in t]
        ratios = [b / a for a, b in zip(p, t)]  # postie speed / lib speed
        per_round = " ".join(f"{x:,.0f}" for x in rate)
        ratio = "" if lib == "postie" else f"{med(ratios):.2f}"
        print(f"   {lib:<14}{med(rate):>10,.0f}  {per_round:<42}{ratio:>12}  "
              f"{'' if lib == 'postie' else rng(ratios)}")
        if group == "build_serialize" and lib == "mail-builder":
            verdict(f"build_serialize: postie/mail-builder = {med(ratios):.2f} (target >= 1.00)",
                    med(ratios) >= 1.0)
        if group == "build_serialize" and lib == "lettre":
            verdict(f"build_serialize: postie/lettre = {med(ratios):.2f} (no target; for reference)",
                    True)

for size, mib in [("1MiB", 1), ("16MiB", 16)]:
    group = f"base64_{size}"
    print()
    print(f"2. base64 of {size} of pseudo-random bytes (MiB/s of input)")
    print(f"   {'encoder':<40}{'MiB/s':>8}  {'postie/this':>11}  range")
    p = times(group, "postie_writer")
    for bench, label in [
        ("postie_writer", "postie Base64Writer -> io::sink()"),
        ("bare", "base64 encode_slice, no line breaks"),
        ("bare_chunked", "the same in 28.5 KiB pieces, reused buf"),
        ("wrap_per_line", "base64 + CRLF/76 by hand, per line"),
        ("wrap_two_pass", "base64 + CRLF/76 by hand, two passes"),
    ]:
        t = times(group, bench)
        speed = [mib * 1e9 / x for x in t]
        ratios = [b / a for a, b in zip(p, t)]
        ratio = "" if bench == "postie_writer" else f"{med(ratios):.2f}"
        print(f"   {label:<40}{med(speed):>8,.0f}  {ratio:>11}  "
              f"{'' if bench == 'postie_writer' else rng(ratios)}")
        if bench == "bare":
            verdict(f"base64 {size}: postie/bare = {med(ratios):.2f}, i.e. time x{1 / med(ratios):.2f}"
                    f" (target: time within 1.2x, speed ratio >= 0.83)", med(ratios) >= 1 / 1.2)
        if bench == "bare_chunked":
            verdict(f"base64 {size}: postie/bare_chunked = {med(ratios):.2f}, i.e. time"
                    f" x{1 / med(ratios):.2f} (same target, like-for-like buffers)",
                    med(ratios) >= 1 / 1.2)

runs = {}
for line in open(big_log):
    if not line.startswith("RESULT "):
        continue
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    runs.setdefault(fields["lib"], []).append(fields)
print()
size_mib = next(iter(runs.values()))[0]["size_mib"] if runs else "?"
print(f"3. a {size_mib} MiB attachment, built and written to a sink (one process per run)")
print(f"   {'library':<14}{'how':<34}{'secs':>6}  {'peak RSS':>9}  {'before':>7}  "
      f"{'out MiB':>8}  {'postie/this':>11}")
how = {
    "postie": "attach_file, streamed",
    "postie-bytes": "fs::read + attach_bytes",
    "mail-builder": "fs::read + attachment, write_to",
    "lettre": "fs::read + body, formatted()",
}
p_secs = [float(x["secs"]) for x in runs.get("postie", [])]
for lib in ["postie", "postie-bytes", "mail-builder", "lettre"]:
    if lib not in runs:
        continue
    secs = [float(x["secs"]) for x in runs[lib]]
    peak = max(int(x["peak_kib"]) for x in runs[lib]) / 1024
    before = max(int(x["rss_before_kib"]) for x in runs[lib]) / 1024
    out = int(runs[lib][0]["out_bytes"]) / 2**20
    ratios = [b / a for a, b in zip(p_secs, secs)]
    ratio = "" if lib == "postie" or not ratios else f"{med(ratios):.2f} {rng(ratios)}"
    print(f"   {lib:<14}{how[lib]:<34}{med(secs):>6.2f}  {peak:>6.1f} MiB  {before:>4.1f} MiB  "
          f"{out:>8.1f}  {ratio:>11}")
    if lib == "postie":
        verdict(f"big attachment: postie peak RSS {peak:.1f} MiB (target < 16 MiB)", peak < 16)
print("   (peak RSS is VmHWM of the whole process; 'before' is VmRSS just before the work)")

print()
for v in verdicts:
    print(v)
EOF

# 4. Parsing, postie's reader against mail-parser (criterion's own report;
# target: postie within 1.5x mail-parser's time).
echo
echo "4. parse the typical message and read its subject and decoded parts"
(cd "$BENCH_DIR" && cargo bench --bench parse -- --warm-up-time "$warm_up" --measurement-time "$measure" 2>&1 |
	grep -E '^parse/|^ +time:' | grep -v '%' | sed 's/^/   /')
