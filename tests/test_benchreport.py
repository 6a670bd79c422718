"""Negative controls for make bench's report (scripts/benchreport.py).

The timed boots are written here, as the guest prints them, with latencies
the test chooses; the expected medians and ratios are worked out in the
test from those choices, not read back from the report. The descriptor
counts use fixtures cut from a real counting boot (fixtures/bench-*): the
real one must be judged at the lower bound, the doctored one (one extra
device-TLB invalidation) above it.
"""
import os
import shutil
import statistics
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import benchreport  # noqa: E402

UNAME = {'bench-stock': '6.1.192', 'bench-series': '6.1.192', 'bench-6.12': '6.12.117'}


def domain_type(profile):
    """The line the guest prints of its benchmark device's domain."""
    return '@@INFO domain-type %s' % ('DMA-FQ' if profile.endswith('+lazy') else 'DMA')


def timed_log(d, rnd, kernel, profile, runs, uname=None, done=True, dtype=None):
    """runs: {(threads, granule): (map, unmap)}"""
    lines = ['@@VTD KTAP version 1', '@@VTD 1..2', '@@VTD ok 1 iommu # 1 IOMMU(s): dmar0',
             '@@INFO uname %s' % (uname or UNAME[kernel]), dtype or domain_type(profile)]
    for (t, g), (m, u) in sorted(runs.items()):
        lines.append('@@DMB t=%d g=%d s=3 map=%.1f map_sd=1.0 unmap=%.1f unmap_sd=2.0' % (t, g, m, u))
    lines.append('@@VTD ok 2 dmbench # %d runs' % len(runs))
    if done:
        lines.append('@@VTD-DONE')
    with open(os.path.join(d, 'r%d-%s-%s.log' % (rnd, kernel, profile)), 'w') as f:
        f.write('\n'.join(lines) + '\n')


class BenchDir:
    """A bench log directory of the test's own, with the run's META."""
    META = 'profiles=legacy-ats\nrounds=3\nsecs=3\n'

    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='benchreport-')
        with open(os.path.join(self.d, 'meta'), 'w') as f:
            f.write(self.META)

    def tearDown(self):
        shutil.rmtree(self.d)


class BenchReport(BenchDir, unittest.TestCase):

    def three_rounds(self, series_unmap, stock_unmap=(10.0, 12.0, 11.0), u612_unmap=(9.0, 9.0, 9.0)):
        for r in range(3):
            timed_log(self.d, r + 1, 'bench-stock', 'legacy-ats', {(1, 1): (4.0, stock_unmap[r])})
            timed_log(self.d, r + 1, 'bench-series', 'legacy-ats', {(1, 1): (3.0, series_unmap[r])})
            timed_log(self.d, r + 1, 'bench-6.12', 'legacy-ats', {(1, 1): (3.5, u612_unmap[r])})

    def test_ratios_are_per_round(self):
        """series/stock is the median of each round's ratio, with its range"""
        series, stock = (5.0, 9.0, 5.5), (10.0, 12.0, 11.0)
        self.three_rounds(series, stock)
        timed, _, _, problems = benchreport.load(self.d)
        self.assertEqual(problems, [])
        want = [s / k for s, k in zip(series, stock)]
        got = benchreport.ratio(timed, 'bench-series', 'bench-stock', 'legacy-ats', 1, 1, 'unmap')
        self.assertAlmostEqual(got[0], statistics.median(want))
        self.assertAlmostEqual(got[1], min(want))
        self.assertAlmostEqual(got[2], max(want))

    def run_report(self):
        old = sys.argv
        sys.argv = ['benchreport.py', self.d]
        try:
            with open(os.devnull, 'w') as null:
                out, sys.stdout = sys.stdout, null
                try:
                    rc = benchreport.main()
                finally:
                    sys.stdout = out
        finally:
            sys.argv = old
        with open(os.path.join(self.d, 'bench.md')) as f:
            return rc, f.read()

    def goal(self, text, name):
        line = [l for l in text.splitlines() if name in l and l.startswith('- **')]
        self.assertEqual(len(line), 1, text)
        return line[0]

    def test_fast_series_meets_the_unmap_goal(self):
        """unmap at 0.5 of stock: the device-TLB unmap goal is MET"""
        self.three_rounds((5.0, 6.0, 5.5))
        rc, text = self.run_report()
        self.assertIn('**MET** unmap with a device TLB', self.goal(text, 'unmap with a device TLB'))

    def test_slow_series_misses_the_unmap_goal(self):
        """doctored: unmap at 0.9 of stock: the goal is MISSED, by how much"""
        self.three_rounds((9.0, 10.8, 9.9))
        rc, text = self.run_report()
        line = self.goal(text, 'unmap with a device TLB')
        self.assertIn('**MISSED**', line)
        self.assertIn('0.90', line)

    def test_series_slower_than_612_misses(self):
        """doctored: the series' unmap above 6.12's: series/6.12 MISSED"""
        self.three_rounds((9.5, 9.5, 9.5), u612_unmap=(9.0, 9.0, 9.0))
        rc, text = self.run_report()
        self.assertIn('**MISSED**', self.goal(text, 'series/6.12 <= 1.00'))

    def test_missing_kernel_is_not_measured(self):
        """no 6.12 boots: its goal is NOT MEASURED, never MET"""
        for r in range(3):
            timed_log(self.d, r + 1, 'bench-stock', 'legacy-ats', {(1, 1): (4.0, 10.0)})
            timed_log(self.d, r + 1, 'bench-series', 'legacy-ats', {(1, 1): (3.0, 5.0)})
        rc, text = self.run_report()
        self.assertIn('**NOT MEASURED**', self.goal(text, 'series/6.12 <= 1.00'))
        self.assertIn('**NOT MEASURED**', self.goal(text, 'descriptors'))

    def test_wrong_kernel_is_a_problem(self):
        """doctored: the 6.12 boot ran a 6.1 kernel: listed, not counted, exit 1"""
        self.three_rounds((5.0, 6.0, 5.5))
        timed_log(self.d, 2, 'bench-6.12', 'legacy-ats', {(1, 1): (3.5, 1.0)}, uname='6.1.192')
        timed, _, _, problems = benchreport.load(self.d)
        self.assertEqual(len(problems), 1)
        self.assertIn('r2-bench-6.12-legacy-ats.log', problems[0])
        self.assertEqual(sorted(timed[('bench-6.12', 'legacy-ats', 1, 1)]), [1, 3])
        rc, _ = self.run_report()
        self.assertEqual(rc, 1)

    def test_unfinished_guest_is_a_problem(self):
        """doctored: a guest that did not finish is listed"""
        self.three_rounds((5.0, 6.0, 5.5))
        timed_log(self.d, 1, 'bench-series', 'legacy-ats', {(1, 1): (3.0, 5.0)}, done=False)
        _, _, _, problems = benchreport.load(self.d)
        self.assertTrue(any('did not finish' in p for p in problems), problems)


def prof_log(d, kernel, rows, uname=None, done=True):
    """rows: [(percent, '[k]' or '[.]', symbol)], as perf report prints them"""
    lines = ['@@VTD KTAP version 1', '@@VTD 1..2', '@@VTD ok 1 iommu # 1 IOMMU(s): dmar0',
             '@@INFO uname %s' % (uname or UNAME[kernel])]
    lines += ['@@PROF     %5.2f%%  %s %s' % r for r in rows]
    lines.append('@@VTD ok 2 dmbprof # average unmap latency(us):3.6 standard deviation:1.8')
    if done:
        lines.append('@@VTD-DONE')
    with open(os.path.join(d, 'prof-%s-legacy-ats.log' % kernel), 'w') as f:
        f.write('\n'.join(lines) + '\n')


class BenchProfile(unittest.TestCase):
    """Where the samples go (guest step dmbprof): shares of the non-idle
    samples per category, worked out here from the chosen percentages."""

    def setUp(self):
        self.d = tempfile.mkdtemp(prefix='benchprof-')

    def tearDown(self):
        shutil.rmtree(self.d)

    def test_shares_of_the_non_idle_samples(self):
        """idle left out; each symbol in its category; the unlisted rest"""
        rows = [(40.0, '[k]', 'default_idle'), (10.0, '[k]', 'amd_e400_idle'),
                (20.0, '[k]', 'qi_submit_sync'), (5.0, '[k]', 'cache_tag_flush_range'),
                (10.0, '[k]', 'pfn_to_dma_pte'), (2.0, '[k]', 'intel_iommu_iova_to_phys'),
                (5.0, '[k]', 'alloc_iova_fast'), (3.0, '[k]', 'iommu_dma_map_page'),
                (2.0, '[k]', 'ktime_get'), (1.0, '[k]', 'memset_orig'), (1.0, '[k]', 'xa_load'),
                (1.0, '[.]', '__printf_fp_l')]
        prof_log(self.d, 'bench-series', rows)
        prof, problems = benchreport.load_prof(self.d)
        self.assertEqual(problems, [])
        f = prof[('bench-series', 'legacy-ats')]
        busy = 100.0 - 40.0 - 10.0
        self.assertAlmostEqual(f['busy'], busy)
        want = {'invalidation': 25.0, 'page tables': 12.0, 'IOVA': 5.0, 'DMA API, IOMMU core': 3.0,
                'benchmark, clock': 3.0, 'other kernel': 1.0, 'user space': 1.0,
                'not listed': busy - 50.0}
        for c, v in want.items():
            self.assertAlmostEqual(f['cats'][c], 100.0 * v / busy, msg=c)
        self.assertEqual(f['top'][0][1], 'qi_submit_sync')
        self.assertAlmostEqual(f['top'][0][0], 100.0 * 20.0 / busy)

    def test_no_samples_is_a_problem(self):
        """doctored: the step passed but printed no profile: listed, not shown"""
        prof_log(self.d, 'bench-6.12', [])
        prof, problems = benchreport.load_prof(self.d)
        self.assertEqual(prof, {})
        self.assertTrue(any('no profile' in p for p in problems), problems)

    def test_wrong_kernel_is_a_problem(self):
        """doctored: the 6.12 profile boot ran a 6.1 kernel"""
        prof_log(self.d, 'bench-6.12', [(50.0, '[k]', 'default_idle'), (50.0, '[k]', 'qi_submit_sync')],
                 uname='6.1.192')
        prof, problems = benchreport.load_prof(self.d)
        self.assertEqual(prof, {})
        self.assertIn('prof-bench-6.12-legacy-ats.log', problems[0])


def fixture(name):
    return os.path.join(HERE, 'fixtures', name)


class BenchCounts(unittest.TestCase):
    """Descriptors per unmap from a counting boot (fixtures cut by make.py)."""

    def counts(self, name):
        d = tempfile.mkdtemp(prefix='benchcounts-')
        try:
            # (The fixtures predate the guest's domain-type line.)
            with open(fixture(name)) as src, open(os.path.join(d, 'count-bench-series-legacy-ats.log'), 'w') as dst:
                dst.write(src.read() + domain_type('legacy-ats') + '\n')
            _, counts, _, problems = benchreport.load(d)
        finally:
            shutil.rmtree(d)
        return counts, problems

    def test_real_is_at_the_lower_bound(self):
        """real: one submission, one PSI, one device-TLB per unmap"""
        if not os.path.exists(fixture('bench-count-real.log')):
            self.skipTest('no fixture bench-count-real.log')
        counts, problems = self.counts('bench-count-real.log')
        self.assertEqual(problems, [])
        c = counts[('bench-series', 'legacy-ats', 1)]
        lb = benchreport.lower_bound('legacy-ats')
        for k in ('submissions', 'iotlb', 'devtlb'):
            self.assertAlmostEqual(c[k], lb[k], msg=k)

    def test_extra_devtlb_is_above_it(self):
        """doctored: one device-TLB descriptor more than the unmaps"""
        if not os.path.exists(fixture('bench-count-extra-devtlb.log')):
            self.skipTest('no fixture bench-count-extra-devtlb.log')
        counts, _ = self.counts('bench-count-extra-devtlb.log')
        c = counts[('bench-series', 'legacy-ats', 1)]
        self.assertGreater(c['devtlb'], benchreport.lower_bound('legacy-ats')['devtlb'])


def pair_log(d, rnd, kernel, profile, runs):
    """runs: {bs: (n, a_ns, b_ns)}: one timed boot of the pairbench step."""
    lines = ['@@VTD KTAP version 1', '@@VTD 1..2', '@@VTD ok 1 iommu # 1 IOMMU(s): dmar0',
             '@@INFO uname %s' % UNAME[kernel], domain_type(profile)]
    for bs, (n, a, b) in sorted(runs.items()):
        lines.append('@@PAIR bs=%d n=%d a_ns=%d b_ns=%d' % (bs, n, a, b))
    lines += ['@@VTD ok 2 pairbench # %d runs' % len(runs), '@@VTD-DONE']
    with open(os.path.join(d, 'pair-r%d-%s-%s.log' % (rnd, kernel, profile)), 'w') as f:
        f.write('\n'.join(lines) + '\n')


class PairAndLazy(BenchDir, unittest.TestCase):
    """Two devices in one domain (pair-*.log), and lazy-mode profiles."""
    META = 'profiles=\npair=bridge\npair_io=3,4096\nrounds=3\n'

    def rounds(self, series_ns, stock_ns=(2e9, 2e9, 2e9)):
        """4096 reads of 4 KiB on each controller; the slower reader's time
        sets the pair's throughput (the other reader takes half as long)."""
        for r in range(3):
            for k, ns in (('bench-stock', stock_ns[r]), ('bench-series', series_ns[r]), ('bench-6.12', 2e9)):
                pair_log(self.d, r + 1, k, 'bridge', {4096: (4096, ns, ns / 2)})

    def report(self):
        return BenchReport.run_report(self)

    def test_throughput_is_both_devices_over_the_slower_time(self):
        """MiB/s = both controllers' bytes over the slower reader's time, ratios per round"""
        self.rounds((1e9, 4e9, 2e9))
        timed, _, problems = benchreport.load_pair(self.d)
        self.assertEqual(problems, [])
        self.assertAlmostEqual(timed[('bench-series', 'bridge', 4096)][1], 2 * 16.0 / 1.0)
        got = benchreport.pair_ratio(timed, 'bench-series', 'bench-stock', 'bridge', 4096)
        self.assertEqual(tuple(round(x, 6) for x in got), (1.0, 0.5, 2.0))

    def test_series_as_fast_meets_the_pair_goal(self):
        """pair goal: series/stock throughput 1.00 or more in every cell: MET"""
        self.rounds((1.9e9, 2e9, 2.1e9))
        rc, text = self.report()
        self.assertEqual(rc, 0)
        self.assertIn('MET', BenchReport.goal(self, text, 'two devices in one domain'))

    def test_slower_series_misses_the_pair_goal(self):
        """pair goal: series/stock throughput at 0.80: MISSED, by 20% under"""
        self.rounds((2.5e9, 2.5e9, 2.5e9))
        _, text = self.report()
        line = BenchReport.goal(self, text, 'two devices in one domain')
        self.assertIn('MISSED', line)
        self.assertIn('at 0.80 (20% under)', line)

    def test_no_pair_figures_is_a_problem(self):
        """a pairbench boot with no @@PAIR line is a problem, not a zero"""
        pair_log(self.d, 1, 'bench-series', 'bridge', {})
        _, _, problems = benchreport.load_pair(self.d)
        self.assertEqual(len(problems), 1)
        self.assertIn('no @@PAIR figures', problems[0])

    def test_a_lazy_boot_in_strict_mode_is_a_problem(self):
        """PROFILE+lazy whose device's domain is DMA (the kernel forced strict mode) is a problem, not a lazy figure"""
        timed_log(self.d, 1, 'bench-series', 'sm-cm-ats+lazy', {(1, 1): (3.0, 5.0)}, dtype='@@INFO domain-type DMA')
        timed_log(self.d, 1, 'bench-stock', 'sm-cm-ats+lazy', {(1, 1): (3.0, 5.0)})
        _, _, _, problems = benchreport.load(self.d)
        self.assertEqual(problems, ["r1-bench-series-sm-cm-ats+lazy.log: the device's domain was DMA, not DMA-FQ"])

    def test_lazy_has_no_lower_bound(self):
        """lazy mode flushes in batches: no per-unmap lower bound, and PROFILE+lazy keeps PROFILE's ATS and caching mode"""
        self.assertIsNone(benchreport.lower_bound('legacy-ats+lazy'))
        self.assertIsNotNone(benchreport.lower_bound('legacy-ats'))
        self.assertTrue(benchreport.ats('legacy-ats+lazy'))
        self.assertTrue(benchreport.cm('sm-fl-cm-ats+lazy'))
        self.assertFalse(benchreport.cm('legacy-ats+lazy'))
