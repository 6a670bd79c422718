# shellcheck shell=sh
# Sourced by /init (guest/init): the workload step.

step_workload() {  # the fixed workload the descriptor counts are quoted for
	mark "begin workload"
	if dmaio read $DISK 256 4096 >/dev/null; then r=ok; else r=fail; fi
	mark "end workload"
	tap $r workload "256 x 4 KiB O_DIRECT reads of $DISK"
}
