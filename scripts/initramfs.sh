#!/usr/bin/env bash
# Build the guest initramfs: Debian's busybox-static, guest/init and its
# steps (guest/steps/*.sh, in /steps), make hwcheck's collector
# (scripts/hwcollect.sh, as /bin/hwcollect), the guest
# programs compiled statically, and the series' kselftests built by their
# own Makefile (make -C tools/testing/selftests TARGETS=iommu, warnings as
# errors, static). Output: $WORK/initramfs.cpio.gz, with a stamp of what it
# was made from; an unchanged stamp reuses it.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" boot

root=$WORK/initramfs
out=$WORK/initramfs.cpio.gz
kst=$WORK/kselftest
# What the image is made from: the guest files, busybox, and the selftest
# sources as they are in the tree (uncommitted changes included).
stamp=$( { find "$TOP/guest" -type f | sort | xargs cat; cat "$TOP/scripts/hwcollect.sh"; md5sum /bin/busybox $(guest_tools);
	git -C "$TREE" ls-files -s -m -o --exclude-standard tools/testing/selftests/iommu 2>/dev/null;
	cat "$TREE"/tools/testing/selftests/iommu/* "$TREE"/tools/testing/selftests/dma/dma_map_benchmark.c \
		"$TREE"/include/linux/map_benchmark.h 2>/dev/null; } | md5sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
	log "initramfs: up to date ($out)"
	exit 0
fi
rm -rf "$root" "$out.stamp"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$root/bin/busybox"
file -b /bin/busybox 2>/dev/null | grep -q 'dynamically' && die "/bin/busybox is not static: install busybox-static"
install -m 0755 "$TOP/guest/init" "$root/init"
install -d "$root/steps"
install -m 0644 "$TOP"/guest/steps/*.sh "$root/steps/"
install -m 0755 "$TOP/scripts/hwcollect.sh" "$root/bin/hwcollect"
for c in "$TOP"/guest/*.c; do
	gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/$(basename "$c" .c)" "$c" -lpthread ||
		die "guest program $c failed to build"
done
# The kernel's own dma_map_benchmark tool (tools/testing/selftests/dma),
# static, against the tree's include/linux/map_benchmark.h.
mb=$TREE/tools/testing/selftests/dma/dma_map_benchmark.c
if [ -f "$mb" ]; then
	mkdir -p "$WORK/mbinc/linux"
	cp "$TREE/include/linux/map_benchmark.h" "$WORK/mbinc/linux/"
	gcc -static -O2 -I"$WORK/mbinc" -o "$root/bin/dma_map_benchmark" "$mb" ||
		die "dma_map_benchmark ($mb) failed to build"
fi
# Debian's trace-cmd and perf, with the shared libraries they load, so
# the guest reads the events with the tools users have (trace-cmd's
# libtraceevent plugins too).
for b in $(guest_tools); do
	install -D -m 0755 "$b" "$root$b"
	for l in $(ldd "$b" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		[ -e "$root$l" ] || install -D -m 0755 "$l" "$root$l"
	done
done
for d in /usr/lib/x86_64-linux-gnu/traceevent; do
	[ -d "$d" ] && mkdir -p "$root$d" && cp -a "$d/." "$root$d/"
done
# In-tree kselftests, when the series carries them.
if [ -f "$TREE/tools/testing/selftests/iommu/Makefile" ]; then
	rm -rf "$kst"
	# The selftests' Makefile clears LDFLAGS when building out of tree, so
	# -static goes with CFLAGS, which the target's Makefile appends to.
	if ! CFLAGS="-Werror -static" make -s -C "$TREE/tools/testing/selftests" TARGETS=iommu \
		FORCE_TARGETS=1 O="$kst" > "$WORK/kselftest.log" 2>&1; then
		cat "$WORK/kselftest.log" >&2
		die "make -C tools/testing/selftests TARGETS=iommu failed (-Werror -static): $WORK/kselftest.log"
	fi
	mkdir -p "$root/bin/kselftest/iommu"
	for b in "$kst"/kselftest/iommu/*; do
		[ -x "$b" ] && [ -f "$b" ] && install -m 0755 "$b" "$root/bin/kselftest/iommu/"
	done
	ls "$root/bin/kselftest/iommu/"* >/dev/null 2>&1 || die "the iommu selftests built no program: $WORK/kselftest.log"
fi
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$stamp" > "$out.stamp"
log "initramfs: $out ($(du -k "$out" | cut -f1) KiB)"
