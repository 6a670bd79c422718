#!/usr/bin/env python3
"""Answer the guest's hot-plug and wake-up requests over QMP.

usage: hotplug.py LOG QMP-SOCKET

Follows LOG (the serial console QEMU writes) and, for each guest line
"@@HOTPLUG del N" or "@@HOTPLUG add N", removes or re-adds the virtio-blk
disk (id vblk1 on root port rp1, block node d0, ATS as in the profile);
"@@HOTPLUG del nvme1 N" and "@@HOTPLUG add nvme1 N" do the same with the
drivers profiles' NVMe controller (id nvme1 on rp3, block node n0);
for each "@@SUSPEND N", waits until the guest has suspended to RAM and
wakes it (system_wakeup). Exits when the guest is done or QEMU goes away.
How long each removal took QEMU goes to LOG.hotplug, a line a round.
Standard library only.
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


EVENTS = []


def read(f):
    """The next QMP message; events are kept for wait_deleted()."""
    msg = json.loads(f.readline())
    if 'event' in msg:
        EVENTS.append(msg)
    return msg


def call(f, cmd, quiet=False, **args):
    f.write(json.dumps({'execute': cmd, 'arguments': args}) + '\n')
    f.flush()
    while True:
        reply = read(f)
        if 'return' in reply or 'error' in reply:
            if 'error' in reply and not quiet:
                print('hotplug.py: %s: %s' % (cmd, reply['error']), file=sys.stderr)
            return reply


def take_event(f, match, deadline):
    """The first QMP event MATCH accepts, taken off the queue, or None at
    DEADLINE."""
    while time.time() < deadline:
        for e in EVENTS:
            if match(e):
                EVENTS.remove(e)
                return e
        call(f, 'query-status', quiet=True)  # reads any events queued meanwhile
        time.sleep(0.05)
    return None


def present(f, dev):
    """Whether QEMU still has DEV (a user-created device, under
    /machine/peripheral)."""
    reply = call(f, 'qom-list', quiet=True, path='/machine/peripheral')
    return any(p.get('name') == dev for p in reply.get('return', []))


def wait_deleted(f, dev, n, note, since, timeout=90, again=15):
    """QEMU finishes an unplug after the guest lets go of the device; only
    then is the block node free for a new device. Wait for DEVICE_DELETED.
    Every AGAIN seconds without it: a device QEMU no longer has counts as
    deleted, and one it still has is asked for again (device_del once
    more: 6.1's ACPI hot-plug driver, busy with the previous round, can
    miss the request; a repeated request is refused by QEMU while the
    first is still pending, harmlessly). NOTE gets how round N went, timed
    from SINCE, when its device_del was sent."""
    deadline, asked = time.time() + timeout, 1
    # (The virtio disk's rounds say nothing more, as vtdlog reads them.)
    who = '' if dev == 'vblk1' else ' ' + dev
    while True:
        if take_event(f, lambda e: e['event'] == 'DEVICE_DELETED' and
                      e.get('data', {}).get('device') == dev, min(deadline, time.time() + again)):
            note('round %s%s: DEVICE_DELETED %.1fs after device_del, sent %d time(s)'
                 % (n, who, time.time() - since, asked))
            return True
        if not present(f, dev):
            note('round %s: %s gone without DEVICE_DELETED %.1fs after device_del, sent %d time(s)'
                 % (n, dev, time.time() - since, asked))
            return True
        if time.time() >= deadline:
            break
        call(f, 'device_del', quiet=True, id=dev)
        asked += 1
    note('round %s: %s still there %.1fs after device_del, sent %d time(s); no DEVICE_DELETED'
         % (n, dev, time.time() - since, asked))
    print('hotplug.py: %s not removed %.0fs after device_del' % (dev, time.time() - since), file=sys.stderr)
    return False


def wake(f, n, log, timeout=300):
    """Round N of the suspend step: wait for QEMU's SUSPEND event (the
    guest wrote mem to /sys/power/state), note it in LOG while the guest is
    stopped, and wake it with system_wakeup. A WAKEUP before that (the
    guest woke by itself) is reported and gets no note, so the round fails
    vtdlog.py's suspend check."""
    deadline = time.time() + timeout
    e = None
    while e is None and time.time() < deadline:
        e = take_event(f, lambda e: e['event'] in ('SUSPEND', 'WAKEUP'),
                       min(deadline, time.time() + 2))
        # The run state as well: once (a debug guest beside two others,
        # round 5 of 5) the guest suspended at once and no SUSPEND event
        # came within 300 s, while QEMU reported "suspended". A SUSPEND
        # that comes late is taken by the next round, which then waits
        # for the run state as below.
        if e is None and call(f, 'query-status', quiet=True).get('return', {}).get('status') == 'suspended':
            e = {'event': 'SUSPEND'}
    if e is None:
        print('hotplug.py: the guest did not suspend within %ds of round %s' % (timeout, n),
              file=sys.stderr)
        return False
    if e['event'] == 'WAKEUP':
        print('hotplug.py: the guest woke from round %s before system_wakeup' % n,
              file=sys.stderr)
        return False
    # The run state, once the event came. (A SUSPEND taken off the queue
    # and dropped because the state did not read "suspended" yet left
    # nothing to wait for: a fresh run's round 2 slept until the watchdog
    # with QEMU reporting "suspended".)
    while call(f, 'query-status', quiet=True).get('return', {}).get('status') != 'suspended':
        if time.time() >= deadline:
            print('hotplug.py: SUSPEND in round %s, but QEMU never reported the run state '
                  'suspended' % n, file=sys.stderr)
            return False
        time.sleep(0.05)
    # O_APPEND, as the serial console's writer; the guest and its trace are
    # quiet while it is suspended.
    with open(log, 'a') as out:
        out.write('\n@@HOST suspend %s: suspended, system_wakeup\n' % n)
    call(f, 'system_wakeup')
    # Its WAKEUP event, taken here: left queued, it would read as the next
    # round's guest waking by itself.
    if take_event(f, lambda e: e['event'] == 'WAKEUP', deadline):
        return True
    print('hotplug.py: no WAKEUP event after system_wakeup in round %s' % n, file=sys.stderr)
    return False


def devices(ats):
    """The devices the guest may ask for, by id: device_add's arguments."""
    return {'vblk1': dict(driver='virtio-blk-pci', id='vblk1', bus='rp1', drive='d0',
                          iommu_platform=True, ats=ats),
            'nvme1': dict(driver='nvme', id='nvme1', bus='rp3', drive='n0', serial='vtdnvme1')}


MARKER = re.compile(r'@@(?:HOTPLUG (del|add)(?: (vblk1|nvme1))?|SUSPEND) (\d+)')


def main(log, sock_path):
    known = devices(os.environ.get('ATS', 'off') == 'on')

    def note(text):
        with open(log + '.hotplug', 'a') as out:
            out.write(text + '\n')
    f = None
    deleted = {}
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
        # Act on whole lines only: a marker may arrive in two reads. QEMU
        # writes its trace lines into the same file in the middle of the
        # guest's lines: take them out, or they split the markers.
        data, _, partial = (partial + data).rpartition('\n')
        data = re.sub(r'vtd_inv_\w*[^\n]*\n', '', data + '\n')
        for m in MARKER.finditer(data):
            f = f or qmp(sock_path)
            what, dev, n = m.group(1), m.group(2) or 'vblk1', m.group(3)
            if what is None:
                wake(f, n, log)
                continue
            if what == 'del':
                # A DEVICE_DELETED still queued from a round that ended
                # without it (the device gone all the same) is not this
                # round's.
                EVENTS[:] = [e for e in EVENTS if not (e['event'] == 'DEVICE_DELETED' and
                                                       e.get('data', {}).get('device') == dev)]
                call(f, 'device_del', id=dev)
                # The removal waited for (and asked for again) from the
                # request on: while the guest waits for the device to go,
                # and until it asks for it back.
                deleted[dev] = wait_deleted(f, dev, n, note, time.time())
                continue
            if not deleted.get(dev, True):
                print('hotplug.py: round %s: adding %s back though QEMU still has it' % (n, dev),
                      file=sys.stderr)
            for _ in range(50):
                if 'return' in call(f, 'device_add', quiet=True, **known[dev]):
                    break
                time.sleep(0.2)
            else:
                print('hotplug.py: device_add of %s kept failing' % dev, file=sys.stderr)
        if '@@VTD-DONE' in data:
            return
        time.sleep(0.05)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
