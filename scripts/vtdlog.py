#!/usr/bin/env python3
"""Read a guest log (serial console interleaved with QEMU's vtd_inv* trace).

  vtdlog.py counts LOG [STEP]   descriptor counts per marked step (or all)
  vtdlog.py console-lines LOG   the guest's console, QEMU's trace taken out
  vtdlog.py hang LOG            what a guest that did not finish was doing
  vtdlog.py kunit-console LOG   the console lines of the boot-time KUnit run
  vtdlog.py ktap LOG            the guest's own KTAP (its @@VTD lines)
  vtdlog.py batching SERIES-LOG STOCK-LOG   the workload's submissions compared
(counts, kunit-console, ktap and batching also read a boot's record,
LOG.json, which report.py wrote from the log: make test's checks read
that, not the log again.)
  vtdlog.py check LOG           the rules every run's cache_tag_* events keep
  vtdlog.py order LOG           tags assigned before the caches can fill,
                                device-TLB tags dropped before ATS goes off,
                                and a detach's entry torn down before both
  vtdlog.py tags LOG            the debugfs view of the tags against the
                                trace's replay
  vtdlog.py realflush LOG       vtd_realflush's cases: each unmap reached QEMU
  vtdlog.py superpage LOG       the superpage step's 2 MiB first-level unmaps
                                in QEMU's raw PASID-based IOTLB descriptors
  vtdlog.py suspend LOG         the suspend step's rounds: woken from S3, the
                                invalidation queue enabled again and used
  vtdlog.py iqe-matrix JSON     the queue error suite's batches (kunit.py
                                parse JSON, its .console beside it)
  vtdlog.py ite-matrix JSON     the invalidation time-out suite's matrix and
                                cases (kunit.py parse JSON)
  vtdlog.py soak LOG H C S      make soak's guest against its plan: H hot-unplugs,
                                C VFIO cycles, S domain switches; the leaked tags
  vtdlog.py sanitizers LOG SYMS [TOOLS [VMLINUX SERIES-LINES]]
                                the debug kernel's KASAN, UBSAN, KCSAN and
                                ODEBUG reports and kmemleak's objects, held
                                against SYMS (the functions of drivers/iommu);
                                TOOLS: what the kernel has and the run must
                                show working (default kasan,kmemleak; the
                                kcsan kernel: kcsan); VMLINUX, SERIES-LINES:
                                a KCSAN report whose accesses are all on
                                lines the series does not change is 6.1's

Standard library only. Output is tab-separated where other scripts read it.
The checks live in one module per job, which this command and every
script that imports vtdlog reach through it: logread.py (reading a log),
qemucounts.py (QEMU's descriptors), tracerules.py (the cache_tag_* event
rules), sanitizers.py (faults and the debug kernels' reports), hang.py
(a guest that did not finish; make soak's plan).
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logread import *  # noqa: E402,F401,F403
from qemucounts import *  # noqa: E402,F401,F403
from tracerules import *  # noqa: E402,F401,F403
from sanitizers import *  # noqa: E402,F401,F403
from hang import *  # noqa: E402,F401,F403


def verdict(bad, summary, what='problems'):
    """Print a check's verdict for test.sh, which reads the first two
    lines: its summary, or how many WHAT and then the first 20; exit 1 on
    any."""
    print(('%d %s' % (len(bad), what)) if bad else summary)
    for b in bad[:20]:
        print('violation\t' + b)
    sys.exit(1 if bad else 0)


def record(path, key):
    """A boot's record's KEY (report.py's LOG.json); exits, saying why, if
    the record or its KEY is missing."""
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit('no record %s: %s' % (path, e))
    for k in key.split('.'):
        if not isinstance(rec, dict) or k not in rec:
            sys.exit('the record %s has no %s: the boot left no log to read' % (path, key))
        rec = rec[k]
    return rec


def counts_of(path, step=None):
    """counts() of a log, or of its record (LOG.json)."""
    if not path.endswith('.json'):
        return counts(path, step)
    got = {s: collections.Counter(c) for s, c in record(path, 'counts').items()}
    return {step: got.get(step, collections.Counter())} if step else got


def console_of(path, key):
    """A record's console lines (console.KEY), or a log's."""
    if path.endswith('.json'):
        return record(path, 'console.' + key)
    return kunit_console(path) if key == 'kunit' else guest_ktap(path)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == 'counts':
        for step, c in sorted(counts_of(path, sys.argv[3] if len(sys.argv) > 3 else None).items()):
            print(step + '\t' + '\t'.join('%s=%d' % (k, c[k]) for k in KINDS))
    elif cmd == 'hang':
        print(hang(path))
    elif cmd in ('kunit-console', 'ktap'):
        for line in console_of(path, 'kunit' if cmd == 'kunit-console' else 'ktap'):
            print(line)
    elif cmd == 'batching':
        s_c = counts_of(path, 'workload')['workload']
        k_c = counts_of(sys.argv[3], 'workload')['workload']
        for r in batching(s_c, k_c):
            print('\t'.join(r))
    elif cmd == 'check':
        bad, n = check(path)
        print('checked %d events, %d violations' % (n, len(bad)))
        for b in bad[:20]:
            print('violation\t' + b)
        sys.exit(1 if bad else 0)
    elif cmd == 'order':
        bad, n = order(path)
        print('%d entries went live and %d were torn down; ATS enabled %d and disabled %d times, '
              '%d disables after their entry\'s teardown and device-TLB untag; %d violations'
              % (n['entries'], n['teardowns'], n['ats-enable'], n['ats-disable'],
                 n['teardowns-checked'] - n['untag-before-teardown'], len(bad)))
        for b in bad[:20]:
            print('violation\t' + b)
        sys.exit(1 if bad else 0)
    elif cmd == 'console-lines':
        for line in console(path):
            print(line)
    elif cmd == 'tags':
        verdict(*tags(path), what='disagreements')
    elif cmd == 'realflush':
        verdict(*realflush(path))
    elif cmd == 'superpage':
        verdict(*superpage(path))
    elif cmd == 'suspend':
        verdict(*suspend(path))
    elif cmd == 'soak':
        out = soak(path, *map(int, sys.argv[3:6]))
        for st, text in out:
            print('%s\t%s' % (st, text))
        sys.exit(1 if any(st != 'PASS' for st, _ in out) else 0)
    elif cmd == 'sanitizers':
        have = tuple(sys.argv[4].split(',')) if len(sys.argv) > 4 else ('kasan', 'kmemleak')
        src = SourceLines(sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else None
        verdict(*sanitizers(path, sys.argv[3], have, src))
    elif cmd == 'iqe-matrix':
        print('%s\t%s' % iqe_matrix(path))
    elif cmd == 'ite-matrix':
        print('%s\t%s' % ite_matrix(path))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    try:
        main()
    except BrokenPipeError:
        # A reader that stops early (grep -q) is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
