# shellcheck shell=sh
# Sourced by /init (guest/init): the boot step.

step_boot() {
	local n
	n=$(ls /sys/class/iommu 2>/dev/null | wc -l)
	if [ "$n" -gt 0 ]; then
		tap ok iommu "$n IOMMU(s): $(ls /sys/class/iommu | tr '\n' ' ')"
	else
		tap fail iommu "no IOMMU registered in /sys/class/iommu"
	fi
	echo "@@INFO uname $(uname -r)"
	for d in /sys/class/iommu/*/intel-iommu; do
		[ -d $d ] && echo "@@INFO $(basename ${d%/intel-iommu}) cap=$(cat $d/cap) ecap=$(cat $d/ecap)"
	done
	for g in /sys/kernel/iommu_groups/*; do
		echo "@@INFO group $(basename $g) type=$(cat $g/type) devices=$(ls $g/devices | tr '\n' ' ')"
	done
}
