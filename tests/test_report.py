#!/usr/bin/env python3
"""report.py: a boot's results from its log and qemu.sh's record of how
it ended (LOG.end), on the guest KTAP fixtures."""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import report  # noqa: E402


class Report(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='report-')
        self.addCleanup(shutil.rmtree, self.d)

    def boot(self, fixture, end, lines=()):
        """A boot's log (FIXTURE and LINES) and its LOG.end (END, or none)."""
        log = os.path.join(self.d, 'legacy.log')
        shutil.copy(os.path.join(HERE, 'fixtures', fixture), log)
        with open(log, 'a') as f:
            f.writelines(l + '\n' for l in lines)
        if end is not None:
            with open(log + '.end', 'w') as f:
                json.dump(end, f)
        return log

    def rows(self, variant, log, steps='boot,events,dio,workload,tag-view,trace-dump'):
        return report.report(variant, 'legacy', 'legacy', steps, log)[0]

    def test_a_finished_guest_reports_its_steps_and_boot(self):
        """report: a guest that finished gives one row per step, then boot (stock: no trace checks)"""
        rows = self.rows('stock', self.boot('tap-real.log', {'rc': 0, 'how': 'finished', 'detail': '', 'again': ''}))
        self.assertEqual([n for _, n, _ in rows],
                         ['kernel-identity', 'iommu', 'events', 'dio', 'workload', 'tag-view', 'trace-dump', 'boot'])
        self.assertEqual(rows[-1][0], 'PASS')

    def test_a_timeout_is_a_failed_boot(self):
        """report: a boot qemu.sh killed at its timeout fails, saying so, and lists only failures"""
        rows = self.rows('stock', self.boot('tap-real.log', {'rc': 124, 'how': 'timeout', 'again': '',
                                                              'detail': 'still running after 1200s'}))
        boot = [r for r in rows if r[1] == 'boot']
        self.assertEqual(boot[0][0], 'FAIL')
        self.assertIn('guest still running after 1200s, killed', boot[0][2])
        self.assertEqual([r for r in rows if r[0] == 'PASS'], [])

    def test_no_record_of_the_end_is_a_failed_boot(self):
        """report: a log without qemu.sh's LOG.end fails the boot (qemu.sh did not finish)"""
        rows = self.rows('stock', self.boot('tap-real.log', None))
        self.assertIn(('FAIL', 'boot'), [(s, n) for s, n, _ in rows])

    def test_a_skip_on_the_series_kernel_is_a_failure(self):
        """report: a step skipped on the series' kernel checked nothing: FAIL"""
        log = self.boot('tap-real.log', {'rc': 0, 'how': 'finished', 'detail': '', 'again': ''})
        with open(log) as f:
            text = f.read().replace('ok 2 events # cache_tag', 'ok 2 events # SKIP cache_tag')
        with open(log, 'w') as f:
            f.write(text)
        rows = self.rows('series', log)
        self.assertIn('skipped on the series kernel', dict((n, d) for _, n, d in rows)['events'])
        self.assertEqual(dict((n, s) for s, n, _ in rows)['events'], 'FAIL')

    def test_the_record_is_written_beside_the_log(self):
        """report: LOG.json holds how the boot ended and every result row"""
        log = self.boot('tap-real.log', {'rc': 0, 'how': 'finished', 'detail': '', 'again': ''})
        sys.stdout, out = open(os.devnull, 'w'), sys.stdout
        try:
            report.main('stock', 'legacy', 'legacy,stock', 'boot,events,dio,workload,tag-view,trace-dump', log)
        finally:
            sys.stdout.close()
            sys.stdout = out
        with open(log + '.json') as f:
            rec = json.load(f)
        self.assertEqual(rec['ended']['how'], 'finished')
        self.assertTrue(rec['guest']['done'])
        self.assertEqual(rec['results'][-1]['name'], 'boot')


class Record(unittest.TestCase):
    """The boot's record as the checks that compare boots read it
    (vtdlog.py counts, batching, ktap, kunit-console on LOG.json): the
    same answers as from the log, and a record without them refused."""
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='record-')
        self.addCleanup(shutil.rmtree, self.d)

    def recorded(self, fixture, variant='stock'):
        """FIXTURE (a fixture's name, or a path in the test's directory) as
        a finished boot's log, and its record, as report.py
        writes it."""
        log = os.path.join(self.d, os.path.basename(fixture))
        if not os.path.isabs(fixture):
            shutil.copy(os.path.join(HERE, 'fixtures', fixture), log)
        with open(log + '.end', 'w') as f:
            json.dump({'rc': 0, 'how': 'finished', 'detail': '', 'again': ''}, f)
        sys.stdout, out = open(os.devnull, 'w'), sys.stdout
        try:
            report.main(variant, 'legacy', 'legacy', 'boot,workload', log)
        finally:
            sys.stdout.close()
            sys.stdout = out
        return log

    def vtdlog(self, *args):
        import subprocess
        return subprocess.run([sys.executable, os.path.join(HERE, '..', 'scripts', 'vtdlog.py')] + list(args),
                              capture_output=True, text=True)

    def same(self, *args):
        """vtdlog.py ARGS on the logs and on their records: one answer."""
        logs = self.vtdlog(*args)
        recs = self.vtdlog(*[a + '.json' if a.endswith('.log') else a for a in args])
        self.assertEqual((recs.returncode, recs.stdout), (logs.returncode, logs.stdout))
        self.assertNotEqual(logs.stdout, '')
        return recs.stdout

    def test_counts_from_the_record(self):
        """record: the workload's counts and the batching verdict read from LOG.json are the log's"""
        series, stock = self.recorded('counts-series.log'), self.recorded('counts-stock.log')
        self.same('counts', series, 'workload')
        self.same('counts', stock)
        out = self.same('batching', series, stock)
        self.assertIn('PASS\tbatching\t', out)

    def test_the_guests_ktap_from_the_record(self):
        """record: the guest's KTAP (its @@VTD lines, the selftest nested) read from LOG.json is the log's"""
        out = self.same('ktap', self.recorded('kst-real.log', 'series'))
        self.assertIn('\n    ok ', out)

    def test_kunit_console_from_the_record(self):
        """record: the KUnit console lines read from LOG.json are the log's"""
        out = self.same('kunit-console', self.recorded('controls-kunit-real.log', 'series'))
        self.assertIn('KTAP version', out)

    def test_a_boot_without_kunit_records_no_kunit_lines(self):
        """record: a boot where KUnit printed nothing records no KUnit lines, and no trace dump in their place"""
        log = self.recorded('order-real.log', 'series')
        with open(log + '.json') as f:
            rec = json.load(f)
        self.assertEqual(rec['console']['kunit'], [])
        self.assertFalse(any(l.startswith('@@TRACE') for l in rec['console']['ktap']))

    def test_the_kunit_lines_leave_the_trace_dump_out(self):
        """record: a boot that ran KUnit and dumped its trace records the KUnit lines without the dump"""
        with open(os.path.join(self.d, 'kunit-and-trace.log'), 'w') as out:
            for name in ('controls-kunit-real.log', 'order-real.log'):
                with open(os.path.join(HERE, 'fixtures', name)) as f:
                    out.write(f.read())
        log = self.recorded(os.path.join(self.d, 'kunit-and-trace.log'), 'series')
        with open(log + '.json') as f:
            kunit = json.load(f)['console']['kunit']
        self.assertTrue(any('KTAP version' in l for l in kunit))
        self.assertEqual([l for l in kunit if 'cache_tag_' in l or l.startswith('@@TRACE')], [])
        with open(log) as f:
            self.assertIn('@@TRACE', f.read())

    def test_a_record_without_counts_is_refused(self):
        """record: tripped by a record of a boot that left no log (no counts): batching exits 1, saying so"""
        series = self.recorded('counts-series.log')
        with open(os.path.join(self.d, 'none.log.json'), 'w') as f:
            json.dump({'ended': {'rc': None}}, f)
        got = self.vtdlog('batching', series + '.json', os.path.join(self.d, 'none.log.json'))
        self.assertEqual(got.returncode, 1)
        self.assertEqual(got.stdout, '')
        self.assertIn('has no counts', got.stderr)


class Options(unittest.TestCase):
    """report.py's options: the sanitizers check (syms=, tools=) run on
    the log it has read, as vtdlog.py sanitizers runs it on its own."""
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='options-')
        self.addCleanup(shutil.rmtree, self.d)

    def run_report(self, fixture, *opts):
        import subprocess
        log = os.path.join(self.d, 'legacy-ats.log')
        if fixture:
            shutil.copy(os.path.join(HERE, 'fixtures', fixture), log)
            with open(log + '.end', 'w') as f:
                json.dump({'rc': 0, 'how': 'finished', 'detail': '', 'again': ''}, f)
        out = subprocess.run([sys.executable, os.path.join(HERE, '..', 'scripts', 'report.py'), 'debug', 'legacy-ats',
                              'legacy-ats,debug', 'boot,kmemleak', log] + list(opts), capture_output=True, text=True)
        return out, [l.split('\t') for l in out.stdout.splitlines()]

    def sanitizers_row(self, fixture):
        _, rows = self.run_report(fixture, 'syms=' + os.path.join(HERE, 'fixtures', 'sanitizers-iommu-syms'),
                                  'tools=kasan,kmemleak')
        got = [r for r in rows if r[1] == 'sanitizers']
        self.assertEqual(len(got), 1, rows)
        return got[0]

    def test_the_sanitizers_check_passes_a_real_debug_run(self):
        """report syms=: the debug kernel's real run passes the sanitizers check, tagged as the boot"""
        st, _, tag, det = self.sanitizers_row('sanitizers-real.log')
        self.assertEqual((st, tag), ('PASS', 'legacy-ats,debug'))
        self.assertIn('KASAN on', det)

    def test_the_sanitizers_check_fails_a_leaked_tag(self):
        """report syms=: tripped by kmemleak's object allocated through drivers/iommu"""
        st, _, _, det = self.sanitizers_row('sanitizers-leak.log')
        self.assertEqual(st, 'FAIL')
        self.assertIn('kmemleak: object', det)

    def test_no_log_fails_the_checks_asked_for(self):
        """report syms= soak=: a boot that left no log fails the sanitizers check and the soak figures"""
        _, rows = self.run_report(None, 'syms=/nonexistent', 'soak=1,2,3')
        self.assertIn(['FAIL', 'sanitizers'], [r[:2] for r in rows])
        self.assertIn(['FAIL', 'soak-figures'], [r[:2] for r in rows])

    def test_an_unknown_option_is_refused(self):
        """report: tripped by an option it does not know (a typo would check nothing)"""
        out, rows = self.run_report('sanitizers-real.log', 'sym=x')
        self.assertNotEqual(out.returncode, 0)
        self.assertEqual(rows, [])
        self.assertIn('unknown option sym=x', out.stderr)


class HotplugHost(unittest.TestCase):
    def test_rounds_summarised(self):
        """report: QEMU's side of the hot-plug rounds, the slowest, the repeats, the missing events and a stuck one"""
        d = tempfile.mkdtemp(prefix='report-')
        self.addCleanup(shutil.rmtree, d)
        log = os.path.join(d, 'x.log')
        with open(log + '.hotplug', 'w') as f:
            f.write('round 1: DEVICE_DELETED 2.3s after device_del, sent 1 time(s)\n'
                    'round 2: DEVICE_DELETED 31.5s after device_del, sent 3 time(s)\n'
                    'round 3: vblk1 gone without DEVICE_DELETED 16.0s after device_del, sent 2 time(s)\n'
                    'round 4: vblk1 still there 121.0s after device_del, sent 9 time(s); no DEVICE_DELETED\n')
        self.assertEqual(report.hotplug_host(log),
                         'QEMU: slowest removal 121.0 s (round 4), device_del sent again in 3 round(s), '
                         '1 removal(s) without DEVICE_DELETED, never removed: round 4')

    def test_nothing_recorded(self):
        """report: no LOG.hotplug says so"""
        self.assertIn("QEMU's side not recorded", report.hotplug_host('/nonexistent/x.log'))


if __name__ == '__main__':
    unittest.main()
