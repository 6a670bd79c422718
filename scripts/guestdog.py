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
Standard library only.
"""
import json
import os
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


def main():
    logf, sock, idle, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    while alive(pid):
        time.sleep(5)
        try:
            quiet = time.time() - os.stat(logf).st_mtime
        except OSError:
            continue
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
