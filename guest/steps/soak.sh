# shellcheck shell=sh
# Sourced by /init (guest/init): the soak step.

# make soak: everything at once, for as long as vtdsoak=H,C,S asks (50,
# 10000, 200): dma_map_benchmark threads on a device of their own (the
# virtio-rng, 1af4:1044) the whole time; the VFIO selftest on every edu
# device (its concurrent_map_unmap_during_dma: the stale-IOTLB oracle while
# two threads map and unmap in the same container), the C remap cycles
# shared among them; and meanwhile, on the disk, H hot-unplugs during I/O
# then S domain switches. The selftests' own output goes to the host
# behind "@@KST-<bdf> "; the host adds up their cycles and stale reads.
# 6.1 reports at most three DMAR faults in 5 s: dmar_fault() asks its
# ratelimit (10 in 5 s) once per interrupt and once per fault record it
# looks at, the empty one that ends the loop included, and clears the
# records it may not print unreported. Each selftest's
# dma_after_unmap_faults makes one fault and waits for its report, so the
# instances must not fault within 5 s of one another: the next one starts
# 6 s after the previous one's fault was reported (or it exited). Four
# started together: the fourth fault went unreported (2026-11-24).
soak_gate() {  # soak_gate BDF PID
	local i=0
	while kill -0 $2 2>/dev/null && [ $i -lt 300 ]; do
		dmesg | grep -q "Request device \[${1#0000:}\] fault addr" && break
		sleep 2
		i=$((i + 1))
	done
	sleep 6
}

step_soak() {
	local h c s bdf d edus="" n=0 bench="" pids="" out prev=""
	set -- ${SOAK:-50 10000 200}
	h=$1 c=$2 s=$3
	for d in /sys/bus/pci/devices/*; do
		case "$(cat $d/vendor):$(cat $d/device)" in
		0x1234:0x11e8) edus="$edus $(basename $d)"; n=$((n + 1)) ;;
		0x1af4:0x1044) bench=$(basename $d) ;;
		esac
	done
	[ $n -gt 0 ] || { tap fail soak "no edu device"; return; }
	[ -n "$bench" ] || { tap fail soak "no virtio-rng device for dma_map_benchmark"; return; }
	out=$(dmb_lend $bench) || { tap fail soak "$out"; return; }
	mark "begin soak"
	echo "@@SOAK plan hotplug=$h cycles=$c switches=$s edu=$n bench=$bench"
	rm -f /tmp/soak.stop
	( while [ ! -e /tmp/soak.stop ]; do
		dma_map_benchmark -t 2 -s 20 -g 1 > /tmp/dmb.out 2>&1
		echo "@@SOAK dmabench rc=$? $(grep -E 'average (map|unmap) latency' /tmp/dmb.out | tr -s ' ' | tr '\n' ';')"
	  done ) &
	bench=$!
	# The selftests start one after another (soak_gate) in a subshell of
	# their own, which waits for them all: the disk's part starts at once.
	( for bdf in $edus; do
		[ -z "$pids" ] || soak_gate $prev ${pids##* }
		echo vfio-pci > /sys/bus/pci/devices/$bdf/driver_override
		echo $bdf > /sys/bus/pci/drivers_probe
		( VTD_EDU=$bdf VTD_ORACLE_CYCLES=20 VTD_CHURN_CYCLES=$((c / n)) \
			/bin/kselftest/iommu/vfio_cache_tags 2>&1; echo "KST-EXIT $?" ) | sed "s/^/@@KST-$bdf /" &
		pids="$pids $!"
		prev=$bdf
	  done
	  for d in $pids; do wait $d; done ) &
	pids=$!
	# The disk's two parts report nested under this step's result.
	HOTPLUG_ROUNDS=$h SWITCHES=$s
	echo "@@VTD     KTAP version 1"
	echo "@@VTD     1..2"
	NEST=1 NN=0 NFAIL=0
	step_hotplug
	step_domain_switch
	NEST=""
	mark "disk done, waiting for the VFIO selftests"
	for d in $pids; do wait $d; done
	touch /tmp/soak.stop
	wait $bench
	mark "end soak"
	dmb_return $bench
	out="ran: $h hot-unplugs, $s domain switches, $c VFIO cycles on $n edu devices; dma_map_benchmark beside (the host counts)"
	if [ $NFAIL = 0 ]; then tap ok soak "$out"; else tap fail soak "$out; $NFAIL of the disk's 2 parts failed"; fi
}
