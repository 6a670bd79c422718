# shellcheck shell=sh
# Sourced by /init (guest/init): the pair and pairbench steps (the bridge
# profile: two NVMe controllers behind a PCIe-to-PCI bridge, scripts/qemu.sh).

# The pair's IOMMU group and two namespaces, "GROUP DEV BDF DEV BDF", or a
# message on failure: both behind the same bridge and in the same IOMMU
# group (one group, one default domain in 6.1 as in 6.12).
pair_devs() {
	local b dev bdf path out="" parent="" group="" g n=0
	for b in /sys/block/nvme*n1; do
		[ -e "$b" ] || continue
		path=$(readlink -f $b/device/device)
		dev=/dev/${b##*/} bdf=${path##*/}
		g=$(basename "$(readlink -f /sys/bus/pci/devices/$bdf/iommu_group)")
		if [ -z "$parent" ]; then
			parent=${path%/*} group=$g
		elif [ "${path%/*}" != "$parent" ]; then
			echo "$bdf is not behind the bridge of the other (${path%/*}, $parent)"; return 1
		elif [ "$g" != "$group" ]; then
			echo "$bdf is in IOMMU group $g, the other in $group: not one domain"; return 1
		fi
		out="$out $dev $bdf" n=$((n + 1))
	done
	[ $n = 2 ] || { echo "$n NVMe namespaces, not 2"; return 1; }
	echo $group $out
}

# Both controllers written and read back at once, in stamped generations
# (drv_gens, guest/steps/drivers.sh), each with its own request size.
step_pair() {
	local gens=${DRIVERS_GENS:-6} seed=$(( $(date +%s) % 100000 * 10 )) devs group name bad="" pids=""
	DRV_OUT=/tmp/pair
	wait_for "[ -b /dev/nvme0n1 ] && [ -b /dev/nvme1n1 ]" 60
	devs=$(pair_devs) || { tap fail pair "$devs"; return; }
	set -- $devs
	group=$1
	shift
	rm -rf $DRV_OUT; mkdir -p $DRV_OUT
	mark "begin pair"
	drv_gens $1 a $((seed + 1000)) $gens & pids="$pids $!"
	drv_gens $3 b $((seed + 2000)) $gens & pids="$pids $!"
	wait $pids
	mark "end pair"
	for name in a b; do
		case $(cat $DRV_OUT/$name 2>/dev/null) in
		ok*) ;;
		*) bad="$bad $(cut -d' ' -f2- $DRV_OUT/$name 2>/dev/null || echo "$name: no result");" ;;
		esac
	done
	if [ -n "$bad" ]; then
		tap fail pair "$1 ($2) and $3 ($4) at once:$bad (seed $seed)"
		return
	fi
	tap ok pair "$1 ($2) and $3 ($4), IOMMU group $group ($(echo $(ls /sys/kernel/iommu_groups/$group/devices))): $gens stamped generations each at once (bs $(echo $DRV_SIZES | cut -d' ' -f1-$gens | tr ' ' ,), seed $seed)"
}

# make bench: both controllers read at once with O_DIRECT.
# vtdpair=REPS,SIZES (default 3,4096:131072): for each request size, REPS
# runs in which each controller reads min(4096 requests, its 64 MiB),
# both started together (after one run to warm up); one "@@PAIR" line a
# run with each reader's time. vtdpaircount=1 (the bench's counting boot):
# one run a size, between markers, for QEMU's counts.
step_pairbench() {
	local reps sizes bs n r devs rc=0 out err="" ok=0 pa pb
	set -- "${PAIR:-3,4096:131072}"
	reps=${1%%,*} sizes=$(echo "${1#*,}" | tr : ' ')
	[ "${PAIR_COUNT:-0}" != 1 ] || reps=1
	wait_for "[ -b /dev/nvme0n1 ] && [ -b /dev/nvme1n1 ]" 60
	devs=$(pair_devs) || { tap fail pairbench "$devs"; return; }
	set -- $devs
	echo "@@INFO domain-type $(cat /sys/kernel/iommu_groups/$1/type)"
	shift
	for bs in $sizes; do
		n=$((67108864 / bs))
		[ $n -le 4096 ] || n=4096
		dmaio read $1 $n $bs >/dev/null && dmaio read $3 $n $bs >/dev/null || {
			err="$err; bs $bs: warm-up read failed"; continue; }
		r=1
		while [ $r -le $reps ]; do
			[ "${PAIR_COUNT:-0}" != 1 ] || mark "begin pair-bs$bs"
			dmaio read $1 $n $bs > /tmp/pair.a 2>&1 & pa=$!
			dmaio read $3 $n $bs > /tmp/pair.b 2>&1 & pb=$!
			wait $pa || rc=1
			wait $pb || rc=1
			[ "${PAIR_COUNT:-0}" != 1 ] || mark "end pair-bs$bs"
			out="$(sed -n 's/.* in \([0-9]*\) ns/\1/p' /tmp/pair.a) $(sed -n 's/.* in \([0-9]*\) ns/\1/p' /tmp/pair.b)"
			# shellcheck disable=SC2086
			if [ $rc != 0 ] || [ "$(echo $out | wc -w)" != 2 ]; then
				err="$err; bs $bs run $r: $(cat /tmp/pair.a /tmp/pair.b | tail -n 1)"
				rc=0
			else
				echo "@@PAIR bs=$bs n=$n a_ns=${out% *} b_ns=${out#* }"
				ok=$((ok + 1))
			fi
			r=$((r + 1))
		done
	done
	if [ -z "$err" ]; then
		tap ok pairbench "$ok runs: $1 and $3 read at once ($reps a size: $(echo $sizes | tr ' ' ,) bytes a request)"
	else
		tap fail pairbench "${err#; }"
	fi
}
