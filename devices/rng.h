/*
 * rng: the VIRTIO entropy device (id 4): one request queue whose
 * device-writable buffers are filled from getrandom().
 */
#ifndef DEVICES_RNG_H
#define DEVICES_RNG_H

#include <stddef.h>
#include <sys/types.h>

#include "virtio/mmio.h"
#include "vmm/log.h"

#define VIRTIO_ID_RNG 4

/* Fill buf; returns bytes written or -errno. Injectable for tests. */
typedef ssize_t (*rng_source_fn)(void *buf, size_t len);

struct rng {
	struct virtio_mmio *mmio; /* set by the creator after transport setup */
	rng_source_fn source;
	struct log_ratelimit rl;
};

extern const struct virtio_dev_ops rng_ops;

/* A transport config for an rng device backed by `r`. */
struct virtio_mmio_config rng_mmio_config(struct rng *r);

#endif
