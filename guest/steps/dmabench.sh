# shellcheck shell=sh
# Sourced by /init (guest/init): the dmabench, dmbench, dmbprof steps.

# Two dma_map_benchmark threads on the disk for vtddmabench= seconds (10):
# both vCPUs map and unmap on one domain at once, flushing its tags from
# two CPUs, which is what the kcsan kernel watches for races.
step_dmabench() {
	local out rc=0
	out=$(dmb_lend $DISK_BDF) || { tap fail dmabench "$out"; return; }
	mark "begin dmabench"
	out=$(dma_map_benchmark -t 2 -s ${DMABENCH_SECS:-10} -g 1 2>&1) || rc=$?
	mark "end dmabench"
	dmb_return $DISK_BDF
	disk_ready 30 || { tap fail dmabench "$DISK did not come back to virtio-pci"; return; }
	if [ $rc = 0 ]; then
		tap ok dmabench "2 threads, ${DMABENCH_SECS:-10}s: $(echo "$out" | grep -E 'average (map|unmap) latency' | tr -s ' ' | tr '\n' ';')"
	else
		tap fail dmabench "dma_map_benchmark exited $rc: $(echo "$out" | tail -n 1)"
	fi
}

# make bench: dma_map_benchmark on the disk, lent to it for the whole
# step. vtddmb=SECS,THREADS,GRANULES, the lists ':'-separated (default
# 3,1:2,1:16:512): one run per thread count and granule (pages), one
# "@@DMB" line each, with the tool's averages and standard deviations.
# vtddmbcount=1 (the bench's counting boot, QEMU tracing its queue): each
# run between markers, and the DMA unmaps it made counted by a kprobe on
# iommu_unmap_fast(), which 6.1's and 6.12's dma-iommu call once per
# unmap, so that the host divides QEMU's descriptors by the unmaps.
# vtddmbperf=1: the driver's own latency counters (DMAR_PERF), IOTLB and
# device-TLB, cleared before each run and printed after it ("@@PERF").
step_dmbench() {
	local out rc t g p=$T/events/vtd/dmb_unmap h0 h1 unmaps="" ok=0 err="" v
	local PERF=/sys/kernel/debug/iommu/intel/dmar_perf_latency
	set -- ${DMB:-3 1:2 1:16:512}
	[ "${DMB_PERF:-0}" != 1 ] || [ -w $PERF ] || { tap fail dmbench "no $PERF (INTEL_IOMMU_DEBUGFS)"; return; }
	echo "@@INFO domain-type $(cat /sys/bus/pci/devices/$DISK_BDF/iommu_group/type)"
	out=$(dmb_lend $DISK_BDF) || { tap fail dmbench "$out"; return; }
	if [ "${DMB_COUNT:-0}" = 1 ]; then
		echo 'p:vtd/dmb_unmap iommu_unmap_fast' >> $T/kprobe_events &&
			echo 0 > $T/tracing_on && echo 1 > $p/enable ||
			{ tap fail dmbench "no kprobe on iommu_unmap_fast"; dmb_return $DISK_BDF; return; }
	fi
	for t in $(echo $2 | tr : ' '); do
		for g in $(echo $3 | tr : ' '); do
			rc=0
			h0=$(awk '$1 == "dmb_unmap" {print $2}' $T/kprobe_profile 2>/dev/null)
			[ "${DMB_PERF:-0}" != 1 ] || for v in 0 1 2; do echo $v > $PERF; done
			mark "begin dmb-t$t-g$g"
			out=$(dma_map_benchmark -t $t -s $1 -g $g 2>&1) || rc=$?
			mark "end dmb-t$t-g$g"
			h1=$(awk '$1 == "dmb_unmap" {print $2}' $T/kprobe_profile 2>/dev/null)
			[ -z "$h0" ] || unmaps=" unmaps=$((h1 - h0))"
			[ "${DMB_PERF:-0}" != 1 ] || sed "s/^/@@PERF t=$t g=$g /" $PERF
			if [ $rc != 0 ]; then
				err="$err; -t $t -g $g exited $rc: $(echo "$out" | tail -n 1)"
				continue
			fi
			echo "@@DMB t=$t g=$g s=$1$(echo "$out" | sed -n \
				-e 's/.*average map latency(us):\([0-9.]*\) standard deviation:\([0-9.]*\).*/ map=\1 map_sd=\2/p' \
				-e 's/.*average unmap latency(us):\([0-9.]*\) standard deviation:\([0-9.]*\).*/ unmap=\1 unmap_sd=\2/p' | tr -d '\n')$unmaps"
			ok=$((ok + 1))
		done
	done
	[ "${DMB_COUNT:-0}" != 1 ] || { echo 0 > $p/enable; echo 1 > $T/tracing_on; }
	dmb_return $DISK_BDF
	if [ -z "$err" ]; then
		tap ok dmbench "$ok runs of ${1}s (threads $2, granules $3)"
	else
		tap fail dmbench "${err#; }"
	fi
}

# Where the time of a DMA unmap goes: dma_map_benchmark (one thread, one
# page, 3 s) under perf's software clock (TCG has no PMU), every CPU
# sampled; the kernel's symbols by share of the samples, one "@@PROF" line
# each (the idle CPU's among them).
step_dmbprof() {
	local out rc=0
	command -v perf >/dev/null || { tap skip dmbprof "no perf in the guest image"; return; }
	out=$(dmb_lend $DISK_BDF) || { tap fail dmbprof "$out"; return; }
	perf record -q -e cpu-clock -F 20000 -a -o /tmp/perf.data -- \
		dma_map_benchmark -t 1 -s 3 -g 1 > /tmp/dmb.out 2>&1 || rc=$?
	dmb_return $DISK_BDF
	[ $rc = 0 ] || { tap fail dmbprof "perf record exited $rc: $(tail -n 1 /tmp/dmb.out)"; return; }
	perf report -q -i /tmp/perf.data --stdio --sort sym 2>/dev/null | grep -v '^$' | head -n 40 | sed 's/^/@@PROF /'
	tap ok dmbprof "$(grep 'average unmap' /tmp/dmb.out | tr -s ' ')"
}
