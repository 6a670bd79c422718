#!/usr/bin/env bash
# make test: every check, one line per test, closing with "N passed, N failed".
#   test.sh          build, boot every profile, KUnit, guest steps, static checks
#   test.sh check    static checks only (make check)
# Sourced with VTD_TEST_LIB=1, it defines its functions and runs nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/boots.sh"
mode=${1:-all}
var=$(variant)
PROFILES=${PROFILES:-$PROFILES_ALL}
# The boot-time suite that drives the emulated IOMMU into queue errors
# (patch 4) runs in the first profile (128-bit descriptors) and again in
# the one whose plan row filters for it (sm-fl: 256-bit descriptors).
IQE_SUITE=intel_iommu_qi_errors
# Profiles whose workload counts are compared against stock 6.1.
COMPARE=${COMPARE:-legacy legacy-ats sm-cm-ats sm-fl sm-fl-ats sm-fl-cm-ats}

# report_expected KERNEL MUTANT PROFILE: a negative control's report, the
# one its row's expectation names (report_mutant_vfio for "mutant-vfio:
# ..."), given the mutant, the profile and the expectation's text.
report_expected() {
	local expect fn
	expect=$(plan_get "$1" "$3" expect)
	fn=report_${expect%%:*}
	fn=${fn//-/_}
	if ! declare -F "$fn" >/dev/null; then
		result FAIL plan "$3,$2" "the plan expects '${expect%%:*}' of $1, which no report_ function checks"
		return
	fi
	"$fn" "$2" "$3" "${expect#*: }"
}

# guest_ktap LOG TAG: the guest's own KTAP (its "@@VTD " lines, the VFIO
# selftest nested in them) as the tree's kunit.py parse reads it, which
# must agree with the guest: exit 0 if no result failed, else non-zero.
# A log with no nested test checked nothing. Control: a copy with the
# nested selftest's first passed result failed, which it must reject.
guest_ktap() {
	local logf=$1 tag=$2 k kunit=$TREE/tools/testing/kunit/kunit.py rc n nested nfail
	k=$LOGS/guest-ktap-${tag//,/-}.ktap
	{ python3 "$TOP/scripts/vtdlog.py" console-lines "$logf" || true; } | sed -n 's/^@@VTD //p' > "$k"
	n=$(grep -c '^ *\(not \)\?ok ' "$k" || true)
	nested=$(grep -c '^    \(not \)\?ok ' "$k" || true)
	nfail=$(grep -c '^ *not ok ' "$k" || true)
	rc=0; python3 "$kunit" parse "$k" > "$k.out" 2>&1 || rc=$?
	if [ "$nested" = 0 ]; then
		result FAIL guest-ktap "$tag" "no nested selftest in the guest's KTAP, nothing to check: $k"
	elif { [ "$nfail" = 0 ] && [ "$rc" = 0 ]; } || { [ "$nfail" != 0 ] && [ "$rc" != 0 ]; }; then
		result PASS guest-ktap "$tag" "kunit.py parse read the guest's KTAP ($n results, $nested of them the nested selftest's) and exited $rc ($nfail failed)"
	else
		result FAIL guest-ktap "$tag" "kunit.py parse exited $rc on the guest's KTAP, which holds $nfail failure(s): $k.out"
	fi
	if ! awk '!d && /^    ok [0-9]+ / && !/# SKIP/ {sub(/^    ok/, "    not ok"); d=1} {print} END {exit !d}' "$k" > "$k.doctored"; then
		result FAIL control:guest-ktap "$tag" "no passed nested result in $k to turn into a failure"
	elif python3 "$kunit" parse "$k.doctored" > "$k.doctored.out" 2>&1; then
		result FAIL control:guest-ktap "$tag" "kunit.py parse exited 0 on $k.doctored, whose nested selftest has a failure"
	else
		result PASS control:guest-ktap "$tag" "kunit.py parse rejected a copy with one of the nested selftest's results failed"
	fi
}

compare_counts() {  # series vs stock on the fixed workload, both booted in this run
	local p=$1 st name det
	for v in series stock; do
		if [ "$(guest_end "$LOGS/$v/$p.log" rc)" != 0 ]; then
			result FAIL batching "$p" "the $v guest of this run did not finish: nothing to compare"
			return
		fi
	done
	{ echo "counts $p series: $(python3 "$TOP/scripts/vtdlog.py" counts "$LOGS/series/$p.log" workload | cut -f2-)"
	  echo "counts $p stock:  $(python3 "$TOP/scripts/vtdlog.py" counts "$LOGS/stock/$p.log" workload | cut -f2-)"
	} >> "$LOGS/counts.txt"
	while IFS=$'\t' read -r st name det; do
		result "$st" "$name" "$p" "$det"
	done < <(python3 "$TOP/scripts/vtdlog.py" batching "$LOGS/series/$p.log" "$LOGS/stock/$p.log")
	# Negative control: the same comparison fed stock's counts as the
	# series' must not pass batching, where stock has something to batch.
	# (Read into a variable first: "| grep -q" under pipefail fails the
	# pipeline whenever the reader stops early, which once made this
	# control FAIL on a correct result.)
	local ctl
	ctl=$(python3 "$TOP/scripts/vtdlog.py" batching "$LOGS/stock/$p.log" "$LOGS/stock/$p.log") ||
		ctl="vtdlog.py batching exited $?"
	if grep -q $'^SKIP\tbatching' <<< "$ctl"; then
		return
	fi
	if grep -q $'^FAIL\tbatching' <<< "$ctl"; then
		result PASS control:batching "$p" "tripped: stock's counts given as the series' FAIL the batching check"
	else
		result FAIL control:batching "$p" "stock's counts given as the series' did not FAIL the batching check: $(echo "$ctl" | tr '\t\n' ' ;' | cut -c1-150)"
	fi
}

# The negative-control kernels: the series plus one tests/mutants/NAME.patch
# each (not part of the series), and the guests that must catch them:
#   skip-iotlb-sync-flush  no IOTLB flush after an unmap: the VFIO
#                          selftest's stale-IOTLB oracle and trace test on
#                          a second-level (vfio) and a first-level
#                          (vfio-sm-fl) domain, and DMA integrity on a
#                          first-level DMA domain (sm-fl-ats)
#   drop-piotlb            first-level flushes lose only their PASID-based
#                          IOTLB descriptor: the oracle on vfio-sm-fl, and
#                          DMA integrity on sm-fl-ats
#   iqe-first-only         qi_check_fault() as in 6.1 (patch 3 reverted):
#                          the queue error suite on legacy must fail
#   rcu-no-grace           an unassign frees the tags it unlinked without
#                          waiting for the flushes walking them under RCU:
#                          the KUnit case unassign_waits_for_a_flush_in_progress
#                          on legacy must fail
#   devtlb-no-wait         a new device-TLB tag is published without waiting
#                          for the walks in flight: the KUnit case
#                          devtlb_assign_waits_for_a_flush_in_progress on
#                          legacy must fail
#   ats-first              both detach paths in 6.1's order (the tags
#                          unassigned and ATS disabled first, then the entry
#                          torn down, its device-TLB flush skipped):
#                          attach-order must fail with rule (a) on every ATS
#                          disable of one hot-unplug and the domain switches,
#                          on legacy-ats (context entries, both paths) and
#                          sm-fl-ats (PASID entries)
#   kunit-swallow          v1's test hook: a submission made while
#                          current->kunit_test is set is dropped: the
#                          realflush check on legacy must fail (no IOTLB
#                          invalidation of either case's IOVA reaches QEMU)
MUTANTS=${MUTANTS:-skip-iotlb-sync-flush drop-piotlb iqe-first-only rcu-no-grace devtlb-no-wait ats-first kunit-swallow}
build_mutants() {
	local m rc=0
	rm -f "$BUILD/mutant.rebuilt" "$BUILD"/mutant-*.failed
	for m in $MUTANTS; do
		step "build the mutant kernel $m" build_mutant "$m"
		[ "$STEP_RC" = 0 ] || { rc=1; touch "$BUILD/mutant-$m.failed"; }
	done
	# The stock build that follows ends with the series built back.
	if { [ -f "$BUILD/mutant.rebuilt" ] || [ $rc != 0 ]; } && [ -n "${NO_STOCK:-}" ]; then
		step "build the series back" "$TOP/scripts/build.sh" series
		[ "$STEP_RC" = 0 ] || result FAIL build series "building the series back after the mutants failed: see the log above"
	fi
}
# The stale-IOTLB oracle and the trace-coverage test must fail on it.
report_mutant_vfio() {
	local m=$1 p=$2 logf=$LOGS/mutant-$1/$2.log kst oracle trace stale
	if [ "$(guest_end "$logf" rc)" = 124 ] || [ ! -s "$logf" ]; then
		result FAIL control:mutant-oracle "$p,$m" "the mutant guest hung or did not run: $logf"
		return
	fi
	kst=$(python3 "$TOP/scripts/vtdlog.py" kselftest "$logf")
	oracle=$(echo "$kst" | awk -F'\t' '$2 == "vfio_edu.stale_iotlb_oracle" {print $1}')
	trace=$(echo "$kst" | awk -F'\t' '$2 == "vfio_edu.unmap_is_flushed_on_the_domain_tags" {print $1}')
	stale=$(python3 -c 'import re, sys; sys.path.insert(0, sys.argv[1]); import vtdlog
m = [re.search(r"stale_iotlb_oracle:(\d+) remap cycles, (\d+) stale reads", l) for l in vtdlog.console(sys.argv[2])]
m = [x for x in m if x]
print("%s of %s" % (m[0].group(2), m[0].group(1)) if m else "")' "$TOP/scripts" "$logf")
	if [ "$oracle" = FAIL ] && [ -n "$stale" ] && [ "${stale%% *}" -gt 0 ]; then
		result PASS control:mutant-oracle "$p,$m" "tripped: the stale-IOTLB oracle read $stale cycles stale and failed"
	else
		result FAIL control:mutant-oracle "$p,$m" "the oracle did not fail on the mutant (result ${oracle:-none}, stale reads '${stale:-none}'): $logf"
	fi
	# The trace test sees flush events, which drop-piotlb still fires.
	[ "$m" = skip-iotlb-sync-flush ] || return 0
	if [ "$trace" = FAIL ]; then
		result PASS control:mutant-trace "$p,$m" "tripped: the selftest's trace-coverage test failed on the mutant"
	else
		result FAIL control:mutant-trace "$p,$m" "the trace-coverage test did not fail on the mutant (result ${trace:-none}): $logf"
	fi
}
# The debug kernel (configs/debug.config: KASAN, UBSAN, kmemleak,
# DEBUG_OBJECTS, fault injection) on the profiles with the most churn:
# hot-unplug rounds, suspend, domain switches (legacy-ats) and VFIO remap
# cycles (vfio, a 200-cycle oracle), each ending in a kmemleak scan;
# KUnit runs in the first. legacy-ats also fails each allocation of its
# group type switches in turn (failnth-switch) and the first allocation
# of each site of the IOMMU's part of a disk hot-add (failnth-hotadd,
# vtdhotadd=sites: make soak's hotadd part fails each one), vfio each of
# its VFIO_SET_IOMMU (failnth-vfio). It is built from a worktree of its own, niced, in the background
# from the start: it takes the CPU the guests leave idle. Then its
# mutants, which only a sanitizer or the fault check catches, each booted on legacy-ats:
#   leak-tag        a tag whose last user goes is never freed: kmemleak
#                   must list it, allocated through drivers/iommu (booted
#                   through the domain switches)
#   uaf-tag         the unassign reads the tag it has just freed: KASAN
#                   must report a use-after-free there (the same)
#   leak-on-enomem  cache_tag_assign() does not free the tag when its
#                   reference cannot be allocated: kmemleak must list it
#                   after the failnth-switch step, which fails that
#                   allocation in the live attach path
#   release-null    patch 1 reverted: a device whose group could not be
#                   made is torn down as if attached; failnth-hotadd
#                   fails that group's allocation, and the guest must
#                   oops there (KASAN: null-ptr-deref in
#                   intel_iommu_release_device's path)
# (sm-fl-ats, first level, is left out of make test's budget: it adds no
# churn legacy-ats lacks; DEBUG_PROFILES="legacy-ats sm-fl-ats vfio" runs it.)
DEBUG_PROFILES=${DEBUG_PROFILES:-legacy-ats vfio}
DEBUG_MUTANTS=${DEBUG_MUTANTS:-leak-tag uaf-tag leak-on-enomem release-null}
debug_chain() {
	local p m first=1 append rc
	mkdir -p "$LOGS/debug"
	# The builds niced, so that the foreground goes first; the guests not:
	# a niced guest beside a kernel build all but stops.
	set +e
	(renice -n 10 -p $BASHPID >/dev/null; exec "$TOP/scripts/build.sh" debug) > "$LOGS/debug/build.out" 2>&1
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		touch "$LOGS/debug/build.failed"
		return
	fi
	freeze_kernel debug
	while [ ! -f "$WORK/.initramfs.ready" ]; do
		[ ! -f "$WORK/.initramfs.failed" ] || { touch "$LOGS/debug/no-initramfs"; return; }
		sleep 2
	done
	for p in $DEBUG_PROFILES; do
		plan_boot debug debug "$p" "$([ $first = 0 ] && echo none || echo all)" &
		first=0
	done
	for m in $DEBUG_MUTANTS; do
		# (Not "if ! ...": bash switches errexit off for what a
		# condition runs, and build_mutant relies on it.)
		set +e
		(set -e; renice -n 10 -p $BASHPID >/dev/null; build_mutant "$m" debug) >> "$LOGS/debug/build.out" 2>&1
		rc=$?
		set -e
		if [ $rc != 0 ]; then
			touch "$LOGS/debug/mutant-$m.failed"
			continue
		fi
		while IFS=$US read -r p _; do
			plan_boot "debug-mutant:$m" "mutant-$m" "$p" < /dev/null &
		done < <(plan_rows "debug-mutant:$m")
	done
	# The debug kernel back in its directory: a later make test finds it,
	# and the mutants, up to date.
	(renice -n 10 -p $BASHPID >/dev/null; exec "$TOP/scripts/build.sh" debug) >> "$LOGS/debug/build.out" 2>&1 ||
		touch "$LOGS/debug/build-back.failed"
	wait
}
report_debug() {
	local p m first syms=$WORK/kernels/debug/vtd-iommu-syms
	if [ -f "$LOGS/debug/build.failed" ]; then
		result FAIL build debug "the debug kernel did not build: $(grep -m1 -E 'ERROR|error' "$LOGS/debug/build.out" | cut -c1-120); $LOGS/debug/build.out"
		return
	fi
	if [ -f "$LOGS/debug/no-initramfs" ]; then
		result FAIL boot debug "no guest image to boot the debug kernel with"
		return
	fi
	result PASS build debug "$(sed -n 's/^patches=//p' "$WORK/kernels/debug/vtd-info") patches, with configs/debug.config (KASAN, UBSAN, kmemleak, DEBUG_OBJECTS)"
	[ ! -f "$LOGS/debug/build-back.failed" ] ||
		result FAIL build debug "building the debug kernel back after its mutants failed: $LOGS/debug/build.out"
	first=1
	for p in $DEBUG_PROFILES; do
		report_guest debug "$p" "$(debug_steps "$p")"
		if [ $first = 1 ]; then
			kunit_results "$LOGS/debug/$p.log" debug
			iqe_matrix "$LOGS/kunit-debug.json" "$p,debug"
		fi
		first=0
		vtdlog_result sanitizers "$p,debug" sanitizers "$LOGS/debug/$p.log" "$syms"
	done
	for m in $DEBUG_MUTANTS; do
		while IFS=$US read -r p _; do
			report_expected "debug-mutant:$m" "$m" "$p"
		done < <(plan_rows "debug-mutant:$m")
	done
}
# The hot-add mutant: the fault check must reject its guest, and for the
# oops the mutant causes: a KASAN null-ptr-deref with
# intel_iommu_release_device() on the stack (6.1's
# dmar_remove_one_dev_info() on a device with no domain).
report_mutant_oops() {
	local m=$1 p=$2 logf=$LOGS/mutant-$1/$2.log out
	if [ -f "$LOGS/debug/mutant-$m.failed" ]; then
		result FAIL control:mutant-oops "$p,$m" "the mutant kernel did not build: $LOGS/debug/build.out"
	elif [ ! -s "$logf" ] || [ "$(guest_end "$logf" rc)" = 124 ]; then
		result FAIL control:mutant-oops "$p,$m" "the mutant guest hung or did not run: $logf"
	elif out=$(python3 "$TOP/scripts/vtdlog.py" faults "$logf" || echo "error	vtdlog.py faults failed"); [ -z "$out" ]; then
		result FAIL control:mutant-oops "$p,$m" "the fault check accepted the mutant: $logf"
	elif ! awk '/KASAN: null-ptr-deref/ { on = 1 } on && /intel_iommu_release_device/ { f = 1 }
		/Kernel panic/ { on = 0 } END { exit !f }' "$logf"; then
		result FAIL control:mutant-oops "$p,$m" "rejected, but not for a null dereference in intel_iommu_release_device()'s path: $(echo "$out" | head -n 1 | cut -c1-150)"
	else
		result PASS control:mutant-oops "$p,$m" "tripped: $(grep -a -m1 -o 'KASAN: null-ptr-deref.*' "$logf" | cut -c1-80), intel_iommu_release_device() on the stack; the fault check: $(echo "$out" | head -n 1 | cut -c1-100)"
	fi
}
# A sanitizer mutant: the sanitizers check must reject its guest, for the
# reason the mutant was made for.
report_mutant_sanitizer() {  # MUTANT PROFILE EXPECTATION ("TOOL reports ...")
	local m=$1 p=$2 logf=$LOGS/mutant-$1/$2.log out want=${3%% *} hit
	if [ -f "$LOGS/debug/mutant-$m.failed" ]; then
		result FAIL control:mutant-sanitizer "$p,$m" "the mutant kernel did not build: $LOGS/debug/build.out"
		return
	fi
	if [ ! -s "$logf" ] || [ "$(guest_end "$logf" rc)" = 124 ]; then
		result FAIL control:mutant-sanitizer "$p,$m" "the mutant guest hung or did not run: $logf"
		return
	fi
	if out=$(python3 "$TOP/scripts/vtdlog.py" sanitizers "$logf" "$BUILD/mutant-$m/vtd-iommu-syms" 2>&1); then
		result FAIL control:mutant-sanitizer "$p,$m" "the sanitizers check accepted the mutant: $(echo "$out" | head -n 1 | cut -c1-150)"
	elif hit=$(grep -m1 $'^violation\t'"$want:" <<< "$out"); then
		result PASS control:mutant-sanitizer "$p,$m" "tripped: ${hit#violation$'\t'}"
	else
		# What it was rejected for instead (or, with no violation line,
		# how the check failed: its output, stderr included).
		local why
		why=$(sed -n 's/^violation\t//p' <<< "$out" | head -n 3 | tr '\n' ';')
		result FAIL control:mutant-sanitizer "$p,$m" "rejected, but with no $want violation: $(cut -c1-300 <<< "${why:-the check failed: $(tail -n 1 <<< "$out")}"); $logf"
	fi
}

# DMA integrity on a first-level domain must fail on it: dio (the pattern
# read back through O_DIRECT) not ok, or the disk's DMA broken outright:
# QEMU's virtio stops the device when it reads a ring through a stale
# translation ("virtio: zero sized buffers are not allowed", "Guest says
# index N is available"), and the guest's I/O then never completes.
VIRTIO_BROKEN='qemu-system-x86_64: (virtio: .*|Guest says index .*)$'
# The queue error suite on a kernel without the fix: it must run and fail.
report_mutant_iqe() {
	local m=$1 p=$2 json=$LOGS/mutant-$1/$2.kunit.json out
	kunit_json "$LOGS/mutant-$m/$p.log" "$json" || true
	out=$(python3 "$TOP/scripts/vtdlog.py" iqe-matrix "$json")
	case $out in
	FAIL*failed:*) result PASS control:mutant-iqe "$p,$m" "tripped: ${out#FAIL$'\t'}" ;;
	FAIL*) result FAIL control:mutant-iqe "$p,$m" "the suite did not run on the mutant: ${out#FAIL$'\t'}" ;;
	*) result FAIL control:mutant-iqe "$p,$m" "the queue error suite passed on a kernel without the fix: ${out#*$'\t'}" ;;
	esac
}

# The RCU walk's KUnit cases on a kernel whose unassign (rcu-no-grace) or
# device-TLB assign (devtlb-no-wait) does not wait for the walks in flight:
# the case must run and fail (a SKIP, its thread never started, is no
# proof).
report_mutant_rcu() {  # MUTANT PROFILE EXPECTATION
	local m=$1 p=$2 json=$LOGS/mutant-$1/$2.kunit.json st kcase what
	# The case: the one the row's command line filters for; what the
	# mutant does: as the row's expectation says it.
	kcase=$(plan_get "series-mutant:$m" "$p" append | sed -n 's/.*kunit.filter_glob=\([^ ]*\).*/\1/p')
	what=${3#*on a kernel that }
	kunit_json "$LOGS/mutant-$m/$p.log" "$json" || true
	st=$(python3 - "$json" "${kcase#*.}" <<'PY' 2>/dev/null || echo "no KUnit results"
import json, sys
def cases(g):
    for c in g.get('test_cases', []):
        yield c
    for s in g.get('sub_groups', []):
        yield from cases(s)
found = [c['status'] for c in cases(json.load(open(sys.argv[1]))) if c['name'] == sys.argv[2]]
print(found[0] if found else 'not run')
PY
)
	case $st in
	FAIL) result PASS control:mutant-rcu "$p,$m" "tripped: ${kcase#*.} failed on a kernel that $what" ;;
	PASS) result FAIL control:mutant-rcu "$p,$m" "${kcase#*.} passed on a kernel that $what" ;;
	*) result FAIL control:mutant-rcu "$p,$m" "${kcase#*.} did not run to a verdict on the mutant ($st): $LOGS/mutant-$m/$p.log" ;;
	esac
}

# The detach order on a kernel that switches ATS off before it tears the
# entry down: attach-order must reject the guest, and for rule (a) at
# every ATS disable (one hot-unplug: dmar_remove_one_dev_info(); the
# domain switches: device_block_translation()). A trace without the
# teardown events fails as "nothing was checked", which is no trip.
report_mutant_order() {
	local m=$1 p=$2 logf=$LOGS/mutant-$1/$2.log out nd na nt
	if [ ! -s "$logf" ] || [ "$(guest_end "$logf" rc)" = 124 ]; then
		result FAIL control:mutant-order "$p,$m" "the mutant guest hung or did not run: $logf"
		return
	fi
	if out=$(python3 "$TOP/scripts/vtdlog.py" order "$logf"); then
		result FAIL control:mutant-order "$p,$m" "attach-order accepted a kernel that disables ATS before the teardown: $(echo "$out" | head -n 1)"
		return
	fi
	read -r nd na nt < <(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import vtdlog
n = vtdlog.order(sys.argv[2])[1]
print(n["ats-disable"], n["disable-before-teardown"], n["teardowns"])' "$TOP/scripts" "$logf" || echo 0 0 0)
	if [ "${nd:-0}" -gt 0 ] && [ "$na" = "$nd" ] && [ "${nt:-0}" -gt 0 ]; then
		result PASS control:mutant-order "$p,$m" "tripped: all $nd ATS disables came before their entry's teardown (rule (a); $nt teardowns traced): $(echo "$out" | sed -n 's/^violation\t//; 2p' | cut -c1-100)"
	else
		result FAIL control:mutant-order "$p,$m" "rejected, but rule (a) caught ${na:-0} of ${nd:-0} ATS disables (${nt:-0} teardowns traced): $(echo "$out" | sed -n 's/^violation\t//; 2p' | cut -c1-120)"
	fi
}

report_mutant_dio() {
	local m=$1 p=$2 logf=$LOGS/mutant-$1/$2.log rc dio broken hang
	rc=$(guest_end "$logf" rc)
	dio=$(python3 "$TOP/scripts/vtdlog.py" tap "$logf" 2>/dev/null | awk -F'\t' '$2 == "dio" {print $1 "\t" $3; exit}')
	broken=$(grep -a -m1 -E "$VIRTIO_BROKEN" "$logf" 2>/dev/null || true)
	if [ "${dio%%$'\t'*}" = FAIL ]; then
		result PASS control:mutant-dio "$p,$m" "tripped: dio failed on a first-level domain: $(echo "${dio#*$'\t'}" | cut -c1-110)"
	elif [ -z "$dio" ] && [ -n "$broken" ]; then
		result PASS control:mutant-dio "$p,$m" "tripped: the disk's DMA broke before dio could finish (guest exit $rc): ${broken#qemu-system-x86_64: }"
	elif [ -z "$dio" ] && [ "$(guest_end "$logf" how)" = silent ] && hang=$(python3 "$TOP/scripts/vtdlog.py" hang "$logf") &&
		[[ $hang == *"NMI: CPU 0 in default_idle_call"* && $hang == *"D state: "*dmaio* ]]; then
		# The disk's I/O never completed: the guest sat idle, its reader
		# in D state, until the watchdog's NMI (seen once, on a loaded
		# machine, instead of QEMU's virtio messages).
		result PASS control:mutant-dio "$p,$m" "tripped: the disk's I/O never completed: dmaio in D state, the guest idle until the watchdog: $(echo "$hang" | grep -o 'no console output for [0-9]*s')"
	elif [ -z "$dio" ]; then
		result FAIL control:mutant-dio "$p,$m" "the mutant guest gave no dio result and QEMU reported no broken device (exit $rc): $logf"
	else
		result FAIL control:mutant-dio "$p,$m" "dio did not fail on the mutant: ${dio%%$'\t'*}: $logf"
	fi
}

# The superpage check, on the series kernel booted with intel_iommu=sp_off:
# the same 2 MiB unmaps on 4 KiB pages free a page table, so QEMU sees no
# invalidation hint, and the check must reject the run for that.
superpage_control() {
	local logf=$LOGS/control/sm-fl-ats-sp_off.log out rc=0
	mkdir -p "$LOGS/control"
	KERNEL=$WORK/kernels/series/bzImage APPEND=$(boot_append "$(plan_get control sm-fl-ats append)") \
		TIMEOUT=300 "$TOP/scripts/qemu.sh" sm-fl-ats "$(plan_get control sm-fl-ats steps)" "$logf" || rc=$?
	if out=$(python3 "$TOP/scripts/vtdlog.py" superpage "$logf"); then
		result FAIL control:superpage sm-fl-ats "the check accepted a run with superpages off (intel_iommu=sp_off): $(echo "$out" | head -n 1)"
	elif grep -q 'without the invalidation hint' <<< "$out"; then
		result PASS control:superpage sm-fl-ats "tripped: with intel_iommu=sp_off, $(grep -c 'without the invalidation hint' <<< "$out") of the 2 MiB unmaps listed have no invalidation hint (4 KiB pages): rejected"
	else
		result FAIL control:superpage sm-fl-ats "rejected, but not for the missing hint (guest exit $rc): $(echo "$out" | sed -n 2p | cut -c1-120)"
	fi
}

# Real flushes during KUnit cases: the harness's module (tests/kmod/
# vtd_realflush.c, KUnit suite vtd_realflush) unmaps the disk's DMA in a
# case and in a timer that interrupts a case; QEMU must receive an IOTLB
# invalidation of each IOVA between the case's two lines. The built-in
# suites are filtered out: only the module's runs. Its negative control
# is the kunit-swallow mutant (report_mutant_realflush).
realflush_test() {
	local logf=$LOGS/control/legacy-realflush.log rc=0
	mkdir -p "$LOGS/control"
	KERNEL=$WORK/kernels/series/bzImage APPEND=$(boot_append "$(plan_get control legacy append)") \
		TIMEOUT=300 "$TOP/scripts/qemu.sh" legacy "$(plan_get control legacy steps)" "$logf" || rc=$?
	[ $rc = 0 ] || { result FAIL realflush legacy "the guest did not finish (exit $rc): $logf"; return; }
	vtdlog_result realflush legacy realflush "$logf"
}
report_mutant_realflush() {
	local m=$1 p=$2 logf=$LOGS/mutant-$1/$2.log out
	if [ "$(guest_end "$logf" rc)" != 0 ]; then
		result FAIL control:mutant-realflush "$p,$m" "the mutant guest did not finish: $logf"
	elif out=$(python3 "$TOP/scripts/vtdlog.py" realflush "$logf"); then
		result FAIL control:mutant-realflush "$p,$m" "the check passed on a kernel that drops submissions during KUnit cases: $(echo "$out" | head -n 1)"
	elif [ "$(grep -c 'no IOTLB invalidation' <<< "$out")" = 2 ]; then
		result PASS control:mutant-realflush "$p,$m" "tripped: neither case's IOVA was invalidated ($(echo "$out" | head -n 1))"
	else
		result FAIL control:mutant-realflush "$p,$m" "rejected, but not for both missing invalidations: $(echo "$out" | sed -n 2p | cut -c1-150)"
	fi
}

# The harness's own parsers, against committed fixtures made from real logs
# and doctored: each case is a check that must reject (or accept) its log.
unit_tests() {
	local st name det n=0
	while IFS=$'\t' read -r st name det; do
		n=$((n + 1))
		result "$st" "control:$name" fixture "$det"
	done < <(python3 "$TOP/tests/run.py" 2> "$LOGS/unittest.err" || true)
	[ $n -gt 0 ] || result FAIL control:unittests fixture "no harness unit test ran: $LOGS/unittest.err"
}

# make soak (scripts/soak.sh) takes the functions above and stops here.
[ -z "${VTD_TEST_LIB:-}" ] || return 0

# Nothing of an earlier run is reported: its logs and results go first.
rm -rf "$LOGS"
mkdir -p "$LOGS" "$(dirname "$RESULTS")"
: > "$RESULTS"
T0=$(date +%s)
FINISH_NAME="make $([ "$mode" = check ] && echo check || echo test)" FINISH_SCRIPT=test.sh
trap finish EXIT
"$TOP/scripts/deps.sh" all

debug_pid=""
if [ "$mode" != check ]; then
	rm -f "$WORK/.initramfs.ready" "$WORK/.initramfs.failed"
	# The debug kernel starts building now, beside everything else (its
	# guests wait for the guest image): the tree first, which both need.
	if [ "$var" = series ] && [ -z "${NO_DEBUG:-}" ]; then
		must "the tree" "$TOP/scripts/tree.sh" ensure
		log "build the debug kernel and boot it (in the background, the builds niced: $LOGS/debug/build.out)"
		debug_chain &
		debug_pid=$!
	fi
	step "build $var" "$TOP/scripts/build.sh" "$var"
	if [ "$STEP_RC" = 0 ]; then
		built=$(sed -n 's/^patches=//p' "$BUILD/$var/vtd-info")
		listed=$(grep -cv -e '^#' -e '^[[:space:]]*$' "$TOP/patches/series" 2>/dev/null || true)
		if [ "$var" = series ] && [ "$built" -lt "${listed:-0}" ]; then
			result FAIL build "$var" "the series kernel holds $built patches, patches/series lists $listed: it is not the series (make tree)"
		else
			result PASS build "$var" "$built patches on $(sed -n 's/^debian=//p' "$BUILD/$var/vtd-info")"
		fi
	else
		result FAIL build "$var" "see $LOGS/build-$var.log"
	fi
	rm -rf "$WORK/kernels/$var"
	[ "$STEP_RC" != 0 ] || step "keep the $var kernel for the guests" freeze_kernel "$var"
	step initramfs "$TOP/scripts/initramfs.sh"
	if [ "$STEP_RC" = 0 ]; then
		touch "$WORK/.initramfs.ready"
	else
		touch "$WORK/.initramfs.failed"
		result FAIL initramfs - "the guest image did not build: see the log above"
	fi
	bg=()
	if [ -f "$BUILD/$var/arch/x86/boot/bzImage" ] && [ -f "$WORK/initramfs.cpio.gz" ]; then
		# The series' rows of the plan, in $PROFILES. The background ones
		# (the VFIO guests mostly wait for the edu device) first. KUnit
		# runs in the first foreground boot; a row may filter the suites
		# (sm-fl: the queue error suite again, with 256-bit descriptors).
		mapfile -t rows < <(plan_rows series)
		for row in "${rows[@]}"; do
			IFS=$US read -r p steps append run expect <<< "$row"
			[[ " $PROFILES " == *" $p "* ]] && [ -n "$(run_opt "$run" bg)" ] || continue
			log "boot $var/$p (in the background)"
			plan_boot series "$var" "$p" & bg+=("series $var $p")
		done
		first=1
		for row in "${rows[@]}"; do
			IFS=$US read -r p steps append run expect <<< "$row"
			[[ " $PROFILES " == *" $p "* ]] && [ -z "$(run_opt "$run" bg)" ] || continue
			# (Another variant than the series filters no suite.)
			kunit=""
			[ "$var" = series ] || kunit=none
			[ $first = 0 ] || kunit=all
			step "boot $var/$p" plan_boot series "$var" "$p" $kunit
			report_guest "$var" "$p" "$steps"
			if [ $first = 1 ]; then
				kunit_results "$LOGS/$var/$p.log"
				[ "$var" != series ] || iqe_matrix "$LOGS/kunit.json" "$var,$p"
			elif [ "$var" = series ] && [[ $append == *"kunit.filter_glob=$IQE_SUITE"* ]]; then
				kunit_results "$LOGS/$var/$p.log" "$var,$p"
				iqe_matrix "$LOGS/kunit-$var,$p.json" "$var,$p"
			fi
			first=0
		done
	fi
	if [ "$var" = series ] && [[ " $PROFILES " == *" sm-fl-ats "* ]]; then
		step "boot series/sm-fl-ats with intel_iommu=sp_off (control)" superpage_control
	fi
	if [ "$var" = series ] && [[ " $PROFILES " == *" legacy "* ]]; then
		step "boot series/legacy with the vtd_realflush module" realflush_test
	fi
	if [ "$var" = series ] && [ -z "${NO_MUTANT:-}" ]; then
		build_mutants
		for m in $MUTANTS; do
			if [ -f "$BUILD/mutant-$m.failed" ]; then
				result FAIL control:mutant "$m" "the mutant kernel did not build: see the log above"
				continue
			fi
			# All in the background: a mutant guest mostly waits (for
			# the edu device, or for a minute of silence on a broken
			# disk) while stock builds.
			while IFS=$US read -r p steps append run expect; do
				log "boot mutant-$m/$p (in the background, $steps${append:+, $append}): ${expect#*: }"
				plan_boot "series-mutant:$m" "mutant-$m" "$p" < /dev/null &
				bg+=("series-mutant:$m mutant-$m $p")
			done < <(plan_rows "series-mutant:$m")
		done
	fi
	if [ "$var" = series ] && [ -z "${NO_STOCK:-}" ]; then
		: > "$LOGS/counts.txt"
		step "build stock" "$TOP/scripts/build.sh" stock
		# Building stock in the series' directory builds the series back
		# after the mutants; a stock kernel that was up to date does not
		# (then this builds it; otherwise it is up to date at once).
		stock_rc=$STEP_RC
		[ -n "${NO_MUTANT:-}" ] || step "build the series back" "$TOP/scripts/build.sh" series
		STEP_RC=$stock_rc
		if [ "$STEP_RC" = 0 ]; then
			# The same selftest on stock 6.1 (data tests pass, trace
			# tests skip) in the background; the workload of each
			# profile compared.
			mapfile -t rows < <(plan_rows stock)
			for row in "${rows[@]}"; do
				IFS=$US read -r p steps append run expect <<< "$row"
				if [ -n "$(run_opt "$run" bg)" ]; then
					[[ " $PROFILES " == *" $p "* ]] || continue
					plan_boot stock stock "$p" & bg+=("stock stock $p")
				elif [[ " $COMPARE " == *" $p "* ]]; then
					step "boot stock/$p" plan_boot stock stock "$p"
					report_guest stock "$p" "$steps"
					compare_counts "$p"
				fi
			done
		else
			result FAIL build stock "see $LOGS/build-stock.log"
		fi
	fi
	if [ ${#bg[@]} -gt 0 ]; then
		s0=$(date +%s)
		log "waiting for the background guests ($(printf '%s\n' "${bg[@]}" | cut -d' ' -f2,3 | tr ' \n' '/ ')) ..."
		# Every job but the debug kernel's chain, which goes on beside
		# the static checks.
		for j in $(jobs -p); do
			[ "$j" = "$debug_pid" ] || wait "$j" || true
		done
		log "background guests done in $(( $(date +%s) - s0 ))s"
		for g in "${bg[@]}"; do
			read -r k v p <<< "$g"
			case $k in
			*-mutant:*) report_expected "$k" "${k#*-mutant:}" "$p" ;;
			*) report_guest "$v" "$p" "$(plan_get "$k" "$p" steps)" ;;
			esac
			[ "$v:$p" != series:vfio ] || guest_ktap "$LOGS/series/vfio.log" vfio
		done
	fi
fi
# drivers/iommu/intel/.kunitconfig, proved with kunit.py config: every
# option it sets must survive. (make kunit runs the suites with it; a full
# kunit.py build is a kernel of its own, too long for every make test.)
# Negative control: the same file with an option no Kconfig knows must fail.
kunitconfig_test() {
	local out ctl=$WORK/kunitconfig-control
	if out=$("$TOP/scripts/kunit.sh" config 2>&1); then
		result PASS kunitconfig series "kunit.py config --kunitconfig=drivers/iommu/intel: all $(grep -c '^CONFIG_' "$SRC/drivers/iommu/intel/.kunitconfig") options set"
	else
		result FAIL kunitconfig series "kunit.py config failed: $(echo "$out" | grep -i -m1 'error\|not all' | cut -c1-150)"
	fi
	rm -rf "$ctl"; mkdir -p "$ctl"
	{ cat "$SRC/drivers/iommu/intel/.kunitconfig"; echo CONFIG_VTD_NO_SUCH_OPTION=y; } > "$ctl/.kunitconfig"
	if python3 "$SRC/tools/testing/kunit/kunit.py" config --arch=x86_64 --kunitconfig="$ctl" \
		--build_dir="$BUILD/kunit" >/dev/null 2>&1; then
		result FAIL control:kunitconfig series "kunit.py config accepted a .kunitconfig with an option that does not exist"
	else
		result PASS control:kunitconfig series "tripped: kunit.py config rejects the .kunitconfig plus an unknown option"
	fi
}

# make deb with the small config: the packages are produced, the image holds
# the kernel and its modules under the series' release, and the kernel taken
# from the package boots with the harness's initramfs.
deb_test() {
	local dest=$WORK/deb/small img rel contents nko want root
	want=-vtd-cache-tags-v$(series_version)
	if ! DEB_CONFIG=small "$TOP/scripts/deb.sh" > "$LOGS/deb-small.out" 2>&1; then
		result FAIL deb small "make deb DEB_CONFIG=small failed: $(tail -n 2 "$LOGS/deb-small.out" | tr '\n' ' ' | cut -c1-150)"
		return
	fi
	img=$(ls "$dest"/linux-image-*.deb 2>/dev/null | grep -v -- '-dbg_' | head -n 1 || true)
	if [ -z "$img" ]; then
		result FAIL deb small "no linux-image package in $dest: $(ls "$dest" | tr '\n' ' ')"
		return
	fi
	result PASS deb small "$(cd "$dest" && ls ./*.deb | sed 's|^\./||' | tr '\n' ' ')"
	contents=$(dpkg-deb --contents "$img")
	rel=$(sed -n 's|.* \./boot/vmlinuz-||p' <<< "$contents" | head -n 1)
	nko=$(grep -c "\./lib/modules/$rel/kernel/.*\.ko\$" <<< "$contents" || true)
	if [ -n "$rel" ] && [[ $rel == *"$want" ]] && [ "$nko" -gt 0 ]; then
		result PASS deb-contents small "$(basename "$img"): /boot/vmlinuz-$rel and $nko module(s) in /lib/modules/$rel"
	else
		result FAIL deb-contents small "$(basename "$img"): kernel release '${rel:-none}' (want *$want), $nko module(s)"
		return
	fi
	root=$dest/root
	rm -rf "$root"
	dpkg-deb -x "$img" "$root"
	DEB_KERNEL=$root/boot/vmlinuz-$rel
	step "boot deb/legacy-ats (the kernel from $(basename "$img"))" plan_boot deb deb legacy-ats
	report_guest deb legacy-ats "$(plan_get deb legacy-ats steps)"
	if grep -q "@@INFO uname $rel\$" <(python3 "$TOP/scripts/vtdlog.py" console-lines "$LOGS/deb/legacy-ats.log"); then
		result PASS deb-release legacy-ats,deb "the guest ran $rel, the packaged kernel"
	else
		result FAIL deb-release legacy-ats,deb "the guest did not report running $rel: $LOGS/deb/legacy-ats.log"
	fi
}

tools=""
[ "$mode" = check ] || [ "$var" != series ] || [ -n "${NO_TOOLS:-}" ] || tools=1
[ -z "$tools" ] || step "kunit.py config" kunitconfig_test
unit_tests
[ -n "${NO_CHECK:-}" ] || "$TOP/scripts/check.sh" || result FAIL check - "check.sh stopped early: see the log above"
# Packaging last: it builds in the series' directory with another release
# string, and the per-patch builds above link against the series' build
# (before, the series was rebuilt for them after it: a minute).
[ -z "$tools" ] || step "make deb DEB_CONFIG=small" deb_test
# The debug kernel's chain ran beside all of the above.
if [ -n "$debug_pid" ]; then
	s0=$(date +%s)
	log "waiting for the debug kernel's guests ..."
	wait "$debug_pid" || true
	log "debug kernel's guests done in $(( $(date +%s) - s0 ))s more"
	report_debug
fi
FINISHED=1
