#!/usr/bin/env bash
# make test: every check, one line per test, closing with "N passed, N failed".
#   test.sh          build, boot every profile, KUnit, guest steps, static checks
#   test.sh check    static checks only (make check)
. "$(dirname "$0")/lib.sh"
mode=${1:-all}
mkdir -p "$LOGS" "$(dirname "$RESULTS")"
: > "$RESULTS"
T0=$(date +%s)
"$TOP/scripts/deps.sh" all
var=$(variant)
PROFILES=${PROFILES:-legacy legacy-ats sm-cm-ats lazy vfio vfio-cm}
# Profiles whose workload counts are compared against stock 6.1.
COMPARE=${COMPARE:-legacy legacy-ats sm-cm-ats}

# The guest steps of each profile.
steps_of() {
	case $1 in
	legacy-ats) echo boot,events,dio,workload,hotplug,domain-switch,trace-dump ;;
	vfio*) echo boot,events,dio,vfio,trace-dump ;;
	*) echo boot,events,dio,workload,trace-dump ;;
	esac
}
# The VFIO profiles' stale-IOTLB oracle waits ~0.3s of DMA per cycle.
timeout_of() { case $1 in vfio*) echo 1500 ;; *) echo 300 ;; esac; }

# run_guest VARIANT PROFILE STEPS [APPEND]: boot; the exit status goes to .rc
run_guest() {
	local v=$1 p=$2 rc=0
	mkdir -p "$LOGS/$v"
	KERNEL=$BUILD/$v/arch/x86/boot/bzImage APPEND=${4:-} TIMEOUT=$(timeout_of "$p") \
		"$TOP/scripts/qemu.sh" "$p" "$3" "$LOGS/$v/$p.log" || rc=$?
	echo $rc > "$LOGS/$v/$p.rc"
}

# report_guest VARIANT PROFILE STEPS: turn a guest's log into result lines.
report_guest() {
	local v=$1 p=$2 steps=$3 logf=$LOGS/$1/$2.log rc tag finished=1 st name det bad
	rc=$(cat "$LOGS/$v/$p.rc" 2>/dev/null || echo 1)
	tag=$p; [ "$v" = stock ] && tag="$p,stock"
	if [ "$rc" = 124 ]; then
		result FAIL boot "$tag" "guest hung, killed after $(timeout_of "$p")s: $logf"
		return
	fi
	while IFS=$'\t' read -r st name det; do
		[ "$name" = guest-finished ] && { finished=0; continue; }
		result "$st" "$name" "$tag" "$det"
	done < <(python3 "$TOP/scripts/vtdlog.py" tap "$logf")
	bad=$(python3 "$TOP/scripts/vtdlog.py" faults "$logf")
	if [ $finished = 0 ]; then
		result FAIL boot "$tag" "the guest did not finish its steps (exit $rc): $logf"
	elif [ -n "$bad" ]; then
		result FAIL boot "$tag" "$(echo "$bad" | head -n 1 | cut -c1-120) ($(echo "$bad" | wc -l) lines): $logf"
	else
		result PASS boot "$tag" "booted, ran $steps; no unexpected DMAR fault, WARNING or BUG"
	fi
	[ "$v" = series ] || return 0
	if out=$(python3 "$TOP/scripts/vtdlog.py" check "$logf"); then
		result PASS trace-check "$tag" "$(echo "$out" | head -n 1)"
	else
		result FAIL trace-check "$tag" "$(echo "$out" | head -n 1); $(echo "$out" | sed -n 2p | cut -c1-120)"
	fi
	case ,$steps, in *,hotplug,*)
		# The disk's device-TLB tag: assigned at boot and on each re-add,
		# unassigned on each removal and when the domain switches.
		set -- $(python3 "$TOP/scripts/vtdlog.py" follow "$logf" 0000:01:00.0)
		local a=${1#assigns=} u=${2#unassigns=} live=${3#live=}
		if [ "$live" = 1 ] && [ "$u" -ge 5 ] && [ $((a - u)) = 1 ]; then
			result PASS hotplug-tags "$tag" "disk's device-TLB tag: $a assigns, $u unassigns, 1 live at the end ($4)"
		else
			result FAIL hotplug-tags "$tag" "disk's device-TLB tag: $a assigns, $u unassigns, $live live ($4)"
		fi ;;
	esac
	if [ "$p" = lazy ]; then
		local n
		n=$(python3 "$TOP/scripts/vtdlog.py" count "$logf" cache_tag_flush_all)
		if [ "$n" -gt 0 ]; then result PASS lazy-flush-all "$tag" "$n cache_tag_flush_all events from the flush queue"
		else result FAIL lazy-flush-all "$tag" "lazy mode produced no cache_tag_flush_all"; fi
	fi
}

kunit_results() {  # parse the boot-time KUnit output with the tree's kunit.py
	local logf=$1 json=$LOGS/kunit.json
	if ! grep -q 'KTAP version\|TAP version 14' "$logf"; then
		result SKIP kunit "$var" "no KUnit suites ran in this kernel"
		return
	fi
	# QEMU's trace lines interleave with the console: keep them out of KTAP.
	grep -v 'vtd_inv_' "$logf" | python3 "$TREE/tools/testing/kunit/kunit.py" parse --json="$json" > "$LOGS/kunit.txt" 2>&1 || true
	python3 - "$json" <<'PY' | while IFS=$'\t' read -r st n det; do result "$st" "$n" "$var" "$det"; done
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:
    print('FAIL\tkunit\tkunit.py parse produced no JSON (%s)' % e)
    sys.exit()
n = 0


def walk(group, prefix, suite):
    """Suites hold cases; a parameterised case is a group of its own."""
    global n
    for c in group.get('test_cases', []):
        n += 1
        st = {'PASS': 'PASS', 'SKIP': 'SKIP'}.get(c['status'], 'FAIL')
        print('%s\tkunit:%s%s\t%s' % (st, prefix, c['name'].replace(' ', '_'), suite))
    for g in group.get('sub_groups', []):
        walk(g, prefix + g['name'] + '/' if suite else '', suite or g['name'])


walk(doc, '', '')
if not n:
    print('FAIL\tkunit\tKTAP seen but no test cases parsed')
PY
}

counts_of() { python3 "$TOP/scripts/vtdlog.py" counts "$LOGS/$1/$2.log" workload | cut -f2-; }
get() { echo "$1" | tr '\t' '\n' | sed -n "s/^$2=//p"; }

compare_counts() {  # series vs stock on the fixed workload
	local p=$1 s k sub io
	s=$(counts_of series "$p")
	k=$(counts_of stock "$p")
	echo "counts $p series: $s" >> "$LOGS/counts.txt"
	echo "counts $p stock:  $k" >> "$LOGS/counts.txt"
	sub=$(get "$s" submissions)
	io=$(( $(get "$s" psi) + $(get "$s" dsi) + $(get "$s" global) + $(get "$s" piotlb) ))
	if [ "$(get "$s" psi)" = 0 ]; then
		result FAIL batching "$p" "no PSI seen in the workload: the oracle saw nothing"
	elif [ "$sub" = "$io" ]; then
		result PASS batching "$p" "one submission per IOTLB flush: $sub submissions (stock: $(get "$k" submissions)), $(get "$s" devtlb) devTLB ride along"
	else
		result FAIL batching "$p" "$sub submissions for $io IOTLB flushes (stock: $(get "$k" submissions))"
	fi
	if [ "$(get "$s" psi)" = "$(get "$k" psi)" ] && [ "$(get "$s" devtlb)" = "$(get "$k" devtlb)" ]; then
		result PASS same-invalidations "$p" "PSI $(get "$s" psi), devTLB $(get "$s" devtlb): as stock 6.1"
	else
		result FAIL same-invalidations "$p" "PSI $(get "$s" psi)/devTLB $(get "$s" devtlb) vs stock $(get "$k" psi)/$(get "$k" devtlb)"
	fi
}

if [ "$mode" != check ]; then
	if step "build $var" "$TOP/scripts/build.sh" "$var"; then
		result PASS build "$var" "$(cat "$BUILD/$var/vtd-info" | sed -n 's/^patches=//p') patches on $(sed -n 's/^debian=//p' "$BUILD/$var/vtd-info")"
	else
		result FAIL build "$var" "see $LOGS/build-$var.log"
	fi
	step initramfs "$TOP/scripts/initramfs.sh" || result FAIL initramfs - "guest programs did not build"
	bg=()
	if [ -f "$BUILD/$var/arch/x86/boot/bzImage" ]; then
		# VFIO guests mostly wait for the edu device: boot them alongside.
		for p in $PROFILES; do
			case $p in vfio*) log "boot $var/$p (in the background)"
				run_guest "$var" "$p" "$(steps_of "$p")" kunit.enable=0 & bg+=("$var:$p") ;;
			esac
		done
		first=1
		for p in $PROFILES; do
			case $p in vfio*) continue ;; esac
			# KUnit runs once, in the first profile; the others skip it.
			if [ $first = 1 ]; then
				step "boot $var/$p" run_guest "$var" "$p" "$(steps_of "$p")"
				report_guest "$var" "$p" "$(steps_of "$p")"
				kunit_results "$LOGS/$var/$p.log"
			else
				step "boot $var/$p" run_guest "$var" "$p" "$(steps_of "$p")" kunit.enable=0
				report_guest "$var" "$p" "$(steps_of "$p")"
			fi
			first=0
		done
	fi
	if [ "$var" = series ] && [ -z "${NO_STOCK:-}" ]; then
		: > "$LOGS/counts.txt"
		if step "build stock" "$TOP/scripts/build.sh" stock; then
			# The same selftest on stock 6.1: data tests pass, trace tests skip.
			if [[ " $PROFILES " == *" vfio "* ]]; then
				ORACLE=${STOCK_ORACLE:-200} run_guest stock vfio "$(steps_of vfio)" kunit.enable=0 &
				bg+=("stock:vfio")
			fi
			for p in $COMPARE; do
				step "boot stock/$p" run_guest stock "$p" boot,workload kunit.enable=0
				report_guest stock "$p" boot,workload
				compare_counts "$p"
			done
		else
			result FAIL build stock "see $LOGS/build-stock.log"
		fi
	fi
	if [ ${#bg[@]} -gt 0 ]; then
		step "wait for the VFIO guests (${bg[*]})" wait
		for g in "${bg[@]}"; do report_guest "${g%%:*}" "${g#*:}" "$(steps_of "${g#*:}")"; done
	fi
fi
[ -z "${NO_CHECK:-}" ] && "$TOP/scripts/check.sh"

echo
echo "make test: $(( ($(date +%s) - T0) / 60 ))m$(( ($(date +%s) - T0) % 60 ))s; logs in $LOGS"
p=$(grep -c '^PASS' "$RESULTS" || true)
f=$(grep -c '^FAIL' "$RESULTS" || true)
s=$(grep -c '^SKIP' "$RESULTS" || true)
echo "$p passed, $f failed, $s skipped"
[ "$f" = 0 ]
