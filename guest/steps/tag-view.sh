# shellcheck shell=sh
# Sourced by /init (guest/init): the tag-view step.

step_tag_view() {
	local f=/sys/kernel/debug/iommu/intel/cache_tags
	if [ ! -r $f ]; then tap skip tag-view "no $f (stock 6.1, or no CONFIG_INTEL_IOMMU_DEBUGFS)"; return; fi
	echo "@@TAGS-BEGIN"
	cat $f
	echo "@@TAGS-END"
	tap ok tag-view "$(grep -c '^domain ' $f) tags listed in $f"
}
