#!/usr/bin/env bash
# make bench: stock 6.1 against the series, on the same QEMU workload.
# For each profile (BENCH_PROFILES) and kernel, one boot: 7 timed runs of
# 256 x 4 KiB O_DIRECT reads (1024 DMA unmaps in strict mode), then one
# more between markers for QEMU's descriptor counts. Prints the median
# time per run and the descriptor counts, with series/stock ratios.
# Under TCG a queue submission is an exit to QEMU, so time tracks it.
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" all
PROFILES=${BENCH_PROFILES:-legacy-ats sm-cm-ats}
out=$LOGS/bench
mkdir -p "$out"
must "build series" "$TOP/scripts/build.sh" series
must "build stock" "$TOP/scripts/build.sh" stock
must initramfs "$TOP/scripts/initramfs.sh"
for p in $PROFILES; do
	for v in stock series; do
		KERNEL=$BUILD/$v/arch/x86/boot/bzImage APPEND=kunit.enable=0 \
			must "bench $v/$p" "$TOP/scripts/qemu.sh" "$p" boot,bench "$out/$v-$p.log"
	done
done
TOP=$TOP python3 - "$out" $PROFILES <<'PY'
import os, re, statistics, sys
sys.path.insert(0, os.path.join(os.environ.get('TOP', '.'), 'scripts'))
import vtdlog
out, profiles = sys.argv[1], sys.argv[2:]

def one(path):
    ns = [int(m.group(1)) for line in vtdlog.console(path)
          for m in [re.search(r'@@BENCH ns=(\d+)', line)] if m]
    c = vtdlog.counts(path, 'bench')['bench']
    return statistics.median(ns) / 1e6, min(ns) / 1e6, max(ns) / 1e6, c

print('\n%-10s %-7s %10s %17s %12s %6s %7s' % ('profile', 'kernel', 'median ms', 'range ms', 'submissions', 'PSI', 'devTLB'))
for p in profiles:
    r = {v: one(os.path.join(out, '%s-%s.log' % (v, p))) for v in ('stock', 'series')}
    for v in ('stock', 'series'):
        med, lo, hi, c = r[v]
        print('%-10s %-7s %10.1f %8.1f-%-8.1f %12d %6d %7d' % (p, v, med, lo, hi, c['submissions'], c['psi'], c['devtlb']))
    s, k = r['series'], r['stock']
    print('%-10s %-7s %10.2f %17s %12.2f %6.2f %7.2f' % (
        p, 'ratio', s[0] / k[0], '', s[3]['submissions'] / max(k[3]['submissions'], 1),
        s[3]['psi'] / max(k[3]['psi'], 1), s[3]['devtlb'] / max(k[3]['devtlb'], 1)))
print('\nratio = series / stock; each run is 256 x 4 KiB O_DIRECT reads (1024 unmaps).')
print('logs: %s' % out)
PY
