#!/usr/bin/env bash
# Fetch Debian's linux-source-6.1 into the cache and unpack it once.
# Prints the path of the unpacked source on stdout.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" build

mkdir -p "$CACHE"
cd "$CACHE"
deb=$(ls -t linux-source-6.1_*_all.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ] || [ -n "${REFRESH_BASE:-}" ]; then
	log "downloading linux-source-6.1 (apt-get download) into $CACHE"
	apt-get download linux-source-6.1 >/dev/null 2>&1 || {
		apt-get update -qq && apt-get download linux-source-6.1 >/dev/null 2>&1
	} || die "apt-get download linux-source-6.1 failed"
	deb=$(ls -t linux-source-6.1_*_all.deb | head -n 1)
fi
debver=$(dpkg-deb -f "$deb" Version)
dir=$CACHE/src-$debver
if [ ! -f "$dir/.unpacked" ]; then
	log "unpacking $deb (Debian $debver)"
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" ./usr/src/linux-source-6.1.tar.xz
	tar -xJf "$dir.tmp/usr/src/linux-source-6.1.tar.xz" -C "$dir.tmp"
	mv "$dir.tmp/linux-source-6.1" "$dir"
	rm -rf "$dir.tmp"
	kv=$(make -s -C "$dir" kernelversion)
	case $kv in 6.1.*) ;; *) die "base $deb is kernel $kv, not 6.1" ;; esac
	echo "$debver" > "$dir/.debian-version"
	touch "$dir/.unpacked"
fi
echo "$dir"
