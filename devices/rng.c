/*
 * rng: request handling for the entropy device. Each chain's writable
 * segments are filled completely; read-only segments are ignored (the
 * spec gives the request queue no driver-to-device data).
 */
#define LOG_TAG "rng"
#include "devices/rng.h"

#include <errno.h>
#include <sys/random.h>

#include "vmm/log.h"
#include "vmm/util.h"

/*
 * Bounds on the work one notification may cause, so a driver posting huge
 * buffers cannot hold the event loop: at most RNG_CHAIN_MAX bytes go into
 * one chain (the spec lets the device fill less than offered), at most
 * RNG_BUDGET bytes per notification; then the queue is requeued.
 */
#define RNG_CHAIN_MAX (64u * 1024)
#define RNG_BUDGET (1024u * 1024)

static ssize_t fill(struct rng *r, uint8_t *p, uint32_t len)
{
	uint32_t done = 0;

	while (done < len) {
		ssize_t n = r->source(p + done, len - done);

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			return n < 0 ? n : -EIO;
		done += (uint32_t)n;
	}
	return done;
}

static void rng_queue_notify(void *dev, unsigned int q)
{
	struct rng *r = dev;
	struct vq *vq = virtio_mmio_queue(r->mmio, q);
	struct vq_chain c;
	unsigned int served = 0;
	uint32_t budget = RNG_BUDGET;
	int ret;

	if (!vq)
		return;
	while ((ret = vq_pop(vq, &c)) == 1) {
		struct vq_seg seg;
		uint32_t written = 0;
		int sret = 0;

		while (written < RNG_CHAIN_MAX &&
		       (sret = vq_chain_next(&c, &seg)) == 1) {
			uint32_t len = MIN(seg.len, RNG_CHAIN_MAX - written);

			if (!seg.writable || !len)
				continue;
			if (fill(r, seg.ptr, len) < 0) {
				log_warn_rl(&r->rl, "entropy source failed");
				break;
			}
			written += len;
		}
		if (sret < 0) {
			log_warn_rl(&r->rl, "malformed chain (%d)", sret);
			written = 0;
		}
		if (vq_push(vq, c.head, written)) {
			virtio_mmio_set_needs_reset(r->mmio);
			return;
		}
		served++;
		budget -= MIN(budget, written);
		if (!budget) {
			virtio_mmio_requeue(r->mmio, q);
			break;
		}
	}
	if (ret < 0) {
		virtio_mmio_set_needs_reset(r->mmio);
		return;
	}
	if (served)
		virtio_mmio_signal_used(r->mmio, q);
	/* Drained: ask for the next notification (see vq.h). */
	if (ret == 0) {
		if (vq_enable_notify(vq))
			virtio_mmio_requeue(r->mmio, q);
	}
}

static ssize_t rng_getrandom(void *buf, size_t len)
{
	ssize_t n = getrandom(buf, len, 0);

	return n < 0 ? -errno : n;
}

const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_queue_notify,
};

struct virtio_mmio_config rng_mmio_config(struct rng *r)
{
	if (!r->source)
		r->source = rng_getrandom;
	return (struct virtio_mmio_config){
		.name = "virtio-rng",
		.device_id = VIRTIO_ID_RNG,
		.device_features = 0,
		.nr_queues = 1,
		.queue_max = 256,
		.ops = &rng_ops,
		.dev = r,
	};
}
