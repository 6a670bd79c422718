#!/usr/bin/env python3
"""Stop a guest that has gone quiet, and leave in its log why.

usage: guestdog.py LOG QMP-SOCKET IDLE PID

While PID (the `timeout` that runs QEMU) lives, watches LOG, which the
guest's serial console (and QEMU's trace) append to. Every guest step
prints within seconds, and the long ones print a line of progress at least
every minute or so on a quiet machine, so IDLE seconds without a byte mean
the guest or QEMU is stuck. Then, in this order, appended to LOG behind
"@@HOST ":
  - whether QEMU's monitor answers (query-status): if not, QEMU itself is
    stuck, not the kernel under test;
  - an NMI to every vCPU (inject-nmi): the guest boots with
    unknown_nmi_panic panic_print=0x9, so the kernel panics and prints
    where CPU 0 was, every task's stack and the locks held (lockdep);
    QEMU (-no-reboot) then exits;
  - after 60s, if QEMU is still there, SIGTERM to PID.
Before all that it creates LOG.idle: qemu.sh reports such a boot as
hung (exit 124).

It also stops, at once, a guest whose vCPU QEMU no longer gives timer
interrupts (lost_timer): two RCU stall reports naming the same CPU, idle
in HLT, for a timer that never fired, with that CPU's timer softirq count
the same in both. It writes LOG.stalled first; qemu.sh keeps the log
aside and boots once more, as for QEMU's own assertions.
Standard library only.
"""
import collections
import json
import os
import re
import signal
import socket
import sys
import time


def note(logf, text):
    with open(logf, 'a') as f:
        f.write('\n@@HOST %s\n' % text)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def monitor(sock_path, commands):
    """Run QMP commands; their answers, or why there are none."""
    out = []
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(sock_path)
        f = s.makefile('rw')
        f.readline()  # greeting
        for cmd in ['qmp_capabilities'] + commands:
            f.write(json.dumps({'execute': cmd}) + '\n')
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if 'return' in msg or 'error' in msg:
                    break
            out.append((cmd, msg))
        s.close()
    except (OSError, ValueError) as e:
        out.append(('connect', {'error': {'desc': 'no answer: %s' % e}}))
    return out


# An RCU stall of a vCPU that QEMU stopped giving timer interrupts
# (QEMU 10.0's multi-threaded TCG, 2 vCPUs; seen in 2 of some 40 boots of
# a make test on 2026-11-24, once 20 s into a boot, once after an S3
# wake-up): the grace-period kthread's timer, queued on that CPU, never
# fires; the CPU sits in HLT (the NMI backtrace says so) and its timer
# softirq count stands still from one report to the next, for as long as
# the guest is left. A CPU spinning in the kernel (a lockup of the code
# under test) is not idle in HLT, and a CPU starved by a busy host runs
# its softirqs once it gets time: neither matches.
STALL_TIMER = re.compile(r"rcu: \s*Possible timer handling issue on cpu=(\d+) timer-softirq=(\d+)")
STALL_IDLE = re.compile(r"NMI backtrace for cpu (\d+) skipped: idling at (\w+)")
STALL_WAKEUP = re.compile(r"rcu: \w+ kthread timer wakeup didn't happen for (\d+) jiffies")


class LostTimer:
    """Reads the console a chunk at a time; found() is the evidence once a
    CPU's timer is lost: two stall reports for that CPU, idle in HLT,
    with the same timer softirq count."""

    def __init__(self):
        self.recent = collections.deque(maxlen=80)
        self.seen = {}      # cpu -> softirq count of its first report
        self.evidence = None
        self.partial = ''

    def feed(self, text):
        text = self.partial + text
        lines = text.split('\n')
        self.partial = lines.pop()
        for line in lines:
            self.line(line)

    def line(self, line):
        self.recent.append(line)
        m = STALL_TIMER.search(line)
        if not m or self.evidence:
            return
        cpu, count = m.group(1), m.group(2)
        idle = [i.group(2) for i in map(STALL_IDLE.search, self.recent) if i and i.group(1) == cpu]
        wake = [w.group(1) for w in map(STALL_WAKEUP.search, self.recent) if w]
        if not idle or not wake:
            return
        if self.seen.get(cpu) == count:
            self.evidence = ('CPU %s idle in %s, its timer softirq count %s in two RCU stall reports; '
                             "the grace-period kthread's timer wakeup late by %s jiffies"
                             % (cpu, idle[-1], count, wake[-1]))
        else:
            self.seen[cpu] = count

    def found(self):
        return self.evidence


def main():
    logf, sock, idle, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    lost, offset = LostTimer(), 0
    while alive(pid):
        time.sleep(5)
        try:
            quiet = time.time() - os.stat(logf).st_mtime
            with open(logf, 'rb') as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
        except OSError:
            continue
        lost.feed(chunk.decode(errors='replace'))
        if lost.found():
            open(logf + '.stalled', 'w').write(lost.found() + '\n')
            note(logf, 'QEMU gives a vCPU no timer interrupts: %s. Stopping QEMU' % lost.found())
            os.kill(pid, signal.SIGTERM)
            return
        if quiet < idle:
            continue
        # First the mark qemu.sh reads: it may kill this once QEMU exits.
        open(logf + '.idle', 'w').write('%d\n' % quiet)
        note(logf, 'no console output for %ds: asking QEMU, then an NMI' % quiet)
        for cmd, msg in monitor(sock, ['query-status', 'inject-nmi']):
            if cmd == 'query-status' and 'return' in msg:
                note(logf, 'QEMU answers: status %s' % msg['return'].get('status'))
            elif 'error' in msg:
                note(logf, 'QEMU %s: %s' % (cmd, msg['error'].get('desc')))
        for _ in range(60):
            if not alive(pid):
                break
            time.sleep(1)
        if alive(pid):
            note(logf, 'QEMU still running 60s after the NMI: killing it')
            os.kill(pid, signal.SIGTERM)
        return


if __name__ == '__main__':
    main()
