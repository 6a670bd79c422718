#!/usr/bin/env python3
"""A negative control's verdict, from its boot's log read once.

usage: controls.py LOG EXPECT [KEY=VALUE ...]

EXPECT is the plan's expectation of the boot (scripts/plan.tsv), whose
first word names the control ("mutant-vfio: ..."). The keys:
  mutant=NAME    the mutant (the result's tag is PROFILE,NAME)
  profile=NAME   the boot's profile
  failed=FILE    the mutant kernel did not build: FILE says why
  syms=FILE      the mutant's drivers/iommu functions (mutant-sanitizer,
                 mutant-kcsan)
  vmlinux=FILE, lines=FILE  the mutant's vmlinux and the lines of the
                 functions its commit changes (mutant-kcsan)
  kunit=FILE     the tree's kunit.py, for the boot's KTAP (mutant-iqe,
                 mutant-ite, mutant-rcu)
  case=SUITE.CASE  the KUnit case the row filters for (mutant-rcu)

Prints one or two result lines, STATUS<TAB>name<TAB>TAG<TAB>detail, as
report.py does, and adds them to the boot's record, LOG.json. Each
control PASSes only when its check rejects the boot, and for the reason
the mutant was made for. Standard library only.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hang import hang  # noqa: E402
from logread import console, kselftest, kunit_console, tap  # noqa: E402
from qemucounts import iqe_matrix, ite_matrix, realflush  # noqa: E402
from report import ended  # noqa: E402
from sanitizers import SourceLines, faults, sanitizers  # noqa: E402
from tracerules import order  # noqa: E402

# QEMU's virtio stops a device that reads its ring through a stale
# translation ("virtio: zero sized buffers are not allowed", "Guest says
# index N is available"); the guest's I/O then never completes.
VIRTIO_BROKEN = re.compile(r'qemu-system-x86_64: (virtio: .*|Guest says index .*)$')
STALE = re.compile(r'stale_iotlb_oracle:(\d+) remap cycles, (\d+) stale reads')


def ran(log):
    """Why the boot has nothing to judge, or None: no log, or killed."""
    if not os.path.exists(log) or os.path.getsize(log) == 0:
        return 'the mutant guest did not run: %s' % log
    if ended(log).get('rc') == 124:
        return 'the mutant guest hung: %s' % log
    return None


def mutant_vfio(log, opt):
    """The stale-IOTLB oracle must fail, having read stale data; on
    skip-iotlb-sync-flush the selftest's trace-coverage test too."""
    why = ran(log)
    if why:
        return [('FAIL', 'control:mutant-oracle', why)]
    kst = {n: s for s, n, _ in kselftest(log)}
    m = next((m for m in map(STALE.search, console(log)) if m), None)
    oracle = kst.get('vfio_edu.stale_iotlb_oracle')
    out = []
    if oracle == 'FAIL' and m and int(m.group(2)) > 0:
        out.append(('PASS', 'control:mutant-oracle', 'tripped: the stale-IOTLB oracle read %s of %s cycles stale and failed'
                    % (m.group(2), m.group(1))))
    else:
        out.append(('FAIL', 'control:mutant-oracle', "the oracle did not fail on the mutant (result %s, stale reads '%s'): %s"
                    % (oracle or 'none', '%s of %s' % (m.group(2), m.group(1)) if m else 'none', log)))
    # The trace test sees flush events, which drop-piotlb still fires.
    if opt.get('mutant') == 'skip-iotlb-sync-flush':
        trace = kst.get('vfio_edu.unmap_is_flushed_on_the_domain_tags')
        out.append(('PASS', 'control:mutant-trace', "tripped: the selftest's trace-coverage test failed on the mutant")
                   if trace == 'FAIL' else
                   ('FAIL', 'control:mutant-trace', 'the trace-coverage test did not fail on the mutant (result %s): %s'
                    % (trace or 'none', log)))
    return out


def mutant_oops(log, opt):
    """The fault check must reject the guest, for a KASAN null-ptr-deref
    with intel_iommu_release_device() on the stack."""
    name = 'control:mutant-oops'
    why = ran(log)
    if why:
        return [('FAIL', name, why)]
    bad = faults(log)
    if not bad:
        return [('FAIL', name, 'the fault check accepted the mutant: %s' % log)]
    first = ('%s\t%s' % bad[0])[:150]
    on = hit = None
    for line in console(log):
        if 'KASAN: null-ptr-deref' in line:
            on = line[line.index('KASAN: null-ptr-deref'):][:80]
        elif on and 'intel_iommu_release_device' in line:
            hit = on
            break
        elif 'Kernel panic' in line:
            on = None
    if not hit:
        return [('FAIL', name, "rejected, but not for a null dereference in intel_iommu_release_device()'s path: "
                 + first)]
    return [('PASS', name, 'tripped: %s, intel_iommu_release_device() on the stack; the fault check: %s'
             % (hit, first[:100]))]


def mutant_sanitizer(log, opt):
    """The sanitizers check must reject the guest with a violation of the
    tool the expectation names ("kmemleak lists ...": kmemleak)."""
    name, want = 'control:mutant-sanitizer', opt['expect'].split()[0]
    why = ran(log)
    if why:
        return [('FAIL', name, why)]
    bad, summary = sanitizers(log, opt['syms'])
    if not bad:
        return [('FAIL', name, 'the sanitizers check accepted the mutant: %s' % summary[:150])]
    hit = next((b for b in bad if b.startswith(want + ':')), None)
    if hit:
        return [('PASS', name, 'tripped: ' + hit)]
    return [('FAIL', name, 'rejected, but with no %s violation: %s; %s' % (want, ';'.join(bad[:3])[:300], log))]


def kunit_json(log, kunit):
    """The boot's KUnit results as kunit.py parse's JSON (written beside
    the log as LOG.kunit.json, its console lines as LOG.kunit.console),
    or None when the log has no KTAP; kunit.py's own output goes to
    LOG.kunit.txt."""
    # (Absolute: kunit.py changes directory.)
    log = os.path.abspath(log)
    base = log[:-4] if log.endswith('.log') else log
    cons, js = base + '.kunit.console', base + '.kunit.json'
    text = '\n'.join(kunit_console(log)) + '\n'
    with open(cons, 'w') as f:
        f.write(text)
    if 'KTAP version' not in text and 'TAP version 14' not in text:
        return None
    if os.path.exists(js):
        os.unlink(js)
    with open(base + '.kunit.txt', 'w') as out:
        subprocess.run([sys.executable, kunit, 'parse', '--json=' + js], input=text, text=True,
                       stdout=out, stderr=subprocess.STDOUT)
    return js


def mutant_iqe(log, opt):
    """The queue error suite, on a kernel without the fix: it must run
    and fail."""
    name = 'control:mutant-iqe'
    if not os.path.exists(log):
        return [('FAIL', name, 'the mutant guest did not run: %s' % log)]
    js = kunit_json(log, opt['kunit'])
    st, det = iqe_matrix(js) if js else ('FAIL', 'no KUnit output in %s' % log)
    if st == 'FAIL' and 'failed:' in det:
        return [('PASS', name, 'tripped: ' + det)]
    if st == 'FAIL':
        return [('FAIL', name, 'the suite did not run on the mutant: ' + det)]
    return [('FAIL', name, 'the queue error suite passed on a kernel without the fix: ' + det)]


def mutant_ite(log, opt):
    """The invalidation time-out suite, on a kernel with 6.1's handling:
    its matrix must run in full and fail."""
    name = 'control:mutant-ite'
    if not os.path.exists(log):
        return [('FAIL', name, 'the mutant guest did not run: %s' % log)]
    js = kunit_json(log, opt['kunit'])
    st, det = ite_matrix(js) if js else ('FAIL', 'no KUnit output in %s' % log)
    if st == 'FAIL' and det.startswith('failed:') and not det.startswith('failed: 0 of'):
        return [('PASS', name, 'tripped: ' + det)]
    if st == 'FAIL' and det.startswith('failed: 0 of'):
        return [('FAIL', name, "the matrix passed on 6.1's handling (other cases failed): " + det)]
    if st == 'FAIL':
        return [('FAIL', name, 'the matrix did not run to a verdict on the mutant: ' + det)]
    return [('FAIL', name, "the time-out suite passed on 6.1's handling: " + det)]


def mutant_rcu(log, opt):
    """The case the row filters for must run and fail (a SKIP, its thread
    never started, is no proof)."""
    name, case = 'control:mutant-rcu', opt.get('case', '').split('.', 1)[-1]
    what = opt['expect'].split('on a kernel that ', 1)[-1]
    if not case:
        return [('FAIL', name, 'the row filters for no KUnit case (kunit.filter_glob=SUITE.CASE): nothing to judge')]
    if not os.path.exists(log):
        return [('FAIL', name, 'the mutant guest did not run: %s' % log)]
    js = kunit_json(log, opt['kunit'])
    st = 'no KUnit results'
    if js:
        def cases(g):
            yield from g.get('test_cases', [])
            for s in g.get('sub_groups', []):
                yield from cases(s)
        try:
            found = [c['status'] for c in cases(json.load(open(js))) if c['name'] == case]
            st = found[0] if found else 'not run'
        except (OSError, ValueError):
            pass
    if st == 'FAIL':
        return [('PASS', name, 'tripped: %s failed on a kernel that %s' % (case, what))]
    if st == 'PASS':
        return [('FAIL', name, '%s passed on a kernel that %s' % (case, what))]
    return [('FAIL', name, '%s did not run to a verdict on the mutant (%s): %s' % (case, st, log))]


def mutant_order(log, opt):
    """attach-order must reject the guest, for rule (a) at every ATS
    disable. A trace without the teardown events fails as "nothing was
    checked", which is no trip."""
    name = 'control:mutant-order'
    why = ran(log)
    if why:
        return [('FAIL', name, why)]
    bad, n = order(log)
    if not bad:
        return [('FAIL', name, 'attach-order accepted a kernel that disables ATS before the teardown (%d ATS disables)'
                 % n['ats-disable'])]
    nd, na, nt = n['ats-disable'], n['disable-before-teardown'], n['teardowns']
    if nd > 0 and na == nd and nt > 0:
        return [('PASS', name, "tripped: all %d ATS disables came before their entry's teardown (rule (a); %d teardowns "
                 'traced): %s' % (nd, nt, bad[0][:100]))]
    return [('FAIL', name, 'rejected, but rule (a) caught %d of %d ATS disables (%d teardowns traced): %s'
             % (na, nd, nt, bad[0][:120]))]


def integrity(log, step, name, what, mismatch=False):
    """DMA integrity must fail: STEP not ok, or the disk's DMA broken
    outright (QEMU's virtio messages, or the guest idle with its reader in
    D state until the watchdog). With MISMATCH, only STEP failing for data
    read back that differs counts, or STEP's I/O lost (the step began and
    the guest was stopped in it). WHAT: where, for the detail."""
    end = ended(log)
    res = tap(log)[0] if os.path.exists(log) else []
    got = next((r for r in res if r[1] == step), None)
    if got and got[0] == 'FAIL' and mismatch and 'MISMATCH' not in got[2]:
        return [('FAIL', name, '%s failed, but not for data that differs: %s' % (step, got[2][:150]))]
    if got and got[0] == 'FAIL':
        return [('PASS', name, 'tripped: %s failed %s: %s' % (step, what, got[2][:110]))]
    if got:
        return [('FAIL', name, '%s did not fail on the mutant: %s: %s' % (step, got[0], log))]
    if mismatch:
        # Lost I/O: the step began and the guest was stopped in it.
        text = '\n'.join(console(log)) if os.path.exists(log) else ''
        if ('VTD-MARK begin %s' % step in text and 'VTD-MARK end %s' % step not in text
                and end.get('how') in ('timeout', 'silent')):
            return [('PASS', name, "tripped: %s's I/O never completed %s: the guest was stopped in it (%s)"
                     % (step, what, end.get('detail', end.get('how'))))]
        return [('FAIL', name, 'the mutant guest gave no %s result (exit %s): %s'
                 % (step, end.get('rc') if end.get('rc') is not None else 'none', log))]
    broken = next((m.group(0) for m in map(VIRTIO_BROKEN.search, console(log) if os.path.exists(log) else []) if m),
                  None)
    if broken:
        return [('PASS', name, "tripped: the disk's DMA broke before %s could finish (guest exit %s): %s"
                 % (step, end.get('rc') if end.get('rc') is not None else 'none', broken[len('qemu-system-x86_64: '):]))]
    if end.get('how') == 'silent':
        h = hang(log)
        if 'NMI: CPU 0 in default_idle_call' in h and re.search(r'D state: .*dmaio', h):
            idle = re.search(r'no console output for \d+s', h)
            return [('PASS', name, "tripped: the disk's I/O never completed: dmaio in D state, the guest idle until "
                     'the watchdog: ' + (idle.group(0) if idle else ''))]
    return [('FAIL', name, 'the mutant guest gave no %s result and QEMU reported no broken device (exit %s): %s'
             % (step, end.get('rc') if end.get('rc') is not None else 'none', log))]


def mutant_dio(log, opt):
    """The virtio disk's integrity (the dio step) must fail."""
    return integrity(log, 'dio', 'control:mutant-dio', 'on a first-level domain')


def mutant_drivers(log, opt):
    """The real drivers' integrity (the drivers step: NVMe, AHCI, xHCI)
    must fail: data read back differs from what was written."""
    return integrity(log, 'drivers', 'control:mutant-drivers', 'in profile %s' % opt.get('profile', '?'),
                     mismatch=True)


def mutant_pair(log, opt):
    """Two devices in one domain (the pair step, the bridge profile) must
    fail: data read back differs from what was written."""
    return integrity(log, 'pair', 'control:mutant-pair', 'with two devices in one domain', mismatch=True)


def mutant_realflush(log, opt):
    """The realflush check must reject the guest for both cases' IOVAs:
    neither invalidation reached QEMU."""
    name = 'control:mutant-realflush'
    if ended(log).get('rc') != 0:
        return [('FAIL', name, 'the mutant guest did not finish: %s' % log)]
    bad, summary = realflush(log)
    if not bad:
        return [('FAIL', name, 'the check passed on a kernel that drops submissions during KUnit cases: ' + summary)]
    if sum('no IOTLB invalidation' in b for b in bad) == 2:
        return [('PASS', name, "tripped: neither case's IOVA was invalidated (%d problems)" % len(bad))]
    return [('FAIL', name, 'rejected, but not for both missing invalidations: ' + bad[0][:150])]


def mutant_kcsan(log, opt):
    """The sanitizers check must reject the guest for a KCSAN report on
    the lines the mutant's commit changes, resolved from its vmlinux (not
    merely one with an IOMMU frame)."""
    name = 'control:mutant-kcsan'
    # (A guest killed at its limit may still have shown the race.)
    if not os.path.exists(log) or os.path.getsize(log) == 0:
        return [('FAIL', name, 'the mutant guest did not run: %s' % log)]
    if not opt.get('vmlinux') or not opt.get('lines'):
        return [('FAIL', name, 'the mutant kernel has no line tables or series lines: the check ran without them')]
    bad, summary = sanitizers(log, opt['syms'], ('kcsan',), SourceLines(opt['vmlinux'], opt['lines']))
    if not bad:
        return [('FAIL', name, 'the sanitizers check accepted the mutant: ' + summary[:150])]
    hit = next((b for b in bad if re.match(r'KCSAN:.*on lines the series changes: drivers/iommu/', b)), None)
    if hit:
        return [('PASS', name, 'tripped: ' + hit)]
    return [('FAIL', name, "rejected, but not for a KCSAN report on the series' lines: %s; %s"
             % (';'.join(bad[:3])[:300], log))]


CONTROLS = {'mutant-vfio': mutant_vfio, 'mutant-oops': mutant_oops, 'mutant-sanitizer': mutant_sanitizer,
            'mutant-iqe': mutant_iqe, 'mutant-ite': mutant_ite, 'mutant-rcu': mutant_rcu, 'mutant-order': mutant_order,
            'mutant-dio': mutant_dio, 'mutant-drivers': mutant_drivers, 'mutant-pair': mutant_pair, 'mutant-realflush': mutant_realflush, 'mutant-kcsan': mutant_kcsan}


def control(log, expect, opt):
    """The control's result rows [(status, name, detail)]."""
    kind, _, text = expect.partition(': ')
    opt = dict(opt, expect=text)
    fn = CONTROLS.get(kind)
    if not fn:
        return [('FAIL', 'plan', "the plan expects '%s', which no control of controls.py checks" % kind)]
    if opt.get('failed'):
        return [('FAIL', 'control:' + kind, 'the mutant kernel did not build: ' + opt['failed'])]
    return fn(log, opt)


def main(argv):
    if len(argv) < 3 or any('=' not in a for a in argv[3:]):
        sys.exit(__doc__)
    log, expect = argv[1], argv[2]
    opt = dict(a.split('=', 1) for a in argv[3:])
    tag = '%s,%s' % (opt.get('profile', '?'), opt.get('mutant', '?'))
    rows = control(log, expect, opt)
    rec = {'log': log, 'control': expect, 'tag': tag, 'ended': ended(log),
           'results': [dict(zip(('status', 'name', 'detail'), r)) for r in rows]}
    try:
        with open(log + '.json', 'w') as f:
            json.dump(rec, f, indent=1)
    except OSError:
        pass
    for st, name, det in rows:
        print('\t'.join((st, name, tag, det.replace('\t', ' ').replace('\n', ' '))))


if __name__ == '__main__':
    main(sys.argv)
