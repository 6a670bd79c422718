"""Negative controls for the trace-format check (scripts/traceformat.py).

fixtures/upstream-6.12-trace.h is upstream's drivers/iommu/intel/trace.h
as Debian's linux-source-6.12 ships it; fixtures/series-trace.h is the
series' file as it must be, 6.1's trace.h with the events written to
upstream's format the 6.1 way (two-argument __assign_str(), a guarded
dev_name(), READ_ONCE(), TRACE_DEFINE_ENUM(), no nesting types). Each
doctored variant is made here from series-trace.h by the one change its
test names, and must fail with a line naming that change; the good one
must pass, so that a check that rejects everything fails too.
"""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, '..', 'scripts', 'traceformat.py')
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import traceformat  # noqa: E402


def fx(name):
    with open(os.path.join(HERE, 'fixtures', name)) as f:
        return f.read()


SERIES = fx('series-trace.h')
UPSTREAM = fx('upstream-6.12-trace.h')
NEW_FMT = '"%s %s[%d] type %s did %d [0x%lx-0x%lx] addr 0x%lx pages 0x%lx mask 0x%lx"'
OLD_FMT = '"%s/%s type %s did %d pasid %d [0x%lx-0x%lx] addr 0x%lx pages 0x%lx mask 0x%lx"'
FLUSH = SERIES.index('DECLARE_EVENT_CLASS(cache_tag_flush,')


def doctored(old, new, start=0):
    """SERIES with the first OLD from START on replaced by NEW."""
    i = SERIES.index(old, start)
    return SERIES[:i] + new + SERIES[i + len(old):]


class TraceFormat(unittest.TestCase):
    def diffs(self, series, upstream=UPSTREAM):
        return traceformat.compare(series, upstream)[0]

    def rejects(self, series, want):
        d = self.diffs(series)
        self.assertIn(want, d)
        return d

    def test_the_series_file_is_upstreams_format(self):
        """trace-format: the series-style trace.h (6.1's __assign_str, guarded dev, no nesting) passes"""
        for how in ('__assign_str(dev, tag->dev ? dev_name(tag->dev) : "none");',
                    'READ_ONCE(tag->users)', 'TRACE_DEFINE_ENUM(CACHE_TAG_IOTLB);'):
            self.assertIn(how, SERIES)
        d, (evs, classes), dropped = traceformat.compare(SERIES, UPSTREAM)
        self.assertEqual(d, [])
        self.assertEqual(evs, ['cache_tag_assign', 'cache_tag_flush_all', 'cache_tag_flush_range',
                               'cache_tag_flush_range_np', 'cache_tag_unassign'])
        self.assertEqual(classes, ['cache_tag_flush', 'cache_tag_log'])
        self.assertEqual(dropped, {'CACHE_TAG_NESTING_IOTLB', 'CACHE_TAG_NESTING_DEVTLB'})

    def test_upstream_against_itself(self):
        """trace-format: upstream's file against itself has no difference"""
        self.assertEqual(self.diffs(UPSTREAM), [])

    def test_the_old_flush_format_fails(self):
        """trace-format: tripped by the flush class's print format reverted to the series' old one"""
        d = self.rejects(doctored(NEW_FMT, OLD_FMT),
                         'class cache_tag_flush: TP_printk format %s, upstream %s' % (OLD_FMT, NEW_FMT))
        self.assertEqual(len(d), 1, d)

    def test_a_field_type_changed_fails(self):
        """trace-format: tripped by a field of another type (the flush class's domain_id a u32)"""
        d = self.rejects(doctored('__field(u16, domain_id)', '__field(u32, domain_id)', FLUSH),
                         'class cache_tag_flush: TP_STRUCT__entry field 4: __field(u32, domain_id), '
                         'upstream __field(u16, domain_id)')
        self.assertEqual(len(d), 1, d)

    def test_a_field_renamed_fails(self):
        """trace-format: tripped by a field renamed (the log class's users called ref)"""
        self.rejects(doctored('__field(u32, users)', '__field(u32, ref)'),
                     'class cache_tag_log: TP_STRUCT__entry field 6: __field(u32, ref), upstream __field(u32, users)')

    def test_a_missing_event_fails(self):
        """trace-format: tripped by an event upstream has and the series does not (cache_tag_flush_range_np)"""
        i = SERIES.index('DEFINE_EVENT(cache_tag_flush, cache_tag_flush_range_np,')
        j = SERIES.index(');', i) + 2
        d = self.rejects(SERIES[:i] + SERIES[j:],
                         'event cache_tag_flush_range_np: missing from the series (upstream: class cache_tag_flush)')
        self.assertEqual(len(d), 1, d)

    def test_an_extra_event_fails(self):
        """trace-format: tripped by an event upstream does not have"""
        extra = 'DEFINE_EVENT(cache_tag_log, cache_tag_extra,\n\tTP_PROTO(struct cache_tag *tag),\n\tTP_ARGS(tag)\n);\n'
        self.rejects(doctored('#endif /* _TRACE_INTEL_IOMMU_H */', extra + '#endif'),
                     "event cache_tag_extra: not upstream's (upstream has no such event; here class cache_tag_log)")

    def test_an_event_in_another_class_fails(self):
        """trace-format: tripped by an event moved to another class (flush_all a flush-class event)"""
        self.rejects(doctored('DEFINE_EVENT(cache_tag_log, cache_tag_flush_all,',
                              'DEFINE_EVENT(cache_tag_flush, cache_tag_flush_all,'),
                     'event cache_tag_flush_all: class cache_tag_flush, upstream cache_tag_log')

    def test_a_print_argument_changed_fails(self):
        """trace-format: tripped by a print argument that is not upstream's (pasid printed as domain_id)"""
        self.rejects(doctored('__get_str(dev), __entry->pasid,', '__get_str(dev), __entry->domain_id,', FLUSH),
                     'class cache_tag_flush: TP_printk argument 3: __entry->domain_id, upstream __entry->pasid')

    def test_a_missing_type_symbol_fails(self):
        """trace-format: only the nesting symbols may be missing; without "iotlb" it fails"""
        d = self.diffs(doctored('{ CACHE_TAG_IOTLB,\t\t"iotlb" },\n', ''))
        self.assertTrue(any(x.startswith('class cache_tag_log: TP_printk argument 3: __print_symbolic(') for x in d), d)

    def test_a_prototype_changed_fails(self):
        """trace-format: tripped by a class prototype that is not upstream's"""
        d = self.diffs(doctored('unsigned long pages, unsigned long mask),', 'unsigned long pages, u64 mask),', FLUSH))
        self.assertTrue(any(x.startswith('class cache_tag_flush: TP_PROTO (') for x in d), d)

    def test_an_upstream_without_the_events_compares_nothing(self):
        """trace-format: an upstream file without cache_tag events (a wrong member, 6.1's) is a failure"""
        up = UPSTREAM[:UPSTREAM.index('DECLARE_EVENT_CLASS(cache_tag_log')] + '#endif\n'
        self.assertIn("upstream's file defines no cache_tag_* event: nothing compared", self.diffs(SERIES, up))

    def test_an_unreadable_block_is_a_difference(self):
        """trace-format: a class it cannot read (TP_printk missing) is reported, not skipped"""
        d = self.diffs(doctored('TP_printk(', 'TP_print(', FLUSH))
        self.assertTrue(any(x.startswith('the series: DECLARE_EVENT_CLASS(cache_tag_flush): cannot read it') for x in d), d)
        self.assertIn('class cache_tag_flush: missing from the series', d)

    def test_the_command_prints_one_line_per_difference(self):
        """trace-format: traceformat.py exits 0 with a summary naming upstream, 1 with one line per difference"""
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            good, bad, up = (os.path.join(d, n) for n in ('good.h', 'bad.h', 'up.h'))
            for path, text in ((good, SERIES), (up, UPSTREAM),
                               (bad, doctored('__field(u32, users)', '__field(u64, users)').replace(NEW_FMT, OLD_FMT))):
                with open(path, 'w') as f:
                    f.write(text)
            r = subprocess.run([sys.executable, SCRIPT, good, up, 'upstream 6.12 (Debian X)'],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(len(r.stdout.splitlines()), 1)
            self.assertIn('as in upstream 6.12 (Debian X)', r.stdout)
            r = subprocess.run([sys.executable, SCRIPT, bad, up], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(r.stdout.splitlines()), 2, r.stdout)


if __name__ == '__main__':
    unittest.main()
