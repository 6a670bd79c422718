# shellcheck shell=sh
# Sourced by /init (guest/init): the bench step.

# make bench: the fixed workload, timed, then once more between markers
# for QEMU's descriptor counts.
step_bench() {
	local r out
	dmaio read $DISK 256 4096 >/dev/null	# warm up
	for r in 1 2 3 4 5 6 7; do
		out=$(dmaio read $DISK 256 4096) || { tap fail bench "read failed"; return; }
		echo "@@BENCH ns=$(echo "$out" | sed -n 's/.* in \([0-9]*\) ns/\1/p')"
	done
	mark "begin bench"
	dmaio read $DISK 256 4096 >/dev/null
	mark "end bench"
	tap ok bench "7 timed runs of 256 x 4 KiB O_DIRECT reads"
}
