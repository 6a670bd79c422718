# shellcheck shell=sh
# Sourced by /init (guest/init): the domain-switch step.

# Unbind the disk, change its group's default domain type, rebind, DMA.
# The order comes from vtdswitch= (scripts/qemu.sh), default identity,
# DMA-FQ, DMA; vtdswitches=N goes round that order to N switches.
step_domain_switch() {
	local g t got res="" drv=/sys/bus/pci/drivers/virtio-pci order i=0 n k
	order=${SWITCH:-identity DMA-FQ DMA}
	k=$(echo $order | wc -w)
	n=${SWITCHES:-$k}
	g=$(basename "$(readlink /sys/bus/pci/devices/$DISK_BDF/iommu_group)")
	while [ $i -lt $n ]; do
		t=$(echo $order | cut -d' ' -f$((i % k + 1)))
		i=$((i + 1))
		echo $DISK_BDF > $drv/unbind
		if ! echo $t > /sys/kernel/iommu_groups/$g/type 2>/dev/null; then
			echo $DISK_BDF > $drv/bind
			tap fail domain-switch "writing $t to group $g's type failed"; return
		fi
		echo $DISK_BDF > $drv/bind
		disk_ready 30 || { tap fail domain-switch "$DISK gone after switching to $t"; return; }
		got=$(cat /sys/kernel/iommu_groups/$g/type)
		if ! dmaio write $DISK $((77 + i)) 0 32 4096 >/dev/null || ! dmaio verify $DISK $((77 + i)) 0 32 4096 >/dev/null; then
			tap fail domain-switch "switch $i: data check failed in a $got domain"; return
		fi
		echo "VTD-MARK switched $g $got" > /dev/kmsg
		[ $n -gt 6 ] || res="$res $got"
	done
	[ $n -le 6 ] || res=" $n switches in the order $order"
	tap ok domain-switch "group $g went through:$res, DMA intact in each"
}
