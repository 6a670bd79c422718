#!/usr/bin/env bash
# make bench: DMA map and unmap latency of three kernels side by side under
# the same QEMU: stock 6.1, the series, and upstream's own cache tags
# (Debian's linux-source-6.12). All three are built from configs/vtd.config
# + configs/bench.config: no lock debugging, no KUnit, -O2, SLUB.
#
# The figures come from the kernel's dma_map_benchmark driver, bound to the
# virtio disk (guest step dmbench; the disk has ATS where the profile
# does): map and unmap averages and standard deviations as the tool prints
# them, per profile, thread count and granule.
#   - Counting boots: one per kernel and profile, QEMU tracing its
#     invalidation queue, each run between markers and its unmaps counted
#     in the guest (a kprobe on iommu_unmap_fast): descriptors per unmap,
#     exact.
#   - Perf boots: one per kernel and profile, the driver's DMAR_PERF
#     counters of qi_submit_sync() over 2 s of one thread, 1 page.
#   - Profile boots: one per kernel, legacy-ats: 3 s of one thread, 1 page,
#     under perf record (guest step dmbprof); the report groups the
#     samples by kernel symbol.
#   - Timed boots: QEMU and the kernel trace nothing. BENCH_ROUNDS rounds
#     (5); in each, every profile boots each kernel in turn (A B C A B C
#     ...), so that drift on a shared machine hits all three alike.
#   - The contrast (BENCH_LOCKDEP=1): stock and the series as make test
#     builds them (lockdep on) in the same rounds, on legacy-ats, granule 1.
#   - Before and after (BENCH_BEFORE, a commit of work/linux): that commit
#     with the bench config, in the same rounds, on legacy-ats, sm-cm-ats
#     (caching mode: maps flush too) and sm-fl-ats, granule 1, 1 and 2
#     threads. By default the parent of the commit whose subject begins
#     "iommu/vt-d: Walk the cache tags under RCU" (v1's patch 22), if the
#     series has it. v2 and v3 have none: their flushes walk the tags under
#     RCU from the patch that adds them (v3's patch 9). So there the default
#     finds nothing and this part is skipped; BENCH_BEFORE=<rev> still compares any commit,
#     and BENCH_BEFORE= leaves it out.
#   - Lazy mode: a profile written PROFILE+lazy boots PROFILE with
#     iommu.strict=0 (DMA-FQ, x86's default): unmaps queue their IOVAs
#     and a flush of the whole domain drains the queue. By default
#     legacy-ats (a device TLB) and sm-fl-cm-ats (caching mode; with
#     second-level tables all three kernels force strict mode in caching
#     mode, "IOMMU batching disallowed due to virtualization").
#   - Two devices in one domain (BENCH_PAIR, the bridge profile: two NVMe
#     controllers behind a PCIe-to-PCI bridge): both read at once with
#     O_DIRECT (guest step pairbench), in strict and lazy mode: a counting
#     boot per kernel, then one boot per kernel in each round.
# scripts/benchreport.py then prints the medians with their spread, the
# ratios series/stock and series/6.12 per round (median and range), the
# goals of the performance issue met or missed, and writes bench.md,
# bench.json and bench.png to work/logs/bench/.
#   BENCH_PROFILES ("legacy legacy-ats sm-cm-ats sm-fl-ats legacy-ats+lazy
#   sm-fl-cm-ats+lazy"), BENCH_PAIR ("bridge bridge+lazy"; BENCH_PAIR_IO,
#   "3,4096:131072": runs a boot, request sizes), BENCH_ROUNDS
#   (5), BENCH_SECS (3 s a run), BENCH_THREADS (1:2), BENCH_GRANULES
#   (1:16:512 pages), BENCH_LOCKDEP (1), BENCH_PUBLISH (0; 1: write
#   docs/performance.md and docs/performance.png; BENCH_PAGE=NAME:
#   docs/NAME.md and .png instead, for a run of some profiles only).
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" all
"$TOP/scripts/deps.sh" bench
T0=$(date +%s)
PROFILES=${BENCH_PROFILES-legacy legacy-ats sm-cm-ats sm-fl-ats legacy-ats+lazy sm-fl-cm-ats+lazy}
PAIR=${BENCH_PAIR-bridge bridge+lazy}
PAIR_IO=${BENCH_PAIR_IO:-3,4096:131072}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECS:-3}
THREADS=${BENCH_THREADS:-1:2}
GRANULES=${BENCH_GRANULES:-1:16:512}
LOCKDEP=${BENCH_LOCKDEP:-1}
KERNELS="bench-stock bench-series bench-6.12"
"$TOP/scripts/tree.sh" ensure
BEFORE=${BENCH_BEFORE-$(git -C "$TREE" log --format=%H -1 --grep='^iommu/vt-d: Walk the cache tags under RCU' "$BASE_TAG..HEAD")}
[ -z "$BEFORE" ] || [ -n "${BENCH_BEFORE:-}" ] || BEFORE=$BEFORE^
out=$LOGS/bench
rm -rf "$out"
mkdir -p "$out"
meta=$out/meta
: > "$meta"

s=$(date +%s)
must "fetch and build upstream 6.12" "$TOP/scripts/build.sh" bench-6.12
echo "build_612_s=$(( $(date +%s) - s ))" >> "$meta"
must "build the series (bench config)" "$TOP/scripts/build.sh" bench-series
must "build stock (bench config)" "$TOP/scripts/build.sh" bench-stock
if [ "$LOCKDEP" = 1 ]; then
	must "build the series (lockdep config)" "$TOP/scripts/build.sh" series
	must "build stock (lockdep config)" "$TOP/scripts/build.sh" stock
fi
if [ -n "$BEFORE" ]; then
	must "build the series before $(git -C "$TREE" log -1 --format='%h %s' "$BEFORE")" \
		env REV="$BEFORE" "$TOP/scripts/build.sh" bench-before
fi
must initramfs "$TOP/scripts/initramfs.sh"
{
	for k in $KERNELS; do
		echo "kernel_$k=$(sed -n 's/^kernel=//p' "$BUILD/$k/vtd-info") $(sed -n 's/^debian=//p' "$BUILD/$k/vtd-info") patches=$(sed -n 's/^patches=//p' "$BUILD/$k/vtd-info")"
		echo "absent_$k=$(tr '\n' ' ' < "$BUILD/$k/vtd-options-absent")"
	done
	echo "qemu=$(qemu-system-x86_64 --version | head -n 1)"
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) x $(nproc)"
	echo "commit=$(git -C "$TOP" rev-parse --short HEAD)$(git -C "$TOP" diff --quiet HEAD -- patches scripts guest configs || echo +changes)"
	echo "date=$(date -u '+%F %H:%M UTC')"
	echo "profiles=$PROFILES"
	echo "pair=$PAIR"
	echo "pair_io=$PAIR_IO"
	echo "rounds=$ROUNDS"
	echo "secs=$SECS"
	echo "threads=$THREADS"
	echo "granules=$GRANULES"
	echo "lockdep=$LOCKDEP"
	[ -z "$BEFORE" ] || echo "before=$(git -C "$TREE" log -1 --format='%h %s' "$BEFORE")"
} >> "$meta"

fails=0
# Every boot on the TSC: 6.12 picks it under QEMU, 6.1 falls back to the
# HPET (its TSC calibration fails under TCG), and dma_map_benchmark reads
# the clock around every map and unmap: an emulated MMIO read each in 6.1
# alone. tsc=reliable puts all three kernels on the same clock. No trace
# events either (EVENTS=none: the guest's fallback would record the
# series' and 6.12's cache_tag_* events on every flush).
# PROFILE+lazy: PROFILE in lazy mode (the later iommu.strict= wins).
boot() {  # boot KERNEL_DIR PROFILE LOG APPEND...
	local k=$1 p=${2%+lazy} l=$3 lazy=""
	[ "$p" = "$2" ] || lazy=" iommu.strict=0"
	shift 3
	step "$(basename "$l" .log)" env KERNEL="$BUILD/$k/arch/x86/boot/bzImage" \
		APPEND="$* tsc=reliable$lazy" TIMEOUT=900 "$TOP/scripts/qemu.sh" "$p" "${BOOT_STEPS:-boot,dmbench}" "$l"
	[ "$STEP_RC" = 0 ] || fails=$((fails + 1))
}

# each NAME QTRACE APPEND: every profile boots every kernel, in turn.
each() {
	local p k
	for p in $PROFILES; do
		for k in $KERNELS; do
			QTRACE=$2 EVENTS=none boot "$k" "$p" "$out/$1-$k-$p.log" "$3"
		done
	done
}
# pair NAME QTRACE APPEND: the two-device profiles, every kernel in turn.
pair() {
	local p k
	for p in $PAIR; do
		for k in $KERNELS; do
			QTRACE=$2 EVENTS=none BOOT_STEPS=boot,pairbench boot "$k" "$p" "$out/pair-$1-$k-$p.log" "$3"
		done
	done
}
# Descriptors per unmap: exact, so once per kernel and profile, 1 s a run.
each count 1 "vtddmb=1,1,$GRANULES vtddmbcount=1"
pair count 1 "vtdpair=$PAIR_IO vtdpaircount=1"
# Where the time goes: the driver's own count of the time spent in
# qi_submit_sync() (DMAR_PERF), one thread, one page, untraced.
each perf 0 "vtddmb=2,1,1 vtddmbcount=1 vtddmbperf=1"
# Where the time goes, by kernel symbol: perf's software clock over one
# thread, one page (guest step dmbprof), on legacy-ats, once per kernel.
for k in $KERNELS; do
	QTRACE=0 EVENTS=none BOOT_STEPS=boot,dmbprof boot "$k" legacy-ats "$out/prof-$k-legacy-ats.log"
done
# Latency, in rounds.
for r in $(seq 1 "$ROUNDS"); do
	each "r$r" 0 "vtddmb=$SECS,$THREADS,$GRANULES"
	pair "r$r" 0 "vtdpair=$PAIR_IO"
	if [ -n "$BEFORE" ]; then
		for p in legacy-ats sm-cm-ats sm-fl-ats; do
			for k in bench-before bench-series; do
				QTRACE=0 EVENTS=none boot "$k" "$p" "$out/r$r-ba-$k-$p.log" \
					"vtddmb=$SECS,$THREADS,1"
			done
		done
	fi
	if [ "$LOCKDEP" = 1 ]; then
		for k in stock series; do
			QTRACE=0 EVENTS=none boot "$k" legacy-ats "$out/r$r-lockdep-$k-legacy-ats.log" \
				"vtddmb=$SECS,$THREADS,1 kunit.enable=0"
		done
	fi
done
echo "wall_s=$(( $(date +%s) - T0 ))" >> "$meta"
echo "boot_failures=$fails" >> "$meta"
# BENCH_PUBLISH=1: the result becomes docs/performance.md and .png. The
# report runs on Debian's own python3, which python3-matplotlib serves (a
# python3 earlier in PATH, such as a pyenv one, may not have it).
pub=()
[ "${BENCH_PUBLISH:-0}" != 1 ] || pub=(--docs "$TOP/docs" --page "${BENCH_PAGE:-performance}")
/usr/bin/python3 "$TOP/scripts/benchreport.py" "$out" "${pub[@]}"
