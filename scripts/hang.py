"""How a guest ended that did not finish (hang), and make soak's guest
against its plan.

Standard library only.
"""
import re

from logread import NESTED, console, kselftest, subtests, tap
from tracerules import check, tags


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
    # The disk's parts, nested under the soak step's result (or under none
    # yet: the guest stopped before the step's end).
    for st, name, det in subtests(path, 'soak') or subtests(path, None):
        steps[name] = (st, det)
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
        elif NESTED.match(line) and line[6:].strip():
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
