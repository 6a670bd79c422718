#!/usr/bin/env python3
"""Read a guest log (serial console interleaved with QEMU's vtd_inv* trace).

  vtdlog.py counts LOG [STEP]   descriptor counts per marked step (or all)
  vtdlog.py tap LOG             the guest's TAP results, one per line
  vtdlog.py faults LOG          DMAR faults, WARNINGs, BUGs and the like
  vtdlog.py events LOG          cache_tag_* events: counts and tags per domain
  vtdlog.py raw LOG [N]         the first N cache_tag_* trace lines
  vtdlog.py check LOG           the rules every run's cache_tag_* events keep
  vtdlog.py follow LOG DEV      a device's device-TLB tags over the run
  vtdlog.py count LOG EVENT     how many EVENTs real devices produced

Standard library only. Output is tab-separated where other scripts read it.
"""
import collections
import re
import sys

# QEMU's log backend prints "name args", optionally behind "pid@sec.usec:".
# Serial output is written a byte at a time, so a trace line can start in
# the middle of a console line: search, don't match.
TRACE = re.compile(r'(?:\d+@\d+\.\d+:)?(vtd_inv_\w+)\b ?(.*)$')
MARK = re.compile(r'VTD-MARK (begin|end) (\S+)')
KINDS = ('submissions', 'descriptors', 'psi', 'dsi', 'global', 'devtlb',
         'piotlb', 'context', 'iec', 'wait')


def lines(path):
    with open(path, errors='replace') as f:
        for line in f:
            yield line.rstrip('\r\n')


def classify(name, args):
    """Map one trace line to the counter it bumps, or None."""
    if name == 'vtd_inv_qi_tail':
        return 'submissions'
    if name == 'vtd_inv_qi_head':
        return 'descriptors'
    if name == 'vtd_inv_desc_iotlb_pages':
        return 'psi'
    if name == 'vtd_inv_desc_iotlb_domain':
        return 'dsi'
    if name == 'vtd_inv_desc_iotlb_global':
        return 'global'
    if name in ('vtd_inv_desc_iotlb_pasid_pages', 'vtd_inv_desc_iotlb_pasid'):
        return 'piotlb'
    if name.startswith('vtd_inv_desc_cc_'):
        return 'context'
    if name == 'vtd_inv_desc_iec':
        return 'iec'
    if name.startswith('vtd_inv_desc_wait'):
        return 'wait'
    if name == 'vtd_inv_desc' and re.search(r'type device', args):
        return 'devtlb'
    return None


def counts(path, want=None):
    """{step: Counter}; 'all' covers the whole log."""
    out = collections.defaultdict(collections.Counter)
    active = set()
    for line in lines(path):
        m = MARK.search(line)
        if m:
            (active.add if m.group(1) == 'begin' else active.discard)(m.group(2))
            out[m.group(2)]  # make the step exist even if it saw nothing
            continue
        t = TRACE.search(line)
        if not t:
            continue
        kind = classify(t.group(1), t.group(2))
        if not kind:
            continue
        out['all'][kind] += 1
        for s in active:
            out[s][kind] += 1
    if want:
        return {want: out.get(want, collections.Counter())}
    return out


TAPLINE = re.compile(r'@@VTD (ok|not ok) (\d+) (\S+)(?: # (.*))?$')


def tap(path):
    res = []
    done = False
    for line in lines(path):
        if '@@VTD-DONE' in line:
            done = True
        m = TAPLINE.search(line)
        if not m:
            continue
        detail = m.group(4) or ''
        if detail.startswith('SKIP'):
            status = 'SKIP'
            detail = detail[4:].strip()
        else:
            status = 'PASS' if m.group(1) == 'ok' else 'FAIL'
        res.append((status, m.group(3), detail))
    return res, done


FAULT = [
    (re.compile(r'DMAR: \[(DMA Read|DMA Write|INTR-REMAP)'), 'DMAR fault'),
    (re.compile(r'DMAR:.*(fault|Fault)'), 'DMAR fault'),
    (re.compile(r'WARNING:'), 'WARNING'),
    (re.compile(r'\bBUG:'), 'BUG'),
    (re.compile(r'Kernel panic'), 'panic'),
    (re.compile(r'Oops'), 'Oops'),
    (re.compile(r'(possible circular locking|inconsistent lock state|possible recursive locking|'
                r'suspicious RCU usage|sleeping function called from invalid context)'), 'lockdep'),
    (re.compile(r'(Invalidation Queue Error|Invalidation Time-out Error)'), 'QI error'),
    (re.compile(r'Call Trace:'), 'call trace'),
]


def faults(path):
    """Lines that mean trouble. A test may announce what it provokes:
    "EXPECT WARNING in FN" allows the next WARNING raised in FN, with its
    call trace; "EXPECT DMAR FAULT addr 0xA" allows DMAR fault reports for
    that address. An announced warning or fault that never comes is itself
    reported."""
    out = []
    expect = collections.Counter()
    fault_addrs = {}
    in_expected = False
    for line in lines(path):
        m = re.search(r'EXPECT WARNING in (\w+)', line)
        if m:
            expect[m.group(1)] += 1
            continue
        m = re.search(r'EXPECT DMAR FAULT addr (0x[0-9a-f]+)', line)
        if m:
            fault_addrs.setdefault(m.group(1), 0)
            continue
        m = re.search(r'DMAR: \[DMA (Read|Write)[^]]*\].* fault addr (0x[0-9a-f]+)', line)
        if m and m.group(2) in fault_addrs:
            fault_addrs[m.group(2)] += 1
            continue
        # The summary line before each report: the report itself is judged.
        if re.search(r'DMAR: DRHD: handling fault status', line):
            continue
        if in_expected:
            if '---[ end trace' in line:
                in_expected = False
            continue
        if TRACE.search(line) and 'vtd_inv' in line and 'fault' not in line.lower():
            continue
        if 'WARNING:' in line:
            fn = next((f for f in expect if expect[f] > 0 and ' %s+' % f in line), None)
            if fn:
                expect[fn] -= 1
                in_expected = True
                continue
        for rx, what in FAULT:
            if rx.search(line):
                out.append((what, line.strip()))
                break
    for fn, n in expect.items():
        if n > 0:
            out.append(('missing expected WARNING', 'a test announced a WARNING in %s that never came' % fn))
    for addr, n in fault_addrs.items():
        if not n:
            out.append(('missing expected DMAR fault', 'a test announced a DMAR fault at %s that never came' % addr))
    return out


# cache_tag_assign: dmar0/0000:01:00.0 type iotlb did 1 pasid 0 ref 1
EVENT = re.compile(r'\s(cache_tag_\w+): (.*)$')


FIELDS = ('type', 'did', 'pasid', 'users', 'start', 'end', 'addr', 'pages', 'mask')


def parse_fields(text):
    """The fields of a cache_tag_* payload: 'IOMMU/DEV type T did D ...'."""
    f = {}
    head = text.split()[0] if text.split() else ''
    if '/' in head:
        f['iommu'], f['dev'] = head.split('/', 1)
    for key in FIELDS:
        m = re.search(r'\b%s (\S+)' % key, text)
        if m:
            f[key] = m.group(1)
    return f


def events(path):
    evs = []
    inside = False
    for line in lines(path):
        if '@@TRACE-BEGIN' in line:
            inside = True
            continue
        if '@@TRACE-END' in line:
            inside = False
            continue
        if not inside:
            continue
        m = EVENT.search(line)
        if m:
            f = parse_fields(m.group(2))
            t = re.match(r'\s*(\S+)-\d+\s', line)
            f['task'] = t.group(1) if t else ''
            evs.append((m.group(1), f, line.strip()))
    return evs


def real_events(path):
    """The events of real devices: KUnit's fake IOMMUs trace too, from
    its kunit_try_catch threads; returns (real, number left out)."""
    evs = events(path)
    real = [e for e in evs if not e[1]['task'].startswith('kunit_try_catch')]
    return real, len(evs) - len(real)


def check(path, width=48):
    """The rules every run's cache_tag_* events must keep. Returns
    (violations, number of events checked). KUnit's fake IOMMUs are left
    out. Rules:
      - a flush names a tag that is assigned at that moment;
      - an unassign names a tag that is assigned;
      - the users count an event reports is the count this checker keeps;
      - a range flush's block [addr, addr + pages) covers [start, end]
        (the end clamped to the address width);
      - no device-TLB tag is left for a device that is gone at the end.
    """
    evs, _ = real_events(path)
    live = collections.Counter()
    bad = []
    top = (1 << width) - 1

    def key(f):
        return (f.get('iommu'), f.get('did'), f.get('pasid'), f.get('type'),
                f.get('dev') if f.get('type') == 'devtlb' else '')

    for name, f, line in evs:
        k = key(f)
        if name == 'cache_tag_assign':
            live[k] += 1
        elif name == 'cache_tag_unassign':
            if live[k] <= 0:
                bad.append('unassign without assign: ' + line)
                continue
            live[k] -= 1
        else:
            if live[k] <= 0:
                bad.append('flush of a tag that is not assigned: ' + line)
                continue
        if name in ('cache_tag_assign', 'cache_tag_unassign') and f['type'] == 'iotlb':
            if int(f.get('users', -1)) != live[k]:
                bad.append('users %s, but %d assigned: %s' % (f.get('users'), live[k], line))
        if name in ('cache_tag_flush_range', 'cache_tag_flush_range_np'):
            start, end = int(f['start'], 16), int(f['end'], 16)
            addr, pages = int(f['addr'], 16), int(f['pages'], 16)
            if start <= end and (addr > start or addr + pages * 4096 - 1 < min(end, top)):
                bad.append('block does not cover the range: ' + line)
    present = set()
    for line in lines(path):
        m = re.search(r'@@INFO pci-devices: (.*)', line)
        if m:
            present = set(m.group(1).split())
    if present:
        for k, n in live.items():
            if n > 0 and k[3] == 'devtlb' and k[4] not in present:
                bad.append('device-TLB tag left for %s, which is gone: %s' % (k[4], k))
    return bad, len(evs)


def follow(path, dev):
    """What happened to @dev's device-TLB tags: (assigns, unassigns, the
    domain IDs it was assigned in, in order, and how many are live)."""
    evs, _ = real_events(path)
    assigns = unassigns = 0
    dids = []
    for name, f, _ in evs:
        if f.get('dev') != dev or f.get('type') != 'devtlb':
            continue
        if name == 'cache_tag_assign':
            assigns += 1
            dids.append(f.get('did'))
        elif name == 'cache_tag_unassign':
            unassigns += 1
    return assigns, unassigns, dids, assigns - unassigns


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == 'counts':
        for step, c in sorted(counts(path, sys.argv[3] if len(sys.argv) > 3 else None).items()):
            print(step + '\t' + '\t'.join('%s=%d' % (k, c[k]) for k in KINDS))
    elif cmd == 'tap':
        res, done = tap(path)
        for r in res:
            print('\t'.join(r))
        if not done:
            print('FAIL\tguest-finished\tthe guest did not reach the end of its steps')
    elif cmd == 'faults':
        for what, line in faults(path):
            print('%s\t%s' % (what, line))
    elif cmd == 'events':
        evs = events(path)
        c = collections.Counter(e[0] for e in evs)
        for k in sorted(c):
            print('count\t%s\t%d' % (k, c[k]))
        for name, f, _ in evs:
            if name in ('cache_tag_assign', 'cache_tag_unassign'):
                print('tag\t%s\t%s' % (name, '\t'.join('%s=%s' % kv for kv in sorted(f.items()))))
    elif cmd == 'check':
        bad, n = check(path)
        print('checked %d events, %d violations' % (n, len(bad)))
        for b in bad[:20]:
            print('violation\t' + b)
        sys.exit(1 if bad else 0)
    elif cmd == 'follow':
        a, u, dids, live = follow(path, sys.argv[3])
        print('assigns=%d unassigns=%d live=%d dids=%s' % (a, u, live, ','.join(dids)))
    elif cmd == 'count':
        evs, _ = real_events(path)
        print(sum(1 for e in evs if e[0] == sys.argv[3]))
    elif cmd == 'raw':
        n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
        for _, _, line in events(path)[:n]:
            print(line)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
