/* machine: the device table (see machine.h) and what is rendered from it. */
#include "vmm/machine.h"

#include <errno.h>
#include <stdio.h>

const struct machine_dev machine_devs[MACHINE_NR_DEVS] = {
	[MACHINE_DEV_PIT] = {
		.name = "i8254 PIT (KVM)",
		.kind = MACHINE_KIND_IN_KERNEL, .bus = MACHINE_BUS_PIO,
		.base = 0x40, .size = 4, .irq = 0,
	},
	[MACHINE_DEV_SERIAL0] = {
		.name = "serial0 (8250)",
		.kind = MACHINE_KIND_LEGACY, .bus = MACHINE_BUS_PIO,
		.base = 0x3f8, .size = 8, .irq = 4,
	},
	[MACHINE_DEV_I8042_DATA] = {
		.name = "i8042 data",
		.kind = MACHINE_KIND_LEGACY, .bus = MACHINE_BUS_PIO,
		.base = 0x60, .size = 1, .irq = -1,
	},
	[MACHINE_DEV_I8042_CMD] = {
		.name = "i8042 command",
		.kind = MACHINE_KIND_LEGACY, .bus = MACHINE_BUS_PIO,
		.base = 0x64, .size = 1, .irq = -1,
	},
	[MACHINE_DEV_DEBUG_EXIT] = {
		.name = "debug-exit",
		.kind = MACHINE_KIND_LEGACY, .bus = MACHINE_BUS_PIO,
		.base = 0x501, .size = 1, .irq = -1,
	},
	/* The FADT's sleep control (+0) and status (+1) registers. */
	[MACHINE_DEV_ACPI_SLEEP] = {
		.name = "ACPI sleep registers",
		.kind = MACHINE_KIND_LEGACY, .bus = MACHINE_BUS_PIO,
		.base = 0x600, .size = 2, .irq = -1,
	},
	/* Free ISA IRQs (edge, active high), so Linux needs no ACPI. */
	[MACHINE_DEV_VIRTIO_RNG] = {
		.name = "virtio-rng", .kind = MACHINE_KIND_VIRTIO_MMIO,
		.bus = MACHINE_BUS_MMIO, .base = MACHINE_VIRTIO_BASE,
		.size = 0x1000, .irq = 5,
	},
	[MACHINE_DEV_VIRTIO_VSOCK] = {
		.name = "virtio-vsock", .kind = MACHINE_KIND_VIRTIO_MMIO,
		.bus = MACHINE_BUS_MMIO, .base = MACHINE_VIRTIO_BASE + 0x1000,
		.size = 0x1000, .irq = 6,
	},
};

int machine_virtio_cmdline(machine_devset set, char *buf, size_t size)
{
	size_t len = 0;
	unsigned int i;

	if (size)
		buf[0] = 0;
	for (i = 0; i < MACHINE_NR_DEVS; i++) {
		const struct machine_dev *d = &machine_devs[i];
		int n;

		if (d->kind != MACHINE_KIND_VIRTIO_MMIO || !machine_has(set, i))
			continue;
		n = snprintf(buf + len, size - len,
			     " virtio_mmio.device=%lluK@%#llx:%d",
			     (unsigned long long)(d->size >> 10),
			     (unsigned long long)d->base, d->irq);
		if (n < 0 || (size_t)n >= size - len)
			return -ENOSPC;
		len += (size_t)n;
	}
	return (int)len;
}

unsigned int machine_irqs(machine_devset set, uint8_t *irqs, unsigned int max)
{
	unsigned int n = 0;
	int irq;

	/* Ascending by IRQ, each once; the table is small. */
	for (irq = 0; irq < (int)MACHINE_NR_ISA_IRQS && n < max; irq++) {
		unsigned int i;

		for (i = 0; i < MACHINE_NR_DEVS; i++) {
			if (machine_devs[i].irq == irq && machine_has(set, i)) {
				irqs[n++] = (uint8_t)irq;
				break;
			}
		}
	}
	return n;
}
