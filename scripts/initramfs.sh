#!/usr/bin/env bash
# Build the guest initramfs: Debian's busybox-static, guest/init and the
# guest programs compiled statically. Output: $WORK/initramfs.cpio.gz
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" boot

root=$WORK/initramfs
out=$WORK/initramfs.cpio.gz
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$root/bin/busybox"
file -b /bin/busybox 2>/dev/null | grep -q 'dynamically' && die "/bin/busybox is not static: install busybox-static"
install -m 0755 "$TOP/guest/init" "$root/init"
for c in "$TOP"/guest/*.c; do
	gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/$(basename "$c" .c)" "$c" -lpthread ||
		die "guest program $c failed to build"
done
# In-tree kselftests, when the series carries them (tools/testing/selftests/iommu).
for k in "$TREE"/tools/testing/selftests/iommu/*.c; do
	[ -f "$k" ] || continue
	gcc -static -O2 -Wall -I"$TREE/tools/testing/selftests" \
		-o "$root/bin/kselftest-$(basename "$k" .c)" "$k" -lpthread ||
		die "selftest $k failed to build statically"
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
log "initramfs: $out ($(du -k "$out" | cut -f1) KiB)"
