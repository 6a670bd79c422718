# shellcheck shell=sh
# Sourced by /init (guest/init): the kmemleak step.

# The debug kernel: a kmemleak scan after the churn (hotplug rounds,
# domain switches, VFIO cycles). kmemleak leaves out objects younger than
# 5 s, and lists after a scan only what that scan found unreferenced, so
# the guest waits, then scans twice: an object a pointer in flight hid
# from one scan is not listed. The host attributes each object by its
# allocation backtrace (vtdlog.py sanitizers).
step_kmemleak() {
	local f=/sys/kernel/debug/kmemleak s
	[ -e $f ] || { tap fail kmemleak "no $f: this kernel has no kmemleak"; return; }
	sleep 6
	for s in 1 2; do
		if ! echo scan > $f; then tap fail kmemleak "scan $s: writing 'scan' to $f failed"; return; fi
	done
	echo "@@KMEMLEAK-BEGIN"
	cat $f
	echo "@@KMEMLEAK-END"
	tap ok kmemleak "2 scans, $(grep -c '^unreferenced object' $f) unreferenced object(s) listed"
}
