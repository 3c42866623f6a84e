/*
 * fdt_machine: device tree rendering. Layout:
 *   / (#address-cells = 2, #size-cells = 2, interrupt-parent = ioapic)
 *   /chosen            bootargs, stdout-path
 *   /memory@0          one reg pair per RAM region
 *   /cpus/cpu@N        one per vCPU, reg = APIC id
 *   /interrupt-controller@fec00000   the IOAPIC, 2 interrupt cells
 *                      (pin, Linux trigger type)
 *   /serial@3f8        the console UART (I/O port space)
 *   /virtio_mmio@<base> per present virtio device
 */
#include "vmm/fdt_machine.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#define PHANDLE_IOAPIC 1
#define IRQ_TYPE_EDGE_RISING 1

static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_irq(void *fdt, int irq)
{
	fdt32_t cells[2] = { cpu_to_fdt32((uint32_t)irq),
			     cpu_to_fdt32(IRQ_TYPE_EDGE_RISING) };

	return fdt_property(fdt, "interrupts", cells, sizeof(cells));
}

static int render_memory(void *fdt, const struct guestmem *mem)
{
	fdt64_t reg[2 * GUESTMEM_MAX_REGIONS];
	unsigned int i;
	int err = 0;

	for (i = 0; i < mem->nr_regions; i++) {
		reg[2 * i] = cpu_to_fdt64(mem->regions[i].gpa);
		reg[2 * i + 1] = cpu_to_fdt64(mem->regions[i].size);
	}
	err |= fdt_begin_node(fdt, "memory@0");
	err |= fdt_property_string(fdt, "device_type", "memory");
	err |= fdt_property(fdt, "reg", reg, (int)(2 * i * sizeof(reg[0])));
	err |= fdt_end_node(fdt);
	return err;
}

static int render_cpus(void *fdt, unsigned int nr_cpus)
{
	char name[32];
	unsigned int i;
	int err = 0;

	err |= fdt_begin_node(fdt, "cpus");
	err |= fdt_property_u32(fdt, "#address-cells", 1);
	err |= fdt_property_u32(fdt, "#size-cells", 0);
	for (i = 0; i < nr_cpus; i++) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		err |= fdt_begin_node(fdt, name);
		err |= fdt_property_string(fdt, "device_type", "cpu");
		err |= fdt_property_string(fdt, "compatible", "intel,x86");
		err |= fdt_property_u32(fdt, "reg", i);
		err |= fdt_end_node(fdt);
	}
	err |= fdt_end_node(fdt);
	return err;
}

static int render_devices(void *fdt, machine_devset devs)
{
	const struct machine_dev *serial = &machine_devs[MACHINE_DEV_SERIAL0];
	char name[64];
	unsigned int i;
	int err = 0;

	snprintf(name, sizeof(name), "interrupt-controller@%x",
		 MACHINE_IOAPIC_BASE);
	err |= fdt_begin_node(fdt, name);
	err |= fdt_property_string(fdt, "compatible", "intel,ce4100-ioapic");
	err |= prop_reg(fdt, MACHINE_IOAPIC_BASE, 0x1000);
	err |= fdt_property(fdt, "interrupt-controller", NULL, 0);
	err |= fdt_property_u32(fdt, "#interrupt-cells", 2);
	err |= fdt_property_u32(fdt, "#address-cells", 0);
	err |= fdt_property_u32(fdt, "phandle", PHANDLE_IOAPIC);
	err |= fdt_end_node(fdt);

	snprintf(name, sizeof(name), "serial@%llx",
		 (unsigned long long)serial->base);
	err |= fdt_begin_node(fdt, name);
	err |= fdt_property_string(fdt, "compatible", "ns16550a");
	err |= prop_reg(fdt, serial->base, serial->size);
	err |= fdt_property_string(fdt, "device_type", "serial");
	err |= fdt_property(fdt, "vmm,io-port-space", NULL, 0);
	err |= fdt_property_u32(fdt, "clock-frequency", 1843200);
	err |= prop_irq(fdt, serial->irq);
	err |= fdt_end_node(fdt);

	for (i = 0; i < MACHINE_NR_DEVS; i++) {
		const struct machine_dev *d = &machine_devs[i];

		if (d->kind != MACHINE_KIND_VIRTIO_MMIO ||
		    !machine_has(devs, i))
			continue;
		snprintf(name, sizeof(name), "virtio_mmio@%llx",
			 (unsigned long long)d->base);
		err |= fdt_begin_node(fdt, name);
		err |= fdt_property_string(fdt, "compatible", "virtio,mmio");
		err |= prop_reg(fdt, d->base, d->size);
		err |= prop_irq(fdt, d->irq);
		err |= fdt_property(fdt, "dma-coherent", NULL, 0);
		err |= fdt_end_node(fdt);
	}
	return err;
}

int fdt_render(const struct fdt_machine *m, void *buf, size_t size)
{
	const struct machine_dev *serial = &machine_devs[MACHINE_DEV_SERIAL0];
	char path[32];
	int err = 0;

	if (size > INT32_MAX)
		size = INT32_MAX;
	err |= fdt_create(buf, (int)size);
	err |= fdt_finish_reservemap(buf);
	err |= fdt_begin_node(buf, "");
	err |= fdt_property_string(buf, "compatible", "vmm,x86-64");
	err |= fdt_property_string(buf, "model", "vmm x86-64 virtio-mmio");
	err |= fdt_property_u32(buf, "#address-cells", 2);
	err |= fdt_property_u32(buf, "#size-cells", 2);
	err |= fdt_property_u32(buf, "interrupt-parent", PHANDLE_IOAPIC);

	snprintf(path, sizeof(path), "/serial@%llx",
		 (unsigned long long)serial->base);
	err |= fdt_begin_node(buf, "chosen");
	err |= fdt_property_string(buf, "bootargs",
				   m->bootargs ? m->bootargs : "");
	err |= fdt_property_string(buf, "stdout-path", path);
	err |= fdt_end_node(buf);

	err |= render_memory(buf, m->mem);
	err |= render_cpus(buf, m->nr_cpus);
	err |= render_devices(buf, m->devs);
	err |= fdt_end_node(buf);
	err |= fdt_finish(buf);
	if (err)
		return -ENOSPC;
	return (int)fdt_totalsize(buf);
}
