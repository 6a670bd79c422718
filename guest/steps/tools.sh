# shellcheck shell=sh
# Sourced by /init (guest/init): the trace-cmd, perf steps.

# Users' own tools on the events: trace-cmd (libtraceevent) and perf
# record the workload's cache_tag events and print them; the host checks
# that every event was parsed (report.py: trace-cmd-parse, perf-parse). They run after the trace
# dump: they reprogram the tracing state the dump reads.
tool_run() {  # tool_run NAME MARKER "RECORD" "REPORT": record the workload, report between markers
	local name=$1 marker=$2 rc=0
	if ! command -v $name >/dev/null; then tap fail $name "no $name in the guest image"; return; fi
	if ! have_events; then tap skip $name "no cache_tag events to record"; return; fi
	if ! eval "$3" > /tmp/$name.rec 2>&1; then
		tap fail $name "recording failed: $(tail -n 1 /tmp/$name.rec)"; return
	fi
	eval "$4" > /tmp/$name.out 2>&1 || rc=$?
	echo "@@$marker-BEGIN"
	cat /tmp/$name.out
	echo "@@$marker-END"
	if [ $rc = 0 ]; then tap ok $name "$(grep -c 'cache_tag_' /tmp/$name.out) cache_tag lines reported"
	else tap fail $name "the report exited $rc: $(tail -n 1 /tmp/$name.out)"; fi
}

step_trace_cmd() {
	tool_run trace-cmd TRACECMD \
		"trace-cmd record -q -o /tmp/tc.dat -e 'intel_iommu:cache_tag_*' dmaio read $DISK 64 4096" \
		"trace-cmd report -i /tmp/tc.dat"
}

step_perf() {
	tool_run perf PERF \
		"perf record -q -a -o /tmp/perf.data -e 'intel_iommu:cache_tag_*' -- dmaio read $DISK 64 4096" \
		"perf script -i /tmp/perf.data"
}
