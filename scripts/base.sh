#!/usr/bin/env bash
# Fetch Debian's linux-source-6.1 into the cache, verify it against the apt
# archive's SHA256, and unpack it once. Prints the unpacked source's path.
#   base.sh [SERIES]          SERIES: 6.1 (the default: the series' base) or
#                             another Debian kernel series, as 6.12 (make
#                             bench's upstream peer, BASE_VERSION unused)
#   base.sh --deb [SERIES]    only fetch and verify the .deb, unpack nothing:
#                             prints the .deb's path (check.sh takes upstream
#                             6.12's trace.h out of it)
#   BASE_VERSION=6.1.192-2    a given Debian version instead of apt's candidate
# patches/tested-on names the version the series was last tested on; the
# closing line of make test names the base when it differs.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" build

deb_only=""
[ "${1:-}" != --deb ] || { deb_only=1; shift; }
kser=${1:-6.1}
pkg=linux-source-$kser
[ "$kser" = 6.1 ] || BASE_VERSION=""
mkdir -p "$CACHE"
cd "$CACHE"
# The version apt would give, and the archive's checksum of its .deb.
archive_sha() { apt-cache show "$pkg=$1" 2>/dev/null | sed -n 's/^SHA256: //p' | head -n 1; }
ver=${BASE_VERSION:-$(apt-cache policy $pkg 2>/dev/null | sed -n 's/^ *Candidate: //p')}
if [ -z "$ver" ] || [ "$ver" = "(none)" ] || [ -z "$(archive_sha "$ver")" ]; then
	log "apt knows no $pkg${BASE_VERSION:+=$BASE_VERSION}: apt-get update"
	apt-get update -qq || die "apt-get update failed"
	ver=${BASE_VERSION:-$(apt-cache policy $pkg | sed -n 's/^ *Candidate: //p')}
fi
sha=$(archive_sha "$ver")
[ -n "$sha" ] || die "the apt archive has no $pkg version '$ver'"
deb=${pkg}_${ver#*:}_all.deb
if [ -f "$deb" ] && [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$sha" ]; then
	log "cached $deb does not match the archive's SHA256: downloading it again"
	rm -f "$deb"
fi
if [ ! -f "$deb" ]; then
	log "downloading $pkg=$ver (apt-get download) into $CACHE"
	if ! apt-get download "$pkg=$ver" > "$CACHE/download.log" 2>&1; then
		cat "$CACHE/download.log" >&2
		die "apt-get download $pkg=$ver failed (apt's words above)"
	fi
	[ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sha" ] ||
		{ rm -f "$deb"; die "downloaded $deb does not match the archive's SHA256 $sha"; }
fi
if [ -n "$deb_only" ]; then
	echo "$CACHE/$deb"
	exit 0
fi
debver=$(dpkg-deb -f "$deb" Version)
dir=$CACHE/src-$debver
[ "$kser" = 6.1 ] || dir=$CACHE/src-$kser-$debver
if [ ! -f "$dir/.unpacked" ]; then
	log "unpacking $deb (Debian $debver, SHA256 verified)"
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" ./usr/src/$pkg.tar.xz
	tar -xJf "$dir.tmp/usr/src/$pkg.tar.xz" -C "$dir.tmp"
	mv "$dir.tmp/$pkg" "$dir"
	rm -rf "$dir.tmp"
	kv=$(make -s -C "$dir" kernelversion)
	case $kv in "$kser".*) ;; *) die "$deb is kernel $kv, not $kser" ;; esac
	echo "$debver" > "$dir/.debian-version"
	touch "$dir/.unpacked"
fi
echo "$dir"
