/*
 * mmio: the virtio-mmio transport, version 2 (VIRTIO 1.2, section 4.2.2).
 *
 * Owns the register file, the device status state machine, feature
 * negotiation and the queue array. Devices plug in through
 * `struct virtio_dev_ops` and never see a queue index the transport has
 * not validated. The host side (KVM ioeventfd/irqfd, or a test) plugs in
 * through `struct virtio_mmio_host`.
 *
 * Threads: registers are accessed from vCPU threads, queue notifications
 * arrive on the event loop thread; one mutex serialises both, and device
 * ops are called with it held.
 *
 * The read window: a page that always holds what each register (and the
 * config space) reads as, rewritten under the lock after every change.
 * Mapped read-only into the guest over the device's registers, it lets
 * reads (the interrupt handler's status read above all) complete without
 * an exit; writes still exit and come through the bus ops.
 */
#ifndef VIRTIO_MMIO_H
#define VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtio/vq.h"
#include "vmm/bus.h"
#include "vmm/guestmem.h"
#include "vmm/log.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION 2u
#define VIRTIO_MMIO_VENDOR_ID 0x4d4d56u /* "VMM" */
#define VIRTIO_MMIO_SIZE 0x1000u
#define VIRTIO_MMIO_MAX_QUEUES 8u

/* Register offsets. */
enum {
	VIRTIO_MMIO_MAGIC_VALUE = 0x000,
	VIRTIO_MMIO_VERSION_REG = 0x004,
	VIRTIO_MMIO_DEVICE_ID = 0x008,
	VIRTIO_MMIO_VENDOR = 0x00c,
	VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
	VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
	VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
	VIRTIO_MMIO_QUEUE_SEL = 0x030,
	VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
	VIRTIO_MMIO_QUEUE_NUM = 0x038,
	VIRTIO_MMIO_QUEUE_READY = 0x044,
	VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
	VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
	VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
	VIRTIO_MMIO_STATUS = 0x070,
	VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
	VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
	VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
	VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
	VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
	VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	VIRTIO_MMIO_SHM_SEL = 0x0ac,
	VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
	VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
	VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
	VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
	VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
	VIRTIO_MMIO_CONFIG = 0x100,
};

/* Device status bits (VIRTIO 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* Interrupt status bits. */
#define VIRTIO_MMIO_INT_VRING 1u
#define VIRTIO_MMIO_INT_CONFIG 2u

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

struct virtio_mmio;

struct virtio_dev_ops {
	/* Device config space, offset relative to 0x100. Out-of-range
	 * reads must return zeroes; writes the device ignores. */
	void (*cfg_read)(void *dev, uint64_t offset, void *data,
			 unsigned int len);
	void (*cfg_write)(void *dev, uint64_t offset, const void *data,
			  unsigned int len);
	/* The driver notified queue `q` (always < the device's nr_queues). */
	void (*queue_notify)(void *dev, unsigned int q);
	/* DRIVER_OK: queues are set up. Non-zero fails the device. */
	int (*activate)(void *dev);
	/* The driver reset the device: drop all state. */
	void (*reset)(void *dev);
	/* Optional: describe the device's own state for a dump, one
	 * "dump: "-prefixed line at a time. */
	void (*dump)(void *dev, FILE *f);
};

struct virtio_mmio_host {
	/* Raise the device's (edge-triggered) interrupt. Any thread. */
	void (*irq)(void *opaque);
	/* Deliver a queue notification to the device again later, from the
	 * event loop (used when a device stops early to stay fair). */
	void (*requeue)(void *opaque, unsigned int q);
	/*
	 * Take the driver's acknowledgements of used-buffer interrupts that
	 * came without an exit (KVM counts its InterruptACK writes of
	 * VIRTIO_MMIO_INT_VRING in an eventfd): 1 if any came since the last
	 * call, 0 if none, -1 if this thread cannot look (then they are
	 * kept for the next call). NULL: every ACK comes through the bus.
	 */
	int (*take_acks)(void *opaque);
	void *opaque;
	unsigned int line; /* the interrupt line's number, for the dump */
};

struct virtio_mmio_config {
	const char *name;
	uint32_t device_id;
	uint64_t device_features; /* device-specific bits; the transport
				     adds VERSION_1, EVENT_IDX, INDIRECT */
	unsigned int nr_queues;
	uint16_t queue_max; /* largest queue size, power of two */
	const struct virtio_dev_ops *ops;
	void *dev;
};

struct virtio_mmio_queue {
	struct vq vq;
	uint32_t num;
	uint32_t desc_lo, desc_hi, driver_lo, driver_hi, device_lo, device_hi;
};

/* Per-queue counters since the device was created (kept across resets). */
struct virtio_mmio_qstats {
	uint64_t notifies; /* driver notifications delivered to the device */
	uint64_t irqs; /* used-buffer interrupts wanted (one raise may
			  serve several queues) */
	uint64_t irqs_suppressed; /* ...not raised: the driver asked not to */
};

struct virtio_mmio {
	pthread_mutex_t lock;
	struct virtio_mmio_config cfg;
	struct virtio_mmio_host host;
	const struct guestmem *mem;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct virtio_mmio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_qstats qstats[VIRTIO_MMIO_MAX_QUEUES];
	uint64_t irqs_config; /* config-change interrupts raised */
	unsigned int unacked_checks; /* virtio_mmio_check_irq() calls since
				       the last raise or ACK */
	bool acks_unsure; /* a raise could not take the ACKs before it */
	uint64_t irqs_resent; /* edges sent again for an unacked status */
	uint32_t *window; /* VIRTIO_MMIO_SIZE bytes, page-aligned */
	struct log_ratelimit rl;
};

extern const struct bus_ops virtio_mmio_bus_ops;

int virtio_mmio_create(struct virtio_mmio **out,
		       const struct virtio_mmio_config *cfg,
		       const struct guestmem *mem,
		       const struct virtio_mmio_host *host);
void virtio_mmio_destroy(struct virtio_mmio *m);

/* A queue notification from the host side (ioeventfd). Takes the lock. */
void virtio_mmio_notify(struct virtio_mmio *m, unsigned int q);

/*
 * For devices, called with the lock held (i.e. from inside a device op):
 * the queue if it is ready, else NULL.
 */
struct vq *virtio_mmio_queue(struct virtio_mmio *m, unsigned int q);
/* Used buffers were pushed on `q`: interrupt the driver if it wants. */
void virtio_mmio_signal_used(struct virtio_mmio *m, unsigned int q);
/*
 * The same for every queue in `mask` (bit q: queue q) at once: one
 * interrupt if any of them wants one, since the driver's handler looks at
 * every queue. Each queue's suppression state is still updated.
 */
void virtio_mmio_signal_used_mask(struct virtio_mmio *m, uint32_t mask);
/* The device config changed: bump the generation and interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *m);
/* The device cannot go on (e.g. a broken queue): DEVICE_NEEDS_RESET. */
void virtio_mmio_set_needs_reset(struct virtio_mmio *m);
/* Ask the host to notify queue `q` again later (fairness). */
void virtio_mmio_requeue(struct virtio_mmio *m, unsigned int q);
/*
 * For the host's periodic timer (lock held): an interrupt raised but not
 * acknowledged by two consecutive calls is raised again. The status bits
 * stay set until the driver's ACK, so a second edge is always harmless,
 * and it undoes an edge lost on its way to the driver, which would
 * otherwise wait forever for it. ACKs that came without an exit
 * (host.take_acks) are taken here.
 */
void virtio_mmio_check_irq(struct virtio_mmio *m);
/*
 * Write the transport's state to `f`: status, features, and per queue both
 * sides' ring indices, event-idx fields and counters; then the device's own
 * dump. Takes the lock.
 */
void virtio_mmio_dump(struct virtio_mmio *m, FILE *f);
/*
 * The read window (see the top): VIRTIO_MMIO_SIZE page-aligned bytes,
 * little-endian, stable for the transport's lifetime. Readers outside the
 * lock see each aligned 32-bit word whole.
 */
const void *virtio_mmio_window(const struct virtio_mmio *m);
/* Was VIRTIO feature bit `bit` negotiated? */
bool virtio_mmio_has_feature(const struct virtio_mmio *m, unsigned int bit);

#endif
