"""Faults, warnings and the debug kernels' sanitizers (KASAN, UBSAN,
KCSAN, ODEBUG, kmemleak) in a guest log, held against the functions of
drivers/iommu.

Standard library only.
"""
import collections
import re

from logread import console, printk_split
from qemucounts import IQE_SUITE


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


# What a test may announce, and only in this exact form (no test may
# provoke a WARNING: every WARNING fails the boot):
#   the VFIO selftest, to kmsg:   "vfio_cache_tags: T: DMA from BDF to unmapped IOVA 0xA must fault"
EXPECT_DMAR = re.compile(r'^vfio_cache_tags: (\w+): DMA from (?:[0-9a-f]{4}:)?'
                         r'([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) to unmapped IOVA (0x[0-9a-f]+) must fault\s*$')


# A result of the selftest, nested under its step's result (logread.NESTED).
KST_RESULT = re.compile(r'^@@VTD {5}(?:not )?ok \d+ (?:\S+\.)?(\w+)\s*$')


DMAR_FAULT = re.compile(r'DMAR: \[(?:DMA Read|DMA Write|INTR-REMAP)[^]]*\] Request device '
                        r'\[([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\] fault addr (0x[0-9a-f]+)')


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
