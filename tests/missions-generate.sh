#!/bin/sh
# Writes the mission cases too long to write by hand: steps arrays at their
# limit of 1000 steps and one past it, at the top level and in a repeat.
# The files are committed; run this again only if the cases change.
#
#	sh tests/missions-generate.sh [cases-directory]

LC_ALL=C
export LC_ALL

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
dir=${1:-$top_srcdir/tests/missions}

# steps N INDENT: N steps, one a line; sleep(i) at the top level, toggles
# alternating led and relay in a repeat, so that their order shows in the
# summary.
steps() {
	awk -v n="$1" -v ind="$2" -v kind="$3" 'BEGIN {
		for (i = 1; i <= n; i++) {
			if (kind == "sleep")
				s = sprintf("{\"sleep\": {\"ms\": %d}}", i)
			else
				s = sprintf("{\"toggle\": {\"pin\": \"%s\"}}",
				    i % 2 ? "led" : "relay")
			printf("%s%s%s\n", ind, s, i < n ? "," : "")
		}
	}'
}

summary() {
	awk -v n="$1" -v kind="$2" 'BEGIN {
		for (i = 1; i <= n; i++) {
			if (kind == "sleep")
				printf("sleep(%d)", i)
			else
				printf("toggle(%s)", i % 2 ? "led" : "relay")
			printf("%s", i < n ? "," : "")
		}
	}'
}

top() {
	mkdir -p "$dir/$1" || exit 1
	{
		printf '{\n\t"name": "%s",\n\t"steps": [\n' "$1"
		steps "$2" '		' sleep
		printf '\t]\n}\n'
	} >"$dir/$1/mission.json"
}

inrepeat() {
	mkdir -p "$dir/$1" || exit 1
	{
		printf '{\n\t"name": "%s",\n\t"steps": [\n' "$1"
		printf '\t\t{\n\t\t\t"repeat": {\n\t\t\t\t"count": 2,\n'
		printf '\t\t\t\t"steps": [\n'
		steps "$2" '					' toggle
		printf '\t\t\t\t]\n\t\t\t}\n\t\t}\n\t]\n}\n'
	} >"$dir/$1/mission.json"
}

top ok-steps-1000 1000
printf 'OK name="ok-steps-1000" on_cancel=safe resume=1 steps=[%s]\n' \
    "$(summary 1000 sleep)" >"$dir/ok-steps-1000/expected"

top err-steps-1001 1001
echo 'steps: must have 1..1000 steps' >"$dir/err-steps-1001/expected"

inrepeat ok-repeat-steps-1000 1000
printf 'OK name="ok-repeat-steps-1000" on_cancel=safe resume=1 steps=[repeat(2)[%s]]\n' \
    "$(summary 1000 toggle)" >"$dir/ok-repeat-steps-1000/expected"

inrepeat err-repeat-steps-1001 1001
echo 'steps[0].repeat.steps: must have 1..1000 steps' \
    >"$dir/err-repeat-steps-1001/expected"
