"""scripts/ktap.py: make test's results as KTAP v1 for kunit.py parse."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import ktap  # noqa: E402


class Ktap(unittest.TestCase):
    ROWS = [('PASS', 'build', 'series', '23 patches'),
            ('SKIP', 'bench', '-', 'not asked for'),
            ('FAIL', 'trace-check', 'legacy-ats', '3 violations # of 40'),
            ('PASS', 'kunit:suite.case #2', 'legacy', '')]

    def test_plan_results_and_diagnostics(self):
        """ktap.py: a plan first, one result per row in order, the detail as a diagnostic above it, SKIP as a directive"""
        self.assertEqual(ktap.ktap(self.ROWS).splitlines(), [
            'KTAP version 1', '1..4',
            '# 23 patches', 'ok 1 build series',
            'ok 2 bench # SKIP not asked for',
            '# 3 violations # of 40', 'not ok 3 trace-check legacy-ats',
            'ok 4 kunit:suite.case _2 legacy'])

    def test_a_failure_is_never_written_as_ok(self):
        """ktap.py: tripped if a FAIL row came out as anything but 'not ok'"""
        out = ktap.ktap([('FAIL', 'x', '-', '')]).splitlines()
        self.assertEqual(out[-1], 'not ok 1 x')

    def test_only_result_rows_count(self):
        """ktap.py: lines that are not results (a stray line in results.tsv) are left out of the plan"""
        import tempfile
        f = tempfile.NamedTemporaryFile('w', suffix='.tsv', delete=False)
        f.write('PASS\tbuild\tseries\tok\nnoise\nFAIL\tboot\tlegacy\n')
        f.close()
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(ktap.rows(f.name), [('PASS', 'build', 'series', 'ok'),
                                             ('FAIL', 'boot', 'legacy', '')])
