#!/usr/bin/env python3
"""hotplug.py's wait for a removal (wait_deleted) against a fake QMP
monitor: the event, a removal QEMU completed without one, a request that
must be sent again, and one that never completes."""
import contextlib
import io
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
import hotplug  # noqa: E402


class FakeQMP:
    """The monitor's side of the socket: answers each command, and after
    the DELETE_AFTER-th device_del (0: never) drops the device, with a
    DEVICE_DELETED event unless SILENT."""

    def __init__(self, delete_after, silent=False):
        self.delete_after, self.silent = delete_after, silent
        self.dels, self.present, self.out = 0, True, []

    def write(self, text):
        cmd = json.loads(text)
        name = cmd['execute']
        if name == 'device_del':
            self.dels += 1
            if not self.present:
                self.out.append({'error': {'class': 'DeviceNotFound', 'desc': 'no vblk1'}})
                return
            if self.dels == self.delete_after:
                self.present = False
                if not self.silent:
                    self.out.append({'event': 'DEVICE_DELETED', 'data': {'device': 'vblk1'}})
            self.out.append({'return': {}})
        elif name == 'qom-list':
            self.out.append({'return': [{'name': 'vblk1'}] if self.present else []})
        else:
            self.out.append({'return': {}})

    def flush(self):
        pass

    def readline(self):
        return json.dumps(self.out.pop(0)) + '\n'


class WaitDeleted(unittest.TestCase):
    def wait(self, qmp):
        notes = []
        hotplug.EVENTS.clear()
        # The guest's request: the first device_del, as main() sends it.
        hotplug.call(qmp, 'device_del', quiet=True, id='vblk1')
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            ok = hotplug.wait_deleted(qmp, 'vblk1', 3, notes.append, time.time(), timeout=0.6, again=0.1)
        self.assertEqual(bool(err.getvalue()), not ok)  # a failure also goes to stderr
        return ok, notes

    def test_event_after_the_first_request(self):
        """hotplug: DEVICE_DELETED after the first device_del ends the wait, one request noted"""
        q = FakeQMP(delete_after=1)
        ok, notes = self.wait(q)
        self.assertTrue(ok)
        self.assertEqual(q.dels, 1)
        self.assertRegex(notes[0], r'^round 3: DEVICE_DELETED \d+\.\ds after device_del, sent 1 time\(s\)$')

    def test_request_sent_again_until_it_completes(self):
        """hotplug: a removal that does not complete is asked for again, and the repeat noted"""
        q = FakeQMP(delete_after=3)
        ok, notes = self.wait(q)
        self.assertTrue(ok)
        self.assertEqual(q.dels, 3)
        self.assertIn('sent 3 time(s)', notes[0])

    def test_removed_without_event(self):
        """hotplug: a device QEMU no longer has counts as removed, noted as such"""
        q = FakeQMP(delete_after=1, silent=True)
        ok, notes = self.wait(q)
        self.assertTrue(ok)
        self.assertIn('vblk1 gone without DEVICE_DELETED', notes[0])

    def test_never_removed(self):
        """hotplug: a removal that never completes fails after the timeout, and is noted"""
        q = FakeQMP(delete_after=0)
        ok, notes = self.wait(q)
        self.assertFalse(ok)
        self.assertGreater(q.dels, 2)
        self.assertRegex(notes[0], r'^round 3: vblk1 still there .* no DEVICE_DELETED$')


class Markers(unittest.TestCase):
    def test_the_guests_requests(self):
        """hotplug.py: the virtio disk's rounds, the drivers step's NVMe and a suspend, as the guest prints them"""
        text = '@@HOTPLUG del 3\n@@HOTPLUG add nvme1 1\n@@SUSPEND 2\n'
        self.assertEqual([m.groups() for m in hotplug.MARKER.finditer(text)],
                         [('del', None, '3'), ('add', 'nvme1', '1'), (None, None, '2')])

    def test_an_unknown_device_is_not_a_request(self):
        """hotplug.py: a device it cannot add back is no request (nothing removed)"""
        self.assertEqual(list(hotplug.MARKER.finditer('@@HOTPLUG del sata1 1\n')), [])

    def test_every_device_can_be_added_back(self):
        """hotplug.py: each device the guest may name has device_add arguments, on its profile's root port"""
        known = hotplug.devices(True)
        self.assertEqual(sorted(known), ['nvme1', 'vblk1'])
        self.assertEqual((known['nvme1']['bus'], known['nvme1']['drive']), ('rp3', 'n0'))
        self.assertTrue(known['vblk1']['ats'])


if __name__ == '__main__':
    unittest.main()
