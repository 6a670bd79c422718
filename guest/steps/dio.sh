# shellcheck shell=sh
# Sourced by /init (guest/init): the dio step.

step_dio() {  # write a pattern, drop caches, read it back with O_DIRECT
	local seed=$(( $(date +%s) ^ $$ )) bs off=0 out ok=1 detail=""
	for bs in 4096 65536 1048576; do
		out=$(dmaio write $DISK $seed $off 16 $bs) || { ok=0; detail="$detail write bs=$bs failed;"; }
		echo 3 > /proc/sys/vm/drop_caches
		out=$(dmaio verify $DISK $seed $off 16 $bs) || ok=0
		detail="$detail bs=$bs ${out##*checksum };"
		off=$((off + 16 * 1024))
	done
	[ $ok = 1 ] && tap ok dio "$detail" || tap fail dio "$detail"
}
