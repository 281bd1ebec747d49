#!/bin/sh
# The mission parser's data-driven cases, one directory per case under
# tests/missions/ (mission.json and expected), run by tests/unit/mission-test,
# which documents the expected format and prints TAP itself.
#
# Environment: top_srcdir, the source root; top_builddir, the build root
# (both set by "make check").

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

exec "$top_builddir/tests/unit/mission-test" "$top_srcdir/tests/missions"
