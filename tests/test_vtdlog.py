"""Negative controls for the harness's log reader (scripts/vtdlog.py).

Each fixture in fixtures/ is cut from a real guest log of make test; the
doctored ones differ from their real original by the one change their name
says (fixtures/README.md). A check that accepts a doctored log is blind:
these tests fail then. The real originals must be accepted, so that a
check that rejects everything fails too.
"""
import collections
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import vtdlog  # noqa: E402


def fx(name):
    return os.path.join(HERE, 'fixtures', name)


def violations(name):
    return vtdlog.check(fx(name))[0]


def kinds(name):
    return [what for what, _ in vtdlog.faults(fx(name))]


class TraceCheck(unittest.TestCase):
    def test_check_accepts_a_real_trace(self):
        """trace check: a real trace dump has 0 violations"""
        bad, n = vtdlog.check(fx('trace-real.log'))
        self.assertGreater(n, 10)
        self.assertEqual(bad, [])

    def test_check_rejects_a_removed_assign(self):
        """trace check: tripped by a log with one cache_tag_assign removed"""
        self.assertTrue(any('not assigned' in b or 'without assign' in b or b.startswith('ref ')
                            for b in violations('trace-assign-removed.log')))

    def test_check_rejects_a_flush_of_an_unassigned_tag(self):
        """trace check: tripped by a flush of a domain ID nobody assigned"""
        self.assertTrue(any(b.startswith('flush of a tag that is not assigned')
                            for b in violations('trace-flush-unassigned.log')))

    def test_check_rejects_a_block_that_misses_its_range(self):
        """trace check: tripped by a range flush whose block misses the range's end"""
        self.assertTrue(any(b.startswith('block does not cover')
                            for b in violations('trace-block-misses.log')))

    def test_check_rejects_a_devtlb_tag_left_for_a_removed_device(self):
        """trace check: tripped by a device-TLB tag of a device that is gone"""
        self.assertTrue(any(b.startswith('device-TLB tag left')
                            for b in violations('trace-devtlb-left.log')))

    def test_check_rejects_a_log_with_no_events(self):
        """trace check: a dump with no events is a violation, not a pass"""
        self.assertTrue(any('nothing was checked' in b for b in violations('trace-empty.log')))


class Fields(unittest.TestCase):
    def test_fields_of_the_log_class(self):
        """fields: assign, unassign, flush_all read as 'IOMMU/DEV type T did D pasid P ref R'"""
        f = vtdlog.parse_fields('dmar0/0000:01:00.0 type devtlb did 1 pasid 0 ref 1')
        self.assertEqual(f, {'iommu': 'dmar0', 'dev': '0000:01:00.0', 'type': 'devtlb',
                             'did': '1', 'pasid': '0', 'ref': '1'})

    def test_fields_of_the_flush_class(self):
        """fields: a range flush reads as upstream 6.12 prints it, 'IOMMU DEV[PASID] type T did D [S-E] ...'"""
        f = vtdlog.parse_fields('dmar0 0000:01:00.0[2] type devtlb did 1 [0x1000-0x1fff] '
                                'addr 0x1000 pages 0x1 mask 0x0')
        self.assertEqual(f, {'iommu': 'dmar0', 'dev': '0000:01:00.0', 'pasid': '2', 'type': 'devtlb',
                             'did': '1', 'start': '0x1000', 'end': '0x1fff', 'addr': '0x1000',
                             'pages': '0x1', 'mask': '0x0'})
        f = vtdlog.parse_fields('dmar0 dmar0[0] type iotlb did 5 [0x0-0xfff] addr 0x0 pages 0x1 mask 0x0')
        self.assertEqual((f['iommu'], f['dev'], f['pasid']), ('dmar0', 'dmar0', '0'))

    def test_a_flush_without_its_pasid_has_none(self):
        """fields: 'IOMMU DEV type ...' without '[PASID]' names the IOMMU and device, no pasid"""
        f = vtdlog.parse_fields('dmar0 dmar0 type iotlb did 5 [0x0-0xfff] addr 0x0 pages 0x1 mask 0x0')
        self.assertEqual((f['iommu'], f['dev']), ('dmar0', 'dmar0'))
        self.assertNotIn('pasid', f)


class AttachOrder(unittest.TestCase):
    def bad(self, name):
        return vtdlog.order(fx(name))[0]

    def test_order_accepts_a_real_trace(self):
        """attach order: a real trace (boot, hot-plug, domain switches) in the series' detach order has 0 violations"""
        bad, n = vtdlog.order(fx('order-detach.log'))
        self.assertEqual(bad, [])
        self.assertGreater(n['entries'], 0)
        self.assertGreater(n['ats-enable'], 1)
        self.assertGreater(n['ats-disable'], 0)
        self.assertGreater(n['teardowns'], n['ats-disable'])
        self.assertEqual(n['teardowns-checked'], n['ats-disable'])

    def test_order_rejects_ats_enabled_before_the_devtlb_tag(self):
        """attach order: tripped by a device-TLB assign moved after its ATS enable"""
        self.assertTrue(any(b.startswith('ATS enabled before') for b in self.bad('order-devtlb-late.log')))

    def test_order_rejects_ats_disabled_before_the_untag(self):
        """attach order: tripped by a device-TLB unassign moved after its ATS disable (CVE-2024-56669)"""
        self.assertTrue(any(b.startswith('ATS disabled while') for b in self.bad('order-untag-late.log')))

    def test_order_rejects_ats_disabled_before_the_teardown(self):
        """attach order: tripped by an entry teardown moved after its ATS disable (6.1's order), rule (a)"""
        bad, n = vtdlog.order(fx('order-ats-first.log'))
        self.assertEqual([b for b in bad if not b.startswith('ATS disabled before the entry teardown')], [])
        self.assertEqual(len(bad), 1)
        self.assertEqual(n['disable-before-teardown'], 1)

    def test_order_rejects_the_untag_before_the_teardown(self):
        """attach order: tripped by a device-TLB unassign moved before its entry's teardown, rule (b)"""
        bad = self.bad('order-untag-first.log')
        self.assertEqual(len(bad), 1)
        self.assertTrue(bad[0].startswith('device-TLB tag unassigned before the entry teardown'))

    def test_order_rejects_ats_disables_without_teardown_events(self):
        """attach order: ATS disables with no entry_clear_* event checked nothing: a violation, and no rule (a) one each"""
        bad = self.bad('order-no-teardown.log')
        self.assertTrue(any('nothing was checked' in b for b in bad))
        self.assertFalse(any(b.startswith('ATS disabled before the entry teardown') for b in bad))

    def test_order_reads_a_context_entry_as_its_pci_device(self):
        """attach order: a context entry's bus and devfn, decimal (u8) or hex, name the PCI device"""
        self.assertEqual(vtdlog.entry_dev('entry_clear_context', {'bus': '0x1', 'devfn': '0x0'}), '0000:01:00.0')
        self.assertEqual(vtdlog.entry_dev('entry_live_context', {'bus': '1', 'devfn': '0'}), '0000:01:00.0')
        self.assertEqual(vtdlog.entry_dev('entry_live_context', {'bus': '0', 'devfn': '250'}), '0000:00:1f.2')
        self.assertEqual(vtdlog.entry_dev('entry_clear_pasid', {'dev': '0000:02:00.0', 'pasid': '0'}), '0000:02:00.0')

    def test_order_holds_pasid_teardowns_to_the_same_rules(self):
        """attach order: scalable mode's PASID teardowns: the series' order passes, ATS first or another PASID's teardown trips rule (a)"""
        import tempfile
        head = '    kworker/u4:0-7       [001] ...1.     5.%06d: '
        ev = {'live': 'entry_live_pasid_fl: (intel_pasid_setup_first_level+0x0/0x1e6) dev="0000:01:00.0"',
              'ctx': 'entry_live_context: (domain_context_mapping_one+0x0/0x398) bus=1 devfn=0',
              'iotlb+': 'cache_tag_assign: dmar0/dmar0 type iotlb did 5 pasid 0 ref 1',
              'devtlb+': 'cache_tag_assign: dmar0/0000:01:00.0 type devtlb did 5 pasid 0 ref 1',
              'ats+': 'ats_enable: (pci_enable_ats+0x0/0x7d) dev="0000:01:00.0"',
              'clear': 'entry_clear_pasid: (intel_pasid_tear_down_entry+0x0/0x1d0) dev="0000:01:00.0" pasid=0',
              'clear-sva': 'entry_clear_pasid: (intel_pasid_tear_down_entry+0x0/0x1d0) dev="0000:01:00.0" pasid=1',
              'iotlb-': 'cache_tag_unassign: dmar0/dmar0 type iotlb did 5 pasid 0 ref 0',
              'devtlb-': 'cache_tag_unassign: dmar0/0000:01:00.0 type devtlb did 5 pasid 0 ref 0',
              'ats-': 'ats_disable: (pci_disable_ats+0x0/0x5b) dev="0000:01:00.0"'}
        attach = ['iotlb+', 'live', 'ctx', 'devtlb+', 'ats+']

        def run(detach):
            f = tempfile.NamedTemporaryFile('w', suffix='.log', delete=False)
            f.write('\n'.join(['@@TRACE-BEGIN'] + [head % i + ev[k] for i, k in enumerate(attach + detach)] +
                              ['@@TRACE-END']) + '\n')
            f.close()
            try:
                return vtdlog.order(f.name)[0]
            finally:
                os.unlink(f.name)
        self.assertEqual(run(['clear', 'iotlb-', 'devtlb-', 'ats-']), [])
        for detach in (['iotlb-', 'devtlb-', 'ats-', 'clear'], ['clear-sva', 'iotlb-', 'devtlb-', 'ats-', 'clear']):
            bad = run(detach)
            self.assertTrue(bad and all(b.startswith('ATS disabled before the entry teardown') for b in bad), bad)
        bad = run(['iotlb-', 'devtlb-', 'clear', 'ats-'])
        self.assertTrue(bad and all(b.startswith('device-TLB tag unassigned before') for b in bad), bad)

    def test_order_rejects_an_entry_live_before_the_iotlb_tag(self):
        """attach order: tripped by an IOTLB assign moved after the entry went live"""
        self.assertTrue(any(b.startswith('entry went live before') for b in self.bad('order-iotlb-late.log')))

    def test_order_rejects_a_trace_without_the_kprobe_events(self):
        """attach order: a trace without the kprobe events checked nothing: a violation"""
        self.assertTrue(any('nothing was checked' in b for b in self.bad('order-no-probes.log')))


class Faults(unittest.TestCase):
    def test_faults_accepts_the_announced_fault(self):
        """faults: the real announced selftest DMAR fault passes"""
        self.assertEqual(vtdlog.faults(fx('faults-real.log')), [])

    def test_faults_rejects_a_warning_even_announced(self):
        """faults: tripped by a real WARNING, even one a KUnit case announced (the old 'vtd-expect: WARNING in')"""
        self.assertEqual(sorted(set(kinds('faults-warning.log'))), ['WARNING', 'call trace'])

    def test_faults_rejects_a_dmar_fault_nobody_announced(self):
        """faults: tripped by a DMAR fault at an address nobody announced"""
        self.assertIn('DMAR fault', kinds('faults-dmar-unannounced.log'))

    def test_faults_rejects_a_lockdep_report(self):
        """faults: tripped by a lockdep report"""
        self.assertIn('lockdep', kinds('faults-lockdep.log'))

    def test_faults_rejects_an_announced_fault_that_never_came(self):
        """faults: tripped by an announced DMAR fault that did not happen"""
        self.assertIn('missing expected DMAR fault', kinds('faults-fault-missing.log'))


class Tap(unittest.TestCase):
    def test_tap_reads_a_real_log(self):
        """guest TAP: a real log parses with its plan and no failure"""
        res, done = vtdlog.tap(fx('tap-real.log'))
        self.assertTrue(done)
        self.assertGreater(len(res), 3)
        self.assertEqual([r for r in res if r[0] == 'FAIL'], [])

    def test_tap_reads_a_not_ok_split_by_a_trace_record(self):
        """guest TAP: a 'not ok' line that a QEMU trace record split is still read"""
        res, _ = vtdlog.tap(fx('tap-split-not-ok.log'))
        self.assertIn(('FAIL', 'workload'), [(r[0], r[1]) for r in res])

    def test_tap_reads_a_line_split_by_a_kernel_message(self):
        """tap: a result line a kernel message was printed into is read whole, the plan complete"""
        res, done = vtdlog.tap(fx('tap-split-by-printk.log'))
        self.assertTrue(done)
        self.assertIn(('PASS', 'workload'), [(s, n) for s, n, _ in res])
        self.assertNotIn('tap-plan', [n for _, n, _ in res])

    def test_tap_rejects_a_short_plan(self):
        """guest TAP: tripped by a plan that does not match the results"""
        res, _ = vtdlog.tap(fx('tap-short-plan.log'))
        self.assertIn('tap-plan', [r[1] for r in res if r[0] == 'FAIL'])

    def test_tap_rejects_a_plan_after_the_results(self):
        """guest KTAP: tripped by a plan printed after the results, not first"""
        res, _ = vtdlog.tap(fx('tap-late-plan.log'))
        self.assertIn(('FAIL', 'tap-plan', 'the plan came after 6 results, not first'), res)

    def test_a_steps_own_nested_results_are_not_a_selftests(self):
        """guest KTAP: results nested under a result without a selftest exit (make soak's step) are subtests, not kselftest's"""
        import tempfile
        f = tempfile.NamedTemporaryFile('w', suffix='.log', delete=False)
        f.write('\n'.join(['@@VTD KTAP version 1', '@@VTD 1..2', '@@VTD ok 1 iommu # 1 IOMMU(s)',
                          '@@VTD     KTAP version 1', '@@VTD     1..2',
                          '@@VTD     ok 1 hotplug # 50/50 rounds', '@@VTD     not ok 2 domain-switch # DMA broke',
                          '@@VTD not ok 2 soak # ran; 1 of the disk\'s 2 parts failed', '@@VTD-DONE']) + '\n')
        f.close()
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(vtdlog.kselftest(f.name), [])
        self.assertEqual(vtdlog.subtests(f.name, 'soak'),
                         [('PASS', 'hotplug', '50/50 rounds'), ('FAIL', 'domain-switch', 'DMA broke')])
        res, done = vtdlog.tap(f.name)
        self.assertEqual([(s, n) for s, n, _ in res], [('PASS', 'iommu'), ('FAIL', 'soak')])

    def test_kselftest_reads_no_result_of_the_top_level(self):
        """guest KTAP: the steps' results are not the nested selftest's, nor the reverse"""
        self.assertEqual(vtdlog.kselftest(fx('tap-real.log')), [])
        res, _ = vtdlog.tap(fx('kst-real.log'))
        self.assertEqual([n for _, n, _ in res], ['vfio'])


class Kselftest(unittest.TestCase):
    def test_kselftest_reads_a_real_log(self):
        """kselftest TAP: a real run parses, plan and exit code agree"""
        res = vtdlog.kselftest(fx('kst-real.log'))
        self.assertGreater(len(res), 3)
        self.assertEqual([r for r in res if r[0] == 'FAIL'], [])

    def test_kselftest_fail_says_why(self):
        """kselftest TAP: a failed case carries its assertion, not a pointer to the log"""
        res = vtdlog.kselftest(fx('kst-assert.log'))
        fails = [r for r in res if r[0] == 'FAIL']
        self.assertEqual([r[1] for r in fails], ['vfio_edu.dma_after_unmap_faults'])
        self.assertIn('vfio_cache_tags.c:476', fails[0][2])
        self.assertIn('(-110)', fails[0][2])
        self.assertIn('terminated by assertion', fails[0][2])
        passed = [r for r in res if r[0] == 'PASS']
        self.assertEqual(len(passed), 4)

    def test_kselftest_rejects_a_crash(self):
        """kselftest TAP: tripped by a binary that crashed (exit 139)"""
        res = vtdlog.kselftest(fx('kst-crash.log'))
        self.assertIn('exit', [r[1] for r in res if r[0] == 'FAIL'])

    def test_kselftest_rejects_a_missing_binary(self):
        """kselftest TAP: tripped by a missing selftest binary (exit 127)"""
        res = vtdlog.kselftest(fx('kst-missing.log'))
        self.assertIn('exit', [r[1] for r in res if r[0] == 'FAIL'])

    def test_kselftest_rejects_a_short_plan(self):
        """kselftest TAP: tripped by a plan that does not match the results"""
        res = vtdlog.kselftest(fx('kst-short-plan.log'))
        self.assertIn('tap-plan', [r[1] for r in res if r[0] == 'FAIL'])


class KernelIdentity(unittest.TestCase):
    def test_the_kernel_given_is_the_kernel_that_ran(self):
        """kernel-identity: the image's version string equals the guest's Linux version line"""
        given, ran = vtdlog.kernel_identity(fx('kernel-given.log'))
        self.assertEqual(given, ran)
        self.assertRegex(ran, r'^6\.1\.\d+\S* \(\S+@\S+\) #\d+ ')

    def test_another_build_is_rejected(self):
        """kernel-identity: tripped by a guest that booted another build of the directory (a mutant's)"""
        given, ran = vtdlog.kernel_identity(fx('kernel-other.log'))
        self.assertNotEqual(given, ran)

    def test_no_version_read_is_rejected(self):
        """kernel-identity: a log without the image's version gives nothing to compare"""
        given, ran = vtdlog.kernel_identity(fx('kst-real.log'))
        self.assertIsNone(given)


class Hang(unittest.TestCase):
    def test_hang_says_where_a_real_guest_was(self):
        """hang: a real watchdog kill reads as QEMU's answer, the step and CPU 0's frames"""
        out = vtdlog.hang(fx('hang-nmi.log'))
        self.assertIn('no console output for 16s', out)
        self.assertIn('QEMU answers: status running', out)
        self.assertIn('last mark: begin vfio-selftest', out)
        self.assertIn('NMI: CPU 0 in default_idle_call < do_idle', out)
        self.assertIn('D state: none', out)

    def test_hang_names_a_task_in_d_state(self):
        """hang: tripped by a task asleep in D state (doctored from the real log)"""
        out = vtdlog.hang(fx('hang-dstate.log'))
        self.assertIn('D state: vfio_cache_tags', out)

    def test_hang_without_a_panic_says_nothing_of_one(self):
        """hang: a log with no NMI panic reports no frames it did not see"""
        out = vtdlog.hang(fx('kst-real.log'))
        self.assertNotIn('NMI', out)
        self.assertIn('selftest last said: # Totals: pass:5 fail:0', out)


class Batching(unittest.TestCase):
    def counts(self, name):
        return vtdlog.counts(fx(name), 'workload')['workload']

    def test_batching_passes_the_real_series_counts(self):
        """batching: the real series counts against the real stock counts pass"""
        res = dict((t, st) for st, t, _ in vtdlog.batching(self.counts('counts-series.log'),
                                                           self.counts('counts-stock.log')))
        self.assertEqual(res, {'lower-bound': 'PASS', 'batching': 'PASS', 'same-invalidations': 'PASS'})

    def test_batching_rejects_stock_counts_as_the_series(self):
        """batching: tripped by stock's counts given as the series'"""
        k = self.counts('counts-stock.log')
        res = dict((t, st) for st, t, _ in vtdlog.batching(k, k))
        self.assertEqual(res['batching'], 'FAIL')
        self.assertEqual(res['lower-bound'], 'FAIL')

    def test_batching_skips_where_stock_is_at_the_lower_bound(self):
        """batching: stock at the lower bound is a SKIP, never a PASS"""
        c = collections.Counter(psi=1024, submissions=1024)
        res = dict((t, st) for st, t, _ in vtdlog.batching(c, c))
        self.assertEqual(res['batching'], 'SKIP')

    def test_batching_rejects_a_workload_the_oracle_did_not_see(self):
        """batching: no invalidation seen is a FAIL, not a pass"""
        c = collections.Counter()
        self.assertEqual({st for st, _, _ in vtdlog.batching(c, c)}, {'FAIL'})

class IteMatrix(unittest.TestCase):
    def test_the_real_matrix_passes(self):
        """ite-matrix: the series' 38 matrix results and its 13 other results all passed"""
        st, det = vtdlog.ite_matrix(fx('ite-real.json'))
        self.assertEqual(st, 'PASS', det)
        self.assertIn('38 matrix results', det)
        self.assertIn('13 other results', det)

    def test_6_1s_handling_fails(self):
        """ite-matrix: tripped by the real run of the kernel with 6.1's time-out handling"""
        st, det = vtdlog.ite_matrix(fx('ite-mutant.json'))
        self.assertEqual(st, 'FAIL')
        self.assertRegex(det, r'^failed: 38 of 38 matrix results')
        self.assertIn('ite_next_after_aborts (2 of 7)', det)
        self.assertIn('ite_withholds_in_time', det)

    def test_a_skipped_result_fails(self):
        """ite-matrix: tripped by a matrix result that was skipped"""
        st, det = vtdlog.ite_matrix(fx('ite-skipped.json'))
        self.assertEqual(st, 'FAIL')
        self.assertIn('skipped', det)

    def test_a_missing_position_fails(self):
        """ite-matrix: tripped by a matrix result that did not run"""
        st, det = vtdlog.ite_matrix(fx('ite-missing.json'))
        self.assertEqual(st, 'FAIL')
        self.assertIn('did not cover', det)

    def test_a_missing_case_fails(self):
        """ite-matrix: tripped by a case of the suite that did not run (its matrix whole)"""
        import json
        import tempfile
        doc = json.load(open(fx('ite-real.json')))
        suite = doc['sub_groups'][0]
        suite['test_cases'] = [c for c in suite['test_cases'] if c['name'] != 'ite_withholds_in_time']
        with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
            json.dump(doc, f)
        self.addCleanup(os.unlink, f.name)
        st, det = vtdlog.ite_matrix(f.name)
        self.assertEqual(st, 'FAIL')
        self.assertIn('did not run: ite_withholds_in_time', det)

    def test_no_suite_fails(self):
        """ite-matrix: a run without the suite (the queue error suite's alone), or no results, is a FAIL"""
        self.assertEqual(vtdlog.ite_matrix(fx('iqe-real.json'))[0], 'FAIL')
        self.assertEqual(vtdlog.ite_matrix(fx('no-such.json'))[0], 'FAIL')


class IqeMatrix(unittest.TestCase):
    def test_the_real_matrix_passes(self):
        """iqe-matrix: the series' 19 batches with an invalid descriptor all recovered"""
        st, det = vtdlog.iqe_matrix(fx('iqe-real.json'))
        self.assertEqual(st, 'PASS', det)
        self.assertIn('19 of 19 batches', det)

    def test_the_kernel_without_the_fix_fails(self):
        """iqe-matrix: tripped by the real run of the kernel without the fix (hung and early batches)"""
        st, det = vtdlog.iqe_matrix(fx('iqe-mutant.json'))
        self.assertEqual(st, 'FAIL')
        self.assertIn('failed: 18 of 19', det)
        self.assertIn('hung (IQE left set; rescued by the test): 2@1 16@1', det)
        self.assertIn('returned before the valid descriptors behind ran: 2@0 16@0', det)

    def test_a_skipped_case_fails(self):
        """iqe-matrix: tripped by a case that was skipped (nothing submitted)"""
        st, det = vtdlog.iqe_matrix(fx('iqe-skipped.json'))
        self.assertEqual(st, 'FAIL')
        self.assertIn('skipped', det)

    def test_a_missing_position_fails(self):
        """iqe-matrix: tripped by a batch position that did not run"""
        st, det = vtdlog.iqe_matrix(fx('iqe-missing.json'))
        self.assertEqual(st, 'FAIL')
        self.assertIn('did not cover every position', det)

    def test_no_suite_fails(self):
        """iqe-matrix: a run without the suite, or no results at all, is a FAIL"""
        self.assertEqual(vtdlog.iqe_matrix(fx('no-such.json'))[0], 'FAIL')

    def test_queue_errors_inside_the_suite_are_its_own(self):
        """faults: the suite's own IQE reports are allowed inside it, and only there"""
        inside = list(vtdlog.lines(fx('iqe-faults.log')))
        self.assertTrue(any('Invalidation Queue Error' in l for l in inside))
        self.assertEqual(vtdlog.faults(fx('iqe-faults.log')), [])
        import tempfile
        outside = [l for l in inside if 'intel_iommu_qi_errors' not in l]
        f = tempfile.NamedTemporaryFile('w', suffix='.log', delete=False)
        f.write('\n'.join(outside) + '\n')
        f.close()
        self.addCleanup(os.unlink, f.name)
        path = f.name
        self.assertIn('QI error', [w for w, _ in vtdlog.faults(path)])



class RealFlush(unittest.TestCase):
    def test_realflush_accepts_a_real_run(self):
        """realflush: both cases' IOVAs invalidated in QEMU's trace, the timer over the case's task"""
        bad, summary = vtdlog.realflush(fx('realflush-real.log'))
        self.assertEqual(bad, [])
        self.assertIn('case 0xffff7000', summary)
        self.assertIn('timer 0xffff9000', summary)

    def test_realflush_rejects_swallowed_submissions(self):
        """realflush: tripped when no IOTLB invalidation reaches QEMU in either case (v1's hook)"""
        bad, _ = vtdlog.realflush(fx('realflush-swallowed.log'))
        self.assertEqual(len(bad), 2)
        self.assertTrue(all('no IOTLB invalidation' in b for b in bad))

    def test_realflush_rejects_a_swallowed_timer_flush(self):
        """realflush: tripped when only the timer's invalidation is missing"""
        bad, _ = vtdlog.realflush(fx('realflush-timer-swallowed.log'))
        self.assertEqual(len(bad), 1)
        self.assertIn('timer_during_the_case', bad[0])

    def test_realflush_rejects_a_timer_that_missed_the_case(self):
        """realflush: a timer that did not run over the case's task checked nothing"""
        bad, _ = vtdlog.realflush(fx('realflush-not-the-case.log'))
        self.assertEqual(len(bad), 1)
        self.assertIn('not the interrupt', bad[0])

    def test_realflush_rejects_a_log_without_the_suite(self):
        """realflush: a log in which the suite never ran fails, it does not pass empty"""
        bad, _ = vtdlog.realflush(fx('tap-real.log'))
        self.assertEqual(len(bad), 2)
        self.assertTrue(all('did not run' in b for b in bad))


if __name__ == '__main__':
    unittest.main()


class TagView(unittest.TestCase):
    def bad(self, name):
        return vtdlog.tags(fx(name))[0]

    def test_tags_accepts_a_real_view_and_trace(self):
        """tags vs trace: a real debugfs view agrees with the replay of its trace (hot-plug, domain switches)"""
        bad, summary = vtdlog.tags(fx('tags-real.log'))
        self.assertEqual(bad, [])
        self.assertRegex(summary, r'^[1-9]\d* tags in [1-9]\d* domains')

    def test_tags_rejects_a_wrong_reference_count(self):
        """tags vs trace: tripped by an IOTLB tag whose ref in the view is one more than the replay's"""
        self.assertTrue(any(b.startswith('debugfs says ref') for b in self.bad('tags-ref-off.log')))

    def test_tags_rejects_a_tag_missing_from_the_view(self):
        """tags vs trace: tripped by a device-TLB tag the trace assigned but the view does not list"""
        self.assertTrue(any('debugfs says ref 0' in b for b in self.bad('tags-missing.log')))

    def test_tags_rejects_a_tag_the_trace_does_not_have(self):
        """tags vs trace: tripped by a view listing a device-TLB tag the trace has not left assigned"""
        self.assertTrue(any('the trace replay 0' in b for b in self.bad('tags-extra.log')))

    def test_tags_rejects_a_log_without_a_view(self):
        """tags vs trace: no debugfs view compared nothing: a failure"""
        self.assertTrue(any('nothing compared' in b for b in self.bad('tags-no-view.log')))

    def test_tags_rejects_an_empty_view(self):
        """tags vs trace: an empty debugfs view compared nothing: a failure"""
        self.assertTrue(any('lists no tags' in b for b in self.bad('tags-empty-view.log')))


class UsersTools(unittest.TestCase):
    def check(self, tool):
        bad, seen = vtdlog.tools(fx('tools-%s-real.log' % tool), tool)
        self.assertEqual(bad, [])
        self.assertGreater(seen['cache_tag_flush_range'], 0)
        self.assertGreater(seen['cache_tag_flush_all'], 0)

    def rejects(self, name, tool, what):
        bad, _ = vtdlog.tools(fx(name), tool)
        self.assertTrue(any(what in b for b in bad), bad)

    def test_tools_accepts_a_real_trace_cmd_report(self):
        """trace-cmd: a real report (range flushes and flush-alls) parses, every field there"""
        self.check('trace-cmd')

    def test_tools_accepts_a_real_perf_script(self):
        """perf: a real perf script output (range flushes and flush-alls) parses, every field there"""
        self.check('perf')

    def test_tools_rejects_trace_cmd_failed_to_parse(self):
        """trace-cmd: tripped by an event line that says [FAILED TO PARSE]"""
        self.rejects('tools-trace-cmd-failed.log', 'trace-cmd', 'failed to parse')

    def test_tools_rejects_perf_failed_to_parse(self):
        """perf: tripped by an event line that says [FAILED TO PARSE]"""
        self.rejects('tools-perf-failed.log', 'perf', 'failed to parse')

    def test_tools_rejects_a_trace_cmd_event_without_its_pasid(self):
        """trace-cmd: tripped by an event printed without its pasid field"""
        self.rejects('tools-trace-cmd-field-missing.log', 'trace-cmd', 'without pasid')

    def test_tools_rejects_a_perf_event_without_its_pasid(self):
        """perf: tripped by an event printed without its pasid field"""
        self.rejects('tools-perf-field-missing.log', 'perf', 'without pasid')

    def test_tools_rejects_a_trace_cmd_type_printed_as_a_number(self):
        """trace-cmd: tripped by "type 0x0", an enum the event format does not export (as first seen here)"""
        self.rejects('tools-trace-cmd-raw-type.log', 'trace-cmd', 'not a type name')

    def test_tools_rejects_a_perf_type_printed_as_a_number(self):
        """perf: tripped by "type 0x0", an enum the event format does not export (as first seen here)"""
        self.rejects('tools-perf-raw-type.log', 'perf', 'not a type name')

    def test_tools_rejects_an_empty_trace_cmd_report(self):
        """trace-cmd: a report with no event read nothing: a failure"""
        self.rejects('tools-trace-cmd-empty.log', 'trace-cmd', 'nothing was read')

    def test_tools_rejects_an_empty_perf_script(self):
        """perf: a perf script output with no event read nothing: a failure"""
        self.rejects('tools-perf-empty.log', 'perf', 'nothing was read')


class Suspend(unittest.TestCase):
    def rejects(self, name, what):
        bad, _ = vtdlog.suspend(fx(name))
        self.assertTrue(any(what in b for b in bad), bad)

    def test_suspend_accepts_real_rounds(self):
        """suspend: a real run's 5 rounds (S3 wake-up, queue enabled again and used) are accepted"""
        bad, summary = vtdlog.suspend(fx('suspend-real.log'))
        self.assertEqual(bad, [])
        self.assertIn('5 suspend rounds', summary)

    def test_suspend_rejects_a_round_without_the_queue_enabled_again(self):
        """suspend: tripped by a round in which QEMU did not see the invalidation queue enabled again"""
        self.rejects('suspend-no-enable.log', 'round 3: QEMU did not see the invalidation queue enabled again')

    def test_suspend_rejects_a_queue_enabled_but_not_used(self):
        """suspend: tripped by a round whose re-enabled queue fetched no descriptor"""
        self.rejects('suspend-unused.log', 'round 2: after the queue was enabled again QEMU fetched 0')

    def test_suspend_rejects_a_round_qemu_never_suspended(self):
        """suspend: tripped by a round in which QEMU never suspended (no host note of its SUSPEND and wake-up)"""
        self.rejects('suspend-not-suspended.log', 'round 2: QEMU never suspended')

    def test_suspend_rejects_a_round_without_s3(self):
        """suspend: tripped by a round in which the kernel did not report waking from S3"""
        self.rejects('suspend-no-wake.log', 'round 4: the kernel did not report waking from S3')

    def test_suspend_rejects_a_missing_round(self):
        """suspend: tripped by a log with 4 rounds of 5"""
        self.rejects('suspend-short.log', 'suspend rounds 1,2,3,4 in the log')

    def test_suspend_rejects_a_log_without_rounds(self):
        """suspend: a log without any round checked nothing: a failure"""
        self.rejects('suspend-empty.log', 'suspend rounds none in the log')


class Sanitizers(unittest.TestCase):
    def run_on(self, name):
        return vtdlog.sanitizers(fx(name), fx('sanitizers-iommu-syms'))

    def rejects(self, name, what):
        bad, _ = self.run_on(name)
        self.assertTrue(any(what in b for b in bad), bad)

    def test_sanitizers_accept_a_real_debug_run(self):
        """sanitizers: the debug kernel's real run (KASAN on, a kmemleak dump with nothing of drivers/iommu) is accepted"""
        bad, summary = self.run_on('sanitizers-real.log')
        self.assertEqual(bad, [])
        self.assertIn('KASAN on', summary)

    def test_sanitizers_reject_a_leaked_tag(self):
        """sanitizers: tripped by the leak-tag mutant's dump (tags allocated by cache_tag_assign, unreferenced)"""
        self.rejects('sanitizers-leak.log', 'allocated through cache_tag_assign')

    def test_sanitizers_reject_a_kasan_report_in_iommu_code(self):
        """sanitizers: tripped by the uaf-tag mutant's KASAN use-after-free in __cache_tag_unassign"""
        self.rejects('sanitizers-kasan.log', 'KASAN: BUG: KASAN: use-after-free in __cache_tag_unassign')

    def test_sanitizers_reject_a_ubsan_report_in_an_iommu_file(self):
        """sanitizers: tripped by a UBSAN report in drivers/iommu/intel/cache.c"""
        self.rejects('sanitizers-ubsan.log', 'UBSAN: UBSAN: shift-out-of-bounds in drivers/iommu/intel/cache.c')

    def test_sanitizers_list_but_accept_reports_of_other_code(self):
        """sanitizers: a report and leaks with no drivers/iommu frame are listed, not failed (the boot check fails on any)"""
        bad, summary = self.run_on('sanitizers-other.log')
        self.assertEqual(bad, [])
        self.assertIn('other reports: KASAN', summary)
        self.assertIn('others by other_cache_tag_assign 3', summary)
        self.assertTrue(any(w == 'KASAN' for w in kinds('sanitizers-other.log')))

    def test_sanitizers_reject_a_run_without_a_kmemleak_dump(self):
        """sanitizers: a run with no kmemleak dump looked for no leak: a failure"""
        self.rejects('sanitizers-no-dump.log', 'no kmemleak dump')

    def test_sanitizers_reject_a_run_without_kasan(self):
        """sanitizers: a kernel whose KASAN did not initialise checked no access: a failure"""
        self.rejects('sanitizers-no-kasan.log', 'KASAN did not initialise')

    def test_sanitizers_reject_kmemleak_switched_off(self):
        """sanitizers: kmemleak disabling itself (its pool empty, an error) is a failure"""
        self.rejects('sanitizers-kmemleak-off.log', 'kmemleak stopped')


class Kcsan(unittest.TestCase):
    def run_on(self, name):
        return vtdlog.sanitizers(fx(name), fx('kcsan-iommu-syms'), ('kcsan',))

    def test_kcsan_accepts_a_real_kcsan_run(self):
        """sanitizers (kcsan): the kcsan kernel's real boot (KCSAN started, no report) is accepted"""
        bad, summary = self.run_on('kcsan-real.log')
        self.assertEqual(bad, [])
        self.assertIn('KCSAN on', summary)

    def test_kcsan_rejects_a_data_race_in_iommu_code(self):
        """sanitizers (kcsan): tripped by the race-flush mutant's KCSAN data-race report"""
        bad, _ = self.run_on('kcsan-race.log')
        self.assertTrue(any(b.startswith('KCSAN: BUG: KCSAN: data-race in ') for b in bad), bad)

    def test_kcsan_lists_but_accepts_a_race_of_other_code(self):
        """sanitizers (kcsan): the same report with every IOMMU function renamed is listed, not failed"""
        bad, summary = self.run_on('kcsan-other.log')
        self.assertEqual(bad, [])
        self.assertIn('other reports: KCSAN', summary)

    def test_kcsan_leaves_a_race_below_the_iommu_frames_to_its_owner(self):
        """sanitizers (kcsan): a real ring-buffer race (rb_inc_page / rb_per_cpu_empty) recording a cache_tag event is listed, not failed"""
        bad, summary = self.run_on('kcsan-ringbuffer.log')
        self.assertEqual(bad, [])
        self.assertIn('data-race in rb_inc_page', summary)
        self.assertTrue(any(l.startswith('trace_event_raw_event_cache_tag') for l in
                            vtdlog.sanitizer_reports(vtdlog.console(fx('kcsan-ringbuffer.log')))[0][2]))

    def test_kcsan_rejects_a_run_without_kcsan(self):
        """sanitizers (kcsan): a kernel whose KCSAN did not start watched nothing: a failure"""
        bad, _ = self.run_on('kcsan-not-started.log')
        self.assertTrue(any('KCSAN did not start' in b for b in bad), bad)

    def test_faults_leave_kcsan_reports_to_the_sanitizers_check(self):
        """faults: a KCSAN report is a fault, unless KCSAN is left to the sanitizers check (the kcsan kernel)"""
        self.assertIn('KCSAN', kinds('kcsan-other.log'))
        self.assertNotIn('KCSAN', [w for w, _ in vtdlog.faults(fx('kcsan-other.log'), ('KCSAN',))])

    def test_kcsan_run_is_not_a_kasan_run(self):
        """sanitizers: the kcsan kernel's log judged as the debug kernel's (KASAN, kmemleak expected) fails"""
        bad, _ = vtdlog.sanitizers(fx('kcsan-real.log'), fx('kcsan-iommu-syms'))
        self.assertTrue(any('KASAN did not initialise' in b for b in bad), bad)


class FakeLines(vtdlog.SourceLines):
    """SourceLines with the frames' lines given by function name (the
    fixtures' kernels are not kept) and absolute paths, as a kernel's
    line tables give them."""

    def __init__(self, chains, series):
        super().__init__(None, series)
        self.chains = chains

    def resolve(self, frames):
        out = {}
        for f in frames:
            chain = self.chains.get(f.split('+')[0])
            if chain:
                out[f] = ['/w/linux/' + c for c in chain]
        return out


# The max_addr race's lines in the fixture's made-up kernel: the access,
# then the inline chain out to the function the frame names.
MAP = ['drivers/iommu/intel/iommu.c:4379', 'drivers/iommu/intel/iommu.c:4402']
UNMAP = ['drivers/iommu/intel/iommu.c:4431', 'drivers/iommu/intel/iommu.c:4447']
SERIES = {'drivers/iommu/intel/cache.c': [(1, 420)], 'drivers/iommu/intel/iommu.c': [(1480, 1496)]}


class KcsanOrigin(unittest.TestCase):
    def run_on(self, name, chains=None, series=None):
        lines = FakeLines(chains or {'intel_iommu_map_pages': MAP, 'intel_iommu_unmap_pages': UNMAP},
                          series or SERIES)
        return vtdlog.sanitizers(fx(name), fx('kcsan-iommu-syms'), ('kcsan',), lines)

    def test_a_race_on_lines_of_61_is_listed_not_failed(self):
        """sanitizers (kcsan, lines): max_addr's race, both accesses on lines the series leaves as 6.1's, is listed as 6.1's own"""
        bad, summary = self.run_on('kcsan-stock.log')
        self.assertEqual(bad, [])
        self.assertIn("1 KCSAN reports of 6.1's own IOMMU code", summary)
        self.assertIn('data-race in intel_iommu_map_pages / intel_iommu_unmap_pages at ', summary)
        for loc in (MAP[0], UNMAP[0]):
            self.assertIn(loc, summary)

    def test_the_race_fails_without_lines(self):
        """sanitizers (kcsan): without the kernel's lines, the same report is a violation"""
        bad, _ = vtdlog.sanitizers(fx('kcsan-stock.log'), fx('kcsan-iommu-syms'), ('kcsan',))
        self.assertTrue(any('data-race in intel_iommu_map_pages' in b for b in bad), bad)

    def test_an_access_on_a_series_line_fails(self):
        """sanitizers (kcsan, lines): the same race with the unmap access on a line the series changed is a violation that names it"""
        bad, _ = self.run_on('kcsan-stock.log', series=dict(SERIES, **{
            'drivers/iommu/intel/iommu.c': [(4430, 4431)]}))
        self.assertTrue(any('on lines the series changes: drivers/iommu/intel/iommu.c:4431' in b for b in bad), bad)

    def test_an_inlined_caller_on_a_series_line_fails(self):
        """sanitizers (kcsan, lines): an access inlined into a line the series changed (outer in the inline chain) is a violation"""
        bad, _ = self.run_on('kcsan-stock.log', series={'drivers/iommu/intel/iommu.c': [(4402, 4402)]})
        self.assertTrue(any('series changes: drivers/iommu/intel/iommu.c:4402' in b for b in bad), bad)

    def test_a_frame_without_a_line_fails(self):
        """sanitizers (kcsan, lines): a racing frame with no source line cannot be cleared"""
        bad, _ = self.run_on('kcsan-stock.log', chains={'intel_iommu_map_pages': MAP})
        self.assertTrue(any('no source line for intel_iommu_unmap_pages+' in b for b in bad), bad)

    def test_the_mutant_race_fails_with_lines(self):
        """sanitizers (kcsan, lines): the race-flush mutant's race, on the series' cache.c, stays a violation"""
        bad, _ = self.run_on('kcsan-race.log', chains={'cache_tags_flush': ['drivers/iommu/intel/cache.c:233']})
        self.assertTrue(any('series changes: drivers/iommu/intel/cache.c:233' in b for b in bad), bad)

    def test_a_race_at_unknown_origin_fails(self):
        """sanitizers (kcsan, lines): a report with one access (race at unknown origin) cannot be cleared"""
        lines = FakeLines({'cache_tags_flush': ['mm/x.c:1']}, SERIES)
        own, text = vtdlog.kcsan_origin([['cache_tags_flush+0x59/0x5a1']], lines)
        self.assertFalse(own)
        self.assertIn('unknown origin', text)

    def test_series_lines_and_tool_output_parse(self):
        """SourceLines: nm by name and size, addr2line's inline chains, discriminators and ?? dropped"""
        syms = vtdlog.parse_nm('ffffffff81000000 0000000000000040 t bump\n'
                               'ffffffff81000100 0000000000000020 t bump\n'
                               'ffffffff81000130 0000000000000010 T other\n'
                               'ffffffff81000140 t unsized\n'
                               'ffffffff82000000 0000000000000008 D data\n')
        self.assertEqual(syms['bump'], [(0xffffffff81000000, 0x40, 0x100), (0xffffffff81000100, 0x20, 0x30)])
        self.assertNotIn('data', syms)
        got = vtdlog.parse_addr2line('0xffffffff81000107\n/a/x.c:7 (discriminator 2)\n/a/x.c:12\n'
                                     '0xffffffff81000200\n??:0\n')
        self.assertEqual(got, {0xffffffff81000107: ['/a/x.c:7', '/a/x.c:12'], 0xffffffff81000200: []})
        lines = vtdlog.SourceLines(None, {'x.c': [(10, 12)]})
        lines.syms = syms
        self.assertEqual(lines.address('bump+0x8/0x20'), 0xffffffff81000107)
        # kallsyms prints the span to the next symbol: the padding counts.
        self.assertEqual(lines.address('bump+0x8/0x30'), 0xffffffff81000107)
        self.assertEqual(lines.address('bump+0x8/0x100'), 0xffffffff81000007)
        self.assertIsNone(lines.address('bump+0x8/0x50'))
        self.assertEqual(lines.address('other+0x4/0x999'), 0xffffffff81000133)
        self.assertIsNone(lines.address('other+0x1000/0x999'))
        self.assertIsNone(lines.address('absent+0x4/0x10'))
        self.assertTrue(lines.in_series('/a/x.c:12'))
        self.assertFalse(lines.in_series('/a/x.c:7'))
        self.assertFalse(lines.in_series('/a/y.c:12'))


class KcsanOriginToolchain(unittest.TestCase):
    """SourceLines on a program built here with line tables: the host's own
    nm and addr2line, as make soak uses them on the kcsan vmlinux."""

    SRC = (
        'int counter;\n'
        'static inline __attribute__((always_inline)) void inc(void)\n'
        '{\n'
        '\tcounter += 3; /* INNER */\n'
        '}\n'
        '__attribute__((noinline)) void bump(void)\n'
        '{\n'
        '\tinc(); /* OUTER */\n'
        '}\n'
        'int main(void)\n'
        '{\n'
        '\tbump();\n'
        '\treturn counter;\n'
        '}\n')

    def test_a_frame_resolves_to_its_inline_chain(self):
        """SourceLines: a frame inside an inlined function resolves to the inlined line, then its caller's"""
        import shutil
        import subprocess
        import tempfile
        for tool in ('gcc', 'nm', 'addr2line'):
            if not shutil.which(tool):
                self.skipTest('no %s on this host' % tool)
        lineno = {m: i + 1 for i, l in enumerate(self.SRC.splitlines()) for m in ('INNER', 'OUTER') if m in l}
        with tempfile.TemporaryDirectory() as d:
            src, exe = os.path.join(d, 't.c'), os.path.join(d, 't')
            with open(src, 'w') as f:
                f.write(self.SRC)
            subprocess.run(['gcc', '-g', '-O1', '-fno-pie', '-no-pie', '-o', exe, src], check=True)
            lines = vtdlog.SourceLines(exe, {'t.c': [(lineno['OUTER'], lineno['OUTER'])]})
            (addr, size, _), = lines.symbols()['bump']
            # The return address just past the add: bump ends with ret.
            frame = 'bump+0x%x/0x%x' % (size - 1, size)
            chain = lines.resolve([frame])[frame]
        self.assertEqual([c.rsplit(':', 1)[1] for c in chain], [str(lineno['INNER']), str(lineno['OUTER'])])
        self.assertTrue(chain[0].endswith('/t.c:%d' % lineno['INNER']))
        own, text = vtdlog.kcsan_origin([[frame], [frame]], FakeLines({'bump': []}, {}))
        self.assertFalse(own)
        self.assertFalse(lines.in_series(chain[0]))
        self.assertTrue(lines.in_series(chain[1]))


class Superpage(unittest.TestCase):
    def rejects(self, name, what):
        bad, _ = vtdlog.superpage(fx(name))
        self.assertTrue(any(what in b for b in bad), bad)

    def test_superpage_accepts_real_2m_unmaps(self):
        """superpage: a real run's 2 MiB first-level unmaps are accepted"""
        bad, summary = vtdlog.superpage(fx('superpage-real.log'))
        self.assertEqual(bad, [])
        self.assertIn('20 2 MiB superpage unmaps', summary)

    def test_superpage_rejects_an_unmap_without_the_hint(self):
        """superpage: tripped by a 2 MiB invalidation whose invalidation hint is clear (4 KiB pages)"""
        self.rejects('superpage-no-hint.log', 'without the invalidation hint')

    def test_superpage_rejects_a_smaller_invalidation(self):
        """superpage: tripped by an invalidation of 1 MiB (AM 8) where 2 MiB was unmapped"""
        self.rejects('superpage-small.log', 'other than a 2 MiB')

    def test_superpage_rejects_an_unaligned_invalidation(self):
        """superpage: tripped by a 2 MiB invalidation at an address that is not 2 MiB-aligned"""
        self.rejects('superpage-unaligned.log', 'unaligned')

    def test_superpage_rejects_a_step_without_invalidations(self):
        """superpage: a step in which QEMU saw no PASID-based invalidation checked nothing: a failure"""
        self.rejects('superpage-empty.log', 'nothing was checked')


class CompressedDump(unittest.TestCase):
    """The guest sends its trace dump as base64 of gzip; console() expands
    it. Made here from trace-real.log's plain dump."""
    def write(self, body_fn):
        import base64
        import gzip
        import tempfile
        lines = open(fx('trace-real.log')).read().splitlines()
        b, e = lines.index('@@TRACE-BEGIN'), lines.index('@@TRACE-END')
        data = base64.b64encode(gzip.compress(('\n'.join(lines[b + 1:e]) + '\n').encode())).decode()
        chunks = body_fn([data[i:i + 76] for i in range(0, len(data), 76)])
        f = tempfile.NamedTemporaryFile('w', suffix='.log', delete=False)
        f.write('\n'.join(lines[:b] + ['@@TRACE-GZ-BEGIN'] + chunks + ['@@TRACE-GZ-END'] + lines[e + 1:]) + '\n')
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_compressed_dump_reads_as_the_plain_one(self):
        """compressed trace dump: expanded, it gives the plain dump's events, and a QEMU record inside a line does not break it"""
        def split(c):
            c[1] = c[1][:30] + '1234@5.678:vtd_inv_qi_tail write tail 3\n' + c[1][30:]
            return c
        path = self.write(split)
        self.assertEqual(vtdlog.check(path), vtdlog.check(fx('trace-real.log')))
        self.assertGreater(vtdlog.check(path)[1], 10)

    def test_corrupt_compressed_dump_checks_nothing(self):
        """compressed trace dump: one character changed, it does not decode, and the trace check fails for having nothing to check"""
        def corrupt(c):
            c[2] = ('A' if c[2][5] != 'A' else 'B').join((c[2][:5], c[2][6:]))
            return c
        path = self.write(corrupt)
        bad, n = vtdlog.check(path)
        self.assertEqual(n, 0)
        self.assertTrue(any('nothing was checked' in b for b in bad), bad)


class Command(unittest.TestCase):
    def run_piped(self, *args):
        """vtdlog.py ARGS | head -n 1, as `grep -q` reads it: (status, stderr)."""
        import subprocess
        p = subprocess.Popen([sys.executable, os.path.join(HERE, '..', 'scripts', 'vtdlog.py')] +
                             list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.readline()
        p.stdout.close()  # the reader goes away with the rest unread
        err = p.stderr.read().decode()
        return p.wait(), err

    def test_a_reader_that_stops_early_gets_no_traceback(self):
        """vtdlog.py: a reader that stops after one line (grep -q) gets no BrokenPipeError traceback, and the exit code is 0"""
        # Enough lines that the writer is still writing when the pipe closes.
        import tempfile
        f = tempfile.NamedTemporaryFile('w', suffix='.log', delete=False)
        f.write(open(fx('trace-real.log')).read() * 20)
        f.close()
        self.addCleanup(os.unlink, f.name)
        rc, err = self.run_piped('console-lines', f.name)
        self.assertNotIn('Traceback', err)
        self.assertEqual(rc, 0)
