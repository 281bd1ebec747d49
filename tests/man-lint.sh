#!/bin/sh
# Every manual page is clean under mandoc -Tlint (warnings and up), and
# every page the others refer to exists.  TAP: one case per check.
set -u
cd "${top_srcdir:-.}/man" || { echo "Bail out! no man directory"; exit 1; }
n=0 failed=0
check() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
command -v mandoc >/dev/null 2>&1 || { echo "Bail out! mandoc is not installed"; exit 1; }
for page in gpiod-helper.8 wsd.8 gpiows.conf.5 gpiows-protocol.7; do
	out=$(mandoc -Tlint -W warning "$page" 2>&1)
	[ -z "$out" ]
	check $? "$page: mandoc -Tlint clean"
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
done
# Cross-references to our own pages must resolve.
for ref in $(sed -n 's/^\.Xr \(gpiod-helper\|gpiows[a-z.-]*\|wsd\) \([0-9]\).*/\1.\2/p' *.[0-9] | sort -u); do
	[ -f "$ref" ]
	check $? "cross-reference $ref exists"
done
echo "1..$n"
[ $failed -eq 0 ]
