/* mmio_driver: see mmio_driver.h. */
#include "tests/helpers/mmio_driver.h"

#include <stdio.h>
#include <stdlib.h>

uint32_t mmio_driver_read(struct virtio_mmio *m, uint64_t off)
{
	const uint32_t *window = virtio_mmio_window(m);
	uint32_t v = 0xdeadbeef, w;

	virtio_mmio_bus_ops.read(m, off, &v, 4);
	if (off < VIRTIO_MMIO_SIZE && !(off & 3)) {
		/* What a guest reads without an exit must be the same. */
		w = __atomic_load_n(&window[off / 4], __ATOMIC_ACQUIRE);
		if (w != v) {
			fprintf(stderr, "mmio_driver: register %#llx reads "
				"%#x, its window %#x\n",
				(unsigned long long)off, v, w);
			abort();
		}
	}
	return v;
}

void mmio_driver_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(m, off, &v, 4);
}

uint32_t mmio_driver_negotiate(struct virtio_mmio *m, uint64_t features)
{
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE;

	mmio_driver_write(m, VIRTIO_MMIO_STATUS, st);
	st |= VIRTIO_STATUS_DRIVER;
	mmio_driver_write(m, VIRTIO_MMIO_STATUS, st);
	mmio_driver_write(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_driver_write(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	mmio_driver_write(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_driver_write(m, VIRTIO_MMIO_DRIVER_FEATURES,
			  (uint32_t)(features >> 32));
	mmio_driver_write(m, VIRTIO_MMIO_STATUS,
			  st | VIRTIO_STATUS_FEATURES_OK);
	return mmio_driver_read(m, VIRTIO_MMIO_STATUS);
}

void mmio_driver_setup_queue(struct virtio_mmio *m, unsigned int q,
			     const struct vq_driver *drv)
{
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_SEL, q);
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_NUM, drv->size);
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_DESC_LOW,
			  (uint32_t)drv->desc_gpa);
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_DESC_HIGH,
			  (uint32_t)(drv->desc_gpa >> 32));
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_DRIVER_LOW,
			  (uint32_t)drv->avail_gpa);
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
			  (uint32_t)(drv->avail_gpa >> 32));
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_DEVICE_LOW,
			  (uint32_t)drv->used_gpa);
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
			  (uint32_t)(drv->used_gpa >> 32));
	mmio_driver_write(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

uint32_t mmio_driver_ok(struct virtio_mmio *m)
{
	uint32_t st = mmio_driver_read(m, VIRTIO_MMIO_STATUS);

	mmio_driver_write(m, VIRTIO_MMIO_STATUS,
			  st | VIRTIO_STATUS_DRIVER_OK);
	return mmio_driver_read(m, VIRTIO_MMIO_STATUS);
}
