#!/usr/bin/env bash
# make run: build if needed, boot $PROFILE, run a short DMA workload and
# print what the cache tags did; exits non-zero if a guest step failed, the
# guest hung or the log shows an unexpected fault. make shell: boot to a
# guest shell.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" all
var=$(variant)
must "build $var kernel" "$TOP/scripts/build.sh" "$var"
must "initramfs" "$TOP/scripts/initramfs.sh"
export KERNEL=$BUILD/$var/arch/x86/boot/bzImage
mkdir -p "$LOGS/$var"
if [ "${1:-}" = shell ]; then
	log "booting $PROFILE to a shell (poweroff -f to leave; Ctrl-A X kills QEMU)"
	exec "$TOP/scripts/qemu.sh" "$PROFILE" boot,events,shell "$LOGS/$var/shell-$PROFILE.log" interactive
fi
logf=$LOGS/$var/run-$PROFILE.log
rm -f "$logf"
steps=boot,events,dio,workload,tag-view,trace-dump
# The debug kernel ends with a kmemleak scan, whose list the log holds.
[ "$var" != debug ] || steps+=,kmemleak
step "boot $PROFILE and run the workload" "$TOP/scripts/qemu.sh" "$PROFILE" "$steps" "$logf"
[ "$STEP_RC" = 124 ] && die "the guest hung (killed after ${TIMEOUT:-300}s): see $logf"
python3 "$TOP/scripts/summary.py" "$logf" "$BUILD/$var/vtd-info" "$PROFILE"
