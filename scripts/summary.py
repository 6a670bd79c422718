#!/usr/bin/env python3
"""Human summary of one guest run: what the cache tags did.

usage: summary.py LOG VTD-INFO PROFILE
"""
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtdlog  # noqa: E402

EVENTS = ('cache_tag_assign', 'cache_tag_unassign', 'cache_tag_flush_range',
          'cache_tag_flush_range_np', 'cache_tag_flush_all')


def info(path):
    d = collections.OrderedDict()
    patches = []
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip('\n').partition('=')
            if k == 'patch':
                patches.append(v)
            else:
                d[k] = v
    return d, patches


def iommu_mode(log):
    mode = []
    for line in vtdlog.console(log):
        if 'Command line:' in line:
            m = re.search(r'intel_iommu=(\S+)', line)
            if m:
                mode.append('intel_iommu=' + m.group(1))
            m = re.search(r'iommu\.strict=(\d)', line)
            if m:
                mode.append('strict' if m.group(1) == '1' else 'lazy')
        if 'Intel(R) Virtualization Technology for Directed I/O' in line:
            mode.append('DMAR enabled')
        m = re.search(r'@@INFO group (\d+) type=(\S+) devices=(.*)', line)
        if m:
            mode.append('group %s %s [%s]' % (m.group(1), m.group(2), m.group(3).strip()))
    return mode


def main(log, infofile, profile):
    d, patches = info(infofile)
    print('== VT-d cache tags: %s kernel, profile %s' % (d.get('variant'), profile))
    print('kernel %s, Debian linux-source-6.1 %s, %s patch(es) applied' %
          (d.get('kernel'), d.get('debian'), d.get('patches')))
    for p in patches:
        print('  - ' + p)
    print('IOMMU mode:')
    for m in iommu_mode(log):
        print('  ' + m)

    evs, fake = vtdlog.real_events(log)
    res, done = vtdlog.tap(log)
    have = not any(s == 'SKIP' and n == 'events' for s, n, _ in res)
    if not have or not evs:
        print('cache tags: this kernel has no intel_iommu:cache_tag_* events '
              '(stock 6.1 has no cache tags); only QEMU\'s counts below')
    else:
        # Tags per domain, keyed by (iommu, did): live = assigned - unassigned.
        live = collections.OrderedDict()
        refs = {}
        for name, f, _ in evs:
            if name not in ('cache_tag_assign', 'cache_tag_unassign'):
                continue
            dom = '%s did %s' % (f.get('iommu'), f.get('did'))
            tag = (f.get('type'), f.get('pasid'), f.get('dev'))
            live.setdefault(dom, collections.Counter())
            live[dom][tag] += 1 if name == 'cache_tag_assign' else -1
            refs[(dom, tag)] = f.get('ref')
        print('cache tags per domain (IOMMU and domain ID), as left at the end of the run:')
        for dom, tags in live.items():
            cur = [t for t, n in tags.items() if n > 0]
            print('  domain %s:%s' % (dom, '' if cur else ' (none left)'))
            for t in cur:
                print('    %-6s pasid %-4s dev %-14s ref %s' % (t + (refs[(dom, t)],)))
        c = collections.Counter(e[0] for e in evs)
        print('cache_tag_* events%s:' % (' (not counting %d from KUnit\'s fake IOMMUs)' % fake if fake else ''))
        for e in EVENTS:
            print('  %-26s %d' % (e, c[e]))
    view = vtdlog.tag_view(log)
    disagree = []
    if view is not None:
        print('debugfs view of the tags (/sys/kernel/debug/iommu/intel/cache_tags), end of the run:')
        for dom, kind, f in view:
            print('  domain %s %-9s %s/%s type %-6s did %s pasid %s ref %s' % (
                dom, kind, f.get('iommu'), f.get('dev'), f.get('type'), f.get('did'),
                f.get('pasid'), f.get('ref')))
        disagree, summ = vtdlog.tags(log)
        print('  ' + (summ if not disagree else
                      'DISAGREES with the trace replay: ' + '; '.join(disagree[:3])))
    cnt = vtdlog.counts(log)
    print('QEMU invalidation descriptors (vtd_inv* trace):')
    for step in ('workload', 'all'):
        if step in cnt:
            c = cnt[step]
            print('  %-9s submissions %-5d PSI %-5d DSI %-4d global %-3d devTLB %-5d PASID-IOTLB %d' %
                  (step, c['submissions'], c['psi'], c['dsi'], c['global'], c['devtlb'], c['piotlb']))
    c = cnt.get('workload')
    if c:
        sl = c['psi'] + c['dsi'] + c['global']
        if c['piotlb'] and not sl:
            lvl = 'first-level (PASID-tagged): all %d IOTLB invalidations were PASID-based' % c['piotlb']
        elif sl and not c['piotlb']:
            lvl = 'second-level: all %d IOTLB invalidations were domain-ID based (PSI/DSI/global)' % sl
        else:
            lvl = 'mixed or none: %d PASID-based, %d second-level IOTLB invalidations' % (c['piotlb'], sl)
        print('  the disk\'s DMA domain is %s (derived from the workload\'s counts above)' % lvl)
    if evs:
        print('first trace lines:')
        for line in [e[2] for e in evs][:6]:
            print('  ' + line)
    print('guest steps:')
    for s, n, det in res:
        print('  %-4s %-10s %s' % (s, n, det))
    bad = vtdlog.faults(log)
    for what, line in bad[:10]:
        print('  FAIL %-10s %s' % (what, line[:150]))
    print('full log: ' + log)
    failed = [n for s, n, _ in res if s == 'FAIL']
    if failed or bad or not done or disagree:
        print('make run: FAILED: %s' % ', '.join(
            failed + (['%d unexpected fault/warning line(s)' % len(bad)] if bad else []) +
            (['the debugfs view disagrees with the trace'] if disagree else []) +
            ([] if done else ['the guest did not finish its steps'])))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:4]))
