#!/usr/bin/env python3
"""make bench's report: scripts/benchreport.py DIR [--docs DOCS [--page NAME]]

DIR is work/logs/bench; with --docs, DOCS/NAME.md and NAME.png too (NAME:
performance).

Reads the boots scripts/bench.sh made: count-KERNEL-PROFILE.log (QEMU's
queue traced, unmaps counted), perf-KERNEL-PROFILE.log (DMAR_PERF),
prof-KERNEL-PROFILE.log (perf's profile), rN-KERNEL-PROFILE.log
(timed), and pair-count-KERNEL-PROFILE.log, pair-rN-KERNEL-PROFILE.log
(two NVMe controllers in one domain, read at once). A profile written
PROFILE+lazy is PROFILE in lazy mode. Prints and writes (DIR/bench.md, DIR/bench.json, DIR/bench.png):
  - per profile, thread count and granule, each kernel's map and unmap
    latency: the median of the rounds' averages, with their range;
  - the ratios series/stock and series/6.12, taken per round (the kernels
    of one round booted one after the other) and given as the median of
    the rounds' ratios with their range;
  - descriptors per DMA unmap per kernel, against the lower bound;
  - the time in qi_submit_sync() per unmap, and where an unmap's samples
    go by kernel symbol;
  - the two devices' throughput together, per kernel, with the same
    ratios, and their descriptors per I/O;
  - the lockdep contrast, if measured;
  - the performance issue's goals, each met or missed and by how much.
Every latency figure is one the guest measured in this run; the ratios
and the per-unmap counts are derived from measured ones, and say so.
"""
import collections
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtdlog  # noqa: E402

KERNELS = ('bench-stock', 'bench-series', 'bench-6.12')
LOCKDEP = ('lockdep-stock', 'lockdep-series')
BA = ('ba-bench-before', 'ba-bench-series')
SHORT = {'bench-stock': 'stock', 'bench-series': 'series', 'bench-6.12': '6.12',
         'lockdep-stock': 'stock (lockdep)', 'lockdep-series': 'series (lockdep)',
         'ba-bench-before': 'before', 'ba-bench-series': 'series'}
UNAME = {'bench-stock': '6.1.', 'bench-series': '6.1.', 'bench-6.12': '6.12.',
         'lockdep-stock': '6.1.', 'lockdep-series': '6.1.',
         'ba-bench-before': '6.1.', 'ba-bench-series': '6.1.'}
DMB = re.compile(r'@@DMB t=(\d+) g=(\d+) s=(\d+)(.*)$')
PERF = re.compile(r'@@PERF t=(\d+) g=(\d+)\s+(inv_iotlb|inv_devtlb)\s+([\d\s]+)$')
NAME = re.compile(r'^(count|perf|r(\d+))-(%s)-(.+)\.log$' % '|'.join(
    re.escape(k) for k in KERNELS + LOCKDEP + BA))
PAIR_NAME = re.compile(r'^pair-(count|r(\d+))-(%s)-(.+)\.log$' % '|'.join(re.escape(k) for k in KERNELS))
PAIR = re.compile(r'@@PAIR bs=(\d+) n=(\d+) a_ns=(\d+) b_ns=(\d+)')
PROF_NAME = re.compile(r'^prof-(%s)-(.+)\.log$' % '|'.join(re.escape(k) for k in KERNELS))
PROF = re.compile(r'@@PROF\s+([\d.]+)%\s+\[(k|\.)\]\s+(\S+)')
# Where the profile's samples go, by kernel symbol name; the first match
# wins (intel_iommu_iova_to_phys is a page-table walk, not IOVA
# allocation). By name only: a function inlined into another is counted
# where it was inlined (6.12's batch submission inside its
# cache_tag_flush_range(), for one).
CATEGORIES = (
    ('idle', re.compile(r'idle|safe_halt|mwait')),
    ('invalidation', re.compile(r'^(qi_|cache_tag|__cache_tag|cache_tags|calculate_psi|iommu_flush|'
                                r'__iommu_flush|intel_flush|domain_flush_pasid|__flush_dev|'
                                r'intel_iommu_tlb_sync|intel_iommu_iotlb_sync|intel_iommu_flush|'
                                r'dmar_latency|parent_domain_flush|__flush_iotlb)')),
    ('page tables', re.compile(r'dma_pte|pfn_to_dma_pte|__domain_mapping|domain_unmap|'
                               r'clflush_cache_range|intel_iommu_(map|unmap)|iova_to_phys|'
                               r'first_pte|domain_flush_cache|pgsize')),
    ('IOVA', re.compile(r'iova')),
    ('DMA API, IOMMU core', re.compile(r'^(__)?(iommu|dma)_')),
    # the benchmark thread memsets its buffer before each map, outside the
    # timed part
    ('benchmark, clock', re.compile(r'map_benchmark|ktime_get|read_tsc|read_hpet|delay_tsc|^memset')),
)
CATS = [c[0] for c in CATEGORIES[1:]] + ['other kernel', 'user space', 'not listed']


def base(profile):
    """The QEMU profile of a bench profile (PROFILE+lazy: PROFILE)."""
    return profile.split('+')[0]


def lazy(profile):
    return profile.endswith('+lazy') or profile == 'lazy'


def ats(profile):
    return base(profile).endswith("-ats") or base(profile) == "lazy"


def cm(profile):
    return 'cm' in base(profile).split('-')


def lower_bound(profile):
    """Per map + unmap of the benchmark's loop, the least a driver can
    submit: the unmap's IOTLB invalidation, a device-TLB one with ATS, a
    wait; in caching mode also the map's IOTLB invalidation and its wait.
    None in lazy mode, where unmaps are flushed in batches."""
    if lazy(profile):
        return None
    c = 1 if cm(profile) else 0
    sub = 1 + c
    iotlb = 1 + c
    dev = 1 if ats(profile) else 0
    return {'submissions': sub, 'iotlb': iotlb, 'devtlb': dev, 'descriptors': iotlb + dev + sub}


def parse_dmb(path):
    out = []
    for line in vtdlog.console(path):
        m = DMB.search(line)
        if not m:
            continue
        kv = dict(x.split('=', 1) for x in m.group(4).split())
        out.append({'t': int(m.group(1)), 'g': int(m.group(2)), 's': int(m.group(3)),
                    **{k: float(v) for k, v in kv.items()}})
    return out


def uname(path):
    for line in vtdlog.console(path):
        m = re.search(r'@@INFO uname (\S+)', line)
        if m:
            return m.group(1)
    return None


def spread(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(m):
    med, lo, hi = m
    return '%.2f [%.2f-%.2f]' % (med, lo, hi)


def boots(d, name, kgroup, problems):
    """The logs of DIR whose name matches NAME, as (file, path, kernel,
    profile, match), the kernel in group KGROUP and the profile in the
    next; a log that booted another kernel is a problem, not a boot."""
    for f in sorted(os.listdir(d)):
        m = name.match(f)
        if not m:
            continue
        path = os.path.join(d, f)
        kernel, profile = m.group(kgroup), m.group(kgroup + 1)
        u = uname(path)
        if u is None or not u.startswith(UNAME[kernel]):
            problems.append('%s: booted %s, not a %sx kernel' % (f, u or 'nothing', UNAME[kernel]))
            continue
        yield f, path, kernel, profile, m


def guest_problem(path):
    """What went wrong in the guest: its failed steps, or that it did not
    finish; None if nothing did."""
    res, done = vtdlog.tap(path)
    bad = [r for r in res if r[0] != 'PASS']
    if not done or bad:
        return '; '.join('%s %s: %s' % r for r in bad) or 'the guest did not finish'
    return None


DOMAIN_TYPE = re.compile(r'@@INFO domain-type (\S+)')


def mode_problem(path, profile):
    """The domain type the guest's benchmark device had, if it is not
    the profile's: DMA-FQ in lazy mode, DMA in strict mode (a kernel may
    force strict mode, as all three do in caching mode with second-level
    tables); None if it is."""
    want = 'DMA-FQ' if lazy(profile) else 'DMA'
    got = next((m.group(1) for m in map(DOMAIN_TYPE.search, vtdlog.console(path)) if m), None)
    return None if got == want else 'the device\'s domain was %s, not %s' % (got or 'not reported', want)


def load(d):
    timed = collections.defaultdict(dict)   # (kernel, profile, t, g) -> {round: row}
    counts = {}                             # (kernel, profile, g) -> {kind: per unmap}
    perf = {}                               # (kernel, profile) -> {type: (samples, avg us), 'unmaps': n}
    problems = []
    for f, path, kernel, profile, m in boots(d, NAME, 3, problems):
        rows = parse_dmb(path)
        bad = guest_problem(path) or mode_problem(path, profile)
        if bad:
            problems.append('%s: %s' % (f, bad))
        if m.group(1) == 'perf':
            p = {}
            for line in vtdlog.console(path):
                pm = PERF.search(line)
                if pm:
                    n = [int(x) for x in pm.group(4).split()]
                    # 7 buckets, then min, max and the average, in whole us
                    if len(n) == 10:
                        p[pm.group(3)] = (sum(n[:7]), n[9])
            if rows and rows[0].get('unmaps') and p:
                p['unmaps'] = int(rows[0]['unmaps'])
                perf[(kernel, profile)] = p
            else:
                problems.append('%s: no DMAR_PERF figures or no unmaps counted' % f)
            continue
        if m.group(1) == 'count':
            c = vtdlog.counts(path)
            for row in rows:
                n = int(row.get('unmaps', 0))
                step = c.get('dmb-t%d-g%d' % (row['t'], row['g']))
                if not n or step is None:
                    problems.append('%s: granule %d: no unmaps counted' % (f, row['g']))
                    continue
                iotlb = step['psi'] + step['dsi'] + step['global'] + step['piotlb']
                counts[(kernel, profile, row['g'])] = {
                    'unmaps': n, 'submissions': step['submissions'] / n,
                    'descriptors': step['descriptors'] / n, 'iotlb': iotlb / n,
                    'devtlb': step['devtlb'] / n, 'wait': step['wait'] / n}
        else:
            for row in rows:
                timed[(kernel, profile, row['t'], row['g'])][int(m.group(2))] = row
    return timed, counts, perf, problems


def load_pair(d):
    """pair-*-KERNEL-PROFILE.log: the two controllers read at once.
    Returns {(kernel, profile, bs): {round: MiB/s}} (a run: both
    controllers' bytes over the slower reader's time, derived from the
    guest's two measured times; a boot: the median of its runs),
    {(kernel, profile, bs): per-I/O counts} from the counting boots
    (QEMU's descriptors over the I/Os the guest made), and the problems."""
    timed, counts, problems = collections.defaultdict(dict), {}, []
    for f, path, kernel, profile, m in boots(d, PAIR_NAME, 3, problems):
        rows = [tuple(int(x) for x in pm.groups()) for pm in map(PAIR.search, vtdlog.console(path)) if pm]
        bad = guest_problem(path) or (None if rows else 'no @@PAIR figures') or mode_problem(path, profile)
        if bad:
            problems.append('%s: %s' % (f, bad))
        if m.group(1) != 'count':
            runs = collections.defaultdict(list)
            for bs, n, a, b in rows:
                runs[bs].append(2 * n * bs / (max(a, b) / 1e9) / 2 ** 20)
            for bs, xs in runs.items():
                timed[(kernel, profile, bs)][int(m.group(2))] = statistics.median(xs)
            continue
        c = vtdlog.counts(path)
        for bs, n, a, b in rows:
            ios = 2 * n
            step = c.get('pair-bs%d' % bs)
            if step is None:
                problems.append('%s: request size %d: no counts between its markers' % (f, bs))
                continue
            counts[(kernel, profile, bs)] = {
                'ios': ios, 'submissions': step['submissions'] / ios, 'descriptors': step['descriptors'] / ios,
                'iotlb': (step['psi'] + step['dsi'] + step['global'] + step['piotlb']) / ios,
                'devtlb': step['devtlb'] / ios}
    return timed, counts, problems


def load_prof(d):
    """prof-KERNEL-PROFILE.log: the guest's top symbols under perf.
    Returns {(kernel, profile): {'busy': %, 'cats': {category: % of busy},
    'top': [(%, symbol)]}} and the problems."""
    prof, problems = {}, []
    for f, path, kernel, profile, _ in boots(d, PROF_NAME, 1, problems):
        rows = [(float(pm.group(1)), pm.group(2), pm.group(3))
                for pm in map(PROF.search, vtdlog.console(path)) if pm]
        bad = guest_problem(path) or (None if rows else 'no profile')
        if bad:
            problems.append('%s: %s' % (f, bad))
            continue
        cats = collections.Counter()
        idle = 0.0
        for pct, space, sym in rows:
            if space == '.':
                cats['user space'] += pct
                continue
            name = next((n for n, rx in CATEGORIES if rx.search(sym)), 'other kernel')
            if name == 'idle':
                idle += pct
            else:
                cats[name] += pct
        busy = 100.0 - idle
        cats['not listed'] = max(0.0, busy - sum(cats.values()))
        prof[(kernel, profile)] = {
            'busy': busy, 'cats': {c: 100.0 * cats[c] / busy if busy else 0.0 for c in CATS},
            'top': [(100.0 * pct / busy if busy else 0.0, sym) for pct, space, sym in rows
                    if space == 'k' and not CATEGORIES[0][1].search(sym)][:6]}
    return prof, problems


def ratio(timed, a, b, profile, t, g, what):
    ra, rb = timed.get((a, profile, t, g), {}), timed.get((b, profile, t, g), {})
    xs = [ra[r][what] / rb[r][what] for r in sorted(set(ra) & set(rb)) if rb[r].get(what)]
    return spread(xs) if xs else None


def pair_ratio(timed, a, b, profile, bs):
    ra, rb = timed.get((a, profile, bs), {}), timed.get((b, profile, bs), {})
    xs = [ra[r] / rb[r] for r in sorted(set(ra) & set(rb)) if rb[r]]
    return spread(xs) if xs else None


def main():
    d = sys.argv[1]
    docs = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == '--docs' else None
    page = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == '--page' else 'performance'
    meta = {}
    if os.path.exists(os.path.join(d, 'meta')):
        for line in open(os.path.join(d, 'meta')):
            k, _, v = line.rstrip('\n').partition('=')
            meta[k] = v
    timed, counts, perf, problems = load(d)
    prof, pp = load_prof(d)
    problems += pp
    ptimed, pcounts, pp = load_pair(d)
    problems += pp
    pprofiles = meta.get('pair', '').split() or sorted({k[1] for k in ptimed})
    profiles = meta.get('profiles', '').split() or sorted({k[1] for k in timed})
    cells = sorted({(k[1], k[2], k[3]) for k in timed if k[0] in KERNELS},
                   key=lambda c: (profiles.index(c[0]) if c[0] in profiles else 99, c[1], c[2]))
    md = []
    w = md.append
    w('## Latency (µs), median of %s rounds [range]' % meta.get('rounds', '?'))
    w('')
    w('Measured in this run by `dma_map_benchmark` (%s s a run); ratios derived per round.' %
      meta.get('secs', '?'))
    w('')
    w('| profile | threads | granule | op | stock | series | 6.12 | series/stock | series/6.12 |')
    w('|---|---|---|---|---|---|---|---|---|')
    summary = {}
    for (p, t, g) in cells:
        for op in ('map', 'unmap'):
            vals = {}
            for k in KERNELS:
                rs = timed.get((k, p, t, g), {})
                xs = [r[op] for r in rs.values() if op in r]
                vals[k] = spread(xs) if xs else None
            rs = ratio(timed, 'bench-series', 'bench-stock', p, t, g, op)
            ru = ratio(timed, 'bench-series', 'bench-6.12', p, t, g, op)
            summary[(p, t, g, op)] = {'values': vals, 'series/stock': rs, 'series/6.12': ru}
            w('| %s | %d | %d | %s | %s | %s | %s | %s | %s |' % (
                p, t, g, op, *(fmt(vals[k]) if vals[k] else 'missing' for k in KERNELS),
                fmt(rs) if rs else 'missing', fmt(ru) if ru else 'missing'))
    w('')
    w('## Descriptors per DMA unmap (one map + unmap of the benchmark)')
    w('')
    w('Counted in QEMU\'s invalidation-queue trace over 1 s of one thread, divided by the unmaps a kprobe on `iommu_unmap_fast` counted in the guest (derived, from two exact counts).')
    w('')
    w('| profile | granule | kernel | unmaps | submissions | descriptors | IOTLB | device-TLB | lower bound (sub/desc/IOTLB/devTLB) |')
    w('|---|---|---|---|---|---|---|---|---|')
    for (k, p, g) in sorted(counts, key=lambda c: (profiles.index(c[1]) if c[1] in profiles else 99, c[2], KERNELS.index(c[0]))):
        c = counts[(k, p, g)]
        lb = lower_bound(p)
        w('| %s | %d | %s | %d | %.2f | %.2f | %.2f | %.2f | %s |' % (
            p, g, SHORT[k], c['unmaps'], c['submissions'], c['descriptors'], c['iotlb'], c['devtlb'],
            '%d/%d/%d/%d' % (lb['submissions'], lb['descriptors'], lb['iotlb'], lb['devtlb']) if lb
            else 'none (lazy: batched)'))
    pcells = sorted({(k[1], k[2]) for k in ptimed},
                    key=lambda c: (pprofiles.index(c[0]) if c[0] in pprofiles else 99, c[1]))
    psummary = {}
    if pcells or pcounts:
        w('')
        w('## Two devices in one domain: both NVMe controllers read at once (MiB/s), median of %s rounds [range]'
          % meta.get('rounds', '?'))
        w('')
        w('Two NVMe controllers behind a PCIe-to-PCI bridge: one requester ID, one IOMMU group, one domain'
          ' (as Ubuntu LP #2115738\'s two NVMe functions shared one; here one requester ID, no ATS). Each reads min(4096 requests, 64 MiB) with O_DIRECT in requests of'
          ' the given size, both started together; a run\'s throughput = both controllers\' bytes over the'
          ' slower one\'s time (derived from the two times the guest measured), a boot\'s the median of its'
          ' %s runs; ratios derived per round. Higher is better.' % meta.get('pair_io', '?,').split(',')[0])
        w('')
        w('| profile | request | stock | series | 6.12 | series/stock | series/6.12 |')
        w('|---|---|---|---|---|---|---|')
        for (p, bs) in pcells:
            vals = {k: spread(list(ptimed[(k, p, bs)].values())) if ptimed.get((k, p, bs)) else None
                    for k in KERNELS}
            rs = pair_ratio(ptimed, 'bench-series', 'bench-stock', p, bs)
            ru = pair_ratio(ptimed, 'bench-series', 'bench-6.12', p, bs)
            psummary[(p, bs)] = {'values': vals, 'series/stock': rs, 'series/6.12': ru}
            w('| %s | %d KiB | %s | %s | %s | %s | %s |' % (
                p, bs // 1024, *('%.1f [%.1f-%.1f]' % vals[k] if vals[k] else 'missing' for k in KERNELS),
                fmt(rs) if rs else 'missing', fmt(ru) if ru else 'missing'))
        w('')
        w('Per I/O of the pair (counting boot: QEMU\'s invalidation-queue trace between the run\'s markers,'
          ' divided by the I/Os the guest made; derived from exact counts):')
        w('')
        w('| profile | request | kernel | I/Os | submissions | descriptors | IOTLB | device-TLB |')
        w('|---|---|---|---|---|---|---|---|')
        for (k, p, bs) in sorted(pcounts, key=lambda c: (pprofiles.index(c[1]) if c[1] in pprofiles else 99,
                                                         c[2], KERNELS.index(c[0]))):
            c = pcounts[(k, p, bs)]
            w('| %s | %d KiB | %s | %d | %.2f | %.2f | %.2f | %.2f |' % (
                p, bs // 1024, SHORT[k], c['ios'], c['submissions'], c['descriptors'], c['iotlb'], c['devtlb']))
    if perf:
        w('')
        w('## Time in qi_submit_sync() per DMA unmap (DMAR_PERF), 1 thread, 1 page')
        w('')
        w('The driver\'s own counters (`dmar_perf_latency`) over 2 s: submissions and their average'
          ' in whole µs, booked under the type of a submission\'s first descriptor; the total'
          ' (submissions x average, derived) divided by the unmaps counted in the guest.')
        w('')
        w('| profile | kernel | unmaps | IOTLB-first submissions | avg µs | device-TLB-first submissions | avg µs | µs per unmap (derived) |')
        w('|---|---|---|---|---|---|---|---|')
        for (k, p) in sorted(perf, key=lambda c: (profiles.index(c[1]) if c[1] in profiles else 99, KERNELS.index(c[0]))):
            f = perf[(k, p)]
            io, dv = f.get('inv_iotlb', (0, 0)), f.get('inv_devtlb', (0, 0))
            w('| %s | %s | %d | %d | %d | %d | %d | %.2f |' % (
                p, SHORT[k], f['unmaps'], io[0], io[1], dv[0], dv[1],
                (io[0] * io[1] + dv[0] * dv[1]) / f['unmaps']))
    if prof:
        w('')
        w('## Where the time goes, by kernel symbol (perf), 1 thread, 1 page')
        w('')
        w('`dma_map_benchmark` for 3 s under `perf record -e cpu-clock -a` (TCG has no PMU;'
          ' a sample lands where the vCPU is when the host timer fires, so an MMIO exit is'
          ' booked after the instruction that made it). Shares of the non-idle samples,'
          ' grouped by symbol name (scripts/benchreport.py CATEGORIES; derived from the'
          ' top 40 symbols perf listed, the rest under "not listed"). Not a latency: one'
          ' boot each, no rounds.')
        w('')
        w('| profile | kernel | non-idle samples | %s | top symbols (share of non-idle) |' % ' | '.join(CATS))
        w('|---|---|---|%s---|' % ('---|' * len(CATS)))
        for (k, p) in sorted(prof, key=lambda c: (profiles.index(c[1]) if c[1] in profiles else 99, KERNELS.index(c[0]))):
            f = prof[(k, p)]
            w('| %s | %s | %.0f%% | %s | %s |' % (
                p, SHORT[k], f['busy'], ' | '.join('%.0f%%' % f['cats'][c] for c in CATS),
                ', '.join('%s %.0f%%' % (sym, pct) for pct, sym in f['top'])))
    ld = [(p, t, g) for (k, p, t, g) in timed if k == 'lockdep-series']
    if ld:
        w('')
        w('## The same kernels with lock debugging (make test\'s config), legacy-ats')
        w('')
        w('| threads | op | stock | series | series/stock | bench config: series/stock |')
        w('|---|---|---|---|---|---|')
        for (p, t, g) in sorted(set(ld)):
            for op in ('map', 'unmap'):
                v = [spread([r[op] for r in timed.get((k, p, t, g), {}).values()]) for k in LOCKDEP]
                w('| %d | %s | %s | %s | %s | %s |' % (
                    t, op, fmt(v[0]), fmt(v[1]),
                    fmt(ratio(timed, 'lockdep-series', 'lockdep-stock', p, t, g, op) or (0, 0, 0)),
                    fmt(ratio(timed, 'bench-series', 'bench-stock', p, t, g, op) or (0, 0, 0))))

    ba = sorted({(p, t, g) for (k, p, t, g) in timed if k == 'ba-bench-series'})
    if ba:
        w('')
        w('## Before and after: the series against the series at an earlier commit')
        w('')
        w('Before: the series up to %s (by default the parent of the patch that makes flushes'
          ' walk the tags under RCU). The two booted back to back in each round; ratios per round.'
          % meta.get('before', '?'))
        w('')
        w('| profile | threads | op | before | after | after/before |')
        w('|---|---|---|---|---|---|')
        for (p, t, g) in ba:
            for op in ('map', 'unmap'):
                v = [timed.get((k, p, t, g), {}) for k in BA]
                v = [spread([r[op] for r in x.values()]) if x else None for x in v]
                rr = ratio(timed, 'ba-bench-series', 'ba-bench-before', p, t, g, op)
                w('| %s | %d | %s | %s | %s | %s |' % (p, t, op, *(fmt(x) if x else 'missing' for x in v),
                                                      fmt(rr) if rr else 'missing'))
        for p in sorted({c[0] for c in ba}):
            sc = []
            for k in BA:
                a, b = timed.get((k, p, 2, 1), {}), timed.get((k, p, 1, 1), {})
                xs = [a[r]['unmap'] / b[r]['unmap'] for r in set(a) & set(b)]
                sc.append('%s %.2f' % (SHORT[k], statistics.median(xs)) if xs else '%s missing' % SHORT[k])
            w('')
            w('%s, unmap at 2 threads over 1 (median of the rounds): %s.' % (p, ', '.join(sc)))

    goals = []

    def goal(name, items, limit, cmp='<='):
        """items: [(label, (median, lo, hi)) or (label, None)]; cmp: the
        medians must be '<=' or '>=' LIMIT."""
        sign = 1 if cmp == '<=' else -1
        missing = [lab for lab, v in items if v is None]
        bad = [(lab, v) for lab, v in items if v is not None and not sign * v[0] <= sign * limit]
        if not items or missing:
            goals.append(('NOT MEASURED', name, 'missing: %s' % (', '.join(missing) or 'everything')))
        elif bad:
            worst = max(bad, key=lambda x: sign * x[1][0])
            goals.append(('MISSED', name, '%d of %d %s %.2f; worst %s at %.2f (%.0f%% %s)' % (
                len(bad), len(items), 'over' if sign > 0 else 'under', limit, worst[0], worst[1][0],
                100 * abs(worst[1][0] / limit - 1), 'over' if sign > 0 else 'under')))
        else:
            best = max(items, key=lambda x: sign * x[1][0])
            goals.append(('MET', name, 'all %d at %s %.2f; %s %s at %.2f' % (
                len(items), 'most' if sign > 0 else 'least', limit, 'highest' if sign > 0 else 'lowest',
                best[0], best[1][0])))

    lab = '%s t%d g%d %s'
    goal('unmap with a device TLB: series/stock <= 0.80',
         [(lab % (p, t, g, 'unmap'), summary[(p, t, g, 'unmap')]['series/stock'])
          for (p, t, g) in cells if p in ('legacy-ats', 'sm-fl-ats')], 0.80)
    goal('map, every profile: series/stock <= 1.00',
         [(lab % (p, t, g, 'map'), summary[(p, t, g, 'map')]['series/stock']) for (p, t, g) in cells], 1.00)
    goal('series/6.12 <= 1.00, map and unmap, every profile',
         [(lab % (p, t, g, op), summary[(p, t, g, op)]['series/6.12'])
          for (p, t, g) in cells for op in ('map', 'unmap')], 1.00)
    if psummary:
        goal('two devices in one domain: throughput series/stock >= 1.00',
             [('%s %d KiB' % (p, bs // 1024), v['series/stock']) for (p, bs), v in psummary.items()], 1.00, '>=')
    # Two threads on one domain: unmap at 2 threads over 1, per kernel.
    scal = []
    for p in profiles:
        for g in sorted({c[2] for c in cells if c[0] == p}):
            sc = {}
            for k in KERNELS:
                a, b = timed.get((k, p, 2, g), {}), timed.get((k, p, 1, g), {})
                xs = [a[r]['unmap'] / b[r]['unmap'] for r in set(a) & set(b)]
                sc[k] = statistics.median(xs) if xs else None
            if None in sc.values():
                continue
            ok = sc['bench-series'] < sc['bench-stock'] and sc['bench-series'] < sc['bench-6.12']
            scal.append((p, g, sc, ok))
    if scal:
        bad = [s for s in scal if not s[3]]
        goals.append(('MET' if not bad else 'MISSED',
                      'unmap at 2 threads over 1: series lower than stock and 6.12',
                      '; '.join('%s g%d: stock %.2f, series %.2f, 6.12 %.2f%s' % (
                          p, g, sc['bench-stock'], sc['bench-series'], sc['bench-6.12'], '' if ok else ' (missed)')
                          for p, g, sc, ok in scal)))
    else:
        goals.append(('NOT MEASURED', 'unmap at 2 threads over 1', 'no 1- and 2-thread runs of all three kernels'))
    desc_items = []
    for p in profiles:
        for g in sorted({c[2] for c in counts if c[1] == p}):
            s, u = counts.get(('bench-series', p, g)), counts.get(('bench-6.12', p, g))
            lb = lower_bound(p)
            if not s or not u or not lb:
                continue
            at_lb = all(abs(s[x] - lb[x]) < 0.01 for x in ('submissions', 'iotlb', 'devtlb'))
            desc_items.append((p, g, s, u, at_lb, s['descriptors'] <= u['descriptors'] + 0.005))
    if desc_items:
        bad = [x for x in desc_items if not (x[4] and x[5])]
        goals.append(('MET' if not bad else 'MISSED',
                      'descriptors: series at the lower bound, never above 6.12',
                      'all %d profile/granule pairs' % len(desc_items) if not bad else '; '.join(
                          '%s g%d: series %.2f sub %.2f desc, 6.12 %.2f desc%s%s' % (
                              p, g, s['submissions'], s['descriptors'], u['descriptors'],
                              '' if lb_ok else ' (above the lower bound)', '' if le else ' (above 6.12)')
                          for p, g, s, u, lb_ok, le in bad)))
    else:
        goals.append(('NOT MEASURED', 'descriptors', 'no counting boots of the series and 6.12'))
    w('')
    w('## Goals (the performance issue), judged on the medians')
    w('')
    for st, name, detail in goals:
        w('- **%s** %s: %s' % (st, name, detail))
    if problems:
        w('')
        w('## Problems')
        w('')
        for p in problems:
            w('- %s' % p)
    w('')
    w('## The run')
    w('')
    for k in ('date', 'commit', 'qemu', 'cpu', 'rounds', 'secs', 'threads', 'granules', 'lockdep',
              'build_612_s', 'wall_s', 'boot_failures'):
        if k in meta:
            w('- %s: %s' % (k, meta[k]))
    for k in KERNELS:
        if 'kernel_' + k in meta:
            w('- %s: %s; fragment options this kernel does not have: %s' % (
                SHORT[k], meta['kernel_' + k], meta.get('absent_' + k, '').strip() or 'none'))
    text = '\n'.join(md) + '\n'
    open(os.path.join(d, 'bench.md'), 'w').write(text)
    print(text)
    if docs:
        head = [
            '# Performance: stock 6.1, the series and upstream 6.12',
            '',
            'Written by `BENCH_PUBLISH=1 make bench` (scripts/bench.sh, scripts/benchreport.py)'
            ' on %s, commit %s; %s; %s; 2 vCPUs, TCG (no KVM).' % (
                meta.get('date', '?'), meta.get('commit', '?'), meta.get('qemu', '?'), meta.get('cpu', '?')),
            '',
            'Each latency is `dma_map_benchmark`\'s average for one run, bound to the virtio disk;'
            ' the table gives the median over the rounds and the range. Kernels built from'
            ' configs/vtd.config + configs/bench.config (no lock debugging, no KUnit, -O2, SLUB).'
            ' How to read it: docs/testing.md, "make bench: how the figures are taken".',
            '',
            '![latency per kernel and profile](%s.png)' % page,
            '',
        ]
        open(os.path.join(docs, page + '.md'), 'w').write('\n'.join(head) + text)
    json.dump({'meta': meta,
               'timed': {'|'.join(map(str, k)): v for k, v in timed.items()},
               'counts': {'|'.join(map(str, k)): v for k, v in counts.items()},
               'perf': {'|'.join(map(str, k)): v for k, v in perf.items()},
               'prof': {'|'.join(map(str, k)): v for k, v in prof.items()},
               'pair': {'|'.join(map(str, k)): v for k, v in ptimed.items()},
               'pair_counts': {'|'.join(map(str, k)): v for k, v in pcounts.items()},
               'goals': goals, 'problems': problems},
              open(os.path.join(d, 'bench.json'), 'w'), indent=1, sort_keys=True)
    plot(d, summary, cells, profiles)
    print('written: %s/bench.md, bench.json, bench.png' % d)
    if docs and os.path.exists(os.path.join(d, 'bench.png')):
        import shutil
        shutil.copy(os.path.join(d, 'bench.png'), os.path.join(docs, page + '.png'))
        print('published: %s/%s.md, %s.png' % (docs, page, page))
    return 1 if problems else 0


def plot(d, summary, cells, profiles):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('no matplotlib: no plot (python3-matplotlib)')
        return
    ps = [p for p in profiles if any(c[0] == p for c in cells)]
    if not ps:
        return
    fig, axes = plt.subplots(2, len(ps), figsize=(4.2 * len(ps), 7), squeeze=False)
    colours = {'bench-stock': '#888888', 'bench-series': '#1f77b4', 'bench-6.12': '#ff7f0e'}
    for j, p in enumerate(ps):
        pc = [c for c in cells if c[0] == p]
        for i, op in enumerate(('map', 'unmap')):
            ax = axes[i][j]
            for n, k in enumerate(KERNELS):
                xs, ys, lo, hi = [], [], [], []
                for x, c in enumerate(pc):
                    v = summary[(c[0], c[1], c[2], op)]['values'][k]
                    if v:
                        xs.append(x + (n - 1) * 0.27)
                        ys.append(v[0])
                        lo.append(v[0] - v[1])
                        hi.append(v[2] - v[0])
                ax.bar(xs, ys, 0.27, yerr=[lo, hi], capsize=2, color=colours[k], label=SHORT[k])
            ax.set_xticks(range(len(pc)))
            ax.set_xticklabels(['%dt g%d' % (c[1], c[2]) for c in pc], fontsize=8)
            ax.set_title('%s: %s' % (p, op), fontsize=10)
            if j == 0:
                ax.set_ylabel('µs (median, range over rounds)')
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, 'bench.png'), dpi=110)


if __name__ == '__main__':
    sys.exit(main())
