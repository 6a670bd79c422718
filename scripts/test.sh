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

# guest_ktap LOG TAG: the guest's own KTAP (its "@@VTD " lines, the VFIO
# selftest nested in them, from the boot's record, LOG.json: report.py
# has read the log) as the tree's kunit.py parse reads it, which
# must agree with the guest: exit 0 if no result failed, else non-zero.
# A log with no nested test checked nothing. Control: a copy with the
# nested selftest's first passed result failed, which it must reject.
guest_ktap() {
	local logf=$1 tag=$2 k kunit=$TREE/tools/testing/kunit/kunit.py rc n nested nfail
	k=$LOGS/guest-ktap-${tag//,/-}.ktap
	if ! python3 "$TOP/scripts/vtdlog.py" ktap "$logf.json" > "$k" 2> "$k.err"; then
		result FAIL guest-ktap "$tag" "no record of the boot to read the guest's KTAP from: $(tail -n 1 "$k.err")"
		return
	fi
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

# compare_counts PROFILE: series vs stock on the fixed workload, both
# booted in this run: QEMU's counts from the boots' records (LOG.json).
compare_counts() {
	local p=$1 st name det
	for v in series stock; do
		if [ "$(guest_end "$LOGS/$v/$p.log" rc)" != 0 ]; then
			result FAIL batching "$p" "the $v guest of this run did not finish: nothing to compare"
			return
		fi
	done
	{ echo "counts $p series: $(python3 "$TOP/scripts/vtdlog.py" counts "$LOGS/series/$p.log.json" workload | cut -f2-)"
	  echo "counts $p stock:  $(python3 "$TOP/scripts/vtdlog.py" counts "$LOGS/stock/$p.log.json" workload | cut -f2-)"
	} >> "$LOGS/counts.txt"
	local out
	out=$(python3 "$TOP/scripts/vtdlog.py" batching "$LOGS/series/$p.log.json" "$LOGS/stock/$p.log.json" 2> "$LOGS/batching-$p.err") ||
		{ result FAIL batching "$p" "no comparison: $(tail -n 1 "$LOGS/batching-$p.err")"; return; }
	while IFS=$'\t' read -r st name det; do
		result "$st" "$name" "$p" "$det"
	done <<< "$out"
	# Negative control: the same comparison fed stock's counts as the
	# series' must not pass batching, where stock has something to batch.
	# (Read into a variable first: "| grep -q" under pipefail fails the
	# pipeline whenever the reader stops early, which once made this
	# control FAIL on a correct result.)
	local ctl
	ctl=$(python3 "$TOP/scripts/vtdlog.py" batching "$LOGS/stock/$p.log.json" "$LOGS/stock/$p.log.json") ||
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
#                          (vfio-sm-fl) domain, DMA integrity on a
#                          first-level DMA domain (sm-fl-ats)
#   skip-iotlb-sync-flush-large  the same, only after unmaps of 64 KiB or
#                          more (with every flush skipped, the drivers' own
#                          DMA breaks at probe, an oops before any check):
#                          the drivers step's data read back must differ,
#                          on drivers and drivers-fl
#   drop-piotlb            first-level flushes lose only their PASID-based
#                          IOTLB descriptor: the oracle on vfio-sm-fl, and
#                          DMA integrity on sm-fl-ats
#   iqe-first-only         qi_check_fault() as in 6.1 (patch 3 reverted):
#                          the queue error suite on legacy must fail
#   ite-restart            an invalidation time-out handled as in 6.1
#                          (patch 5's decisions reverted: every aborted
#                          submission sent again whole, for ever): the
#                          time-out suite's matrix on legacy must fail
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
MUTANTS=${MUTANTS:-skip-iotlb-sync-flush skip-iotlb-sync-flush-large drop-piotlb iqe-first-only ite-restart rcu-no-grace devtlb-no-wait ats-first kunit-swallow}
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
# The debug kernel (configs/debug.config: KASAN, UBSAN, kmemleak,
# DEBUG_OBJECTS, fault injection) and its mutants are make sanitize's
# (scripts/soak.sh, the plan's debug and debug-mutant rows): its cold
# build, beside everything else here, took a fresh machine's make test
# to 53 min (docs/testing.md).

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
# is the kunit-swallow mutant (controls.py, mutant-realflush).
realflush_test() {
	local logf=$LOGS/control/legacy-realflush.log rc=0
	mkdir -p "$LOGS/control"
	KERNEL=$WORK/kernels/series/bzImage APPEND=$(boot_append "$(plan_get control legacy append)") \
		TIMEOUT=300 "$TOP/scripts/qemu.sh" legacy "$(plan_get control legacy steps)" "$logf" || rc=$?
	[ $rc = 0 ] || { result FAIL realflush legacy "the guest did not finish (exit $rc): $logf"; return; }
	vtdlog_result realflush legacy realflush "$logf"
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

# (tests/test_plan_boots.py takes the functions above and stops here.)
[ -z "${VTD_TEST_LIB:-}" ] || return 0

# Nothing of an earlier run is reported: its logs and results go first.
rm -rf "$LOGS"
mkdir -p "$LOGS" "$(dirname "$RESULTS")"
: > "$RESULTS"
T0=$(date +%s)
FINISH_NAME="make $([ "$mode" = check ] && echo check || echo test)" FINISH_SCRIPT=test.sh
trap finish EXIT
"$TOP/scripts/deps.sh" all

if [ "$mode" != check ]; then
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
	[ "$STEP_RC" = 0 ] || result FAIL initramfs - "the guest image did not build: see the log above"
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
				if [ "$var" = series ]; then
					iqe_matrix "$LOGS/kunit.json" "$var,$p"
					ite_matrix "$LOGS/kunit.json" "$var,$p"
				fi
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
		for j in $(jobs -p); do wait "$j" || true; done
		log "background guests done in $(( $(date +%s) - s0 ))s"
		for g in "${bg[@]}"; do
			read -r k v p <<< "$g"
			case $k in
			*-mutant:*) report_control "$k" "${k#*-mutant:}" "$p" ;;
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
	local dest=$WORK/deb/small img rel contents nko want root ran
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
	# The release the guest's kernel printed, from the boot's record.
	ran=$(python3 -c 'import json, sys
try:
    print((json.load(open(sys.argv[1]))["kernel"]["ran"] or "").split(" ")[0])
except (OSError, ValueError, KeyError, TypeError):
    pass' "$LOGS/deb/legacy-ats.log.json")
	if [ "$ran" = "$rel" ]; then
		result PASS deb-release legacy-ats,deb "the guest ran $rel, the packaged kernel"
	else
		result FAIL deb-release legacy-ats,deb "the guest ran '${ran:-nothing its record says}', not $rel: $LOGS/deb/legacy-ats.log.json"
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
FINISHED=1
