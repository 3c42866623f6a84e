/*
 * Unit tests: virtio-mmio transport registers, feature negotiation, the
 * device status state machine, queue setup and notifications.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/fake_mem.h"
#include "tests/helpers/mmio_driver.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "virtio/mmio.h"

#define DEV_FEATURE_BIT 3 /* a device-specific feature we offer */
#define RAM_SIZE 0x10000

struct fake_dev {
	unsigned int notified[VIRTIO_MMIO_MAX_QUEUES];
	unsigned int activated, resets;
	int activate_ret;
	uint8_t cfg[8];
	uint64_t last_cfg_off; /* of the last write */
};

static struct guestmem gm;
static struct fake_dev dev;
static struct virtio_mmio *m;
static unsigned int irqs, requeues;
static uint32_t status_at_irq; /* the window's interrupt status then */

static void dev_cfg_read(void *d, uint64_t off, void *data, unsigned int len)
{
	struct fake_dev *f = d;

	if (off < sizeof(f->cfg) && len <= sizeof(f->cfg) - off)
		memcpy(data, f->cfg + off, len);
}

static void dev_cfg_write(void *d, uint64_t off, const void *data,
			  unsigned int len)
{
	struct fake_dev *f = d;

	f->last_cfg_off = off;
	if (off < sizeof(f->cfg) && len <= sizeof(f->cfg) - off)
		memcpy(f->cfg + off, data, len);
}

static void dev_notify(void *d, unsigned int q)
{
	((struct fake_dev *)d)->notified[q]++;
}

static int dev_activate(void *d)
{
	((struct fake_dev *)d)->activated++;
	return ((struct fake_dev *)d)->activate_ret;
}

static void dev_reset(void *d)
{
	((struct fake_dev *)d)->resets++;
}

static const struct virtio_dev_ops ops = {
	.cfg_read = dev_cfg_read,
	.cfg_write = dev_cfg_write,
	.queue_notify = dev_notify,
	.activate = dev_activate,
	.reset = dev_reset,
};

static uint32_t window_word(uint64_t off)
{
	const uint32_t *w = virtio_mmio_window(m);

	return __atomic_load_n(&w[off / 4], __ATOMIC_ACQUIRE);
}

static void host_irq(void *opaque)
{
	(void)opaque;
	irqs++;
	status_at_irq = window_word(VIRTIO_MMIO_INTERRUPT_STATUS);
}

/* KVM's count of ACKs written without an exit, and whether the calling
 * thread may read it (host.take_acks). */
static unsigned int kvm_acks;
static bool acks_readable;

static int host_take_acks(void *opaque)
{
	int any = kvm_acks > 0;

	(void)opaque;
	if (!acks_readable)
		return -1;
	kvm_acks = 0;
	return any;
}

static void host_requeue(void *opaque, unsigned int q)
{
	(void)opaque;
	(void)q;
	requeues++;
}

static void setup(void)
{
	struct virtio_mmio_config cfg = {
		.name = "test", .device_id = 19,
		.device_features = 1ull << DEV_FEATURE_BIT,
		.nr_queues = 3, .queue_max = 64, .ops = &ops, .dev = &dev,
	};
	struct virtio_mmio_host host = { .irq = host_irq,
					 .requeue = host_requeue,
					 .take_acks = host_take_acks };

	test_log_install();
	kvm_acks = 0;
	acks_readable = true;
	memset(&gm, 0, sizeof(gm));
	fake_mem_add(&gm, 0, RAM_SIZE);
	memset(&dev, 0, sizeof(dev));
	irqs = requeues = 0;
	ck_assert_int_eq(virtio_mmio_create(&m, &cfg, &gm, &host), 0);
}

static void teardown(void)
{
	virtio_mmio_destroy(m);
	fake_mem_free(&gm);
}

static uint32_t rd(uint64_t off)
{
	return mmio_driver_read(m, off);
}

static void wr(uint64_t off, uint32_t v)
{
	mmio_driver_write(m, off, v);
}

/* Negotiate VERSION_1 (+ extra features) and set FEATURES_OK. */
static void negotiate(uint64_t extra)
{
	mmio_driver_negotiate(m, 1ull << VIRTIO_F_VERSION_1 | extra);
}

#define OK_STATUS                                                    \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |          \
	 VIRTIO_STATUS_FEATURES_OK)

/* Queue q of `num` entries with rings at 0x1000/0x2000/0x3000. */
static void setup_queue(unsigned int q, uint32_t num)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, q);
	wr(VIRTIO_MMIO_QUEUE_NUM, num);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x2000);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
}

static const struct {
	const char *what;
	uint32_t sel_reg, sel, reg, want;
} read_table[] = {
	{ "magic", 0, 0, VIRTIO_MMIO_MAGIC_VALUE, 0x74726976 },
	{ "version 2", 0, 0, VIRTIO_MMIO_VERSION_REG, 2 },
	{ "device id", 0, 0, VIRTIO_MMIO_DEVICE_ID, 19 },
	{ "vendor", 0, 0, VIRTIO_MMIO_VENDOR, VIRTIO_MMIO_VENDOR_ID },
	{ "features low: device bit + indirect + event idx",
	  VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0, VIRTIO_MMIO_DEVICE_FEATURES,
	  1u << DEV_FEATURE_BIT | 1u << 28 | 1u << 29 },
	{ "features high: VERSION_1", VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1,
	  VIRTIO_MMIO_DEVICE_FEATURES, 1 },
	{ "features page 2 is empty", VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2,
	  VIRTIO_MMIO_DEVICE_FEATURES, 0 },
	{ "queue 2 exists", VIRTIO_MMIO_QUEUE_SEL, 2,
	  VIRTIO_MMIO_QUEUE_NUM_MAX, 64 },
	{ "queue 3 does not", VIRTIO_MMIO_QUEUE_SEL, 3,
	  VIRTIO_MMIO_QUEUE_NUM_MAX, 0 },
	{ "huge queue sel", VIRTIO_MMIO_QUEUE_SEL, 0xffffffff,
	  VIRTIO_MMIO_QUEUE_NUM_MAX, 0 },
	{ "queue not ready", VIRTIO_MMIO_QUEUE_SEL, 0,
	  VIRTIO_MMIO_QUEUE_READY, 0 },
	{ "no shared memory", VIRTIO_MMIO_SHM_SEL, 0,
	  VIRTIO_MMIO_SHM_LEN_LOW, 0xffffffff },
	{ "status starts at 0", 0, 0, VIRTIO_MMIO_STATUS, 0 },
	{ "interrupt status 0", 0, 0, VIRTIO_MMIO_INTERRUPT_STATUS, 0 },
	{ "write-only register reads 0", 0, 0, VIRTIO_MMIO_QUEUE_NOTIFY, 0 },
	{ "reserved register reads 0", 0, 0, 0x0f0, 0 },
};

START_TEST(register_reads)
{
	if (read_table[_i].sel_reg)
		wr(read_table[_i].sel_reg, read_table[_i].sel);
	ck_assert_msg(rd(read_table[_i].reg) == read_table[_i].want,
		      "%s: got %#x", read_table[_i].what,
		      rd(read_table[_i].reg));
}
END_TEST

START_TEST(narrow_and_misaligned_accesses_ignored)
{
	uint16_t v16 = 0xffff;
	uint8_t v8 = 0xff;
	uint32_t v32 = 0xffffffff;

	virtio_mmio_bus_ops.read(m, VIRTIO_MMIO_MAGIC_VALUE, &v16, 2);
	ck_assert_uint_eq(v16, 0);
	virtio_mmio_bus_ops.read(m, VIRTIO_MMIO_MAGIC_VALUE + 1, &v32, 4);
	ck_assert_uint_eq(v32, 0);
	virtio_mmio_bus_ops.write(m, VIRTIO_MMIO_STATUS, &v8, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
}
END_TEST

START_TEST(negotiation_accepts_offered_features)
{
	negotiate(1ull << DEV_FEATURE_BIT | 1ull << VIRTIO_F_EVENT_IDX);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), OK_STATUS);
	ck_assert(virtio_mmio_has_feature(m, DEV_FEATURE_BIT));
	ck_assert(virtio_mmio_has_feature(m, VIRTIO_F_EVENT_IDX));
	ck_assert(!virtio_mmio_has_feature(m, VIRTIO_F_INDIRECT_DESC));
	/* Frozen after FEATURES_OK. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	ck_assert(virtio_mmio_has_feature(m, DEV_FEATURE_BIT));
}
END_TEST

START_TEST(negotiation_refuses_unoffered_or_legacy)
{
	negotiate(1ull << 40); /* not offered */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK,
			  0);
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1u << DEV_FEATURE_BIT); /* no V1 */
	wr(VIRTIO_MMIO_STATUS, OK_STATUS);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK,
			  0);
}
END_TEST

START_TEST(status_cannot_clear_bits_but_zero_resets)
{
	negotiate(0);
	setup_queue(0, 16);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE); /* clears bits */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), OK_STATUS);
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(dev.resets, 1);
	ck_assert(!virtio_mmio_has_feature(m, VIRTIO_F_VERSION_1));
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}
END_TEST

START_TEST(driver_ok_activates)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE |
				       VIRTIO_STATUS_DRIVER |
				       VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(dev.activated, 0); /* no FEATURES_OK yet */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, 0);
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(0);
	setup_queue(0, 16);
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(dev.activated, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS),
			  OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
}
END_TEST

START_TEST(failed_activation_needs_reset)
{
	dev.activate_ret = -1;
	test_log_expect(1);
	negotiate(0);
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_STATUS) &
				  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			  0);
	ck_assert_uint_eq(irqs, 1);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_INTERRUPT_STATUS) &
				  VIRTIO_MMIO_INT_CONFIG,
			  0);
}
END_TEST

START_TEST(queue_setup_valid)
{
	negotiate(0);
	setup_queue(1, 64);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_ptr_nonnull(virtio_mmio_queue(m, 1));
	ck_assert_uint_eq(virtio_mmio_queue(m, 1)->size, 64);
	ck_assert_uint_eq(virtio_mmio_queue(m, 1)->used_gpa, 0x3000);
	ck_assert_ptr_null(virtio_mmio_queue(m, 0));
	ck_assert_ptr_null(virtio_mmio_queue(m, 7));
	/* Layout registers are frozen while the queue is ready. */
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	ck_assert_uint_eq(virtio_mmio_queue(m, 1)->desc_gpa, 0x1000);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}
END_TEST

/* Bad queue setups: each must leave the queue off and need a reset. */
static const struct {
	const char *what;
	uint32_t num, desc_lo, desc_hi;
} bad_queues[] = {
	{ "size larger than QueueNumMax", 128, 0x1000, 0 },
	{ "size not a power of two", 12, 0x1000, 0 },
	{ "size zero", 0, 0x1000, 0 },
	{ "descriptors outside RAM", 16, 0xfff0, 0 },
	{ "descriptors above 4 GiB", 16, 0x1000, 1 },
	{ "descriptors misaligned", 16, 0x1004, 0 },
};

START_TEST(queue_setup_rejected)
{
	negotiate(0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, bad_queues[_i].num);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, bad_queues[_i].desc_lo);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, bad_queues[_i].desc_hi);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x2000);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x3000);
	test_log_expect(2); /* the bad queue, then the reset it causes */
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_msg(rd(VIRTIO_MMIO_QUEUE_READY) == 0, "%s: queue ready",
		      bad_queues[_i].what);
	ck_assert_msg(rd(VIRTIO_MMIO_STATUS) &
			      VIRTIO_STATUS_DEVICE_NEEDS_RESET,
		      "%s: no DEVICE_NEEDS_RESET", bad_queues[_i].what);
}
END_TEST

START_TEST(queue_cannot_be_repointed_after_driver_ok)
{
	negotiate(0);
	setup_queue(0, 16);
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	setup_queue(1, 16); /* a queue the driver did not set up in time */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_ptr_nonnull(virtio_mmio_queue(m, 0));
	ck_assert_ptr_null(virtio_mmio_queue(m, 1));
}
END_TEST

START_TEST(queue_ready_needs_features_ok)
{
	setup_queue(0, 16);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}
END_TEST

START_TEST(bad_queue_sel_writes_ignored)
{
	negotiate(0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 3);
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), OK_STATUS);
}
END_TEST

START_TEST(notify_reaches_device_only_when_live)
{
	negotiate(0);
	setup_queue(2, 16);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	ck_assert_uint_eq(dev.notified[2], 0); /* before DRIVER_OK */
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	virtio_mmio_notify(m, 2);
	ck_assert_uint_eq(dev.notified[2], 2);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1); /* not ready */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 99); /* no such queue */
	virtio_mmio_notify(m, 0xffffffffu);
	ck_assert_uint_eq(dev.notified[0] + dev.notified[1], 0);
}
END_TEST

START_TEST(used_buffers_interrupt_and_ack)
{
	struct vq *vq;

	negotiate(0);
	setup_queue(0, 16);
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	vq = virtio_mmio_queue(m, 0);
	ck_assert_int_eq(vq_push(vq, 3, 10), 0);
	virtio_mmio_signal_used(m, 0);
	ck_assert_uint_eq(irqs, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	virtio_mmio_requeue(m, 0);
	ck_assert_uint_eq(requeues, 1);
}
END_TEST

START_TEST(config_space_and_generation)
{
	uint32_t v = 0x11223344, r = 0;
	uint8_t b = 0;

	virtio_mmio_bus_ops.write(m, VIRTIO_MMIO_CONFIG + 4, &v, 4);
	ck_assert_uint_eq(dev.last_cfg_off, 4);
	virtio_mmio_bus_ops.read(m, VIRTIO_MMIO_CONFIG + 4, &r, 4);
	ck_assert_uint_eq(r, v);
	virtio_mmio_bus_ops.read(m, VIRTIO_MMIO_CONFIG + 5, &b, 1);
	ck_assert_uint_eq(b, 0x33);
	virtio_mmio_bus_ops.read(m, VIRTIO_MMIO_CONFIG + 0x100, &r, 4);
	ck_assert_uint_eq(r, 0); /* beyond the device's config: zeroes */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 0);
	virtio_mmio_config_changed(m);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	ck_assert_uint_eq(irqs, 0); /* driver not live: no interrupt */
}
END_TEST

/* Every word of the read window against the register file's answer. */
static void assert_window_matches(const char *after)
{
	uint64_t off;

	for (off = 0; off < VIRTIO_MMIO_SIZE; off += 4) {
		uint32_t v = 0xdeadbeef;

		virtio_mmio_bus_ops.read(m, off, &v, 4);
		ck_assert_msg(window_word(off) == v,
			      "after %s: %#llx reads %#x, window %#x", after,
			      (unsigned long long)off, v, window_word(off));
	}
}

START_TEST(read_window_follows_every_change)
{
	struct vq *vq;
	uint32_t v = 0x55667788;

	ck_assert_ptr_nonnull(virtio_mmio_window(m));
	ck_assert_uint_eq((uintptr_t)virtio_mmio_window(m) % 4096, 0);
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_MAGIC_VALUE),
			  VIRTIO_MMIO_MAGIC);
	dev.cfg[0] = 0xab; /* the device's config before the first change */
	virtio_mmio_config_changed(m);
	assert_window_matches("create");
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_CONFIG) & 0xff, 0xab);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_window_matches("a feature page select");
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_DEVICE_FEATURES), 1);
	negotiate(0);
	assert_window_matches("negotiation");
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_window_matches("a queue select");
	setup_queue(0, 16);
	assert_window_matches("queue setup");
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_QUEUE_READY), 1);
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
	assert_window_matches("DRIVER_OK");

	/* The status is there by the time the edge goes out. */
	vq = virtio_mmio_queue(m, 0);
	ck_assert_int_eq(vq_push(vq, 3, 10), 0);
	virtio_mmio_signal_used(m, 0);
	ck_assert_uint_eq(irqs, 1);
	ck_assert_uint_eq(status_at_irq, VIRTIO_MMIO_INT_VRING);
	assert_window_matches("an interrupt");
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_window_matches("an acknowledge");

	virtio_mmio_bus_ops.write(m, VIRTIO_MMIO_CONFIG + 4, &v, 4);
	assert_window_matches("a config write");
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_CONFIG + 4), v);
	virtio_mmio_config_changed(m);
	ck_assert_uint_eq(status_at_irq, VIRTIO_MMIO_INT_CONFIG);
	assert_window_matches("a config change");
	test_log_expect(1);
	virtio_mmio_set_needs_reset(m);
	ck_assert(window_word(VIRTIO_MMIO_STATUS) &
		  VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_window_matches("needs reset");
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(window_word(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_window_matches("a reset");
}
END_TEST

START_TEST(create_validates_config)
{
	struct virtio_mmio_config cfg = { .name = "x", .nr_queues = 0,
					  .queue_max = 16, .ops = &ops };
	struct virtio_mmio_host host = { .irq = host_irq };
	struct virtio_mmio *x;

	ck_assert_int_lt(virtio_mmio_create(&x, &cfg, &gm, &host), 0);
	cfg.nr_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	ck_assert_int_lt(virtio_mmio_create(&x, &cfg, &gm, &host), 0);
	cfg.nr_queues = 1;
	cfg.queue_max = 24;
	ck_assert_int_lt(virtio_mmio_create(&x, &cfg, &gm, &host), 0);
}
END_TEST

/* A live device with one used buffer signalled on queue 0. */
static void raise_used(void)
{
	struct vq *vq = virtio_mmio_queue(m, 0);

	ck_assert_int_eq(vq_push(vq, 3, 10), 0);
	virtio_mmio_signal_used(m, 0);
}

static void check_irq(void)
{
	pthread_mutex_lock(&m->lock);
	virtio_mmio_check_irq(m);
	pthread_mutex_unlock(&m->lock);
}

static void go_live(void)
{
	negotiate(0);
	setup_queue(0, 16);
	wr(VIRTIO_MMIO_STATUS, OK_STATUS | VIRTIO_STATUS_DRIVER_OK);
}

START_TEST(ack_without_exit_clears_at_the_check)
{
	go_live();
	raise_used();
	ck_assert_uint_eq(irqs, 1);
	kvm_acks++; /* the driver's handler after the edge */
	check_irq();
	ck_assert_uint_eq(m->interrupt_status, 0);
	check_irq();
	check_irq();
	check_irq();
	ck_assert_uint_eq(irqs, 1); /* acknowledged: never sent again */
	ck_assert_uint_eq(m->irqs_resent, 0);
}
END_TEST

/* After one raise whose ACK the checks cannot trust: the bit stays, the
 * edge goes again after two checks, and the driver's ACK of that one
 * clears it for good. */
static void sent_again_then_settled(void)
{
	check_irq();
	ck_assert_uint_eq(m->interrupt_status, VIRTIO_MMIO_INT_VRING);
	check_irq();
	ck_assert_uint_eq(irqs, 2); /* sent again after two checks */
	kvm_acks++; /* now the driver answers */
	check_irq();
	ck_assert_uint_eq(m->interrupt_status, 0);
	check_irq();
	check_irq();
	ck_assert_uint_eq(irqs, 2);
}

/* An ACK already counted when a raise publishes may be older than the
 * raise: it must not stand for the raise's own, or an edge lost below
 * us would never be sent again. */
START_TEST(ack_before_a_raise_does_not_cover_it)
{
	go_live();
	kvm_acks++;
	raise_used();
	sent_again_then_settled();
}
END_TEST

/* A raise on a thread that cannot take the ACKs (a vCPU's): the next
 * check cannot tell old ones from new, clears nothing, and the edge sent
 * again settles it. */
START_TEST(raise_that_cannot_take_acks_is_settled_by_a_second_edge)
{
	go_live();
	acks_readable = false;
	kvm_acks++;
	raise_used();
	acks_readable = true;
	sent_again_then_settled();
}
END_TEST

/* A config change's status is acknowledged through the bus (only the
 * used-buffer value goes to the ioeventfd): counted ACKs leave it. */
START_TEST(counted_acks_leave_config_status)
{
	go_live();
	raise_used();
	virtio_mmio_config_changed(m);
	kvm_acks++;
	check_irq();
	ck_assert_uint_eq(m->interrupt_status, VIRTIO_MMIO_INT_CONFIG);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(m->interrupt_status, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mmio");
	TCase *regs = tcase_create("registers");
	TCase *status = tcase_create("status");
	TCase *queues = tcase_create("queues");

	tcase_add_checked_fixture(regs, setup, teardown);
	tcase_add_loop_test(regs, register_reads, 0,
			    sizeof(read_table) / sizeof(read_table[0]));
	tcase_add_test(regs, narrow_and_misaligned_accesses_ignored);
	tcase_add_test(regs, config_space_and_generation);
	tcase_add_test(regs, create_validates_config);
	tcase_add_test(regs, read_window_follows_every_change);
	suite_add_tcase(s, regs);

	tcase_add_checked_fixture(status, setup, teardown);
	tcase_add_test(status, negotiation_accepts_offered_features);
	tcase_add_test(status, negotiation_refuses_unoffered_or_legacy);
	tcase_add_test(status, status_cannot_clear_bits_but_zero_resets);
	tcase_add_test(status, driver_ok_activates);
	tcase_add_test(status, failed_activation_needs_reset);
	suite_add_tcase(s, status);

	tcase_add_checked_fixture(queues, setup, teardown);
	tcase_add_test(queues, queue_setup_valid);
	tcase_add_loop_test(queues, queue_setup_rejected, 0,
			    sizeof(bad_queues) / sizeof(bad_queues[0]));
	tcase_add_test(queues, queue_ready_needs_features_ok);
	tcase_add_test(queues, queue_cannot_be_repointed_after_driver_ok);
	tcase_add_test(queues, bad_queue_sel_writes_ignored);
	tcase_add_test(queues, notify_reaches_device_only_when_live);
	tcase_add_test(queues, used_buffers_interrupt_and_ack);
	tcase_add_test(queues, ack_without_exit_clears_at_the_check);
	tcase_add_test(queues, ack_before_a_raise_does_not_cover_it);
	tcase_add_test(queues,
		       raise_that_cannot_take_acks_is_settled_by_a_second_edge);
	tcase_add_test(queues, counted_acks_leave_config_status);
	suite_add_tcase(s, queues);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
