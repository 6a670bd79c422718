# shellcheck shell=sh
# Sourced by /init (guest/init): the events step.

step_events() {
	if have_events; then
		tap ok events "cache_tag events: $(ls -d $T/events/intel_iommu/cache_tag_* | sed 's|.*/||' | tr '\n' ' ')"
	else
		tap skip events "this kernel has no intel_iommu:cache_tag_* events (stock 6.1)"
	fi
}
