#!/usr/bin/env python3
"""guestdog.py's lost-timer detection (LostTimer) against a real stall
and doctored ones. Standard library only."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import guestdog  # noqa: E402

REAL = os.path.join(HERE, 'fixtures', 'stall-lost-timer.log')


def found(text, chunk=4096):
    d = guestdog.LostTimer()
    for i in range(0, len(text), chunk):
        d.feed(text[i:i + chunk])
    return d.found()


class LostTimer(unittest.TestCase):
    def setUp(self):
        with open(REAL) as f:
            self.text = f.read()

    def test_real_stall_is_found(self):
        """guestdog: a real lost timer (CPU 1 idle in HLT, its timer softirqs at 556 in stall after stall) stops the guest"""
        self.assertIn('CPU 1 idle in native_safe_halt, its timer softirq count 556', found(self.text) or '')

    def test_read_a_byte_at_a_time(self):
        """guestdog: the log read in chunks that split lines finds the same"""
        self.assertEqual(found(self.text, 7), found(self.text))

    def test_one_report_is_not_enough(self):
        """guestdog: a single stall report (the timer may yet fire) is left alone"""
        first = self.text.index('Possible timer handling issue')
        cut = self.text.index('\n', self.text.index('Possible timer handling issue', first + 1))
        second_start = self.text.rfind('rcu: INFO', 0, cut)
        self.assertIsNone(found(self.text[:second_start]))

    def test_a_timer_that_ran_between_reports_is_not_lost(self):
        """guestdog: the softirq count moving between reports (a starved CPU that got time) is left alone"""
        n = [0]

        def bump(line):
            if 'timer-softirq=556' in line:
                n[0] += 1
                return line.replace('556', str(556 + n[0]))
            return line
        text = '\n'.join(bump(l) for l in self.text.split('\n'))
        self.assertIsNone(found(text))

    def test_a_busy_cpu_is_not_a_lost_timer(self):
        """guestdog: the CPU running kernel code, not idle in HLT (a lockup of the code under test), is left alone"""
        text = self.text.replace('NMI backtrace for cpu 1 skipped: idling at native_safe_halt+0x13/0x14',
                                 'NMI backtrace for cpu 1')
        self.assertIsNone(found(text))


if __name__ == '__main__':
    unittest.main()
