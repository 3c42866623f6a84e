/* machine: the device table (see machine.h). */
#include "machine.h"

const struct machine_dev machine_devs[MACHINE_NR_DEVS] = {
	[MACHINE_DEV_SERIAL0] = {
		.name = "serial0 (8250)", .bus = MACHINE_BUS_PIO,
		.base = 0x3f8, .size = 8, .irq = 4,
	},
	[MACHINE_DEV_I8042_DATA] = {
		.name = "i8042 data", .bus = MACHINE_BUS_PIO,
		.base = 0x60, .size = 1, .irq = -1,
	},
	[MACHINE_DEV_I8042_CMD] = {
		.name = "i8042 command", .bus = MACHINE_BUS_PIO,
		.base = 0x64, .size = 1, .irq = -1,
	},
	[MACHINE_DEV_DEBUG_EXIT] = {
		.name = "debug-exit", .bus = MACHINE_BUS_PIO,
		.base = 0x501, .size = 1, .irq = -1,
	},
};
