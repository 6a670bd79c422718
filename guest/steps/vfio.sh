# shellcheck shell=sh
# Sourced by /init (guest/init): the vfio step.

step_vfio() {  # bind the edu device to vfio-pci, run the VFIO selftest
	local out rc kst=/bin/kselftest/iommu/vfio_cache_tags
	out=$(vfio_bind) || { tap fail vfio "$out"; return; }
	[ -x $kst ] || { tap fail vfio "$out; no $kst: selftest exit=127"; return; }
	# The selftest's TAP nested under this step's result, four spaces in,
	# and its exit code giving that result, as kselftest's runner does.
	mark "begin vfio-selftest"
	( VTD_ORACLE_CYCLES=${ORACLE:-1000} $kst 2>&1; echo $? > /tmp/kst.rc ) | sed 's/^/@@VTD     /'
	mark "end vfio-selftest"
	rc=$(cat /tmp/kst.rc)
	case $rc in
	0) tap ok vfio "$out; selftest exit=0" ;;
	4) tap skip vfio "$out; selftest exit=4 (skipped)" ;;
	*) tap fail vfio "$out; selftest exit=$rc" ;;
	esac
}
