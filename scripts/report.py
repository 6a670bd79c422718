#!/usr/bin/env python3
"""One boot's results, from its log read once.

usage: report.py VARIANT PROFILE TAG STEPS LOG [KEY=VALUE...]

Prints the boot's result lines, STATUS<TAB>name<TAB>TAG<TAB>detail, for
test.sh's result(), and writes the boot's record beside its log,
LOG.json: how it ended (LOG.end, which qemu.sh writes), the kernel it
ran, the guest's results and every result below, and what the checks
that compare boots or parse with the tree's kunit.py read of it: QEMU's
descriptor counts per step (counts), the guest's KTAP and the KUnit
console lines (console). Every check of the boot reads the same parsed
log (logread.read_once); no other reads the log.

The results: kernel-identity (the kernel given is the kernel that ran),
the guest's own (its KTAP, the VFIO selftest nested in it as vfio:*),
boot (it finished its steps, and its log has no fault); and, on the
series' kernels (series, debug, kcsan), trace-check, tags-vs-trace,
trace-cmd-parse and perf-parse (when those steps ran), attach-order,
hwcheck:* (make hwcheck's checks of the bundle its step sent),
hotplug-tags, suspend-resume, superpage-flush (when those steps ran) and
lazy-flush-all (profile lazy). On those kernels a skipped guest step
checked nothing: FAIL. With syms=, the sanitizers check too (tools=,
vmlinux=, lines=: see vtdlog.py sanitizers); with soak=H,C,S, make
soak's figures (soak-figures, vtdlog.py soak). Standard library only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hang import hang  # noqa: E402
from hwcheck import guest_rows  # noqa: E402
from logread import guest_ktap, kernel_identity, kselftest, kunit_console, real_events, tap  # noqa: E402
from qemucounts import counts, superpage, suspend  # noqa: E402
from hang import soak  # noqa: E402
from sanitizers import SourceLines, faults, sanitizers  # noqa: E402
from tracerules import check, follow, order, tags, tools  # noqa: E402

# The kernels the trace and tag checks apply to: the series, and the
# series with sanitizers.
CHECKED = ('series', 'debug', 'kcsan')
# The disk, whose device-TLB tag the hot-plug rounds follow.
DISK = '0000:01:00.0'


def ended(log):
    """How the boot ended: qemu.sh's LOG.end ({rc, how, detail, again})."""
    try:
        with open(log + '.end') as f:
            return json.load(f)
    except (OSError, ValueError):
        return {'rc': None, 'how': 'unknown', 'again': '',
                'detail': 'no %s.end: qemu.sh did not finish' % log}


def hotplug_host(log):
    """QEMU's side of the hot-plug rounds (hotplug.py's LOG.hotplug): the
    slowest removal, the rounds whose device_del was sent again, the
    removals without DEVICE_DELETED and any that never completed."""
    try:
        with open(log + '.hotplug') as f:
            rounds = [l.split() for l in f if l.startswith('round ')]
    except OSError:
        rounds = []
    if not rounds:
        return "QEMU's side not recorded (%s.hotplug)" % log
    worst, at, again, noev, stuck = -1.0, '?', 0, 0, []
    for r in rounds:
        n = r[1].rstrip(':')
        t = next((float(w[:-1]) for w, nxt in zip(r, r[1:]) if w.endswith('s') and nxt == 'after'
                  and w[:-1].replace('.', '', 1).isdigit()), 0.0)
        if t > worst:
            worst, at = t, n
        sent = next((int(nxt) for w, nxt in zip(r, r[1:]) if w == 'sent' and nxt.isdigit()), 1)
        again += sent > 1
        noev += 'without' in r
        if 'still' in r:
            stuck.append(n)
    text = ('QEMU: slowest removal %.1f s (round %s), device_del sent again in %d round(s), '
            '%d removal(s) without DEVICE_DELETED' % (worst, at, again, noev))
    return text + (', never removed: round %s' % ', '.join(stuck) if stuck else '')


def verdict(name, bad, summary, what=None):
    """A check's violations and summary as a result: PASS with its
    summary, or FAIL with the summary (or how many WHAT) and the first."""
    if not bad:
        return 'PASS', name, summary
    return 'FAIL', name, '%s; %s' % ('%d %s' % (len(bad), what) if what else summary, bad[0][:160])


def runs(dids):
    """Domain IDs in order, a run of the same one as DIDxN."""
    out = []
    for d in dids:
        if out and out[-1][0] == d:
            out[-1][1] += 1
        else:
            out.append([d, 1])
    return ','.join(d if n == 1 else '%sx%d' % (d, n) for d, n in out)


def report(variant, profile, tag, steps, log):
    """(result rows [(status, name, detail)], the boot's record)."""
    rows = []
    end = ended(log)
    rec = {'log': log, 'variant': variant, 'profile': profile, 'tag': tag,
           'steps': steps.split(','), 'ended': end, 'results': rows}
    if not os.path.exists(log) or os.path.getsize(log) == 0:
        rows.append(('FAIL', 'boot', 'no log: the guest did not run (%s)' % log))
        return rows, rec
    again = {'qemu-abort': '; booted twice: QEMU aborted the first time on an assertion of its own (%s.qemu-abort)',
             'tcg-stall': '; booted twice: QEMU gave a vCPU no timer interrupts the first time (%s.tcg-stall)',
             }.get(end.get('again'), '')
    again = again % log if again else ''
    given, ran = kernel_identity(log)
    rec['kernel'] = {'given': given, 'ran': ran}
    if not given or not ran or given != ran:
        rows.append(('FAIL', 'kernel-identity', "given '%s', the guest ran '%s': %s"
                     % (given or 'no version read', ran or 'no Linux version line', log)))
    rec['counts'] = {step: dict(c) for step, c in counts(log).items()}
    rec['console'] = {'ktap': guest_ktap(log),
                      'kunit': kunit_console(log)}
    res, done = tap(log)
    nested = [(s, 'vfio:' + n, d) for s, n, d in kselftest(log)]
    rec['guest'] = {'done': done, 'results': res, 'nested': nested}
    rc, how = end.get('rc'), end.get('how')
    if rc == 124:
        # What the guest got to before it was killed, then its failures so
        # far (its plan fails: it did not finish).
        if how == 'stalled':
            rows.append(('FAIL', 'boot', 'QEMU gave a vCPU no timer interrupts in both boots, stopped: %s: %s, %s.tcg-stall'
                         % (end.get('detail', '')[:200], log, log)))
        elif how == 'silent':
            rows.append(('FAIL', 'boot', 'guest hung, killed: %s: %s' % (hang(log)[:400], log)))
        else:
            rows.append(('FAIL', 'boot', 'guest %s, killed: %s: %s' % (end.get('detail', 'timed out'), hang(log)[:300], log)))
        rows += [r for r in res + nested if r[0] == 'FAIL']
        return rows, rec
    # The selftest's results right after the step that ran it.
    at = next((i + 1 for i, r in enumerate(res) if r[1] == 'vfio'), len(res))
    for st, name, det in res[:at] + nested + res[at:]:
        if name == 'hotplug':
            det = '%s; %s' % (det, hotplug_host(log))
        if st == 'SKIP' and variant in CHECKED:
            st, det = 'FAIL', 'skipped on the series kernel, so nothing was checked: ' + det
        rows.append((st, name, det))
    # (The kcsan kernel's KCSAN reports are the sanitizers check's: it
    # fails those that involve drivers/iommu.)
    bad = faults(log, ('KCSAN',) if variant == 'kcsan' else ())
    rec['faults'] = bad
    if not done:
        rows.append(('FAIL', 'boot', 'the guest did not finish its steps (%s, exit %s): %s' % (how, rc, log)))
    elif rc != 0:
        rows.append(('FAIL', 'boot', 'the guest finished, but qemu.sh exited %s: %s' % (rc, log)))
    elif bad:
        rows.append(('FAIL', 'boot', '%s (%d lines): %s' % (('%s\t%s' % bad[0])[:120], len(bad), log)))
    else:
        rows.append(('PASS', 'boot', 'booted %s, the kernel given; ran %s; no WARNING, BUG or unannounced DMAR fault%s'
                     % ((ran or '?').split(' (vtd@cache-tags) ')[-1], steps, again)))
    if variant not in CHECKED:
        return rows, rec
    bad, n = check(log)
    rows.append(verdict('trace-check', bad, 'checked %d events, %d violations' % (n, len(bad))))
    # The debugfs view against the trace replay, at the end of every
    # profile: after the hot-plug rounds and domain switches, where run.
    bad, summary = tags(log)
    rows.append(verdict('tags-vs-trace', bad, summary, 'disagreements'))
    # Users' tools read the events: trace-cmd (libtraceevent) and perf.
    for tool in ('trace-cmd', 'perf'):
        if tool in rec['steps']:
            bad, seen = tools(log, tool)
            rows.append(verdict(tool + '-parse', bad, '%s read %d cache_tag events (%s), all parsed' % (
                tool, sum(seen.values()), ', '.join('%s %d' % kv for kv in sorted(seen.items()))), 'problems'))
    bad, n = order(log)
    rows.append(verdict('attach-order', bad,
                        '%d entries went live and %d were torn down; ATS enabled %d and disabled %d times, '
                        "%d disables after their entry's teardown and device-TLB untag; %d violations"
                        % (n['entries'], n['teardowns'], n['ats-enable'], n['ats-disable'],
                           n['teardowns-checked'] - n['untag-before-teardown'], len(bad))))
    if 'hotplug' in rec['steps']:
        # The disk's device-TLB tag: assigned at boot and on each re-add,
        # unassigned on each removal and when the domain switches.
        a, u, dids, live = follow(log, DISK)
        text = "disk's device-TLB tag: %d assigns, %d unassigns, %d live%s (dids=%s)" % (
            a, u, live, ' at the end' if live == 1 else '', runs(dids))
        rows.append(('PASS' if live == 1 and u >= 5 and a - u == 1 else 'FAIL', 'hotplug-tags', text))
    if 'suspend' in rec['steps']:
        # Suspend to RAM: the queue re-initialised under live tags.
        rows.append(verdict('suspend-resume', *suspend(log), what='problems'))
    if 'superpage' in rec['steps']:
        # 2 MiB superpages on a first-level domain, as QEMU saw them unmapped.
        rows.append(verdict('superpage-flush', *superpage(log), what='problems'))
    if profile == 'lazy':
        evs, _ = real_events(log)
        n = sum(1 for e in evs if e[0] == 'cache_tag_flush_all')
        rows.append(('PASS', 'lazy-flush-all', '%d cache_tag_flush_all events from the flush queue' % n) if n else
                    ('FAIL', 'lazy-flush-all', 'lazy mode produced no cache_tag_flush_all'))
    if 'hwcheck' in rec['steps']:
        # make hwcheck's collector ran in the guest: its bundle, judged by
        # make hwcheck's judge (hwcheck.py). Last: it reads another file.
        rows += guest_rows(log)
    return rows, rec


def extra(log, opts):
    """The rows the options ask for: the sanitizers check (syms=), make
    soak's figures (soak=H,C,S). On a boot that left no log, a FAIL each."""
    rows = []
    have = os.path.exists(log) and os.path.getsize(log) > 0
    if 'syms' in opts:
        if not have:
            rows.append(('FAIL', 'sanitizers', 'no log: nothing was checked (%s)' % log))
        else:
            src = SourceLines(opts['vmlinux'], opts['lines']) if 'vmlinux' in opts and 'lines' in opts else None
            tools = tuple(opts.get('tools', 'kasan,kmemleak').split(','))
            rows.append(verdict('sanitizers', *sanitizers(log, opts['syms'], tools, src), what='problems'))
    if 'soak' in opts:
        if not have:
            rows.append(('FAIL', 'soak-figures', 'no log: the soak guest did not run (%s)' % log))
        else:
            rows += [(st, 'soak-figures', text) for st, text in soak(log, *map(int, opts['soak'].split(',')))]
    return rows


def main(variant, profile, tag, steps, log, *args):
    bad = [a for a in args if '=' not in a or a.split('=', 1)[0] not in OPTIONS]
    if bad:
        sys.exit('report.py: unknown option %s (%s)' % (bad[0], ', '.join(OPTIONS)))
    opts = dict(a.split('=', 1) for a in args)
    rows, rec = report(variant, profile, tag, steps, log)
    rows += extra(log, opts)
    rec['results'] = [dict(zip(('status', 'name', 'detail'), r)) for r in rows]
    try:
        with open(log + '.json', 'w') as f:
            json.dump(rec, f, indent=1)
    except OSError as e:
        rows.append(('FAIL', 'report', 'could not write the record %s.json: %s' % (log, e)))
    for st, name, det in rows:
        print('\t'.join((st, name, tag, det.replace('\t', ' ').replace('\n', ' '))))


OPTIONS = ('syms', 'tools', 'vmlinux', 'lines', 'soak')

if __name__ == '__main__':
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
