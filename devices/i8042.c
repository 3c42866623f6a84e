/*
 * i8042: status reads say "no data, input buffer empty" so a guest's wait
 * loops end at once; the pulse-reset command asks the VM to stop.
 */
#include "devices/i8042.h"


#define I8042_CMD_RESET 0xfe

static void i8042_data_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len;
}

static void i8042_cmd_write(void *opaque, uint64_t off, const void *data,
			    unsigned int len)
{
	struct i8042 *dev = opaque;

	(void)off;
	(void)len;
	if (*(const uint8_t *)data == I8042_CMD_RESET)
		dev->reset(dev->opaque);
}

const struct bus_ops i8042_data_ops = {
	.read = bus_read_zero,
	.write = i8042_data_write,
};

const struct bus_ops i8042_cmd_ops = {
	.read = bus_read_zero,
	.write = i8042_cmd_write,
};
