#!/bin/sh
# Maildir delivery for the postie test Postfix instance (see ../servers.sh).
#
#   maildir_deliver.sh BASE DOMAIN LOCALPART < message
#
# Run by pipe(8) as the postie-test user, one recipient per call. Writes the
# message to BASE/DOMAIN/LOCALPART/tmp/ and renames it into .../new/, the
# usual Maildir protocol. (virtual(8) cannot do this: it refuses regexp
# substitution in virtual_mailbox_maps, so it cannot give every local part its
# own Maildir without listing them all.)
#
# Exit codes are sysexits(3) codes, which pipe(8) understands:
# 67 (EX_NOUSER) bounces, 75 (EX_TEMPFAIL) defers.
set -u
umask 022

if [ "$#" -ne 3 ]; then
	echo "usage: maildir_deliver.sh BASE DOMAIN LOCALPART" >&2
	exit 64
fi
base=$1
domain=$2
localpart=$3

# No path may leave BASE/DOMAIN/: no empty parts, no slash, no leading dot.
case $domain in
'' | .* | */*)
	echo "refusing domain '$domain'" >&2
	exit 67
	;;
esac
case $localpart in
'' | .* | */*)
	echo "refusing local part '$localpart'" >&2
	exit 67
	;;
esac

dir=$base/$domain/$localpart
mkdir -p "$dir/tmp" "$dir/new" "$dir/cur" || exit 75

# time.MmicrosecondsPpid.host, unique as long as pids are not reused within
# one microsecond.
now=$(date +%s.%N) || exit 75
name=${now%.*}.M$(printf '%s' "${now#*.}" | cut -c1-6)P$$.postfix.test

if ! cat >"$dir/tmp/$name"; then
	rm -f "$dir/tmp/$name"
	exit 75
fi
mv "$dir/tmp/$name" "$dir/new/$name" || exit 75
exit 0
