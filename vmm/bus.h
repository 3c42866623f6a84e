/*
 * bus: maps address ranges (port I/O or MMIO) to device callbacks.
 *
 * The bus does not own devices. Ranges never overlap; registration happens
 * during setup only, so lookups from vCPU threads need no lock.
 */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
	/* `offset` is relative to the range base; len is 1, 2, 4 or 8. */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned int len);
	void (*write)(void *opaque, uint64_t offset, const void *data,
		      unsigned int len);
};

struct bus_range {
	uint64_t base;
	uint64_t size;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name;
	struct bus_range *ranges; /* sorted by base */
	unsigned int nr_ranges;
	unsigned int cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* -EINVAL for an empty or wrapping range, -EEXIST if it overlaps another. */
int bus_register(struct bus *bus, uint64_t base, uint64_t size,
		 const struct bus_ops *ops, void *opaque);

/*
 * Dispatch an access that lies wholly inside one range. Returns -ENOENT when
 * no range covers it; the caller decides what an unclaimed access means.
 */
int bus_access(const struct bus *bus, uint64_t addr, void *data,
	       unsigned int len, bool is_write);

/* A `read` op for devices whose registers read as zero. */
void bus_read_zero(void *opaque, uint64_t off, void *data, unsigned int len);

#endif
