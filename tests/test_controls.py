"""The negative controls' verdicts (scripts/controls.py).

A control PASSes only when its check rejects the boot, and for the reason
its mutant was made for. Each case judges a log, from fixtures/ (cut from
real guest logs of make test) or written here in the shape a guest
prints, in a directory of its own with qemu.sh's record of how the boot
ended (LOG.end).
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import controls  # noqa: E402

SYMS = os.path.join(HERE, 'fixtures', 'sanitizers-iommu-syms')
# The tree's kunit.py (make tree), which the KUnit controls run.
KUNIT = os.path.join(os.environ.get('VTD_WORK') or os.path.join(HERE, '..', 'work'), 'linux', 'tools', 'testing',
                     'kunit', 'kunit.py')


class Controls(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='controls-')
        self.addCleanup(shutil.rmtree, self.dir)

    def boot(self, text=None, fixture=None, rc=0, how='finished'):
        """A boot's log (TEXT, or a copy of FIXTURE) and its LOG.end."""
        log = os.path.join(self.dir, 'guest.log')
        if fixture:
            shutil.copy(os.path.join(HERE, 'fixtures', fixture), log)
        else:
            with open(log, 'w') as f:
                f.write(text)
        with open(log + '.end', 'w') as f:
            json.dump({'rc': rc, 'how': how, 'detail': '', 'again': ''}, f)
        return log

    def verdict(self, log, expect, **opt):
        """The control's rows as {name: (status, detail)}."""
        return {n: (s, d) for s, n, d in controls.control(log, expect, opt)}

    # mutant-order: attach-order, rule (a) at every ATS disable
    def ats_first(self):
        """fixtures/order-detach.log (the series' detach order) with each
        ATS disable moved before its entry's teardown, 6.1's order: the
        ats-first mutant's trace."""
        with open(os.path.join(HERE, 'fixtures', 'order-detach.log')) as f:
            lines = f.read().split('\n')
        i = 0
        while i < len(lines):
            if 'entry_clear_' in lines[i]:
                j = next((j for j in range(i + 1, len(lines)) if 'ats_disable' in lines[j] or 'entry_clear_' in lines[j]),
                         None)
                if j is not None and 'ats_disable' in lines[j]:
                    clear, ats = lines[i], lines[j]
                    t_ats = ats.split(': ', 1)[0].split()[-1]
                    t_clear = clear.split(': ', 1)[0].split()[-1]
                    clear = clear.replace(t_clear + ':', '%.6f:' % (float(t_ats) + 0.000001), 1)
                    lines[i:j + 1] = lines[i + 1:j + 1] + [clear]
                    i = j
            i += 1
        return self.boot('\n'.join(lines))

    def test_order_trips_when_every_disable_comes_first(self):
        """mutant-order: every ATS disable before its entry's teardown (6.1's order) trips it"""
        v = self.verdict(self.ats_first(), 'mutant-order: attach-order fails')
        self.assertEqual(v['control:mutant-order'][0], 'PASS', v)
        self.assertIn('rule (a)', v['control:mutant-order'][1])

    def test_order_fails_when_one_disable_comes_first(self):
        """mutant-order: rule (a) at one ATS disable of seven is not the mutant's failure: FAIL"""
        v = self.verdict(self.boot(fixture='order-ats-first.log'), 'mutant-order: attach-order fails')
        self.assertEqual(v['control:mutant-order'][0], 'FAIL')
        self.assertIn('caught 1 of 7', v['control:mutant-order'][1])

    def test_order_fails_on_the_series_order(self):
        """mutant-order: a guest in the series' order is accepted by attach-order, so the control fails"""
        v = self.verdict(self.boot(fixture='order-detach.log'), 'mutant-order: attach-order fails')
        self.assertEqual(v['control:mutant-order'][0], 'FAIL')
        self.assertIn('accepted', v['control:mutant-order'][1])

    def test_order_fails_on_a_hung_guest(self):
        """mutant-order: a guest killed at its timeout judged nothing: FAIL"""
        log = self.boot(fixture='order-detach.log', rc=124, how='timeout')
        v = self.verdict(log, 'mutant-order: x')
        self.assertEqual(v['control:mutant-order'][0], 'FAIL')
        self.assertIn('hung', v['control:mutant-order'][1])

    # mutant-realflush: both cases' IOVAs missing at QEMU
    def test_realflush_trips_when_both_cases_are_swallowed(self):
        """mutant-realflush: a real kunit-swallow guest (no invalidation of either IOVA) trips it"""
        v = self.verdict(self.boot(fixture='realflush-swallowed.log'), 'mutant-realflush: neither')
        self.assertEqual(v['control:mutant-realflush'][0], 'PASS', v)

    def test_realflush_fails_when_one_case_reached_qemu(self):
        """mutant-realflush: one of the two cases invalidated is not the mutant's failure: FAIL"""
        v = self.verdict(self.boot(fixture='realflush-timer-swallowed.log'), 'mutant-realflush: neither')
        self.assertEqual(v['control:mutant-realflush'][0], 'FAIL')
        self.assertIn('not for both', v['control:mutant-realflush'][1])

    def test_realflush_fails_on_a_real_series_guest(self):
        """mutant-realflush: the series' own guest passes the check, so the control fails"""
        v = self.verdict(self.boot(fixture='realflush-real.log'), 'mutant-realflush: neither')
        self.assertEqual(v['control:mutant-realflush'][0], 'FAIL')
        self.assertIn('passed', v['control:mutant-realflush'][1])

    # mutant-sanitizer: the tool the expectation names
    def test_sanitizer_trips_on_a_kmemleak_listing(self):
        """mutant-sanitizer: kmemleak's object allocated through drivers/iommu trips a kmemleak expectation"""
        v = self.verdict(self.boot(fixture='sanitizers-leak.log'), 'mutant-sanitizer: kmemleak lists a tag', syms=SYMS)
        self.assertEqual(v['control:mutant-sanitizer'][0], 'PASS', v)
        self.assertTrue(v['control:mutant-sanitizer'][1].startswith('tripped: kmemleak:'))

    def test_sanitizer_trips_on_a_kasan_report(self):
        """mutant-sanitizer: KASAN's report in drivers/iommu trips a KASAN expectation"""
        v = self.verdict(self.boot(fixture='sanitizers-kasan.log'), 'mutant-sanitizer: KASAN reports', syms=SYMS)
        self.assertEqual(v['control:mutant-sanitizer'][0], 'PASS', v)

    def test_sanitizer_fails_for_another_tool(self):
        """mutant-sanitizer: rejected by kmemleak where KASAN was expected is the wrong reason: FAIL"""
        v = self.verdict(self.boot(fixture='sanitizers-leak.log'), 'mutant-sanitizer: KASAN reports', syms=SYMS)
        self.assertEqual(v['control:mutant-sanitizer'][0], 'FAIL')
        self.assertIn('no KASAN violation', v['control:mutant-sanitizer'][1])

    def test_sanitizer_fails_on_a_clean_debug_guest(self):
        """mutant-sanitizer: a real debug guest with nothing to report is accepted, so the control fails"""
        v = self.verdict(self.boot(fixture='sanitizers-real.log'), 'mutant-sanitizer: kmemleak lists', syms=SYMS)
        self.assertEqual(v['control:mutant-sanitizer'][0], 'FAIL')
        self.assertIn('accepted', v['control:mutant-sanitizer'][1])

    # mutant-vfio: the oracle read stale data and failed
    def kst(self, stale):
        """A real selftest's KTAP (fixtures/kst-real.log) with STALE stale
        reads: a non-zero count fails the oracle and the trace test."""
        with open(os.path.join(HERE, 'fixtures', 'kst-real.log')) as f:
            text = f.read()
        if stale:
            text = text.replace('200 remap cycles, 0 stale reads', '200 remap cycles, %d stale reads' % stale)
            text = text.replace('ok 2 vfio_edu.stale_iotlb_oracle', 'not ok 2 vfio_edu.stale_iotlb_oracle')
            text = text.replace('ok 5 vfio_edu.unmap_is_flushed', 'not ok 5 vfio_edu.unmap_is_flushed')
        return self.boot(text)

    def test_vfio_trips_on_stale_reads(self):
        """mutant-vfio: the oracle failed with stale reads, and the trace test failed: both controls trip"""
        v = self.verdict(self.kst(37), 'mutant-vfio: the oracle fails', mutant='skip-iotlb-sync-flush')
        self.assertEqual(v['control:mutant-oracle'][0], 'PASS', v)
        self.assertIn('37 of 200', v['control:mutant-oracle'][1])
        self.assertEqual(v['control:mutant-trace'][0], 'PASS', v)

    def test_vfio_fails_when_the_oracle_passes(self):
        """mutant-vfio: an oracle that read nothing stale is no trip: FAIL (the trace test only for skip-iotlb-sync-flush)"""
        v = self.verdict(self.kst(0), 'mutant-vfio: the oracle fails', mutant='drop-piotlb')
        self.assertEqual(v['control:mutant-oracle'][0], 'FAIL')
        self.assertNotIn('control:mutant-trace', v)

    # mutant-dio: dio fails, or the disk's DMA breaks
    def guest(self, *results, extra=''):
        lines = ['@@VTD KTAP version 1', '@@VTD 1..%d' % len(results)]
        lines += ['@@VTD %s %d %s' % (r[0], i + 1, r[1]) for i, r in enumerate(results)]
        return '\n'.join(lines + [extra]) + '\n'

    def test_dio_trips_when_dio_fails(self):
        """mutant-dio: dio not ok on the mutant trips it"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('not ok', 'dio # bs=4096 differs'))), 'mutant-dio: x')
        self.assertEqual(v['control:mutant-dio'][0], 'PASS', v)

    def test_dio_trips_when_virtio_breaks(self):
        """mutant-dio: no dio result, QEMU's virtio stopped the disk: trips it"""
        log = self.boot(self.guest(('ok', 'boot'))[:-1] + '\nqemu-system-x86_64: virtio: zero sized buffers are not allowed\n',
                        rc=124, how='silent')
        v = self.verdict(log, 'mutant-dio: x')
        self.assertEqual(v['control:mutant-dio'][0], 'PASS', v)
        self.assertIn('zero sized buffers', v['control:mutant-dio'][1])

    def test_dio_fails_when_dio_passes(self):
        """mutant-dio: dio ok on the mutant: FAIL"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('ok', 'dio'))), 'mutant-dio: x')
        self.assertEqual(v['control:mutant-dio'][0], 'FAIL')

    # mutant-drivers: the real drivers' step fails, or a disk's DMA breaks
    def test_drivers_trips_when_the_step_fails(self):
        """mutant-drivers: the drivers step not ok on the mutant trips it, naming the profile"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('not ok', 'drivers # concurrent I/O: sata: generation 1 (bs=4096): MISMATCH block 0 (offset 0, bs 4096);'))),
                         'mutant-drivers: x', profile='drivers-fl')
        self.assertEqual(v['control:mutant-drivers'][0], 'PASS', v)
        self.assertIn('drivers failed in profile drivers-fl', v['control:mutant-drivers'][1])

    def test_pair_trips_on_a_mismatch_only(self):
        """mutant-pair: the pair step failing for data that differs trips it; failing otherwise does not"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('not ok', 'pair # /dev/nvme0n1 (0000:02:01.0) and /dev/nvme1n1 (0000:02:02.0) at once: b: generation 2 (bs=65536): MISMATCH block 3 (offset 196608, bs 65536); (seed 10)'))),
                         'mutant-pair: x', profile='bridge')
        self.assertEqual(v['control:mutant-pair'][0], 'PASS', v)
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('not ok', 'pair # 1 NVMe namespaces, not 2'))),
                         'mutant-pair: x', profile='bridge')
        self.assertEqual(v['control:mutant-pair'][0], 'FAIL', v)
        self.assertIn('not for data that differs', v['control:mutant-pair'][1])

    def test_drivers_fails_when_the_step_passes(self):
        """mutant-drivers: the drivers step ok on the mutant: FAIL"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('ok', 'drivers'))), 'mutant-drivers: x')
        self.assertEqual(v['control:mutant-drivers'][0], 'FAIL')
        self.assertIn('drivers did not fail', v['control:mutant-drivers'][1])

    def test_drivers_fails_when_the_guest_breaks_first(self):
        """mutant-drivers: no step result, the guest idle until the watchdog, is no trip here: FAIL"""
        log = self.boot(self.guest(('ok', 'boot'))[:-1] + '\nqemu-system-x86_64: virtio: zero sized buffers are not allowed\n',
                        rc=124, how='silent')
        v = self.verdict(log, 'mutant-drivers: x', profile='drivers')
        self.assertEqual(v['control:mutant-drivers'][0], 'FAIL')
        self.assertIn('gave no drivers result', v['control:mutant-drivers'][1])

    def test_drivers_trips_when_the_steps_io_is_lost(self):
        """mutant-drivers: the step began and the guest was stopped in it (its I/O lost): trips it"""
        log = self.boot(self.guest(('ok', 'boot'))[:-1] + '\n[    5.0][    T1] VTD-MARK begin drivers\n',
                        rc=124, how='timeout')
        v = self.verdict(log, 'mutant-drivers: x', profile='drivers')
        self.assertEqual(v['control:mutant-drivers'][0], 'PASS', v)
        self.assertIn("drivers's I/O never completed", v['control:mutant-drivers'][1])

    def test_drivers_fails_for_another_failure(self):
        """mutant-drivers: the step failing for another reason than data that differs (a disk missing) is no trip: FAIL"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('not ok', 'drivers # disks missing: nvme= sata=/dev/sda usb='))),
                         'mutant-drivers: x', profile='drivers-fl')
        self.assertEqual(v['control:mutant-drivers'][0], 'FAIL')
        self.assertIn('not for data that differs', v['control:mutant-drivers'][1])

    def test_drivers_fails_without_the_step(self):
        """mutant-drivers: a dio failure is not the drivers step's: FAIL"""
        v = self.verdict(self.boot(self.guest(('ok', 'boot'), ('not ok', 'dio # x'))), 'mutant-drivers: x')
        self.assertEqual(v['control:mutant-drivers'][0], 'FAIL')
        self.assertIn('gave no drivers result', v['control:mutant-drivers'][1])

    # mutant-oops: a KASAN null-ptr-deref in intel_iommu_release_device()'s path
    OOPS = ('[   12.0][  T1] BUG: KASAN: null-ptr-deref in dmar_remove_one_dev_info+0x1/0x2\n'
            '[   12.0][  T1] Read of size 8 at addr 0000000000000010 by task sh/1\n'
            '[   12.0][  T1] Call Trace:\n'
            '[   12.0][  T1]  %s+0x3/0x4\n'
            '[   12.0][  T1] Kernel panic - not syncing: Fatal exception\n')

    def test_oops_trips_on_the_null_dereference(self):
        """mutant-oops: a KASAN null-ptr-deref with intel_iommu_release_device() on the stack trips it"""
        v = self.verdict(self.boot(self.OOPS % 'intel_iommu_release_device', rc=1), 'mutant-oops: x')
        self.assertEqual(v['control:mutant-oops'][0], 'PASS', v)

    def test_oops_fails_on_another_path(self):
        """mutant-oops: the same oops with another function on the stack is the wrong reason: FAIL"""
        v = self.verdict(self.boot(self.OOPS % 'iommu_group_remove_device', rc=1), 'mutant-oops: x')
        self.assertEqual(v['control:mutant-oops'][0], 'FAIL')
        self.assertIn('not for a null dereference', v['control:mutant-oops'][1])

    # mutant-iqe, mutant-rcu: KUnit cases that must run and fail
    RCU = 'intel_iommu_cache_tags.unassign_waits_for_a_flush_in_progress'

    def kunit(self, fixture):
        if not os.path.exists(KUNIT):
            self.skipTest('no tree (make tree): no kunit.py at %s' % KUNIT)
        return self.boot(fixture=fixture)

    def test_iqe_trips_when_the_suite_fails(self):
        """mutant-iqe: the iqe-first-only mutant's queue error suite, its batches failing, trips it"""
        v = self.verdict(self.kunit('controls-iqe-mutant.log'), 'mutant-iqe: x', kunit=KUNIT)
        self.assertEqual(v['control:mutant-iqe'][0], 'PASS', v)

    def test_iqe_fails_when_the_suite_passes(self):
        """mutant-iqe: the suite passing, as on the series (sm-fl), is no trip: FAIL"""
        v = self.verdict(self.kunit('controls-iqe-real.log'), 'mutant-iqe: x', kunit=KUNIT)
        self.assertEqual(v['control:mutant-iqe'][0], 'FAIL')
        self.assertIn('passed on a kernel without the fix', v['control:mutant-iqe'][1])

    def test_ite_trips_when_the_matrix_fails(self):
        """mutant-ite: the ite-restart mutant's time-out suite, its matrix failing, trips it"""
        v = self.verdict(self.kunit('controls-ite-mutant.log'), 'mutant-ite: x', kunit=KUNIT)
        self.assertEqual(v['control:mutant-ite'][0], 'PASS', v)
        self.assertIn('38 of 38 matrix results', v['control:mutant-ite'][1])

    def test_ite_fails_when_the_suite_passes(self):
        """mutant-ite: the suite passing, as on the series, is no trip: FAIL"""
        v = self.verdict(self.kunit('controls-ite-real.log'), 'mutant-ite: x', kunit=KUNIT)
        self.assertEqual(v['control:mutant-ite'][0], 'FAIL')
        self.assertIn("passed on 6.1's handling", v['control:mutant-ite'][1])

    def test_ite_fails_without_the_suite(self):
        """mutant-ite: a boot without the suite (the queue error suite's) judges nothing: FAIL"""
        v = self.verdict(self.kunit('controls-iqe-real.log'), 'mutant-ite: x', kunit=KUNIT)
        self.assertEqual(v['control:mutant-ite'][0], 'FAIL')
        self.assertIn('did not run to a verdict', v['control:mutant-ite'][1])

    def test_rcu_trips_when_its_case_fails(self):
        """mutant-rcu: the rcu-no-grace mutant's case, failed, trips it"""
        v = self.verdict(self.kunit('controls-rcu-mutant.log'), 'mutant-rcu: the case fails on a kernel that x',
                         kunit=KUNIT, case=self.RCU)
        self.assertEqual(v['control:mutant-rcu'][0], 'PASS', v)

    def test_rcu_fails_when_its_case_passes(self):
        """mutant-rcu: the case passing, as on the series (legacy, every suite), is no trip: FAIL"""
        v = self.verdict(self.kunit('controls-kunit-real.log'), 'mutant-rcu: the case fails on a kernel that x',
                         kunit=KUNIT, case=self.RCU)
        self.assertEqual(v['control:mutant-rcu'][0], 'FAIL')
        self.assertIn('passed on a kernel that x', v['control:mutant-rcu'][1])

    def test_rcu_fails_when_its_case_did_not_run(self):
        """mutant-rcu: the case absent from the run (another suite filtered) is no trip: FAIL"""
        v = self.verdict(self.kunit('controls-iqe-real.log'), 'mutant-rcu: the case fails on a kernel that x',
                         kunit=KUNIT, case=self.RCU)
        self.assertEqual(v['control:mutant-rcu'][0], 'FAIL')
        self.assertIn('did not run to a verdict', v['control:mutant-rcu'][1])

    def test_rcu_fails_without_a_case(self):
        """mutant-rcu: a row that filters for no case judges nothing: FAIL"""
        v = self.verdict(self.boot('x\n'), 'mutant-rcu: the case fails on a kernel that x', kunit=KUNIT)
        self.assertEqual(v['control:mutant-rcu'][0], 'FAIL')
        self.assertIn('no KUnit case', v['control:mutant-rcu'][1])

    # The plan and the build
    def test_an_unknown_expectation_is_a_failure(self):
        """controls: an expectation no control judges is a FAIL of the plan"""
        v = self.verdict(self.boot('x\n'), 'mutant-nothing: fails')
        self.assertEqual(v['plan'][0], 'FAIL')

    def test_a_mutant_that_did_not_build_fails(self):
        """controls: a mutant kernel that did not build is a FAIL, whatever its (absent) log"""
        v = self.verdict(os.path.join(self.dir, 'none.log'), 'mutant-dio: x', failed='build.out')
        self.assertEqual(v['control:mutant-dio'], ('FAIL', 'the mutant kernel did not build: build.out'))


if __name__ == '__main__':
    unittest.main()
