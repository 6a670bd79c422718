"""The docs' profile table against the harness's own list of profiles."""
import os
import re
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
        for script in ('test.sh', 'soak.sh', 'bench.sh', 'run.sh'):
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
