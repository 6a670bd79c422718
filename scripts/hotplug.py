#!/usr/bin/env python3
"""Answer the guest's hot-plug requests over QMP.

usage: hotplug.py LOG QMP-SOCKET

Follows LOG (the serial console QEMU writes) and, for each guest line
"@@HOTPLUG del N" or "@@HOTPLUG add N", removes or re-adds the virtio-blk
disk (id vblk1 on root port rp1, block node d0, ATS as in the profile).
Exits when the guest is done or QEMU goes away. Standard library only.
"""
import json
import os
import re
import socket
import sys
import time


def qmp(sock_path):
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit('hotplug.py: no QMP socket at %s' % sock_path)
    f = s.makefile('rw')
    f.readline()  # greeting
    call(f, 'qmp_capabilities')
    return f


def call(f, cmd, **args):
    f.write(json.dumps({'execute': cmd, 'arguments': args}) + '\n')
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if 'return' in reply or 'error' in reply:
            if 'error' in reply:
                print('hotplug.py: %s: %s' % (cmd, reply['error']), file=sys.stderr)
            return reply


def main(log, sock_path):
    ats = os.environ.get('ATS', 'off') == 'on'
    f = None
    pos = 0
    partial = ''
    deadline = time.time() + float(os.environ.get('TIMEOUT', '600'))
    while time.time() < deadline:
        try:
            with open(log, errors='replace') as fh:
                fh.seek(pos)
                data = fh.read()
                pos = fh.tell()
        except FileNotFoundError:
            data = ''
        # Act on whole lines only: a marker may arrive in two reads.
        data, _, partial = (partial + data).rpartition('\n')
        for m in re.finditer(r'@@HOTPLUG (del|add) (\d+)', data):
            f = f or qmp(sock_path)
            if m.group(1) == 'del':
                call(f, 'device_del', id='vblk1')
            else:
                call(f, 'device_add', driver='virtio-blk-pci', id='vblk1', bus='rp1',
                     drive='d0', iommu_platform=True, ats=ats)
        if '@@VTD-DONE' in data:
            return
        time.sleep(0.05)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
