# shellcheck shell=sh
# Sourced by /init (guest/init): the vfio step.

step_vfio() {  # bind the edu device to vfio-pci, run the VFIO selftest
	local out kst=/bin/kselftest/iommu/vfio_cache_tags
	if out=$(vfio_bind); then tap ok vfio-bind "$out"
	else tap fail vfio-bind "$out"; return; fi
	# The selftest's own TAP goes to the host as it is, behind "@@KST ",
	# with its exit status: the host checks plan, results and exit code.
	mark "begin vfio-selftest"
	( if [ -x $kst ]; then VTD_ORACLE_CYCLES=${ORACLE:-1000} $kst 2>&1; echo "KST-EXIT $?"
	  else echo "KST-EXIT 127"; fi ) | sed 's/^/@@KST /'
	mark "end vfio-selftest"
}
