/*
 * debug_exit: a one-byte I/O port for tests. A byte written there ends the
 * VM and becomes the VMM's exit status. Reads return 0.
 */
#ifndef DEVICES_DEBUG_EXIT_H
#define DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "vmm/bus.h"

struct debug_exit {
	void (*exit)(void *opaque, uint8_t code);
	void *opaque;
};

extern const struct bus_ops debug_exit_ops;

#endif
