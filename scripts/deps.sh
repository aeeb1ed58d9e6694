#!/usr/bin/env bash
# How many crates each of postie's crates builds on (the issue on
# performance, "a leaner tree"):
#
#   scripts/deps.sh              the counts
#   scripts/deps.sh --list       the counts, each with the crates' names
#   scripts/deps.sh --check N    exit 1 when postie-smtp with its default
#                                features builds on more than N crates (CI)
#
# A count is the number of distinct crate names in
#
#   cargo tree -p CRATE -e normal --prefix none [--features F]
#
# once cargo tree's " (*)" (shown before) and " (proc-macro)" marks are
# removed and each name is kept once (a crate in two versions counts once):
# the count the issue uses, so that it compares with lettre's. It takes
# normal dependencies only, for the host's target: build-dependencies (cc
# and cmake for aws-lc-sys, say) and dev-dependencies are not counted;
# proc-macro crates are, and so is the crate itself.
#
# Each crate is counted with its default features, then once for each of
# its optional features as default features + that feature (what someone
# who turns it on builds), with the crates the feature adds.
#
# The comparison line is lettre 0.11 with the features the issue names
# (builder, hostname, SMTP, pool, tokio, rustls with ring, native
# certificates), at the version bench/Cargo.lock holds, resolved offline in
# a scratch directory on its own (the newest versions cargo has, as a
# lettre user gets them: not with bench/Cargo.lock, where postie-mime pins
# idna's Unicode back end for every crate of the bench, lettre included).
# bench/ is not touched. Without lettre in bench/Cargo.lock, or its sources
# not downloaded, the line gives the issue's count (69) instead.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

# The crates of the workspace that are counted: the libraries and the
# command (postie-testkit is test support, never published).
CRATES=(postie-mime postie-smtp postie-outbox postie-spool postie)
# lettre's count in the issue, for when it cannot be taken here.
LETTRE_ISSUE_COUNT=69

usage() {
	echo "usage: $0 [--list] [--check N]" >&2
	exit 2
}

list=0
check=
while [ $# -gt 0 ]; do
	case $1 in
	--list) list=1 ;;
	--check)
		[ $# -ge 2 ] || usage
		check=$2
		[[ $check =~ ^[0-9]+$ ]] || usage
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) usage ;;
	esac
	shift
done

command -v jq >/dev/null || {
	echo "$0: needs jq (to read the crates' features from cargo metadata)" >&2
	exit 2
}

# The distinct crate names CRATE builds on, one a line: names ARGS...
# where ARGS go to cargo tree (-p CRATE, feature flags, --manifest-path).
names() {
	cargo tree -q "$@" -e normal --prefix none |
		sed 's/ (\*)//; s/ (proc-macro)//' |
		awk 'NF { print $1 }' |
		sort -u
}

# One line of the report: show LABEL COUNT [NOTE], then the names with --list.
show() {
	local label=$1 list_of=$2 note=${3:-}
	printf '%-24s %4d%s\n' "$label" "$(printf '%s\n' "$list_of" | grep -c .)" "$note"
	if [ "$list" = 1 ]; then
		printf '%s\n' "$list_of" | paste -sd ' ' - | fold -s -w 74 | sed 's/ *$//; s/^/    /'
	fi
}

metadata=$(cargo metadata -q --no-deps --format-version 1)
smtp_default=

echo "crates built on (distinct names; normal dependencies, proc-macros counted;"
echo "a feature counted as default features + it)"
for crate in "${CRATES[@]}"; do
	default=$(names -p "$crate")
	show "$crate" "$default"
	if [ "$crate" = postie-smtp ]; then
		smtp_default=$(printf '%s\n' "$default" | grep -c .)
	fi
	features=$(jq -r --arg c "$crate" \
		'.packages[] | select(.name == $c) | .features | keys[] | select(. != "default")' \
		<<<"$metadata")
	if [ -z "$features" ]; then
		echo "  (no optional features)"
	fi
	for feature in $features; do
		with=$(names -p "$crate" --features "$feature")
		added=$(comm -13 <(printf '%s\n' "$default") <(printf '%s\n' "$with") | grep -c . || true)
		show "  + $feature" "$with" "  (+$added)"
	done
done

# lettre, for comparison (see the header).
scratch=
trap '[ -z "$scratch" ] || rm -rf "$scratch"' EXIT
lettre_line() {
	local version lettre
	version=$(awk '/^name = "lettre"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' \
		bench/Cargo.lock 2>/dev/null || true)
	if [ -z "$version" ]; then
		echo "lettre                   $LETTRE_ISSUE_COUNT  (the issue's count: no lettre in bench/Cargo.lock)"
		return
	fi
	scratch=$(mktemp -d)
	mkdir "$scratch/src"
	: >"$scratch/src/lib.rs"
	cat >"$scratch/Cargo.toml" <<EOF
[package]
name = "lettre-count"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lettre = { version = "=$version", default-features = false, features = ["builder", "hostname", "smtp-transport", "pool", "tokio1", "rustls", "ring", "rustls-native-certs", "tokio1-rustls"] }

[workspace]
EOF
	if cargo generate-lockfile --offline --manifest-path "$scratch/Cargo.toml" >/dev/null 2>&1 &&
		lettre=$(names --manifest-path "$scratch/Cargo.toml" -p lettre --offline 2>/dev/null); then
		show "lettre $version" "$lettre" "  (builder, SMTP, pool, tokio, rustls: for comparison)"
	else
		echo "lettre                   $LETTRE_ISSUE_COUNT  (the issue's count: lettre $version not downloaded)"
	fi
}
lettre_line

if [ -n "$check" ] && [ "$smtp_default" -gt "$check" ]; then
	echo "$0: postie-smtp with default features builds on $smtp_default crates, more than $check" >&2
	exit 1
fi
