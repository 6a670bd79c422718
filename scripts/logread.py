"""Reading a guest log: the serial console, QEMU's vtd_inv* trace records
interleaved with it, the guest's TAP, the kselftest's, the boot-time
KUnit run and the cache_tag_* trace dump.

Standard library only.
"""
import base64
import functools
import gzip
import os
import re
import zlib


# QEMU's log backend prints "name args", optionally behind "pid@sec.usec:".
# Serial output is written a byte at a time, so a trace line can start in
# the middle of a console line: search, don't match.
TRACE = re.compile(r'(?:\d+@\d+\.\d+:)?(vtd_inv_\w+)\b ?(.*)$')


MARK = re.compile(r'VTD-MARK (begin|end) (\S+)')


def read_once(fn):
    """FN(path)'s result, as a list, computed once per version of the file:
    the checks of one boot, run in one process (report.py), read and
    split its log once."""
    memo = {}

    @functools.wraps(fn)
    def once(path):
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
        if key not in memo:
            memo.clear()
            memo[key] = list(fn(path))
        return memo[key]
    return once


def lines(path):
    """The log's physical lines: console text and QEMU trace records."""
    with open(path, errors='replace') as f:
        for line in f:
            yield line.rstrip('\r\n')


@read_once
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


@read_once
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


def guest_ktap(path):
    """The guest's own KTAP as kunit.py parse reads it: its "@@VTD "
    lines, the prefix taken off (the VFIO selftest nested in them)."""
    return [l[len('@@VTD '):] for l in console(path) if l.startswith('@@VTD ')]


TAPLINE = re.compile(r'@@VTD (ok|not ok) (\d+) (\S+)(?: # (.*))?$')


TAPPLAN = re.compile(r'@@VTD 1\.\.(\d+)\s*$')


def tap(path):
    """The guest's own KTAP (its top level; a step's nested test is
    kselftest()'s): [(status, name, detail)], and whether it ran to the
    end. The plan comes first, and the results must match it: a missing,
    late or wrong plan, or numbers out of order, is a result of its own,
    FAIL tap-plan."""
    res = []
    done = False
    plan = None
    late = False
    numbers = []
    for line in console(path):
        if '@@VTD-DONE' in line:
            done = True
        m = TAPPLAN.search(line)
        if m:
            plan, late = int(m.group(1)), bool(numbers)
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
            res.append(('FAIL', 'tap-plan', 'the guest printed no KTAP plan'))
        elif late:
            res.append(('FAIL', 'tap-plan', 'the plan came after %d results, not first' % len(numbers)))
        elif plan != len(numbers) or numbers != list(range(1, len(numbers) + 1)):
            res.append(('FAIL', 'tap-plan', 'plan 1..%d, but %d results numbered %s' %
                        (plan, len(numbers), ','.join(map(str, numbers)) or 'none')))
    return res, done


# A test a guest step runs (the VFIO selftest), nested under the step's
# result line four spaces in; that line gives its exit code, "selftest
# exit=N", as kselftest's runner does.
NESTED = re.compile(r'@@VTD {5}(.*)$')
NESTED_EXIT = re.compile(r'@@VTD (?:ok|not ok) \d+ \S+ # .*\bselftest exit=(\d+)')


def nested_blocks(path):
    """The nested KTAP of the guest's steps: [(parent, [text])], each
    block of NESTED lines (their prefix taken off) with the top-level
    result line that closes it (None for a block the log ends in: its step
    did not finish), and a selftest's result with no block (its binary
    missing)."""
    blocks, cur = [], []
    for line in console(path):
        m = NESTED.search(line)
        if m:
            cur.append(m.group(1))
            continue
        if (cur or NESTED_EXIT.search(line)) and TAPLINE.search(line):
            blocks.append((line, cur))
            cur = []
    if cur:
        blocks.append((None, cur))
    return blocks


def subtests(path, parent):
    """The results nested under the step result named PARENT (make soak's
    soak step: its hotplug and domain-switch parts): [(status, name,
    detail)], as tap() gives a step's."""
    res = []
    for line, texts in nested_blocks(path):
        m = TAPLINE.search(line) if line else None
        if not (m and m.group(3) == parent or line is None and parent is None):
            continue
        for t in texts:
            r = re.match(r'(ok|not ok) \d+ (\S+)(?: # (.*))?$', t)
            if r:
                det = r.group(3) or ''
                st = 'SKIP' if det.startswith('SKIP') else 'PASS' if r.group(1) == 'ok' else 'FAIL'
                res.append((st, r.group(2), det[4:].strip() if st == 'SKIP' else det))
    return res


def kselftest(path, kst=None):
    """The kselftest TAP a guest step nests under its result (NESTED):
    [(status, name, detail)]. kselftest_harness prints 'ok N fixture.test',
    'not ok N fixture.test' and 'ok N # SKIP reason' (whose name only the
    '#  RUN fixture.test' line before it has), a plan '1..N' first, and
    exits 0 (pass), 1 (fail) or 4 (skip); the step's result line gives
    that exit code ("selftest exit=N"): a nested block under a result
    without one is another step's (subtests()). A block the log ends in
    is the selftest's if it starts as kselftest_harness does ("TAP
    version 13"). The plan, the numbering and the exit code must agree
    with the results. KST: another prefix's pattern, the exit code a
    'KST-EXIT rc' line of it (make soak runs one selftest per device, each
    behind '@@KST-<bdf> ', interleaved: data, not nested results)."""
    res = []
    plan = None
    rc = None
    name = ''
    numbers = []
    said = []
    seen = False
    if kst is None:
        texts = []
        for line, block in nested_blocks(path):
            m = NESTED_EXIT.search(line) if line else None
            if m:
                rc = int(m.group(1))
                texts = block + ['KST-EXIT %d' % rc]
            elif line is None and block and block[0].strip() == 'TAP version 13':
                texts = block
    else:
        texts = [m.group(1) for m in map(kst.search, console(path)) if m]
    for text in texts:
        seen = True
        text = text.rstrip()
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


PRINTK = re.compile(r'^\[\s*\d+\.\d+\](?:\[\s*([TC]\d+)\])? ?(.*)$')


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
    'KTAP version' and its '# Subtest' line made kunit.py report a crash.
    So is the trace dump (@@TRACE-BEGIN to @@TRACE-END), which is no
    KUnit output. A boot where KUnit printed nothing has none: []."""
    out, dump = [], False
    for line in console(path):
        if line.startswith('@@TRACE-BEGIN'):
            dump = True
        elif line.startswith('@@TRACE-END'):
            dump = False
        elif not dump:
            out.append(line)
    keep = set()
    for line in out:
        caller, text = printk_split(line)
        if caller and ('KTAP version' in text or re.match(r'\s+# \S+: ', text)
                       or 'Comm: kunit_try_catch' in text):
            keep.add(caller)
    if not keep:
        return []
    return [l for l in out if printk_split(l)[0] in keep or printk_split(l)[0] is None]


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
