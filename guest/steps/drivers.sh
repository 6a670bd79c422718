# shellcheck shell=sh
# Sourced by /init (guest/init): the drivers step (the drivers* profiles).

# Real drivers behind the IOMMU, their DMA at the same time: an NVMe
# namespace, a SATA disk on q35's AHCI controller and a USB stick on xHCI
# (scripts/qemu.sh). Each disk is written and read back with O_DIRECT in
# generations, each generation with its own seed and request size over the
# same 4 MiB. dmaio's pattern stamps every 8-byte word with the seed, the
# block and its place in it, so a block read from the wrong page, another
# disk's data or an older generation (a write that was lost) all fail
# the comparison. Then the NVMe controller is removed during I/O on all
# three and added back (the host answers over QMP, scripts/hotplug.py),
# and each disk is checked once more. Generations: vtddrivers= (6, one per
# request size).

DRV_SIZES="4096 65536 16384 1048576 8192 262144"
DRV_BYTES=4194304

# The whole disk named by a sysfs path pattern (ata, usb), or nothing.
drv_sd() {
	local b
	for b in /sys/block/sd*; do
		[ -e "$b" ] || continue
		case $(readlink -f $b) in */$1*) echo /dev/${b##*/}; return ;; esac
	done
}

# drv_gens DEV NAME SEED0 GENS: the generations on one disk, each written
# then verified; one line of result in $DRV_OUT/NAME.
drv_gens() {
	local dev=$1 name=$2 seed=$3 n=$4 g=1 bs out sums=""
	while [ $g -le $n ]; do
		bs=$(echo $DRV_SIZES | cut -d' ' -f$(( (g - 1) % 6 + 1 )))
		if ! dmaio write $dev $((seed + g)) 0 $((DRV_BYTES / bs)) $bs >/dev/null 2>&1; then
			echo "fail $name: generation $g (bs=$bs): write failed" > $DRV_OUT/$name; return
		fi
		if ! out=$(dmaio verify $dev $((seed + g)) 0 $((DRV_BYTES / bs)) $bs 2>&1); then
			echo "fail $name: generation $g (bs=$bs): $(echo $out | tail -c 160)" > $DRV_OUT/$name; return
		fi
		sums="$sums $bs"
		g=$((g + 1))
	done
	echo "ok $name: $n generations (bs$sums) intact" > $DRV_OUT/$name
}

# drv_all GENS SEED0: the three disks at once; fails with what went wrong.
drv_all() {
	local name pids="" bad=""
	rm -rf $DRV_OUT; mkdir -p $DRV_OUT
	drv_gens $NVME nvme $(( $2 + 1000 )) $1 & pids="$pids $!"
	drv_gens $SATA sata $(( $2 + 2000 )) $1 & pids="$pids $!"
	drv_gens $USB usb $(( $2 + 3000 )) $1 & pids="$pids $!"
	wait $pids
	for name in nvme sata usb; do
		[ -s $DRV_OUT/$name ] || { bad="$bad $name: no result;"; continue; }
		case $(cat $DRV_OUT/$name) in ok*) ;; *) bad="$bad $(cut -d' ' -f2- $DRV_OUT/$name);" ;; esac
	done
	[ -z "$bad" ] || { echo "$bad"; return 1; }
}

# drv_fail DETAIL: the step's failure, its background I/O stopped first.
drv_fail() {
	kill $DRV_PIDS 2>/dev/null; wait $DRV_PIDS 2>/dev/null
	mark "end drivers"
	tap fail drivers "$1 (seed $DRV_SEED)"
}

step_drivers() {
	local gens=${DRIVERS_GENS:-6} bdf err seed=$(( $(date +%s) % 100000 * 10 ))
	DRV_OUT=/tmp/drivers NVME=/dev/nvme0n1 DRV_SEED=$seed DRV_PIDS=""
	# USB storage and SCSI disks appear asynchronously, after init starts.
	wait_for "[ -b $NVME ] && [ -n \"\$(drv_sd ata)\" ] && [ -n \"\$(drv_sd usb)\" ]" 60
	SATA=$(drv_sd ata) USB=$(drv_sd usb)
	[ -b $NVME ] && [ -n "$SATA" ] && [ -n "$USB" ] || {
		tap fail drivers "disks missing after 60 s: nvme=$([ -b $NVME ] && echo $NVME) sata=$SATA usb=$USB"; return; }
	bdf=$(basename "$(readlink -f /sys/block/nvme0n1/device/device)")
	mark "begin drivers"
	if ! err=$(drv_all $gens $seed); then
		drv_fail "concurrent I/O:$err"; return
	fi
	# The NVMe controller removed while all three disks do I/O.
	(while dmaio read $NVME 16 65536 >/dev/null 2>&1; do :; done) &
	DRV_PIDS=$!
	drv_all $gens $((seed + 100)) > $DRV_OUT.during 2>&1 &
	DRV_PIDS="$DRV_PIDS $!"
	sleep 0.5
	echo "@@HOTPLUG del nvme1 1"
	if ! wait_for "[ ! -e /sys/bus/pci/devices/$bdf ]" 60; then
		drv_fail "$bdf still there 60 s after device_del"; return
	fi
	kill ${DRV_PIDS%% *} 2>/dev/null
	wait $DRV_PIDS 2>/dev/null
	DRV_PIDS=""
	echo "@@HOTPLUG add nvme1 1"
	if ! wait_for "dd if=$NVME of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null" 120; then
		drv_fail "$NVME did not come back within 120 s of asking for it"; return
	fi
	# SATA and USB ran on during the removal: their generations count
	# (NVMe's failed with its controller, as it must).
	for n in sata usb; do
		case $(cat $DRV_OUT/$n 2>/dev/null) in ok*) ;; *)
			drv_fail "during the NVMe removal: $(cat $DRV_OUT/$n 2>/dev/null || echo "$n: no result")"; return ;;
		esac
	done
	if ! err=$(drv_all 2 $((seed + 200))); then
		drv_fail "after the NVMe came back:$err"; return
	fi
	mark "end drivers"
	tap ok drivers "nvme $NVME, sata $SATA, usb $USB: $gens stamped generations each at once (bs $(echo $DRV_SIZES | cut -d' ' -f1-$gens | tr ' ' ,)), again while $bdf was removed and added back, and 2 more after (seed $seed)"
}
