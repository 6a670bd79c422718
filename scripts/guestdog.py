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

Before the NMI it reads, twice, what QEMU says each vCPU does
(qemu_view: registers and local APIC, raw into LOG.qemu-state): a vCPU
with interrupts on whose timer vector is in service (ISR) both times, or
waits in IRR both times below the priority, is one QEMU does not
interrupt, and that boot is handled as a lost timer below.

It also stops, at once, a guest whose vCPU QEMU no longer gives timer
interrupts (lost_timer): two RCU stall reports naming the same CPU, idle
in HLT, for a timer that never fired, with that CPU's timer softirq count
the same in both. It writes LOG.stalled first, and what QEMU says of
each vCPU as above; qemu.sh keeps the log
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
    """Run QMP commands, each a name or (name, arguments); their answers,
    or why there are none."""
    out = []
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(sock_path)
        f = s.makefile('rw')
        f.readline()  # greeting
        for cmd in ['qmp_capabilities'] + commands:
            name, args = cmd if isinstance(cmd, tuple) else (cmd, None)
            msg = {'execute': name}
            if args:
                msg['arguments'] = args
            f.write(json.dumps(msg) + '\n')
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if 'return' in msg or 'error' in msg:
                    break
            out.append((name, msg))
        s.close()
    except (OSError, ValueError) as e:
        out.append(('connect', {'error': {'desc': 'no answer: %s' % e}}))
    return out


# What QEMU itself says each vCPU is doing, read twice a few seconds apart
# before the NMI (which ends the guest): whether it runs (RIP moves) or
# halts, with interrupts on or off, whether its local APIC timer counts,
# and whether the timer's vector sits in service (ISR) or waits (IRR)
# where the vCPU should have taken it. The guest's own account (the NMI backtrace, its clock) cannot
# tell a vCPU that QEMU stopped interrupting from one the kernel left
# without a timer; this can.
def hmp(sock_path, lines):
    """HMP commands through QMP, each (command line, cpu index or None);
    their text, or the error."""
    cmds = [('human-monitor-command', dict({'command-line': c}, **({} if i is None else {'cpu-index': i})))
            for c, i in lines]
    out = []
    for name, msg in monitor(sock_path, cmds):
        if name == 'qmp_capabilities':
            continue
        out.append(msg.get('return') if 'return' in msg else 'error: %s' % msg['error'].get('desc'))
    return out


def cpu_view(registers, lapic):
    """The facts of one vCPU from `info registers` and `info lapic N`."""
    v = {}
    m = re.search(r'RIP=([0-9a-f]+) RFL=([0-9a-f]+)', registers)
    if m:
        v['rip'] = m.group(1)
        v['if'] = bool(int(m.group(2), 16) & 0x200)
    m = re.search(r'HLT=(\d)', registers)
    if m:
        v['hlt'] = m.group(1) == '1'
    m = re.search(r'^LVTT\s+0x([0-9a-f]+).*?(one-shot|periodic|tsc-deadline).*\(vec (\d+)\)', lapic, re.M)
    if m:
        v['lvtt_masked'] = bool(int(m.group(1), 16) & 0x10000)
        v['mode'], v['vec'] = m.group(2), int(m.group(3))
    m = re.search(r'current_count = (\d+)', lapic)
    if m:
        v['current'] = int(m.group(1))
    m = re.search(r'PPR 0x([0-9a-f]+)', lapic)
    if m:
        v['ppr'] = int(m.group(1), 16)
    for reg in ('IRR', 'ISR'):
        m = re.search(r'^%s\s+(.*)$' % reg, lapic, re.M)
        if m:
            v[reg.lower()] = [int(x) for x in re.findall(r'\d+', m.group(1))]
    return v


UNDELIVERED = 'QEMU does not deliver it'


def describe(cpu, a, b):
    """One line on a vCPU seen twice."""
    if 'rip' not in a or 'rip' not in b:
        return 'CPU %d: QEMU gave no registers' % cpu
    halted = a.get('hlt') and b.get('hlt')
    run = 'halted (HLT)' if halted else (
        'running, RIP %s then %s' % (a['rip'], b['rip']) if a['rip'] != b['rip'] else 'at RIP %s both times' % a['rip'])
    irqs = {(True, True): 'interrupts on', (False, False): 'interrupts off'}.get((a['if'], b['if']), 'interrupts toggled')
    if 'vec' not in a or 'vec' not in b:
        timer = 'no local APIC timer state'
    elif a['lvtt_masked'] and b['lvtt_masked']:
        timer = 'its local APIC timer masked'
    else:
        vec = a['vec']
        armed = ['counting' if v['current'] else 'expired' for v in (a, b)]
        timer = 'its local APIC timer (%s, vector %d) %s then %s' % (a['mode'], vec, armed[0], armed[1])
        waiting = [vec in v.get('irr', []) for v in (a, b)]
        # The processor priority (the task priority, or an interrupt in
        # service) of its class or above holds it back.
        held = any(v.get('ppr', 0) >> 4 >= vec >> 4 for v in (a, b))
        # Linux acknowledges the timer (EOI) first thing in its handler,
        # and never halts or runs on for seconds inside it: the vector in
        # service at two looks, interrupts on at both, is an interrupt
        # QEMU put in service that the guest never took (or whose EOI it
        # lost). It then holds back every interrupt of its class, the
        # timer's next ones included.
        in_service = all(vec in v.get('isr', []) for v in (a, b))
        if in_service:
            timer += ', its vector in service (ISR) both times'
            if a['if'] and b['if']:
                timer += ' with interrupts on, which Linux never leaves it: ' + UNDELIVERED
            if all(waiting):
                timer += '; the next one waiting in IRR behind it'
        elif all(waiting):
            timer += ', its interrupt waiting in IRR both times'
            if a['if'] and b['if'] and not held:
                timer += ' with interrupts on and the priority below it: ' + UNDELIVERED
        elif armed == ['expired', 'expired'] and not any(waiting) and not halted \
                and a['if'] and b['if'] and a['mode'] != 'tsc-deadline':
            timer += ', nothing waiting: a running CPU with no tick armed at either look'
    return 'CPU %d: %s, %s; %s' % (cpu, run, irqs, timer)


def qemu_view(sock_path, logf, gap=5):
    """Looks twice at every vCPU; the raw text goes to LOG.qemu-state,
    a line per vCPU to the log."""
    cpus = [(name, msg) for name, msg in monitor(sock_path, ['query-cpus-fast']) if name == 'query-cpus-fast']
    if not cpus or 'return' not in cpus[0][1]:
        return
    n = len(cpus[0][1]['return'])
    looks = []
    for look in range(2):
        if look:
            time.sleep(gap)
        lines = []
        for i in range(n):
            lines += [('info registers', i), ('info lapic %d' % i, None)]
        looks.append(hmp(sock_path, lines))
    with open(logf + '.qemu-state', 'w') as f:
        for k, texts in enumerate(looks):
            f.write('==== look %d%s\n' % (k + 1, ' (%ds later)' % gap if k else ''))
            f.write('\n'.join(texts) + '\n')
    lines = []
    for i in range(n):
        a, b = (cpu_view(t[2 * i], t[2 * i + 1]) for t in looks)
        lines.append(describe(i, a, b))
        note(logf, "QEMU's view, %ds apart: %s" % (gap, lines[-1]))
    return lines


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
            qemu_view(sock, logf)
            os.kill(pid, signal.SIGTERM)
            return
        if quiet < idle:
            continue
        # First the mark qemu.sh reads: it may kill this once QEMU exits.
        open(logf + '.idle', 'w').write('%d\n' % quiet)
        note(logf, 'no console output for %ds: asking QEMU, then an NMI' % quiet)
        # A timer interrupt QEMU holds back is QEMU's fault, as a lost
        # timer is: LOG.stalled makes qemu.sh keep this boot aside and boot
        # once more (a hang of the kernel under test hangs the second too).
        held = [line for line in qemu_view(sock, logf) or [] if UNDELIVERED in line]
        if held:
            open(logf + '.stalled', 'w').write(held[0] + '\n')
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
