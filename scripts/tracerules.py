"""The rules the cache_tag_* events of a run keep: every assign
balanced, flushes only to assigned tags, the debugfs view against the
replay, trace-cmd and perf reading them, and the attach and detach order.

Standard library only.
"""
import collections
import re

from logread import EVENT, KUNIT_TASK, console, parse_fields, real_events, trace_dump


def tag_key(f):
    """What names a tag: an IOTLB tag is shared by the devices behind its
    IOMMU, a device-TLB tag belongs to its device."""
    return (f.get('iommu'), f.get('did'), f.get('pasid'), f.get('type'),
            f.get('dev') if f.get('type') == 'devtlb' else '')


def check(path, seed=None):
    """The rules every run's cache_tag_* events must keep. Returns
    (violations, number of events checked). KUnit's fake IOMMUs are left
    out. SEED: the tags assigned when the trace began, {tag_key: ref}
    (seed_of(); a trace from boot has none). Rules:
      - a flush names a tag that is assigned at that moment;
      - an unassign names a tag that is assigned;
      - the reference count ("ref") an event reports is the count this
        checker keeps;
      - a range flush's block [addr, addr + pages) covers [start, end],
        all of it: the series never cuts a range at the address width;
      - no device-TLB tag is left for a device that is gone at the end;
      - there is something to check: a log with no events, or without the
        guest's list of devices, is a violation, not a pass.
    """
    evs, _ = real_events(path)
    live = collections.Counter(seed or {})
    bad = []
    if not evs:
        bad.append('no cache_tag_* events of real devices in the trace dump: nothing was checked')

    for name, f, line in evs:
        k = tag_key(f)
        if name == 'cache_tag_assign':
            live[k] += 1
        elif name == 'cache_tag_unassign':
            if live[k] <= 0:
                bad.append('unassign without assign: ' + line)
                continue
            live[k] -= 1
        else:
            if live[k] <= 0:
                bad.append('flush of a tag that is not assigned: ' + line)
                continue
        if name in ('cache_tag_assign', 'cache_tag_unassign') and f['type'] == 'iotlb':
            if int(f.get('ref', -1)) != live[k]:
                bad.append('ref %s, but %d assigned: %s' % (f.get('ref'), live[k], line))
        if name in ('cache_tag_flush_range', 'cache_tag_flush_range_np'):
            if 'start' not in f or 'pages' not in f:
                bad.append('flush without a range or block: ' + line)
                continue
            start, end = int(f['start'], 16), int(f['end'], 16)
            addr, pages = int(f['addr'], 16), int(f['pages'], 16)
            if start <= end and (addr > start or addr + pages * 4096 - 1 < end):
                bad.append('block does not cover the range: ' + line)
    present = None
    for line in console(path):
        m = re.search(r'@@INFO pci-devices: (.*)', line)
        if m:
            present = set(m.group(1).split())
    if present is None:
        bad.append('the guest listed no PCI devices: left-over device-TLB tags not checked')
    else:
        for k, n in live.items():
            if n > 0 and k[3] == 'devtlb' and k[4] not in present:
                bad.append('device-TLB tag left for %s, which is gone: %s' % (k[4], k))
    return bad, len(evs)


# The guest's copy of /sys/kernel/debug/iommu/intel/cache_tags, between
# @@TAGS-BEGIN and @@TAGS-END; after the domain, a tag reads as in the
# events of the log class (assign, unassign, flush_all):
#   domain 00000000a1b2c3d4 dma: dmar0/0000:01:00.0 type devtlb did 2 pasid 0 ref 1
VIEW_LINE = re.compile(r'^domain (\S+) ([\w-]+): (\S+/\S+ type .*)$')


def tag_view(path, marker='TAGS'):
    """The debugfs view's tags as (domain, kind, fields), or None if the
    guest printed no view (the last one between @@MARKER-BEGIN and
    @@MARKER-END). Console lines inside that are not tags (a printk
    meanwhile, the header) are left out."""
    view, inside = None, False
    for line in console(path):
        if '@@%s-BEGIN' % marker in line:
            view, inside = [], True
        elif '@@%s-END' % marker in line:
            inside = False
        elif inside:
            m = VIEW_LINE.match(line.strip())
            if m:
                view.append((m.group(1), m.group(2), parse_fields(m.group(3))))
    return view


def seed_of(view):
    """A view's tags as the state a trace that began then replays onto:
    {tag_key: ref}."""
    return collections.Counter({tag_key(f): int(f.get('ref', 0)) for _, _, f in view})


def tags(path, seed=None):
    """Hold the debugfs view against the tags replayed from the trace: the
    same tags, each with the reference count the replay has. Two witnesses
    of one state: the kernel's list, read at the end, and the events that
    built it (onto SEED, the tags when the trace began: seed_of()).
    Returns (problems, summary). No view, an empty view, or no events to
    replay is a problem: nothing was compared."""
    view = tag_view(path)
    evs, _ = real_events(path)
    bad = []
    if view is None:
        return ['the guest printed no debugfs view of the tags: nothing compared'], ''
    if not view:
        bad.append('the debugfs view lists no tags: nothing compared')
    if not evs:
        bad.append('no cache_tag_* events of real devices to replay: nothing compared')
    replay = collections.Counter(seed or {})
    for name, f, _ in evs:
        if name == 'cache_tag_assign':
            replay[tag_key(f)] += 1
        elif name == 'cache_tag_unassign':
            replay[tag_key(f)] -= 1
    seen, domains, kinds = {}, set(), collections.Counter()
    for dom, kind, f in view:
        k = tag_key(f)
        if k in seen:
            bad.append('listed twice: %s' % (k,))
            continue
        seen[k] = int(f.get('ref', -1))
        if dom not in domains:
            domains.add(dom)
            kinds[kind] += 1
    for k in sorted(set(seen) | {k for k, n in replay.items() if n}, key=str):
        v, r = seen.get(k, 0), replay.get(k, 0)
        if v != r:
            bad.append('debugfs says ref %d, the trace replay %d: iommu %s did %s pasid %s %s %s'
                       % (v, r, k[0], k[1], k[2], k[3], k[4]))
    summary = '%d tags in %d domains (%s) agree with the trace replay of %d events' % (
        len(seen), len(domains), ', '.join('%s %d' % kv for kv in sorted(kinds.items())), len(evs))
    return bad, summary


# Users' tools on the workload's events (guest steps trace-cmd and perf),
# between @@TRACECMD-BEGIN/END and @@PERF-BEGIN/END:
#   trace-cmd report: dmaio-93 [000] 12.345678: cache_tag_flush_range: dmar0 dmar0[0] type iotlb ...
#   perf script:      dmaio 93 [000] 12.345678: intel_iommu:cache_tag_flush_range: dmar0 dmar0[0] ...
TOOL_EVENT = re.compile(r'\s(?:intel_iommu:)?(cache_tag_\w+):\s+(.*)$')


TOOL_MARKERS = {'trace-cmd': 'TRACECMD', 'perf': 'PERF'}


def tool_report(path, tool):
    """The lines the guest printed of TOOL's report, or None if none."""
    marker, out, inside = TOOL_MARKERS[tool], None, False
    for line in console(path):
        if '@@%s-BEGIN' % marker in line:
            out, inside = [], True
        elif '@@%s-END' % marker in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def tools(path, tool):
    """Every cache_tag event TOOL printed must be one it parsed: no
    "[FAILED TO PARSE]", and a payload that reads as the kernel's format
    (IOMMU, device, type by name, did, pasid: 'IOMMU/DEV ... pasid P'
    or, a range flush, 'IOMMU DEV[PASID] ...'; a range flush its
    [start-end] and block, the others their ref). A report with no event
    read nothing, and fails. Returns (problems, Counter of events)."""
    out = tool_report(path, tool)
    if out is None:
        return ['the guest printed no %s report' % tool], collections.Counter()
    bad, seen = [], collections.Counter()
    for line in out:
        if 'FAILED TO PARSE' in line:
            bad.append('%s failed to parse: %s' % (tool, line.strip()))
            continue
        m = TOOL_EVENT.search(line)
        if not m:
            continue
        seen[m.group(1)] += 1
        f = parse_fields(m.group(2))
        need = ['iommu', 'dev', 'type', 'did', 'pasid']
        need += (['start', 'end', 'addr', 'pages', 'mask'] if m.group(1).startswith('cache_tag_flush_range')
                 else ['ref'])
        missing = [k for k in need if k not in f]
        if missing:
            bad.append('%s printed %s without %s: %s' % (tool, m.group(1), ','.join(missing), line.strip()))
        elif f['type'] not in ('iotlb', 'devtlb'):
            # __print_symbolic() of an enum the format file does not
            # export (TRACE_DEFINE_ENUM) comes out as a number.
            bad.append('%s printed type %s, not a type name: %s' % (tool, f['type'], line.strip()))
        elif not (f['did'].isdigit() and f['pasid'].isdigit()):
            bad.append('%s printed did %s pasid %s: %s' % (tool, f['did'], f['pasid'], line.strip()))
    if not seen:
        bad.append('%s reported no cache_tag event: nothing was read' % tool)
    return bad, seen


# The kprobe events build.sh defines (kprobe_event=): ATS switched on or
# off for a device, a device's context or PASID entry going live, and one
# being torn down.
#   ats_enable: (pci_enable_ats+0x0/0x8c) dev="0000:01:00.0"
#   entry_live_context: (domain_context_mapping_one+0x0/0x4e0) bus=1 devfn=0
#   entry_live_pasid_sl: (intel_pasid_setup_second_level+0x0/0x1e6) dev="0000:01:00.0"
#   entry_clear_context: (domain_context_clear_one+0x0/0x1c0) bus=1 devfn=0
#   entry_clear_pasid: (intel_pasid_tear_down_entry+0x0/0x1a0) dev="0000:01:00.0" pasid=0
ORDER_EVENT = re.compile(r'\s(ats_enable|ats_disable|entry_live_\w+|entry_clear_\w+): \([^)]*\)(.*)$')


TASK = re.compile(r'^\s*(\S+)-(\d+)\s+\[\d+\]')


def order_timeline(path):
    """The trace dump's cache_tag_* and attach-order kprobe events, in
    trace order, as (name, fields, pid, line). KUnit's fakes are left out."""
    out = []
    for line in trace_dump(path):
        t = TASK.match(line)
        if not t or t.group(1).startswith(KUNIT_TASK):
            continue
        m = EVENT.search(line)
        if m:
            out.append((m.group(1), parse_fields(m.group(2)), t.group(2), line.strip()))
            continue
        m = ORDER_EVENT.search(line)
        if m:
            f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(2)))
            f = {k: v.strip('"') for k, v in f.items()}
            out.append((m.group(1), f, t.group(2), line.strip()))
    return out


def probe_int(v):
    """A number as a kprobe event prints it: u8/u32 in decimal, x8/x32 in hex."""
    return int(v, 16) if v.lower().startswith('0x') else int(v)


def entry_dev(name, f, segment='0000'):
    """The PCI name of the device whose entry a kprobe event shows: the
    PASID probes fetch it; a context entry is named by its bus and devfn,
    in SEGMENT (the probe does not fetch it: QEMU's q35 has one, 0000;
    make hwcheck gives its device's). A device behind a PCIe-to-PCI
    bridge has its context entry under its alias: another name."""
    if name.endswith('_context'):
        try:
            bus, devfn = probe_int(f.get('bus', '')), probe_int(f.get('devfn', ''))
        except ValueError:
            return None
        return '%s:%02x:%02x.%d' % (segment, bus, devfn >> 3, devfn & 7)
    return f.get('dev')


def order(path, seed=None, segment='0000'):
    """Each cache is tagged before the hardware can fill it, a device TLB
    is untagged before ATS is switched off (CVE-2024-56669), and a detach
    tears the device's entry down first, its device-TLB tag and ATS still
    there, so that the teardown's device-TLB flush reaches the device.
    Returns (violations, counts). Rules, on the trace's own order:
      - when a device's context or PASID entry goes live, the last
        cache_tag_* event of the same task is the assign of an IOTLB tag
        (the attach tagged the IOMMU's IOTLB first);
      - when ATS is enabled on a device, a device-TLB tag of that device is
        assigned;
      - when ATS is disabled on a device, none of its device-TLB tags is;
      - (a) when ATS is disabled on a device, the same task has torn down
        a context or PASID entry (the RID's, PASID 0) of that device
        since the device's last entry went live;
      - (b) and it unassigned the device's device-TLB tag after the last
        such teardown began: between the teardown and the ATS disable
        (a teardown with ATS off skips its device-TLB flush; one after
        the untag flushes no tag);
      - there is something to check: no entry going live at all,
        device-TLB tags without any ATS enable, or ATS disables without
        any entry teardown, is a violation (then rule (a) is not held
        against each disable: the probes are missing, not the order).
    A context entry is matched to the device by bus and devfn, in SEGMENT
    (entry_dev).
    SEED: the tags assigned when the trace began (seed_of()).
    """
    bad, missing_teardown = [], []
    n = collections.Counter()
    devtlb = collections.Counter()
    for k, ref in (seed or {}).items():
        if k[3] == 'devtlb':
            devtlb[k[4]] += ref
    last = {}
    live = {}       # device -> index of its last entry going live
    torn = {}       # (pid, device) -> index of its last entry teardown in that task
    untag = {}      # (pid, device) -> index of its last device-TLB unassign in that task
    for i, (name, f, pid, line) in enumerate(order_timeline(path)):
        if name in ('cache_tag_assign', 'cache_tag_unassign'):
            if f.get('type') == 'devtlb':
                devtlb[f.get('dev')] += 1 if name == 'cache_tag_assign' else -1
                n['devtlb-assign'] += name == 'cache_tag_assign'
                if name == 'cache_tag_unassign':
                    untag[(pid, f.get('dev'))] = i
            last[pid] = (name, f.get('type'))
        elif name.startswith('cache_tag_'):
            continue
        elif name.startswith('entry_live'):
            n['entries'] += 1
            live[entry_dev(name, f, segment)] = i
            if last.get(pid) != ('cache_tag_assign', 'iotlb'):
                bad.append('entry went live before an IOTLB tag was assigned (last tag '
                           'event of this task: %s): %s' % (last.get(pid), line))
        elif name.startswith('entry_clear'):
            if name == 'entry_clear_pasid' and f.get('pasid', '0') not in ('0', '0x0'):
                n['pasid-teardowns'] += 1   # another PASID's entry (SVA): not the RID's
                continue
            n['teardowns'] += 1
            torn[(pid, entry_dev(name, f, segment))] = i
        elif name == 'ats_enable':
            n['ats-enable'] += 1
            if devtlb[f.get('dev')] <= 0:
                bad.append('ATS enabled before the device-TLB tag was assigned: ' + line)
        elif name == 'ats_disable':
            n['ats-disable'] += 1
            dev = f.get('dev')
            if devtlb[dev] > 0:
                bad.append('ATS disabled while the device-TLB tag is still assigned: ' + line)
            t = torn.get((pid, dev))
            if t is None or t < live.get(dev, -1):
                n['disable-before-teardown'] += 1
                missing_teardown.append(
                    'ATS disabled before the entry teardown: this task tore down no context or '
                    'PASID entry of %s since its entry went live: %s' % (dev, line))
                continue
            n['teardowns-checked'] += 1
            if untag.get((pid, dev), -1) < t:
                n['untag-before-teardown'] += 1
                bad.append('device-TLB tag unassigned before the entry teardown: no unassign of '
                           "%s's device-TLB tag in this task between its teardown and this ATS "
                           'disable: %s' % (dev, line))
    if not n['entries']:
        bad.append('no context or PASID entry went live in the trace (kprobe events '
                   'missing?): nothing was checked')
    if n['devtlb-assign'] and not n['ats-enable']:
        bad.append('device-TLB tags were assigned but no ATS enable is in the trace: '
                   'their order was not checked')
    if n['ats-disable'] and not n['teardowns']:
        bad.append('ATS was disabled %d times but no context or PASID entry was torn down in '
                   'the trace (kprobe events missing?): nothing was checked' % n['ats-disable'])
    else:
        bad += missing_teardown
    return bad, n


def follow(path, dev):
    """What happened to @dev's device-TLB tags: (assigns, unassigns, the
    domain IDs it was assigned in, in order, and how many are live)."""
    evs, _ = real_events(path)
    assigns = unassigns = 0
    dids = []
    for name, f, _ in evs:
        if f.get('dev') != dev or f.get('type') != 'devtlb':
            continue
        if name == 'cache_tag_assign':
            assigns += 1
            dids.append(f.get('did'))
        elif name == 'cache_tag_unassign':
            unassigns += 1
    return assigns, unassigns, dids, assigns - unassigns
