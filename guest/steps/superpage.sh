# shellcheck shell=sh
# Sourced by /init (guest/init): the superpage step.

step_superpage() {
	local out rc=0
	out=$(dmb_lend $DISK_BDF) || { tap fail superpage "$out"; return; }
	mark "begin superpage"
	out=$(dma_map_benchmark -t 1 -s 1 -g 512 2>&1) || rc=$?
	mark "end superpage"
	dmb_return $DISK_BDF
	if ! disk_ready 30; then
		tap fail superpage "$DISK did not come back to virtio-pci"; return
	fi
	if [ $rc = 0 ]; then
		tap ok superpage "dma_map_benchmark -g 512 (2 MiB): $(echo "$out" | grep -m1 "average map latency" | tr -s ' ')"
	else
		tap fail superpage "dma_map_benchmark exited $rc: $(echo "$out" | tail -n 1)"
	fi
}
