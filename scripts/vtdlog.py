#!/usr/bin/env python3
"""Read a guest log (serial console interleaved with QEMU's vtd_inv* trace).

  vtdlog.py counts LOG [STEP]   descriptor counts per marked step (or all)
  vtdlog.py tap LOG             the guest's TAP results, one per line
  vtdlog.py kselftest LOG       the in-guest kselftest's TAP, plan and exit code
  vtdlog.py faults LOG [KINDS]  DMAR faults, WARNINGs, BUGs and the like (KINDS,
                                e.g. KCSAN: left to another check)
  vtdlog.py kunit-console LOG   the console lines of the boot-time KUnit run
  vtdlog.py batching SERIES-LOG STOCK-LOG   the workload's submissions compared
  vtdlog.py check LOG           the rules every run's cache_tag_* events keep
  vtdlog.py order LOG           tags assigned before the caches can fill,
                                device-TLB tags dropped before ATS goes off,
                                and a detach's entry torn down before both
  vtdlog.py follow LOG DEV      a device's device-TLB tags over the run
  vtdlog.py count LOG EVENT     how many EVENTs real devices produced
  vtdlog.py realflush LOG       vtd_realflush's cases: each unmap reached QEMU
  vtdlog.py superpage LOG       the superpage step's 2 MiB first-level unmaps
                                in QEMU's raw PASID-based IOTLB descriptors
  vtdlog.py suspend LOG         the suspend step's rounds: woken from S3, the
                                invalidation queue enabled again and used
  vtdlog.py iqe-matrix JSON     the queue error suite's batches (kunit.py
                                parse JSON, its .console beside it)
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
"""
import base64
import collections
import gzip
import os
import re
import sys
import zlib

# QEMU's log backend prints "name args", optionally behind "pid@sec.usec:".
# Serial output is written a byte at a time, so a trace line can start in
# the middle of a console line: search, don't match.
TRACE = re.compile(r'(?:\d+@\d+\.\d+:)?(vtd_inv_\w+)\b ?(.*)$')
MARK = re.compile(r'VTD-MARK (begin|end) (\S+)')
KINDS = ('submissions', 'descriptors', 'psi', 'dsi', 'global', 'devtlb',
         'piotlb', 'context', 'iec', 'wait')


def lines(path):
    """The log's physical lines: console text and QEMU trace records."""
    with open(path, errors='replace') as f:
        for line in f:
            yield line.rstrip('\r\n')


def split_records(path):
    """(console line, None) or (None, trace record match), in log order.
    A trace record that QEMU wrote into the middle of a console line runs
    to the end of that physical line; the console line goes on in the next
    one. Take the record out and join the two halves again."""
    pending = ''
    for raw in lines(path):
        t = TRACE.search(raw)
        if t:
            pending += raw[:t.start()]
            yield None, t
            continue
        yield pending + raw, None
        pending = ''
    if pending:
        yield pending, None


# A kernel message that the console printed into the middle of a line of
# user space (printk does not wait for the tty's buffer to drain):
#   @@VTD ok 4 vfio-[   17.111518][    T1] VTD-MARK begin vfio-selftest
#   bind # 0000:02:00.0 in group 5 bound to vfio-pci
PRINTK_INSIDE = re.compile(r'^(.*?[^\s\]].*?)(\[\s*\d+\.\d+\]\[\s*[TC]\d+\] .*)$')


def console(path):
    """The guest's console lines, QEMU's trace records taken out, and a
    kernel message that split a line of user space taken out of it too:
    the message is a line of its own, the two halves are joined again.
    A trace dump the guest sent compressed (base64 of gzip between
    @@TRACE-GZ-BEGIN and @@TRACE-GZ-END) comes back as the plain dump,
    between @@TRACE-BEGIN and @@TRACE-END; one that does not decode comes
    back as an empty dump with a @@TRACE-UNREADABLE line."""
    chunks = None
    for line in console_lines(path):
        if chunks is None:
            if '@@TRACE-GZ-BEGIN' in line:
                chunks = []
            else:
                yield line
            continue
        if '@@TRACE-GZ-END' in line:
            yield '@@TRACE-BEGIN'
            try:
                text = gzip.decompress(base64.b64decode(''.join(chunks), validate=True))
            except (ValueError, OSError, EOFError, zlib.error) as e:
                yield '@@TRACE-UNREADABLE %s' % e
            else:
                yield from text.decode(errors='replace').splitlines()
            yield '@@TRACE-END'
            chunks = None
        elif B64_LINE.match(line):
            chunks.append(line)
        else:
            yield line      # a kernel message between two lines of the dump
    if chunks is not None:
        yield '@@TRACE-UNREADABLE the compressed dump has no end marker'


B64_LINE = re.compile(r'^[A-Za-z0-9+/]+={0,2}$')


def console_lines(path):
    """console() before a compressed trace dump is expanded."""
    pending = ''
    for line, _ in split_records(path):
        if line is None:
            continue
        line, pending = pending + line, ''
        m = PRINTK_INSIDE.match(line) if '][' in line and not line.startswith('[') else None
        if m:
            yield m.group(2)
            pending = m.group(1)
            continue
        yield line
    if pending:
        yield pending


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


TAPLINE = re.compile(r'@@VTD (ok|not ok) (\d+) (\S+)(?: # (.*))?$')
TAPPLAN = re.compile(r'@@VTD 1\.\.(\d+)\s*$')


def tap(path):
    """The guest's own TAP: [(status, name, detail)], and whether it ran to
    the end. The plan must match the results: a missing or short plan, or
    numbers out of order, is a result of its own, FAIL tap-plan."""
    res = []
    done = False
    plan = None
    numbers = []
    for line in console(path):
        if '@@VTD-DONE' in line:
            done = True
        m = TAPPLAN.search(line)
        if m:
            plan = int(m.group(1))
            continue
        m = TAPLINE.search(line)
        if not m:
            continue
        numbers.append(int(m.group(2)))
        detail = m.group(4) or ''
        if detail.startswith('SKIP'):
            status = 'SKIP'
            detail = detail[4:].strip()
        else:
            status = 'PASS' if m.group(1) == 'ok' else 'FAIL'
        res.append((status, m.group(3), detail))
    if done:
        if plan is None:
            res.append(('FAIL', 'tap-plan', 'the guest printed no TAP plan'))
        elif plan != len(res) or numbers != list(range(1, len(numbers) + 1)):
            res.append(('FAIL', 'tap-plan', 'plan 1..%d, but %d results numbered %s' %
                        (plan, len(numbers), ','.join(map(str, numbers)) or 'none')))
    return res, done


KST = re.compile(r'@@KST (.*)$')


def kselftest(path, kst=None):
    """The in-guest kselftest's TAP, which the guest prefixes with '@@KST ':
    [(status, name, detail)]. kselftest_harness prints 'ok N fixture.test',
    'not ok N fixture.test' and 'ok N # SKIP reason' (whose name only the
    '#  RUN fixture.test' line before it has), a plan '1..N' first, and
    exits 0 (pass), 1 (fail) or 4 (skip); the guest adds 'KST-EXIT rc'.
    The plan, the numbering and the exit code must agree with the results.
    KST: another prefix's pattern (make soak runs one selftest per device,
    each behind '@@KST-<bdf> ')."""
    kst = kst or KST
    res = []
    plan = None
    rc = None
    name = ''
    numbers = []
    said = []
    seen = False
    for line in console(path):
        m = kst.search(line)
        if not m:
            continue
        seen = True
        text = m.group(1).rstrip()
        r = re.match(r'#\s+RUN\s+(\S+)', text)
        if r:
            name = r.group(1)
            said = []
            continue
        # What the test printed: its TH_LOG lines, failed assertions
        # ("# file.c:LINE:test:Expected ...") and how it ended ("# test:
        # Test terminated by timeout"): the reason a FAIL gives.
        r = re.match(r'#\s+(?!(?:OK|FAIL|SKIP|XFAIL)\s)(\S.*)$', text)
        if r and name:
            said.append(r.group(1))
            continue
        r = re.match(r'KST-EXIT (\d+)$', text)
        if r:
            rc = int(r.group(1))
            continue
        r = re.match(r'1\.\.(\d+)$', text)
        if r:
            plan = int(r.group(1))
            continue
        r = re.match(r'(ok|not ok) (\d+)(?: ([^#\s]\S*))?\s*(?:# (SKIP|TODO)\b\s*(.*))?$', text)
        if not r:
            continue
        numbers.append(int(r.group(2)))
        test = r.group(3) or name or 'test%s' % r.group(2)
        if r.group(4) == 'SKIP':
            res.append(('SKIP', test, r.group(5) or 'skipped'))
        elif r.group(1) == 'ok':
            res.append(('PASS', test, 'kselftest'))
        else:
            why = '; '.join(said[-3:]) if said else 'no reason printed'
            res.append(('FAIL', test, 'kselftest: %s' % why[:300]))
        name = ''
        said = []
    if not seen:
        return res
    fails = sum(1 for r in res if r[0] == 'FAIL')
    skips = sum(1 for r in res if r[0] == 'SKIP')
    if rc is None:
        res.append(('FAIL', 'exit', 'the selftest did not finish (no exit status)'))
    elif rc not in (0, 1, 4):
        res.append(('FAIL', 'exit', 'the selftest crashed or could not run: exit %d%s' %
                    (rc, ' (no such binary)' if rc == 127 else '')))
    elif (rc == 0) != (fails == 0) or (rc == 4 and skips != len(res)):
        res.append(('FAIL', 'exit', 'exit %d does not match %d failed, %d skipped of %d' %
                    (rc, fails, skips, len(res))))
    if plan is None:
        res.append(('FAIL', 'tap-plan', 'the selftest printed no plan'))
    elif plan != len(numbers) or numbers != list(range(1, len(numbers) + 1)):
        res.append(('FAIL', 'tap-plan', 'plan 1..%d, but %d results numbered %s' %
                    (plan, len(numbers), ','.join(map(str, numbers)) or 'none')))
    return res


# The first line of a sanitizer's report, and what it is called. Each
# report runs to the next line of '=' (KASAN, UBSAN, KCSAN) or to the
# "---[ end trace" of the WARNING it is printed in (ODEBUG), in the lines
# of the same printk caller.
SANITIZER = [
    (re.compile(r'BUG: KASAN: '), 'KASAN'),
    (re.compile(r'BUG: KCSAN: '), 'KCSAN'),
    (re.compile(r'UBSAN: '), 'UBSAN'),
    (re.compile(r'ODEBUG: '), 'ODEBUG'),
]
FAULT = [
    # lockdep's reports begin with "WARNING:" too: name them first.
    (re.compile(r'(possible circular locking|inconsistent lock state|possible recursive locking|'
                r'suspicious RCU usage|sleeping function called from invalid context|'
                r'possible irq lock inversion|bad unlock balance)'), 'lockdep'),
    (re.compile(r'DMAR: \[(DMA Read|DMA Write|INTR-REMAP)'), 'DMAR fault'),
    (re.compile(r'DMAR:.*(fault|Fault)'), 'DMAR fault'),
    (re.compile(r'WARNING:'), 'WARNING'),
    # (An ODEBUG report is a WARNING's.)
    *[(rx, what) for rx, what in SANITIZER if what != 'ODEBUG'],
    (re.compile(r'\bBUG:'), 'BUG'),
    (re.compile(r'Kernel panic'), 'panic'),
    (re.compile(r'Oops'), 'Oops'),
    (re.compile(r'(Invalidation Queue Error|Invalidation Time-out Error)'), 'QI error'),
    (re.compile(r'Call Trace:'), 'call trace'),
]


PRINTK = re.compile(r'^\[\s*\d+\.\d+\](?:\[\s*([TC]\d+)\])? ?(.*)$')
# What a test may announce, and only in this exact form (no test may
# provoke a WARNING: every WARNING fails the boot):
#   the VFIO selftest, to kmsg:   "vfio_cache_tags: T: DMA from BDF to unmapped IOVA 0xA must fault"
EXPECT_DMAR = re.compile(r'^vfio_cache_tags: (\w+): DMA from (?:[0-9a-f]{4}:)?'
                         r'([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) to unmapped IOVA (0x[0-9a-f]+) must fault\s*$')
KST_RESULT = re.compile(r'^@@KST (?:not )?ok \d+ (?:\S+\.)?(\w+)\s*$')
DMAR_FAULT = re.compile(r'DMAR: \[(?:DMA Read|DMA Write|INTR-REMAP)[^]]*\] Request device '
                        r'\[([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\] fault addr (0x[0-9a-f]+)')


def printk_split(line):
    """(caller, text) of a kernel console line: caller is the printk caller
    ID ('T123' for a task, 'C1' for a CPU in interrupt context) where the
    kernel prints it (CONFIG_PRINTK_CALLER), else None; other lines are
    (None, line)."""
    m = PRINTK.match(line)
    if not m:
        return None, line
    return m.group(1), m.group(2)


def kunit_console(path):
    """The console lines of the boot-time KUnit run, for kunit.py parse:
    those of the KUnit executor's caller (the one that prints 'KTAP
    version') and of the test threads (callers that print a case's '# name:'
    diagnostics or a report with 'Comm: kunit_try_catch'). Lines other
    tasks print meanwhile are left out: one landing between a suite's
    'KTAP version' and its '# Subtest' line made kunit.py report a crash."""
    out = list(console(path))
    keep = set()
    for line in out:
        caller, text = printk_split(line)
        if caller and ('KTAP version' in text or re.match(r'\s+# \S+: ', text)
                       or 'Comm: kunit_try_catch' in text):
            keep.add(caller)
    return [l for l in out if printk_split(l)[0] in keep or printk_split(l)[0] is None]


def faults(path, elsewhere=()):
    """Lines that mean trouble: [(what, line)]. Reports of the kinds in
    ELSEWHERE are left to another check: the kcsan kernel's KCSAN reports,
    which the sanitizers check judges by whether they involve
    drivers/iommu (6.1 has data races of its own elsewhere, such as the
    x86 shutdown path's, that KCSAN reports at every power-off).

    Two things a test provokes on purpose are allowed, and nothing else
    (never a WARNING):
      - the selftest's line, in the form above, "vfio_cache_tags: T: DMA
        from D to unmapped IOVA A must fault", allows exactly one fault
        report for device D at address A before the result line of its
        test T;
      - the KUnit suite intel_iommu_qi_errors provokes Invalidation Queue
        Errors on purpose: from its "# Subtest:" line to its result line,
        IQE reports (and only those) are its own.
    Anything else is reported, and so is an announced report that never
    came, or came a different number of times."""
    out = []
    dmars = []   # {'dev', 'addr', 'count', 'open', 'seen'}
    in_iqe_suite = False
    for line in console(path):
        _, text = printk_split(line)
        if re.match(r'\s*# Subtest: %s\s*$' % IQE_SUITE, text):
            in_iqe_suite = True
        elif re.match(r'\s*(?:not )?ok \d+ (?:- )?%s\s*$' % IQE_SUITE, text):
            in_iqe_suite = False
        if in_iqe_suite and 'Invalidation Queue Error' in text:
            continue
        m = EXPECT_DMAR.match(text)
        if m:
            dmars.append({'dev': m.group(2), 'addr': m.group(3), 'count': 1,
                          'test': m.group(1), 'open': True, 'seen': 0})
            continue
        m = KST_RESULT.match(line)
        if m:
            for d in dmars:
                if d['test'] == m.group(1):
                    d['open'] = False
        # The summary line before each fault report: the report is judged.
        if 'DMAR: DRHD: handling fault status' in text:
            continue
        m = DMAR_FAULT.search(text)
        if m:
            d = next((d for d in dmars if d['open'] and d['dev'] == m.group(1) and
                      d['addr'] == m.group(2) and d['seen'] < d['count']), None)
            if d:
                d['seen'] += 1
                continue
            out.append(('DMAR fault', line.strip()))
            continue
        for rx, what in FAULT:
            if rx.search(text):
                if what not in elsewhere:
                    out.append((what, line.strip()))
                break
    for d in dmars:
        if d['seen'] != d['count']:
            out.append(('missing expected DMAR fault',
                        'the selftest announced %d DMAR fault(s) for %s at %s; %d came' %
                        (d['count'], d['dev'], d['addr'], d['seen'])))
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


# The events' output, which is upstream's (6.12; the check trace-format
# holds the series' trace.h against it). Two classes, two layouts:
#   cache_tag_assign: dmar0/0000:01:00.0 type devtlb did 1 pasid 0 ref 1
#     (cache_tag_log: assign, unassign, flush_all: "IOMMU/DEV ... pasid P ref R")
#   cache_tag_flush_range: dmar0 dmar0[0] type iotlb did 1 [0x1000-0x1fff] addr 0x1000 pages 0x1 mask 0x0
#     (cache_tag_flush: flush_range, flush_range_np: "IOMMU DEV[PASID] ...")
# An IOTLB tag's device is the IOMMU's own (dmar0), a device TLB's the endpoint.
EVENT = re.compile(r'\s(cache_tag_\w+): (.*)$')


FIELDS = ('type', 'did', 'pasid', 'ref', 'addr', 'pages', 'mask')
RANGE = re.compile(r'\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\]')
# The payload's head: 'IOMMU/DEV type' (log class) or 'IOMMU DEV[PASID] type'
# (flush class; without '[PASID]' the head still names IOMMU and DEV).
HEAD_LOG = re.compile(r'^([^\s/]+)/(\S+) type ')
HEAD_FLUSH = re.compile(r'^(\S+) ([^\s\[]+)(?:\[(\d+)\])? type ')


def parse_fields(text):
    """The fields of a cache_tag_* payload: 'IOMMU/DEV type T did D pasid P
    ...' or 'IOMMU DEV[PASID] type T did D ...'; a flush's requested range
    '[0xS-0xE]' gives 'start' and 'end'."""
    f = {}
    m = HEAD_LOG.match(text) or HEAD_FLUSH.match(text)
    if m:
        f['iommu'], f['dev'] = m.group(1), m.group(2)
        if m.re is HEAD_FLUSH and m.group(3) is not None:
            f['pasid'] = m.group(3)
    for key in FIELDS:
        m = re.search(r'\b%s (\S+)' % key, text)
        if m:
            f[key] = m.group(1)
    m = RANGE.search(text)
    if m:
        f['start'], f['end'] = m.group(1), m.group(2)
    return f


def trace_dump(path):
    """The console lines between the guest's @@TRACE-BEGIN and @@TRACE-END."""
    inside = False
    for line in console(path):
        if '@@TRACE-BEGIN' in line:
            inside = True
        elif '@@TRACE-END' in line:
            inside = False
        elif inside:
            yield line


def events(path):
    evs = []
    for line in trace_dump(path):
        m = EVENT.search(line)
        if m:
            f = parse_fields(m.group(2))
            t = re.match(r'\s*(\S+)-\d+\s', line)
            f['task'] = t.group(1) if t else ''
            evs.append((m.group(1), f, line.strip()))
    return evs


# The tasks of the boot-time KUnit run: kunit_try_catch, which runs each
# case, and the threads a case starts (the cache tag suite's kunit_ct_*).
KUNIT_TASK = 'kunit_'


def real_events(path):
    """The events of real devices: KUnit's fake IOMMUs trace too, from
    its kunit_try_catch threads and the threads its cases start (named
    kunit_*); returns (real, number left out)."""
    evs = events(path)
    real = [e for e in evs if not e[1]['task'].startswith(KUNIT_TASK)]
    return real, len(evs) - len(real)


def tag_key(f):
    """What names a tag: an IOTLB tag is shared by the devices behind its
    IOMMU, a device-TLB tag belongs to its device."""
    return (f.get('iommu'), f.get('did'), f.get('pasid'), f.get('type'),
            f.get('dev') if f.get('type') == 'devtlb' else '')


def check(path):
    """The rules every run's cache_tag_* events must keep. Returns
    (violations, number of events checked). KUnit's fake IOMMUs are left
    out. Rules:
      - a flush names a tag that is assigned at that moment;
      - an unassign names a tag that is assigned;
      - the reference count ("ref") an event reports is the count this
        checker keeps;
      - a range flush's block [addr, addr + pages) covers [start, end],
        all of it: the series never cuts a range at the address width;
      - no device-TLB tag is left for a device that is gone at the end;
      - there is something to check: a log with no events, or without the
        guest's list of devices, is a violation, not a pass.
    """
    evs, _ = real_events(path)
    live = collections.Counter()
    bad = []
    if not evs:
        bad.append('no cache_tag_* events of real devices in the trace dump: nothing was checked')

    for name, f, line in evs:
        k = tag_key(f)
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
            if int(f.get('ref', -1)) != live[k]:
                bad.append('ref %s, but %d assigned: %s' % (f.get('ref'), live[k], line))
        if name in ('cache_tag_flush_range', 'cache_tag_flush_range_np'):
            if 'start' not in f or 'pages' not in f:
                bad.append('flush without a range or block: ' + line)
                continue
            start, end = int(f['start'], 16), int(f['end'], 16)
            addr, pages = int(f['addr'], 16), int(f['pages'], 16)
            if start <= end and (addr > start or addr + pages * 4096 - 1 < end):
                bad.append('block does not cover the range: ' + line)
    present = None
    for line in console(path):
        m = re.search(r'@@INFO pci-devices: (.*)', line)
        if m:
            present = set(m.group(1).split())
    if present is None:
        bad.append('the guest listed no PCI devices: left-over device-TLB tags not checked')
    else:
        for k, n in live.items():
            if n > 0 and k[3] == 'devtlb' and k[4] not in present:
                bad.append('device-TLB tag left for %s, which is gone: %s' % (k[4], k))
    return bad, len(evs)


# The guest's copy of /sys/kernel/debug/iommu/intel/cache_tags, between
# @@TAGS-BEGIN and @@TAGS-END; after the domain, a tag reads as in the
# events of the log class (assign, unassign, flush_all):
#   domain 00000000a1b2c3d4 dma: dmar0/0000:01:00.0 type devtlb did 2 pasid 0 ref 1
VIEW_LINE = re.compile(r'^domain (\S+) ([\w-]+): (\S+/\S+ type .*)$')


def tag_view(path):
    """The debugfs view's tags as (domain, kind, fields), or None if the
    guest printed no view. Console lines inside that are not tags (a
    printk meanwhile, the header) are left out."""
    view, inside = None, False
    for line in console(path):
        if '@@TAGS-BEGIN' in line:
            view, inside = [], True
        elif '@@TAGS-END' in line:
            inside = False
        elif inside:
            m = VIEW_LINE.match(line.strip())
            if m:
                view.append((m.group(1), m.group(2), parse_fields(m.group(3))))
    return view


def tags(path):
    """Hold the debugfs view against the tags replayed from the trace: the
    same tags, each with the reference count the replay has. Two witnesses
    of one state: the kernel's list, read at the end, and the events that
    built it. Returns (problems, summary). No view, an empty view, or no
    events to replay is a problem: nothing was compared."""
    view = tag_view(path)
    evs, _ = real_events(path)
    bad = []
    if view is None:
        return ['the guest printed no debugfs view of the tags: nothing compared'], ''
    if not view:
        bad.append('the debugfs view lists no tags: nothing compared')
    if not evs:
        bad.append('no cache_tag_* events of real devices to replay: nothing compared')
    replay = collections.Counter()
    for name, f, _ in evs:
        if name == 'cache_tag_assign':
            replay[tag_key(f)] += 1
        elif name == 'cache_tag_unassign':
            replay[tag_key(f)] -= 1
    seen, domains, kinds = {}, set(), collections.Counter()
    for dom, kind, f in view:
        k = tag_key(f)
        if k in seen:
            bad.append('listed twice: %s' % (k,))
            continue
        seen[k] = int(f.get('ref', -1))
        if dom not in domains:
            domains.add(dom)
            kinds[kind] += 1
    for k in sorted(set(seen) | {k for k, n in replay.items() if n}, key=str):
        v, r = seen.get(k, 0), replay.get(k, 0)
        if v != r:
            bad.append('debugfs says ref %d, the trace replay %d: iommu %s did %s pasid %s %s %s'
                       % (v, r, k[0], k[1], k[2], k[3], k[4]))
    summary = '%d tags in %d domains (%s) agree with the trace replay of %d events' % (
        len(seen), len(domains), ', '.join('%s %d' % kv for kv in sorted(kinds.items())), len(evs))
    return bad, summary


# Users' tools on the workload's events (guest steps trace-cmd and perf),
# between @@TRACECMD-BEGIN/END and @@PERF-BEGIN/END:
#   trace-cmd report: dmaio-93 [000] 12.345678: cache_tag_flush_range: dmar0 dmar0[0] type iotlb ...
#   perf script:      dmaio 93 [000] 12.345678: intel_iommu:cache_tag_flush_range: dmar0 dmar0[0] ...
TOOL_EVENT = re.compile(r'\s(?:intel_iommu:)?(cache_tag_\w+):\s+(.*)$')
TOOL_MARKERS = {'trace-cmd': 'TRACECMD', 'perf': 'PERF'}


def tool_report(path, tool):
    """The lines the guest printed of TOOL's report, or None if none."""
    marker, out, inside = TOOL_MARKERS[tool], None, False
    for line in console(path):
        if '@@%s-BEGIN' % marker in line:
            out, inside = [], True
        elif '@@%s-END' % marker in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def tools(path, tool):
    """Every cache_tag event TOOL printed must be one it parsed: no
    "[FAILED TO PARSE]", and a payload that reads as the kernel's format
    (IOMMU, device, type by name, did, pasid: 'IOMMU/DEV ... pasid P'
    or, a range flush, 'IOMMU DEV[PASID] ...'; a range flush its
    [start-end] and block, the others their ref). A report with no event
    read nothing, and fails. Returns (problems, Counter of events)."""
    out = tool_report(path, tool)
    if out is None:
        return ['the guest printed no %s report' % tool], collections.Counter()
    bad, seen = [], collections.Counter()
    for line in out:
        if 'FAILED TO PARSE' in line:
            bad.append('%s failed to parse: %s' % (tool, line.strip()))
            continue
        m = TOOL_EVENT.search(line)
        if not m:
            continue
        seen[m.group(1)] += 1
        f = parse_fields(m.group(2))
        need = ['iommu', 'dev', 'type', 'did', 'pasid']
        need += (['start', 'end', 'addr', 'pages', 'mask'] if m.group(1).startswith('cache_tag_flush_range')
                 else ['ref'])
        missing = [k for k in need if k not in f]
        if missing:
            bad.append('%s printed %s without %s: %s' % (tool, m.group(1), ','.join(missing), line.strip()))
        elif f['type'] not in ('iotlb', 'devtlb'):
            # __print_symbolic() of an enum the format file does not
            # export (TRACE_DEFINE_ENUM) comes out as a number.
            bad.append('%s printed type %s, not a type name: %s' % (tool, f['type'], line.strip()))
        elif not (f['did'].isdigit() and f['pasid'].isdigit()):
            bad.append('%s printed did %s pasid %s: %s' % (tool, f['did'], f['pasid'], line.strip()))
    if not seen:
        bad.append('%s reported no cache_tag event: nothing was read' % tool)
    return bad, seen


# The kprobe events build.sh defines (kprobe_event=): ATS switched on or
# off for a device, a device's context or PASID entry going live, and one
# being torn down.
#   ats_enable: (pci_enable_ats+0x0/0x8c) dev="0000:01:00.0"
#   entry_live_context: (domain_context_mapping_one+0x0/0x4e0) bus=1 devfn=0
#   entry_live_pasid_sl: (intel_pasid_setup_second_level+0x0/0x1e6) dev="0000:01:00.0"
#   entry_clear_context: (domain_context_clear_one+0x0/0x1c0) bus=1 devfn=0
#   entry_clear_pasid: (intel_pasid_tear_down_entry+0x0/0x1a0) dev="0000:01:00.0" pasid=0
ORDER_EVENT = re.compile(r'\s(ats_enable|ats_disable|entry_live_\w+|entry_clear_\w+): \([^)]*\)(.*)$')
TASK = re.compile(r'^\s*(\S+)-(\d+)\s+\[\d+\]')


def order_timeline(path):
    """The trace dump's cache_tag_* and attach-order kprobe events, in
    trace order, as (name, fields, pid, line). KUnit's fakes are left out."""
    out = []
    for line in trace_dump(path):
        t = TASK.match(line)
        if not t or t.group(1).startswith(KUNIT_TASK):
            continue
        m = EVENT.search(line)
        if m:
            out.append((m.group(1), parse_fields(m.group(2)), t.group(2), line.strip()))
            continue
        m = ORDER_EVENT.search(line)
        if m:
            f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(2)))
            f = {k: v.strip('"') for k, v in f.items()}
            out.append((m.group(1), f, t.group(2), line.strip()))
    return out


def probe_int(v):
    """A number as a kprobe event prints it: u8/u32 in decimal, x8/x32 in hex."""
    return int(v, 16) if v.lower().startswith('0x') else int(v)


def entry_dev(name, f):
    """The PCI name of the device whose entry a kprobe event shows: the
    PASID probes fetch it; a context entry is named by its bus and devfn,
    in segment 0000 (QEMU's q35 has one). A device behind a PCIe-to-PCI
    bridge has its context entry under its alias: another name."""
    if name.endswith('_context'):
        try:
            bus, devfn = probe_int(f.get('bus', '')), probe_int(f.get('devfn', ''))
        except ValueError:
            return None
        return '0000:%02x:%02x.%d' % (bus, devfn >> 3, devfn & 7)
    return f.get('dev')


def order(path):
    """Each cache is tagged before the hardware can fill it, a device TLB
    is untagged before ATS is switched off (CVE-2024-56669), and a detach
    tears the device's entry down first, its device-TLB tag and ATS still
    there, so that the teardown's device-TLB flush reaches the device.
    Returns (violations, counts). Rules, on the trace's own order:
      - when a device's context or PASID entry goes live, the last
        cache_tag_* event of the same task is the assign of an IOTLB tag
        (the attach tagged the IOMMU's IOTLB first);
      - when ATS is enabled on a device, a device-TLB tag of that device is
        assigned;
      - when ATS is disabled on a device, none of its device-TLB tags is;
      - (a) when ATS is disabled on a device, the same task has torn down
        a context or PASID entry (the RID's, PASID 0) of that device
        since the device's last entry went live;
      - (b) and it unassigned the device's device-TLB tag after the last
        such teardown began: between the teardown and the ATS disable
        (a teardown with ATS off skips its device-TLB flush; one after
        the untag flushes no tag);
      - there is something to check: no entry going live at all,
        device-TLB tags without any ATS enable, or ATS disables without
        any entry teardown, is a violation (then rule (a) is not held
        against each disable: the probes are missing, not the order).
    A context entry is matched to the device by bus and devfn (entry_dev).
    """
    bad, missing_teardown = [], []
    n = collections.Counter()
    devtlb = collections.Counter()
    last = {}
    live = {}       # device -> index of its last entry going live
    torn = {}       # (pid, device) -> index of its last entry teardown in that task
    untag = {}      # (pid, device) -> index of its last device-TLB unassign in that task
    for i, (name, f, pid, line) in enumerate(order_timeline(path)):
        if name in ('cache_tag_assign', 'cache_tag_unassign'):
            if f.get('type') == 'devtlb':
                devtlb[f.get('dev')] += 1 if name == 'cache_tag_assign' else -1
                n['devtlb-assign'] += name == 'cache_tag_assign'
                if name == 'cache_tag_unassign':
                    untag[(pid, f.get('dev'))] = i
            last[pid] = (name, f.get('type'))
        elif name.startswith('cache_tag_'):
            continue
        elif name.startswith('entry_live'):
            n['entries'] += 1
            live[entry_dev(name, f)] = i
            if last.get(pid) != ('cache_tag_assign', 'iotlb'):
                bad.append('entry went live before an IOTLB tag was assigned (last tag '
                           'event of this task: %s): %s' % (last.get(pid), line))
        elif name.startswith('entry_clear'):
            if name == 'entry_clear_pasid' and f.get('pasid', '0') not in ('0', '0x0'):
                n['pasid-teardowns'] += 1   # another PASID's entry (SVA): not the RID's
                continue
            n['teardowns'] += 1
            torn[(pid, entry_dev(name, f))] = i
        elif name == 'ats_enable':
            n['ats-enable'] += 1
            if devtlb[f.get('dev')] <= 0:
                bad.append('ATS enabled before the device-TLB tag was assigned: ' + line)
        elif name == 'ats_disable':
            n['ats-disable'] += 1
            dev = f.get('dev')
            if devtlb[dev] > 0:
                bad.append('ATS disabled while the device-TLB tag is still assigned: ' + line)
            t = torn.get((pid, dev))
            if t is None or t < live.get(dev, -1):
                n['disable-before-teardown'] += 1
                missing_teardown.append(
                    'ATS disabled before the entry teardown: this task tore down no context or '
                    'PASID entry of %s since its entry went live: %s' % (dev, line))
                continue
            n['teardowns-checked'] += 1
            if untag.get((pid, dev), -1) < t:
                n['untag-before-teardown'] += 1
                bad.append('device-TLB tag unassigned before the entry teardown: no unassign of '
                           "%s's device-TLB tag in this task between its teardown and this ATS "
                           'disable: %s' % (dev, line))
    if not n['entries']:
        bad.append('no context or PASID entry went live in the trace (kprobe events '
                   'missing?): nothing was checked')
    if n['devtlb-assign'] and not n['ats-enable']:
        bad.append('device-TLB tags were assigned but no ATS enable is in the trace: '
                   'their order was not checked')
    if n['ats-disable'] and not n['teardowns']:
        bad.append('ATS was disabled %d times but no context or PASID entry was torn down in '
                   'the trace (kprobe events missing?): nothing was checked' % n['ats-disable'])
    else:
        bad += missing_teardown
    return bad, n


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


FRAME = re.compile(r'(?:^|[\s\]])([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+')
KMEMLEAK_OBJECT = re.compile(r'^unreferenced object (0x[0-9a-f]+) \(size (\d+)\):')
# Allocator frames at the top of a kmemleak backtrace: not the caller.
ALLOCATOR = re.compile(r'^(kmemleak_|kmalloc|__kmalloc|kmem_cache_|__kmem_cache_|__alloc|alloc_pages|'
                       r'kzalloc|krealloc|kvmalloc|__kvmalloc|slab_|__slab|kmemdup|kstrdup|'
                       r'__vmalloc|vmalloc|__get_free_pages|get_zeroed_page|memblock)')


def frame_name(name):
    """A symbol as %pS prints it, without GCC's clone suffixes
    (.constprop.0, .isra.0, .part.0, .cold)."""
    return name.split('.')[0]


# A KCSAN report's access stacks each begin with a line such as "write to
# 0x... of 8 bytes by task 95 on cpu 1:" or "race at unknown origin, with
# read to ...".
KCSAN_ACCESS = re.compile(r'(?:^|\s)(?:race at unknown origin, with )?(?:read|write|read-write)'
                          r'(?: \(marked\))?(?: \(reordered\))? to 0x[0-9a-f]+ of \d+ bytes by ')
# Helpers a racing access may sit in on behalf of its caller: a KCSAN
# report is the caller's (as syzbot attributes them).
GENERIC = re.compile(r'^_*(find_|list_|hlist_|bitmap_|cpumask_|mem|str|atomic|arch_atomic|'
                     r'refcount_|kref_|xa_|radix_tree|test_bit|set_bit|clear_bit)')


def sanitizer_reports(lines):
    """[(kind, header, frames, files, stacks)] of the sanitizer reports
    among console LINES; stacks: a KCSAN report's access stacks, each a
    list of frames as printed ("name+0xoff/0xsize")."""
    out, cur = [], None
    for line in lines:
        caller, text = printk_split(line)
        if cur is not None:
            if caller != cur['caller']:
                continue
            if (cur['kind'] != 'ODEBUG' and re.match(r'^={20,}\s*$', text)) or \
                    (cur['kind'] == 'ODEBUG' and '---[ end trace' in text) or cur['n'] > 400:
                out.append((cur['kind'], cur['header'], cur['frames'], cur['files'], cur['stacks']))
                cur = None
                continue
            cur['n'] += 1
            if cur['kind'] == 'KCSAN' and KCSAN_ACCESS.search(text):
                cur['stacks'].append([])
            cur['frames'].extend(frame_name(f) for f in FRAME.findall(text))
            if cur['stacks']:
                cur['stacks'][-1].extend(m.group(0).strip(' ]') for m in FRAME.finditer(text))
            continue
        for rx, kind in SANITIZER:
            m = rx.search(text)
            if m:
                cur = {'kind': kind, 'caller': caller, 'header': text[m.start():].strip(),
                       'frames': [frame_name(f) for f in FRAME.findall(text[m.end():])],
                       'files': re.findall(r'\b([\w/.-]+\.[ch]):\d+', text), 'n': 0,
                       'stacks': []}
                break
    if cur is not None:
        out.append((cur['kind'], cur['header'], cur['frames'], cur['files'], cur['stacks']))
    return out


def kcsan_racers(header, stacks):
    """The functions a KCSAN report is about: the two its header names
    ("data-race in A / B"), and in each access stack the frames down to
    the first that is not a generic helper. Deeper frames are callers: a
    race inside the ring buffer while it records one of our events is the
    ring buffer's (measured: rb_inc_page / rb_per_cpu_empty, under
    trace_event_raw_event_cache_tag_*)."""
    named = []
    m = re.search(r'data-race in (\S+) / (\S+)', header)
    if m:
        named = [frame_name(n) for n in m.groups()]
    for st in stacks:
        named.extend(frame_name(f.split('+')[0]) for f in access_frames(st))
    return named


def access_frames(stack):
    """An access stack's frames down to the first that is not a generic
    helper: the access and, when it sits in a helper, the helper's
    callers up to the code it works for."""
    out = []
    for f in stack:
        out.append(f)
        if not GENERIC.match(frame_name(f.split('+')[0])):
            break
    return out


# Where a KCSAN report's accesses are in the source, for the kcsan kernel
# (built with line tables: configs/kcsan.config). A data race of the IOMMU
# code whose accesses all lie on lines the series leaves as 6.1 has them
# is 6.1's own (measured: the unlocked dmar_domain->max_addr of
# intel_iommu_map() and intel_iommu_unmap()), listed and not failed; a
# report the lines do not clear stays a violation.
A2L_LINE = re.compile(r'^(\S+?):(\d+|\?)(?: \(discriminator \d+\))?$')


def read_series_lines(path):
    """build.sh series_lines: 'FILE START END' a line, the lines the
    series (and a mutant) adds or changes, as numbered in its tree.
    {file: [(start, end)]}."""
    out = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 3:
                out[p[0]].append((int(p[1]), int(p[2])))
    return dict(out)


def parse_nm(text):
    """`nm -S --defined-only` of vmlinux: {name: [(address, size, span)]},
    the text symbols (a static function's name can be there more than
    once). size is the symbol's own; span runs to the next text symbol,
    which is the size kallsyms prints (the function's padding included)."""
    syms = []
    for line in text.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in 'tTwW':
            syms.append((int(p[0], 16), int(p[1], 16), p[3]))
        elif len(p) == 3 and p[1] in 'tTwW':
            syms.append((int(p[0], 16), 0, p[2]))
    starts = sorted(set(a for a, _, _ in syms))
    nxt = {a: b for a, b in zip(starts, starts[1:])}
    out = collections.defaultdict(list)
    for a, size, name in syms:
        out[name].append((a, size, nxt.get(a, a + size) - a))
    return out


def parse_addr2line(text):
    """`addr2line -a -i` output: {address: [file:line, innermost first]};
    an unresolved location ('??:0', '??:?') is left out."""
    out, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        if re.match(r'^0x[0-9a-f]+$', line):
            cur = out.setdefault(int(line, 16), [])
            continue
        m = A2L_LINE.match(line)
        if cur is not None and m and not m.group(1).startswith('??') and m.group(2) != '?':
            cur.append('%s:%s' % (m.group(1), m.group(2)))
    return out


class SourceLines:
    """Frames of one kernel to source lines, and which lines are the
    series': VMLINUX (with line tables) by nm and addr2line, SERIES the
    series-lines file (read_series_lines)."""

    def __init__(self, vmlinux, series):
        self.vmlinux = vmlinux
        self.series = read_series_lines(series) if isinstance(series, str) else series
        self.syms = None
        self.cache = {}

    def symbols(self):
        if self.syms is None:
            import subprocess
            self.syms = parse_nm(subprocess.run(['nm', '-S', '--defined-only', self.vmlinux],
                                                capture_output=True, text=True, check=True).stdout)
        return self.syms

    def address(self, frame):
        """A printed frame's address, one before the return address (the
        call or access itself); None when the name is not one function's:
        of several functions of that name, the one whose size or span is
        the frame's."""
        m = re.match(r'^([A-Za-z_][\w.]*)\+0x([0-9a-f]+)/0x([0-9a-f]+)$', frame)
        if not m:
            return None
        off, size = int(m.group(2), 16), int(m.group(3), 16)
        cand = self.symbols().get(m.group(1), [])
        if len(cand) > 1:
            cand = [c for c in cand if size in (c[1], c[2])]
        return cand[0][0] + max(off - 1, 0) if len(cand) == 1 and off < size else None

    def resolve(self, frames):
        """{frame: [file:line, innermost first]} for the FRAMES that
        resolve."""
        import subprocess
        addrs = {f: self.address(f) for f in frames}
        want = sorted(set(a for a in addrs.values() if a is not None and a not in self.cache))
        if want:
            got = parse_addr2line(subprocess.run(
                ['addr2line', '-a', '-i', '-e', self.vmlinux] + ['0x%x' % a for a in want],
                capture_output=True, text=True, check=True).stdout)
            for a in want:
                self.cache[a] = got.get(a, [])
        return {f: self.cache[a] for f, a in addrs.items() if a is not None and self.cache.get(a)}

    def series_file(self, path):
        """PATH (as the line tables give it: absolute) as the series-lines
        file names it, or None when the series changes nothing there."""
        for rel in self.series:
            if path == rel or path.endswith('/' + rel):
                return rel
        return None

    def in_series(self, loc):
        path, line = loc.rsplit(':', 1)
        rel = self.series_file(path)
        return rel is not None and any(a <= int(line) <= b for a, b in self.series[rel])


def short_loc(loc):
    """drivers/iommu/intel/iommu.c:4379 of an absolute path."""
    m = re.search(r'((?:drivers|include|arch|kernel|lib|mm)/.*)$', loc)
    return m.group(1) if m else loc


def kcsan_origin(stacks, lines):
    """Whether a KCSAN report is 6.1's own: its two access stacks' frames
    (access_frames), each with its inline chain, all on lines the series
    does not add or change. Returns (own, text): text names the accesses'
    lines, or why the report cannot be cleared (one access seen, a frame
    without a line, a line of the series)."""
    if len(stacks) != 2:
        return False, 'one access seen (race at unknown origin): not cleared'
    frames = [access_frames(st) for st in stacks]
    res = lines.resolve([f for fs in frames for f in fs])
    where, series = [], []
    for fs in frames:
        if not fs:
            return False, 'an access stack without frames: not cleared'
        for f in fs:
            if f not in res:
                return False, 'no source line for %s: not cleared' % f
            series.extend(short_loc(loc) for loc in res[f] if lines.in_series(loc))
        where.append(short_loc(res[fs[0]][0]))
    if series:
        return False, 'on lines the series changes: %s' % ', '.join(dict.fromkeys(series))
    return True, ' / '.join(where)


def kmemleak_objects(lines):
    """The objects of the kmemleak step's dump: (address, size, [frames]),
    or None when the log has no dump."""
    objs, cur, inside = [], None, False
    for line in lines:
        if '@@KMEMLEAK-BEGIN' in line:
            inside, objs = True, []
            continue
        if '@@KMEMLEAK-END' in line:
            return objs
        if not inside:
            continue
        m = KMEMLEAK_OBJECT.match(line.strip())
        if m:
            cur = (m.group(1), int(m.group(2)), [])
            objs.append(cur)
        elif cur is not None:
            cur[2].extend(frame_name(f) for f in FRAME.findall(line))
    return None


# What shows that a sanitizer ran: the line it prints when it starts.
TOOL_STARTED = {
    'kasan': ('KernelAddressSanitizer initialized', 'KASAN did not initialise: this kernel checked no access'),
    'kcsan': ('kcsan: enabled early', 'KCSAN did not start: this kernel watched no access'),
}


def sanitizers(path, syms_path, tools=('kasan', 'kmemleak'), lines=None):
    """The debug kernel's verdict. Any KASAN, UBSAN, KCSAN or ODEBUG report
    whose frames (the access, allocation and free stacks included), file
    or header name a function of drivers/iommu (SYMS: one name a line,
    build.sh iommu_syms) is a violation, and so is any object in the
    kmemleak dump whose allocation backtrace passes through one. Other
    reports and objects are listed in the summary (the boot check fails
    on any report anyway). KCSAN's header names both racing functions
    ("data-race in A / B"): either counts, and so does, in each access
    stack, any frame down to the first that is not a generic helper
    (kcsan_racers; not the callers below). The run must show that the
    TOOLS were there: KASAN or KCSAN started, a kmemleak dump with
    kmemleak not disabled; a run that checked nothing is a violation too.
    LINES (a SourceLines of the kernel, or None): a KCSAN report of the
    IOMMU code whose accesses all lie on lines the series does not add or
    change (kcsan_origin) is 6.1's own, listed in the summary, not a
    violation. Returns (violations, summary)."""
    with open(syms_path) as f:
        syms = set(l.strip() for l in f if l.strip())
    clines = list(console(path))
    bad = []
    if not syms:
        bad.append('no IOMMU function names in %s' % syms_path)
    unknown = [t for t in tools if t not in TOOL_STARTED and t != 'kmemleak']
    if unknown or not tools:
        bad.append('unknown or no tools to expect: %s' % ','.join(unknown))
    for t in tools:
        if t in TOOL_STARTED and not any(TOOL_STARTED[t][0] in l for l in clines):
            bad.append(TOOL_STARTED[t][1])
    objs = []
    if 'kmemleak' in tools:
        off = [l.strip() for l in clines if re.search(r'kmemleak: .*(disabled|Memory pool empty)', l)]
        if off:
            bad.append('kmemleak stopped: %s' % off[0])
        objs = kmemleak_objects(clines)
        if objs is None:
            bad.append('no kmemleak dump (@@KMEMLEAK-BEGIN/END): no leak was looked for')
            objs = []
    ours, others = [], collections.Counter()
    for addr, size, frames in objs:
        hit = [f for f in frames if f in syms]
        if hit:
            ours.append((addr, size, hit, frames))
        else:
            caller = next((f for f in frames if not ALLOCATOR.match(f)), '?')
            others[caller] += 1
    for addr, size, hit, frames in ours:
        bad.append('kmemleak: object %s (%d bytes) allocated through %s: %s'
                   % (addr, size, hit[0], ' < '.join(frames[:8])))
    reps = sanitizer_reports(clines)
    other_reps, own = [], collections.Counter()
    for kind, header, frames, files, stacks in reps:
        if kind == 'KCSAN':
            hit = list(dict.fromkeys(f for f in kcsan_racers(header, stacks) if f in syms))
        else:
            hit = list(dict.fromkeys(f for f in frames if f in syms))
        if any(f.startswith('drivers/iommu/') for f in files) or hit:
            why = ''
            if kind == 'KCSAN' and lines is not None:
                mine, text = kcsan_origin(stacks, lines)
                if mine:
                    own['%s at %s' % (header.replace('BUG: KCSAN: ', ''), text)] += 1
                    continue
                why = '; ' + text
            bad.append('%s: %s (IOMMU frames: %s%s)' % (kind, header, ', '.join(hit[:4]) or files[0], why))
        else:
            other_reps.append('%s: %s' % (kind, header))
    summary = '%s on; no sanitizer report involves drivers/iommu%s (%d reports in all)' % (
        '+'.join(t.upper() for t in tools if t in TOOL_STARTED) or 'nothing',
        " beyond 6.1's own races below" if own else '', len(reps))
    if 'kmemleak' in tools:
        summary += '; kmemleak: %d unreferenced objects, none allocated through drivers/iommu' % len(objs)
    if others:
        summary += ' (others by %s)' % ', '.join('%s %d' % kv for kv in others.most_common(5))
    if other_reps:
        summary += '; other reports: %s' % '; '.join(other_reps[:3])
    if own:
        summary += ("; %d KCSAN reports of 6.1's own IOMMU code (every access on a line the series "
                    "does not change): %s" % (sum(own.values()), '; '.join(
                        '%s (%d)' % kv for kv in own.most_common(4))))
    return bad, summary


def soak(path, hotplug, cycles, switches):
    """make soak's guest (the soak step), against what it was asked for:
    HOTPLUG hot-unplugs during I/O, CYCLES VFIO remap cycles under churn,
    SWITCHES domain switches. Every figure is counted in the log: the
    guest's hotplug and domain-switch results, the switches it marked,
    each selftest's own count of cycles and stale reads (one selftest per
    edu device, behind '@@KST-<bdf> '), dma_map_benchmark's runs. Then the
    leaked tags: the trace check's and the tag view's violations. Returns
    [(PASS|FAIL, text)]: one line per figure, FAIL where it falls short."""
    lines = list(console(path))
    out = []
    plan = next((re.search(r'@@SOAK plan (.*)', l).group(1) for l in lines if '@@SOAK plan' in l), None)
    if plan is None:
        return [('FAIL', 'no "@@SOAK plan": the soak step did not start')]
    started = [float(m.group(1)) for l in lines for m in [re.search(r'\[\s*([\d.]+)\]\[.*VTD-MARK (?:begin|end) soak', l)] if m]
    res, _ = tap(path)
    steps = {name: (st, det) for st, name, det in res}
    st, det = steps.get('hotplug', ('FAIL', 'no hotplug result'))
    m = re.match(r'(\d+)/(\d+) rounds', det)
    n = int(m.group(1)) if m and st == 'PASS' else 0
    out.append(('PASS' if n >= hotplug else 'FAIL', 'hot-unplugs during I/O: %d of %d (%s)' % (n, hotplug, det[:80])))
    marks = sum(1 for l in lines if re.search(r'VTD-MARK switched \d+ ', l))
    st, det = steps.get('domain-switch', ('FAIL', 'no domain-switch result'))
    out.append(('PASS' if st == 'PASS' and marks >= switches else 'FAIL',
                'domain switches, DMA checked after each: %d of %d (%s)' % (marks, switches, st)))
    bdfs = sorted(set(m.group(1) for l in lines for m in [re.search(r'@@KST-(\S+) ', l)] if m))
    done = stale = churn = 0
    failed = []
    for bdf in bdfs:
        rx = re.compile(r'@@KST-%s (.*)$' % re.escape(bdf))
        for st, name, det in kselftest(path, rx):
            if st != 'PASS':
                failed.append('%s %s %s: %s' % (bdf, st, name, det[:100]))
        for l in lines:
            m = rx.search(l)
            c = m and re.search(r'concurrent_map_unmap_during_dma:(\d+) cycles against (\d+) \+ (\d+) churn rounds, (\d+) stale', m.group(1))
            o = m and re.search(r'stale_iotlb_oracle:(\d+) remap cycles, (\d+) stale reads', m.group(1))
            if c:
                done += int(c.group(1))
                churn += int(c.group(2)) + int(c.group(3))
                stale += int(c.group(4))
            if o:
                stale += int(o.group(2))
    ok = done >= cycles and stale == 0 and not failed and bdfs
    out.append(('PASS' if ok else 'FAIL',
                'VFIO remap cycles under churn: %d of %d on %d edu devices, %d churn rounds beside, '
                '%d stale reads%s' % (done, cycles, len(bdfs), churn, stale,
                                      '; ' + '; '.join(failed[:2]) if failed else '')))
    runs = [re.search(r'@@SOAK dmabench rc=(\d+)', l) for l in lines]
    runs = [int(r.group(1)) for r in runs if r]
    bad = sum(1 for r in runs if r)
    out.append(('PASS' if runs and not bad else 'FAIL',
                'dma_map_benchmark beside: %d runs of 2 threads x 20 s, %d failed' % (len(runs), bad)))
    leaks, n = check(path)
    tbad, tsum = tags(path)
    leaked = leaks + tbad
    out.append(('PASS' if not leaked else 'FAIL',
                'leaked tags: %d (trace check over %d assign/unassign events; %s)%s'
                % (len(leaked), n, tsum or 'no tag view', '; ' + leaked[0][:150] if leaked else '')))
    if len(started) == 2:
        out.append(('PASS', 'the soak step took %.0f s by the guest clock' % (started[1] - started[0])))
    else:
        out.append(('FAIL', 'the soak step did not end (no "VTD-MARK end soak")'))
    return out


def kernel_identity(path):
    """(given, ran): the version string of the bzImage QEMU was given
    (qemu.sh reads it from the image's setup header before the boot and
    logs '@@HOST kernel VERSION'), and the one the guest's kernel printed
    ('Linux version RELEASE (USER@HOST) (TOOLCHAIN) #N ...'), the
    toolchain part left out; None where a line is missing."""
    given = ran = None
    for line in console(path):
        if line.startswith('@@HOST kernel ') and given is None:
            given = line[len('@@HOST kernel '):].strip()
        elif ran is None and 'Linux version ' in line:
            m = re.search(r'Linux version (\S+) (\(\S+\)) \(.*\) (#\d+.*)$', line)
            if m:
                ran = '%s %s %s' % (m.group(1), m.group(2), m.group(3).strip())
    return given, ran


def hang(path):
    """Where a guest that was killed had got to, in one line: what the
    host's watchdog noted (@@HOST, scripts/guestdog.py), the guest's last
    step result and mark, the selftest's last line, and what the kernel
    printed when the watchdog's NMI made it panic (qemu.sh boots with
    unknown_nmi_panic panic_print=0x9): where CPU 0 was (the first frames
    of the task it interrupted), the tasks asleep in D state and who held
    which lock."""
    host, last_tap, last_mark, last_kst = [], None, None, None
    panicked, in_task, done_task = False, False, False
    frames, dstate, holders = [], [], []
    for line in console(path):
        text = re.sub(r'^(\[[^]]*\])+\s?', '', line)
        if line.startswith('@@HOST '):
            host.append(line[7:].strip())
        elif line.startswith('@@VTD ok ') or line.startswith('@@VTD not ok '):
            last_tap = line[6:].split(' # ')[0]
        elif line.startswith('@@KST ') and line[6:].strip():
            last_kst = line[6:].strip()
        elif 'VTD-MARK ' in line:
            last_mark = line.split('VTD-MARK ', 1)[1].strip()
        elif 'Kernel panic - not syncing: NMI' in line:
            panicked = True
        elif not panicked:
            continue
        elif text.strip() == '<TASK>' and not done_task:
            in_task = True
        elif text.strip() == '</TASK>' and in_task:
            in_task, done_task = False, True
        elif in_task:
            m = re.match(r'\s*(?:\? )?(\w+)\+0x', text)
            if m and m.group(1) not in frames and len(frames) < 4:
                frames.append(m.group(1))
        else:
            m = re.match(r'task:(\S+)\s+state:D', text)
            if m:
                dstate.append(m.group(1))
            m = re.match(r'(\d+ locks? held by \S+):', text)
            if m:
                holders.append(m.group(1))
    parts = []
    if host:
        parts.append('; '.join(host))
    parts.append('last step result: %s' % (last_tap or 'none'))
    if last_mark:
        parts.append('last mark: %s' % last_mark)
    if last_kst:
        parts.append('selftest last said: %s' % last_kst[:120])
    if panicked:
        parts.append('NMI: CPU 0 in %s' % (' < '.join(frames) or 'no task frames'))
        parts.append('D state: %s' % (', '.join(dstate[:6]) or 'none'))
        parts.append('locks: %s' % ('; '.join(holders[:4]) or 'none held'))
    return '; '.join(parts)

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


def iqe_matrix(path):
    """(status, detail) for the queue error suite in a kunit.py JSON: every
    batch with an invalid descriptor ran and passed, or what did not."""
    import json
    try:
        doc = json.load(open(path))
    except (OSError, ValueError) as e:
        return 'FAIL', 'no KUnit results to read (%s)' % e

    def find(g):
        if g.get('name') == IQE_SUITE:
            return g
        for s in g.get('sub_groups', []):
            r = find(s)
            if r:
                return r
        return None
    suite = find(doc)
    if not suite:
        return 'FAIL', 'the KUnit output has no %s suite' % IQE_SUITE
    cases = []

    def walk(g):
        cases.extend(g.get('test_cases', []))
        for s in g.get('sub_groups', []):
            walk(s)
    walk(suite)
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


def verdict(bad, summary, what='problems'):
    """Print a check's verdict for test.sh, which reads the first two
    lines: its summary, or how many WHAT and then the first 20; exit 1 on
    any."""
    print(('%d %s' % (len(bad), what)) if bad else summary)
    for b in bad[:20]:
        print('violation\t' + b)
    sys.exit(1 if bad else 0)


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
    elif cmd == 'kernel-identity':
        given, ran = kernel_identity(path)
        print('%s\t%s' % (given or '', ran or ''))
        sys.exit(0 if given and given == ran else 1)
    elif cmd == 'hang':
        print(hang(path))
    elif cmd == 'kselftest':
        for r in kselftest(path):
            print('\t'.join(r))
    elif cmd == 'kunit-console':
        for line in kunit_console(path):
            print(line)
    elif cmd == 'faults':
        for what, line in faults(path, tuple(sys.argv[3].split(',')) if len(sys.argv) > 3 else ()):
            print('%s\t%s' % (what, line))
    elif cmd == 'batching':
        s_c = counts(path, 'workload')['workload']
        k_c = counts(sys.argv[3], 'workload')['workload']
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
    elif cmd == 'tools':
        bad, seen = tools(path, sys.argv[3])
        verdict(bad, '%s read %d cache_tag events (%s), all parsed' % (
            sys.argv[3], sum(seen.values()), ', '.join('%s %d' % kv for kv in sorted(seen.items()))))
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
    elif cmd == 'follow':
        a, u, dids, live = follow(path, sys.argv[3])
        # Runs of the same domain ID as DIDxN: the failnth step's
        # switches give over a thousand.
        runs = []
        for d in dids:
            if runs and runs[-1][0] == d:
                runs[-1][1] += 1
            else:
                runs.append([d, 1])
        print('assigns=%d unassigns=%d live=%d dids=%s' % (
            a, u, live, ','.join(d if n == 1 else '%sx%d' % (d, n) for d, n in runs)))
    elif cmd == 'count':
        evs, _ = real_events(path)
        print(sum(1 for e in evs if e[0] == sys.argv[3]))
    elif cmd == 'iqe-matrix':
        print('%s\t%s' % iqe_matrix(path))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    try:
        main()
    except BrokenPipeError:
        # A reader that stops early (grep -q) is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
