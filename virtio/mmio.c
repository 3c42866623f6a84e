/*
 * mmio: virtio-mmio v2 register file and device status state machine.
 *
 * Trust edge: every register value comes from the guest driver. QueueSel
 * is checked on every use; queue addresses and sizes are validated by
 * vq_init() when the driver sets QueueReady; feature bits the device did
 * not offer make FEATURES_OK fail; control registers accept only aligned
 * 32-bit accesses. A driver that breaks the rules gets the access ignored
 * or the device marked DEVICE_NEEDS_RESET, never a crash.
 */
#define LOG_TAG "virtio-mmio"
#include "virtio/mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/log.h"
#include "vmm/util.h"

static uint64_t transport_features(void)
{
	return 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_EVENT_IDX |
	       1ull << VIRTIO_F_INDIRECT_DESC;
}

static void publish_reg_locked(struct virtio_mmio *m, uint32_t off);
static void publish_config_locked(struct virtio_mmio *m);

int virtio_mmio_create(struct virtio_mmio **out,
		       const struct virtio_mmio_config *cfg,
		       const struct guestmem *mem,
		       const struct virtio_mmio_host *host)
{
	struct virtio_mmio *m;

	if (!cfg->nr_queues || cfg->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    !cfg->queue_max || cfg->queue_max > VQ_MAX_SIZE ||
	    (cfg->queue_max & (cfg->queue_max - 1)))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->window = mmap(NULL, VIRTIO_MMIO_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->window == MAP_FAILED) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->cfg = *cfg;
	m->host = *host;
	m->mem = mem;
	m->device_features = cfg->device_features | transport_features();
	pthread_mutex_lock(&m->lock);
	publish_config_locked(m);
	pthread_mutex_unlock(&m->lock);
	*out = m;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	munmap(m->window, VIRTIO_MMIO_SIZE);
	free(m);
}

const void *virtio_mmio_window(const struct virtio_mmio *m)
{
	return m->window;
}

bool virtio_mmio_has_feature(const struct virtio_mmio *m, unsigned int bit)
{
	return bit < 64 && (m->driver_features >> bit) & 1;
}

/* The selected queue, or NULL when QueueSel is out of range. */
static struct virtio_mmio_queue *selected(struct virtio_mmio *m)
{
	if (m->queue_sel >= m->cfg.nr_queues)
		return NULL;
	return &m->queues[m->queue_sel];
}

static void reset_locked(struct virtio_mmio *m)
{
	unsigned int i;

	if (m->cfg.ops->reset)
		m->cfg.ops->reset(m->cfg.dev);
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		memset(&m->queues[i], 0, sizeof(m->queues[i]));
	m->driver_features = 0;
	m->device_features_sel = m->driver_features_sel = 0;
	m->queue_sel = 0;
	m->status = 0;
	m->interrupt_status = 0;
}

/*
 * ACKs without an exit (host.take_acks) carry no time: we only learn of
 * them when we take them. The driver (Linux's vm_interrupt()) reads the
 * status, writes the ACK, and only then looks at every queue, so an ACK
 * written after a raise published its used entries covers that raise. So
 * a raise takes the ACKs after publishing and before its edge, and drops
 * them (older ones cover only earlier raises; newer ones would have
 * cleared what it just set, and its edge brings another); whatever a
 * later check takes was written after every raise's entries, and clears
 * the bit. A raise on a thread that cannot take them leaves the next
 * check unsure: that one clears nothing, so at worst a needless edge.
 */
static int take_acks(struct virtio_mmio *m)
{
	return m->host.take_acks ? m->host.take_acks(m->host.opaque) : 0;
}

static void raise_locked(struct virtio_mmio *m, uint32_t why)
{
	m->interrupt_status |= why;
	m->unacked_checks = 0;
	/* The driver's handler may read the status without an exit: it must
	 * be in the window before the edge. */
	publish_reg_locked(m, VIRTIO_MMIO_INTERRUPT_STATUS);
	if (take_acks(m) < 0)
		m->acks_unsure = true;
	m->host.irq(m->host.opaque);
}

/* Apply the ACKs that came without an exit since the last raise. */
static void settle_acks_locked(struct virtio_mmio *m)
{
	int acked = take_acks(m);

	if (acked > 0 && !m->acks_unsure)
		m->interrupt_status &= ~VIRTIO_MMIO_INT_VRING;
	if (acked >= 0)
		m->acks_unsure = false;
}

void virtio_mmio_check_irq(struct virtio_mmio *m)
{
	settle_acks_locked(m);
	if (!m->interrupt_status || !(m->status & VIRTIO_STATUS_DRIVER_OK)) {
		m->unacked_checks = 0;
		return;
	}
	if (++m->unacked_checks < 2)
		return;
	log_debug_rl(&m->rl, "%s: interrupt 0x%x not acknowledged: sent again",
		     m->cfg.name, m->interrupt_status);
	m->irqs_resent++;
	raise_locked(m, 0);
}

/* Only a driver that got as far as DRIVER_OK expects to hear of config. */
static void raise_config_locked(struct virtio_mmio *m)
{
	if (!(m->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	m->irqs_config++;
	raise_locked(m, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_set_needs_reset(struct virtio_mmio *m)
{
	if (m->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	log_warn_rl(&m->rl, "%s: device needs reset", m->cfg.name);
	m->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	publish_reg_locked(m, VIRTIO_MMIO_STATUS);
	raise_config_locked(m);
}

void virtio_mmio_config_changed(struct virtio_mmio *m)
{
	m->config_generation++;
	publish_config_locked(m);
	raise_config_locked(m);
}

struct vq *virtio_mmio_queue(struct virtio_mmio *m, unsigned int q)
{
	if (q >= m->cfg.nr_queues || !m->queues[q].vq.ready ||
	    (m->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		return NULL;
	return &m->queues[q].vq;
}

/* Does queue `q` want an interrupt for what was pushed? Counted. */
static bool wants_irq(struct virtio_mmio *m, unsigned int q)
{
	struct vq *vq = virtio_mmio_queue(m, q);

	if (!vq)
		return false;
	if (!vq_should_notify(vq)) {
		m->qstats[q].irqs_suppressed++;
		return false;
	}
	m->qstats[q].irqs++;
	return true;
}

void virtio_mmio_signal_used(struct virtio_mmio *m, unsigned int q)
{
	if (wants_irq(m, q))
		raise_locked(m, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_signal_used_mask(struct virtio_mmio *m, uint32_t mask)
{
	bool raise = false;

	while (mask) {
		unsigned int q = (unsigned int)__builtin_ctz(mask);

		mask &= mask - 1;
		/* Every queue's decision: it also records what was signalled
		 * (EVENT_IDX), so no short-cut. */
		raise |= wants_irq(m, q);
	}
	if (raise)
		raise_locked(m, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_requeue(struct virtio_mmio *m, unsigned int q)
{
	if (m->host.requeue)
		m->host.requeue(m->host.opaque, q);
}

/* Deliver a notification; the lock is held. */
static void notify_locked(struct virtio_mmio *m, unsigned int q)
{
	if (q >= m->cfg.nr_queues) {
		log_debug_rl(&m->rl, "%s: notify for bad queue %u",
			     m->cfg.name, q);
		return;
	}
	if (!(m->status & VIRTIO_STATUS_DRIVER_OK) ||
	    !virtio_mmio_queue(m, q))
		return;
	m->qstats[q].notifies++;
	m->cfg.ops->queue_notify(m->cfg.dev, q);
}

void virtio_mmio_dump(struct virtio_mmio *m, FILE *f)
{
	unsigned int q;

	pthread_mutex_lock(&m->lock);
	/*
	 * Lines are written in pieces: hold the stream, or another thread's
	 * line (a vCPU's dump) lands in the middle. After the transport lock,
	 * in the order a log call made under that lock takes them.
	 */
	settle_acks_locked(m); /* the status the driver has left */
	flockfile(f);
	fprintf(f, "dump: %s irq %u status 0x%x interrupt_status 0x%x "
		"features 0x%llx config_irqs %llu irqs_resent %llu\n",
		m->cfg.name, m->host.line, m->status, m->interrupt_status,
		(unsigned long long)m->driver_features,
		(unsigned long long)m->irqs_config,
		(unsigned long long)m->irqs_resent);
	for (q = 0; q < m->cfg.nr_queues; q++) {
		const struct vq *vq = &m->queues[q].vq;
		const struct virtio_mmio_qstats *s = &m->qstats[q];
		struct vq_view v;

		fprintf(f, "dump: %s q%u ready %d broken %d size %u "
			"last_avail %u used_idx %u signalled_used %u%s "
			"notifies %llu irqs %llu suppressed %llu",
			m->cfg.name, q, vq->ready, vq->broken, vq->size,
			vq->last_avail, vq->used_idx, vq->signalled_used,
			vq->signalled_used_valid ? "" : " (invalid)",
			(unsigned long long)s->notifies,
			(unsigned long long)s->irqs,
			(unsigned long long)s->irqs_suppressed);
		if (!vq_view(vq, &v))
			fprintf(f, " | guest: avail_idx %u avail_flags 0x%x "
				"used_event %u | used_idx %u used_flags 0x%x "
				"avail_event %u", v.avail_idx, v.avail_flags,
				v.used_event, v.used_idx, v.used_flags,
				v.avail_event);
		fputc('\n', f);
	}
	if (m->cfg.ops->dump)
		m->cfg.ops->dump(m->cfg.dev, f);
	funlockfile(f);
	pthread_mutex_unlock(&m->lock);
}

void virtio_mmio_notify(struct virtio_mmio *m, unsigned int q)
{
	pthread_mutex_lock(&m->lock);
	notify_locked(m, q);
	pthread_mutex_unlock(&m->lock);
}

static void queue_ready_locked(struct virtio_mmio *m,
			       struct virtio_mmio_queue *mq, uint32_t v)
{
	struct vq *vq = &mq->vq;

	if (!v) {
		vq->ready = false;
		return;
	}
	if (vq->ready)
		return;
	vq->mem = m->mem;
	vq->size = (uint16_t)mq->num;
	vq->desc_gpa = (uint64_t)mq->desc_hi << 32 | mq->desc_lo;
	vq->avail_gpa = (uint64_t)mq->driver_hi << 32 | mq->driver_lo;
	vq->used_gpa = (uint64_t)mq->device_hi << 32 | mq->device_lo;
	vq->event_idx = virtio_mmio_has_feature(m, VIRTIO_F_EVENT_IDX);
	vq->indirect = virtio_mmio_has_feature(m, VIRTIO_F_INDIRECT_DESC);
	if (mq->num == 0 || mq->num > m->cfg.queue_max || vq_init(vq)) {
		log_warn_rl(&m->rl, "%s: queue %u set up with bad size %u "
			    "or addresses", m->cfg.name, m->queue_sel,
			    mq->num);
		vq->ready = false;
		virtio_mmio_set_needs_reset(m);
	}
}

static void status_write_locked(struct virtio_mmio *m, uint32_t v)
{
	uint32_t old = m->status;

	if (v == 0) {
		reset_locked(m);
		return;
	}
	/* The driver only ever adds bits (VIRTIO 1.2, 3.1.1). */
	if ((v & old) != (old & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		log_debug_rl(&m->rl, "%s: status %#x -> %#x clears bits, "
			     "ignored", m->cfg.name, old, v);
		return;
	}
	v &= ~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	v |= old & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if ((v & VIRTIO_STATUS_FEATURES_OK) &&
	    !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Refuse features we did not offer, or a legacy driver. */
		if ((m->driver_features & ~m->device_features) ||
		    !virtio_mmio_has_feature(m, VIRTIO_F_VERSION_1))
			v &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			v &= ~VIRTIO_STATUS_DRIVER_OK;
		} else {
			m->status = v;
			if (m->cfg.ops->activate &&
			    m->cfg.ops->activate(m->cfg.dev))
				virtio_mmio_set_needs_reset(m);
			return;
		}
	}
	m->status = v;
}

static uint32_t reg_read_locked(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_mmio_queue *mq = selected(m);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION_REG:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return m->cfg.device_id;
	case VIRTIO_MMIO_VENDOR:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (m->device_features_sel > 1)
			return 0;
		return (uint32_t)(m->device_features >>
				  (32 * m->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return mq ? m->cfg.queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return mq ? mq->vq.ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return m->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return m->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return m->config_generation;
	default:
		return 0; /* write-only or reserved */
	}
}

/* Queue layout registers may change only while the queue is not ready. */
static uint32_t *queue_reg(struct virtio_mmio_queue *mq, uint64_t off)
{
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		return &mq->num;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return &mq->desc_lo;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return &mq->desc_hi;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
		return &mq->driver_lo;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		return &mq->driver_hi;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
		return &mq->device_lo;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		return &mq->device_hi;
	default:
		return NULL;
	}
}

static void reg_write_locked(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtio_mmio_queue *mq = selected(m);
	uint32_t *reg;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = v;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Features are fixed once FEATURES_OK is set. */
		if ((m->status & VIRTIO_STATUS_FEATURES_OK) ||
		    m->driver_features_sel > 1)
			return;
		if (m->driver_features_sel)
			m->driver_features = (m->driver_features & 0xffffffffu) |
					     (uint64_t)v << 32;
		else
			m->driver_features =
				(m->driver_features & ~0xffffffffull) | v;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		/*
		 * Queues are set up between FEATURES_OK and DRIVER_OK. Later
		 * changes would re-point a live ring under chains the device
		 * still holds (there is no VIRTIO_F_RING_RESET here).
		 */
		if (mq && (m->status & VIRTIO_STATUS_FEATURES_OK) &&
		    !(m->status & VIRTIO_STATUS_DRIVER_OK))
			queue_ready_locked(m, mq, v);
		else
			log_debug_rl(&m->rl, "%s: QueueReady write outside "
				     "queue setup ignored", m->cfg.name);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Reached only without an ioeventfd for this value. */
		notify_locked(m, v);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		m->interrupt_status &= ~v;
		m->unacked_checks = 0;
		return;
	case VIRTIO_MMIO_STATUS:
		status_write_locked(m, v);
		return;
	default:
		break;
	}
	reg = mq ? queue_reg(mq, off) : NULL;
	if (reg && !mq->vq.ready)
		*reg = v;
	else
		log_debug_rl(&m->rl, "%s: write %#x to register %#llx "
			     "ignored", m->cfg.name, v,
			     (unsigned long long)off);
}

/* Rewrite one register's word of the window from the register file. */
static void publish_reg_locked(struct virtio_mmio *m, uint32_t off)
{
	uint32_t v;

	put_le32(&v, reg_read_locked(m, off));
	__atomic_store_n(&m->window[off / 4], v, __ATOMIC_RELEASE);
}

/* ...and every register's (a write may change several: a selector, a
 * reset). */
static void publish_locked(struct virtio_mmio *m)
{
	uint32_t off;

	for (off = 0; off < VIRTIO_MMIO_CONFIG; off += 4)
		publish_reg_locked(m, off);
}

/* ...and its config space as well (it changes far less often), read the
 * way a driver's aligned 32-bit reads would. */
static void publish_config_locked(struct virtio_mmio *m)
{
	uint32_t off, v;

	for (off = VIRTIO_MMIO_CONFIG; off < VIRTIO_MMIO_SIZE; off += 4) {
		v = 0;
		if (m->cfg.ops->cfg_read)
			m->cfg.ops->cfg_read(m->cfg.dev,
					     off - VIRTIO_MMIO_CONFIG, &v, 4);
		__atomic_store_n(&m->window[off / 4], v, __ATOMIC_RELEASE);
	}
	publish_locked(m);
}

static void mmio_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct virtio_mmio *m = opaque;
	uint32_t v;

	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (m->cfg.ops->cfg_read)
			m->cfg.ops->cfg_read(m->cfg.dev,
					     off - VIRTIO_MMIO_CONFIG, data,
					     len);
	} else if (len == 4 && !(off & 3)) {
		v = reg_read_locked(m, off);
		memcpy(data, &v, 4);
	} else {
		log_debug_rl(&m->rl, "%s: %u-byte read at %#llx ignored",
			     m->cfg.name, len, (unsigned long long)off);
	}
	pthread_mutex_unlock(&m->lock);
}

static void mmio_write(void *opaque, uint64_t off, const void *data,
		       unsigned int len)
{
	struct virtio_mmio *m = opaque;
	uint32_t v;

	pthread_mutex_lock(&m->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (m->cfg.ops->cfg_write) {
			m->cfg.ops->cfg_write(m->cfg.dev,
					      off - VIRTIO_MMIO_CONFIG, data,
					      len);
			publish_config_locked(m);
		}
	} else if (len == 4 && !(off & 3)) {
		memcpy(&v, data, 4);
		reg_write_locked(m, off, v);
		publish_locked(m);
	} else {
		log_debug_rl(&m->rl, "%s: %u-byte write at %#llx ignored",
			     m->cfg.name, len, (unsigned long long)off);
	}
	pthread_mutex_unlock(&m->lock);
}

const struct bus_ops virtio_mmio_bus_ops = {
	.read = mmio_read,
	.write = mmio_write,
};
