# shellcheck shell=sh
# Sourced by /init (guest/init): the failnth-switch, failnth-vfio, failnth-hotadd steps.

# The debug kernel: allocation-failure injection on the attach paths. For
# N = 1, 2, ... the N-th allocation of one operation fails (failnth.c,
# through the task's fail-nth), until an attempt with nothing left to
# inject succeeds. FAILSLAB and FAIL_PAGE_ALLOC skip GFP_KERNEL and order-0
# allocations by default: not here. verbose=0: the kernel's report of each
# injection is a stack dump, which the host would rightly count as one.
# Each path's summary goes to the host as "@@FAILNTH NAME points=P ...",
# and the trace check, the tag view and kmemleak after it see whether a
# failure left a tag behind.
failnth_setup() {
	local d=/sys/kernel/debug f
	for f in failslab fail_page_alloc; do
		[ -d $d/$f ] || return 1
		echo N > $d/$f/ignore-gfp-wait
		echo 0 > $d/$f/verbose
	done
	echo 0 > $d/fail_page_alloc/min-order
	echo N > $d/fail_page_alloc/ignore-gfp-highmem
}

failnth_run() {  # failnth_run NAME ARGS...: the summary, or the failing attempts
	local name=$1 out rc=0
	shift
	mark "begin failnth-$name"
	out=$(failnth "$@" 2>&1) || rc=$?
	mark "end failnth-$name"
	# To the console (stderr: the caller takes stdout).
	echo "$out" | grep -v '^failnth: N=[0-9]* injected=' | sed "s/^failnth: /@@FAILNTH $name /" >&2
	[ $rc = 0 ] && echo "$out" | sed -n 's/^failnth: points=/points=/p' && return 0
	echo "$out" | grep -v '^failnth: N=[0-9]* injected=' | tail -n 2 | tr '\n' ' '
	return 1
}

# The disk's group switched to each type in turn (vtdswitch= order), the
# N-th allocation of the write to its type file failing, until one
# succeeds with nothing injected; each failed write must leave the type
# as it was; after each switch the disk is bound again and DMA-checked.
step_failnth_switch() {
	local g t out res="" drv=/sys/bus/pci/drivers/virtio-pci
	failnth_setup || { tap fail failnth-switch "no failslab or fail_page_alloc in debugfs"; return; }
	g=$(basename "$(readlink /sys/bus/pci/devices/$DISK_BDF/iommu_group)")
	for t in ${SWITCH:-identity DMA-FQ DMA}; do
		echo $DISK_BDF > $drv/unbind
		if ! out=$(failnth_run "switch-$t" write /sys/kernel/iommu_groups/$g/type $t); then
			echo $DISK_BDF > $drv/bind
			tap fail failnth-switch "to $t: $out"; return
		fi
		echo $DISK_BDF > $drv/bind
		disk_ready 30 || { tap fail failnth-switch "$DISK gone after the switch to $t"; return; }
		if ! dmaio write $DISK 91 0 32 4096 >/dev/null || ! dmaio verify $DISK 91 0 32 4096 >/dev/null; then
			tap fail failnth-switch "data check failed in the $t domain after the injected failures"; return
		fi
		res="$res $t (${out%% errnos=*})"
	done
	tap ok failnth-switch "group $g:$res; DMA intact after each"
}

# VFIO_SET_IOMMU on a new container holding the edu device's group, the
# N-th allocation failing, until one succeeds with nothing injected. The
# vfio step after it runs the selftest on the same device.
step_failnth_vfio() {
	local out
	failnth_setup || { tap fail failnth-vfio "no failslab or fail_page_alloc in debugfs"; return; }
	# (Not in $(...): EDU_GROUP is set in this shell.)
	vfio_bind > /tmp/vfio-bind.out || { tap fail failnth-vfio "$(cat /tmp/vfio-bind.out)"; return; }
	if out=$(failnth_run vfio vfio $EDU_GROUP); then
		tap ok failnth-vfio "VFIO_SET_IOMMU (type1v2), group $EDU_GROUP: ${out%% errnos=*}"
	else
		tap fail failnth-vfio "$out"
	fi
}

# A disk hot-add (PCI remove, then rescan), the N-th of the IOMMU's
# allocations failing, N = 1, 2, ... until a hot-add makes fewer than N
# (it succeeded with nothing failed). The IOMMU's part of a hot-add is its
# two PCI bus notifiers (dmar_pci_bus_notifier: the DRHD scope;
# iommu_bus_notifier: probe, group, default domain, attach, its tags, DMA
# ops). The PCI core's, the driver core's and the ACPI companion's
# allocations come first in the same task, and their number varies from
# one hot-add to the next, so fail-nth armed at the write would land in
# device_add() now and then, where 6.1's pci_device_add() WARNs and keeps
# a half-added device (and 6.1 cannot filter injections by stack on
# x86_64: FAULT_INJECTION_STACKTRACE_FILTER depends on !X86_64). So the
# count is kept by vtd_failnth_scope.ko (tests/kmod/, built with the
# kernel): inside those two calls, and only there, the writing task's
# fail_nth is the module's count; the injection is fail-nth's own.
# A tracing instance for the writing task (set_event_pid) records every
# allocation the hooks count (a kretprobe on should_fail_ex) and the
# notifiers' entries and returns, with the failed allocation's stack: it
# checks that the failure was the N-th allocation inside, independently
# of the module, and names its site. failslab's cache-filter is Y and
# only caches made failable at boot count (slub_debug=A,kmalloc-*,
# kernfs_node_cache,iommu_iova; the step checks kmalloc-64): kmemleak's
# own metadata would otherwise count too, and failing it switches
# kmemleak off. fail_page_alloc's ignore-gfp-wait is Y: the page
# allocations that may sleep are slab refills, stack depot and percpu
# chunk pages, whose failure fails the kmalloc that failslab fails at its
# own call; the IOMMU's own pages (tables) are GFP_ATOMIC and still
# counted. The virtio bus does not autoprobe meanwhile, so no disk driver
# DMAs through a device whose attach just failed (virtio-blk's partition
# scan would wait for ever in the rescan); virtio-pci binds, with no DMA.
# After the last, virtio-blk binds; DMA checked.
# vtdhotadd=sites: instead of every N, the first allocation of each site
# (the profile's), each hit checked by its stack.
FN=$T/instances/failnth

FNMOD=/sys/module/vtd_failnth_scope/parameters

fn_probes() {  # fn_probes on|off
	local e
	if [ $1 = on ]; then
		mkdir -p $FN || return 1
		{ echo 'r64:failnth/sf should_fail_ex ret=$retval:u8'
		  echo 'p:failnth/nin dmar_pci_bus_notifier'
		  echo 'r:failnth/nout dmar_pci_bus_notifier'
		  echo 'p:failnth/gin iommu_bus_notifier'
		  echo 'r:failnth/gout iommu_bus_notifier'; } >> $T/kprobe_events || return 1
		echo 1 > $FN/events/failnth/enable
	else
		fn_stacks none
		echo 0 > $FN/events/failnth/enable
		for e in sf nin nout gin gout; do echo "-:failnth/$e" >> $T/kprobe_events; done
		rmdir $FN
	fi
}

# The stack of every allocation (the profile), of the failed one, or none.
fn_stacks() {  # fn_stacks all|failed|none
	local f=$FN/events/failnth/sf/trigger
	case $FN_STACKS in
	all) echo '!stacktrace' > $f ;;
	failed) echo '!stacktrace if ret == 1' > $f ;;
	esac
	FN_STACKS=$1
	case $1 in
	all) echo 'stacktrace' > $f ;;
	failed) echo 'stacktrace if ret == 1' > $f ;;
	esac
}

# The last attempt, by the trace, as shell assignments: h_traced= the
# allocations in task context (what fail-nth counts), h_iommu= how many
# were inside a notifier, h_inj= the failed one's place among all and
# h_inj_in= among those inside (0: none failed, or it was outside),
# h_in_iommu=1 if it was inside, h_stack= its site, h_want_at= the place
# among those inside of the first allocation at site $FN_WANT (0: none
# before the failed one, or no stacks); each site inside, with its place
# among those inside, goes to /tmp/fn.sites (when stacks were taken).
fn_trace() {
	awk -v sites=/tmp/fn.sites -v target="$FN_WANT" '
	# An allocation site: the first frame past the allocators, with its
	# offset (the call), and the three callers above it.
	function frame(f) {
		if (f ~ /^(kretprobe|rethook|arch_rethook|should_fail|__should_fail|slab_|kmem_cache|__kmem_cache|kmalloc|__kmalloc|alloc_pages|__alloc_pages|prepare_alloc|kzalloc|kasan|__kasan|kmemleak|mem_pool|create_object|__create_object|alloc_slab|allocate_slab|new_slab|___slab|__slab|kstrdup|kvasprintf|kasprintf|kvmalloc|kcalloc|kmalloc_array)/) return
		sub(/\/0x.*/, "", f)
		if (k == 0) { sub(/\+0x/, "@", f); st = f } else if (k < 4) { sub(/\+0x.*/, "", f); st = st "<" f }
		k++
	}
	function flush() {
		if (want && k) {
			if (cur == inj) stack = st
			if (cur_in) { print iommu, st > sites; if (st == target && !want_at && cur != inj) want_at = iommu }
		}
		want = 0
	}
	/tracing_mark_write: failnth-armed/ { on = 1; printf "" > sites; next }
	/tracing_mark_write: failnth-done/ { flush(); on = 0; next }
	!on { next }
	/^ *=> / { if (want) frame($2); next }
	/<stack trace>/ { next }
	{ flush() }
	/ (nin|gin): / { depth++; next }
	/ (nout|gout): / { if (depth) depth--; next }
	/ sf: / {
		if (substr($3, 3, 1) ~ /[hHsZ]/) next
		n++
		cur = n; cur_in = depth > 0; want = 1; k = 0; st = ""
		if (cur_in) iommu++
		if ($NF == "ret=1") { inj = n; in_iommu = cur_in; inj_in = cur_in ? iommu : 0 }
	}
	END {
		flush()
		printf "h_traced=%d h_iommu=%d h_inj=%d h_inj_in=%d h_in_iommu=%d h_stack=\047%s\047 h_want_at=%d\n", n, iommu, inj, inj_in, in_iommu, stack, want_at
	}
	' $FN/trace
}

# hotadd_once N: rescan, the N-th allocation inside the notifiers failing
# (a large N: count them). The helper arms no failure of its own (0: it
# counts the allocations outside, h_outside=); the module's figures are
# h_mleft= (0: injected), h_mcalls= (inside) and h_mscopes= (notifier
# calls); the trace's, fn_trace's. On an error, h_err= the helper's words.
hotadd_once() {
	local rc=0
	echo $1 > $FNMOD/nth
	echo > $FN/trace
	sh -c "echo \$\$ > $FNMOD/pid && exec failnth once 0 /sys/bus/pci/rescan 1 $FN/set_event_pid $FN/trace_marker" > /tmp/fn.run 2>&1 || rc=$?
	echo 0 > $FNMOD/pid
	[ $rc = 0 ] || { h_err=$(cat /tmp/fn.run); return 1; }
	read h_mleft < $FNMOD/left
	read h_mcalls < $FNMOD/calls
	read h_mscopes < $FNMOD/scopes
	h_outside=$(sed -n 's/.* calls=\([0-9]*\).*/\1/p' /tmp/fn.run)
	fn_trace > /tmp/fn.vars && . /tmp/fn.vars
}

hotadd_remove() {
	[ -e /sys/bus/pci/devices/$1 ] || return 0
	echo 1 > /sys/bus/pci/devices/$1/remove
	wait_for "[ ! -e /sys/bus/pci/devices/$1 ]" 10
}

# One attempt at N: "failed" (the disk left without an IOMMU group: its
# probe failed), "absorbed", "succeeded" (fewer than N inside: nothing
# failed), or 1 with $bad set.
hotadd_try() {
	hotadd_remove $bdf || { bad="N=$1: $bdf still there after remove"; return 1; }
	hotadd_once $1 || { bad="N=$1: rescan: $h_err"; return 1; }
	[ -e /sys/bus/pci/devices/$bdf ] || { bad="N=$1: $bdf not added at all"; return 1; }
	if [ "$h_mleft" != 0 ]; then
		[ $h_inj = 0 ] || { bad="N=$1: the module injected nothing, the trace saw allocation $h_inj fail: $h_stack"; return 1; }
		[ -e /sys/bus/pci/devices/$bdf/iommu_group ] || { bad="N=$1: nothing failed, and $bdf has no IOMMU group"; return 1; }
		h_st=succeeded
		return 0
	fi
	if [ $h_in_iommu != 1 ] || [ $h_inj_in != $1 ]; then
		bad="N=$1: the trace saw allocation $h_inj fail, inside=$h_in_iommu, the $h_inj_in-th inside: $h_stack"; return 1
	fi
	if [ -e /sys/bus/pci/devices/$bdf/iommu_group ]; then h_st=absorbed; absorbed=$((absorbed + 1))
	else h_st=failed; failed=$((failed + 1)); fi
	echo "@@FAILNTH hotadd inject N=$1 $h_st stack=$h_stack"
	hit="$hit$h_stack "
}

HOTADD_PROFILES=3 HOTADD_AIM=16 FN_COUNT=1000000000 FN_WANT=

# hotadd_aim FILE: an attempt at each line's N ("N [STACK]"), until one
# succeeds; with a STACK, not yet hit, until that site fails, up to
# HOTADD_AIM attempts, a miss aiming next at the site's place in that
# attempt if it came before the failed allocation (every stack taken),
# else one later. (The caller's variables: n, hit, bad, h_*.)
hotadd_aim() {
	local j want tries
	while [ -z "$bad" ] && read j want; do
		case "$hit" in *" $want "*) [ -n "$want" ] && continue ;; esac
		n=$j tries=1 FN_WANT=$want
		while :; do
			hotadd_try $n || return
			[ $h_st != succeeded ] || return
			[ -n "$want" ] && [ "$want" != "$h_stack" ] || break
			[ $tries -lt $HOTADD_AIM ] || break
			tries=$((tries + 1))
			if [ "$h_want_at" -gt 0 ]; then n=$h_want_at; else n=$((n + 1)); fi
		done
	done < $1
}

step_failnth_hotadd() {
	local bdf=$DISK_BDF vb=/sys/bus/virtio d=/sys/kernel/debug/fail_page_alloc n=0 v
	local failed=0 absorbed=0 bad="" what i counts="" sites sporadic hit=" " missed p1_outside p1_mcalls sn sm
	failnth_setup || { tap fail failnth-hotadd "no failslab or fail_page_alloc in debugfs"; return; }
	if ! insmod /lib/vtd_failnth_scope.ko 2>/tmp/insmod.err && [ ! -d $FNMOD ]; then
		tap fail failnth-hotadd "vtd_failnth_scope.ko: $(cat /tmp/insmod.err) (built with the kernel: tests/kmod)"; return
	fi
	fn_probes on || { tap fail failnth-hotadd "could not set up the kprobes (should_fail_ex, the IOMMU bus notifiers)"; fn_probes off; return; }
	if [ "$(cat /sys/kernel/slab/kmalloc-64/failslab 2>/dev/null)" != 1 ]; then
		tap fail failnth-hotadd "kmalloc-64 is not failable: boot with slub_debug=A,kmalloc-*,kernfs_node_cache,iommu_iova"
		fn_probes off; return
	fi
	echo Y > $d/ignore-gfp-wait
	echo Y > /sys/kernel/debug/failslab/cache-filter
	echo 0 > $vb/drivers_autoprobe
	mark "begin failnth-hotadd"
	# The first hot-add after boot allocates a few things once: not a
	# profile. The profiles count, each with every stack: a site is one
	# that every profile allocates at. Others come and go (a stack depot
	# pool filled under a radix-tree node, a per-CPU chunk): listed, not
	# aimed at, and not required.
	hotadd_remove $bdf && hotadd_once $FN_COUNT || bad="$bdf: the first hot-add failed: $h_err"
	fn_stacks all
	for i in $(seq 1 $HOTADD_PROFILES); do
		[ -z "$bad" ] || break
		hotadd_remove $bdf || { bad="$bdf still there after remove"; break; }
		hotadd_once $FN_COUNT || { bad="rescan: $h_err"; break; }
		cp /tmp/fn.sites /tmp/fn.sites$i
		[ $i != 1 ] || p1_outside=$h_outside p1_mcalls=$h_mcalls
		counts="$counts $h_mcalls"
		if [ "$h_mscopes" -lt 2 ]; then
			bad="the module saw $h_mscopes notifier calls of the writing task: not both notifiers"
		elif [ "$h_iommu" != "$h_mcalls" ]; then
			bad="the trace saw $h_iommu allocations inside the notifiers, the module counted $h_mcalls"
		elif [ "$h_traced" != $((h_outside + h_mcalls)) ]; then
			bad="the trace saw $h_traced allocations, fail-nth counted $h_outside outside and $h_mcalls inside"
		elif [ "$h_mcalls" = 0 ]; then
			bad="no allocation inside the IOMMU bus notifiers: nothing to inject"
		elif [ ! -e /sys/bus/pci/devices/$bdf/iommu_group ]; then
			bad="$bdf has no IOMMU group after an uninjected hot-add"
		fi
	done
	[ "$HOTADD" = sites ] || fn_stacks failed
	# The sites: in every profile, at their first place in the first.
	v=$(for i in $(seq 1 $HOTADD_PROFILES); do echo /tmp/fn.sites$i; done)
	touch $v
	awk -v want=$HOTADD_PROFILES '!seen[FILENAME, $2]++ { n[$2]++ }
		END { for (s in n) if (n[s] == want) print s }' $v > /tmp/fn.stable
	awk 'NR == FNR { st[$1]; next } ($2 in st) && !seen[$2]++' /tmp/fn.stable /tmp/fn.sites1 > /tmp/fn.firsts
	sporadic=$(awk 'NR == FNR { st[$1]; next } !($2 in st) && !seen[$2]++ { print $2 }' /tmp/fn.stable $v)
	sites=$(wc -l < /tmp/fn.firsts)
	echo "@@FAILNTH hotadd profile outside=$p1_outside inside=$(echo $counts | tr ' ' ,) sites=$sites sporadic=$(echo $sporadic | wc -w)"
	awk '{ print "@@FAILNTH hotadd site " $1 " " $2 }' /tmp/fn.firsts
	for v in $sporadic; do echo "@@FAILNTH hotadd sporadic $v"; done
	[ -n "$bad" ] || [ "$sites" -gt 0 ] || bad="no site in every profile"
	# Every N until a hot-add succeeds; or (vtdhotadd=sites) the first
	# allocation of each site in the profile not yet hit, each hit checked
	# by its stack; then from one past the profile's count until one
	# succeeds. The count inside varies a little from one hot-add to the
	# next (per-CPU chunks, the IOVA rcaches, more so on a loaded host), so
	# a site may move: each attempt takes every stack, and a miss aims
	# next at the target's place in that attempt if it came before the
	# failed allocation, else one later; up to HOTADD_AIM attempts a site.
	case $HOTADD in
	sites) what="the first allocation of each site"
		{ cat /tmp/fn.firsts; seq $((p1_mcalls + 1)) $((p1_mcalls + 8)); } > /tmp/fn.targets
		hotadd_aim /tmp/fn.targets ;;
	*) what="each allocation"
		seq 1 100000 > /tmp/fn.targets
		hotadd_aim /tmp/fn.targets
		# A site can move by one between two hot-adds and so fall
		# between two N: those the sweep missed are aimed at after it,
		# as in sites mode.
		if [ -z "$bad" ] && [ "$h_st" = succeeded ]; then
			sn=$n sm=$h_mcalls
			fn_stacks all
			hotadd_aim /tmp/fn.firsts
			[ -n "$bad" ] || n=$sn h_mcalls=$sm h_st=succeeded
		fi ;;
	esac
	if [ -z "$bad" ]; then
		if [ "$h_st" = succeeded ]; then
			echo "@@FAILNTH hotadd N=$n: succeeded, $h_mcalls allocations inside"
		else
			bad="no hot-add succeeded with nothing failed"
		fi
	fi
	if [ -z "$bad" ]; then
		missed=$(while read want; do case "$hit" in *" $want "*) ;; *) echo "$want" ;; esac; done < /tmp/fn.stable)
		[ -z "$missed" ] || bad="sites of every profile never failed: $(echo $missed | tr ' ' ,)"
	fi
	mark "end failnth-hotadd"
	echo 1 > $vb/drivers_autoprobe
	echo N > $d/ignore-gfp-wait
	echo N > /sys/kernel/debug/failslab/cache-filter
	fn_probes off
	rmmod vtd_failnth_scope
	# A disk left without translation by the last failure is added
	# again before its driver binds: virtio-blk's first read would wait
	# for ever on a DMA fault.
	[ -e /sys/bus/pci/devices/$bdf/iommu_group ] || { hotadd_remove $bdf; echo 1 > /sys/bus/pci/rescan; }
	if [ ! -e /sys/bus/pci/devices/$bdf/iommu_group ]; then
		tap fail failnth-hotadd "${bad:+$bad; }$bdf has no IOMMU group after a hot-add with nothing failed: its driver left unbound"
		return
	fi
	for v in /sys/bus/pci/devices/$bdf/virtio*; do echo ${v##*/} > $vb/drivers_probe; done
	[ -z "$bad" ] || { tap fail failnth-hotadd "$bad"; return; }
	disk_ready 30 || { tap fail failnth-hotadd "$DISK did not come back after the final hot-add"; return; }
	if ! dmaio write $DISK 93 0 32 4096 >/dev/null || ! dmaio verify $DISK 93 0 32 4096 >/dev/null; then
		tap fail failnth-hotadd "data check failed on the disk after the final hot-add"; return
	fi
	v=$(echo $hit | tr ' ' '\n' | sort -u | wc -l)
	echo "@@FAILNTH hotadd points=$((failed + absorbed)) failed=$failed absorbed=$absorbed sites=$v"
	tap ok failnth-hotadd "disk $bdf: $what inside the IOMMU's bus notifiers failed once ($((failed + absorbed)) points at $v sites, the $sites of every profile among them$([ -z "$sporadic" ] || echo "; $(echo $sporadic | wc -w) in some profiles only, not required"); the $p1_outside allocations outside not failed): $failed left the disk without translation (its probe failed), $absorbed absorbed; N=$n succeeded; DMA intact after it"
}
