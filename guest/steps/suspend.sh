# shellcheck shell=sh
# Sourced by /init (guest/init): the suspend step.

# Suspend to RAM and wake, 5 times, with the disk's tags live. On waking,
# QEMU resets the devices (RAM is kept), so the kernel's resume enables the
# invalidation queue and sets the root table afresh under the tags it
# holds. The host (scripts/hotplug.py) wakes the guest over QMP when it
# sees "@@SUSPEND N" and QEMU has suspended; it checks in QEMU's trace
# that each round re-enabled the queue and used it (vtdlog.py suspend).
# Here: the write to /sys/power/state returns, the disk works, and the tag
# view is the same after the five rounds as before them (no tag lost,
# added or recounted).
#
# The reset on waking also clears two registers that SeaBIOS's resume path
# does not program again, as a real firmware's S3 boot script does:
# - the Q35 MCH's PCIEXBAR (00:00.0, config 0x60, 8 bytes): MMCONFIG is
#   then off, and every read of extended config space gives 0 (measured:
#   the disk's ATS capability vanished, so no domain attach after the
#   wake-up enabled ATS again, in stock 6.1 as in the series);
# - the ICH9 LPC's ACPI base and enable (00:1f.0, PMBASE 0x40 and
#   ACPI_CNTL 0x44): the PM1 registers are then unmapped, and the next
#   "echo mem" returns at once without QEMU ever suspending (measured: no
#   QMP SUSPEND event after round 1, though the kernel prints its wake-up
#   lines).
# So the guest writes them back after each round, as they were before
# round 1 (through the legacy config mechanism, which needs neither).
# The kernel's own resume ran before that, without extended config space:
# it could not restore the disk's ATS control (the kernel still counts ATS
# on, and keeps the device-TLB tag; the next attach enables it again).
FWREGS="0000:00:00.0:96:8 0000:00:1f.0:64:5"

fw_regs() {  # fw_regs save|restore|check
	local r dev off n
	for r in $FWREGS; do
		dev=${r%:*:*} off=${r#"$dev":} n=${off#*:} off=${off%:*}
		case $1 in
		save) dd if=/sys/bus/pci/devices/$dev/config of=/tmp/fw-$off bs=1 skip=$off count=$n 2>/dev/null ;;
		restore) dd if=/tmp/fw-$off of=/sys/bus/pci/devices/$dev/config bs=1 seek=$off conv=notrunc 2>/dev/null ;;
		check) dd if=/sys/bus/pci/devices/$dev/config bs=1 skip=$off count=$n 2>/dev/null | cmp -s - /tmp/fw-$off ||
			{ echo "$dev config $off"; return 1; } ;;
		esac
	done
}

step_suspend() {
	local i ok=0 seed v=/sys/kernel/debug/iommu/intel/cache_tags fw="" why
	if ! grep -qw mem /sys/power/state 2>/dev/null || ! grep -qw deep /sys/power/mem_sleep 2>/dev/null; then
		tap fail suspend "no suspend to RAM (S3): state '$(cat /sys/power/state 2>&1)', mem_sleep '$(cat /sys/power/mem_sleep 2>&1)'"
		return
	fi
	# Only on q35 (MCH 0x29c0, ICH9 LPC 0x2918).
	if [ "$(cat /sys/bus/pci/devices/0000:00:00.0/device /sys/bus/pci/devices/0000:00:1f.0/device 2>/dev/null | tr '\n' ' ')" = "0x29c0 0x2918 " ]; then
		fw_regs save && fw=1
	fi
	echo deep > /sys/power/mem_sleep
	[ -r $v ] && cat $v > /tmp/tags-before
	for i in 1 2 3 4 5; do
		mark "begin suspend-$i"
		echo "@@SUSPEND $i"
		if ! echo mem > /sys/power/state; then
			mark "end suspend-$i"
			tap fail suspend "round $i: writing mem to /sys/power/state failed"; return
		fi
		if [ -n "$fw" ]; then
			fw_regs restore
			if ! why=$(fw_regs check); then
				mark "end suspend-$i"
				tap fail suspend "round $i: could not set $why back"; return
			fi
		fi
		mark "end suspend-$i"
		if ! disk_ready 30; then
			tap fail suspend "round $i: $DISK gone after resume"; return
		fi
		seed=$((i * 104729))
		if ! dmaio write $DISK $seed 0 64 4096 >/dev/null || ! dmaio verify $DISK $seed 0 64 4096 >/dev/null; then
			tap fail suspend "round $i: data check failed after resume"; return
		fi
		ok=$((ok + 1))
	done
	if [ -r $v ]; then
		cat $v > /tmp/tags-after
		if ! cmp -s /tmp/tags-before /tmp/tags-after; then
			tap fail suspend "the cache tags changed across the rounds: $(diff /tmp/tags-before /tmp/tags-after | grep '^[-+][^-+]' | head -n 2 | tr '\n' ' ')"
			return
		fi
		tap ok suspend "$ok/5 rounds: suspended to RAM, woken, data intact; the $(grep -c '^domain ' /tmp/tags-after) cache tags the same after as before"
	else
		tap ok suspend "$ok/5 rounds: suspended to RAM, woken, data intact (no tag view in this kernel)"
	fi
}
