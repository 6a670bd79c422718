# shellcheck shell=sh
# Sourced by /init (guest/init): the trace-dump step.

step_trace_dump() {  # hand the cache_tag events to the host
	if ! have_events; then tap skip trace-dump "no cache_tag events"; return; fi
	echo "@@INFO pci-devices: $(ls /sys/bus/pci/devices | tr '\n' ' ')"
	# Compressed: a serial console under TCG moves a few hundred KiB/s at
	# best, and far less beside other guests; text shrinks about tenfold.
	# The host expands it (vtdlog.py console()).
	# One read of the buffer, counted from a copy: reading it again took
	# the kcsan kernel over 10 minutes for 600,000 events, in silence.
	echo "@@TRACE-GZ-BEGIN"
	grep -v '^#' $T/trace | tee /tmp/trace.txt | gzip -1 | base64
	echo "@@TRACE-GZ-END"
	local n lost
	n=$(wc -l < /tmp/trace.txt)
	rm -f /tmp/trace.txt
	lost=$(cat $T/per_cpu/cpu*/stats | awk '/overrun/ {s += $2} END {print s + 0}')
	if [ "$n" -gt 0 ] && [ "$lost" = 0 ]; then tap ok trace-dump "$n events, 0 lost"
	else tap fail trace-dump "$n events, $lost lost: the trace is incomplete"; fi
}
