/*
 * machine: the one description of the x86 machine the VMM builds.
 *
 * The physical memory map and every device with its bus range and IRQ live
 * here, in one table. Boot code (e820, MP table, kernel command line) and
 * device setup read it; nothing else hard-codes an address or an IRQ.
 */
#ifndef VMM_MACHINE_H
#define VMM_MACHINE_H

#include <stddef.h>
#include <stdint.h>

/* Guest-physical memory map. */
#define MACHINE_LOW_RAM_LIMIT 0xC0000000ull /* RAM below; MMIO hole above */
#define MACHINE_HIGH_RAM_BASE 0x100000000ull
#define MACHINE_IOAPIC_BASE 0xFEC00000u
#define MACHINE_LAPIC_BASE 0xFEE00000u
#define MACHINE_IDENTITY_MAP_ADDR 0xFFFBC000ull /* 1 page, used by KVM */
#define MACHINE_TSS_ADDR 0xFFFBD000ull /* 3 pages, used by KVM */

/* Low memory used while booting (all below 1 MiB). */
#define MACHINE_GDT_ADDR 0x500ull
#define MACHINE_ZERO_PAGE_ADDR 0x7000ull
#define MACHINE_PML4_ADDR 0x9000ull
#define MACHINE_PDPT_ADDR 0xA000ull
#define MACHINE_PD_ADDR 0xB000ull /* four pages: 4 GiB of 2 MiB pages */
#define MACHINE_CMDLINE_ADDR 0x20000ull
#define MACHINE_CMDLINE_MAX 0x10000u
#define MACHINE_EBDA_START 0x9FC00ull /* reserved from here to 1 MiB */
#define MACHINE_ACPI_ADDR 0xE0000ull /* RSDP first: in the BIOS area too */
#define MACHINE_ACPI_MAX 0x10000u
#define MACHINE_MPTABLE_ADDR 0xF0000ull /* inside the BIOS area Linux scans */
#define MACHINE_MPTABLE_MAX 0x10000u
#define MACHINE_KERNEL_ADDR 0x100000ull /* bzImage protected-mode code */

#define MACHINE_MIN_RAM_MIB 32ull
#define MACHINE_MAX_CPUS 64u

/* virtio-mmio devices, one 4 KiB window each, in the hole below 4 GiB. */
#define MACHINE_VIRTIO_BASE 0xD0000000ull

/* ISA IRQs 0..15 are routed 1:1 to IOAPIC pins 0..15. */
#define MACHINE_NR_ISA_IRQS 16u

enum machine_bus {
	MACHINE_BUS_PIO,
	MACHINE_BUS_MMIO,
};

enum machine_dev_id {
	MACHINE_DEV_PIT,
	MACHINE_DEV_SERIAL0,
	MACHINE_DEV_I8042_DATA,
	MACHINE_DEV_I8042_CMD,
	MACHINE_DEV_DEBUG_EXIT,
	MACHINE_DEV_ACPI_SLEEP,
	MACHINE_DEV_VIRTIO_RNG,
	MACHINE_DEV_VIRTIO_VSOCK,
	MACHINE_NR_DEVS,
};

enum machine_dev_kind {
	MACHINE_KIND_IN_KERNEL, /* emulated by KVM, always present */
	MACHINE_KIND_LEGACY, /* ours, always present */
	MACHINE_KIND_VIRTIO_MMIO, /* present when configured */
};

struct machine_dev {
	const char *name;
	enum machine_dev_kind kind;
	enum machine_bus bus;
	uint64_t base;
	uint64_t size;
	int irq; /* ISA IRQ / IOAPIC pin, -1: none */
};

extern const struct machine_dev machine_devs[MACHINE_NR_DEVS];

/* Which devices a VM has: bit (1 << enum machine_dev_id). */
typedef uint32_t machine_devset;

static inline int machine_has(machine_devset set, enum machine_dev_id id)
{
	return (set >> id) & 1;
}

/*
 * The kernel command line entries that tell Linux about the present
 * virtio-mmio devices ("virtio_mmio.device=4K@0xd0000000:5 ..."), each
 * preceded by a space. Returns the length, or -ENOSPC.
 */
int machine_virtio_cmdline(machine_devset set, char *buf, size_t size);

/*
 * The IRQ lines of the present devices, ascending, for the MP table's
 * interrupt entries. Returns how many (at most `max`).
 */
unsigned int machine_irqs(machine_devset set, uint8_t *irqs,
			  unsigned int max);

#endif
