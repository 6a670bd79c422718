# shellcheck shell=sh
# Sourced by /init (guest/init): the realflush step.

# The debugfs view of the tags, for the host to hold against the state it
# replays from the trace (vtdlog.py tags). Taken just before the trace
# dump, with the devices idle, so both describe the same moment.
# realflush: the harness's KUnit module (tests/kmod/vtd_realflush.c)
# unmaps a virtio device's DMA in a KUnit case and in a timer during one; the
# host checks that QEMU received the invalidations (vtdlog.py realflush).
step_realflush() {
	mark begin realflush
	if insmod /lib/vtd_realflush.ko 2>/tmp/insmod.err; then
		tap ok realflush "vtd_realflush loaded: the host reads its cases and QEMU's trace"
	else
		tap fail realflush "vtd_realflush.ko: $(cat /tmp/insmod.err) (built with the kernel: tests/kmod)"
	fi
	mark end realflush
}
