// SPDX-License-Identifier: GPL-2.0
/*
 * vtd_failnth_scope: fail-nth, counted inside the IOMMU's part of a PCI
 * device addition only. A test module of the VT-d cache tags harness (the
 * guest's failnth-hotadd step), not part of the series.
 *
 * A hot-add runs the PCI core, the driver core and the device's ACPI
 * companion before the IOMMU's bus notifiers, in the same task, and the
 * number of allocations they make varies from one hot-add to the next.
 * fail-nth (/proc/<tid>/fail-nth) counts from the write that arms it, so
 * a given N lands in the IOMMU's part in one hot-add and in device_add()
 * in the next, where 6.1's pci_device_add() WARNs and keeps a half-added
 * device. (6.1 cannot filter injections by stack on x86_64:
 * FAULT_INJECTION_STACKTRACE_FILTER depends on !X86_64.)
 *
 * This module keeps a count of its own for the task named by "pid": on
 * entry to each of dmar_pci_bus_notifier() and iommu_bus_notifier() it
 * saves the task's fail_nth and puts its own count there; on return it
 * takes what is left of its count back and restores the task's. So the
 * allocations the failslab and fail_page_alloc hooks count inside those
 * two calls, and only those, count towards "nth"; the injection itself is
 * fail-nth's own (should_fail_ex()).
 *
 * Parameters (/sys/module/vtd_failnth_scope/parameters/):
 *   pid    the task (thread) whose allocations count; 0: none.
 *   nth    writing N arms: the N-th allocation inside fails; 0 disarms.
 *          Also resets the figures below.
 *   left   what is left of the count: 0 after the failure was injected.
 *   calls  allocations counted inside since nth was written (the failed
 *          one included, none after it).
 *   scopes notifier calls of that task since nth was written.
 */
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/sched.h>

static int pid;
module_param(pid, int, 0600);
MODULE_PARM_DESC(pid, "the task whose allocations count");

static unsigned int left, calls, scopes;
module_param(left, uint, 0400);
module_param(calls, uint, 0400);
module_param(scopes, uint, 0400);

static unsigned int nth;
static int nth_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret)
		return ret;
	nth = n;
	left = n;
	calls = 0;
	scopes = 0;
	return 0;
}

static const struct kernel_param_ops nth_ops = {
	.set = nth_set,
	.get = param_get_uint,
};
module_param_cb(nth, &nth_ops, &nth, 0600);
MODULE_PARM_DESC(nth, "fail the N-th allocation inside the IOMMU bus notifiers");

struct scope {
	unsigned int outer;
};

static int scope_enter(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct scope *s = (struct scope *)ri->data;

	if (!in_task() || current->pid != READ_ONCE(pid))
		return 1;	/* not ours: no return handler */
	s->outer = current->fail_nth;
	current->fail_nth = left;
	scopes++;
	return 0;
}

static int scope_leave(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct scope *s = (struct scope *)ri->data;
	unsigned int now = current->fail_nth;

	calls += left - now;
	left = now;
	current->fail_nth = s->outer;
	return 0;
}

static struct kretprobe probes[] = {
	{ .kp.symbol_name = "dmar_pci_bus_notifier" },
	{ .kp.symbol_name = "iommu_bus_notifier" },
};

static int __init scope_init(void)
{
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(probes); i++) {
		probes[i].entry_handler = scope_enter;
		probes[i].handler = scope_leave;
		probes[i].data_size = sizeof(struct scope);
		probes[i].maxactive = 8;
		ret = register_kretprobe(&probes[i]);
		if (ret) {
			pr_err("vtd_failnth_scope: no kretprobe on %s: %d\n",
			       probes[i].kp.symbol_name, ret);
			while (i--)
				unregister_kretprobe(&probes[i]);
			return ret;
		}
	}
	return 0;
}

static void __exit scope_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(probes); i++)
		unregister_kretprobe(&probes[i]);
}

module_init(scope_init);
module_exit(scope_exit);
MODULE_DESCRIPTION("fail-nth counted inside the IOMMU bus notifiers (VT-d cache tags test harness)");
MODULE_LICENSE("GPL");
