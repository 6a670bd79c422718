#!/usr/bin/env python3
"""Run the harness's unit tests; one line each: STATUS<TAB>name<TAB>detail.

STATUS is PASS, FAIL or SKIP; detail is the test's docstring, or the
failure. Exits 1 if any failed or none ran. Standard library only.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Result(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.lines = []

    def _doc(self, test):
        return (test.shortDescription() or '').replace('\t', ' ')

    def addSuccess(self, test):
        self.lines.append(('PASS', test._testMethodName, self._doc(test)))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        msg = str(err[1]).strip().splitlines()
        self.lines.append(('FAIL', test._testMethodName, (msg[-1] if msg else 'failed')[:200]))

    def addError(self, test, err):
        super().addError(test, err)
        self.lines.append(('FAIL', test._testMethodName, 'error: %s' % str(err[1])[:200]))

    def addSkip(self, test, reason):
        self.lines.append(('SKIP', test._testMethodName, reason))


def main():
    suite = unittest.defaultTestLoader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
    res = Result()
    suite.run(res)
    for line in res.lines:
        print('\t'.join(line))
    if not res.lines:
        print('FAIL\tunittests\tno harness unit test ran')
    return 0 if res.lines and res.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
