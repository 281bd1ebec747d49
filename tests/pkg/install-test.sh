#!/bin/bash
# The Debian package, the way an administrator gets it (issue 7):
#
#   1. build it from this source tree with "dpkg-buildpackage -us -uc -b", in a
#      copy of the tree, and run lintian on the result;
#   2. make a fresh Debian 12 tree with debootstrap (minbase, from the apt
#      mirror this machine uses; the tree is cached as a tarball under
#      /var/cache/gpiows-test, so only the first run downloads it) and
#      "apt-get install ./gpiows_*.deb" into it;
#   3. check the files, the conffile, the user, the journal directory;
#   4. start "gpiod-helper -d" as root in the tree on a simulated chip,
#      connect from this machine with python3-websockets (the tree shares the
#      network namespace), toggle a pin, and check that the children run as
#      gpiows, chrooted, without capabilities; then boot the tree with
#      systemd (systemd-nspawn, where it is installed) and do the same through
#      gpiows.service, with its hardening, and reload, stop and a broken
#      configuration;
#   5. "apt-get purge" and check that nothing of gpiows is left but its user
#      and group, which Debian policy keeps.
#
# Where no tree can be made (debootstrap missing or the mirror out of reach)
# steps 2 to 5 run on this machine itself, as the issue allows, but only if
# gpiows is not installed here already.  Not as root, steps 2 to 5 are
# skipped.  TAP on the standard output; exits 1 if a check failed.
#
# Environment:
#   GPIOWS_PKG_MODE    auto (default), tree (no fallback) or host
#   GPIOWS_TEST_CACHE  where the tree tarball is kept (/var/cache/gpiows-test)
#   GPIOWS_PKG_KEEP=1  keep the work directory (the tree is still unmounted)

set -u
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
umask 022

top=$(cd "$(dirname "$0")/../.." && pwd)
mode=${GPIOWS_PKG_MODE:-auto}
cache=${GPIOWS_TEST_CACHE:-/var/cache/gpiows-test}
suite=bookworm
start_time=$(date +%s)

n=0
failed=0
work=
root=			# "" on this machine, the tree otherwise
helper_pid=
host_installed=0

# ---------------------------------------------------------------- TAP

diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

# ok COND NAME [DETAIL...]: COND is a shell status (0 = pass).
ok() {
	local st=$1 name=$2
	shift 2
	n=$((n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		failed=$((failed + 1))
		[ $# -gt 0 ] && diag "$@"
	fi
	return "$st"
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

bail() {
	echo "Bail out! $*"
	exit 1
}

# In the tree, or on this machine.
inroot() {
	if [ -n "$root" ]; then
		chroot "$root" "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------- cleanup

# Every mount point under the work directory, deepest first.
mounts_under() {
	awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
	    sort -r
}

cleanup() {
	local m left
	trap - EXIT INT TERM
	if [ -n "$helper_pid" ] && kill -0 "$helper_pid" 2>/dev/null; then
		kill -KILL "$helper_pid" 2>/dev/null	# children: PDEATHSIG
		wait "$helper_pid" 2>/dev/null
	fi
	if [ -n "${nspawn_pid:-}" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -TERM "$nspawn_pid" 2>/dev/null
		sleep 3
		kill -KILL "$nspawn_pid" 2>/dev/null	# and the container with it
		wait "$nspawn_pid" 2>/dev/null
	fi
	if [ "$host_installed" -eq 1 ]; then
		apt-get purge -y -qq gpiows >/dev/null 2>&1
	fi
	[ -n "$work" ] && [ -d "$work" ] || return 0
	for m in $(mounts_under "$work"); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	left=$(mounts_under "$work")
	if [ -n "$left" ]; then
		diag "still mounted, $work is left in place:" "$left"
		return 0
	fi
	if [ "${GPIOWS_PKG_KEEP:-0}" = 1 ]; then
		diag "kept: $work"
		return 0
	fi
	rm -rf --one-file-system "$work"
}

finish() {
	echo "1..$n"
	diag "$((n - failed))/$n passed in $(($(date +%s) - start_time)) s"
	cleanup
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

trap cleanup EXIT
trap 'echo "Bail out! interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- 1. build

for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null 2>&1 ||
	    bail "$t is missing (apt-get install dpkg-dev debhelper lintian)"
done
[ -d "$top/debian" ] || bail "$top/debian is missing"

# Not $TMPDIR: the tree needs a file system with device nodes and exec.
work=$(mktemp -d /var/tmp/gpiows-pkg.XXXXXX) || bail "mktemp"
chmod 0755 "$work"
src=$work/src/gpiows
mkdir -p "$src"

# The sources as committed or about to be: what git knows and does not
# ignore, so no build tree of the working copy comes along.
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    while IFS= read -r -d '' f; do
		[ -e "$f" ] && printf '%s\0' "$f"
	    done | xargs -0 cp -P --parents -t "$src")
else
	tar -C "$top" --exclude='./build*' --exclude='./.git' \
	    --exclude='./debian/gpiows' --exclude='./debian/.debhelper' \
	    -cf - . | tar -C "$src" -xf -
fi

export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
st=$?
deb=$(ls "$work"/src/gpiows_*_*.deb 2>/dev/null | head -1)
changes=$(ls "$work"/src/gpiows_*.changes 2>/dev/null | head -1)
ok $st "dpkg-buildpackage -us -uc -b builds the package" \
    "$(tail -n 30 "$work/build.log")" || finish
[ -n "$deb" ] && [ -n "$changes" ]
ok $? "the .deb and the .changes are there: ${deb##*/}" \
    "$(ls "$work/src")" || finish

# Lintian: no error at all; every warning is overridden, with its reason, in
# debian/gpiows.lintian-overrides.  What is left (info, pedantic) is shown.
lintian --no-tag-display-limit -EI --pedantic "$changes" \
    >"$work/lintian.log" 2>&1
errors=$(grep '^E: ' "$work/lintian.log")
warnings=$(grep '^W: ' "$work/lintian.log")
[ -z "$errors" ]
ok $? "lintian reports no error" "$errors"
[ -z "$warnings" ]
ok $? "lintian reports no warning that is not overridden" "$warnings"
rest=$(grep -E '^[IPX]: ' "$work/lintian.log")
[ -n "$rest" ] && diag "lintian:" "$rest"

# ---------------------------------------------------------------- 2. install

if [ "$(id -u)" -ne 0 ]; then
	skip "install, run and purge the package" "not root"
	finish
fi

# The Debian mirror this machine's apt uses: "URI SUITE COMPONENTS" lines,
# for bookworm and its -updates and -security, from sources.list and the
# deb822 .sources files.
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$suite" '
		$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i+1) ~ "^" s "(-updates|-security|/updates)?$") {
				c = ""
				for (j = i + 2; j <= NF && $j !~ /^#/; j++) c = c " " $j
				print $i, $(i+1), c
			}
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$suite" '
		function flush(   i, k, u, su) {
			if (types ~ /(^| )deb( |$)/ && enabled != "no") {
				nu = split(uris, u, " ")
				ns = split(suites, su, " ")
				for (i = 1; i <= nu; i++)
					for (k = 1; k <= ns; k++)
						if (su[k] ~ "^" s "(-updates|-security|/updates)?$")
							print u[i], su[k], comps
			}
			types = uris = suites = comps = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		{
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { flush() }' "$f"
	done
}

sources=$(apt_sources | sort -u)
mirror=$(printf '%s\n' "$sources" | awk -v s="$suite" '$2 == s { print $1; exit }')
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
diag "mirror: $mirror"

# Make (or unpack the cached) bookworm minbase tree at $tree.
make_tree() {
	local key tarball age
	key=$(printf '%s %s minbase %s' "$mirror" "$suite" \
	    "$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null)" |
	    md5sum | cut -c1-12)
	tarball=$cache/$suite-minbase-$key.tar.zst
	tree=$work/tree
	mkdir -p "$tree"
	# A cached tree older than 30 days is made again: apt-get upgrade in it
	# would cost more than that.
	if [ -f "$tarball" ] &&
	    age=$(( $(date +%s) - $(stat -c %Y "$tarball") )) &&
	    [ "$age" -lt $((30 * 86400)) ] &&
	    tar -C "$tree" --zstd --numeric-owner -xpf "$tarball" 2>"$work/untar.log"
	then
		diag "tree from the cache: $tarball"
		return 0
	fi
	rm -rf --one-file-system "$tree"
	mkdir -p "$tree"
	command -v debootstrap >/dev/null 2>&1 || {
		diag "debootstrap is not installed"; return 1; }
	if ! debootstrap --variant=minbase "$suite" "$tree" "$mirror" \
	    >"$work/debootstrap.log" 2>&1; then
		diag "debootstrap failed:" "$(tail -n 15 "$work/debootstrap.log")"
		for m in $(mounts_under "$tree"); do umount -l "$m"; done
		rm -rf --one-file-system "$tree"
		return 1
	fi
	chroot "$tree" apt-get clean
	[ -z "$(mounts_under "$tree")" ] || {
		diag "debootstrap left mounts behind"; return 1; }
	mkdir -p "$cache" &&
	    tar -C "$tree" --zstd --numeric-owner --one-file-system \
		-cpf "$tarball.tmp" . &&
	    mv "$tarball.tmp" "$tarball" &&
	    diag "tree cached: $tarball"
	rm -f "$tarball.tmp"
	return 0
}

case $mode in
tree|auto)
	if make_tree; then
		root=$tree
		ok 0 "a fresh Debian 12 tree (debootstrap minbase, $suite)"
	elif [ "$mode" = tree ]; then
		ok 1 "a fresh Debian 12 tree (debootstrap minbase, $suite)"
		finish
	else
		skip "a fresh Debian 12 tree (debootstrap minbase, $suite)" \
		    "no tree: installing on this machine"
		root=
	fi
	;;
host)	skip "a fresh Debian 12 tree" "GPIOWS_PKG_MODE=host"
	;;
*)	bail "GPIOWS_PKG_MODE=$mode: auto, tree or host" ;;
esac

if [ -n "$root" ]; then
	# The tree's apt: the same mirror entries as this machine's.
	printf '%s\n' "$sources" | awk 'NF >= 3 { print "deb", $0 }' \
	    >"$root/etc/apt/sources.list"
	[ -s "$root/etc/apt/sources.list" ] ||
	    echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
	# No service starts in the tree, whatever init it thinks it has.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	mount -t proc proc "$root/proc" || bail "mount proc in $root"
else
	if dpkg-query -W -f='${Status}' gpiows 2>/dev/null |
	    grep -q 'installed'; then
		skip "install, run and purge the package" \
		    "gpiows is installed on this machine already"
		finish
	fi
fi

cp "$deb" "$root/root/" || bail "copy the .deb"
inroot apt-get update -q >"$work/apt.log" 2>&1
inroot sh -c "cd /root && apt-get install -y --no-install-recommends ./${deb##*/}" \
    >>"$work/apt.log" 2>&1
st=$?
[ -z "$root" ] && [ $st -eq 0 ] && host_installed=1
ok $st "apt-get install ./${deb##*/}" "$(tail -n 30 "$work/apt.log")" ||
    finish
rm -f "$root/root/${deb##*/}"

# ---------------------------------------------------------------- 3. files

for f in /usr/sbin/gpiod-helper /usr/libexec/gpiows/wsd \
    /usr/libexec/gpiows/gpiows-worker; do
	[ -f "$root$f" ] && [ -x "$root$f" ] &&
	    [ "$(stat -c %u:%g "$root$f")" = 0:0 ]
	ok $? "$f is installed, executable, owned by root" \
	    "$(ls -l "$root$f" 2>&1)"
done
for f in "$top"/www/*; do
	cmp -s "$f" "$root/usr/share/gpiows/www/${f##*/}"
	ok $? "the dashboard's ${f##*/} is installed in /usr/share/gpiows/www"
done
for m in man8/gpiod-helper.8 man8/wsd.8 man5/gpiows.conf.5 \
    man7/gpiows-protocol.7; do
	[ -f "$root/usr/share/man/$m.gz" ]
	ok $? "man page /usr/share/man/$m.gz"
done
unit=
for d in /lib/systemd/system /usr/lib/systemd/system; do
	[ -f "$root$d/gpiows.service" ] && unit=$d/gpiows.service && break
done
[ -n "$unit" ]
ok $? "systemd unit gpiows.service (${unit:-missing})"
if [ -n "$unit" ]; then
	grep -qx 'ExecStart=/usr/sbin/gpiod-helper -d' "$root$unit" &&
	    grep -qx 'ExecStartPre=/usr/sbin/gpiod-helper -n' "$root$unit" &&
	    grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$root$unit" &&
	    grep -qx 'Restart=on-failure' "$root$unit"
	ok $? "the unit runs gpiod-helper -n, then -d; reloads with SIGHUP; restarts on failure" \
	    "$(grep '^Exec\|^Restart' "$root$unit")"
	[ -L "$root/etc/systemd/system/multi-user.target.wants/gpiows.service" ]
	ok $? "the unit is enabled for multi-user.target"
	[ -x "$root/bin/kill" ]
	ok $? "/bin/kill, for ExecReload=, is installed (procps)"
	if command -v systemd-analyze >/dev/null 2>&1; then
		out=$(systemd-analyze security --offline=true "$root$unit" 2>&1)
		score=$(printf '%s\n' "$out" | sed -n \
		    's/.*Overall exposure level for gpiows.service: \([0-9.]*\).*/\1/p')
		[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'
		ok $? "systemd-analyze security --offline=true: ${score:-?} (2.5 or lower)" \
		    "$(printf '%s\n' "$out" | grep -E '^✗|Overall')"
	else
		skip "systemd-analyze security" "systemd-analyze is not installed"
	fi
fi

conf=/etc/gpiows/gpiows.conf
inroot dpkg-query -W -f='${Conffiles}\n' gpiows | grep -q "^ $conf "
ok $? "$conf is a conffile" \
    "$(inroot dpkg-query -W -f='${Conffiles}\n' gpiows 2>&1)"
[ "$(stat -c '%u:%g %a' "$root$conf" 2>&1)" = "0:0 644" ]
ok $? "$conf is root:root 0644" "$(ls -l "$root$conf" 2>&1)"
listens=$(grep -E '^[[:space:]]*listen[[:space:]]' "$root$conf")
[ -n "$listens" ] && ! printf '%s\n' "$listens" |
    grep -vqE '^[[:space:]]*listen[[:space:]]+on[[:space:]]+(127\.0\.0\.1|::1|localhost)([[:space:]]|$)'
ok $? "$conf listens on 127.0.0.1 only" "${listens:-no listen line}"
! grep -qE '^[[:space:]]*(pin|chip)[[:space:]]' "$root$conf" &&
    grep -qE '^#[[:space:]]*pin[[:space:]]' "$root$conf"
ok $? "$conf declares no pin, and shows a commented example pin" \
    "$(grep -nE '(pin|chip)[[:space:]]' "$root$conf")"
grep -qE 'gpiows\.conf\(5\)|man 5 gpiows\.conf' "$root$conf"
ok $? "$conf points to gpiows.conf(5)"
out=$(inroot /usr/sbin/gpiod-helper -n 2>&1)
st=$?
[ $st -eq 0 ] && [ "$out" = "configuration OK" ]
ok $? "gpiod-helper -n: configuration OK" "$out" "(exit $st)"

pw=$(inroot getent passwd gpiows)
gr=$(inroot getent group gpiows)
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[ -n "$pw" ] && [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ]
ok $? "user gpiows is a system account (uid ${uid:-none})" "$pw"
[ -n "$gr" ] && [ "$(echo "$gr" | cut -d: -f3)" = "$gid" ] &&
    [ "$gid" -lt 1000 ]
ok $? "group gpiows is a system group and the user's primary group" \
    "$gr" "$pw"
case $shell in
*/nologin|*/false) st=0 ;;
*) st=1 ;;
esac
ok $st "user gpiows has no login shell ($shell)"
[ "$home" = /var/lib/gpiows ]
ok $? "user gpiows has /var/lib/gpiows as home" "$pw"
inroot passwd -S gpiows 2>/dev/null | awk '{ exit !($2 == "L" || $2 == "NP") }' ||
    inroot getent shadow gpiows | cut -d: -f2 | grep -qE '^[*!]'
ok $? "user gpiows has no password" "$(inroot getent shadow gpiows)"
# Numeric: this machine may have no user gpiows, or another one.
jst=$(stat -c '%u:%g %a' "$root/var/lib/gpiows" 2>&1)
[ -d "$root/var/lib/gpiows" ] && [ "$jst" = "$uid:$gid 750" ]
ok $? "/var/lib/gpiows is gpiows:gpiows 0750" "$jst (gpiows is $uid:$gid)"

# ---------------------------------------------------------------- 4. run

free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
testconf=/root/gpiows-test.conf
cat >"$root$testconf" <<EOF
# install-test.sh: the shipped defaults, a port of its own, a simulated chip
listen on 127.0.0.1 port $port
user gpiows
chip sim simulated lines 4
pin led chip sim line 0 output initial 0 safe 0
EOF
if [ -n "$root" ]; then
	chroot "$root" /usr/sbin/gpiod-helper -d -f "$testconf" \
	    >"$work/helper.log" 2>&1 &
else
	/usr/sbin/gpiod-helper -d -f "$testconf" >"$work/helper.log" 2>&1 &
fi
helper_pid=$!

# The client runs here, not in the tree: /usr/bin/python3 with
# python3-websockets.  It prints one line per check, "ok|not ok <TAB> name
# <TAB> detail", which become TAP lines here.
cat >"$work/ws-client.py" <<'EOF'
import asyncio, json, os, time, urllib.request
import websockets

port = int(os.environ["GPIOWS_PORT"])
prefix = os.environ.get("GPIOWS_PREFIX", "")
url = "ws://127.0.0.1:%d/ws" % port
ENDED = ("done", "failed", "cancelled", "interrupted")

def report(cond, name, detail=""):
    print("%s\t%s%s\t%s" % ("ok" if cond else "not ok", prefix, name,
                            str(detail).replace("\n", " ")), flush=True)

async def recv_until(ws, pred, timeout=5.0):
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, seen
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            return None, seen
        seen.append(m)
        if pred(m):
            return m, seen

async def main():
    ws = None
    deadline = time.monotonic() + 15
    while ws is None:
        try:
            ws = await websockets.connect(url, open_timeout=2)
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
            if time.monotonic() > deadline:
                report(False, "a WebSocket client connects to %s" % url, e)
                return
            await asyncio.sleep(0.1)
    report(True, "a WebSocket client connects to %s" % url)
    try:
        hello, seen = await recv_until(ws, lambda m: m.get("type") == "hello")
        pins = {p.get("name"): p for p in (hello or {}).get("pins", [])}
        report(hello is not None and "led" in pins,
               "hello lists the pin led", seen)
        for i, want in ((1, 1), (2, 0)):
            await ws.send(json.dumps({"op": "toggle", "pin": "led", "id": i}))
            ev, seen = await recv_until(ws, lambda m: m.get("type") == "pin")
            report(ev is not None and ev.get("pin") == "led" and
                   ev.get("value") == want and ev.get("source") == "client",
                   "toggle led: pin event with value %d" % want, seen)
            rep, seen = await recv_until(ws, lambda m: m.get("type") == "reply")
            report(rep is not None and rep.get("id") == i and rep.get("ok") is True,
                   "toggle led: reply ok to id %d" % i, seen)
        # A mission, for the worker to write its journal.
        await ws.send(json.dumps({"op": "mission.start", "id": 3, "mission": {
            "name": "install-test",
            "steps": [{"toggle": {"pin": "led"}}, {"toggle": {"pin": "led"}}]}}))
        rep, seen = await recv_until(
            ws, lambda m: m.get("type") == "reply" and m.get("id") == 3)
        mid = (rep or {}).get("mission")
        report(rep is not None and rep.get("ok") is True and type(mid) is int,
               "mission.start: ok, with the mission's id", seen)
        if type(mid) is int:
            ev, seen = await recv_until(
                ws, lambda m: m.get("type") == "mission" and
                m.get("mission", {}).get("id") == mid and
                m["mission"].get("state") in ENDED, 10.0)
            report(ev is not None and ev["mission"]["state"] == "done",
                   "the mission is done", seen)
            print("info\tmission\t%d" % mid, flush=True)
    finally:
        await ws.close()

asyncio.run(main())
try:
    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as r:
        body = r.read()
    with open(os.path.join(os.environ["GPIOWS_WWW"], "index.html"), "rb") as f:
        report(r.status == 200 and body == f.read(),
               "HTTP GET / serves the installed dashboard", r.status)
except Exception as e:
    report(False, "HTTP GET / serves the installed dashboard", e)
EOF
ws_client() {	# PORT [PREFIX]; sets mission_id
	local out st res name detail other=
	mission_id=
	out=$(GPIOWS_PORT=$1 GPIOWS_PREFIX=${2:-} \
	    GPIOWS_WWW="$root/usr/share/gpiows/www" \
	    timeout 60 /usr/bin/python3 "$work/ws-client.py" 2>&1)
	st=$?
	while IFS=$'\t' read -r res name detail; do
		case $res in
		ok)	ok 0 "$name" ;;
		"not ok") ok 1 "$name" "$detail" ;;
		info)	[ "$name" = mission ] && mission_id=$detail ;;
		*)	other="$other$res${name:+	$name}${detail:+	$detail}"$'\n' ;;
		esac
	done <<<"$out"
	ok $st "${2:-}the python3 client ran to its end" "$other" "(exit $st)"
}
# The worker, chrooted to the journal, wrote the mission there as gpiows.
check_journal() {	# PREFIX
	local f=$root/var/lib/gpiows/mission-$mission_id.json st
	st=$(stat -c '%u:%g %a' "$f" 2>&1)
	[ -n "$mission_id" ] && [ "$st" = "$uid:$gid 600" ]
	ok $? "${1:-}the worker journals the mission: /var/lib/gpiows/mission-${mission_id:-?}.json, gpiows, 0600" \
	    "$st" "$(ls -la "$root/var/lib/gpiows" 2>&1)"
}
ws_client "$port"
check_journal

status_of() {	# PID FIELD: the values of a /proc/PID/status line
	awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' \
	    "/proc/$1/status" 2>/dev/null
}

# The helper's children, from this machine's /proc, into kid[wsd] and
# kid[worker]: running as gpiows, chrooted, no capability, seccomp.
declare -A kid=()
check_children() {	# HELPER-PID PREFIX LOG ROOT (the tree as the helper sees it)
	local h=$1 pre=$2 log=$3 r=$4 k c u g want argv0
	kid=()
	for k in $(cat "/proc/$h/task/$h/children" 2>/dev/null); do
		argv0=$(tr '\0' '\n' <"/proc/$k/cmdline" 2>/dev/null | head -1)
		case ${argv0##*/} in
		wsd)		kid[wsd]=$k ;;
		gpiows-worker)	kid[worker]=$k ;;
		esac
	done
	[ "$(status_of "$h" Uid)" = "0 0 0 0" ]
	ok $? "${pre}gpiod-helper runs as root" "$(status_of "$h" Uid)"
	for c in wsd worker; do
		k=${kid[$c]:-}
		if [ -z "$k" ]; then
			ok 1 "$pre$c runs" \
			    "children: $(cat "/proc/$h/task/$h/children" 2>&1)" \
			    "$(cat "$log" 2>&1)"
			continue
		fi
		u=$(status_of "$k" Uid) g=$(status_of "$k" Gid)
		[ "$u" = "$uid $uid $uid $uid" ] &&
		    [ "$g" = "$gid $gid $gid $gid" ] &&
		    [ -z "$(status_of "$k" Groups)" ]
		ok $? "$pre$c runs as gpiows ($uid:$gid), no supplementary group" \
		    "Uid: $u" "Gid: $g" "Groups: $(status_of "$k" Groups)"
		[ "$(status_of "$k" CapEff)" = 0000000000000000 ] &&
		    [ "$(status_of "$k" CapPrm)" = 0000000000000000 ] &&
		    [ "$(status_of "$k" NoNewPrivs)" = 1 ] &&
		    [ "$(status_of "$k" Seccomp)" = 2 ]
		ok $? "$pre$c has no capability, NoNewPrivs and a seccomp filter" \
		    "$(grep -E '^(Cap|NoNewPrivs|Seccomp)' "/proc/$k/status")"
		case $c in
		wsd)	want=$r/usr/share/gpiows/www ;;
		worker)	want=$r/var/lib/gpiows ;;
		esac
		[ "$(readlink "/proc/$k/root")" = "$want" ]
		ok $? "$pre$c is chrooted to ${want#"$r"}" \
		    "root: $(readlink "/proc/$k/root")"
	done
}

check_children "$helper_pid" "" "$work/helper.log" "$root"
jst=$(stat -c '%u:%g %a' "$root/var/lib/gpiows" 2>&1)
[ "$jst" = "$uid:$gid 750" ]
ok $? "/var/lib/gpiows is still gpiows:gpiows 0750 with gpiows running" "$jst"

kill -TERM "$helper_pid" 2>/dev/null
for _ in $(seq 100); do
	kill -0 "$helper_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$helper_pid" 2>/dev/null; then
	ok 1 "gpiod-helper stops on SIGTERM" "still running after 10 s"
else
	wait "$helper_pid"
	st=$?
	helper_pid=
	ok $st "gpiod-helper stops on SIGTERM with status 0" \
	    "(exit $st)" "$(tail -n 20 "$work/helper.log")"
fi
left=
for k in "${kid[@]}"; do
	kill -0 "$k" 2>/dev/null && left="$left $k"
done
[ -z "$left" ]
ok $? "wsd and the worker are gone" "still running:$left"
diag "helper log:" "$(cat "$work/helper.log")"
rm -f "$root$testconf"

# ---------------------------------------------------------------- 4b. the unit

# The same tree booted with systemd in a container (systemd-nspawn, sharing
# this machine's network): gpiows.service starts at boot with all its
# hardening, SIGHUP reloads, a stop is clean, a broken configuration fails in
# ExecStartPre with its error in the journal.

# The processes under PID, PID included, as this machine numbers them.
descendants() {
	local todo=$1 p k
	while [ -n "$todo" ]; do
		set -- $todo
		p=$1
		shift
		todo=$*
		echo "$p"
		for k in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			todo="$todo $k"
		done
	done
}
# The container's init (pid 1 in its namespace), and its gpiod-helper.
container_init() {
	local p
	for p in $(descendants "$nspawn_pid"); do
		awk '$1 == "NSpid:" && NF > 2 && $NF == 1 { f = 1 } END { exit !f }' \
		    "/proc/$p/status" 2>/dev/null && { echo "$p"; return 0; }
	done
	return 1
}
container_helper() {
	local p
	for p in $(descendants "$ns_init"); do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = \
		    "/usr/sbin/gpiod-helper -d " ] && { echo "$p"; return 0; }
	done
	return 1
}
inns() {
	nsenter -t "$ns_init" -m -u -i -n -p -C -r -w "$@"
}
# Until the unit's ActiveState is $1, for at most 20 s.
wait_state() {
	local s
	for _ in $(seq 200); do
		s=$(inns systemctl show -p ActiveState --value gpiows 2>/dev/null)
		[ "$s" = "$1" ] && return 0
		sleep 0.1
	done
	echo "ActiveState: $s"
	return 1
}
stop_container() {
	[ -n "$nspawn_pid" ] || return 0
	kill -TERM "$nspawn_pid" 2>/dev/null	# nspawn halts the container
	for _ in $(seq 200); do
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$nspawn_pid" 2>/dev/null
	wait "$nspawn_pid" 2>/dev/null
	nspawn_pid=
}

systemd_phase() {
	local port2 out st h score pre="systemd: "
	inroot apt-get install -y --no-install-recommends systemd \
	    >>"$work/apt.log" 2>&1
	ok $? "systemd installed in the tree, to boot it" \
	    "$(tail -n 20 "$work/apt.log")" || return
	cp -p "$root$conf" "$work/gpiows.conf.orig"
	port2=$(free_port)
	cat >"$root$conf" <<-EOF
	# install-test.sh: gpiows.service on a simulated chip
	listen on 127.0.0.1 port $port2
	user gpiows
	chip sim simulated lines 4
	pin led chip sim line 0 output initial 0 safe 0
	EOF
	umount "$root/proc"
	systemd-nspawn -q -D "$root" --boot --register=no --keep-unit \
	    --console=passive </dev/null >"$work/nspawn.log" 2>&1 &
	nspawn_pid=$!
	ns_init=
	for _ in $(seq 200); do
		ns_init=$(container_init) && break
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 0.1
	done
	# A container that does not boot says something of this machine, not of
	# gpiows, whose unit has no say in the boot.
	if [ -z "$ns_init" ]; then
		skip "the tree boots with systemd (systemd-nspawn)" \
		    "systemd-nspawn cannot boot a container here"
		diag "$(tail -n 20 "$work/nspawn.log")"
		return
	fi
	ok 0 "the tree boots with systemd (systemd-nspawn)"
	out=$(wait_state active)
	ok $? "${pre}gpiows.service is active after boot" "$out" \
	    "$(inns systemctl status --no-pager gpiows 2>&1)" || return

	ws_client "$port2" "$pre"
	check_journal "$pre"
	h=$(container_helper)
	# In its own mount namespace, the container's root is "/".
	check_children "$h" "$pre" /dev/null ""
	[ "$(status_of "$h" CapBnd)" = 00000000000400e0 ] &&
	    [ "$(status_of "$h" NoNewPrivs)" = 1 ] &&
	    [ "$(status_of "$h" Seccomp)" = 2 ]
	ok $? "${pre}gpiod-helper has CAP_KILL CAP_SETGID CAP_SETUID CAP_SYS_CHROOT only, NoNewPrivs, seccomp" \
	    "$(grep -E '^(Cap|NoNewPrivs|Seccomp)' "/proc/$h/status")"

	score=$(inns systemd-analyze security gpiows.service 2>&1 |
	    sed -n 's/.*Overall exposure level for gpiows.service: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'
	ok $? "${pre}systemd-analyze security: ${score:-?} (2.5 or lower)"

	out=$(inns systemctl reload gpiows 2>&1)
	st=$?
	[ $st -eq 0 ] && [ "$(container_helper)" = "$h" ]
	ok $? "${pre}systemctl reload: SIGHUP, same gpiod-helper" "$out" \
	    "$(inns journalctl -u gpiows -o cat --no-pager -n 5 2>&1)"

	out=$(inns systemctl stop gpiows 2>&1)
	st=$?
	[ $st -eq 0 ] &&
	    [ "$(inns systemctl show -p Result --value gpiows)" = success ] &&
	    [ "$(inns systemctl show -p ExecMainStatus --value gpiows)" = 0 ]
	ok $? "${pre}systemctl stop: gpiod-helper exits with status 0" "$out" \
	    "$(inns journalctl -u gpiows -o cat --no-pager -n 10 2>&1)"

	echo 'pin broken chip nowhere line 0 output' >>"$root$conf"
	inns systemctl start gpiows >/dev/null 2>&1
	st=$?
	out=$(inns journalctl -u gpiows -o cat --no-pager 2>&1)
	[ $st -ne 0 ] && printf '%s\n' "$out" |
	    grep -q "^$conf:[0-9]*: unknown chip \"nowhere\""
	ok $? "${pre}a broken gpiows.conf fails in ExecStartPre, its error in the journal" \
	    "(systemctl start: exit $st)" "$(printf '%s\n' "$out" | tail -n 8)"
	inns systemctl stop gpiows >/dev/null 2>&1

	stop_container
	cp -p "$work/gpiows.conf.orig" "$root$conf"
	mount -t proc proc "$root/proc"
}

nspawn_pid=
ns_init=
if [ -z "$root" ]; then
	skip "gpiows.service under systemd" "no tree to boot"
elif ! command -v systemd-nspawn >/dev/null 2>&1; then
	skip "gpiows.service under systemd" \
	    "systemd-nspawn is not installed (systemd-container)"
else
	systemd_phase
	stop_container
	grep -q " $root/proc " /proc/self/mounts ||
	    mount -t proc proc "$root/proc"
	[ -f "$work/gpiows.conf.orig" ] && cp -p "$work/gpiows.conf.orig" "$root$conf"
fi

# ---------------------------------------------------------------- 5. purge

inroot apt-get purge -y gpiows >"$work/purge.log" 2>&1
st=$?
[ $st -eq 0 ] && host_installed=0
ok $st "apt-get purge -y gpiows" "$(tail -n 20 "$work/purge.log")"
for p in /usr/sbin/gpiod-helper /usr/libexec/gpiows /usr/share/gpiows \
    /usr/share/doc/gpiows /etc/gpiows /var/lib/gpiows "$unit" \
    /etc/systemd/system/multi-user.target.wants/gpiows.service; do
	[ -n "$p" ] || continue
	! [ -e "$root$p" ] && ! [ -L "$root$p" ]
	ok $? "purged: $p is gone" "$(ls -ld "$root$p" 2>&1)"
done
status=$(inroot dpkg-query -W -f='${db:Status-Abbrev}' gpiows 2>/dev/null)
case $status in
""|"un "|"pn ") st=0 ;;
*) st=1 ;;
esac
ok $st "dpkg knows gpiows as not installed (${status:-not in its database})"
[ -n "$(inroot getent passwd gpiows)" ] && [ -n "$(inroot getent group gpiows)" ]
ok $? "user and group gpiows are kept (Debian policy 9.2.2)"
if [ -n "$root" ]; then
	# Nothing else named after gpiows in the whole tree.
	rest=$(find "$root" -xdev -path "$root/proc" -prune -o \
	    -name '*gpiows*' -print 2>/dev/null)
	[ -z "$rest" ]
	ok $? "nothing named gpiows is left in the tree" "$rest"
fi

finish
