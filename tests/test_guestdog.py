#!/usr/bin/env python3
"""guestdog.py's lost-timer detection (LostTimer) against a real stall
and doctored ones, and its reading of QEMU's view of a vCPU (qemu_view)
against QEMU's real answers, doctored, through a fake QMP socket.
Standard library only."""
import json
import os
import socket
import sys
import tempfile
import threading
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


def fixture(name):
    with open(os.path.join(HERE, 'fixtures', name)) as f:
        return f.read()


# An idle 2-vCPU guest's CPU 0 as QEMU 10.0.2 printed it: in HLT,
# interrupts on, its periodic local APIC timer counting, nothing in IRR.
REGS, LAPIC = fixture('qemu-info-registers.txt'), fixture('qemu-info-lapic.txt')


def running(regs, rip='ffffffff8138e9b3', flags='00000246'):
    """The registers of a vCPU not in HLT at RIP, with RFLAGS flags."""
    return (regs.replace('HLT=1', 'HLT=0').replace('RIP=ffffffff8138e9b3', 'RIP=' + rip)
            .replace('RFL=00000246', 'RFL=' + flags))


def pending(lapic, irr='236', ppr='0x10'):
    return lapic.replace('IRR\t (none)', 'IRR\t ' + irr).replace('PPR 0x10', 'PPR ' + ppr)


class QemuView(unittest.TestCase):
    def test_the_fixture_is_what_the_doctoring_expects(self):
        """guestdog: the real answers hold the strings the doctored cases replace"""
        for s in ('HLT=1', 'RIP=ffffffff8138e9b3', 'RFL=00000246'):
            self.assertIn(s, REGS)
        for s in ('IRR\t (none)', 'PPR 0x10', '(vec 236)'):
            self.assertIn(s, LAPIC)

    def test_real_idle_cpu(self):
        """guestdog: QEMU's real answers on an idle vCPU read as halted, timer counting, nothing held back"""
        v = guestdog.cpu_view(REGS, LAPIC)
        line = guestdog.describe(0, v, v)
        self.assertEqual(line, 'CPU 0: halted (HLT), interrupts on; its local APIC timer (periodic, vector 236) counting then counting')

    def test_timer_interrupt_held_back(self):
        """guestdog: the timer's vector in IRR at both looks of a vCPU running with interrupts on is QEMU's fault"""
        a = guestdog.cpu_view(running(REGS), pending(LAPIC))
        b = guestdog.cpu_view(running(REGS, rip='ffffffff81160021'), pending(LAPIC))
        line = guestdog.describe(0, a, b)
        self.assertIn('running, RIP ffffffff8138e9b3 then ffffffff81160021', line)
        self.assertIn(guestdog.UNDELIVERED, line)

    def test_halted_with_timer_held_back(self):
        """guestdog: a vCPU in HLT, interrupts on, its timer interrupt in IRR both times: QEMU's fault"""
        v = guestdog.cpu_view(REGS, pending(LAPIC))
        self.assertIn(guestdog.UNDELIVERED, guestdog.describe(1, v, v))

    def test_interrupts_off_is_the_guests(self):
        """guestdog: with interrupts off (a kernel spinning with IRQs disabled) the waiting timer is not QEMU's fault"""
        v = guestdog.cpu_view(running(REGS, flags='00000046'), pending(LAPIC))
        line = guestdog.describe(0, v, v)
        self.assertIn('interrupts off', line)
        self.assertIn('waiting in IRR both times', line)
        self.assertNotIn(guestdog.UNDELIVERED, line)

    def test_priority_holds_it_back(self):
        """guestdog: a processor priority of the timer's class (0xe0) holds the interrupt back: not QEMU's fault"""
        v = guestdog.cpu_view(running(REGS), pending(LAPIC, ppr='0xe0'))
        self.assertNotIn(guestdog.UNDELIVERED, guestdog.describe(0, v, v))

    def test_once_is_not_enough(self):
        """guestdog: the timer's vector in IRR at one look only (it was taken between) is not QEMU's fault"""
        a = guestdog.cpu_view(running(REGS), pending(LAPIC))
        b = guestdog.cpu_view(running(REGS), LAPIC)
        self.assertNotIn(guestdog.UNDELIVERED, guestdog.describe(0, a, b))

    def test_another_vector_is_not_the_timer(self):
        """guestdog: another vector waiting (a device's) says nothing about the timer"""
        v = guestdog.cpu_view(running(REGS), pending(LAPIC, irr='34'))
        self.assertNotIn(guestdog.UNDELIVERED, guestdog.describe(0, v, v))

    def test_running_cpu_without_a_tick(self):
        """guestdog: a running vCPU, interrupts on, its timer expired and nothing waiting at both looks is said so"""
        lapic = LAPIC.replace('current_count = 221597', 'current_count = 0')
        v = guestdog.cpu_view(running(REGS), lapic)
        line = guestdog.describe(0, v, v)
        self.assertIn('a running CPU with no tick armed at either look', line)
        self.assertNotIn(guestdog.UNDELIVERED, line)

    def test_no_registers(self):
        """guestdog: an error instead of registers is said so, not read as a state"""
        self.assertEqual(guestdog.describe(0, guestdog.cpu_view('error: x', ''), {}), 'CPU 0: QEMU gave no registers')


# CPU 0 of the make soak hot-add guest of 2026-11-24 (QEMU 10.0.2), silent
# for 600 s: in HLT, interrupts on, the timer's vector 236 in service and
# the next one waiting behind it (PPR 0xe0), the same 5 s later.
STUCK_REGS, STUCK_LAPIC = fixture('qemu-isr-stuck-registers.txt'), fixture('qemu-isr-stuck-lapic.txt')


class TimerInService(unittest.TestCase):
    def test_the_fixture_is_what_the_doctoring_expects(self):
        """guestdog: the real stuck answers hold the strings the doctored cases replace"""
        self.assertIn('RFL=00000246', STUCK_REGS)
        self.assertIn('ISR\t 236', STUCK_LAPIC)

    def test_real_stuck_isr(self):
        """guestdog: QEMU's real answers on the hung hot-add guest's CPU 0 (timer in service, halted, interrupts on) are QEMU's fault"""
        v = guestdog.cpu_view(STUCK_REGS, STUCK_LAPIC)
        line = guestdog.describe(0, v, v)
        self.assertIn('in service (ISR) both times', line)
        self.assertIn('the next one waiting in IRR behind it', line)
        self.assertIn(guestdog.UNDELIVERED, line)

    def test_in_service_at_one_look_only(self):
        """guestdog: the timer in service at one look (its handler ran then) is not QEMU's fault"""
        a = guestdog.cpu_view(STUCK_REGS, STUCK_LAPIC)
        b = guestdog.cpu_view(STUCK_REGS, STUCK_LAPIC.replace('ISR\t 236', 'ISR\t (none)').replace('PPR 0xe0', 'PPR 0x10')
                              .replace('IRR\t 236', 'IRR\t (none)'))
        self.assertNotIn(guestdog.UNDELIVERED, guestdog.describe(0, a, b))

    def test_in_service_with_interrupts_off(self):
        """guestdog: the timer in service with interrupts off at both looks (a handler that spins) is the guest's hang"""
        v = guestdog.cpu_view(running(STUCK_REGS.replace('HLT=1', 'HLT=0'), flags='00000046'), STUCK_LAPIC)
        line = guestdog.describe(0, v, v)
        self.assertIn('in service (ISR) both times', line)
        self.assertNotIn(guestdog.UNDELIVERED, line)


class FakeQmp(threading.Thread):
    """A QMP socket that answers as QEMU does, from given texts, and records
    the commands it got."""

    def __init__(self, path, answer):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        self.answer, self.got = answer, []

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            f = c.makefile('rw')
            f.write(json.dumps({'QMP': {}}) + '\n')
            f.flush()
            for line in f:
                cmd = json.loads(line)
                self.got.append(cmd)
                f.write(json.dumps({'return': self.answer(cmd)}) + '\n')
                f.flush()
            c.close()


class QemuViewThroughQmp(unittest.TestCase):
    def run_view(self, lapic1):
        d = tempfile.mkdtemp()
        looks = []

        def answer(cmd):
            if cmd['execute'] == 'query-cpus-fast':
                return [{'cpu-index': 0}, {'cpu-index': 1}]
            if cmd['execute'] != 'human-monitor-command':
                return {}
            line = cmd['arguments']['command-line']
            looks.append(line)
            if line == 'info registers':
                return REGS.replace('CPU#0', 'CPU#%d' % cmd['arguments']['cpu-index'])
            return lapic1 if line == 'info lapic 1' else LAPIC
        qmp = FakeQmp(os.path.join(d, 'q.sock'), answer)
        qmp.start()
        logf = os.path.join(d, 'log')
        open(logf, 'w').close()
        lines = guestdog.qemu_view(os.path.join(d, 'q.sock'), logf, gap=0)
        qmp.srv.close()
        with open(logf) as f:
            log = f.read()
        with open(logf + '.qemu-state') as f:
            state = f.read()
        return lines, log, state, qmp.got

    def test_every_vcpu_looked_at_twice(self):
        """guestdog: through QMP, each vCPU's registers (by cpu-index) and local APIC are read twice and logged"""
        lines, log, state, got = self.run_view(LAPIC)
        regs = [c['arguments'].get('cpu-index') for c in got
                if c['execute'] == 'human-monitor-command' and c['arguments']['command-line'] == 'info registers']
        self.assertEqual(regs, [0, 1, 0, 1])
        self.assertEqual(len(lines), 2)
        self.assertEqual(log.count("@@HOST QEMU's view"), 2)
        self.assertEqual(state.count('CPU#1'), 2)
        self.assertFalse(any(guestdog.UNDELIVERED in line for line in lines))

    def test_the_held_back_vcpu_is_named(self):
        """guestdog: through QMP, the vCPU whose timer interrupt QEMU holds back is the one named"""
        lines, log, _, _ = self.run_view(pending(LAPIC))
        self.assertNotIn(guestdog.UNDELIVERED, lines[0])
        self.assertTrue(lines[1].startswith('CPU 1: halted'))
        self.assertIn(guestdog.UNDELIVERED, lines[1])


if __name__ == '__main__':
    unittest.main()
