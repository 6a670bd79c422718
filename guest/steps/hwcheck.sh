# shellcheck shell=sh
# Sourced by /init (guest/init): the hwcheck step.

# make hwcheck's collector (scripts/hwcollect.sh, /bin/hwcollect here) on
# the disk, as on a machine with VT-d, its driver rebound. The bundle goes
# to the host compressed, between @@HWCHECK-GZ-BEGIN and -END, and the
# host judges it with make hwcheck's judge (report.py: hwcheck:*).
step_hwcheck() {
	local rc=0
	DEV=$DISK REBIND=1 hwcollect > /tmp/hwcheck.txt || rc=$?
	echo "@@HWCHECK-GZ-BEGIN"
	gzip -1 < /tmp/hwcheck.txt | base64
	echo "@@HWCHECK-GZ-END"
	if [ $rc = 0 ]; then tap ok hwcheck "a bundle of $(wc -l < /tmp/hwcheck.txt) lines sent: the host judges it"
	else tap fail hwcheck "hwcollect exited $rc"; fi
	rm -f /tmp/hwcheck.txt
}
