#!/usr/bin/env bash
# Static checks of the series, each a result line:
#   checkpatch   scripts/checkpatch.pl --strict on every patch: 0 errors, 0 warnings
#   bisect       every patch builds on its own (incremental, through ccache)
#   w1           W=1 on drivers/iommu/intel adds no warning against the base, per patch
#   sparse       C=2 on drivers/iommu/intel: no new sparse warning
#   coccicheck   MODE=report M=drivers/iommu/intel: no new report
# "New" compares warning texts with line numbers removed, base against series.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" check
"$TOP/scripts/tree.sh" ensure
rev=$("$TOP/scripts/tree.sh" rev series)
base=$(git -C "$TREE" rev-parse "$BASE_TAG")
commits=$(git -C "$TREE" rev-list --reverse "$base..$rev")
n=$(echo "$commits" | grep -c . || true)
CK=$WORK/check
mkdir -p "$CK"
# Cached results are only valid for the same config fragments.
cfgsum=$(cat "$TOP"/configs/*.config | md5sum | cut -c1-12)
O=$BUILD/bisect
OW=$BUILD/w1
kmake() { make -s -C "$SRC" CC="ccache gcc" KBUILD_BUILD_TIMESTAMP=2000-01-01 "$@"; }
# Warnings without line/column numbers or build paths, sorted, for comparing.
norm() { sed -E -e "s|$SRC/||g" -e 's|^\.\./\.\./src/||' -e 's/:[0-9]+(:[0-9]+(-[0-9]+)?)?:/:/g' -e 's/line [0-9]+/line N/g' | sort; }
subject() { git -C "$TREE" log -1 --format=%s "$1"; }

if [ "$n" = 0 ]; then
	for c in checkpatch bisect w1 sparse coccicheck; do result SKIP "$c" check "no patches in the series (stock 6.1)"; done
	exit 0
fi

# --- checkpatch ---------------------------------------------------------------
# Errors always fail. A warning or check fails unless the patch's commit
# message justifies it: it mentions checkpatch and either the finding's type
# or, for a new file, MAINTAINERS, or for --strict CHECKs, "CHECK".
cp_out=$CK/checkpatch.txt
: > "$cp_out"
bad=() justified=()
i=0
for c in $commits; do
	i=$((i + 1))
	git -C "$TREE" format-patch -1 --stdout "$c" > "$CK/p$i.patch"
	# /usr/bin first: spdxcheck.py needs the system python3 and its ply.
	(cd "$TREE" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --quiet --no-summary \
		--show-types --terse "$CK/p$i.patch") > "$CK/p$i.checkpatch" 2>&1 || true
	cat "$CK/p$i.checkpatch" >> "$cp_out"
	msg=$(git -C "$TREE" log -1 --format=%B "$c")
	while IFS= read -r f; do
		level=$(echo "$f" | sed -nE 's/.*: (ERROR|WARNING|CHECK):.*/\1/p')
		type=$(echo "$f" | sed -nE 's/.*: (ERROR|WARNING|CHECK):([A-Z_]+):.*/\2/p')
		[ -n "$level" ] || { bad+=("$i"); continue; }	# checkpatch itself failed
		ok=0
		if [ "$level" != ERROR ] && echo "$msg" | grep -q checkpatch; then
			echo "$msg" | grep -q "$type" && ok=1
			[ "$type" = FILE_PATH_CHANGES ] && echo "$msg" | grep -q MAINTAINERS && ok=1
			[ "$level" = CHECK ] && echo "$msg" | grep -q CHECK && ok=1
		fi
		if [ $ok = 1 ]; then justified+=("$i:$type"); else bad+=("$i"); fi
	done < <(grep -v '^$' "$CK/p$i.checkpatch")
done
nerr=$(grep -c ': ERROR:' "$cp_out" || true)
nwarn=$(grep -c ': WARNING:' "$cp_out" || true)
nchk=$(grep -c ': CHECK:' "$cp_out" || true)
why=""
[ ${#justified[@]} -gt 0 ] && why="; justified in commit messages: $(printf '%s\n' "${justified[@]}" | sort -u | tr '\n' ' ')"
if [ ${#bad[@]} = 0 ]; then
	result PASS checkpatch check "$n patches, --strict: $nerr errors, $nwarn warnings, $nchk checks$why"
else
	mapfile -t bad < <(printf '%s\n' "${bad[@]}" | sort -un)
	result FAIL checkpatch check "patch(es) ${bad[*]}: $nerr errors, $nwarn warnings, $nchk checks not justified; see $cp_out"
fi

# --- per-patch builds (bisect) and W=1 ----------------------------------------
# The series' .config, with options a patch does not know yet dropped.
prep_config() {
	mkdir -p "$1"
	cp "$BUILD/series/.config" "$1/.config" 2>/dev/null || {
		kmake O="$1" tinyconfig >/dev/null
		"$SRC/scripts/kconfig/merge_config.sh" -m -O "$1" "$1/.config" "$TOP/configs/vtd.config" >/dev/null
	}
	kmake O="$1" olddefconfig >/dev/null
}
w1_of() {  # warnings W=1 prints for drivers/iommu/intel at the checked-out commit
	rm -f "$OW"/drivers/iommu/intel/*.o
	kmake O="$OW" W=1 drivers/iommu/intel/ 2>&1 | grep -E 'warning:' | norm || true
}
bisect() {
	local i=0 c ok fails=() w1fails=()
	mkdir -p "$CK/ok"
	if [ ! -f "$CK/w1-base-${base:0:12}.txt" ]; then
		"$TOP/scripts/tree.sh" checkout "$base"
		prep_config "$O"; prep_config "$OW"
		kmake O="$OW" prepare >/dev/null 2>&1
		w1_of > "$CK/w1-base-${base:0:12}.txt"
	fi
	cp "$CK/w1-base-${base:0:12}.txt" "$CK/w1-base.txt"
	[ -f "$O/.config" ] || prep_config "$O"
	[ -f "$OW/.config" ] || prep_config "$OW"
	for c in $commits; do
		i=$((i + 1))
		# A commit whose tree already built and passed W=1 needs no rebuild.
		ok=$CK/ok/$(git -C "$TREE" rev-parse "$c^{tree}")-$cfgsum
		if [ -f "$ok" ]; then
			log "  patch $i/$n builds (cached): $(subject "$c")"
			continue
		fi
		"$TOP/scripts/tree.sh" checkout "$c"
		kmake O="$O" olddefconfig >/dev/null
		if ! kmake O="$O" -j"$NPROC" bzImage > "$CK/bisect-$i.log" 2>&1; then
			fails+=("$i")
			log "  patch $i ($(subject "$c")) does not build: $CK/bisect-$i.log"
			continue
		fi
		kmake O="$OW" olddefconfig >/dev/null
		w1_of > "$CK/w1-$i.txt"
		if comm -13 "$CK/w1-base.txt" "$CK/w1-$i.txt" | grep -q .; then
			w1fails+=("$i")
			comm -13 "$CK/w1-base.txt" "$CK/w1-$i.txt" | sed "s/^/  patch $i: /" >&2
		fi
		[ -n "$(comm -13 "$CK/w1-base.txt" "$CK/w1-$i.txt")" ] || touch "$ok"
		log "  patch $i/$n builds: $(subject "$c")"
	done
	if [ ${#fails[@]} = 0 ]; then
		result PASS bisect check "each of the $n patches builds on its own"
	else
		result FAIL bisect check "patch(es) ${fails[*]} do not build, e.g. $(subject "$(echo "$commits" | sed -n "${fails[0]}p")"): $CK/bisect-${fails[0]}.log"
	fi
	if [ ${#fails[@]} = 0 ] && [ ${#w1fails[@]} = 0 ]; then
		result PASS w1 check "W=1 on drivers/iommu/intel: no new warning in any patch ($(wc -l < "$CK/w1-base.txt") at base)"
	elif [ ${#w1fails[@]} != 0 ]; then
		result FAIL w1 check "patch(es) ${w1fails[*]} add W=1 warnings: $CK/w1-${w1fails[0]}.txt"
	else
		result SKIP w1 check "not every patch built"
	fi
}
step "bisect: build every patch" bisect || result FAIL bisect check "the bisect step itself failed"

# --- sparse and coccicheck: base against the whole series ---------------------
sparse_of() {
	kmake O="$OW" C=2 CHECK=sparse drivers/iommu/intel/ 2>&1 | grep -E '(warning|error):' | norm || true
}
cocci_of() {
	# In the source tree: with O= its --dir would name the object directory
	# and spatch would silently check nothing.
	make -s -C "$SRC" coccicheck MODE=report M=drivers/iommu/intel J="$NPROC" 2>/dev/null |
		grep -E '^[^ ]+\.[ch]:[0-9]+' | norm || true
}
compare() {  # compare NAME FUNC: run at the base (cached) and at the series
	# The cache names carry the method's version: bump it when *_of changes.
	local name=$1 fn=$2 bf=$CK/$1-v2-base-${base:0:12}.txt new sf
	sf=$CK/$1-v2-$(git -C "$TREE" rev-parse "$rev^{tree}" | cut -c1-12)-$cfgsum.txt
	if [ ! -f "$bf" ]; then
		"$TOP/scripts/tree.sh" checkout "$base"
		kmake O="$OW" olddefconfig >/dev/null
		$fn > "$bf.tmp" && mv "$bf.tmp" "$bf"
	fi
	if [ ! -f "$sf" ]; then
		"$TOP/scripts/tree.sh" checkout "$rev"
		kmake O="$OW" olddefconfig >/dev/null
		$fn > "$sf.tmp" && mv "$sf.tmp" "$sf"
	fi
	new=$(comm -13 "$bf" "$sf")
	if [ -z "$new" ]; then
		result PASS "$name" check "drivers/iommu/intel: no new finding ($(wc -l < "$bf") at base, $(wc -l < "$sf") with the series)"
	else
		echo "$new" > "$CK/$name-new.txt"
		result FAIL "$name" check "$(echo "$new" | wc -l) new: $(echo "$new" | head -n 1 | cut -c1-100); see $CK/$name-new.txt"
	fi
}
step sparse compare sparse sparse_of
step coccicheck compare coccicheck cocci_of
