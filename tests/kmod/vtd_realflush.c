// SPDX-License-Identifier: GPL-2.0
/*
 * vtd_realflush: a KUnit suite of the VT-d cache tags harness, not part of
 * the series. It proves that an invalidation of a real IOMMU made while a
 * KUnit case runs still reaches the IOMMU: nothing on the flush path may
 * take it for a test's own because current->kunit_test is set, as v1 of
 * the series did.
 *
 * Each case unmaps one page of a real PCI device's DMA (the first virtio
 * device with a driver: the guest's disk) in strict mode, where the unmap
 * flushes the IOTLB before it returns, and prints the IOVA before and after:
 *   - in the case itself;
 *   - in a timer that fires on the case's CPU while the case spins, as the
 *     flush queue's timer or a completion would: softirq context, with
 *     current still the case's task.
 * What reached the IOMMU is not visible from here: the host reads QEMU's
 * trace of the invalidation queue between the two lines of each case
 * (scripts/vtdlog.py realflush). (6.1 runs a module's suites before it
 * parses the module's parameters: the device cannot be one.)
 */
#include <kunit/test.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/timer.h>

struct rf_fixture {
	struct pci_dev *pdev;
	void *buf;
};

struct rf_timer {
	struct timer_list timer;
	struct rf_fixture *fx;
	struct kunit *test;
	dma_addr_t iova;
	bool mapped, in_softirq, in_case, done;
};

static int rf_init(struct kunit *test)
{
	struct pci_dev *pdev = NULL;
	struct rf_fixture *fx;

	fx = kunit_kzalloc(test, sizeof(*fx), GFP_KERNEL);
	if (!fx)
		return -ENOMEM;
	while ((pdev = pci_get_device(PCI_VENDOR_ID_REDHAT_QUMRANET, PCI_ANY_ID, pdev)))
		if (pdev->dev.driver)
			break;
	if (!pdev) {
		kunit_err(test, "no virtio PCI device with a driver\n");
		return -ENODEV;
	}
	fx->pdev = pdev;
	fx->buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	if (!fx->buf) {
		pci_dev_put(fx->pdev);
		return -ENOMEM;
	}
	test->priv = fx;
	return 0;
}

static void rf_exit(struct kunit *test)
{
	struct rf_fixture *fx = test->priv;

	if (fx)		/* NULL when rf_init() failed */
		pci_dev_put(fx->pdev);
}

static void unmap_in_the_case_reaches_the_iommu(struct kunit *test)
{
	struct rf_fixture *fx = test->priv;
	struct device *dev = &fx->pdev->dev;
	dma_addr_t iova;

	KUNIT_ASSERT_PTR_EQ(test, current->kunit_test, test);
	iova = dma_map_single(dev, fx->buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(dev, iova));
	kunit_info(test, "unmap iova %pad of %s\n", &iova, pci_name(fx->pdev));
	dma_unmap_single(dev, iova, PAGE_SIZE, DMA_TO_DEVICE);
	kunit_info(test, "unmapped iova %pad\n", &iova);
}

static void rf_timer_fn(struct timer_list *t)
{
	struct rf_timer *rt = from_timer(rt, t, timer);
	struct device *dev = &rt->fx->pdev->dev;

	rt->in_softirq = in_serving_softirq();
	rt->in_case = current->kunit_test == rt->test;
	rt->iova = dma_map_single(dev, rt->fx->buf, PAGE_SIZE, DMA_TO_DEVICE);
	rt->mapped = !dma_mapping_error(dev, rt->iova);
	if (rt->mapped)
		dma_unmap_single(dev, rt->iova, PAGE_SIZE, DMA_TO_DEVICE);
	WRITE_ONCE(rt->done, true);	/* read on this CPU: no barrier */
}

static void unmap_in_a_timer_during_the_case_reaches_the_iommu(struct kunit *test)
{
	struct rf_timer rt = { .fx = test->priv, .test = test };
	unsigned long until;

	timer_setup_on_stack(&rt.timer, rf_timer_fn, 0);
	kunit_info(test, "timer armed\n");
	/* Spin on this CPU, so that the timer interrupts the case's task. */
	preempt_disable();
	rt.timer.expires = jiffies + 2;
	add_timer_on(&rt.timer, smp_processor_id());
	until = jiffies + HZ;
	while (!READ_ONCE(rt.done) && time_before(jiffies, until))
		cpu_relax();
	preempt_enable();
	del_timer_sync(&rt.timer);
	destroy_timer_on_stack(&rt.timer);

	KUNIT_ASSERT_TRUE_MSG(test, rt.done, "the timer did not fire within a second");
	KUNIT_ASSERT_TRUE(test, rt.mapped);
	kunit_info(test, "unmapped iova %pad in the timer: softirq %d, current the case's task %d\n",
		   &rt.iova, rt.in_softirq, rt.in_case);
	KUNIT_EXPECT_TRUE(test, rt.in_softirq);
	KUNIT_EXPECT_TRUE(test, rt.in_case);
}

static struct kunit_case rf_cases[] = {
	KUNIT_CASE(unmap_in_the_case_reaches_the_iommu),
	KUNIT_CASE(unmap_in_a_timer_during_the_case_reaches_the_iommu),
	{}
};

static struct kunit_suite rf_suite = {
	.name = "vtd_realflush",
	.init = rf_init,
	.exit = rf_exit,
	.test_cases = rf_cases,
};

kunit_test_suite(rf_suite);

MODULE_DESCRIPTION("VT-d cache tags harness: real flushes during KUnit cases reach the IOMMU");
MODULE_LICENSE("GPL");
