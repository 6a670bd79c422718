"""QEMU's side of a guest log: its vtd_inv* trace records counted per
marked step, the series' batching against stock, the superpage,
suspend, queue-error and realflush steps' descriptors.

Standard library only.
"""
import collections
import re

from logread import MARK, printk_split, split_records


KINDS = ('submissions', 'descriptors', 'psi', 'dsi', 'global', 'devtlb',
         'piotlb', 'context', 'iec', 'wait')


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
    if name.startswith('vtd_inv_desc_cc_'):
        return 'context'
    if name == 'vtd_inv_desc_iec':
        return 'iec'
    if name.startswith('vtd_inv_desc_wait'):
        return 'wait'
    if name == 'vtd_inv_desc' and re.search(r'type device', args):
        return 'devtlb'
    # QEMU 10 names a PASID-based IOTLB descriptor only in its generic
    # record (its vtd_inv_desc_iotlb_pasid* events do not fire for them).
    if name == 'vtd_inv_desc' and re.search(r'type p-iotlb', args):
        return 'piotlb'
    return None


def counts(path, want=None):
    """{step: Counter}; 'all' covers the whole log."""
    out = collections.defaultdict(collections.Counter)
    active = set()
    for line, t in split_records(path):
        if line is not None:
            m = MARK.search(line)
            if m:
                (active.add if m.group(1) == 'begin' else active.discard)(m.group(2))
                out[m.group(2)]  # make the step exist even if it saw nothing
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


def batching(series, stock):
    """Series against stock on the fixed workload, both measured in this
    run: [(status, test, detail)].
      lower-bound         the series submits once per IOTLB invalidation;
      batching            PASS only where stock needs more than one
                          submission per IOTLB invalidation and the series
                          one; where stock is at the lower bound already,
                          there is nothing to batch: SKIP;
      same-invalidations  the same PSI, PASID-IOTLB and device-TLB
                          descriptors as stock.
    A workload in which QEMU saw no IOTLB invalidation fails all three."""
    def flushes(c):
        return c['psi'] + c['dsi'] + c['global'] + c['piotlb']
    s, k = series, stock
    fs, fk = flushes(s), flushes(k)
    if not fs or not fk:
        why = 'no IOTLB invalidation seen in the workload (series %d, stock %d): the oracle saw nothing' % (fs, fk)
        return [('FAIL', t, why) for t in ('lower-bound', 'batching', 'same-invalidations')]
    res = []
    if s['submissions'] == fs:
        res.append(('PASS', 'lower-bound', 'one submission per IOTLB invalidation: %d for %d' %
                    (s['submissions'], fs)))
    else:
        res.append(('FAIL', 'lower-bound', '%d submissions for %d IOTLB invalidations' %
                    (s['submissions'], fs)))
    if k['submissions'] <= fk:
        res.append(('SKIP', 'batching', 'stock is at the lower bound already (%d submissions for %d '
                    'IOTLB invalidations, %d devTLB): nothing to batch' % (k['submissions'], fk, k['devtlb'])))
    elif s['submissions'] == fs and s['submissions'] < k['submissions']:
        res.append(('PASS', 'batching', '%d submissions, stock %d (ratio %.2f), for %d IOTLB + %d devTLB '
                    'invalidations' % (s['submissions'], k['submissions'],
                                       s['submissions'] / k['submissions'], fs, s['devtlb'])))
    else:
        res.append(('FAIL', 'batching', '%d submissions for %d IOTLB invalidations; stock %d' %
                    (s['submissions'], fs, k['submissions'])))
    same = all(s[x] == k[x] for x in ('psi', 'dsi', 'global', 'piotlb', 'devtlb'))
    desc = lambda c: 'PSI %d, DSI %d, global %d, PASID-IOTLB %d, devTLB %d' % (
        c['psi'], c['dsi'], c['global'], c['piotlb'], c['devtlb'])
    res.append(('PASS' if same else 'FAIL', 'same-invalidations',
                desc(s) + (': as stock 6.1' if same else '; stock: ' + desc(k))))
    return res


# QEMU's generic record of a PASID-based IOTLB descriptor, raw.
PIOTLB_DESC = re.compile(r'type p-iotlb high 0x([0-9a-f]+) low 0x([0-9a-f]+)')


SZ_2M_SHIFT = 9     # address mask (AM) of a 2 MiB block of 4 KiB pages


def piotlb_descs(path, step):
    """The PASID-based IOTLB descriptors QEMU saw inside a marked step,
    decoded by the VT-d spec's layout (6.5.2.4): low quadword granularity
    (bits 5:4, 3 = page-selective), domain ID (31:16), PASID (51:32); high
    quadword address mask (5:0), invalidation hint (6), address (63:12)."""
    active, out, devtlb = False, [], 0
    for line, t in split_records(path):
        if line is not None:
            m = MARK.search(line)
            if m and m.group(2) == step:
                active = m.group(1) == 'begin'
            continue
        if not active or t.group(1) != 'vtd_inv_desc':
            continue
        devtlb += bool(re.search(r'type device', t.group(2)))
        m = PIOTLB_DESC.search(t.group(2))
        if m:
            hi, lo = int(m.group(1), 16), int(m.group(2), 16)
            out.append({'g': (lo >> 4) & 3, 'did': (lo >> 16) & 0xffff,
                        'pasid': (lo >> 32) & 0xfffff, 'am': hi & 0x3f,
                        'ih': (hi >> 6) & 1, 'addr': hi & ~0xfff})
    return out, devtlb


def superpage(path):
    """The superpage step's unmaps of 2 MiB superpages on a first-level
    domain, in QEMU's trace: each must be one page-selective PASID-based
    IOTLB descriptor with AM 9 at a 2 MiB-aligned address, with the
    invalidation hint set (only a leaf changed: a superpage; 4 KiB pages
    would have freed their page table, and the hint would be clear), and
    nothing smaller. No such descriptor at all checked nothing: FAIL.
    Returns (violations, summary)."""
    descs, devtlb = piotlb_descs(path, 'superpage')
    big = [d for d in descs if d['g'] == 3 and d['am'] == SZ_2M_SHIFT]
    bad = []
    if not big:
        bad.append('no 2 MiB page-selective PASID-based IOTLB invalidation in the superpage step '
                   '(%d PASID-based descriptors in all): nothing was checked' % len(descs))
    for d in descs:
        if d not in big:
            bad.append('a PASID-based descriptor other than a 2 MiB page-selective one: granularity %d, '
                       'AM %d, address 0x%x' % (d['g'], d['am'], d['addr']))
        elif d['addr'] & ((1 << (12 + SZ_2M_SHIFT)) - 1):
            bad.append('a 2 MiB invalidation at an unaligned address 0x%x' % d['addr'])
        elif not d['ih']:
            bad.append('a 2 MiB invalidation at 0x%x without the invalidation hint: the unmap '
                       'freed a page table, so the mapping was not a superpage' % d['addr'])
    dids = sorted({(d['did'], d['pasid']) for d in big})
    return bad, ('%d 2 MiB superpage unmaps: each one page-selective PASID-based IOTLB descriptor, '
                 'AM 9, 2 MiB-aligned, invalidation hint set (%s); %d device-TLB descriptors' %
                 (len(big), ', '.join('did %d pasid %d' % x for x in dids), devtlb))


SUSPEND_ROUNDS = 5


def suspend(path):
    """The suspend step's rounds (guest marks begin/end suspend-N), as the
    host, the kernel and QEMU saw them. In each round QEMU must really have
    suspended: hotplug.py notes "@@HOST suspend N: suspended,
    system_wakeup" only after QMP's SUSPEND event, with QEMU's run state
    "suspended", before it wakes the guest (the kernel prints its wake-up
    lines even when the platform never slept). The kernel must have woken
    from S3 ("Waking up from system sleep state S3"), and QEMU's trace
    must show the invalidation queue enabled again (the wake-up reset
    disables it) and, after that, descriptors that QEMU fetched from the
    new queue: an invalidation wait and a global IOTLB invalidation (the
    root table set again). All 5 rounds must be there; none checked
    nothing: FAIL. Returns (violations, summary)."""
    rounds, cur = {}, None
    for line, t in split_records(path):
        if line is not None:
            m = MARK.search(line)
            if m and m.group(2).startswith('suspend-'):
                n = m.group(2)[len('suspend-'):]
                if m.group(1) == 'begin':
                    cur = rounds.setdefault(n, {'woke': False, 'enabled': False, 'after': 0,
                                                'global': False, 'wait': False, 'ended': False,
                                                'host': False})
                elif cur is not None:
                    cur['ended'] = True
                    cur = None
            elif cur is not None and 'Waking up from system sleep state S3' in line:
                cur['woke'] = True
            elif cur is not None and '@@HOST suspend %s: suspended, system_wakeup' % n in line:
                cur['host'] = True
            continue
        if cur is None:
            continue
        name, args = t.group(1), t.group(2)
        if name == 'vtd_inv_qi_enable':
            cur['enabled'] = args.strip().endswith('1')
            cur['after'], cur['global'], cur['wait'] = 0, False, False
        elif cur['enabled'] and name == 'vtd_inv_desc':
            cur['after'] += 1
        elif cur['enabled'] and name == 'vtd_inv_desc_iotlb_global':
            cur['global'] = True
        elif cur['enabled'] and name == 'vtd_inv_desc_wait_sw':
            cur['wait'] = True
    bad = []
    want = [str(i) for i in range(1, SUSPEND_ROUNDS + 1)]
    if sorted(rounds) != want:
        bad.append('suspend rounds %s in the log, want %s' % (','.join(sorted(rounds)) or 'none',
                                                              ','.join(want)))
    for n in sorted(rounds):
        r = rounds[n]
        if not r['ended']:
            bad.append('round %s: no end mark (the guest did not come back)' % n)
        if not r['host']:
            bad.append('round %s: QEMU never suspended (no SUSPEND seen and woken over QMP)' % n)
        if not r['woke']:
            bad.append('round %s: the kernel did not report waking from S3' % n)
        if not r['enabled']:
            bad.append('round %s: QEMU did not see the invalidation queue enabled again' % n)
        elif not (r['wait'] and r['global']):
            bad.append('round %s: after the queue was enabled again QEMU fetched %d descriptors, '
                       'with%s an invalidation wait and with%s a global IOTLB invalidation'
                       % (n, r['after'], '' if r['wait'] else 'out', '' if r['global'] else 'out'))
    return bad, ('%d suspend rounds: QEMU suspended and was woken over QMP in each, the kernel woke from S3, the queue enabled again, '
                 'then %s descriptors through it (a global IOTLB invalidation and a wait in each)'
                 % (len(rounds), '/'.join(str(rounds[n]['after']) for n in sorted(rounds))))


IQE_SUITE = 'intel_iommu_qi_errors'


IQE_CASE = re.compile(r'^(\d+), invalid at (\d+)$')


def iqe_reasons(console):
    """Why each failed case of the queue error suite failed, from the
    KUnit lines: {case name: set of 'hung' / 'early' / 'other'}."""
    why, pending = {}, set()
    try:
        text = open(console, errors='replace').read().splitlines()
    except OSError:
        return why
    for line in (printk_split(t)[1] for t in text):
        if 'did not return within' in line:
            pending.add('hung')
        elif 'had not run when the submission returned' in line:
            pending.add('early')
        elif 'EXPECTATION FAILED' in line or 'ASSERTION FAILED' in line:
            pending.add('other')
        m = re.search(r'\b(?:not )?ok \d+ (?:- )?(.*)$', line)
        if m:
            if line.lstrip().startswith('not ok') and pending:
                why[m.group(1).strip()] = set(pending)
            pending = set()
    for r in why.values():
        if r - {'other'}:
            r.discard('other')
    return why


def suite_cases(path, name):
    """The suite NAME of a kunit.py JSON: (its group, the test cases under
    it, parameters included), or (None, why)."""
    import json
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, 'no KUnit results to read (%s)' % e

    def find(g):
        if g.get('name') == name:
            return g
        for s in g.get('sub_groups', []):
            r = find(s)
            if r:
                return r
        return None
    suite = find(doc)
    if not suite:
        return None, 'the KUnit output has no %s suite' % name
    cases = []

    def walk(g):
        cases.extend(g.get('test_cases', []))
        for s in g.get('sub_groups', []):
            walk(s)
    walk(suite)
    return suite, cases


def iqe_matrix(path):
    """(status, detail) for the queue error suite in a kunit.py JSON: every
    batch with an invalid descriptor ran and passed, or what did not."""
    suite, cases = suite_cases(path, IQE_SUITE)
    if not suite:
        return 'FAIL', cases
    bad_cases = [(c, IQE_CASE.match(c['name'])) for c in cases]
    bad_cases = [(c, m) for c, m in bad_cases if m]
    valid = [c for c in cases if not IQE_CASE.match(c['name'])]
    skipped = [c['name'] for c in cases if c['status'] == 'SKIP']
    if skipped:
        return 'FAIL', '%d of %d cases skipped (%s): nothing was submitted' % (
            len(skipped), len(cases), skipped[0])
    sizes = collections.OrderedDict()
    for c, m in bad_cases:
        sizes.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    want = {n: list(range(n)) for n in (1, 2, 16)}
    if {n: sorted(p) for n, p in sizes.items()} != want:
        return 'FAIL', 'the suite did not cover every position of batches of 1, 2 and 16: %s' % (
            dict(sizes) or 'no batch with an invalid descriptor')
    failed = [c['name'] for c, _ in bad_cases if c['status'] != 'PASS']
    vfailed = [c['name'] for c in valid if c['status'] != 'PASS']
    shape = 'sizes 1, 2, 16 x every position'
    if not failed and not vfailed:
        return 'PASS', ('%d of %d batches with an invalid descriptor (%s) returned -EINVAL with '
                        'every valid descriptor run and the queue working; %d all-valid batches passed'
                        % (len(bad_cases), len(bad_cases), shape, len(valid)))
    why = iqe_reasons(path[:-len('.json')] + '.console' if path.endswith('.json') else path)
    kinds = collections.defaultdict(list)
    for name in failed:
        for r in sorted(why.get(name, {'unknown'})):
            kinds[r].append(name.replace(', invalid at ', '@'))
    label = {'hung': 'hung (IQE left set; rescued by the test)',
             'early': 'returned before the valid descriptors behind ran',
             'other': 'another expectation', 'unknown': 'no reason found'}
    parts = ['%s: %s' % (label[k], ' '.join(v)) for k, v in sorted(kinds.items())]
    if vfailed:
        parts.append('all-valid batches failed: %s' % ', '.join(vfailed))
    return 'FAIL', 'failed: %d of %d batches with an invalid descriptor; %s' % (
        len(failed), len(bad_cases), '; '.join(parts))


ITE_SUITE = 'intel_iommu_qi_timeouts'
ITE_MATRIX = 'ite_abort_and_withhold_at_every_position'
ITE_CASE = re.compile(r'^(\d+), timed out at (\d+), (all fetched|fetched to it)$')
# The suite's other cases: each must have run.
ITE_OTHERS = ('ite_abort_whole_ring', 'ite_withhold_nothing_queued', 'ite_submit_withholds_only_the_gone_device',
              'ite_submit_withholds_every_devtlb', 'ite_attach_sends_again', 'ite_next_after_aborts',
              'ite_withholds_in_time')


def ite_matrix(path):
    """(status, detail) for the invalidation time-out suite in a kunit.py
    JSON: its matrix covered batches of 1, 2 and 16 with the device that
    times out at every position and the head of the queue just past it or
    past the wait; and every case of the suite passed, or what did not."""
    suite, cases = suite_cases(path, ITE_SUITE)
    if not suite:
        return 'FAIL', cases
    skipped = [c['name'] for c in cases if c['status'] == 'SKIP']
    if skipped:
        return 'FAIL', '%d of %d results skipped (%s)' % (len(skipped), len(cases), skipped[0])
    groups = {g.get('name'): g for g in suite.get('sub_groups', [])}
    ran = set(groups) | {c['name'] for c in suite.get('test_cases', [])}
    missing = [n for n in ITE_OTHERS if n not in ran]
    if missing:
        return 'FAIL', 'cases of %s that did not run: %s' % (ITE_SUITE, ', '.join(missing))
    matrix = groups.get(ITE_MATRIX, {}).get('test_cases', [])
    seen = collections.defaultdict(set)
    for c in matrix:
        m = ITE_CASE.match(c['name'])
        if m:
            seen[int(m.group(1))].add((int(m.group(2)), m.group(3)))
    want = {n: {(p, f) for p in range(n) for f in ('all fetched', 'fetched to it')} for n in (1, 2, 16)}
    if dict(seen) != want:
        return 'FAIL', '%s did not cover batches of 1, 2 and 16 x every position x 2 heads: %s' % (
            ITE_MATRIX, {n: len(v) for n, v in sorted(seen.items())} or 'no matrix results')
    failed = [c['name'] for c in cases if c['status'] != 'PASS']
    if not failed:
        return 'PASS', ('%d matrix results (sizes 1, 2, 16 x every position x 2 heads) and %d other '
                        'results of %s passed' % (len(matrix), len(cases) - len(matrix), ITE_SUITE))
    mfailed = [c['name'] for c in matrix if c['status'] != 'PASS']
    # The other cases, each by name: a parameterised one with how many
    # of its runs failed.
    other = []
    for c in suite.get('test_cases', []):
        if c['status'] != 'PASS':
            other.append(c['name'])
    for name, g in groups.items():
        runs = g.get('test_cases', [])
        bad = sum(1 for c in runs if c['status'] != 'PASS')
        if name != ITE_MATRIX and bad:
            other.append('%s (%d of %d)' % (name, bad, len(runs)))
    return 'FAIL', 'failed: %d of %d matrix results%s; other cases failing: %s' % (
        len(mfailed), len(matrix), ' (%s first)' % mfailed[0] if mfailed else '',
        ', '.join(other) or 'none')


# The harness's KUnit module (tests/kmod/vtd_realflush.c): each case prints
# the IOVA it unmaps before and after the unmap, and QEMU's trace of the
# invalidation queue falls between the two lines.
REALFLUSH_CASES = ('unmap_in_the_case_reaches_the_iommu',
                   'unmap_in_a_timer_during_the_case_reaches_the_iommu')


RF_OPEN = re.compile(r'# (\w+): (?:unmap iova (0x[0-9a-f]+) of \S+|timer armed)$')


RF_CLOSE = re.compile(r'# (\w+): unmapped iova (0x[0-9a-f]+)'
                      r'(?: in the timer: softirq (\d), current the case.s task (\d))?$')


RF_RESULT = re.compile(r'^\s*(ok|not ok) \d+ (?:- )?(\w+)')


PAGES = re.compile(r'addr 0x([0-9a-f]+) mask 0x([0-9a-f]+)')


def rf_covers(name, args, iova):
    """Whether the trace record NAME ARGS invalidates IOVA in the IOTLB."""
    if name in ('vtd_inv_desc_iotlb_domain', 'vtd_inv_desc_iotlb_global'):
        return True
    m = PAGES.search(args) if name == 'vtd_inv_desc_iotlb_pages' else None
    if not m:
        return False
    addr, mask = int(m.group(1), 16), int(m.group(2), 16)
    return addr <= iova < addr + (4096 << mask)


def realflush(path):
    """(violations, summary): each case of vtd_realflush ran, passed, and
    QEMU received an IOTLB invalidation covering its IOVA between its two
    lines; the timer's case ran in softirq over the case's own task."""
    cases, cur = {}, None
    for line, t in split_records(path):
        if t is not None:
            if cur is not None:
                cur['descs'].append((t.group(1), t.group(2)))
            continue
        text = printk_split(line)[1]
        m = RF_OPEN.search(text)
        if m and m.group(1) in REALFLUSH_CASES:
            cur = cases[m.group(1)] = {'descs': [], 'iova': None, 'closed': False,
                                       'flags': None, 'result': None}
            continue
        m = RF_CLOSE.search(text)
        if m and m.group(1) in cases:
            c = cases[m.group(1)]
            c['iova'], c['closed'] = int(m.group(2), 16), True
            if m.group(3) is not None:
                c['flags'] = (m.group(3), m.group(4))
            cur = None
            continue
        m = RF_RESULT.match(text)
        if m and m.group(2) in cases:
            cases[m.group(2)]['result'] = m.group(1)
    bad, seen = [], []
    for name in REALFLUSH_CASES:
        c = cases.get(name)
        if c is None or not c['closed']:
            bad.append('%s: %s' % (name, 'did not run' if c is None else 'did not finish its unmap'))
            continue
        if c['result'] != 'ok':
            bad.append('%s: KUnit result %s' % (name, c['result'] or 'missing'))
        if c['flags'] is not None and c['flags'] != ('1', '1'):
            bad.append('%s: the timer ran with softirq %s and the case\'s task current %s: '
                       'not the interrupt that was to be checked' % ((name,) + c['flags']))
        hit = [d for d in c['descs'] if rf_covers(d[0], d[1], c['iova'])]
        if hit:
            seen.append('%s 0x%x: %s %s' % (name.split('_')[3], c['iova'], hit[0][0], hit[0][1]))
        else:
            bad.append('%s: no IOTLB invalidation of 0x%x reached QEMU during the case (%d trace records)'
                       % (name, c['iova'], len(c['descs'])))
    return bad, 'each real unmap during a KUnit case reached QEMU: ' + '; '.join(seen)
