#!/bin/bash
# Real-kernel tests (issue 5): the real gpiod-helper, with its gpiod backend,
# wsd and the mission worker, against the Linux kernel's own GPIO character
# device.  Debian 12's kernel boots under qemu with a small initramfs made
# here: busybox, the three programs of this build and the libraries ldd
# lists for them, libgpiod's tools, and gpio-sim, whose simulated chip
# (tests/kernel/guest-init) stands in for the GPIO of a board.  The host
# reaches the guest through qemu's user network, restricted to the two
# ports it forwards: wsd's, for WebSocket clients, and a control shell that
# reads and writes the gpio-sim attributes (tests/kernel/guest-ctl).  The
# tests themselves are tests/kernel/kernel-test.py.
#
# TAP on the standard output.  Without what it needs (qemu, busybox,
# libgpiod's tools, python3-websockets, Debian's kernel packages through
# apt) it prints "1..0 # SKIP" with the reason and exits 0; with
# GPIOWS_KERNEL_REQUIRE=1 that is a failure instead, for CI.  The kernel
# pieces are cached (tests/kernel/get-kernel.sh): only the first run
# downloads, about 224 MB.
#
# Environment:
#   GPIOWS_HELPER, GPIOWS_WSD, GPIOWS_WORKER  the programs to test (set by
#                          make check); top_srcdir  the source tree
#   GPIOWS_KERNEL_ACCEL    auto (default), kvm or tcg.  auto takes kvm only
#                          with kvm_intel or kvm_amd loaded: some nested
#                          sandboxes offer a /dev/kvm that cannot run a
#                          stock kernel at all
#   GPIOWS_KERNEL_TIMEOUT  seconds the guest may run (default 240)
#   GPIOWS_KERNEL_KEEP=1   keep the work directory (initramfs, console and
#                          helper logs)
#   GPIOWS_TEST_CACHE      see get-kernel.sh

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
helper=${GPIOWS_HELPER:-$top_builddir/gpiod-helper/gpiod-helper}
wsd=${GPIOWS_WSD:-$top_builddir/wsd/wsd}
worker=${GPIOWS_WORKER:-$top_builddir/worker/gpiows-worker}
t0=$(date +%s)

skip_all() {
	if [ "${GPIOWS_KERNEL_REQUIRE:-0}" = 1 ]; then
		echo "Bail out! $* (GPIOWS_KERNEL_REQUIRE=1)"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 0
}
bail() {
	echo "Bail out! $*"
	exit 1
}

for p in "$helper" "$wsd" "$worker"; do
	[ -x "$p" ] || bail "$p: not built"
done
command -v qemu-system-x86_64 >/dev/null ||
    skip_all "no qemu-system-x86_64 (Debian: qemu-system-x86)"
busybox=$(command -v busybox) || skip_all "no busybox (Debian: busybox-static)"
for t in gpioset gpioget gpioinfo gpiodetect; do
	command -v "$t" >/dev/null || skip_all "no $t (Debian: gpiod)"
done
/usr/bin/python3 -c 'import websockets' 2>/dev/null ||
    skip_all "no python3-websockets"

kerr=$(mktemp "${TMPDIR:-/tmp}/gpiows-kernel-err.XXXXXX") || bail "mktemp"
kdir=$(bash "$here/get-kernel.sh" 2>"$kerr")
st=$?
if [ $st -ne 0 ]; then
	sed 's/^/# /' "$kerr"
	why=$(tail -1 "$kerr" | sed 's/^get-kernel: //')
	rm -f "$kerr"
	[ $st -eq 77 ] && skip_all "kernel pieces: $why"
	bail "kernel pieces: $why"
fi
sed 's/^/# /' "$kerr"
rm -f "$kerr"
kimg=$kdir/vmlinux
[ -s "$kimg" ] || kimg=$kdir/vmlinuz

work=$(mktemp -d "${TMPDIR:-/tmp}/gpiows-kernel.XXXXXX") || bail "mktemp"
if [ "${GPIOWS_KERNEL_KEEP:-0}" = 1 ]; then
	echo "# keeping $work"
else
	trap 'rm -rf "$work"' EXIT
fi

# ------------------------------------------------------------ the initramfs
r=$work/root
mkdir -p "$r"/bin "$r"/sbin "$r"/usr/bin "$r"/usr/sbin "$r"/usr/libexec/gpiows \
    "$r"/usr/share/gpiows "$r"/lib/modules "$r"/etc/gpiows "$r"/proc "$r"/sys \
    "$r"/dev "$r"/tmp "$r"/var/lib "$r"/root
chmod 1777 "$r/tmp"
# Every program with the libraries its loader wants (sanitizer builds too).
copy_prog() {
	cp "$1" "$2" || bail "cp $1"
	for l in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
		cp -L --parents "$l" "$r/" || bail "cp $l"
	done
}
copy_prog "$busybox" "$r/bin/busybox"
for a in $("$busybox" --list); do
	[ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
done
for t in gpioset gpioget gpioinfo gpiodetect gpiofind gpiomon; do
	p=$(command -v "$t") && copy_prog "$p" "$r/usr/bin/$t"
done
copy_prog "$helper" "$r/usr/sbin/gpiod-helper"
copy_prog "$wsd" "$r/usr/libexec/gpiows/wsd"
copy_prog "$worker" "$r/usr/libexec/gpiows/gpiows-worker"
cp -R "$top_srcdir/www" "$r/usr/share/gpiows/www" || bail "cp www"
cp "$kdir/configfs.ko" "$kdir/gpio-sim.ko" "$kdir/e1000.ko" "$r/lib/modules/"
cp "$here/guest-init" "$r/init"
cp "$here/guest-ctl" "$r/bin/ctl"
chmod 755 "$r/init" "$r/bin/ctl"
cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
gpiows:x:101:101:gpiows:/var/lib/gpiows:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
gpiows:x:101:
nogroup:x:65534:
EOF
echo 'passwd: files' >"$r/etc/nsswitch.conf"
echo 'group: files' >>"$r/etc/nsswitch.conf"
# As root, the console node the kernel opens before /init; otherwise /init
# opens it once devtmpfs is mounted.
mknod -m 600 "$r/dev/console" c 5 1 2>/dev/null
(cd "$r" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$work/initrd.cpio" ||
    bail "cpio"
echo "# kernel $(basename "$kdir"), initramfs $(du -h "$work/initrd.cpio" | cut -f1),"\
    "ready after $(($(date +%s) - t0)) s"

# ------------------------------------------------------------------ the tests
GPIOWS_KERNEL_IMAGE=$kimg GPIOWS_KERNEL_INITRD=$work/initrd.cpio \
    GPIOWS_KERNEL_WORK=$work GPIOWS_KERNEL_CONFIG=$kdir/config \
    PYTHONPATH="$top_srcdir/tests/sys${PYTHONPATH:+:$PYTHONPATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    timeout -k 10 $((${GPIOWS_KERNEL_TIMEOUT:-240} + 30)) \
    /usr/bin/python3 "${GPIOWS_KERNEL_SCRIPT:-$here/kernel-test.py}"
st=$?
[ $st -ne 124 ] && [ $st -ne 137 ] || echo "Bail out! the tests did not end in time"
echo "# whole run $(($(date +%s) - t0)) s"
exit $st
