#!/usr/bin/env bash
# make deb: Debian packages of the patched kernel (make bindeb-pkg), to try
# the series on a machine with VT-d. The kernel release is
# <version>-vtd-cache-tags-v<N>, N the series' version (its cover letter).
#   DEB_CONFIG=debian          Debian's own 6.1 amd64 config (package
#                              linux-config-6.1): what a Debian 12 user runs.
#                              The default. Hours on 2 cores.
#   DEB_CONFIG=small           the harness's config (configs/); minutes. From
#                              the series' own build directory when that
#                              holds this commit (then only a relink)
#   DEB_CONFIG=localmodconfig  Debian's config cut down to the modules loaded
#                              on this machine (make localmodconfig)
#   DEB_CONFIG=FILE            a config of your own
# To Debian's config it adds the series' debugfs view of the tags
# (CONFIG_INTEL_IOMMU_DEBUGFS) and clears the certificate files only Debian
# has (CONFIG_SYSTEM_TRUSTED_KEYS, CONFIG_SYSTEM_REVOCATION_KEYS): a local
# build signs its modules with a key of its own. Output: work/deb/<config>/.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" build
"$TOP/scripts/deps.sh" deb
cfg=${DEB_CONFIG:-debian}
case $cfg in
debian|small|localmodconfig) name=$cfg ;;
*) [ -f "$cfg" ] || die "DEB_CONFIG=$cfg: no such file (debian, small, localmodconfig or a config file)"
   cfg=$(cd "$(dirname "$cfg")" && pwd)/$(basename "$cfg"); name=custom ;;
esac
"$TOP/scripts/tree.sh" ensure
rev=$("$TOP/scripts/tree.sh" rev series)
out=$BUILD/deb-$name dest=$WORK/deb/$name
lv=-vtd-cache-tags-v$(series_version)
mkdir -p "$out" "$LOGS"
kmake() { make -s -C "$SRC" O="$out" CC="ccache gcc" "$@"; }

case $cfg in
small)
	# The series' own build, when it is of this commit and the fragments:
	# only what the release string reaches rebuilds (a build directory of
	# its own is a whole kernel again, 5 to 6 minutes even from ccache).
	# Its stamp goes: it then holds the packaged kernel, and the next
	# build of the series relinks its own.
	if [ "$(cat "$BUILD/series/vtd-stamp" 2>/dev/null)" = "$(build_stamp series "$rev")" ]; then
		out=$BUILD/series
		"$TOP/scripts/tree.sh" checkout "$rev"
		rm -f "$out/vtd-stamp"
		log "packaging from the series' build directory ($out)"
	else
		OUT=$out CONFIG_ONLY=1 REV=$rev "$TOP/scripts/build.sh" series
	fi ;;
*)
	"$TOP/scripts/tree.sh" checkout "$rev"
	if [ "$name" = custom ]; then
		cp "$cfg" "$out/.config"
	else
		debian_config "$out/.config"
		"$SRC/scripts/config" --file "$out/.config" -e IOMMU_DEBUGFS -e INTEL_IOMMU_DEBUGFS
		[ "$name" = localmodconfig ] && kmake localmodconfig </dev/null >/dev/null
	fi
	kmake olddefconfig >/dev/null ;;
esac
grep -q '^CONFIG_INTEL_IOMMU=y' "$out/.config" || die "$out/.config has no CONFIG_INTEL_IOMMU=y: the series would not be in it"

rm -rf "$dest"
mkdir -p "$dest"
rm -f "$BUILD"/*.deb "$BUILD"/*.buildinfo "$BUILD"/*.changes
logf=$LOGS/deb-$name.log
log "make bindeb-pkg ($name config, LOCALVERSION=$lv), log: $logf"
s=$(date +%s)
make -C "$SRC" O="$out" CC="ccache gcc" -j"$NPROC" LOCALVERSION="$lv" \
	KBUILD_BUILD_USER=vtd KBUILD_BUILD_HOST=cache-tags bindeb-pkg > "$logf" 2>&1 ||
	{ tail -n 20 "$logf" >&2; die "make bindeb-pkg failed: $logf"; }
# bindeb-pkg leaves the packages next to its output directory.
mv "$BUILD"/*.deb "$BUILD"/*.buildinfo "$BUILD"/*.changes "$dest/"
log "bindeb-pkg: $(( $(date +%s) - s ))s; packages in $dest:"
for d in "$dest"/*.deb; do
	printf '  %s (%s KiB)\n' "$(basename "$d")" "$(du -k "$d" | cut -f1)" >&2
done
