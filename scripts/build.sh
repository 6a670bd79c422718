#!/usr/bin/env bash
# Configure and build one kernel variant:
#   build.sh [series|stock|debug|kcsan|bench-stock|bench-series|bench-before|bench-6.12] [no-kmods]
#   series: $TREE (base + patches/), configs/vtd.config + configs/series.config
#   stock:  the base alone (SERIES=none), configs/vtd.config
#   debug:  the series' commit, + configs/debug.config (sanitizers), compiled
#           from a worktree of its own ($SRC_DEBUG), which leaves $SRC's
#           checkout as it was (make sanitize, make soak)
#   kcsan:  the series' commit, + configs/kcsan.config (KCSAN, which
#           excludes KASAN), from the debug kernel's worktree (make soak
#           builds the two one after the other)
#   bench-stock, bench-series: stock and the series with configs/vtd.config
#           + configs/bench.config (no lock debugging, no KUnit, -O2, SLUB),
#           make bench's kernels
#   bench-before: the same config at REV (a commit of $TREE, required):
#           make bench's "before" of a change to the series
#   bench-6.12: upstream's own cache tags, Debian's linux-source-6.12
#           (scripts/base.sh 6.12), with the same two fragments
# The config is tinyconfig + the fragments; an option of a fragment that does
# not survive olddefconfig fails the build. Output: $BUILD/<variant>/.
# Its callers' parameters: REV (the commit), OUT (the output directory),
# BUILD_LABEL (the log's name); no-kmods: no test modules (build_mutant,
# for a mutant whose guests load none; the variant's own modules go from
# its directory, which its next build makes again).
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" build

var=${1:-$(variant)}
kmods=yes
[ "${2:-}" != no-kmods ] || kmods=no
case $var in
series|stock|debug|kcsan|bench-stock|bench-series|bench-before|bench-6.12) ;;
*) die "usage: build.sh [series|stock|debug|kcsan|bench-stock|bench-series|bench-before|bench-6.12]" ;;
esac
if [ "$var" = bench-6.12 ]; then
	# Not a git tree: Debian's unpacked source, built out of tree as it is.
	src=$("$TOP/scripts/base.sh" 6.12)
	rev=$(cat "$src/.debian-version")
else
	case $var in stock|bench-stock) ;; *) "$TOP/scripts/tree.sh" ensure ;; esac
	if [ "$var" = debug ] || [ "$var" = kcsan ]; then
		export VTD_SRC=$SRC_DEBUG
		SRC=$SRC_DEBUG
	fi
	[ "$var" != bench-before ] || [ -n "${REV:-}" ] || die "build.sh bench-before needs REV=<commit of $TREE>"
	rev=${REV:-$("$TOP/scripts/tree.sh" rev "${var#bench-}")}
	rev=$(git -C "$TREE" rev-parse --verify "$rev^{commit}")
	"$TOP/scripts/tree.sh" checkout "$rev"
	src=$SRC
fi
out=${OUT:-$(build_of "$var")}
mkdir -p "$out" "$LOGS"
mapfile -t frags < <(frags_of "$var")
export KBUILD_BUILD_USER=vtd KBUILD_BUILD_HOST=cache-tags KBUILD_BUILD_TIMESTAMP="2000-01-01"
kmake() { make -s -C "$src" O="$out" CC="ccache gcc" "$@"; }

# A configuration depends on the Kconfig files, the fragments and the
# compiler (Kconfig asks it what it supports): with all three as before,
# the .config made then is reused. (tinyconfig, merge_config.sh and
# olddefconfig take 20-50 s, and a make test configures seven times.)
config_key() {
	{
		if [ "$var" = bench-6.12 ]; then echo "$rev"
		else git -C "$TREE" ls-tree -r "$rev" | grep -E '(^|/)Kconfig[^/]*$|	scripts/kconfig/' || true
		fi
		cat "${frags[@]}"
		gcc --version | head -n 1
		ld --version | head -n 1
	} | md5sum | cut -c1-16
}
configure() {
	local old="" key cached
	key=$(config_key)
	cached=$CACHE/config/$key.config
	[ -f "$out/.config" ] && old=$(mktemp) && cp -p "$out/.config" "$old"
	if [ -f "$cached" ]; then
		cp "$cached" "$out/.config"
	else
		kmake tinyconfig >/dev/null
		"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >/dev/null
		kmake olddefconfig >/dev/null
	fi
	# Each option as the last fragment that names it wants it (bench.config
	# switches off what vtd.config switches on).
	local bad=() line opt
	while read -r line; do
		case $line in
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || bad+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo unset))") ;;
		"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}
			grep -q "^$opt=" "$out/.config" && bad+=("$line") ;;
		esac
	done < <(cat "${frags[@]}" | sed -n -E 's/^(# )?(CONFIG_[A-Z0-9_]+)[= ].*/\2 &/p' |
		awk '{ last[$1] = substr($0, length($1) + 2); if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
		     END { for (i = 1; i <= n; i++) print last[order[i]] }')
	if [ ${#bad[@]} -gt 0 ]; then
		printf '  %s\n' "${bad[@]}" >&2
		die "these options of ${frags[*]##*/} did not survive olddefconfig ($var)"
	fi
	if [ ! -f "$cached" ]; then
		mkdir -p "$CACHE/config"
		cp "$out/.config" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
	fi
	# The fragments' options this kernel's Kconfig does not define (make
	# bench lists them per kernel: 6.1 and 6.12 differ).
	local known
	known=$(mktemp)
	find "$src" -name 'Kconfig*' -not -path '*/Documentation/*' -print0 | xargs -0 sed -n -E 's/^[[:space:]]*(menu)?config[[:space:]]+([A-Z0-9_]+).*/CONFIG_\2/p' | sort -u > "$known"
	cat "${frags[@]}" | sed -n -E 's/^(# )?(CONFIG_[A-Z0-9_]+)[= ].*/\2/p' | sort -u | comm -23 - "$known" > "$out/vtd-options-absent"
	rm -f "$known"
		# Same config as before: keep the old timestamp so make does no extra work.
	if [ -n "$old" ]; then cmp -s "$old" "$out/.config" && touch -r "$old" "$out/.config"; rm -f "$old"; fi
}

compile() {
	local logf=$LOGS/build-${BUILD_LABEL:-$var}.log rc=0 pid s=$(date +%s)
	: > "$logf"
	make -C "$src" O="$out" CC="ccache gcc" -j"$NPROC" bzImage >"$logf" 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		sleep 20
		kill -0 $pid 2>/dev/null || break
		log "  building $var: $(grep -c '^  CC ' "$logf" || true) files compiled, $(( $(date +%s) - s ))s, at: $(grep -E '^  [A-Z]+ ' "$logf" | tail -n 1 | sed 's/^ *//')"
	done
	wait $pid || rc=$?
	if [ $rc != 0 ]; then
		grep -E 'error|Error' "$logf" | head -n 20 >&2
		die "build of $var failed: see $logf"
	fi
	grep -E 'warning:' "$logf" > "$LOGS/build-$var.warnings" || true
}

# The kprobe events (kprobe_event= on the command line) by which the trace
# shows when a device's context or PASID entry goes live, when one is torn
# down and when its ATS is switched on and off, so that vtdlog.py can check
# the order of tagging against them. pci_enable_ats() and pci_disable_ats()
# get a struct pci_dev; its name is that of the struct device embedded at
# an offset that is compiled, asm-offsets style, with this build's own
# flags (the kernel has no debug info to read it from). The functions'
# other arguments need no offset: a struct device starts with its kobject,
# which starts with the name. A context entry is named by its bus and
# devfn (domain_context_mapping_one(iommu, domain, table, bus, devfn) and
# domain_context_clear_one(info, bus, devfn)); intel_pasid_tear_down_entry
# (iommu, dev, pasid, fault_ignore) by its device and PASID.
# The definitions' stamp (probes_stamp: this function's text) is kept
# beside them: a kernel whose probes another definition wrote gets them
# anew, without a rebuild (and a mutant kernel takes its variant's:
# test.sh build_mutant).
probes_stamp() { declare -f probes | md5sum | cut -c1-16; }
probes() {
	local cmd c=$WORK/vtd-offsets.c s=$WORK/vtd-offsets.s off
	cmd=$(head -n 1 "$out/drivers/pci/.ats.o.cmd" | sed -e 's/^cmd_[^ ]* := //' \
		-e 's/ -c -o .*//' -e 's/-Wp,-MMD,[^ ]*//')
	cat > "$c" <<'EOC'
#include <linux/pci.h>
#include <linux/stddef.h>

void vtd_offsets(void);
void vtd_offsets(void)
{
	asm volatile("\n.ascii \"->vtd_pci_dev_dev %c0\"" : : "i" (offsetof(struct pci_dev, dev)));
}
EOC
	(cd "$out" && eval "$cmd -S -o $s $c")
	off=$(sed -n 's/.*->vtd_pci_dev_dev \([0-9]*\).*/\1/p' "$s")
	[ -n "$off" ] || die "no offset of struct pci_dev::dev in $s"
	local ats="+0(+$off(\$arg1)):string"
	printf '%s;' \
		"p:vtd/ats_enable,pci_enable_ats,dev=$ats" \
		"p:vtd/ats_disable,pci_disable_ats,dev=$ats" \
		'p:vtd/entry_live_context,domain_context_mapping_one,bus=$arg4:u8,devfn=$arg5:u8' \
		'p:vtd/entry_live_pasid_fl,intel_pasid_setup_first_level,dev=+0(+0($arg2)):string' \
		'p:vtd/entry_live_pasid_sl,intel_pasid_setup_second_level,dev=+0(+0($arg3)):string' \
		'p:vtd/entry_live_pasid_pt,intel_pasid_setup_pass_through,dev=+0(+0($arg3)):string' \
		'p:vtd/entry_clear_context,domain_context_clear_one,bus=$arg2:u8,devfn=$arg3:u8' \
		'p:vtd/entry_clear_pasid,intel_pasid_tear_down_entry,dev=+0(+0($arg2)):string,pasid=$arg3:u32' \
		| sed 's/;$//' > "$out/arch/x86/boot/vtd-probes"
	probes_stamp > "$out/arch/x86/boot/vtd-probes-stamp"
}

# The functions compiled from drivers/iommu/, by name, next to the kernel:
# the host tells by them whether a sanitizer or kmemleak report involves
# the IOMMU code (vtdlog.py sanitizers). Static functions included; a name
# that other code uses too would count as the IOMMU's.
iommu_syms() {
	nm --defined-only "$out/drivers/iommu/built-in.a" 2>/dev/null |
		awk '$2 ~ /^[tTwW]$/ {print $3}' | sed 's/\.[a-z]*\.[0-9]*$//' | sort -u \
		> "$out/arch/x86/boot/vtd-iommu-syms"
	[ -s "$out/arch/x86/boot/vtd-iommu-syms" ] || die "no function symbols in $out/drivers/iommu/built-in.a"
}

# A kernel with line tables (the kcsan kernel: configs/kcsan.config) keeps
# its vmlinux next to it, with the lines of every function its commit
# changes since the base, whole ("FILE START END", numbered as in its
# tree; the kernel's .gitattributes give git the C function boundaries):
# vtdlog.py sanitizers tells by them a data race of 6.1's own IOMMU code
# from one of the series' (a mutant's lines are its commit's too). Whole
# functions, not changed lines: a lock the series took out of a function
# makes a race on the lines it left.
lines_of() {
	grep -q '^CONFIG_DEBUG_INFO=y' "$out/.config" || return 0
	git -C "$src" diff --function-context --no-renames "$BASE_TAG" HEAD | awk '
		/^\+\+\+ / { f = ($2 == "/dev/null") ? "" : substr($2, 3); next }
		/^@@ / && f != "" {
			split($3, a, ","); s = substr(a[1], 2); n = (2 in a) ? a[2] : 1
			if (n > 0) print f, s, s + n - 1
		}' > "$out/arch/x86/boot/vtd-series-lines"
	[ -s "$out/arch/x86/boot/vtd-series-lines" ] || die "no lines of the series in $src"
	cp "$out/vmlinux" "$out/arch/x86/boot/vtd-vmlinux"
}

# The harness's test modules (tests/kmod/, built with W=1 against this
# kernel when it has modules; tests/kmod/Kbuild picks them by its config):
#   vtd_failnth_scope  fail-nth counted inside the IOMMU bus notifiers, for
#                      the guest's failnth-hotadd step (fault injection)
#   vtd_realflush      a KUnit suite whose cases unmap a real device's DMA,
#                      for the guest's realflush step (KUnit)
# They go next to the kernel, where qemu.sh finds them for the guest's
# /lib. modules_prepare makes the module linker script, and Module.symvers
# is vmlinux's (only bzImage is built: no modules of its own).
kmod_stamp() { cat "$TOP"/tests/kmod/* | md5sum | cut -c1-16; }
kmods() {
	local m=$WORK/kmod/$var
	# For the series' kernels (series, its mutants, debug, kcsan); stock's
	# directory, when stock was built in the series', holds no build.
	case $var in stock|bench-*) return 0 ;; esac
	grep -q '^CONFIG_MODULES=y' "$out/.config" || return 0
	rm -f "$out"/arch/x86/boot/*.ko
	rm -rf "$m"
	mkdir -p "$m"
	cp "$TOP"/tests/kmod/* "$m/"
	kmake modules_prepare
	cp "$out/vmlinux.symvers" "$out/Module.symvers"
	if ! kmake M="$m" W=1 modules > "$m/build.log" 2>&1 || grep -q 'warning:' "$m/build.log"; then
		cat "$m/build.log" >&2
		return 1
	fi
	! compgen -G "$m/*.ko" >/dev/null || cp "$m"/*.ko "$out/arch/x86/boot/"
	kmod_stamp > "$out/arch/x86/boot/vtd-kmod-stamp"
}

# The same commit and fragments as the last build of this variant: reuse it.
stamp=$(build_stamp "$var" "$rev")
if [ -f "$out/arch/x86/boot/bzImage" ] && [ "$(cat "$out/vtd-stamp" 2>/dev/null)" = "$stamp" ]; then
	log "build $var: up to date ($( [ "$var" = bench-6.12 ] && echo "Debian $rev" || git -C "$src" log -1 --format='%h %s' "$rev"))"
	# (A kernel built before the probes existed, or before their last
	# change, gets them now.)
	[ "$(cat "$out/arch/x86/boot/vtd-probes-stamp" 2>/dev/null)" = "$(probes_stamp)" ] ||
		[ ! -f "$out/drivers/pci/.ats.o.cmd" ] || [[ $var == bench-* ]] ||
		must "kprobe events for $var" probes
	[ -f "$out/arch/x86/boot/vtd-iommu-syms" ] || [ ! -f "$out/drivers/iommu/built-in.a" ] ||
		must "IOMMU symbols of $var" iommu_syms
	[ -f "$out/arch/x86/boot/vtd-series-lines" ] || [[ $var == bench-* ]] ||
		must "source lines of $var" lines_of
	[ "$(cat "$out/arch/x86/boot/vtd-kmod-stamp" 2>/dev/null)" = "$(kmod_stamp)" ] || [[ $var == bench-* ]] ||
		must "test module for $var" kmods
	exit 0
fi
# Stock differs from the series in a few files and one config option: when
# the series has been built, stock is built in the series' output
# directory, where only those files recompile, and its kernel is kept in
# its own directory; then the series is built back, the same few files.
# (A copy of the series' build directory would not do: kbuild rebuilt all
# of it.)
# (bench-stock likewise in bench-series'.)
case $var in stock|bench-stock) ser=${var%stock}series ;; *) ser="" ;; esac
if [ -n "$ser" ] && [ -z "${OUT:-}" ] && [ -f "$BUILD/$ser/vtd-stamp" ]; then
	log "build $var in the $ser output directory (only what differs recompiles)"
	OUT=$BUILD/$ser BUILD_LABEL=$var REV=$rev "$0" "$var"
	rm -rf "$out"
	mkdir -p "$out/arch/x86/boot"
	cp "$BUILD/$ser/arch/x86/boot/bzImage" "$BUILD/$ser/arch/x86/boot/vtd-"* "$out/arch/x86/boot/"
	cp "$BUILD/$ser/.config" "$BUILD/$ser/vtd-info" "$BUILD/$ser/vtd-stamp" "$BUILD/$ser/vtd-options-absent" "$out/"
	log "$var kernel: $out/arch/x86/boot/bzImage; building $ser back"
	OUT= REV= BUILD_LABEL= "$0" "$ser"
	exit 0
fi
rm -f "$out/vtd-stamp"
must "configure $var" configure
# make deb builds with its own tool (bindeb-pkg) from this configuration.
[ -n "${CONFIG_ONLY:-}" ] && exit 0
must "build $var (ccache, -j$NPROC)" compile
# (make bench's kernels trace nothing.)
[[ $var == bench-* ]] || must "kprobe events for $var" probes
must "IOMMU symbols of $var" iommu_syms
[[ $var == bench-* ]] || must "source lines of $var" lines_of
if [ $kmods = no ]; then
	rm -f "$out"/arch/x86/boot/*.ko "$out/arch/x86/boot/vtd-kmod-stamp"
elif [[ $var != bench-* ]]; then
	must "test module for $var" kmods
fi
echo "$stamp" > "$out/vtd-stamp"
if [ "$var" = bench-6.12 ]; then
	printf 'variant=%s\ndebian=%s\nkernel=%s\npatches=0\n' "$var" "$rev" "$(make -s -C "$src" kernelversion)" > "$out/vtd-info"
	log "kernel: $out/arch/x86/boot/bzImage"
	exit 0
fi
{
	echo "variant=$var"
	echo "debian=$(cat "$TREE/.debian-version" 2>/dev/null || echo unknown)"
	echo "kernel=$(make -s -C "$src" kernelversion)"
	echo "head=$(git -C "$src" rev-parse --short HEAD)"
	# An "uncommitted changes" commit (tree.sh rev) is not a patch.
	echo "patches=$(git -C "$src" log --format=%s "$BASE_TAG..HEAD" | grep -vc '^uncommitted changes of ' || true)"
	[ "$(git -C "$src" log --format=%s "$BASE_TAG..HEAD" | grep -c '^uncommitted changes of ' || true)" = 0 ] ||
		echo "uncommitted=yes"
	git -C "$src" log --reverse --format='patch=%s' "$BASE_TAG..HEAD" | grep -v '^patch=uncommitted changes of ' || true
} > "$out/vtd-info"
log "kernel: $out/arch/x86/boot/bzImage"
