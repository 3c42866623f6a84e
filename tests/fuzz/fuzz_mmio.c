/*
 * fuzz_mmio: sequences of virtio-mmio register accesses from a hostile
 * driver, against the real transport with the virtio-rng device behind it
 * (deterministic entropy, no syscalls, no threads, no clock).
 *
 * Input: the first 4 KiB (or less) seeds guest RAM (64 KiB, repeated);
 * then records of 8 bytes: op (low 2 bits: read, write, host notify,
 * driver-style queue setup), width (1, 2, 4, 8), le16 offset, le32 value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/rng.h"
#include "virtio/mmio.h"
#include "vmm/guestmem.h"
#include "vmm/log.h"
#include "vmm/util.h"

#define RAM_SIZE 0x10000u
#define MAX_OPS 4096u

static unsigned int irqs;

static ssize_t fake_source(void *buf, size_t len)
{
	memset(buf, 0x5a, len);
	return (ssize_t)len;
}

static void host_irq(void *opaque)
{
	(void)opaque;
	irqs++;
}

static void host_requeue(void *opaque, unsigned int q)
{
	(void)opaque;
	(void)q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int widths[4] = { 1, 2, 4, 8 };
	struct virtio_mmio_host host = { .irq = host_irq,
					 .requeue = host_requeue };
	struct rng rng = { .source = fake_source };
	struct virtio_mmio_config cfg = rng_mmio_config(&rng);
	struct guestmem gm = { 0 };
	struct virtio_mmio *m;
	size_t seed = size < 4096 ? size : 4096, i, ops = 0;
	uint8_t *ram;

	log_set_level(LOG_ERR);
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	/* RAM is the input's first bytes over and over, copied in doubling
	 * blocks: a byte loop here, instrumented, took most of each run. */
	if (seed) {
		memcpy(ram, data, seed);
		for (i = seed; i < RAM_SIZE; i += MIN(i, RAM_SIZE - i))
			memcpy(ram + i, ram, MIN(i, RAM_SIZE - i));
	}
	guestmem_add_region(&gm, 0, RAM_SIZE, ram);
	if (virtio_mmio_create(&m, &cfg, &gm, &host)) {
		free(ram);
		return 0;
	}
	rng.mmio = m;
	data += seed;
	size -= seed;
	for (; size >= 8 && ops < MAX_OPS; data += 8, size -= 8, ops++) {
		unsigned int op = data[0] & 3, width = widths[data[1] & 3];
		uint64_t off = (uint64_t)(data[2] | data[3] << 8) & 0x1ff;
		uint64_t v = (uint64_t)data[4] | (uint64_t)data[5] << 8 |
			     (uint64_t)data[6] << 16 | (uint64_t)data[7] << 24;

		switch (op) {
		case 0:
			virtio_mmio_bus_ops.read(m, off, &v, width);
			/* The guest reads the window instead: the same. */
			if (width == 4 && !(off & 3) &&
			    ((const uint32_t *)virtio_mmio_window(m))[off / 4] !=
				    (uint32_t)v)
				abort();
			break;
		case 1:
			virtio_mmio_bus_ops.write(m, off, &v, width);
			break;
		case 2:
			virtio_mmio_notify(m, (unsigned int)v & 7);
			break;
		default: {
			/* A whole, plausible queue setup, so the fuzzer
			 * reaches the rings quickly. */
			uint32_t regs[][2] = {
				{ VIRTIO_MMIO_STATUS, 3 },
				{ VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1 },
				{ VIRTIO_MMIO_DRIVER_FEATURES, 1 },
				{ VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0 },
				{ VIRTIO_MMIO_DRIVER_FEATURES,
				  (uint32_t)v & (3u << 28) },
				{ VIRTIO_MMIO_STATUS, 11 },
				{ VIRTIO_MMIO_QUEUE_SEL, 0 },
				{ VIRTIO_MMIO_QUEUE_NUM, 1u << (data[1] % 9) },
				{ VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000 },
				{ VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x2000 },
				{ VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x3000 },
				{ VIRTIO_MMIO_QUEUE_READY, 1 },
				{ VIRTIO_MMIO_STATUS, 15 },
			};
			size_t r;

			for (r = 0; r < sizeof(regs) / sizeof(regs[0]); r++)
				virtio_mmio_bus_ops.write(m, regs[r][0],
							  &regs[r][1], 4);
			break;
		}
		}
	}
	virtio_mmio_destroy(m);
	free(ram);
	return 0;
}
