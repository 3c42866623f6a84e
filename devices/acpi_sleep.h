/*
 * acpi_sleep: the hardware-reduced ACPI sleep control and status
 * registers (two one-byte I/O ports, named by the FADT). Writing SLP_EN
 * with sleep type 5 (the DSDT's \_S5) powers the VM off; other sleep
 * states are not offered and are ignored. The status register reads 0
 * (no wake event ever).
 */
#ifndef DEVICES_ACPI_SLEEP_H
#define DEVICES_ACPI_SLEEP_H

#include "vmm/bus.h"

#define ACPI_SLEEP_EN 0x20u
#define ACPI_SLEEP_TYPE(v) (((v) >> 2) & 7u)
#define ACPI_SLEEP_TYPE_S5 5u

struct acpi_sleep {
	void (*poweroff)(void *opaque);
	void *opaque;
};

extern const struct bus_ops acpi_sleep_ops;

#endif
