#!/usr/bin/env bash
# Boot a kernel on QEMU q35 + intel-iommu (TCG) in one profile.
#   qemu.sh PROFILE STEPS LOG [interactive]
# STEPS is a comma list of guest steps (guest/init). The serial console and
# QEMU's -trace 'vtd_inv*' (not for the VFIO profiles) go to LOG
# interleaved, so guest markers delimit the descriptors each step caused.
# KERNEL, INITRD, TIMEOUT and IDLE come from the environment. A guest that
# does not power off within TIMEOUT seconds, or prints nothing for IDLE
# seconds (scripts/guestdog.py: QEMU is asked, the guest gets an NMI, panics and
# prints where it was), is killed and the exit status is 124.
. "$(dirname "$0")/lib.sh"

profile=$1 steps=$2 logf=$3 inter=${4:-}
: "${KERNEL:?}" "${INITRD:=$WORK/initramfs.cpio.gz}" "${TIMEOUT:=300}" "${IDLE:=600}"
# The watchdog's NMI and its 60 s of grace within TIMEOUT: a short guest
# that goes quiet still says where it was (a 300 s guest, silent from
# 4 s, once left only "terminating on signal 15").
[ "$IDLE" -lt $((TIMEOUT - 60)) ] || IDLE=$((TIMEOUT / 2))
run=$(dirname "$logf")/$(basename "$logf" .log).d
mkdir -p "$run"
disk=$run/disk.img
rm -f "$disk"
truncate -s 64M "$disk"

ats=off devtlb=off devices=() images=() extra=""
iommu_opts="intremap=on,aw-bits=48"
cmd_iommu="intel_iommu=on,sm_off iommu.strict=1"
sm="x-scalable-mode=on"
# First-level (x-flts, QEMU 10): QEMU then offers first level only
# (ECAP.FLTS set, SLTS clear), so 6.1's first_level_by_default() gives
# every paging domain, VFIO's too, first-level tables.
fl="$sm,x-flts=on"
case $profile in
legacy)       ;;
legacy-ats)   ats=on devtlb=on ;;
sm-cm-ats)    ats=on devtlb=on iommu_opts+=",caching-mode=on,$sm" ;;
sm-fl)        iommu_opts+=",$fl" ;;
sm-fl-ats)    ats=on devtlb=on iommu_opts+=",$fl" ;;
sm-fl-cm-ats) ats=on devtlb=on iommu_opts+=",caching-mode=on,$fl" ;;
lazy)         ats=on devtlb=on cmd_iommu="intel_iommu=on,sm_off iommu.strict=0" ;;
vfio)         ats=on devtlb=on ;;
vfio-cm)      ats=on devtlb=on iommu_opts+=",caching-mode=on" ;;
vfio-sm)      ats=on devtlb=on iommu_opts+=",$sm" ;;
vfio-sm-cm)   ats=on devtlb=on iommu_opts+=",caching-mode=on,$sm" ;;
vfio-sm-fl)   ats=on devtlb=on iommu_opts+=",$fl" ;;
# make soak: legacy-ats's disk, four edu devices for VFIO and a virtio-rng
# (no driver in the guest) for dma_map_benchmark, ATS on; soak-lazy: the
# same in lazy mode.
soak)         ats=on devtlb=on ;;
soak-lazy)    ats=on devtlb=on cmd_iommu="intel_iommu=on,sm_off iommu.strict=0" ;;
# Real drivers (the drivers step): NVMe, AHCI and xHCI with usb-storage
# beside the virtio disk, in strict legacy, strict first-level, caching
# mode and lazy mode.
drivers)      ;;
drivers-fl)   iommu_opts+=",$fl" ;;
drivers-cm)   iommu_opts+=",caching-mode=on" ;;
drivers-lazy) cmd_iommu="intel_iommu=on,sm_off iommu.strict=0" ;;
# Two devices in one domain (the pair step): two NVMe controllers behind
# a PCIe-to-PCI bridge, strict legacy mode.
bridge)       ;;
*) die "unknown profile '$profile' ($PROFILES_ALL)" ;;
esac
case $iommu_opts in *x-scalable-mode=on*) cmd_iommu=${cmd_iommu/sm_off/sm_on} ;; esac
# Scalable mode: a device leaves identity (a pass-through PASID entry) for
# a translated domain only with a PASID-cache invalidation, which QEMU 10.0
# does not act on: its DMA stays untranslated and virtio breaks ("Guest
# says index N is available"), stock 6.1 as well. So there the domain
# switches end in identity instead of starting there (docs/design.md).
switch=""
case $iommu_opts in *x-scalable-mode=on*) switch=" vtdswitch=DMA-FQ,DMA,identity" ;; esac
case $profile in
vfio*)
	devices=(-device pcie-root-port,id=rp2,chassis=2,slot=2 -device edu,id=edu0,bus=rp2) ;;
soak*)
	for i in 2 3 4 5; do
		devices+=(-device "pcie-root-port,id=rp$i,chassis=$i,slot=$i" -device "edu,id=edu$((i - 2)),bus=rp$i")
	done
	devices+=(-device pcie-root-port,id=rp6,chassis=6,slot=6
		-device virtio-rng-pci,id=rng0,bus=rp6,disable-legacy=on,iommu_platform=on,ats=on) ;;
drivers*)
	# The NVMe controller on a root port of its own, which hot-plug
	# removes and adds back (scripts/hotplug.py: nvme1 on rp3, block node
	# n0); a SATA disk on q35's own AHCI controller (ICH9, 00:1f.2); a
	# USB stick on an xHCI controller. 64 MiB each.
	images=(nvme sata usb)
	devices=(-device pcie-root-port,id=rp3,chassis=3,slot=3
		-blockdev "driver=raw,file.driver=file,file.filename=$run/nvme.img,node-name=n0"
		-device nvme,id=nvme1,bus=rp3,drive=n0,serial=vtdnvme1
		-blockdev "driver=raw,file.driver=file,file.filename=$run/sata.img,node-name=s0"
		-device ide-hd,id=sata1,bus=ide.0,drive=s0
		-device pcie-root-port,id=rp4,chassis=4,slot=4
		-device qemu-xhci,id=xhci,bus=rp4
		-blockdev "driver=raw,file.driver=file,file.filename=$run/usb.img,node-name=u0"
		-device usb-storage,id=usb1,bus=xhci.0,drive=u0) ;;
bridge)
	# Behind a PCIe-to-PCI bridge the IOMMU sees one requester ID, the
	# bridge's, for both controllers: one IOMMU group, one domain (as
	# Ubuntu LP #2115738's two NVMe functions shared one; no ATS here).
	images=(pair1 pair2)
	devices=(-device pcie-root-port,id=rp5,chassis=5,slot=5
		-device pcie-pci-bridge,id=br0,bus=rp5
		-blockdev "driver=raw,file.driver=file,file.filename=$run/pair1.img,node-name=p1"
		-device nvme,id=nvme2,bus=br0,addr=1,drive=p1,serial=vtdpair1
		-blockdev "driver=raw,file.driver=file,file.filename=$run/pair2.img,node-name=p2"
		-device nvme,id=nvme3,bus=br0,addr=2,drive=p2,serial=vtdpair2) ;;
esac
[ $devtlb = on ] && iommu_opts+=",device-iotlb=on"
# Suspend to RAM (the suspend step): q35 offers S3 only when asked to.
s3=()
[[ ",$steps," != *,suspend,* ]] || s3=(-global ICH9-LPC.disable_s3=0)

# The events traced from boot (EVENTS: fewer, for runs whose flushes would
# overflow the buffer, as make soak's; "none" for make bench's boots: no
# event at all, the guest's fallback included).
events=${EVENTS:-cache_tag_assign,cache_tag_unassign,cache_tag_flush_range,cache_tag_flush_range_np,cache_tag_flush_all}
events=$(echo $events | sed 's/\([a-z_]*\)/intel_iommu:\1/g')
tev="trace_event=$events trace_buf_size=32M trace_clock=global"
[ "${EVENTS:-}" != none ] || tev="vtdnotrace=1"
# no_timer_check: the IO-APIC timer's check at boot counts ticks in a
# busy wait, which a vCPU starved by a loaded host fails ("Kernel panic:
# timer doesn't work through Interrupt-remapped IO-APIC", seen once in
# vfio-sm-fl among make test's background guests, 2026-12-08); KVM guests
# skip it the same way.
append="console=ttyS0 panic=-1 oops=panic unknown_nmi_panic panic_print=0x9 no_timer_check $cmd_iommu $tev vtdsteps=$steps vtdoracle=${ORACLE:-1000}$switch ${APPEND:-}"
# The kprobe events by which the trace shows ATS and context/PASID entries
# changing (build.sh probes), written next to the kernel by its build and
# defined at boot, before the first device is attached.
probes=$(dirname "$KERNEL")/vtd-probes
[ -f "$probes" ] && append+=" kprobe_event=$(cat "$probes")"

# The harness's test modules built with this kernel (build.sh kmods), in
# the guest's /lib: a cpio of their own appended to the image (the kernel
# unpacks one archive after the other).
kos=("$(dirname "$KERNEL")"/*.ko)
if [ -e "${kos[0]}" ]; then
	rm -rf "$run/kmod"
	mkdir -p "$run/kmod/lib"
	cp "${kos[@]}" "$run/kmod/lib/"
	(cd "$run/kmod" && find . | cpio -o -H newc --quiet | gzip -1) > "$run/kmod.cpio.gz"
	cat "$INITRD" "$run/kmod.cpio.gz" > "$run/initrd"
	INITRD=$run/initrd
fi

# QEMU's invalidation trace is the descriptor-count oracle. The VFIO
# profiles count nothing and would only write tens of megabytes of it.
# QTRACE=0: none either (make bench's timed boots: a traced descriptor
# costs QEMU a formatted write).
trace=(-trace 'vtd_inv*')
case $profile in vfio*|soak*) trace=() ;; esac
[ "${QTRACE:-1}" = 1 ] || trace=()
qemu=(qemu-system-x86_64 -accel tcg -machine q35 -smp 2 -m 1G -nodefaults
	-display none -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$append"
	-qmp "unix:$run/qmp.sock,server=on,wait=off" -qmp "unix:$run/dog.sock,server=on,wait=off"
	"${trace[@]}" "${s3[@]}"
	-device "intel-iommu,$iommu_opts"
	-device pcie-root-port,id=rp1,chassis=1,slot=1
	-blockdev "driver=raw,file.driver=file,file.filename=$disk,node-name=d0"
	-device "virtio-blk-pci,id=vblk1,bus=rp1,drive=d0,iommu_platform=on,ats=$ats"
	"${devices[@]}")
printf '%q ' "${qemu[@]}" > "$run/cmdline"
# The drivers and bridge profiles' disks (boot_once makes them new for each boot).
new_images() {
	local img
	for img in "${images[@]}"; do
		rm -f "$run/$img.img"
		truncate -s 64M "$run/$img.img"
	done
}
if [ -n "$inter" ]; then
	new_images
	exec "${qemu[@]}" -serial mon:stdio 2>"$logf"
fi
# One boot. QEMU 10's multi-threaded TCG can abort on an assertion of its
# own (seen once in 30-odd boots, under load, during PCI enumeration:
# "physmem.c:2678: iotlb_to_section: Assertion `section_index <
# d->map.sections_nb' failed"). That is QEMU, not the kernel under test:
# such a boot is kept as LOG.qemu-abort and run once more, and the guest's
# report says so (test.sh). Any other failure stands.
boot_once() {
	local helper="" rc=0
	: > "$logf"
	# The version string of the image booted, from its setup header: the
	# host checks that the guest ran this kernel (report.py: kernel-identity).
	python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read(0x10000)
o = struct.unpack_from("<H", d, 0x20E)[0] + 0x200
print("@@HOST kernel " + d[o:d.index(b"\0", o)].decode(errors="replace"))' "$KERNEL" >> "$logf" 2>/dev/null || true
	rm -f "$disk"
	truncate -s 64M "$disk"
	new_images
	# Hot-plug and wake-up requests from the guest are answered over QMP.
	if [[ ",$steps," == *,hotplug,* || ",$steps," == *,suspend,* || ",$steps," == *,soak,* ||
		",$steps," == *,drivers,* ]]; then
		ATS=$ats TIMEOUT=$TIMEOUT python3 "$TOP/scripts/hotplug.py" "$logf" "$run/qmp.sock" &
		helper=$!
	fi
	rm -f "$logf.idle" "$logf.hotplug"
	timeout -k 5 "$TIMEOUT" "${qemu[@]}" -serial stdio </dev/null >>"$logf" 2>&1 &
	local q=$!
	python3 "$TOP/scripts/guestdog.py" "$logf" "$run/dog.sock" "$IDLE" "$q" &
	local dog=$!
	# (wait's stderr: bash's own "PID Aborted ..." when QEMU dies on its
	# assertion, which the caller reports in a line of its own.)
	wait "$q" 2>/dev/null || rc=$?
	kill "$dog" 2>/dev/null || true
	wait "$dog" 2>/dev/null || true
	if [ -n "$helper" ]; then kill "$helper" 2>/dev/null || true; wait "$helper" 2>/dev/null || true; fi
	[ ! -f "$logf.idle" ] || rc=124
	return $rc
}
# It can also stop giving a vCPU timer interrupts (seen twice in one
# make test: an RCU stall, the CPU idle in HLT with its timer softirqs
# standing still, once 20 s into a boot, once after an S3 wake-up);
# guestdog.py stops such a guest at the second stall report and leaves
# LOG.stalled; it leaves it too for a silent guest in which QEMU says a
# vCPU's timer vector stays in service (ISR) with interrupts on, or
# waits in IRR though it could be taken. Kept as
# LOG.tcg-stall, booted once more, reported.
rm -f "$logf.end" "$logf.qemu-abort" "$logf.tcg-stall" "$logf.stalled" "$logf.qemu-state" "$logf.tcg-stall.qemu-state"
rc=0
boot_once || rc=$?
if [ -f "$logf.stalled" ]; then
	mv "$logf" "$logf.tcg-stall"
	[ ! -f "$logf.qemu-state" ] || mv "$logf.qemu-state" "$logf.tcg-stall.qemu-state"
	log "QEMU stopped giving a vCPU timer interrupts ($(cat "$logf.stalled")): booting again"
	rm -f "$logf.stalled"
	rc=0
	boot_once || rc=$?
	[ ! -f "$logf.stalled" ] || rc=124
elif [ $rc != 0 ] && [ $rc != 124 ] && grep -a -q -E '^qemu-system-x86_64: .*Assertion .* failed' "$logf"; then
	mv "$logf" "$logf.qemu-abort"
	log "QEMU aborted on its own assertion ($(grep -a -m1 -o 'Assertion .* failed' "$logf.qemu-abort")): booting again"
	rc=0
	boot_once || rc=$?
fi
# How the boot ended, in one record beside the log (LOG.end, JSON), which
# is all the host reads of it: rc; how (finished: QEMU exited 0 after the
# guest powered off; exit: QEMU failed; timeout: killed after TIMEOUT;
# silent: killed after IDLE seconds without output; stalled: a vCPU got
# no timer interrupts in both boots); detail; again (the first boot of
# two, kept aside: qemu-abort or tcg-stall).
how=finished detail=""
if [ -f "$logf.stalled" ]; then
	how=stalled detail=$(head -c 300 "$logf.stalled")
elif [ -f "$logf.idle" ]; then
	how=silent detail="no console output for $(cat "$logf.idle")s"
elif [ $rc = 124 ]; then
	how=timeout detail="still running after ${TIMEOUT}s"
elif [ $rc != 0 ]; then
	how=exit detail="QEMU exited $rc"
fi
again=""
[ ! -f "$logf.qemu-abort" ] || again=qemu-abort
[ ! -f "$logf.tcg-stall" ] || again=tcg-stall
python3 -c 'import json, sys
rc, how, detail, again, path = sys.argv[1:]
json.dump({"rc": int(rc), "how": how, "detail": detail.strip(), "again": again}, open(path, "w"))' \
	"$rc" "$how" "$detail" "$again" "$logf.end"
exit $rc
