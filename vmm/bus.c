/* bus: sorted range table with binary-search lookup. */
#include "vmm/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr_ranges = bus->cap = 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t size,
		 const struct bus_ops *ops, void *opaque)
{
	unsigned int i, pos;

	if (!size || base + size - 1 < base || !ops)
		return -EINVAL;
	pos = bus->nr_ranges;
	for (i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		/* Inclusive ends so a range touching 2^64 - 1 cannot wrap. */
		if (base <= r->base + r->size - 1 && r->base <= base + size - 1)
			return -EEXIST;
		if (pos == bus->nr_ranges && base < r->base)
			pos = i;
	}
	if (bus->nr_ranges == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 8;
		struct bus_range *n = realloc(bus->ranges, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nr_ranges - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){
		.base = base, .size = size, .ops = ops, .opaque = opaque,
	};
	bus->nr_ranges++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int bus_access(const struct bus *bus, uint64_t addr, void *data,
	       unsigned int len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	uint64_t off;

	if (!r || !len)
		return -ENOENT;
	off = addr - r->base;
	if (len > r->size - off)
		return -ENOENT;
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, off, data, len);
	} else {
		if (r->ops->read)
			r->ops->read(r->opaque, off, data, len);
		else
			memset(data, 0xff, len);
	}
	return 0;
}

void bus_read_zero(void *opaque, uint64_t off, void *data, unsigned int len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}
