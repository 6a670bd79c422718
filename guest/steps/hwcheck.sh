# shellcheck shell=sh
# Sourced by /init (guest/init): the hwcheck step.

# make hwcheck's collector (scripts/hwcollect.sh, /bin/hwcollect here) on
# the disk, as on a machine with VT-d, its driver rebound. It defines its
# own kprobe events, as on a machine booted without the harness's, with
# the offset of struct pci_dev's dev that the boot's own give (make
# hwcheck reads it from the kernel's BTF). The bundle goes
# to the host compressed, between @@HWCHECK-GZ-BEGIN and -END, and the
# host judges it with make hwcheck's judge (report.py: hwcheck:*).
step_hwcheck() {
	local rc=0 off
	off=$(sed -n 's/.*pci_enable_ats dev=+0(+\([0-9]*\)(\$arg1)).*/\1/p' $T/kprobe_events)
	PCI_DEV_OFF=$off DEV=$DISK REBIND=1 hwcollect > /tmp/hwcheck.txt || rc=$?
	[ -z "$(grep vtdhw $T/kprobe_events)" ] || { tap fail hwcheck "hwcollect left kprobe events: $(grep vtdhw $T/kprobe_events | tr '\n' ' ')"; return; }
	echo "@@HWCHECK-GZ-BEGIN"
	gzip -1 < /tmp/hwcheck.txt | base64
	echo "@@HWCHECK-GZ-END"
	if [ $rc = 0 ]; then tap ok hwcheck "a bundle of $(wc -l < /tmp/hwcheck.txt) lines sent: the host judges it"
	else tap fail hwcheck "hwcollect exited $rc"; fi
	rm -f /tmp/hwcheck.txt
}
