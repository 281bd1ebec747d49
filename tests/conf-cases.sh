#!/bin/sh
# Data-driven configuration cases, one directory per case under tests/conf/:
#
#	input.conf	the file to check
#	expected	what "gpiod-helper -n -f input.conf" must print (stdout and
#			stderr together), run from the case's directory
#
# The helper must exit 0 when expected is "configuration OK", 1 otherwise.
# A case without input.conf checks the message for a file that cannot be
# read.  TAP: one line per case, the difference as "# " lines on failure.
#
# Environment: GPIOWS_HELPER, the helper to run; top_srcdir, the source root
# (both set by "make check").

LC_ALL=C
export LC_ALL

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
cases=$top_srcdir/tests/conf

if [ -z "$GPIOWS_HELPER" ]; then
	echo "Bail out! GPIOWS_HELPER is not set"
	exit 1
fi
# Each case runs in its own directory: the helper's path must survive the cd.
case $GPIOWS_HELPER in
/*)	;;
*/*)	GPIOWS_HELPER=$(pwd)/$GPIOWS_HELPER ;;
esac
if [ ! -x "$GPIOWS_HELPER" ] && ! command -v "$GPIOWS_HELPER" >/dev/null 2>&1
then
	echo "Bail out! $GPIOWS_HELPER is not executable"
	exit 1
fi

timeout=
if command -v timeout >/dev/null 2>&1; then
	timeout="timeout 30"
fi

out=$(mktemp "${TMPDIR:-/tmp}/conf-cases.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
for dir in "$cases"/*/; do
	dir=${dir%/}
	name=${dir##*/}
	[ -d "$dir" ] || continue
	n=$((n + 1))
	if [ ! -f "$dir/expected" ]; then
		echo "not ok $n - $name"
		echo "# $dir/expected is missing"
		failed=$((failed + 1))
		continue
	fi

	(cd "$dir" && exec $timeout "$GPIOWS_HELPER" -n -f input.conf) \
	    </dev/null >"$out" 2>&1
	status=$?
	if [ "$(cat "$dir/expected")" = "configuration OK" ]; then
		want=0
	else
		want=1
	fi

	why=
	if ! cmp -s "$dir/expected" "$out"; then
		why="output differs"
	fi
	if [ "$status" -ne "$want" ]; then
		why="${why:+$why; }exit status $status, expected $want"
	fi
	if [ -z "$why" ]; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		echo "# $why"
		diff -u "$dir/expected" "$out" | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done

if [ "$n" -eq 0 ]; then
	echo "Bail out! no cases found in $cases"
	exit 1
fi
echo "1..$n"
[ "$failed" -eq 0 ]
