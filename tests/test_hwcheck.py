"""make hwcheck: its judge (scripts/hwcheck.py) on bundles that the
collector (scripts/hwcollect.sh) wrote in a QEMU guest, real and doctored
(fixtures/README.md), and the collector's parts that need no VT-d.

Each doctored bundle must fail the check its change is aimed at; the
real one must pass every check, so that a judge that rejects everything
fails too.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, '..')
sys.path.insert(0, os.path.join(TOP, 'scripts'))
import hwcheck  # noqa: E402

COLLECT = os.path.join(TOP, 'scripts', 'hwcollect.sh')


def fx(name):
    return os.path.join(HERE, 'fixtures', name)


def read(path):
    with open(path) as f:
        return f.read()


def results(path):
    return {n: (s, d) for s, n, d in hwcheck.judge(path)}


class Judge(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='hwcheck-')
        self.addCleanup(shutil.rmtree, self.d)

    def changed(self, old, new):
        """The real bundle with the line OLD (a regular expression) made NEW."""
        text = read(fx('hwcheck-real.txt'))
        out, n = re.subn(old, new, text, count=1, flags=re.M)
        self.assertEqual(n, 1, old)
        path = os.path.join(self.d, 'bundle.txt')
        with open(path, 'w') as f:
            f.write(out)
        return path

    def fails(self, path, check, why):
        got = results(path)
        self.assertEqual(got[check][0], 'FAIL', got[check])
        self.assertIn(why, got[check][1])
        return got

    def test_a_real_bundle_passes(self):
        """hwcheck: a bundle collected in a guest, its disk rebound, passes workload, trace-check, tags-vs-trace and attach-order"""
        got = results(fx('hwcheck-real.txt'))
        self.assertEqual(sorted(got), ['attach-order', 'tags-vs-trace', 'trace-check', 'workload'])
        self.assertEqual({n: s for n, (s, _) in got.items() if s != 'PASS'}, {})

    def test_a_view_that_disagrees_with_the_replay_fails(self):
        """hwcheck tags-vs-trace: tripped by a view after the workload with one reference more than seed + replay"""
        self.fails(fx('hwcheck-view-ref-off.txt'), 'tags-vs-trace', 'debugfs says ref')

    def test_a_flush_of_an_unknown_tag_fails(self):
        """hwcheck trace-check: tripped by a flush of a tag neither the seed nor the replay knows"""
        self.fails(fx('hwcheck-flush-unknown.txt'), 'trace-check', 'flush of a tag that is not assigned')

    def test_an_unbalanced_unassign_fails(self):
        """hwcheck trace-check: tripped by the rebind's first unassign twice over"""
        got = self.fails(fx('hwcheck-unbalanced.txt'), 'trace-check', 'unassign without assign')
        self.assertEqual(got['tags-vs-trace'][0], 'FAIL')

    def test_the_replay_starts_from_the_seed(self):
        """hwcheck: the real bundle's trace, replayed from nothing as a trace from boot is, breaks the rules: the seed balances it"""
        import tracerules
        self.assertNotEqual(tracerules.check(fx('hwcheck-real.txt'))[0], [])
        self.assertNotEqual(tracerules.tags(fx('hwcheck-real.txt'))[0], [])

    def test_a_tag_changed_while_the_seed_was_read_fails(self):
        """hwcheck tags-vs-trace: tripped by an unassign between the seed view's markers"""
        self.fails(fx('hwcheck-seed-moving.txt'), 'tags-vs-trace', 'changed while the seed view was read')

    def test_ats_disabled_before_the_teardown_fails(self):
        """hwcheck attach-order: tripped by the rebind's ATS disable moved before its entry's teardown (rule (a))"""
        self.fails(fx('hwcheck-ats-first.txt'), 'attach-order', 'ATS disabled before the entry teardown')

    def test_a_rebind_without_probe_events_fails(self):
        """hwcheck attach-order: a rebind traced without the kprobe events checked nothing: FAIL"""
        self.fails(fx('hwcheck-no-probes.txt'), 'attach-order', 'nothing was checked')

    def test_a_trace_without_events_fails(self):
        """hwcheck: a trace with no cache_tag events checked nothing: trace-check and tags-vs-trace FAIL"""
        got = self.fails(fx('hwcheck-no-events.txt'), 'trace-check', 'nothing was checked')
        self.assertEqual(got['tags-vs-trace'][0], 'FAIL')

    def test_a_stock_kernel_fails_saying_so(self):
        """hwcheck: a kernel without the cache_tag events (stock 6.1) fails one check, saying it has no VT-d cache tags"""
        got = hwcheck.judge(fx('hwcheck-stock.txt'))
        self.assertEqual([(s, n) for s, n, _ in got], [('FAIL', 'events')])
        self.assertIn('has no VT-d cache tags', got[0][2])

    def test_lost_events_fail(self):
        """hwcheck trace-check: tripped by a trace whose buffer overran"""
        self.fails(self.changed(r'^@@INFO trace lost 0$', '@@INFO trace lost 12'), 'trace-check', 'lost 12 events')

    def test_a_failed_workload_fails(self):
        """hwcheck workload: tripped by dd exiting 1"""
        self.fails(self.changed(r'^@@INFO workload rc=0:', '@@INFO workload rc=1:'), 'workload', 'rc=1')

    def test_a_refused_rebind_fails(self):
        """hwcheck attach-order: a rebind asked for but refused (a group of two devices) is a FAIL"""
        self.fails(self.changed(r'^@@INFO rebind done:.*$', '@@INFO rebind refused: group 3 has 2 devices'),
                   'attach-order', 'rebind refused')

    def test_no_rebind_asked_is_a_skip(self):
        """hwcheck attach-order: without REBIND=1 it is a SKIP, not a PASS; the other checks still run"""
        got = results(self.changed(r'^@@INFO rebind done:.*$', '@@INFO rebind not asked (REBIND=1 not given)'))
        self.assertEqual(got['attach-order'][0], 'SKIP')
        self.assertEqual(got['trace-check'][0], 'PASS')

    def test_the_guest_log_gives_the_bundle(self):
        """hwcheck: report.py's rows come from the bundle a guest's log carries (gzip, base64); none is a FAIL"""
        import base64
        import gzip
        with open(fx('hwcheck-real.txt'), 'rb') as f:
            data = base64.encodebytes(gzip.compress(f.read())).decode()
        log = os.path.join(self.d, 'lazy.log')
        with open(log, 'w') as f:
            f.write('@@VTD ok 5 workload # 256 x 4 KiB\n@@HWCHECK-GZ-BEGIN\n%s@@HWCHECK-GZ-END\n' % data)
        rows = hwcheck.guest_rows(log)
        self.assertEqual(sorted((s, n) for s, n, _ in rows),
                         [('PASS', 'hwcheck:' + n) for n in ('attach-order', 'tags-vs-trace', 'trace-check', 'workload')])
        with open(log, 'w') as f:
            f.write('@@VTD ok 5 workload # 256 x 4 KiB\n')
        self.assertEqual([(s, n) for s, n, _ in hwcheck.guest_rows(log)], [('FAIL', 'hwcheck:bundle')])


def btf(*structs):
    """A BTF blob: an int, then each (name, kflag, [(member, bit offset)])
    as a struct of ints."""
    strs, types = b'\0', b''

    def name(s):
        nonlocal strs
        strs += s.encode() + b'\0'
        return len(strs) - len(s) - 1
    types += struct.pack('<IIII', name('int'), 1 << 24, 4, 32)
    for sname, kflag, members in structs:
        types += struct.pack('<III', name(sname), (kflag << 31) | (4 << 24) | len(members), 1024)
        for m, off in members:
            types += struct.pack('<III', name(m), 1, off)
    return struct.pack('<HBBIIIII', 0xeb9f, 1, 0, 24, 0, len(types), len(types), len(strs)) + types + strs


class Collector(unittest.TestCase):
    def test_btf_gives_a_member_offset(self):
        """hwcheck: struct pci_dev's dev offset read from BTF (bit offsets, bitfield-encoded ones too)"""
        path = os.path.join(tempfile.mkdtemp(prefix='btf-'), 'vmlinux')
        self.addCleanup(shutil.rmtree, os.path.dirname(path))
        with open(path, 'wb') as f:
            f.write(btf(('device', 0, [('kobj', 0)]), ('pci_dev', 1, [('bus', 16 * 8), ('dev', (3 << 24) | 176 * 8)])))
        self.assertEqual(hwcheck.btf_offset(path, 'pci_dev', 'dev'), 176)
        self.assertEqual(hwcheck.btf_offset(path, 'pci_dev', 'bus'), 16)
        self.assertIsNone(hwcheck.btf_offset(path, 'pci_dev', 'nope'))
        self.assertIsNone(hwcheck.btf_offset(COLLECT, 'pci_dev', 'dev'))

    def test_the_probes_are_the_harness_own(self):
        """hwcheck: the collector's kprobe events are build.sh's (the attach-order check's), the offset aside"""
        build = read(os.path.join(TOP, 'scripts', 'build.sh'))
        ats = re.search(r'^\s*local ats=(".*")$', build, re.M).group(1)
        block = re.search(r"^\s*printf '%s;' \\\n(.*?)\s*\\\s*\| sed", build, re.M | re.S).group(1)
        out = subprocess.run(['bash', '-c', "off=123; ats=%s; printf '%%s;' %s" % (ats, block)],
                             capture_output=True, text=True, check=True).stdout
        harness = [d.replace(',', ' ') for d in out.split(';') if d]
        func = re.search(r'^probe_defs\(\) \{\n.*?^\}\n', read(COLLECT), re.M | re.S).group(0)
        out = subprocess.run(['sh', '-c', func + 'probe_defs 123'], capture_output=True, text=True, check=True).stdout
        self.assertEqual(len(harness), 8)
        self.assertEqual(out.splitlines(), harness)

    def test_the_disk_under_root_is_found_with_its_mounts(self):
        """hwcheck: the collector finds the disk under / and its PCI device, and finds that device in use, mounted (REBIND=1's refusal)"""
        text = read(COLLECT)
        defs = text[:text.index('\ncleanup() {')]
        out = subprocess.run(['sh', '-c', defs + '\nr=$(mount_blk /); b=$(blk_pci "$r"); echo "$r|$b|$(in_use "$b" | tr "\\n" ";")"'],
                             capture_output=True, text=True, check=True).stdout.strip()
        disk, bdf, used = out.split('|')
        if not bdf:
            self.skipTest('/ is on no PCI block device here (%s)' % (disk or 'no block device'))
        self.assertIn('%s: mounted' % disk, used.split(';'))

    def test_the_collector_parses_under_busybox_and_dash(self):
        """hwcheck: scripts/hwcollect.sh parses as a POSIX script (busybox sh -n, dash -n)"""
        shells = [s for s in (['busybox', 'sh'], ['dash']) if shutil.which(s[0])]
        if not shells:
            self.skipTest('neither busybox nor dash on this machine')
        for sh in shells:
            self.assertEqual(subprocess.run(sh + ['-n', COLLECT], capture_output=True).returncode, 0, sh)


if __name__ == '__main__':
    unittest.main()
