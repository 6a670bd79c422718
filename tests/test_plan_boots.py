#!/usr/bin/env python3
"""test.sh's and soak.sh's boots from scripts/plan.tsv, the guests
stubbed: each boot gets the kernel, steps, command line, oracle and
limits make test and make soak gave it before the plan (their case
tables, as of 2026-12-07). The debug kernel's boots, make test's then,
are make sanitize's now (and make soak's mutants part has its mutants)."""
import os
import subprocess
import tempfile
import unittest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')

# The boots as test.sh booted them before plan.tsv: how (FG, BG), the
# variant, profile, steps, command line, ORACLE, GUEST_TIMEOUT,
# GUEST_IDLE ('' where test.sh set none). Boots added since, with the
# plan's rows for them alone (issue 34): mutant-ite-restart; the drivers
# profiles, and the skip-iotlb-sync-flush-large mutant on drivers and
# drivers-fl; the bridge profile, and that mutant on it; the hwcheck
# step on lazy.
BEFORE = '''
FG series legacy boot,events,dio,workload,tag-view,trace-dump || - - -
FG series legacy-ats boot,events,dio,workload,hotplug,suspend,domain-switch,tag-view,trace-dump,trace-cmd,perf |kunit.enable=0| - - -
FG series sm-cm-ats boot,events,dio,workload,tag-view,trace-dump |kunit.enable=0| - - -
FG series sm-fl boot,events,dio,workload,tag-view,trace-dump |kunit.filter_glob=intel_iommu_qi_errors| - - -
FG series sm-fl-ats boot,events,dio,workload,hotplug,superpage,suspend,domain-switch,tag-view,trace-dump |kunit.enable=0| - - -
FG series sm-fl-cm-ats boot,events,dio,workload,tag-view,trace-dump |kunit.enable=0| - - -
FG series lazy boot,events,dio,workload,hwcheck,tag-view,trace-dump,trace-cmd,perf |kunit.enable=0| - - -
BG series vfio boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| - - -
BG series vfio-cm boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| - - -
BG series vfio-sm boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| - - -
BG series vfio-sm-cm boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| - - -
BG series vfio-sm-fl boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| - - -
BG series drivers boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - -
BG series drivers-fl boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - -
BG series drivers-cm boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - -
BG series drivers-lazy boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - -
BG series bridge boot,events,pair,tag-view,trace-dump |kunit.enable=0| - - -
BG mutant-skip-iotlb-sync-flush vfio boot,vfio |kunit.enable=0| 40 - -
BG mutant-skip-iotlb-sync-flush vfio-sm-fl boot,vfio |kunit.enable=0| 40 - -
BG mutant-skip-iotlb-sync-flush sm-fl-ats boot,dio |kunit.enable=0| - 300 60
BG mutant-skip-iotlb-sync-flush-large drivers boot,drivers |kunit.enable=0| - 300 60
BG mutant-skip-iotlb-sync-flush-large drivers-fl boot,drivers |kunit.enable=0| - 300 60
BG mutant-skip-iotlb-sync-flush-large bridge boot,pair |kunit.enable=0| - 300 60
BG mutant-drop-piotlb vfio-sm-fl boot,vfio |kunit.enable=0| 40 - -
BG mutant-drop-piotlb sm-fl-ats boot,dio |kunit.enable=0| - 300 60
BG mutant-iqe-first-only legacy boot |kunit.filter_glob=intel_iommu_qi_errors| - 300 60
BG mutant-ite-restart legacy boot |kunit.filter_glob=intel_iommu_qi_timeouts| - 300 60
BG mutant-rcu-no-grace legacy boot |kunit.filter_glob=intel_iommu_cache_tags.unassign_waits_for_a_flush_in_progress| - 300 60
BG mutant-devtlb-no-wait legacy boot |kunit.filter_glob=intel_iommu_cache_tags.devtlb_assign_waits_for_a_flush_in_progress| - 300 60
BG mutant-ats-first legacy-ats boot,hotplug,domain-switch,trace-dump |kunit.enable=0 vtdhotplug=1| - 300 60
BG mutant-ats-first sm-fl-ats boot,hotplug,domain-switch,trace-dump |kunit.enable=0 vtdhotplug=1| - 300 60
BG mutant-kunit-swallow legacy boot,realflush |kunit.filter_glob=vtd_realflush| - 300 60
BG stock vfio boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| 200 - -
FG stock legacy boot,workload |kunit.enable=0| - - -
FG stock legacy-ats boot,workload |kunit.enable=0| - - -
FG stock sm-cm-ats boot,workload |kunit.enable=0| - - -
FG stock sm-fl boot,workload |kunit.enable=0| - - -
FG stock sm-fl-ats boot,workload |kunit.enable=0| - - -
FG stock sm-fl-cm-ats boot,workload |kunit.enable=0| - - -
FG deb legacy-ats boot,events,dio,tag-view |kunit.enable=0| - - -
'''

# The loops of test.sh's main flow, over the plan, with
# run_guest and run_guest_bg printing what they were given.
SCRIPT = r'''
VTD_TEST_LIB=1 . "$(dirname "$0")/test.sh"
show() { printf '%s %s %s %s |%s| %s %s %s\n' "$1" "$2" "$3" "$4" "$(echo $5)" "${ORACLE:--}" "${GUEST_TIMEOUT:--}" "${GUEST_IDLE:--}"; }
run_guest() { show FG "$@"; }
run_guest_bg() { show BG "$@"; }
var=series
mapfile -t rows < <(plan_rows series)
for row in "${rows[@]}"; do
	IFS=$US read -r p steps append run expect <<< "$row"
	[ -z "$(run_opt "$run" bg)" ] || plan_boot series "$var" "$p"
done > "$VTD_WORK/bg"
first=1
for row in "${rows[@]}"; do
	IFS=$US read -r p steps append run expect <<< "$row"
	[ -z "$(run_opt "$run" bg)" ] || continue
	kunit=""; [ $first = 0 ] || kunit=all
	plan_boot series "$var" "$p" $kunit
	first=0
done
cat "$VTD_WORK/bg"
for m in $MUTANTS; do
	while IFS=$US read -r p _; do plan_boot "series-mutant:$m" "mutant-$m" "$p" < /dev/null; done < <(plan_rows "series-mutant:$m")
done
mapfile -t rows < <(plan_rows stock)
for row in "${rows[@]}"; do
	IFS=$US read -r p steps append run expect <<< "$row"
	[ -z "$(run_opt "$run" bg)" ] || plan_boot stock stock "$p"
done
for row in "${rows[@]}"; do
	IFS=$US read -r p steps append run expect <<< "$row"
	[ -n "$(run_opt "$run" bg)" ] || plan_boot stock stock "$p"
done
plan_boot deb deb legacy-ats
'''


# make soak's boots as soak.sh booted them before it read the plan (its
# own tables, as of 2026-12-07), sorted (the profiles part starts them
# all in the background): as above, and EVENTS last. The debug kernel's
# four mutants joined its mutants part with make sanitize, booted as make
# test booted them. The drivers and bridge profiles joined its profiles
# part with issue 34, as the series' rows have them, and the soak
# workload on the debug kernel in lazy mode (soak-lazy); the hwcheck step
# joined lazy's steps.
SOAK_BEFORE = '''
BG debug bridge boot,events,pair,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug drivers boot,events,drivers,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug drivers-cm boot,events,drivers,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug drivers-fl boot,events,drivers,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug drivers-lazy boot,events,drivers,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug lazy boot,events,dio,workload,hwcheck,tag-view,trace-dump,trace-cmd,perf,kmemleak |kunit.enable=0| - - - -
BG debug legacy boot,events,dio,workload,tag-view,trace-dump,kmemleak || - - - -
BG debug legacy-ats boot,events,dio,workload,hotplug,failnth-hotadd,suspend,domain-switch,failnth-switch,tag-view,trace-dump,kmemleak |kunit.enable=0 slub_debug=A,kmalloc-*,kernfs_node_cache,iommu_iova vtdhotadd=sites| - - - -
BG debug legacy-ats boot,failnth-hotadd,tag-view,trace-dump,kmemleak |kunit.enable=0 slub_debug=A,kmalloc-*,kernfs_node_cache,iommu_iova vtdhotadd=all| - 7200 - -
BG debug sm-cm-ats boot,events,dio,workload,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug sm-fl boot,events,dio,workload,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug sm-fl-ats boot,events,dio,workload,hotplug,superpage,suspend,domain-switch,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug sm-fl-cm-ats boot,events,dio,workload,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug soak boot,events,soak,tag-view,trace-dump,kmemleak |kunit.enable=0 vtdsoak=50,10000,200| - 21600 - cache_tag_assign,cache_tag_unassign
BG debug soak-lazy boot,events,soak,tag-view,trace-dump,kmemleak |kunit.enable=0 vtdsoak=50,10000,200| - 21600 - cache_tag_assign,cache_tag_unassign
BG debug vfio boot,events,dio,failnth-vfio,vfio,tag-view,trace-dump,kmemleak |kunit.enable=0| 200 - - -
BG debug vfio-cm boot,events,dio,vfio,tag-view,trace-dump,kmemleak |kunit.enable=0| 200 - - -
BG debug vfio-sm boot,events,dio,vfio,tag-view,trace-dump,kmemleak |kunit.enable=0| 200 - - -
BG debug vfio-sm-cm boot,events,dio,vfio,tag-view,trace-dump,kmemleak |kunit.enable=0| 200 - - -
BG debug vfio-sm-fl boot,events,dio,vfio,tag-view,trace-dump,kmemleak |kunit.enable=0| 200 - - -
BG kcsan bridge boot,events,pair,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan drivers boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan drivers-cm boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan drivers-fl boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan drivers-lazy boot,events,drivers,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan lazy boot,events,dio,workload,hwcheck,tag-view,trace-dump,trace-cmd,perf |kunit.enable=0| - - - -
BG kcsan legacy boot,events,dio,workload,tag-view,trace-dump || - - - -
BG kcsan legacy-ats boot,events,dio,workload,hotplug,domain-switch,tag-view,trace-dump,trace-cmd,perf |kunit.enable=0| - - - -
BG kcsan sm-cm-ats boot,events,dio,workload,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan sm-fl boot,events,dio,workload,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan sm-fl-ats boot,events,dio,workload,hotplug,superpage,domain-switch,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan sm-fl-cm-ats boot,events,dio,workload,tag-view,trace-dump |kunit.enable=0| - - - -
BG kcsan soak boot,events,soak,tag-view,trace-dump |kunit.enable=0 vtdsoak=10,2000,40 vtdkcsan=200,500| - 21600 - cache_tag_assign,cache_tag_unassign
BG kcsan vfio boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| 200 - - -
BG kcsan vfio-cm boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| 200 - - -
BG kcsan vfio-sm boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| 200 - - -
BG kcsan vfio-sm-cm boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| 200 - - -
BG kcsan vfio-sm-fl boot,events,dio,vfio,tag-view,trace-dump |kunit.enable=0| 200 - - -
BG mutant-leak-on-enomem legacy-ats boot,failnth-switch,kmemleak |kunit.enable=0 vtdswitch=identity| - - - -
BG mutant-leak-tag legacy-ats boot,domain-switch,kmemleak |kunit.enable=0| - - - -
BG mutant-race-flush legacy-ats boot,dmabench |kunit.enable=0 vtddmabench=30 vtdkcsan=50,1000| - 1800 - cache_tag_assign,cache_tag_unassign
BG mutant-release-null legacy-ats boot,failnth-hotadd |kunit.enable=0 slub_debug=A,kmalloc-*,kernfs_node_cache,iommu_iova vtdhotadd=sites| - - - -
BG mutant-uaf-tag legacy-ats boot,domain-switch,kmemleak |kunit.enable=0| - - - -
'''

# soak.sh's guests and builds stubbed: the boots print what they were
# given (and the kernels built back fail, in a subshell, on TOP).
SOAK_STUBS = r'''
show() { printf '%s %s %s %s |%s| %s %s %s %s\n' "$1" "$2" "$3" "$4" "$(echo $5)" "${ORACLE:--}" "${GUEST_TIMEOUT:--}" "${GUEST_IDLE:--}" "${EVENTS:--}"; }
run_guest() { show FG "$@"; }
run_guest_bg() { show BG "$@"; }
step() { STEP_RC=0; }
log() { :; }
build_mutant() { :; }
niced() { :; }
mkdir -p "$LOGS"
TOP=/nonexistent
'''

# soak.sh's parts, stubbed.
SOAK_SCRIPT = r'''
VTD_TEST_LIB=1 . "$(dirname "$0")/soak.sh"
''' + SOAK_STUBS + r'''
for k in debug kcsan; do run_workload "$k"; done
run_hotadd
for k in debug kcsan; do run_profiles "$k"; done
run_mutants
'''

# make sanitize's boots: make test's debug boots before (as in BEFORE,
# then), and the debug row of sm-fl-ats, which make test left out for
# its budget, as SOAK_BEFORE has it (make soak's profiles part).
SANITIZE_BEFORE = '''
BG debug legacy-ats boot,events,dio,workload,hotplug,failnth-hotadd,suspend,domain-switch,failnth-switch,tag-view,trace-dump,kmemleak |slub_debug=A,kmalloc-*,kernfs_node_cache,iommu_iova vtdhotadd=sites| - - - -
BG debug sm-fl-ats boot,events,dio,workload,hotplug,superpage,suspend,domain-switch,tag-view,trace-dump,kmemleak |kunit.enable=0| - - - -
BG debug vfio boot,events,dio,failnth-vfio,vfio,tag-view,trace-dump,kmemleak |kunit.enable=0| 200 - - -
BG mutant-leak-on-enomem legacy-ats boot,failnth-switch,kmemleak |kunit.enable=0 vtdswitch=identity| - - - -
BG mutant-leak-tag legacy-ats boot,domain-switch,kmemleak |kunit.enable=0| - - - -
BG mutant-release-null legacy-ats boot,failnth-hotadd |kunit.enable=0 slub_debug=A,kmalloc-*,kernfs_node_cache,iommu_iova vtdhotadd=sites| - - - -
BG mutant-uaf-tag legacy-ats boot,domain-switch,kmemleak |kunit.enable=0| - - - -
'''

# soak.sh sanitize's parts, stubbed as above; what it runs.
SANITIZE_SCRIPT = r'''
set -- sanitize
VTD_TEST_LIB=1 . "$(dirname "$0")/soak.sh"
''' + SOAK_STUBS + r'''
echo "parts=$SOAK_PARTS kernels=$SOAK_KERNELS profiles=$SOAK_PROFILES logs=${LOGS#$VTD_WORK/}" >&2
for k in $SOAK_KERNELS; do run_profiles "$k"; done
run_mutants
'''


class PlanBoots(unittest.TestCase):
    def boots(self, plan=None, script_text=SCRIPT):
        """What the loops boot, with the repository's scripts, or a copy
        of them whose plan.tsv is PLAN."""
        import shutil
        top = os.path.abspath(TOP)
        if plan is not None:
            top = tempfile.mkdtemp(prefix='plan-top-')
            self.addCleanup(shutil.rmtree, top)
            shutil.copytree(os.path.join(TOP, 'scripts'), os.path.join(top, 'scripts'))
            with open(os.path.join(top, 'scripts', 'plan.tsv'), 'w') as f:
                f.write(plan)
        script = os.path.join(top, 'scripts', '.plan-boots-test.sh')
        with open(script, 'w') as f:
            f.write(script_text)
        self.addCleanup(os.unlink, script)
        work = tempfile.mkdtemp(prefix='plan-boots-')
        self.addCleanup(shutil.rmtree, work)
        env = dict(os.environ, TOP=top, VTD_WORK=work)
        for k in ('PROFILES', 'MUTANTS', 'COMPARE', 'ORACLE',
                  'GUEST_TIMEOUT', 'GUEST_IDLE', 'EVENTS') + tuple(k for k in os.environ if k.startswith('SOAK_')):
            env.pop(k, None)
        out = subprocess.run(['bash', script], env=env, capture_output=True, text=True)
        return out.stdout.split('\n'), out.stderr

    def test_every_boot_as_before_the_plan(self):
        """plan: with the guests stubbed, every boot of make test gets the steps, command line, oracle and limits it had before"""
        boots, err = self.boots()
        self.assertEqual(err, '')
        self.assertEqual(boots, BEFORE.lstrip('\n').split('\n'))

    def test_a_changed_row_is_caught(self):
        """plan: tripped by a plan whose row lost its command line (ats-first's vtdhotplug=1)"""
        plan = open(os.path.join(TOP, 'scripts', 'plan.tsv')).read()
        doctored = plan.replace('\tvtdhotplug=1\t', '\t-\t', 1)
        self.assertNotEqual(doctored, plan)
        boots, _ = self.boots(doctored)
        self.assertNotEqual(boots, BEFORE.lstrip('\n').split('\n'))
        self.assertIn('BG mutant-ats-first legacy-ats boot,hotplug,domain-switch,trace-dump |kunit.enable=0| - 300 60', boots)

    def test_every_soak_boot_as_before_the_plan(self):
        """plan: with the guests stubbed, every boot of make soak gets the steps, command line, oracle, limits and events it had before"""
        boots, err = self.boots(script_text=SOAK_SCRIPT)
        self.assertEqual(err, '')
        self.assertEqual(sorted(b for b in boots if b), SOAK_BEFORE.strip('\n').split('\n'))

    def test_every_sanitize_boot_as_in_make_test(self):
        """plan: make sanitize boots the debug kernel's rows and its mutants, as make test booted them (sm-fl-ats, which it left out, as make soak does)"""
        boots, err = self.boots(script_text=SANITIZE_SCRIPT)
        self.assertEqual(err, 'parts=profiles mutants kernels=debug profiles=legacy-ats sm-fl-ats vfio logs=sanitize\n')
        self.assertEqual(sorted(b for b in boots if b), SANITIZE_BEFORE.strip('\n').split('\n'))

    def test_a_changed_soak_row_is_caught(self):
        """plan: tripped by a plan whose soak guest traces every event (events= gone from its row)"""
        plan = open(os.path.join(TOP, 'scripts', 'plan.tsv')).read()
        doctored = plan.replace('soak\tboot,events,soak,tag-view,trace-dump,kmemleak\tvtdsoak=50,10000,200\tbg,timeout=21600,events=assign+unassign',
                                'soak\tboot,events,soak,tag-view,trace-dump,kmemleak\tvtdsoak=50,10000,200\tbg,timeout=21600')
        self.assertNotEqual(doctored, plan)
        boots, _ = self.boots(doctored, SOAK_SCRIPT)
        self.assertNotEqual(sorted(b for b in boots if b), SOAK_BEFORE.strip('\n').split('\n'))
        self.assertIn('BG debug soak boot,events,soak,tag-view,trace-dump,kmemleak |kunit.enable=0 vtdsoak=50,10000,200| - 21600 - -', boots)

    def test_the_users_soak_figures_replace_the_rows(self):
        """plan: SOAK_HOTPLUG and SOAK_CONTROL_WATCH, when set, replace the figures of make soak's rows"""
        boots, err = self.boots(script_text=SOAK_SCRIPT.replace('run_guest_bg() {', 'SOAK_HOTPLUG=3 SOAK_CONTROL_WATCH=7,8\nrun_guest_bg() {'))
        self.assertEqual(err, '')
        self.assertIn('BG debug soak boot,events,soak,tag-view,trace-dump,kmemleak |kunit.enable=0 vtdsoak=3,10000,200| - 21600 - cache_tag_assign,cache_tag_unassign', boots)
        self.assertIn('BG mutant-race-flush legacy-ats boot,dmabench |kunit.enable=0 vtddmabench=30 vtdkcsan=7,8| - 1800 - cache_tag_assign,cache_tag_unassign', boots)


if __name__ == '__main__':
    unittest.main()
