#!/bin/sh
# The grammar's keywords and gpiows.conf(5) must list the same words.
#
# The keywords are read from the table in gpiod-helper/parse.c, between the
# lines "/* KEYWORDS BEGIN */" and "/* KEYWORDS END */", one "word", per
# line: the lexer makes keyword tokens of exactly these words, so they are
# what the parser can accept.  The page's words are those set with Ic or Cm
# on its macro lines.  TAP: one line per keyword (documented) and one per
# word of the page (is a keyword).
#
# Environment: top_srcdir, the source root (set by "make check").

LC_ALL=C
export LC_ALL

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
parse_c=$top_srcdir/gpiod-helper/parse.c
page=$top_srcdir/man/gpiows.conf.5

for f in "$parse_c" "$page"; do
	if [ ! -r "$f" ]; then
		echo "Bail out! cannot read $f"
		exit 1
	fi
done

# The table's lines, markers excluded.
table=$(sed -n '/\/\* KEYWORDS BEGIN \*\//,/\/\* KEYWORDS END \*\//p' \
    "$parse_c" | sed '1d;$d')
keywords=$(printf '%s\n' "$table" |
    sed -n 's/^[[:space:]]*"\([^"[:space:]]*\)",[[:space:]]*$/\1/p')

# Words after an Ic or Cm macro up to the next macro; punctuation in between
# (as in "Cm rising | falling") does not end the macro's scope.
documented=$(awk '
/^\./ {
	inmacro = 0
	for (i = 1; i <= NF; i++) {
		w = $i
		if (i == 1)
			w = substr(w, 2)
		if (w ~ /^[A-Z][a-z][a-z]?$/) {
			inmacro = (w == "Ic" || w == "Cm")
			continue
		}
		if (w ~ /^[.,:;()\[\]|?!]$/)
			continue
		if (inmacro)
			print w
	}
}' "$page" | sort -u)

n=0
failed=0
check() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

# A line the pattern above does not read would silently drop a keyword.
nlines=$(printf '%s\n' "$table" | grep -c '[^[:space:]]')
nkw=$(printf '%s\n' "$keywords" | grep -c .)
[ "$nlines" -eq "$nkw" ] && [ "$nkw" -gt 0 ]
check $? "keyword table: $nkw keywords read from $nlines lines"
dups=$(printf '%s\n' "$keywords" | sort | uniq -d | tr '\n' ' ' |
    sed 's/ $//')
[ -z "$dups" ]
check $? "keyword table has no duplicates${dups:+: $dups}"

for kw in $keywords; do
	printf '%s\n' "$documented" | grep -qxF -- "$kw"
	check $? "keyword \"$kw\" is documented in gpiows.conf(5)"
done
for word in $documented; do
	printf '%s\n' "$keywords" | grep -qxF -- "$word"
	check $? "\"$word\" of gpiows.conf(5) is a keyword"
done

echo "1..$n"
[ "$failed" -eq 0 ]
