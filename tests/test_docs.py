"""The docs' profile table against the harness's own list of profiles."""
import os
import re
import sys
import unittest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def harness_profiles(lib=os.path.join(TOP, 'scripts', 'lib.sh')):
    m = re.search(r'^PROFILES_ALL="([^"]*)"', open(lib).read(), re.M)
    return m.group(1).split() if m else []


def documented_profiles(md=os.path.join(TOP, 'docs', 'profiles.md')):
    """The first table of docs/profiles.md: one row per profile, its name first."""
    names, inside = [], False
    for line in open(md):
        m = re.match(r'\| `([a-z0-9-]+)`( \(default\))? \|', line)
        if m:
            names.append(m.group(1))
            inside = True
        elif inside and not line.startswith('|'):
            break
    return names


class Profiles(unittest.TestCase):
    def test_docs_list_every_profile_once(self):
        """docs/profiles.md's table lists exactly the profiles of lib.sh's PROFILES_ALL, in its order"""
        have = harness_profiles()
        self.assertGreaterEqual(len(have), 10)
        self.assertEqual(documented_profiles(), have)

    def test_a_profile_missing_from_the_docs_is_caught(self):
        """docs/profiles.md check: tripped by a copy of the table without vfio-sm-fl"""
        import tempfile
        text = open(os.path.join(TOP, 'docs', 'profiles.md')).read()
        f = tempfile.NamedTemporaryFile('w', suffix='.md', delete=False)
        f.write(re.sub(r'^\| `vfio-sm-fl` \|.*\n', '', text, count=1, flags=re.M))
        f.close()
        self.addCleanup(os.unlink, f.name)
        self.assertNotEqual(documented_profiles(f.name), harness_profiles())


class GuestSteps(unittest.TestCase):
    def step_functions(self):
        import glob
        found = {}
        for path in sorted(glob.glob(os.path.join(TOP, 'guest', 'steps', '*.sh'))):
            for name in re.findall(r'^step_(\w+)\(\)', open(path).read(), re.M):
                found.setdefault(name, []).append(os.path.basename(path))
        return found

    def test_each_step_defined_once_outside_init(self):
        """guest steps: every step_NAME is defined once, in guest/steps/, and init defines none"""
        found = self.step_functions()
        self.assertGreaterEqual(len(found), 20)
        self.assertEqual({n: f for n, f in found.items() if len(f) > 1}, {})
        self.assertEqual(re.findall(r'^step_\w+\(\)', open(os.path.join(TOP, 'guest', 'init')).read(), re.M), [])

    def test_every_step_the_harness_asks_for_exists(self):
        """guest steps: every step test.sh and soak.sh name in a steps list has its step_NAME"""
        found = self.step_functions()
        asked = set()
        for script in ('test.sh', 'soak.sh', 'bench.sh', 'run.sh', 'plan.tsv'):
            text = open(os.path.join(TOP, 'scripts', script)).read()
            for lst in re.findall(r'\b(boot,[a-z,-]+)', text):
                asked.update(lst.split(','))
        asked.discard('shell')
        self.assertGreater(len(asked), 5)
        self.assertEqual(sorted(s for s in asked if s.replace('-', '_') not in found), [])

    def test_guest_scripts_parse(self):
        """guest steps: init and every step file parse as busybox sh scripts (sh -n)"""
        import glob
        import shutil
        import subprocess
        sh = shutil.which('busybox')
        if not sh:
            self.skipTest('no busybox on this machine')
        files = [os.path.join(TOP, 'guest', 'init')] + sorted(glob.glob(os.path.join(TOP, 'guest', 'steps', '*.sh')))
        bad = [f for f in files if subprocess.run([sh, 'sh', '-n', f], capture_output=True).returncode]
        self.assertEqual(bad, [])


PLAN = os.path.join(TOP, 'scripts', 'plan.tsv')


def plan_rows(path=PLAN):
    """The plan's rows as dicts (scripts/plan.tsv: a header line, then
    tab-separated rows; '#' lines are comments)."""
    rows = [l.rstrip('\n').split('\t') for l in open(path) if l.strip() and not l.startswith('#')]
    head = rows[0]
    return [dict(zip(head, r + [''] * (len(head) - len(r)))) | {'_n': len(r)} for r in rows[1:]]


def plan_problems(path=PLAN):
    """What is wrong with a plan: rows of the wrong width, unknown kernels
    or profiles, a duplicate (kernel, profile), a mutant without its
    patch, a negative control's expectation that scripts/controls.py
    does not judge."""
    sys.path.insert(0, os.path.join(TOP, 'scripts'))
    import controls
    profiles = set(harness_profiles()) | {'soak', 'soak-lazy'}
    bad, seen = [], set()
    for r in plan_rows(path):
        k, p, e = r['kernel'], r['profile'], r['expect']
        if r['_n'] != 6:
            bad.append('%s %s: %d fields, not 6' % (k, p, r['_n']))
        if (k, p) in seen:
            bad.append('%s %s: twice' % (k, p))
        seen.add((k, p))
        if p not in profiles:
            bad.append('%s: unknown profile %s' % (k, p))
        kind, _, m = k.partition(':')
        if kind not in ('series', 'stock', 'debug', 'deb', 'control', 'series-mutant', 'debug-mutant',
                        'kcsan', 'soak', 'kcsan-mutant') or (kind == 'soak' and m not in ('debug', 'kcsan')):
            bad.append('unknown kernel %s' % k)
        if p in ('soak', 'soak-lazy') and kind != 'soak':
            bad.append('%s %s: the soak guest is soak:KERNEL\'s alone' % (k, p))
        if kind.endswith('-mutant'):
            if not os.path.exists(os.path.join(TOP, 'tests', 'mutants', m + '.patch')):
                bad.append('%s: no tests/mutants/%s.patch' % (k, m))
            if e.split(':')[0] not in controls.CONTROLS:
                bad.append('%s %s: no control %s in controls.py for "%s"' % (k, p, e.split(':')[0], e))
        elif e != 'pass' and kind != 'control':
            bad.append('%s %s: expects "%s" of a kernel that must pass' % (k, p, e))
    return bad


class Plan(unittest.TestCase):
    def test_the_plan_is_well_formed(self):
        """plan: every row has 6 fields, a known kernel and profile, once; every expectation has its report"""
        self.assertEqual(plan_problems(), [])

    def test_a_doctored_plan_is_caught(self):
        """plan: tripped by a row whose expectation no report checks, and by a mutant without its patch"""
        import tempfile
        f = tempfile.NamedTemporaryFile('w', suffix='.tsv', delete=False)
        f.write(open(PLAN).read() + 'series-mutant:no-such\tlegacy\tboot\t-\t-\tmutant-nothing: fails\n')
        f.close()
        self.addCleanup(os.unlink, f.name)
        bad = plan_problems(f.name)
        self.assertIn('series-mutant:no-such: no tests/mutants/no-such.patch', bad)
        self.assertIn('series-mutant:no-such legacy: no control mutant-nothing in controls.py for "mutant-nothing: fails"', bad)

    def test_the_series_boots_every_profile(self):
        """plan: the series' rows are lib.sh's PROFILES_ALL, in its order (and so docs/profiles.md's table)"""
        self.assertEqual([r['profile'] for r in plan_rows() if r['kernel'] == 'series'], harness_profiles())

    def test_every_mutant_is_planned(self):
        """plan: every default mutant of test.sh and every patch in tests/mutants has rows"""
        test_sh = open(os.path.join(TOP, 'scripts', 'test.sh')).read()
        planned = set(r['kernel'].partition(':')[2] for r in plan_rows() if '-mutant:' in r['kernel'])
        defaults = set(re.search(r'^MUTANTS=\$\{MUTANTS:-([^}]*)\}', test_sh, re.M).group(1).split())
        patches = set(m[:-6] for m in os.listdir(os.path.join(TOP, 'tests', 'mutants')) if m.endswith('.patch'))
        self.assertEqual(sorted(defaults - planned), [])
        self.assertEqual(sorted(patches - planned), [])

    def test_the_kcsan_rows_are_the_series_without_suspend(self):
        """plan: a kcsan row is the series' row of its profile less the suspend step (the kcsan kernel does not resume from S3)"""
        series = {r['profile']: r['steps'] for r in plan_rows() if r['kernel'] == 'series'}
        kcsan = [r for r in plan_rows() if r['kernel'] == 'kcsan']
        self.assertEqual(sorted(r['profile'] for r in kcsan), sorted(p for p, s in series.items() if ',suspend' in s))
        for r in kcsan:
            self.assertEqual(r['steps'], series[r['profile']].replace(',suspend', ''), r['profile'])


def readme_problems(text):
    """The README's limits: at most 150 lines."""
    n = len(text.splitlines())
    return ['README.md has %d lines, more than 150' % n] if n > 150 else []


def debug_in_make_test(text):
    """Lines of test.sh that boot or build the debug kernel, which is make
    sanitize's (and make soak's) since make test's 45 minutes."""
    return [l.strip() for l in text.splitlines()
            if not l.lstrip().startswith('#') and re.search(
                r'plan_(boot|rows|get) "?debug|debug-mutant|build\.sh"? debug\b|build_mutant \S+ debug', l)]


class Limits(unittest.TestCase):
    def test_the_readme_is_at_most_150_lines(self):
        """readme: at most 150 lines; tripped by one line more"""
        text = open(os.path.join(TOP, 'README.md')).read()
        self.assertEqual(readme_problems(text), [])
        self.assertNotEqual(readme_problems(text + 'x\n' * (151 - len(text.splitlines()))), [])

    def test_make_test_boots_no_debug_kernel(self):
        """plan: test.sh boots and builds no debug kernel (make sanitize's); tripped by a debug row booted there"""
        text = open(os.path.join(TOP, 'scripts', 'test.sh')).read()
        self.assertEqual(debug_in_make_test(text), [])
        self.assertNotEqual(debug_in_make_test(text + '\n\tplan_boot debug debug legacy-ats &\n'), [])
        self.assertNotEqual(debug_in_make_test(text + '\n\tbuild_mutant leak-tag debug\n'), [])
