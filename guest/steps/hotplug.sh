# shellcheck shell=sh
# Sourced by /init (guest/init): the hotplug step.

# The host (scripts/hotplug.py) answers "@@HOTPLUG del|add N" over QMP.
# Rounds: vtdhotplug= (5).
step_hotplug() {
	local i ok=0 loop n=${HOTPLUG_ROUNDS:-5}
	for i in $(seq 1 $n); do
		(while dmaio read $DISK 64 4096 >/dev/null 2>&1; do :; done) &
		loop=$!
		sleep 0.5
		echo "@@HOTPLUG del $i"
		# The host asks QEMU again every 15 s while the removal does not
		# complete, for up to 90 s (scripts/hotplug.py).
		if ! wait_for "[ ! -e /sys/bus/pci/devices/$DISK_BDF ]" 60; then
			tap fail hotplug "round $i: $DISK_BDF still there 60s after device_del"
			kill $loop 2>/dev/null; return
		fi
		kill $loop 2>/dev/null; wait $loop 2>/dev/null
		echo "@@HOTPLUG add $i"
		if ! disk_ready 120; then
			tap fail hotplug "round $i: $DISK did not come back within 120 s of asking for it"; return
		fi
		seed=$((i * 7919))
		if dmaio write $DISK $seed 0 64 4096 >/dev/null && dmaio verify $DISK $seed 0 64 4096 >/dev/null; then
			ok=$((ok + 1))
		else
			tap fail hotplug "round $i: data check failed after re-adding the disk"; return
		fi
	done
	tap ok hotplug "$ok/$n rounds: removed during I/O, re-added, data intact"
}
