/*
 * i8042: just enough of the PC keyboard controller for a guest to reset
 * the machine (`reboot=k`: command 0xFE on port 0x64). No keyboard.
 */
#ifndef DEVICES_I8042_H
#define DEVICES_I8042_H

#include "vmm/bus.h"

struct i8042 {
	void (*reset)(void *opaque);
	void *opaque;
};

/* Register the same device at both ports; the offset is always 0. */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_cmd_ops;

#endif
