#!/bin/sh
# make hwcheck's collector: the series' cache tags on this machine, written
# as a bundle (text, on stdout) for scripts/hwcheck.py to judge. POSIX sh:
# it runs under busybox in the QEMU guest (the hwcheck step) and under
# dash or bash on Debian, as root. Progress goes to stderr.
#   DEV=/dev/...  the device the workload reads (default: the disk under /)
#   REBIND=1      also unbind the device's PCI driver, switch its IOMMU
#                 group's default domain away and back, and bind it again:
#                 detaches and attaches, traced (refused while the device
#                 holds a mounted filesystem, unless FORCE=1)
#   PCI_DEV_OFF=N offset of struct pci_dev's dev, for the kprobe events of
#                 the attach order when the kernel has none (hwcheck.py
#                 reads it from the kernel's BTF)
# It reads the debugfs view of the tags (the seed), traces the
# intel_iommu:cache_tag_* events (and with REBIND the harness's kprobe
# events) in a tracefs instance of its own while the rebind and 256 x 4 KiB
# O_DIRECT reads of DEV run, reads the view again, and writes both views,
# the trace (from the seed's marker on) and what it did. The trace's
# markers (hwcheck seed-begin, seed-end, view-begin, view-end) say when
# each view was read. Exits 2 when it refuses (make hwcheck then keeps
# no bundle).
T=/sys/kernel/tracing
D=/sys/kernel/debug
VIEW=$D/iommu/intel/cache_tags
PCI=/sys/bus/pci/devices
I=$T/instances/vtd-hwcheck
MOUNTED="" PROBED="" UNDO_TYPE="" UNDO_BIND="" OWN_I=""

say() { echo "hwcheck: $*" >&2; }
info() { echo "@@INFO $*"; }

# The sysfs name of the block device a node or sysfs name stands for.
blk_name() { basename "$(readlink -f "$1")"; }

# blk_disk NAME: the physical whole disk under block device NAME (through
# device-mapper and md slaves, a partition's parent).
blk_disk() {
	for s_ in /sys/class/block/"$1"/slaves/*; do
		[ -e "$s_" ] && { blk_disk "$(basename "$s_")"; return; }
	done
	if [ -e /sys/class/block/"$1"/partition ]; then
		basename "$(dirname "$(readlink -f /sys/class/block/"$1")")"
	else
		echo "$1"
	fi
}

# The last PCI address (BDF) in a sysfs path.
last_bdf() { echo "$1" | tr / '\n' | grep -E '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$' | tail -n 1; }

# blk_pci NAME: the PCI device behind block device NAME. An NVMe
# multipath disk hangs under its subsystem: its controllers link to it.
blk_pci() {
	d_=/sys/class/block/$(blk_disk "$1")
	b_=$(last_bdf "$(readlink -f "$d_")")
	if [ -z "$b_" ]; then
		for c_ in "$d_"/device/*; do
			[ -L "$c_" ] && b_=$(last_bdf "$(readlink -f "$c_")") && [ -n "$b_" ] && break
		done
	fi
	echo "$b_"
}

# The block device (sysfs name) of the filesystem mounted on $1, from
# /proc/self/mountinfo (the last mount there is the one seen): by its
# device number, or, for one without a block device of its own (btrfs),
# by its source.
mount_blk() {
	awk -v m="$1" '$5 == m { d = $3; for (i = 7; $i != "-"; i++); s = $(i + 2) } END { print d, s }' \
		/proc/self/mountinfo | {
		read -r dev src
		if [ -e /sys/dev/block/"$dev" ]; then blk_name /sys/dev/block/"$dev"
		elif [ -b "$src" ]; then blk_name "$src"; fi
	}
}

# in_use BDF: what of PCI device BDF the running system uses, one line
# each: every block device on it (a disk, its partitions, and whatever is
# built on them: device-mapper, md) that is mounted (by device number in
# /proc/self/mountinfo, so mount points with spaces and overmounts count
# too), a member of a btrfs filesystem, swap, or held by another block
# device (LVM, RAID, encryption, bcache, whether mounted or not).
in_use() {
	for b_ in /sys/class/block/*; do
		[ -e "$b_"/dev ] || continue
		n_=${b_##*/}
		case $(readlink -f "$b_") in
		*/"$1"/*) ;;
		*) [ "$(blk_pci "$n_")" = "$1" ] || continue ;;
		esac
		d_=$(cat "$b_"/dev)
		awk -v d="$d_" '$3 == d { f = 1 } END { exit !f }' /proc/self/mountinfo && echo "$n_: mounted"
		for f_ in /sys/fs/btrfs/*/devices/"$n_"; do [ -e "$f_" ] && echo "$n_: in a btrfs filesystem"; done
		awk 'NR > 1 { print $1 }' /proc/swaps | while read -r s_; do
			[ -b "$s_" ] && [ "$(blk_name "$s_")" = "$n_" ] && echo "$n_: swap"
		done
		h_=$(ls "$b_"/holders 2>/dev/null | tr '\n' ' ')
		[ -z "$h_" ] || echo "$n_: held by $h_"
	done
}

# The kprobe events of the harness's attach-order check, as
# scripts/build.sh's probes() defines them for its kernels (the test
# tests/test_hwcheck.py holds the two lists the same), with $1 the offset
# of struct pci_dev's struct device, in group $2 (vtd).
probe_defs() {
	g_=${2:-vtd}
	printf '%s\n' \
		"p:$g_/ats_enable pci_enable_ats dev=+0(+$1(\$arg1)):string" \
		"p:$g_/ats_disable pci_disable_ats dev=+0(+$1(\$arg1)):string" \
		"p:$g_/entry_live_context domain_context_mapping_one bus=\$arg4:u8 devfn=\$arg5:u8" \
		"p:$g_/entry_live_pasid_fl intel_pasid_setup_first_level dev=+0(+0(\$arg2)):string" \
		"p:$g_/entry_live_pasid_sl intel_pasid_setup_second_level dev=+0(+0(\$arg3)):string" \
		"p:$g_/entry_live_pasid_pt intel_pasid_setup_pass_through dev=+0(+0(\$arg3)):string" \
		"p:$g_/entry_clear_context domain_context_clear_one bus=\$arg2:u8 devfn=\$arg3:u8" \
		"p:$g_/entry_clear_pasid intel_pasid_tear_down_entry dev=+0(+0(\$arg2)):string pasid=\$arg3:u32"
}

# The kprobe events, in the instance: defined here in a group of the
# collector's own (vtdhw), removed at the end; or, without the offset
# they need (PCI_DEV_OFF), those of the kernel's command line if it has
# them (the harness's boots do: group vtd).
probes() {
	if [ -n "${PCI_DEV_OFF:-}" ]; then
		failed=""
		[ ! -d $T/events/vtdhw ] || { say "kprobe events of group vtdhw exist: another hwcheck runs, or a killed one left them"; exit 2; }
		probe_defs "$PCI_DEV_OFF" vtdhw > /tmp/vtd-hwcheck.probes
		while read -r p; do
			n=${p%% *} n=${n#p:}
			if echo "$p" >> $T/kprobe_events 2>/dev/null; then PROBED="$PROBED $n"; else failed="$failed ${n#vtdhw/}"; fi
		done < /tmp/vtd-hwcheck.probes
		rm -f /tmp/vtd-hwcheck.probes
		info "probes$(echo "$PROBED" | sed 's| vtdhw/| |g') (defined by hwcheck, pci_dev.dev at $PCI_DEV_OFF)${failed:+; failed:$failed}"
		g=vtdhw
	elif [ -d $T/events/vtd/ats_enable ]; then
		ev=""
		for e in $T/events/vtd/*/; do e=${e%/} ev="$ev ${e##*/}"; done
		info "probes$ev (defined before hwcheck)"
		g=vtd
	else
		info "probes none: no offset of struct pci_dev's dev (PCI_DEV_OFF; hwcheck.py reads it from /sys/kernel/btf/vmlinux)"
		return
	fi
	[ ! -d $I/events/$g ] || echo 1 > $I/events/$g/enable
}

# At the end, or when stopped: a rebind under way undone (the group's
# type written back, the driver bound), the instance and the kprobe
# events removed, the filesystems mounted here unmounted.
cleanup() {
	# shellcheck disable=SC2086 # "GROUP-DIR TYPE"
	[ -z "$UNDO_TYPE" ] || { set -- $UNDO_TYPE; [ "$(cat "$1"/type)" = "$2" ] || echo "$2" > "$1"/type; }
	[ -z "$UNDO_BIND" ] || echo "$BDF" > /sys/bus/pci/drivers/"$UNDO_BIND"/bind
	[ -z "$OWN_I" ] || { echo 0 > $I/tracing_on; echo 0 > $I/events/enable; rmdir $I; }
	for n in $PROBED; do echo "-:$n" >> $T/kprobe_events; done
	for m in $MOUNTED; do umount "$m"; done
}

mark() { echo "hwcheck $1" > $I/trace_marker; }

# A view of the tags, between markers in the trace.
view() {
	mark "$2-begin"
	echo "@@$1-BEGIN"
	cat $VIEW
	echo "@@$1-END"
	mark "$2-end"
}

# DEV readable again (after the rebind), within 60 s.
dev_ready() {
	n_=0
	until dd if="$DEV" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; do
		n_=$((n_ + 1))
		[ $n_ -lt 60 ] || return 1
		sleep 1
	done
}

# Unbind BDF's driver, switch its group's default domain to the other
# type and back (a driver rebind alone keeps the domain: nothing
# attaches), bind the driver again. What happened: REBIND_INFO.
rebind() {
	g=$(basename "$(readlink $PCI/"$BDF"/iommu_group)")
	gd=/sys/kernel/iommu_groups/$g
	n=$(ls "$gd"/devices | wc -l)
	if [ "$n" != 1 ]; then
		REBIND_INFO="refused: group $g has $n devices ($(ls "$gd"/devices | tr '\n' ' ')); 6.1 switches the domain of a one-device group only"
		return 1
	fi
	t0=$(cat "$gd"/type)
	case $t0 in
	identity) t1=DMA ;;
	DMA|DMA-FQ) t1=identity ;;
	*) REBIND_INFO="refused: group $g's domain is of type $t0"; return 1 ;;
	esac
	drv=$(basename "$(readlink $PCI/"$BDF"/driver)" 2>/dev/null)
	say "rebinding $BDF: unbind ${drv:-(no driver)}, group $g $t0 -> $t1 -> $t0, bind"
	mark rebind-begin
	UNDO_TYPE="$gd $t0" UNDO_BIND=$drv
	[ -z "$drv" ] || echo "$BDF" > $PCI/"$BDF"/driver/unbind
	if ! echo $t1 > "$gd"/type; then
		REBIND_INFO="failed: writing $t1 to group $g's type"
	elif ! echo "$t0" > "$gd"/type; then
		REBIND_INFO="failed: writing $t0 back to group $g's type (it is $(cat "$gd"/type))"
	else
		REBIND_INFO="done: $BDF unbound from ${drv:-no driver}, group $g $t0 -> $t1 -> $(cat "$gd"/type), bound again"
	fi
	[ -z "$drv" ] || echo "$BDF" > /sys/bus/pci/drivers/"$drv"/bind
	UNDO_TYPE="" UNDO_BIND=""
	if [ -n "$drv" ] && [ ! -e $PCI/"$BDF"/driver ]; then
		REBIND_INFO="failed: $BDF not bound to $drv again"
	fi
	mark rebind-end
	case $REBIND_INFO in done:*) ;; *) return 1 ;; esac
	dev_ready || { REBIND_INFO="$REBIND_INFO; $DEV was not readable within 60 s"; return 1; }
}

[ "$(id -u)" = 0 ] || { say "run it as root: it reads debugfs and tracefs"; exit 2; }
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
grep -q " $D debugfs " /proc/mounts || { mount -t debugfs debugfs $D && MOUNTED="$D $MOUNTED"; }
grep -q " $T tracefs " /proc/mounts || { mount -t tracefs tracefs $T && MOUNTED="$T $MOUNTED"; }

echo "@@HWCHECK-BEGIN"
info "uname $(uname -r)"
info "cmdline $(cat /proc/cmdline)"
info "host $(uname -n) $(date '+%Y-%m-%d %H:%M:%S %z')"
info "iommus $(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')"
echo "@@DMESG-BEGIN"
dmesg | grep -i -E 'dmar|iommu'
echo "@@DMESG-END"
if [ ! -d $T/events/intel_iommu/cache_tag_assign ]; then
	info "events none"
	say "this kernel ($(uname -r)) has no intel_iommu:cache_tag_* events"
	echo "@@HWCHECK-END"
	exit 0
fi
info "events $(ls -d $T/events/intel_iommu/cache_tag_* | sed 's|.*/||' | tr '\n' ' ')"
if [ ! -r $VIEW ]; then
	info "view none: no $VIEW: not the series' kernel, or built without CONFIG_INTEL_IOMMU_DEBUGFS"
	echo "@@HWCHECK-END"
	exit 0
fi

if [ -z "${DEV:-}" ]; then
	r=$(mount_blk /)
	[ -n "$r" ] || { say "/ is on no block device: name the device to read with DEV=/dev/..."; exit 2; }
	DEV=/dev/$(blk_disk "$r")
fi
[ -b "$DEV" ] || { say "DEV=$DEV is not a block device"; exit 2; }
BDF=$(blk_pci "$(blk_name "$DEV")")
if [ "${REBIND:-0}" = 1 ]; then
	[ -n "$BDF" ] || { say "REBIND=1: $DEV is behind no PCI device that could be rebound"; exit 2; }
	held=$(in_use "$BDF" | sort -u | tr '\n' ';')
	if [ -n "$held" ] && [ "${FORCE:-0}" != 1 ]; then
		say "refusing REBIND=1: $DEV is on PCI device $BDF, which the running system uses: $held"
		say "unbinding its driver would take that from under it (I/O errors, a degraded array, until a reboot);"
		say "name a device that holds none (DEV=/dev/...), or FORCE=1 to do it anyway"
		exit 2
	fi
fi
info "settings DEV=$DEV REBIND=${REBIND:-0} FORCE=${FORCE:-0}"
g=$(basename "$(readlink $PCI/"$BDF"/iommu_group 2>/dev/null)" 2>/dev/null)
info "dev $DEV ${BDF:-no-pci-device} driver=$(basename "$(readlink $PCI/"$BDF"/driver 2>/dev/null)" 2>/dev/null) group=$g type=$(cat /sys/kernel/iommu_groups/"$g"/type 2>/dev/null)"

# The instance is this run's lock: another run's, or one a killed run
# left, is not taken over (rmdir it by hand if no hwcheck runs).
if ! mkdir $I 2>/dev/null; then
	say "cannot create the tracefs instance $I: another hwcheck runs, or a killed one left it (rmdir $I)"
	exit 2
fi
OWN_I=1
# One clock for all CPUs: the attach order is read across them. A
# buffer of its own size: 4 MiB a CPU.
{ echo 0 > $I/tracing_on && echo global > $I/trace_clock && echo 4096 > $I/buffer_size_kb; } ||
	{ say "cannot set up the tracefs instance $I"; exit 2; }
for e in $I/events/intel_iommu/cache_tag_*; do
	echo 1 > "$e"/enable || { say "cannot enable $e"; exit 2; }
done
if [ "${REBIND:-0}" = 1 ]; then probes; else info "probes not needed: REBIND=1 not given"; fi
: > $I/trace
echo 1 > $I/tracing_on
say "reading $VIEW, tracing the cache_tag events"
view TAGS-SEED seed
if [ "${REBIND:-0}" = 1 ]; then
	rebind
	info "rebind $REBIND_INFO"
else
	info "rebind not asked (REBIND=1 not given)"
fi
say "workload: 256 x 4 KiB O_DIRECT reads of $DEV"
mark workload-begin
out=$(dd if="$DEV" of=/dev/null bs=4096 count=256 iflag=direct 2>&1)
rc=$?
mark workload-end
info "workload rc=$rc: $(echo "$out" | tr '\n' ' ')"
view TAGS view
echo 0 > $I/tracing_on
info "pci-devices: $(ls $PCI | tr '\n' ' ')"
echo "@@TRACE-BEGIN"
grep -v '^#' $I/trace | awk '/tracing_mark_write: hwcheck seed-begin/ { on = 1 } on'
echo "@@TRACE-END"
info "trace lost $(cat $I/per_cpu/cpu*/stats | awk '/overrun/ { s += $2 } END { print s + 0 }')"
echo "@@HWCHECK-END"
