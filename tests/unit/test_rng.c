/*
 * Unit tests: the virtio-rng device behind the real transport, driven by
 * the driver-side virtqueue builder.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/rng.h"
#include "tests/helpers/mmio_driver.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "tests/helpers/vq_driver.h"

#define RAM (4u << 20)

static struct vq_driver drv;
static struct rng rng;
static struct virtio_mmio *m;
static unsigned int irqs, requeues;
static int source_fail;

static ssize_t source(void *buf, size_t len)
{
	if (source_fail)
		return -EIO;
	memset(buf, 0xab, len);
	return (ssize_t)(len > 1000 ? 1000 : len); /* short reads too */
}

static void host_irq(void *o)
{
	(void)o;
	irqs++;
}

static void host_requeue(void *o, unsigned int q)
{
	(void)o;
	(void)q;
	requeues++;
}

static void setup(void)
{
	struct virtio_mmio_host host = { .irq = host_irq,
					 .requeue = host_requeue };
	struct virtio_mmio_config cfg;

	test_log_install();
	irqs = requeues = 0;
	source_fail = 0;
	memset(&rng, 0, sizeof(rng));
	rng.source = source;
	vq_driver_init(&drv, 32, RAM);
	cfg = rng_mmio_config(&rng);
	ck_assert_int_eq(virtio_mmio_create(&m, &cfg, &drv.mem, &host), 0);
	rng.mmio = m;
	ck_assert_uint_ne(mmio_driver_negotiate(m, 1ull << VIRTIO_F_VERSION_1 |
						       1ull << VIRTIO_F_EVENT_IDX) &
				  VIRTIO_STATUS_FEATURES_OK,
			  0);
	mmio_driver_setup_queue(m, 0, &drv);
	ck_assert_uint_ne(mmio_driver_ok(m) & VIRTIO_STATUS_DRIVER_OK, 0);
}

static void teardown(void)
{
	virtio_mmio_destroy(m);
	vq_driver_destroy(&drv);
}

static uint32_t used_len(void)
{
	uint32_t id, len;

	ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
	return len;
}

START_TEST(fills_writable_buffers)
{
	uint64_t a = vq_driver_alloc(&drv, 100, 8);
	uint64_t b = vq_driver_alloc(&drv, 3000, 8);
	struct vq_driver_buf bufs[] = { { a, 100, true }, { b, 3000, true } };
	uint8_t *pa = vq_driver_host(&drv, a, 100);
	uint8_t *pb = vq_driver_host(&drv, b, 3000);

	ck_assert_int_ge(vq_driver_add_chain(&drv, bufs, 2), 0);
	virtio_mmio_notify(m, 0);
	ck_assert_uint_eq(used_len(), 3100);
	ck_assert_uint_eq(pa[0], 0xab);
	ck_assert_uint_eq(pa[99], 0xab);
	ck_assert_uint_eq(pb[2999], 0xab);
	ck_assert_uint_eq(irqs, 1);
	/* Drained: it asked to be notified about the next buffer. */
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 1);
}
END_TEST

START_TEST(huge_buffer_filled_up_to_the_chain_cap)
{
	uint64_t a = vq_driver_alloc(&drv, 1u << 20, 4096);
	struct vq_driver_buf buf = { a, 1u << 20, true };
	uint8_t *p = vq_driver_host(&drv, a, 1u << 20);

	ck_assert_int_ge(vq_driver_add_chain(&drv, &buf, 1), 0);
	virtio_mmio_notify(m, 0);
	ck_assert_uint_eq(used_len(), 64 * 1024);
	ck_assert_uint_eq(p[64 * 1024 - 1], 0xab);
	ck_assert_uint_eq(p[64 * 1024], 0);
}
END_TEST

START_TEST(work_per_notification_is_bounded)
{
	uint64_t a = vq_driver_alloc(&drv, 64 * 1024, 4096);
	struct vq_driver_buf buf = { a, 64 * 1024, true };
	unsigned int i, used = 0;
	uint32_t id, len;

	for (i = 0; i < 20; i++)
		ck_assert_int_ge(vq_driver_add_chain(&drv, &buf, 1), 0);
	virtio_mmio_notify(m, 0);
	while (vq_driver_get_used(&drv, &id, &len) == 1)
		used++;
	ck_assert_uint_eq(used, 16); /* 1 MiB, then yield */
	ck_assert_uint_eq(requeues, 1);
	virtio_mmio_notify(m, 0); /* what the requeue delivers */
	while (vq_driver_get_used(&drv, &id, &len) == 1)
		used++;
	ck_assert_uint_eq(used, 20);
}
END_TEST

START_TEST(read_only_and_bad_chains_get_nothing)
{
	uint64_t a = vq_driver_alloc(&drv, 64, 8);
	struct vq_driver_buf ro = { a, 64, false };
	struct vq_driver_buf outside = { RAM - 16, 64, true };

	ck_assert_int_ge(vq_driver_add_chain(&drv, &ro, 1), 0);
	virtio_mmio_notify(m, 0);
	ck_assert_uint_eq(used_len(), 0);
	test_log_expect(1); /* "malformed chain" */
	ck_assert_int_ge(vq_driver_add_chain(&drv, &outside, 1), 0);
	virtio_mmio_notify(m, 0);
	ck_assert_uint_eq(used_len(), 0);
}
END_TEST

START_TEST(source_failure_is_reported_not_fatal)
{
	uint64_t a = vq_driver_alloc(&drv, 64, 8);
	struct vq_driver_buf buf = { a, 64, true };

	source_fail = 1;
	test_log_expect(1);
	ck_assert_int_ge(vq_driver_add_chain(&drv, &buf, 1), 0);
	virtio_mmio_notify(m, 0);
	ck_assert_uint_eq(used_len(), 0);
	ck_assert_uint_eq(mmio_driver_read(m, VIRTIO_MMIO_STATUS) &
				  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			  0);
}
END_TEST

START_TEST(broken_ring_needs_reset)
{
	vq_driver_set_avail_idx(&drv, 1000); /* more than the queue holds */
	test_log_expect(1); /* "device needs reset" */
	virtio_mmio_notify(m, 0);
	ck_assert_uint_ne(mmio_driver_read(m, VIRTIO_MMIO_STATUS) &
				  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			  0);
	ck_assert_uint_eq(irqs, 1); /* config change interrupt */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("rng");
	TCase *tc = tcase_create("requests");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fills_writable_buffers);
	tcase_add_test(tc, huge_buffer_filled_up_to_the_chain_cap);
	tcase_add_test(tc, work_per_notification_is_bounded);
	tcase_add_test(tc, read_only_and_bad_chains_get_nothing);
	tcase_add_test(tc, source_failure_is_reported_not_fatal);
	tcase_add_test(tc, broken_ring_needs_reset);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
