/*
 * acpi_sleep: see acpi_sleep.h. Offset 0 is the control register, 1 the
 * status register.
 */
#include "devices/acpi_sleep.h"

#include <stdint.h>

static void acpi_sleep_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	struct acpi_sleep *dev = opaque;
	uint8_t v = *(const uint8_t *)data;

	(void)len;
	if (off == 0 && (v & ACPI_SLEEP_EN) &&
	    ACPI_SLEEP_TYPE(v) == ACPI_SLEEP_TYPE_S5)
		dev->poweroff(dev->opaque);
}

const struct bus_ops acpi_sleep_ops = {
	.read = bus_read_zero,
	.write = acpi_sleep_write,
};
