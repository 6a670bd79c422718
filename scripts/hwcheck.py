#!/usr/bin/env python3
"""make hwcheck: the series' cache tags on a machine with VT-d, judged by
the harness's own rules.

  hwcheck.py run            as root, on the machine: collect
                            (scripts/hwcollect.sh, which reads DEV=,
                            REBIND=1, FORCE=1) into
                            work/hwcheck/hwcheck-HOST-DATE.txt, judge it and
                            add the verdict to it; exit 1 on a FAIL, 2 when
                            the collector refuses (no file kept)
  hwcheck.py judge BUNDLE   the verdict on a bundle
  hwcheck.py log LOG        the bundle a guest's hwcheck step sent, from
                            its log (written beside it: LOG.hwcheck.txt),
                            and its verdict

The bundle holds the debugfs view of the tags before the trace (the seed)
and after it, and the trace of the intel_iommu:cache_tag_* events (with
REBIND=1 also the attach-order kprobe events) in between. The machine
was not traced from boot, so the replay starts from the seed: the checks
are tracerules.py's check, tags and order, each given the seed. One
line per check:
  workload       the 256 O_DIRECT reads of DEV completed
  trace-check    the trace rules (vtdlog.py check) from the seed: no flush
                 of a tag the seed and the replay do not know, no unassign
                 of one, reference counts, each block covers its range; a
                 trace that lost events or has none fails
  tags-vs-trace  the view after the workload is the seed plus the replayed
                 assigns and unassigns, and no tag changed while a view
                 was read (the trace's markers around each)
  attach-order   with REBIND=1, the detach and the attach of the rebind
                 (vtdlog.py order); SKIP when no rebind was asked for
A kernel without the events (stock 6.1) fails at once, saying so.
Standard library only.
"""
import base64
import gzip
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from logread import B64_LINE, EVENT, console, real_events, trace_dump  # noqa: E402
from tracerules import check, order, seed_of, tag_view, tags  # noqa: E402

MARK = re.compile(r'tracing_mark_write: hwcheck (\S+)')


def infos(path):
    """The bundle's @@INFO lines: {first word: the rest}."""
    out = {}
    for line in console(path):
        if line.startswith('@@INFO '):
            k, _, v = line[len('@@INFO '):].partition(' ')
            out[k.rstrip(':')] = v.strip()
    return out


def unsteady(path):
    """Assigns and unassigns traced while a view was read: from its
    begin marker to its end marker (the seed), or to the end of the trace
    (the view after the workload, which the replay of the whole trace must
    equal). Problems, and whether both views' markers are there."""
    bad, seen = [], set()
    for line in trace_dump(path):
        m = MARK.search(line)
        if m:
            seen.add(m.group(1))
            continue
        e = EVENT.search(line)
        if not e or e.group(1) not in ('cache_tag_assign', 'cache_tag_unassign'):
            continue
        if 'view-begin' in seen or 'seed-end' not in seen:
            bad.append('a tag changed while the %s view was read, so it cannot be compared: %s'
                       % ('last' if 'view-begin' in seen else 'seed', line.strip()))
    return bad, {'seed-begin', 'seed-end', 'view-begin', 'view-end'} <= seen


def verdict(name, bad, summary):
    if not bad:
        return 'PASS', name, summary
    return 'FAIL', name, '%d problem%s; %s' % (len(bad), 's' if len(bad) > 1 else '', bad[0][:200])


def judge(path):
    """A bundle's results [(status, check, detail)]."""
    info = infos(path)
    if 'events' not in info:
        return [('FAIL', 'bundle', 'no hwcheck bundle in %s (no @@INFO events line)' % path)]
    if info['events'] == 'none':
        return [('FAIL', 'events', "the running kernel, %s, has no VT-d cache tags: no intel_iommu:cache_tag_* "
                 "events (stock 6.1, or no Intel IOMMU driver), nothing to check; boot make deb's kernel. "
                 "IOMMUs active: %s" % (info.get('uname', '?'), info.get('iommus') or 'none'))]
    if info.get('view', '').startswith('none'):
        return [('FAIL', 'tag-view', info['view'] + ('' if info.get('iommus') else
                 '; and no IOMMU is active: boot with intel_iommu=on (Debian\'s config leaves VT-d off)'))]
    # dev: "DEV BDF driver=D group=G type=T"; workload: "rc=N: dd's output".
    dev = info.get('dev', '? ?').split()
    at = dict(w.split('=', 1) for w in dev[2:] if '=' in w)
    rc, _, said = info.get('workload', 'rc=none: the collector stopped before it').partition(': ')
    rows = [('PASS' if rc == 'rc=0' else 'FAIL', 'workload', 'dd: 256 x 4 KiB O_DIRECT reads of %s (%s, %s, group %s %s): %s%s'
             % (dev[0], dev[1], at.get('driver') or 'no driver', at.get('group', '?'), at.get('type', '?'), said,
                '' if rc == 'rc=0' else ' (dd %s)' % rc))]
    view = tag_view(path, 'TAGS-SEED')
    seed = seed_of(view or [])
    pre = [] if view else ['no view of the tags before the trace: no seed to replay from']
    lost = info.get('trace', 'lost ?').split()[-1]
    changed, marked = unsteady(path)
    if not marked:
        pre.append('the trace lacks the markers of when the views were read (hwcheck seed-begin ... view-end)')
    bad, n = check(path, seed)
    if not n and at.get('type') == 'identity':
        bad.insert(0, "no events: %s's IOMMU group is in an identity domain, whose DMA nothing flushes "
                   '(REBIND=1 traces a detach and an attach)' % dev[0])
    if lost != '0':
        bad.insert(0, 'the trace lost %s events: it is incomplete' % lost)
    rows.append(verdict('trace-check', pre + bad,
                        'checked %d events, replayed from the %d tags of the view before: 0 violations' % (n, len(seed))))
    bad, summary = tags(path, seed)
    # Without an assign or unassign the replay is the seed: the check then
    # says only that the tags held still through the workload.
    moved = sum(1 for e in real_events(path)[0] if e[0] in ('cache_tag_assign', 'cache_tag_unassign'))
    rows.append(verdict('tags-vs-trace', pre + changed + bad, '%s, from the %d tags before%s' % (
        summary, len(seed), '' if moved else ' (no assign or unassign traced: the tags held still)')))
    rebind = info.get('rebind', 'none: the collector stopped before it')
    if rebind.startswith('not asked'):
        rows.append(('SKIP', 'attach-order', 'REBIND=1 not given: no detach or attach was traced'))
        return rows
    # Context entries are named in the rebound device's PCI segment.
    bad, c = order(path, seed, dev[1].split(':')[0] if dev[1].count(':') == 2 else '0000')
    probes = info.get('probes', 'none: the collector stopped before them')
    if probes.startswith('none') or 'failed:' in probes:
        bad.insert(0, 'kprobe events ' + probes)
    if not rebind.startswith('done'):
        bad.insert(0, 'rebind ' + rebind)
    rows.append(verdict('attach-order', bad, '%d entries went live, %d torn down; ATS enabled %d, disabled %d times; '
                        'all in order. Rebind %s' % (c['entries'], c['teardowns'], c['ats-enable'], c['ats-disable'],
                                                     rebind)))
    return rows


def text(rows):
    """The verdict: one line per check, then the overall line."""
    out = ['%-4s %-14s %s' % r for r in rows]
    n = {s: sum(r[0] == s for r in rows) for s in ('PASS', 'FAIL', 'SKIP')}
    out.append('%s hwcheck: %d passed, %d failed, %d skipped' % (
        'FAIL' if n['FAIL'] else 'PASS', n['PASS'], n['FAIL'], n['SKIP']))
    return '\n'.join(out) + '\n'


def bundle_of(log):
    """The bundle a guest's hwcheck step sent (base64 of gzip between
    @@HWCHECK-GZ-BEGIN and @@HWCHECK-GZ-END), written to LOG.hwcheck.txt:
    (its path, None), or (None, why not)."""
    chunks = None
    for line in console(log):
        if '@@HWCHECK-GZ-BEGIN' in line:
            chunks = []
        elif '@@HWCHECK-GZ-END' in line and chunks is not None:
            try:
                data = gzip.decompress(base64.b64decode(''.join(chunks), validate=True))
            except (ValueError, OSError, EOFError, zlib.error) as e:
                return None, 'the hwcheck bundle in %s does not decode: %s' % (log, e)
            with open(log + '.hwcheck.txt', 'wb') as f:
                f.write(data)
            return log + '.hwcheck.txt', None
        elif chunks is not None and B64_LINE.match(line):
            chunks.append(line)
    return None, 'the guest sent no hwcheck bundle: %s' % log


def guest_rows(log):
    """report.py's rows for a guest's hwcheck step (hwcheck:CHECK): on the
    series' kernels nothing may be skipped, so a SKIP is a FAIL."""
    path, why = bundle_of(log)
    if not path:
        return [('FAIL', 'hwcheck:bundle', why)]
    return [('FAIL', 'hwcheck:' + n, 'skipped on the series kernel, so nothing was checked: ' + d) if s == 'SKIP'
            else (s, 'hwcheck:' + n, d) for s, n, d in judge(path)]


# What follows a BTF type record, by kind (include/uapi/linux/btf.h): a
# fixed size and a size per vlen entry.
BTF_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0), 8: (0, 0),
             9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0), 15: (0, 12),
             16: (0, 0), 17: (4, 0), 18: (0, 0), 19: (0, 12)}


def btf_offset(path, name, member):
    """The byte offset of MEMBER in struct NAME, from BTF (the running
    kernel's: /sys/kernel/btf/vmlinux), or None."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
        magic, _, _, hdr, toff, tlen, soff, slen = struct.unpack_from('<HBBIIIII', data)
    except (OSError, struct.error):
        return None
    if magic != 0xeb9f:
        return None
    types = data[hdr + toff:hdr + toff + tlen]
    strs = data[hdr + soff:hdr + soff + slen]

    def s(off):
        return strs[off:strs.index(b'\0', off)].decode(errors='replace')
    i = 0
    while i + 12 <= len(types):
        n, info, _ = struct.unpack_from('<III', types, i)
        kind, vlen, kflag = (info >> 24) & 0x1f, info & 0xffff, info >> 31
        i += 12
        if kind not in BTF_EXTRA:
            return None
        if kind == 4 and s(n) == name:
            for j in range(vlen):
                mn, _, off = struct.unpack_from('<III', types, i + 12 * j)
                if s(mn) == member:
                    return ((off & 0xffffff) if kflag else off) // 8
        fixed, per = BTF_EXTRA[kind]
        i += fixed + per * vlen
    return None


def run():
    """make hwcheck: collect on this machine, judge, keep both in one file."""
    if os.geteuid() != 0:
        sys.exit('make hwcheck: run it as root (it reads debugfs and tracefs, and may define kprobe events)')
    env = dict(os.environ)
    if env.get('REBIND') == '1' and not env.get('PCI_DEV_OFF'):
        off = btf_offset('/sys/kernel/btf/vmlinux', 'pci_dev', 'dev')
        if off is not None:
            env['PCI_DEV_OFF'] = str(off)
    work = env.get('VTD_WORK') or os.path.join(HERE, '..', 'work')
    out = os.path.join(work, 'hwcheck', 'hwcheck-%s-%s.txt' % (
        socket.gethostname().split('.')[0], time.strftime('%Y%m%d-%H%M%S')))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    # Ctrl-C, a hang-up or a kill reaches the collector (its process
    # group's signal, or forwarded), whose trap undoes a rebind under way:
    # it is waited for, however long its sysfs writes take, never killed.
    with open(out, 'w') as f:
        proc = subprocess.Popen(['sh', os.path.join(HERE, 'hwcollect.sh')], stdout=f, env=env)
        old = {sig: signal.signal(sig, lambda n, _f: proc.send_signal(n) if n != signal.SIGINT else None)
               for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            rc = proc.wait()
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
    if rc == 2:
        os.unlink(out)
        return 2
    rows = judge(out)
    if rc:
        rows.append(('FAIL', 'collect', 'hwcollect.sh exited %d: the bundle is incomplete' % rc))
    lines = text(rows)
    with open(out, 'a') as f:
        f.write('@@VERDICT-BEGIN\n%s@@VERDICT-END\n' % lines)
    sys.stdout.write(lines)
    print('bundle for a bug report: %s' % os.path.relpath(out))
    return 1 if any(r[0] == 'FAIL' for r in rows) else 0


def main(argv):
    if argv[1:2] == ['run']:
        return run()
    if len(argv) != 3 or argv[1] not in ('judge', 'log'):
        sys.exit(__doc__)
    if argv[1] == 'log':
        path, why = bundle_of(argv[2])
        if not path:
            print('FAIL bundle         ' + why)
            return 1
        print('bundle: %s' % path)
    else:
        path = argv[2]
    rows = judge(path)
    sys.stdout.write(text(rows))
    return 1 if any(r[0] == 'FAIL' for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
