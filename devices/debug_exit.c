/*
 * debug_exit: see debug_exit.h. The port is one byte wide: wider accesses
 * do not fit the bus range and are ignored as unclaimed.
 */
#include "devices/debug_exit.h"


static void debug_exit_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	struct debug_exit *dev = opaque;

	(void)off;
	(void)len;
	dev->exit(dev->opaque, *(const uint8_t *)data);
}

const struct bus_ops debug_exit_ops = {
	.read = bus_read_zero,
	.write = debug_exit_write,
};
