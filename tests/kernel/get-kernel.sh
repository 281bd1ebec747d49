#!/bin/bash
# The kernel pieces of the real-kernel tests, cached: Debian 12's own kernel
# (as an uncompressed vmlinux when it can be booted through its PVH entry,
# which under TCG saves seconds of in-guest decompression), its configfs and
# e1000 modules, and gpio-sim.ko built out of tree.
#
# Why gpio-sim is built here: libgpiod 1.6 speaks only the v1 GPIO uAPI, so
# the guest kernel needs CONFIG_GPIO_CDEV_V1=y.  Debian 12's 6.1 kernel has it
# but not CONFIG_GPIO_SIM; the Debian kernels that ship gpio-sim leave the v1
# uAPI out.  So gpio-sim.c and irq_sim.c are taken from linux-source-6.1 and
# built against the matching linux-headers, all from the apt archive the
# machine already uses (apt-get download: nothing is installed).  The first
# run downloads about 224 MB; the result is a few MB.
#
# Prints the cache directory that holds vmlinux (or vmlinuz), config,
# configfs.ko, e1000.ko and gpio-sim.ko.  Exits 77 with the reason on the
# standard error when the pieces cannot be had (no apt, no network, no
# compiler, not amd64), 1 when something that should work did not.
#
# Environment:
#   GPIOWS_TEST_CACHE       cache root (default /var/cache/gpiows-test as
#                           root, ~/.cache/gpiows-test otherwise); the
#                           kernel goes under its kernel/ directory
#   GPIOWS_KERNEL_REFRESH=1 ask apt for the current kernel even when one is
#                           cached

set -u
export LC_ALL=C

log() { printf 'get-kernel: %s\n' "$*" >&2; }
skip() { log "$*"; exit 77; }
die() { log "$*"; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
	cache=${GPIOWS_TEST_CACHE:-/var/cache/gpiows-test}/kernel
else
	cache=${GPIOWS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpiows-test}/kernel
fi
mkdir -p "$cache" 2>/dev/null || skip "cannot create the cache $cache"
[ -w "$cache" ] || skip "cache $cache is not writable"

# kver krel, e.g. "6.1.0-56-amd64 6.1.192-2": from the last successful
# build unless asked to refresh, since apt-cache takes about a second.
kver='' krel=''
if [ -z "${GPIOWS_KERNEL_REFRESH:-}" ] && [ -s "$cache/current" ]; then
	read -r kver krel <"$cache/current" || true
	[ -s "$cache/$kver-$krel/gpio-sim.ko" ] || kver=
fi
if [ -n "$kver" ]; then
	echo "$cache/$kver-$krel"
	exit 0
fi

command -v apt-cache >/dev/null && command -v apt-get >/dev/null &&
    command -v dpkg-deb >/dev/null || skip "no apt to fetch Debian's kernel"
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] ||
    skip "not an amd64 machine"
for t in make gcc xz strip; do
	command -v "$t" >/dev/null || skip "no $t to build gpio-sim.ko"
done
# The kernel's build tools (linux-kbuild) are run from the download.
ldconfig -p 2>/dev/null | grep -q 'libelf\.so\.1 ' ||
    skip "no libelf1 for the kernel's build tools"

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || skip "apt knows no linux-image-amd64 (apt-get update?)"
kver=${kpkg#linux-image-}
krel=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
kser=$(echo "$kver" | cut -d. -f1,2)
[ -n "$krel" ] && [ "$krel" != "(none)" ] || skip "no candidate for $kpkg"
dir=$cache/$kver-$krel
if [ -s "$dir/gpio-sim.ko" ]; then
	echo "$kver $krel" >"$cache/current.$$" && mv "$cache/current.$$" "$cache/current"
	echo "$dir"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gpiows-kernel.XXXXXX") || die "mktemp"
trap 'rm -rf "$work"' EXIT
log "building $kver ($krel) into $dir"
mkdir -p "$work/debs" "$work/img" "$work/hdr" "$work/src" "$work/mod"

pkgs="$kpkg=$krel linux-headers-$kver=$krel
    linux-headers-${kver%-amd64}-common=$krel linux-kbuild-$kser=$krel
    linux-source-$kser=$krel"
sandbox=
[ "$(id -u)" -ne 0 ] || sandbox="-o APT::Sandbox::User=root"
# shellcheck disable=SC2086
(cd "$work/debs" && apt-get download -q $sandbox $pkgs >"$work/apt.log" 2>&1) || {
	sed 's/^/get-kernel: /' "$work/apt.log" >&2
	skip "apt-get download of the kernel packages failed"
}

# The kernel, its config, and the modules the guest loads.
dpkg-deb --fsys-tarfile "$work/debs/${kpkg}_"*.deb | tar -x -C "$work/img" \
    --wildcards './boot/vmlinuz-*' './boot/config-*' \
    './lib/modules/*/kernel/fs/configfs/*' \
    './lib/modules/*/kernel/drivers/net/ethernet/intel/e1000/*' ||
    die "cannot unpack $kpkg"
cfg=$work/img/boot/config-$kver
for opt in CONFIG_GPIO_CDEV_V1=y 'CONFIG_CONFIGFS_FS=[ym]' CONFIG_GPIOLIB_IRQCHIP=y \
    'CONFIG_E1000=[ym]'; do
	grep -Eq "^$opt\$" "$cfg" || skip "$kver has no $opt"
done
if grep -Eq '^CONFIG_(GPIO_SIM|IRQ_SIM)=' "$cfg"; then
	die "$kver has gpio-sim itself: this script needs updating"
fi

# Headers: the three packages side by side, the one absolute include fixed.
for f in "$work"/debs/linux-headers-*.deb "$work"/debs/linux-kbuild-*.deb; do
	dpkg-deb -x "$f" "$work/hdr" || die "cannot unpack $f"
done
hdr=$work/hdr/usr/src/linux-headers-$kver
sed -i "s|^include /usr/src/|include $work/hdr/usr/src/|" "$hdr/Makefile"

# Three files out of the kernel source tarball.
src=linux-source-$kser
dpkg-deb --fsys-tarfile "$work/debs/${src}_"*.deb | tar -xO "./usr/src/$src.tar.xz" |
    xz -dc -T0 | tar -x -C "$work/src" "$src/drivers/gpio/gpio-sim.c" \
    "$src/drivers/gpio/gpiolib.h" "$src/kernel/irq/irq_sim.c" ||
    die "cannot extract gpio-sim.c from $src"
cp "$work/src/$src/drivers/gpio/gpio-sim.c" "$work/mod/gpio-sim-main.c"
cp "$work/src/$src/drivers/gpio/gpiolib.h" "$work/src/$src/kernel/irq/irq_sim.c" \
    "$work/mod/"
# irq_to_desc() is not exported to modules; generic_handle_irq(), which does
# the same for this simple chip, is.
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
    "$work/mod/irq_sim.c"
grep -q 'generic_handle_irq(irqnum)' "$work/mod/irq_sim.c" ||
    die "irq_sim.c: the generic_handle_irq change did not apply"
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' >"$work/mod/Kbuild"
make -s -C "$hdr" M="$work/mod" modules >"$work/mod/build.log" 2>&1 || {
	sed 's/^/get-kernel: /' "$work/mod/build.log" >&2
	die "building gpio-sim.ko failed"
}
strip --strip-debug "$work/mod/gpio-sim.ko"

# Into the cache in one rename, so that concurrent runs never see half of it.
tmp=$(mktemp -d "$cache/.build.XXXXXX") || die "mktemp in $cache"
cp "$work/img/boot/vmlinuz-$kver" "$tmp/vmlinuz"
cp "$cfg" "$tmp/config"
for m in configfs e1000; do
	f=$(find "$work/img/lib/modules" -name "$m.ko*" | head -1)
	[ -n "$f" ] || die "no $m module in $kpkg"
	case $f in
	*.xz)	xz -dc "$f" >"$tmp/$m.ko" ;;
	*)	cp "$f" "$tmp/$m.ko" ;;
	esac
done
cp "$work/mod/gpio-sim.ko" "$tmp/gpio-sim.ko"
# The ELF vmlinux inside the bzImage, when it has a PVH entry point.
off=$(grep -aboP '\xfd7zXZ\x00' "$tmp/vmlinuz" | head -1 | cut -d: -f1)
if [ -n "$off" ] && grep -q '^CONFIG_PVH=y' "$cfg"; then
	tail -c +$((off + 1)) "$tmp/vmlinuz" | xz -dc >"$tmp/vmlinux" 2>/dev/null
	[ "$(head -c 4 "$tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] ||
	    rm -f "$tmp/vmlinux"
fi
chmod 755 "$tmp"
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
	rm -rf "$tmp"		# another run got there first
fi
[ -s "$dir/gpio-sim.ko" ] || die "$dir: incomplete"
echo "$kver $krel" >"$cache/current.$$" && mv "$cache/current.$$" "$cache/current"
log "$(du -sh "$dir" | cut -f1) in $dir"
echo "$dir"
