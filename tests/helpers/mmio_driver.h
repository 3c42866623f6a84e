/*
 * mmio_driver: the register side of a virtio-mmio driver, for tests. Plays
 * the guest's probe sequence against a transport: status handshake,
 * feature negotiation, queue setup from a vq_driver, DRIVER_OK.
 */
#ifndef TESTS_MMIO_DRIVER_H
#define TESTS_MMIO_DRIVER_H

#include <stdint.h>

#include "tests/helpers/vq_driver.h"
#include "virtio/mmio.h"

/* A 32-bit register read; aborts if the read window (see mmio.h) holds
 * anything else there. */
uint32_t mmio_driver_read(struct virtio_mmio *m, uint64_t off);
void mmio_driver_write(struct virtio_mmio *m, uint64_t off, uint32_t v);

/* ACKNOWLEDGE, DRIVER, write `features`, FEATURES_OK. Returns the status. */
uint32_t mmio_driver_negotiate(struct virtio_mmio *m, uint64_t features);
/* Point queue `q` at `drv`'s rings and set it ready. */
void mmio_driver_setup_queue(struct virtio_mmio *m, unsigned int q,
			     const struct vq_driver *drv);
/* Set DRIVER_OK. Returns the status. */
uint32_t mmio_driver_ok(struct virtio_mmio *m);

#endif
