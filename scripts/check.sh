#!/usr/bin/env bash
# Static checks of the series, each a result line:
#   series       the tree holds every patch patches/series lists
#   checkpatch   scripts/checkpatch.pl --strict on every patch: 0 errors; each
#                warning or check justified one by one in the commit message
#   bisect       every patch builds on its own (incremental, through ccache)
#   w1           W=1 on drivers/iommu/intel adds no warning against the base, per patch
#   sparse       C=2 on drivers/iommu/intel: no new sparse warning; sparse ran
#                on every file and reported no error of its own
#   coccicheck   MODE=report M=drivers/iommu/intel: every script ran, no new report
#   matrix       W=1 on drivers/iommu/ in four other configs (SVM off, tracing
#                off, KUnit as a module, Debian's): no new warning
#   trace-format the cache_tag_* events of trace.h as upstream 6.12's (Debian's
#                linux-source-6.12): names, classes, prototypes, fields, print
#                format and arguments; only the nesting type symbols missing
# "New" compares warning texts with line numbers removed, base against series.
# The patches are the commits base..HEAD of the tree; uncommitted changes
# are in the series build and in sparse and coccicheck, not in any patch.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" check
"$TOP/scripts/tree.sh" ensure
rev=$("$TOP/scripts/tree.sh" rev series)
base=$(git -C "$TREE" rev-parse "$BASE_TAG")
commits=$(git -C "$TREE" rev-list --reverse "$base..HEAD")
n=$(echo "$commits" | grep -c . || true)
listed=$(grep -cv -e '^#' -e '^[[:space:]]*$' "$TOP/patches/series" 2>/dev/null || true)
CK=$WORK/check
# Results at the base are kept across runs, keyed by the base commit, the
# config, the method's version and the tool's; make clean removes them.
BCK=$CACHE/check
mkdir -p "$CK" "$BCK"
# Cached results are only valid for the same config fragments (not
# bench.config's: make bench's kernels are checked by nothing here).
cfgsum=$(ls "$TOP"/configs/*.config | grep -v '/bench\.config$' | xargs cat | md5sum | cut -c1-12)
if [ "$n" -lt "${listed:-0}" ]; then
	result FAIL series check "the tree holds $n commits since the base, patches/series lists $listed: the checks below would miss patches"
else
	result PASS series check "$n commits since the base, $listed listed in patches/series$([ "$rev" != "$(git -C "$TREE" rev-parse HEAD)" ] && echo "; uncommitted changes built and checked as a whole, not as a patch")"
fi
OW=$BUILD/w1
kmake() { make -s -C "$SRC" CC="ccache gcc" KBUILD_BUILD_TIMESTAMP=2000-01-01 "$@"; }
# Warnings without line/column numbers or build paths, sorted, for comparing.
norm() { sed -E -e "s|$SRC/||g" -e "s|$WORK/cocci-src/||g" -e 's|^\.\./\.\./src/||' -e 's/:[0-9]+(:[0-9]+(-[0-9]+)?)?:/:/g' -e 's/line [0-9]+/line N/g' | sort; }
subject() { git -C "$TREE" log -1 --format=%s "$1"; }

if [ "$n" = 0 ]; then
	for c in checkpatch bisect w1 matrix sparse coccicheck trace-format; do result SKIP "$c" check "no patches in the series (stock 6.1)"; done
	exit 0
fi

# --- checkpatch ---------------------------------------------------------------
# Errors always fail. A warning or check is kept only when the patch's commit
# message justifies it with a line of its own,
#   checkpatch: <TYPE> x<N>: <reason>
# and N equals the number of <TYPE> findings checkpatch reports for that patch.
cp_out=$CK/checkpatch.txt
: > "$cp_out"
bad=() justified=() why_bad=()
i=0
for c in $commits; do
	i=$((i + 1))
	git -C "$TREE" format-patch -1 --stdout "$c" > "$CK/p$i.patch"
	# /usr/bin first: spdxcheck.py needs the system python3 and its ply.
	(cd "$TREE" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --quiet --no-summary \
		--show-types --terse "$CK/p$i.patch") > "$CK/p$i.checkpatch" 2>&1 || true
	cat "$CK/p$i.checkpatch" >> "$cp_out"
	# (grep -c, not a "| grep -q" pipeline, which pipefail fails when the
	# reader stops early: a finding would then go unseen.)
	if [ "$(grep -v '^$' "$CK/p$i.checkpatch" | grep -cvE ': (ERROR|WARNING|CHECK):[A-Z_]+:' || true)" != 0 ]; then
		bad+=("$i"); why_bad+=("patch $i: checkpatch printed something that is not a finding")
	fi
	if grep -q ': ERROR:' "$CK/p$i.checkpatch"; then
		bad+=("$i"); why_bad+=("patch $i: $(grep -c ': ERROR:' "$CK/p$i.checkpatch") error(s)")
	fi
	# Found and claimed counts per type must agree, both ways.
	found=$( (grep -oE ': (WARNING|CHECK):[A-Z_]+:' "$CK/p$i.checkpatch" || true) | cut -d: -f3 | sort | uniq -c | awk '{print $2" "$1}')
	claimed=$(git -C "$TREE" log -1 --format=%B "$c" | sed -nE 's/^checkpatch: ([A-Z_]+) x([0-9]+): .+/\1 \2/p' | sort)
	if [ "$(echo "$found" | sort)" != "$claimed" ]; then
		bad+=("$i")
		why_bad+=("patch $i: checkpatch found {$(echo $found)}, the commit message justifies {$(echo $claimed)}")
	elif [ -n "$found" ]; then
		justified+=("$i:$(echo $found | tr ' ' 'x')")
	fi
done
nerr=$(grep -c ': ERROR:' "$cp_out" || true)
nwarn=$(grep -c ': WARNING:' "$cp_out" || true)
nchk=$(grep -c ': CHECK:' "$cp_out" || true)
why=""
[ ${#justified[@]} -gt 0 ] && why="; each justified in its commit message: ${justified[*]}"
if [ ${#bad[@]} = 0 ]; then
	result PASS checkpatch check "$n patches, --strict: $nerr errors, $nwarn warnings, $nchk checks$why"
else
	printf '%s\n' "${why_bad[@]}" > "$CK/checkpatch-unjustified.txt"
	mapfile -t bad < <(printf '%s\n' "${bad[@]}" | sort -un)
	result FAIL checkpatch check "patch(es) ${bad[*]}: ${why_bad[0]}; see $CK/checkpatch-unjustified.txt and $cp_out"
fi

# The harness's test module (tests/kmod/, kernel code, not in the series):
# checkpatch --strict -f, nothing at all; its control, the same file with
# trailing whitespace added, must be reported.
kmod_checkpatch() {  # FILE: checkpatch's findings
	(cd "$TREE" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --quiet --no-summary \
		--no-tree --show-types --terse -f "$1") 2>&1 || true
}
for f in "$TOP"/tests/kmod/*.c; do
	out=$(kmod_checkpatch "$f")
	if [ -z "$out" ]; then
		result PASS checkpatch-kmod "$(basename "$f")" "--strict -f: 0 errors, 0 warnings, 0 checks"
	else
		result FAIL checkpatch-kmod "$(basename "$f")" "$(echo "$out" | wc -l) finding(s): $(echo "$out" | head -n 1 | cut -c1-120)"
	fi
	sed '0,/^#include/s/^#include.*/& /' "$f" > "$CK/doctored-$(basename "$f")"
	if out=$(kmod_checkpatch "$CK/doctored-$(basename "$f")") && echo "$out" | grep -q 'TRAILING_WHITESPACE'; then
		result PASS control:checkpatch-kmod "$(basename "$f")" "a trailing space added: reported ($(echo "$out" | head -n 1 | sed 's/.*: \(ERROR\|WARNING\|CHECK\):/\1:/' | cut -c1-60))"
	else
		result FAIL control:checkpatch-kmod "$(basename "$f")" "a trailing space added, and checkpatch reported no TRAILING_WHITESPACE: ${out:-nothing}"
	fi
done

# --- trace-format: the events against upstream 6.12's -------------------------
# The cache_tag_* events of drivers/iommu/intel/trace.h at the tree's HEAD
# against upstream 6.12's (scripts/traceformat.py): the same events in the
# same classes, each class with the same TP_PROTO and TP_ARGS, the same
# TP_STRUCT__entry fields (macro, type, name, in order), the same TP_printk
# format and arguments; only upstream's __print_symbolic() entries
# CACHE_TAG_NESTING_* may be missing (6.1 has no nesting). Upstream's file
# is Debian's linux-source-6.12 (base.sh --deb: apt's candidate, SHA256
# verified), that one member extracted once (about 20 s) and kept in the
# cache by Debian version. Its control: the same check on the series' file
# with the range flushes' format reverted to the series' earlier one, and
# with a field renamed, must reject each, naming that difference.
# (Called in an if: errexit is off there, hence every "|| return 1".)
upstream_trace_h() {  # prints "DEBIAN-VERSION FILE"
	local deb ver f
	deb=$("$TOP/scripts/base.sh" --deb 6.12) || return 1
	ver=$(dpkg-deb -f "$deb" Version) || return 1
	f=$CACHE/upstream-trace/linux-source-6.12_$ver.trace.h
	if [ ! -s "$f" ]; then
		log "  extracting drivers/iommu/intel/trace.h from $(basename "$deb")"
		rm -rf "$f.tmp"
		mkdir -p "$f.tmp" || return 1
		dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-6.12.tar.xz |
			tar -xJf - -C "$f.tmp" --wildcards '*/drivers/iommu/intel/trace.h' || return 1
		mv "$f.tmp"/*/drivers/iommu/intel/trace.h "$f" || return 1
		rm -rf "$f.tmp"
	fi
	echo "$ver $f"
}
trace_format() {
	local got ver up label out rc=0 c name doc want why=() seen=()
	local series=$CK/trace-series.h
	if ! got=$(upstream_trace_h); then
		result FAIL trace-format check "no upstream 6.12 trace.h to compare against (base.sh --deb 6.12, or its extraction, failed: see the log above)"
		return 0
	fi
	read -r ver up <<< "$got"
	label="upstream 6.12 (Debian linux-source-6.12 $ver)"
	if ! git -C "$TREE" show HEAD:drivers/iommu/intel/trace.h > "$series"; then
		result FAIL trace-format check "no drivers/iommu/intel/trace.h at the HEAD of $TREE"
		return 0
	fi
	out=$(python3 "$TOP/scripts/traceformat.py" "$series" "$up" "$label") || rc=$?
	if [ $rc = 0 ]; then
		result PASS trace-format check "$out"
	elif [ $rc = 1 ] && [ -n "$out" ]; then
		echo "$out" > "$CK/trace-format.txt"
		result FAIL trace-format check "$(echo "$out" | wc -l) difference(s) from $label: $(echo "$out" | head -n 1 | cut -c1-220); see $CK/trace-format.txt"
	else
		result FAIL trace-format check "traceformat.py exited $rc on $series and $up"
	fi
	# The control: two doctored copies, each rejected for its own change.
	sed 's|"%s %s\[%d\] type %s did %d \[0x%lx-0x%lx\]|"%s/%s type %s did %d pasid %d [0x%lx-0x%lx]|' \
		"$series" > "$CK/trace-doctored-format.h"
	sed '0,/__field(u16, domain_id)/s//__field(u16, did)/' "$series" > "$CK/trace-doctored-field.h"
	for c in "format|the range flushes' format reverted to the series' earlier one|class cache_tag_flush: TP_printk format \"%s/%s type %s did %d pasid %d [0x%lx-0x%lx]" \
		"field|the first domain_id field renamed did|TP_STRUCT__entry field 4: __field(u16, did), upstream __field(u16, domain_id)"; do
		IFS='|' read -r name doc want <<< "$c"
		if cmp -s "$series" "$CK/trace-doctored-$name.h"; then
			why+=("$doc: not made, the series' trace.h has nothing to change")
			continue
		fi
		rc=0
		out=$(python3 "$TOP/scripts/traceformat.py" "$CK/trace-doctored-$name.h" "$up" "$label") || rc=$?
		if [ $rc = 0 ]; then
			why+=("$doc: accepted")
		elif ! grep -qF -- "$want" <<< "$out"; then
			why+=("$doc: rejected (exit $rc), but not for it: $(echo "$out" | head -n 1 | cut -c1-100)")
		else
			seen+=("$doc: $(grep -F -m1 -- "$want" <<< "$out" | cut -c1-110)")
		fi
	done
	if [ ${#why[@]} = 0 ]; then
		result PASS control:trace-format check "rejected: $(printf '%s; ' "${seen[@]}" | sed 's/; $//')"
	else
		result FAIL control:trace-format check "$(printf '%s; ' "${why[@]}" | sed 's/; $//')${seen[*]:+; rejected as it should: $(printf '%s; ' "${seen[@]}" | sed 's/; $//')}"
	fi
}
step "trace-format: the events against upstream 6.12's" trace_format
[ "$STEP_RC" = 0 ] || result FAIL trace-format check "the trace-format step itself failed (exit $STEP_RC): see the log above"

# --- sparse and coccicheck: base against the whole series ---------------------
# Each *_of prints its findings, normalised, and fails (non-zero) when the
# tool did not run to completion: a tool error is not "0 findings".
sparse_of() {  # OUT: findings; OUT.info: what ran
	local out=$1 raw=$1.raw wrap=$CK/sparse-wrap nobj nchk
	# A wrapper records every file sparse is run on, and its exit status.
	printf '#!/bin/sh\nsparse "$@"; rc=$?\nfor a; do f=$a; done\necho "$rc $f" >> "%s"\nexit $rc\n' "$out.files" > "$wrap"
	chmod +x "$wrap"
	rm -f "$OW"/drivers/iommu/intel/*.o "$out.files"
	kmake O="$OW" C=2 CHECK="$wrap" drivers/iommu/intel/ > "$raw" 2>&1 || { echo "make C=2 failed" >&2; return 1; }
	nobj=$(ls "$OW"/drivers/iommu/intel/*.o | grep -vc 'built-in' || true)
	nchk=$(grep -c '^0 ' "$out.files" 2>/dev/null || true)
	if grep -qv '^0 ' "$out.files" 2>/dev/null || grep -qE '(^|: )(error|fatal):|too many errors' "$raw"; then
		echo "sparse failed or reported errors of its own: $(grep -E '(error|fatal):' "$raw" | head -n 1)" >&2
		return 1
	fi
	if [ "$nchk" = 0 ] || [ "$nchk" -lt "$nobj" ]; then
		echo "sparse checked $nchk files for $nobj objects" >&2
		return 1
	fi
	grep -E 'warning:' "$raw" | norm > "$out" || true
	echo "sparse $(sparse --version 2>/dev/null || echo '?') checked $nchk files" > "$out.info"
}
cocci_of() {  # OUT: findings, "SCRIPT<TAB>finding"; OUT.info: how many scripts ran
	local out=$1 raw=$1.raw rc=0 ran skipped total
	local src=${CSRC:-$SRC}
	total=$(find "$src/scripts/coccinelle" -name '*.cocci' | wc -l)
	# In the source tree: with O= its --dir would name the object directory
	# and spatch would silently check nothing. V=1 names each script.
	make -s -C "$src" coccicheck V=1 MODE=report M=drivers/iommu/intel J="${CJ:-$NPROC}" > "$raw" 2>&1 || rc=$?
	ran=$(grep -c '^Processing .*\.cocci' "$raw" || true)
	skipped=$(grep -c '^Skipping coccinelle SmPL patch' "$raw" || true)
	if [ $rc != 0 ] || grep -q 'coccicheck failed\|No OCaml compiler\|Python error\|^Fatal error' "$raw"; then
		echo "coccicheck did not run to completion (exit $rc) after $ran of $total scripts: $(grep -m1 -i 'error\|failed' "$raw")" >&2
		return 1
	fi
	if [ "$ran" != "$total" ] || [ "$skipped" != 0 ]; then
		echo "coccicheck ran $ran of $total scripts ($skipped skipped for the spatch version)" >&2
		return 1
	fi
	awk '/^Processing .*\.cocci/ {s = $2} /^[^ ]+\.[ch]:[0-9]+/ {print s "\t" $0}' "$raw" | norm > "$out"
	echo "$ran of $total scripts ran, spatch $(spatch --version | awk 'NR == 1 {print $3}')" > "$out.info"
}
compare() {  # compare NAME FUNC: run at the base (cached) and at the series
	# The cache names carry the method's version (bump it when *_of
	# changes), the config and the tool's version.
	local name=$1 fn=$2 bf new sf c r f what
	read -r bf sf < <(result_files "$name")
	for c in "$base|$bf|at the base" "$rev|$sf|with the series"; do
		IFS='|' read -r r f what <<< "$c"
		[ ! -f "$f" ] || continue
		"$TOP/scripts/tree.sh" checkout "$r"
		kmake O="$OW" olddefconfig >/dev/null
		if ! $fn "$f.tmp" 2> "$f.tmp.err"; then
			result FAIL "$name" check "$what: $(head -c 200 "$f.tmp.err"); see $f.tmp.raw"
			return 0
		fi
		mv "$f.tmp.info" "$f.info"; mv "$f.tmp" "$f"
	done
	new=$(comm -13 "$bf" "$sf")
	if [ -z "$new" ]; then
		result PASS "$name" check "drivers/iommu/intel: no new finding ($(wc -l < "$bf") at base$(awk -F'\t' 'NF > 1 {n[$1]++} END {for (s in n) printf ", %s %d", s, n[s]}' "$bf"); $(wc -l < "$sf") with the series); $(cat "$sf.info")"
	else
		echo "$new" > "$CK/$name-new.txt"
		result FAIL "$name" check "$(echo "$new" | wc -l) new: $(echo "$new" | head -n 1 | cut -c1-100); see $CK/$name-new.txt"
	fi
}
# --- per-patch builds (bisect) and W=1 ----------------------------------------
# W=1 runs on drivers/iommu/intel in a directory of its own ($OW), since
# W=1 objects would make the next plain build recompile them.
#
# Two ways to build a patch:
# - Linked from the series' build (the usual one). A patch whose tree
#   differs from the series' only in drivers/iommu/intel/ and in files the
#   build does not read, with a config that differs only in options nothing
#   outside drivers/iommu/intel/ names, makes a kernel whose every other
#   object is the series build's own. Such a patch is built by compiling
#   drivers/iommu/intel/ (the W=1 compile, which had to run anyway) and
#   linking vmlinux the way kbuild does (ld -r of the archive, modpost,
#   ld with the kernel's linker script) from those objects and the series'
#   others, without the kallsyms passes. About 25 s a patch on a cold
#   cache instead of 50 s for make vmlinux, whose tree walk and three
#   links are most of it; and a config of its own (an option a later
#   patch adds is off) re-preprocessed the whole kernel in ccache.
# - make vmlinux in the series' own output directory (any other patch), so
#   only what the patch changes recompiles; the series is built back after.
SO=$BUILD/series
O=$SO
LK=$OW/vtd-link
series_cfg=$CK/series.config
prep_config() {  # the series' .config, with options a patch does not know yet dropped
	mkdir -p "$1"
	if [ -f "$series_cfg" ]; then
		cp "$series_cfg" "$1/.config"
	else
		kmake O="$1" tinyconfig >/dev/null
		"$SRC/scripts/kconfig/merge_config.sh" -m -O "$1" "$1/.config" "$TOP/configs/vtd.config" >/dev/null
	fi
	kmake O="$1" olddefconfig >/dev/null
}
# W=1 warnings of drivers/iommu/intel at the checked-out commit, normalised,
# to OUT; fails if it does not compile (the log is OUT.log). Every object
# is compiled again (through ccache) so that every warning is printed.
w1_of() {  # w1_of OUT [JOBS]
	rm -f "$OW"/drivers/iommu/intel/*.o "$OW"/drivers/iommu/intel/built-in.a
	if ! kmake O="$OW" W=1 -j"${2:-1}" drivers/iommu/intel/ > "$1.log" 2>&1; then
		grep -E 'error|Error' "$1.log" | head -n 5 >&2
		return 1
	fi
	grep -E 'warning:' "$1.log" | norm > "$1" || true
}
cfg_syms() {  # the options set differently in two .config files
	diff <(grep -E '^(# )?CONFIG_' "$1" | sort) <(grep -E '^(# )?CONFIG_' "$2" | sort) |
		sed -nE 's/^[<>] (# )?CONFIG_([A-Za-z0-9_]+)[= ].*/\2/p' | sort -u || true
}
# Can COMMIT be linked from the series' build? (The series must be built,
# and $OW configured for COMMIT.) Prints why not, if not.
linkable() {
	local c=$1 f s
	[ -f "$SO/vmlinux.a" ] && [ -f "$SO/.vmlinux.o.cmd" ] && [ -f "$SO/.vmlinux.cmd" ] &&
		[ "$(cat "$SO/vtd-stamp" 2>/dev/null)" = "$(build_stamp series "$rev")" ] ||
		{ echo "no build of the series at $rev in $SO"; return 1; }
	f=$(git -C "$TREE" diff --name-only "$c" "$rev" |
		grep -vE '^(drivers/iommu/intel/|Documentation/|tools/testing/|MAINTAINERS$)' | head -n 1 || true)
	[ -z "$f" ] || { echo "it differs from the series in $f"; return 1; }
	! grep -qx 'CONFIG_IKCONFIG=y' "$SO/.config" || { echo "CONFIG_IKCONFIG embeds the config"; return 1; }
	for s in $(cfg_syms "$OW/.config" "$SO/.config"); do
		f=$(named_outside "$s")
		[ -z "$f" ] || { echo "CONFIG_$s, set otherwise than in the series, is named in $f"; return 1; }
	done
}
# A file the build reads, outside drivers/iommu/intel/, that names option
# S (as S in Kconfig, CONFIG_S elsewhere), at the series' head. The same
# for every patch linkable() lets through (they differ from the head only
# in drivers/iommu/intel/ and in files the build does not read), so it is
# looked up once per symbol: a grep of the whole tree takes seconds.
named_outside() {
	local f=$CK/named-${rev:0:12}-$1 p
	if [ ! -f "$f" ]; then
		for p in $(git -C "$TREE" grep -lF "$1" "$rev" -- . ':!drivers/iommu/intel/' ':!Documentation/' \
			':!tools/testing/' ':!MAINTAINERS' | sed 's/^[^:]*://'); do
			# (grep -c: a grep -q that stops early fails the pipeline.)
			[ "$(git -C "$TREE" show "$rev:$p" | grep -cE "(^|[^A-Za-z0-9_])(CONFIG_)?$1([^A-Za-z0-9_]|\$)")" = 0 ] ||
				echo "$p"
		done > "$f.tmp" || true
		mv "$f.tmp" "$f"
	fi
	head -n 1 "$f"
}
# Link vmlinux from $OW's drivers/iommu/intel objects (or OBJS, one per
# line, instead) and the series' others, as kbuild's own commands do.
# Prints the linkers' and modpost's warnings, normalised; fails on an error.
link_of() {  # link_of [OBJS-FILE]
	local ld ldflags lflags_vm cmd rc=0
	rm -rf "$LK"
	mkdir -p "$LK"
	{
		(cd "$SO" && ar t vmlinux.a) | sed '/^drivers\/iommu\/intel\//d; s|^|'"$SO"'/|'
		if [ -n "${1:-}" ]; then cat "$1"; else (cd "$OW" && ar t drivers/iommu/intel/built-in.a | sed 's|^|'"$OW"'/|'); fi
	} > "$LK/objs"
	# (Order within vmlinux.a is the link's order; drivers/iommu/intel at
	# the end changes addresses, not what resolves.)
	xargs -a "$LK/objs" ar cDPrST "$LK/vmlinux.a"
	cmd=$(sed -n 's/^cmd_vmlinux\.o := //p' "$SO/.vmlinux.o.cmd")
	[ -n "$cmd" ] || { echo "no cmd_vmlinux.o in $SO/.vmlinux.o.cmd" >&2; return 1; }
	(cd "$LK" && eval "$cmd") > "$LK/log" 2>&1 || rc=$?
	if [ $rc = 0 ]; then
		(cd "$LK" && "$SO/scripts/mod/modpost" -E -o vmlinux.symvers -T - vmlinux.o < /dev/null) >> "$LK/log" 2>&1 || rc=$?
	fi
	if [ $rc = 0 ]; then
		cmd=$(sed -n 's/^cmd_vmlinux := [^ ]*link-vmlinux\.sh //p' "$SO/.vmlinux.cmd" | sed 's/;.*//')
		eval "set -- $cmd"
		[ $# = 3 ] || { echo "cannot read the link of $SO/.vmlinux.cmd" >&2; return 1; }
		ld=$1 ldflags=$2 lflags_vm=$3
		# shellcheck disable=SC2086
		(cd "$LK" && $ld $ldflags $lflags_vm --script="$SO/arch/x86/kernel/vmlinux.lds" -o vmlinux \
			--whole-archive vmlinux.o --no-whole-archive) >> "$LK/log" 2>&1 || rc=$?
	fi
	if [ $rc != 0 ]; then
		grep -m 3 -iE 'error|undefined' "$LK/log" >&2 || tail -n 3 "$LK/log" >&2
		return 1
	fi
	sed -E -e "s|$SO/||g" -e "s|$OW/||g" -e "s|$LK/||g" -e 's/^/link: /' "$LK/log" | norm
}
# One patch, linked: W=1 compile, then the link; OUT gets both's warnings.
build_linked() {  # build_linked OUT
	w1_of "$1.cc" "$NPROC" 2> "$1.err" || return 1
	link_of > "$1.link" 2>> "$1.err" || return 1
	sort "$1.cc" "$1.link" > "$1"
}
# A commit's tree that built and passed W=1 with this config and compiler
# is recorded in the cache: its result stands for any clone, any run.
okdir=$BCK/ok-v3
ok_of() { echo "$okdir/$(git -C "$TREE" rev-parse "$1^{tree}")-$cfgsum-gcc$(gcc -dumpfullversion)"; }
bisect() {
	local i=0 c ok fails=() w1fails=() todo=0 prev=$CK/w1-base.txt prev_ok=1 same=0 cfg_at="" cached=0 why
	local linked=0 made=0 notlinked=""
	mkdir -p "$okdir"
	for c in $commits; do
		[ -f "$(ok_of "$c")" ] || todo=$((todo + 1))
	done
	# The series' build, the others' objects of the linked patches (a
	# no-op when make test has just built it).
	[ $todo = 0 ] || "$TOP/scripts/build.sh" series >&2 || log "  the series does not build: every patch with make vmlinux"
	rm -f "$series_cfg"
	[ -f "$SO/.config" ] && [ -f "$SO/vtd-stamp" ] && cp "$SO/.config" "$series_cfg"
	# The base's warnings, compiled and linked the same way.
	local wb=$BCK/w1-v3-${base:0:12}-$cfgsum-gcc$(gcc -dumpfullversion).txt
	if [ ! -f "$wb" ]; then
		"$TOP/scripts/tree.sh" checkout "$base"
		prep_config "$OW"
		kmake O="$OW" prepare >/dev/null 2>&1
		if why=$(linkable "$base"); then
			build_linked "$wb.tmp" || die "the base does not build: $(cat "$wb.tmp.err")"
		else
			log "  the base's warnings without a link ($why)"
			w1_of "$wb.tmp" "$NPROC" || die "the base does not compile: $wb.tmp.log"
		fi
		mv "$wb.tmp" "$wb"
	fi
	cp "$wb" "$CK/w1-base.txt"
	[ -f "$OW/.config" ] || prep_config "$OW"
	for c in $commits; do
		i=$((i + 1))
		# A commit whose tree already built and passed W=1 needs no rebuild.
		ok=$(ok_of "$c")
		if [ -f "$ok" ]; then
			log "  patch $i/$n builds (cached): $(subject "$c")"
			prev_ok=1
			cached=$((cached + 1))
			continue
		fi
		# A patch that changes only files the kernel build does not read
		# (Documentation/, tools/testing/, MAINTAINERS) builds exactly as
		# its parent, which built and passed W=1: nothing to rebuild.
		if [ $i -gt 1 ] && [ $prev_ok = 1 ] && [ -z "$(git -C "$TREE" diff --name-only "$c^" "$c" |
			grep -vE '^(Documentation/|tools/testing/|MAINTAINERS$)' || true)" ]; then
			touch "$ok"
			same=$((same + 1))
			log "  patch $i/$n builds as its parent (it changes only files the build does not read): $(subject "$c")"
			continue
		fi
		prev_ok=0
		"$TOP/scripts/tree.sh" checkout "$c"
		# The config again only where a Kconfig file changed since the
		# commit it was last made for: the series' options the commit
		# knows (an option a later patch adds is then off until that patch).
		if [ -z "$cfg_at" ] || ! git -C "$TREE" diff --quiet "$cfg_at" "$c" -- '*Kconfig*'; then
			prep_config "$OW"
			[ $made = 0 ] || prep_config "$O"
			cfg_at=$c
		fi
		if why=$(linkable "$c"); then
			if ! build_linked "$CK/w1-$i.txt"; then
				fails+=("$i")
				cp "$CK/w1-$i.txt.err" "$CK/bisect-$i.log"
				log "  patch $i ($(subject "$c")) does not build: $(head -c 300 "$CK/bisect-$i.log")"
				continue
			fi
			linked=$((linked + 1))
		else
			# make vmlinux in the series' directory (vmlinux, not
			# bzImage: compiling and linking is what can fail;
			# compressing the image cannot), W=1 beside it: the link is
			# one process, and the other CPU would wait for it. From here
			# on that directory holds other commits: without its stamp,
			# the next build of the series rebuilds, even if this stops.
			notlinked="$notlinked $i"
			log "  patch $i: make vmlinux ($why)"
			rm -f "$O/vtd-stamp"
			[ $made != 0 ] || prep_config "$O"
			made=$((made + 1))
			local w1pid
			w1_of "$CK/w1-$i.txt" > /dev/null 2>&1 &
			w1pid=$!
			if ! kmake O="$O" -j"$NPROC" vmlinux > "$CK/bisect-$i.log" 2>&1; then
				fails+=("$i")
				log "  patch $i ($(subject "$c")) does not build: $CK/bisect-$i.log"
				wait "$w1pid" || true
				continue
			fi
			wait "$w1pid" || { fails+=("$i"); log "  patch $i: W=1 does not compile: $CK/w1-$i.txt.log"; continue; }
		fi
		prev=$CK/w1-$i.txt
		if [ -n "$(comm -13 "$CK/w1-base.txt" "$CK/w1-$i.txt")" ]; then
			w1fails+=("$i")
			comm -13 "$CK/w1-base.txt" "$CK/w1-$i.txt" | sed "s/^/  patch $i: /" >&2
		else
			touch "$ok"
			prev_ok=1
		fi
		log "  patch $i/$n builds: $(subject "$c")"
	done
	if [ $made != 0 ]; then
		log "  building the series back in $O"
		"$TOP/scripts/build.sh" series >/dev/null
	fi
	local parts=()
	[ $linked = 0 ] || parts+=("$linked compiled in drivers/iommu/intel and linked with the series' other objects")
	[ $made = 0 ] || parts+=("$made built with make vmlinux (patch(es)$notlinked)")
	[ $same = 0 ] || parts+=("$same change only files the build does not read, and build as their parent")
	[ $cached = 0 ] || parts+=("$cached built and passed W=1 in an earlier run (cache $okdir)")
	local how
	how=$(printf '%s; ' "${parts[@]}" | sed 's/; $//')
	if [ ${#fails[@]} = 0 ]; then
		result PASS bisect check "each of the $n patches builds on its own: $how"
	else
		result FAIL bisect check "patch(es) ${fails[*]} do not build, e.g. $(subject "$(echo "$commits" | sed -n "${fails[0]}p")"): $CK/bisect-${fails[0]}.log"
	fi
	if [ ${#fails[@]} = 0 ] && [ ${#w1fails[@]} = 0 ]; then
		result PASS w1 check "W=1 on drivers/iommu/intel and the link of vmlinux: no new warning in any patch ($(wc -l < "$CK/w1-base.txt") at base)"
	elif [ ${#w1fails[@]} != 0 ]; then
		result FAIL w1 check "patch(es) ${w1fails[*]} add W=1 or link warnings: $CK/w1-${w1fails[0]}.txt"
	else
		result SKIP w1 check "not every patch built"
	fi
}
# The negative controls of the linked build: a compile error and an
# undefined symbol, each in drivers/iommu/intel at the series' head, must
# each fail it. (A link that cannot fail would pass every patch.)
bisect_control() {
	local f=drivers/iommu/intel/perf.c why objs=$CK/control-objs
	if [ ! -f "$series_cfg" ]; then
		result SKIP control:bisect check "no build of the series to link against, nothing to control"
		return 0
	fi
	"$TOP/scripts/tree.sh" checkout "$rev"
	prep_config "$OW"
	if ! why=$(linkable "$rev"); then
		result SKIP control:bisect check "the series is not linked from its own build ($why), nothing to control"
		return 0
	fi
	# 1: a compile error.
	echo '#error vtd-cache-tags bisect control' >> "$SRC/$f"
	if build_linked "$CK/control-cc.txt"; then
		git -C "$SRC" checkout -q -- "$f"
		result FAIL control:bisect check "a patch with a compile error in $f built"
		return 0
	fi
	git -C "$SRC" checkout -q -- "$f"
	if ! grep -q 'vtd-cache-tags bisect control' "$CK/control-cc.txt.cc.log"; then
		result FAIL control:bisect check "the compile-error control failed, but not on its error: $CK/control-cc.txt.cc.log"
		return 0
	fi
	# 2: drivers/iommu/intel at the head without dmar.o (every other
	# object of the directory calls into it): unresolved symbols.
	w1_of "$CK/control-ok.txt" "$NPROC" || { result FAIL control:bisect check "the series' head does not compile: $CK/control-ok.txt.log"; return 0; }
	(cd "$OW" && ar t drivers/iommu/intel/built-in.a) | grep -v '/dmar\.o$' | sed 's|^|'"$OW"'/|' > "$objs"
	if link_of "$objs" > /dev/null 2> "$CK/control-link.err"; then
		result FAIL control:bisect check "vmlinux linked without drivers/iommu/intel/dmar.o"
	elif ! grep -q 'undefined reference' "$LK/log"; then
		result FAIL control:bisect check "the link without dmar.o failed, but not on an undefined symbol: $LK/log"
	else
		result PASS control:bisect check "rejected: a compile error in $f (make failed on it) and vmlinux without dmar.o ($(grep -c 'undefined reference' "$LK/log") undefined references, e.g. $(grep -m1 -o "undefined reference to \`[^']*'" "$LK/log"))"
	fi
}
# The files compare() keeps a tool's findings in, at the base and with the
# series (base in the cache, series in the work tree).
result_files() {  # NAME -> "BASE-FILE SERIES-FILE"
	local tv
	tv=$( { sparse --version 2>/dev/null || true; spatch --version 2>/dev/null | sed -n 1p; } | md5sum | cut -c1-8)
	echo "$BCK/$1-v3-base-${base:0:12}-$cfgsum-$tv.txt" \
		"$CK/$1-v3-$(git -C "$TREE" rev-parse "$rev^{tree}" | cut -c1-12)-$cfgsum-$tv.txt"
}
# --- config matrix --------------------------------------------------------------
# The series in configs other than the harness's own, which is the w1
# check's (per patch; it has INTEL_IOMMU_DEBUGFS=y, which selects
# DMAR_PERF). Each entry is compiled with W=1 in drivers/iommu/ (make
# prepares the output directory first) at the base and at the series'
# head, in a directory of its own, and the warnings compared:
#   svm-off     CONFIG_INTEL_IOMMU_SVM=n
#   no-tracing  CONFIG_FTRACE=n and CONFIG_PROVE_LOCKING=n (lockdep's
#               TRACE_IRQFLAGS turns on PREEMPTIRQ_TRACEPOINTS, which
#               selects TRACING), so no TRACING and no TRACEPOINTS: the
#               events compile away (checked: no object of
#               drivers/iommu/intel/ names a cache_tag tracepoint, where
#               svm-off's do)
#   kunit-m     CONFIG_KUNIT=m. The series' two test options depend on
#               KUNIT=y (the cache suites call cache.c's unexported
#               functions, the queue suite the queue's internals), so here
#               they drop out: the driver must build without them
#   debian      Debian's own 6.1 amd64 config (linux-config-6.1): SVM and
#               tracing on, no IOMMU debugfs, no KUnit
# Results are kept in the cache, keyed by the tree, the entry's input
# config and the compiler. The whole kernel in Debian's config is built
# by make soak.
MATRIX="svm-off no-tracing kunit-m debian"
MX=$BUILD/matrix
mxdir=$BCK/matrix-v3
mx_config() {  # mx_config NAME: $MX/NAME/.config at the checked-out commit
	local d=$MX/$1
	mkdir -p "$d"
	if [ "$1" = debian ]; then
		debian_config "$d/.config"
	else
		prep_config "$d"
		case $1 in
		svm-off) "$SRC/scripts/config" --file "$d/.config" -d INTEL_IOMMU_SVM ;;
		no-tracing) "$SRC/scripts/config" --file "$d/.config" -d FTRACE -d PROVE_LOCKING ;;
		kunit-m) "$SRC/scripts/config" --file "$d/.config" -m KUNIT ;;
		esac
	fi
	kmake O="$d" olddefconfig >/dev/null
}
# Prints why $MX/NAME/.config is not what the entry is for, if it is not
# (olddefconfig may have turned an option back on).
mx_wrong() {
	local c=$MX/$1/.config
	grep -qx 'CONFIG_INTEL_IOMMU=y' "$c" || { echo "no CONFIG_INTEL_IOMMU=y"; return 0; }
	case $1 in
	svm-off) ! grep -q '^CONFIG_INTEL_IOMMU_SVM=y' "$c" || echo "CONFIG_INTEL_IOMMU_SVM=y" ;;
	no-tracing) ! grep -qE '^CONFIG_(TRACING|TRACEPOINTS)=y' "$c" || echo "$(grep -E '^CONFIG_(TRACING|TRACEPOINTS)=y' "$c" | tr '\n' ' ')" ;;
	kunit-m) grep -qx 'CONFIG_KUNIT=m' "$c" || echo "CONFIG_KUNIT is not m" ;;
	debian) grep -qx 'CONFIG_INTEL_IOMMU_SVM=y' "$c" || echo "Debian's config without CONFIG_INTEL_IOMMU_SVM=y" ;;
	esac
}
# The entry's input, for the cache key: the series' config (or the
# fragments), or the linux-config-6.1 version.
mx_key() {  # mx_key NAME
	{
		echo "$1"
		if [ "$1" = debian ]; then
			dpkg-query -W -f '${Version}' linux-config-6.1 2>/dev/null || echo none
		elif [ -f "$series_cfg" ]; then cat "$series_cfg"; else cat "$TOP"/configs/*.config; fi
		gcc -dumpfullversion
	} | md5sum | cut -c1-12
}
# Where the entry's result for COMMIT is kept (SIDE: base or series).
mx_file() {  # mx_file NAME SIDE COMMIT
	echo "$mxdir/$1-$2-$(git -C "$TREE" rev-parse "$3^{tree}" | cut -c1-12)-$(mx_key "$1").txt"
}
# W=1 warnings of drivers/iommu/ in $MX/NAME, normalised, to OUT; every
# object compiled again (through ccache) so that every warning prints.
mx_compile() {  # mx_compile NAME OUT
	local d=$MX/$1
	find "$d/drivers/iommu" -name '*.o' -delete 2>/dev/null || true
	if ! kmake O="$d" W=1 -j"$NPROC" drivers/iommu/ > "$2.log" 2>&1; then
		grep -m 5 -E 'error|Error' "$2.log" >&2 || tail -n 3 "$2.log" >&2
		return 1
	fi
	# (Not the host tools' own: make prepares the directory the first
	# time, and bison's notes on scripts/genksyms would be "new" once.)
	grep -E 'warning:' "$2.log" | sed "s|$d/||g" | norm | grep -v '^scripts/' > "$2" || true
	# Nothing compiled would be no warning too.
	find "$d/drivers/iommu" -name '*.o' | wc -l > "$2.objs"
	[ -f "$d/drivers/iommu/intel/iommu.o" ] || { echo "no drivers/iommu/intel/iommu.o compiled" >&2; return 1; }
}
# Objects of drivers/iommu/intel/ in DIR that name a cache_tag tracepoint.
# (grep -c: a grep -q that stops early fails the pipeline.)
tp_objs() {
	local o
	for o in "$1"/drivers/iommu/intel/*.o; do
		[ "$(nm "$o" | grep -c '__tracepoint_cache_tag_')" = 0 ] || echo "${o#"$1"/}"
	done
}
matrix() {
	local name r f what at why bad=() lines=() new t
	debian_config_pkg
	mkdir -p "$mxdir"
	for r in "$base|base|at the base" "$rev|series|with the series"; do
		IFS='|' read -r r what at <<< "$r"
		local co=""
		for name in $MATRIX; do
			f=$(mx_file "$name" "$what" "$r")
			[ ! -f "$f" ] || continue
			[ -n "$co" ] || { "$TOP/scripts/tree.sh" checkout "$r"; co=1; }
			t=$(date +%s)
			mx_config "$name"
			if why=$(mx_wrong "$name") && [ -n "$why" ]; then
				result FAIL matrix check "$name $what: the config is not the entry's ($why): $MX/$name/.config"
				return 0
			fi
			if ! mx_compile "$name" "$f.tmp" 2> "$f.err"; then
				result FAIL matrix check "$name: drivers/iommu/ does not compile $at: $(head -c 200 "$f.err"); $f.tmp.log"
				return 0
			fi
			# The events compile away without tracing; they are there in the others.
			if [ "$name" = no-tracing ] && [ -n "$(tp_objs "$MX/$name")" ]; then
				result FAIL matrix check "no-tracing $what: $(tp_objs "$MX/$name" | head -n 1) names a cache_tag tracepoint"
				return 0
			fi
			mv "$f.tmp.objs" "$f.objs"
			mv "$f.tmp" "$f"
			log "  $name $what: $(cat "$f.objs") objects, $(wc -l < "$f") W=1 warnings in drivers/iommu/, $(( $(date +%s) - t ))s"
		done
	done
	for name in $MATRIX; do
		local bf sf
		bf=$(mx_file "$name" base "$base")
		sf=$(mx_file "$name" series "$rev")
		new=$(comm -13 "$bf" "$sf")
		if [ -n "$new" ]; then
			echo "$new" > "$CK/matrix-$name-new.txt"
			bad+=("$name: $(echo "$new" | wc -l) new, e.g. $(echo "$new" | head -n 1 | cut -c1-100)")
		fi
		lines+=("$name $(wc -l < "$bf")/$(wc -l < "$sf") in $(cat "$bf.objs")/$(cat "$sf.objs") objects")
	done
	if [ ${#bad[@]} = 0 ]; then
		result PASS matrix check "drivers/iommu/ with W=1 in each config, no new warning (warnings at base/with the series, in objects compiled: $(printf '%s, ' "${lines[@]}" | sed 's/, $//')); no-tracing: no object names a cache_tag tracepoint; INTEL_IOMMU_DEBUGFS=y is the w1 check's config"
	else
		result FAIL matrix check "$(printf '%s; ' "${bad[@]}" | sed 's/; $//'): $CK/matrix-*-new.txt"
	fi
}
# The matrix's negative controls: a warning only one entry's config can
# raise (a function used by nothing when SVM is off, added to cache.c at
# the series' head) must show as new in svm-off; and the tracepoint probe
# must find the events in that build, which has tracing.
matrix_control() {
	local f=drivers/iommu/intel/cache.c bf out=$CK/control-matrix.txt tp
	"$TOP/scripts/tree.sh" checkout "$rev"
	bf=$(mx_file svm-off base "$base")
	[ -f "$bf" ] || { result FAIL control:matrix check "no base result for svm-off: the matrix did not run"; return 0; }
	mx_config svm-off
	printf '\n#ifndef CONFIG_INTEL_IOMMU_SVM\nstatic void vtd_matrix_control(void)\n{\n}\n#endif\n' >> "$SRC/$f"
	if ! mx_compile svm-off "$out" 2> "$out.err"; then
		git -C "$SRC" checkout -q -- "$f"
		result FAIL control:matrix check "the control does not compile: $out.log"
		return 0
	fi
	git -C "$SRC" checkout -q -- "$f"
	tp=$(tp_objs "$MX/svm-off" | wc -l)
	if ! comm -13 "$bf" "$out" | grep -q "vtd_matrix_control"; then
		result FAIL control:matrix check "a function unused without SVM, added to $f, was not a new warning in svm-off: $out"
	elif [ "$tp" = 0 ]; then
		result FAIL control:matrix check "the tracepoint probe finds no cache_tag tracepoint in svm-off, which has tracing: it could not fail"
	else
		result PASS control:matrix check "rejected: a function unused without SVM in $f (svm-off: $(comm -13 "$bf" "$out" | grep -m1 -o "warning: .*vtd_matrix_control[^[]*\[[^]]*\]")); the tracepoint probe finds the events in $tp objects of svm-off, which has tracing"
	fi
}
# coccicheck reads only sources: it runs beside the per-patch builds, in a
# worktree of its own, on one CPU (the builds leave one idle while make
# walks the tree and links). compare() below then finds its results; if
# this failed, compare() runs it again and reports why.
cocci_early() {
	local wt=$WORK/cocci-src f c
	# (A worktree of an earlier work/linux, since made anew, is remade.)
	if [ ! -f "$wt/Makefile" ] || ! git -C "$wt" rev-parse -q --verify "$base^{commit}" >/dev/null 2>&1; then
		rm -rf "$wt"
		git -C "$TREE" worktree prune
		git -C "$TREE" worktree add -q --detach "$wt" "$base" || return 1
	fi
	read -r -a f < <(result_files coccicheck)
	for c in "$base:${f[0]}" "$rev:${f[1]}"; do
		[ ! -f "${c#*:}" ] || continue
		git -C "$wt" checkout -q -f --detach "${c%%:*}" && git -C "$wt" clean -q -fd || return 1
		CSRC=$wt CJ=1 cocci_of "${c#*:}.tmp" 2> "${c#*:}.tmp.err" || return 1
		mv "${c#*:}.tmp.info" "${c#*:}.info"
		mv "${c#*:}.tmp" "${c#*:}"
	done
}
cocci_pid=""
if [ -z "${NO_EARLY_COCCI:-}" ]; then
	log "coccicheck, in the background beside the per-patch builds ..."
	cocci_early > "$CK/cocci-early.log" 2>&1 &
	cocci_pid=$!
fi
step "bisect: build every patch" bisect
[ "$STEP_RC" = 0 ] || result FAIL bisect check "the bisect step itself failed (exit $STEP_RC), e.g. a checkout: see the log above"
step "bisect: its negative controls" bisect_control
[ "$STEP_RC" = 0 ] || result FAIL control:bisect check "the control step itself failed (exit $STEP_RC): see the log above"

step "config matrix" matrix
[ "$STEP_RC" = 0 ] || result FAIL matrix check "the matrix step itself failed (exit $STEP_RC): see the log above"
step "config matrix: its negative controls" matrix_control
[ "$STEP_RC" = 0 ] || result FAIL control:matrix check "the control step itself failed (exit $STEP_RC): see the log above"

step sparse compare sparse sparse_of
[ "$STEP_RC" = 0 ] || result FAIL sparse check "the sparse step itself failed (exit $STEP_RC): see the log above"
if [ -n "$cocci_pid" ]; then
	s0=$(date +%s)
	wait "$cocci_pid" || log "coccicheck in the background failed: $(tail -n 1 "$CK/cocci-early.log"); again in the tree"
	log "coccicheck in the background: waited $(( $(date +%s) - s0 ))s for it"
fi
step coccicheck compare coccicheck cocci_of
[ "$STEP_RC" = 0 ] || result FAIL coccicheck check "the coccicheck step itself failed (exit $STEP_RC): see the log above"
