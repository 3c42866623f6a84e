/*
 * acpi: the machine's ACPI tables, rendered from the machine table beside
 * the MP table: RSDP (revision 2), XSDT, a hardware-reduced FADT (revision
 * 6) with sleep control/status registers and a reset register, a MADT
 * with a local APIC per vCPU and the IOAPIC, and a DSDT with COM1
 * (PNP0501, IRQ 4), one LNRO0005 device per present virtio-mmio device
 * and \_S5. Linux finds the RSDP through boot_params.acpi_rsdp_addr or by
 * scanning the BIOS area, where it sits.
 */
#ifndef VMM_ACPI_H
#define VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/machine.h"

/* What the guest writes to the sleep control register to power off:
 * SLP_TYP 5 (our \_S5) and SLP_EN. */
#define ACPI_SLEEP_S5 ((5u << 2) | 0x20u)
/* What it writes to the reset register (the i8042's command port). */
#define ACPI_RESET_VALUE 0xFEu

enum acpi_table {
	ACPI_RSDP,
	ACPI_XSDT,
	ACPI_FADT,
	ACPI_MADT,
	ACPI_DSDT,
	ACPI_NR_TABLES,
};

struct acpi_layout {
	uint32_t off[ACPI_NR_TABLES]; /* from the start of the buffer */
	uint32_t len[ACPI_NR_TABLES];
};

/*
 * Render the tables into `buf` (`size` bytes), which the guest sees at
 * `gpa` (16-byte aligned; the RSDP comes first), for `nr_cpus` vCPUs and
 * the devices in `devs`. Returns the bytes used, or -ENOSPC; `out`, if not
 * NULL, gets where each table is.
 */
int acpi_build(uint8_t *buf, size_t size, uint64_t gpa, unsigned int nr_cpus,
	       machine_devset devs, struct acpi_layout *out);

#endif
