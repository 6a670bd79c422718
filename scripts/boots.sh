# shellcheck shell=bash
# Sourced by test.sh and soak.sh (after lib.sh): the plan's boots, and
# what reads them. The plan (scripts/plan.tsv) and its readers; a boot
# (run_guest, run_guest_bg, plan_boot); a boot's results (report_guest,
# guest_end, kunit_results, iqe_matrix, ite_matrix, report_control); the
# kernels the guests boot (freeze_kernel, build_mutant). It runs nothing.

# The plan: every boot of make test, make sanitize and make soak, one row each (scripts/plan.tsv: the
# kernel, profile, steps, command line, how it runs and what it must
# show). plan_rows KERNEL: its rows, "profile steps append run expect",
# in the plan's order ("-" read as empty), the fields separated by US
# (\x1f): read them with IFS=$US. (Not a tab: read merges empty fields
# between tabs, which are whitespace to it.)
PLAN=$TOP/scripts/plan.tsv
US=$'\x1f'
plan_rows() {
	awk -F'\t' -v k="$1" '!/^#/ && $1 == k {
		for (i = 3; i <= 6; i++) if ($i == "-") $i = ""
		print $2, $3, $4, $5, $6 }' OFS='\037' "$PLAN"
}
# plan_get KERNEL PROFILE FIELD: one field (steps, append, run, expect)
# of a row; fails if the plan has no such row.
plan_get() {
	awk -F'\t' -v k="$1" -v p="$2" -v f="$3" '
		BEGIN { n = split("kernel profile steps append run expect", h, " "); for (i = 1; i <= n; i++) col[h[i]] = i }
		!/^#/ && $1 == k && $2 == p { v = $col[f]; print (v == "-" ? "" : v); found = 1; exit }
		END { if (!found) { print "scripts/plan.tsv has no row for kernel " k ", profile " p > "/dev/stderr"; exit 1 } }' "$PLAN"
}
# The guest steps of a profile, on the series' kernels.
steps_of() { plan_get series "$1" steps; }
# run_opt RUN KEY: a run option's value (oracle=N), or "1" for a flag
# (bg, short), or nothing.
run_opt() {
	local o
	for o in ${1//,/ }; do
		case $o in "$2") echo 1; return ;; "$2"=*) echo "${o#*=}"; return ;; esac
	done
}
# boot_append APPEND [KUNIT]: a boot's command line. KUNIT "all": every
# suite runs (the first boot of the series and of the debug kernel; a
# filter in APPEND is dropped); "none": none does; unset: as APPEND says,
# no suite unless it filters for some.
boot_append() {
	local a w
	case ${2:-} in
	all|none)
		a=""
		for w in $1; do case $w in kunit.*) ;; *) a="$a $w" ;; esac; done
		if [ "$2" = all ]; then echo "${a# }"; else echo "kunit.enable=0$a"; fi ;;
	*) case " $1 " in *" kunit."*) echo "$1" ;; *) echo "kunit.enable=0 $1" ;; esac ;;
	esac
}
# The VFIO profiles' stale-IOTLB oracle waits ~0.3s of DMA per cycle
# (about 300 s in all on a quiet machine). The others take 10-80 s there;
# sm-fl-ats, dumping 57,000 events over the serial console beside five
# VFIO guests, once needed over 300. Beside kernel builds, as on a fresh
# machine or in CI, all of them take several times longer: these limits
# are for a guest that still makes progress. One that has stopped is
# caught sooner, by qemu.sh's watchdog: nothing printed for IDLE seconds.
# A row that runs "short" (a negative control) gets 300 s, and 60 s of
# silence: a mutant guest whose disk breaks stops printing.
timeout_of() { case $1 in vfio*) echo 3600 ;; *) echo 1200 ;; esac; }
# plan_boot KERNEL VARIANT PROFILE [KUNIT]: boot one row of the plan as
# VARIANT (the kernel's build), in the background if the row says bg;
# KUNIT as boot_append takes it.
plan_boot() {
	local steps append run
	steps=$(plan_get "$1" "$3" steps) append=$(plan_get "$1" "$3" append) run=$(plan_get "$1" "$3" run)
	boot_as "$2" "$3" "$steps" "$(boot_append "$append" "${4:-}")" "$run"
}
# boot_as VARIANT PROFILE STEPS APPEND RUN: one boot, as the run options
# RUN say. bg, oracle=N or short: in the background. oracle=N: the VFIO
# oracle's cycles. short: 300 s, and 60 s of silence, at most.
# timeout=N: N s at most. events=A+B: only the events cache_tag_A and
# cache_tag_B traced (make soak's long guests: millions of flushes would
# overflow any buffer).
boot_as() {
	local run=$5 v
	(
		v=$(run_opt "$run" oracle)
		[ -z "$v" ] || export ORACLE=$v
		[ -z "$(run_opt "$run" short)" ] || export GUEST_TIMEOUT=300 GUEST_IDLE=60
		v=$(run_opt "$run" timeout)
		[ -z "$v" ] || export GUEST_TIMEOUT=$v
		v=$(run_opt "$run" events)
		[ -z "$v" ] || export EVENTS=cache_tag_${v//+/,cache_tag_}
		if [ -n "$(run_opt "$run" bg)$(run_opt "$run" oracle)$(run_opt "$run" short)" ]; then
			run_guest_bg "$1" "$2" "$3" "$4"
		else
			run_guest "$1" "$2" "$3" "$4"
		fi
	)
}

# vtdlog_result NAME TAG SUBCOMMAND ARGS...: a vtdlog.py verdict (its first
# line the summary, its second the first violation) as a result line.
vtdlog_result() {
	local name=$1 tag=$2 out
	shift 2
	if out=$(python3 "$TOP/scripts/vtdlog.py" "$@"); then
		result PASS "$name" "$tag" "$(echo "$out" | head -n 1)"
	else
		result FAIL "$name" "$tag" "$(echo "$out" | head -n 1); $(echo "$out" | sed -n 2p | cut -c1-120)"
	fi
}

# run_guest VARIANT PROFILE STEPS [APPEND]: boot; how it ended goes to
# LOG.end (qemu.sh; guest_end reads it)
run_guest() {
	local v=$1 p=$2
	mkdir -p "$LOGS/$v"
	local k=$BUILD/$v/arch/x86/boot/bzImage
	# The variant's kernel as built at the start (freeze_kernel): the
	# mutants and stock are built in the series' directory later, while
	# background guests still start.
	[ -f "$WORK/kernels/$v/bzImage" ] && k=$WORK/kernels/$v/bzImage
	case $v in mutant-*) k=$BUILD/$v/bzImage ;; esac
	[ "$v" = deb ] && k=$DEB_KERNEL
	KERNEL=$k APPEND=${4:-} TIMEOUT=${GUEST_TIMEOUT:-$(timeout_of "$p")} IDLE=${GUEST_IDLE:-600} \
		"$TOP/scripts/qemu.sh" "$p" "$3" "$LOGS/$v/$p.log" || true
}

# A background guest waits for one of BG_SLOTS slots: on 2 CPUs, more than
# three guests dumping their traces at once starve the foreground guest
# (five VFIO guests and sm-fl-ats once made it miss 300 s).
BG_SLOTS=${BG_SLOTS:-3}
run_guest_bg() {
	local i
	while :; do
		for i in $(seq "$BG_SLOTS"); do
			exec {slot}>"$WORK/.bg-slot-$i"
			if flock -n "$slot"; then
				run_guest "$@"
				return
			fi
			exec {slot}>&-
		done
		sleep 2
	done
}

# report_guest VARIANT PROFILE STEPS [KEY=VALUE...]: a boot's result
# lines, from its log read once (scripts/report.py, which also writes the
# boot's record, LOG.json; the options ask it for the sanitizers check
# and make soak's figures). On the series' kernels nothing may be
# skipped: a step that skips there (no events, no trace, no edu device, a
# selftest case) checked nothing.
report_guest() {
	local v=$1 p=$2 logf=$LOGS/$1/$2.log steps=$3 tag st name t det
	shift 3
	tag=$p
	case $v in stock|deb|debug|kcsan) tag="$p,$v" ;; esac
	tag=${GUEST_TAG:-$tag}
	while IFS=$'\t' read -r st name t det; do
		result "$st" "$name" "$t" "$det"
	done < <(python3 "$TOP/scripts/report.py" "$v" "$p" "$tag" "$steps" "$logf" "$@" ||
		printf 'FAIL\treport\t%s\treport.py failed on %s\n' "$tag" "$logf")
}

# report_control KERNEL MUTANT PROFILE [KEY=VALUE ...]: a negative
# control's results, the check its row's expectation names, judged by
# scripts/controls.py from the boot's log (LOGS/mutant-MUTANT/PROFILE.log)
# read once. The keys: controls.py's, beside the mutant, the profile, the
# tree's kunit.py, the mutant's IOMMU functions and the KUnit case the
# row filters for, which it is given here.
report_control() {
	local k=$1 m=$2 p=$3 logf=$LOGS/mutant-$2/$3.log expect kcase st name t det
	shift 3
	expect=$(plan_get "$k" "$p" expect)
	kcase=$(plan_get "$k" "$p" append | sed -n 's/.*kunit.filter_glob=\([^ ]*\).*/\1/p')
	while IFS=$'\t' read -r st name t det; do
		result "$st" "$name" "$t" "$det"
	done < <(python3 "$TOP/scripts/controls.py" "$logf" "$expect" mutant="$m" profile="$p" \
		kunit="$TREE/tools/testing/kunit/kunit.py" syms="$BUILD/mutant-$m/vtd-iommu-syms" \
		${kcase:+case="$kcase"} "$@" ||
		printf 'FAIL\tcontrol\t%s,%s\tcontrols.py failed on %s\n' "$p" "$m" "$logf")
}

# guest_end LOG FIELD: how a boot ended, one field of qemu.sh's LOG.end
# (rc, how, detail, again); "none" when the boot left no record.
guest_end() {
	python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1] + ".end"))[sys.argv[2]])
except (OSError, ValueError, KeyError):
    print("none")' "$1" "$2"
}

# kunit_json LOG JSON: kunit.py parse of LOG's KUnit lines into JSON (and
# JSON's .console and .txt); its exit code, or 255 when LOG has no KTAP.
kunit_json() {
	local console=${2%.json}.console
	rm -f "$2"
	# QEMU's trace records, and what other tasks print meanwhile, are
	# taken out of the console lines first: the boot's record (LOG.json,
	# which report_guest has written) has them, as report.py read them.
	[ -f "$1.json" ] || return 254
	python3 "$TOP/scripts/vtdlog.py" kunit-console "$1.json" > "$console" || return 254
	grep -q 'KTAP version\|TAP version 14' "$console" || return 255
	python3 "$TREE/tools/testing/kunit/kunit.py" parse --json="$2" < "$console" > "${2%.json}.txt" 2>&1
}

# kunit_results LOG [TAG [VARIANT]]: the cases of the boot-time KUnit run
# in LOG, each a result line tagged TAG (the variant by default); VARIANT
# (the one of make test by default), whose config says whether it has
# the suite.
kunit_results() {  # parse the boot-time KUnit output with the tree's kunit.py
	local logf=$1 tag=${2:-$var} v=${3:-$var} want=0 prc=0 json=$LOGS/kunit${2:+-$2}.json
	rm -f "$json"
	grep -q '^CONFIG_INTEL_IOMMU_CACHE_KUNIT_TEST=y' "$BUILD/$v/.config" 2>/dev/null && want=1
	kunit_json "$logf" "$json" || prc=$?
	if [ $prc = 254 ]; then
		result FAIL kunit "$tag" "no record of the boot to read the KUnit lines from: $logf.json"
		return
	elif [ $prc = 255 ]; then
		if [ $want = 1 ]; then
			result FAIL kunit "$tag" "the kernel's config enables the KUnit suite, but the boot log has no KTAP"
		else
			result SKIP kunit "$tag" "this kernel has no KUnit suite (stock 6.1)"
		fi
		return
	fi
	python3 - "$json" "$prc" <<'PY' | while IFS=$'\t' read -r st n det; do result "$st" "$n" "$tag" "$det"; done
import json, sys
prc = int(sys.argv[2])
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:
    print('FAIL\tkunit\tkunit.py parse (exit %d) produced no JSON (%s)' % (prc, e))
    sys.exit()
n = fails = 0


def walk(group, prefix, suite):
    """Suites hold cases; a parameterised case is a group of its own."""
    global n, fails
    for c in group.get('test_cases', []):
        n += 1
        st = {'PASS': 'PASS', 'SKIP': 'SKIP'}.get(c['status'], 'FAIL')
        fails += st == 'FAIL'
        print('%s\tkunit:%s%s\t%s' % (st, prefix, c['name'].replace(' ', '_'), suite))
    for g in group.get('sub_groups', []):
        walk(g, prefix + g['name'] + '/' if suite else '', suite or g['name'])


walk(doc, '', '')
if not n:
    print('FAIL\tkunit\tKTAP seen but no test cases parsed')
elif (prc == 0) != (fails == 0):
    print('FAIL\tkunit\tkunit.py parse exit %d disagrees with %d failed case(s)' % (prc, fails))
else:
    print('PASS\tkunit\t%d cases parsed by kunit.py parse (exit %d), %d failed' % (n, prc, fails))
PY
}

# The invalidation queue error suite (patch 4) on a VT-d unit, from the
# JSON of kunit_results: every batch with an invalid descriptor (sizes 1,
# 2 and 16, the invalid one at each position) must have run and passed.
# A suite that was skipped (no IOMMU, one CPU) or missing is a FAIL here.
iqe_matrix() {  # JSON TAG
	python3 "$TOP/scripts/vtdlog.py" iqe-matrix "$1" | while IFS=$'\t' read -r st det; do
		result "$st" iqe-matrix "$2" "$det"
	done
}

# The invalidation time-out suite (patch 6), which needs no VT-d unit:
# its matrix (batches of 1, 2 and 16, the device that times out at each
# position) must have run in full, and every case of the suite passed.
ite_matrix() {  # JSON TAG
	python3 "$TOP/scripts/vtdlog.py" ite-matrix "$1" | while IFS=$'\t' read -r st det; do
		result "$st" ite-matrix "$2" "$det"
	done
}

# The kernel the guests boot, copied when built: later builds in the same
# directory (mutants, stock, packaging) must not reach a guest that starts
# after them.
freeze_kernel() {  # VARIANT
	local f
	rm -rf "$WORK/kernels/$1"
	mkdir -p "$WORK/kernels/$1"
	cp "$BUILD/$1/arch/x86/boot/bzImage" "$BUILD/$1/vtd-info" "$WORK/kernels/$1/"
	for f in vtd-probes vtd-iommu-syms vtd-series-lines vtd-vmlinux "$BUILD/$1"/arch/x86/boot/*.ko; do
		f=${f##*/}
		[ ! -f "$BUILD/$1/arch/x86/boot/$f" ] || cp "$BUILD/$1/arch/x86/boot/$f" "$WORK/kernels/$1/"
	done
}

# A mutant is built in the series' own output directory, so only the files
# it changes recompile, and its bzImage is kept in $BUILD/mutant-NAME; the
# stock build that follows builds the series back (with NO_STOCK, a build
# of its own). A copy of the build directory would not do: kbuild
# rebuilds all of it.
build_mutant() {  # NAME [VARIANT]; leaves VARIANT's output directory holding it
	local name=$1 var=${2:-series} patch=$TOP/tests/mutants/$1.patch rev idx=$WORK/mutant-$1.index t c stamp kmods
	local out=$BUILD/mutant-$1
	rev=$("$TOP/scripts/tree.sh" rev series)
	rm -f "$idx"
	GIT_INDEX_FILE=$idx git -C "$TREE" read-tree "$rev"
	GIT_INDEX_FILE=$idx git -C "$TREE" apply --cached "$patch"
	t=$(GIT_INDEX_FILE=$idx git -C "$TREE" write-tree)
	rm -f "$idx"
	# Fixed identity and dates: the same mutant is the same commit, and an
	# unchanged one is not rebuilt.
	c=$(GIT_AUTHOR_NAME=mutant GIT_AUTHOR_EMAIL=mutant@invalid GIT_COMMITTER_NAME=mutant \
		GIT_COMMITTER_EMAIL=mutant@invalid GIT_AUTHOR_DATE=2000-01-01T00:00:00Z \
		GIT_COMMITTER_DATE=2000-01-01T00:00:00Z \
		git -C "$TREE" commit-tree "$t" -p "$rev" -m "mutant: $name")
	# The test modules only for a mutant whose guests load them (about
	# 10 s a build otherwise spent); the stamp says which.
	kmods=no-kmods
	! plan_rows "$var-mutant:$name" | cut -d"$US" -f2 | grep -qE '(^|,)(realflush|failnth-hotadd)(,|$)' || kmods=""
	stamp="$c $(md5sum < "$patch" | cut -c1-12)${kmods:+ $kmods}"
	if [ -f "$out/bzImage" ] && [ "$(cat "$out/vtd-stamp" 2>/dev/null)" = "$stamp" ]; then
		# The kprobe events as build.sh defines them now: those of the
		# variant's kernel (the same config), which was built or given
		# them just before, when they changed since the mutant was built.
		local vb=$BUILD/$var/arch/x86/boot
		if [ -f "$vb/vtd-probes-stamp" ] && ! cmp -s "$vb/vtd-probes-stamp" "$out/vtd-probes-stamp"; then
			cp "$vb/vtd-probes" "$vb/vtd-probes-stamp" "$out/"
			log "mutant kernel $name: up to date, the kprobe events of $var taken anew"
		else
			log "mutant kernel $name: up to date"
		fi
		return 0
	fi
	rm -rf "$out"
	mkdir -p "$out"
	REV=$c BUILD_LABEL=mutant-$name "$TOP/scripts/build.sh" "$var" $kmods
	cp "$BUILD/$var/arch/x86/boot/bzImage" "$BUILD/$var/arch/x86/boot/vtd-probes" \
		"$BUILD/$var/arch/x86/boot/vtd-iommu-syms" "$BUILD/$var/vtd-info" "$out/"
	for f in vtd-probes-stamp vtd-series-lines vtd-vmlinux "$BUILD/$var"/arch/x86/boot/*.ko; do
		f=${f##*/}
		[ ! -f "$BUILD/$var/arch/x86/boot/$f" ] || cp "$BUILD/$var/arch/x86/boot/$f" "$out/"
	done
	echo "$stamp" > "$out/vtd-stamp"
	log "mutant kernel $name: $out/bzImage"
	[ "$var" != series ] || touch "$BUILD/mutant.rebuilt"
}

