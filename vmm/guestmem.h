/*
 * guestmem: the only door to guest RAM.
 *
 * Guest RAM is a list of regions (guest-physical range -> host mapping).
 * guestmem_ptr() turns (gpa, len) into a host pointer only when the whole
 * range lies inside one region, checking both ends and overflow; every other
 * module goes through it and never does arithmetic on guest addresses.
 */
#ifndef VMM_GUESTMEM_H
#define VMM_GUESTMEM_H

#include <stddef.h>
#include <stdint.h>

#define GUESTMEM_MAX_REGIONS 4

struct guestmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

/* Guest RAM's host mapping is aligned to this, and asks for huge pages. */
#define GUESTMEM_HUGE (2ull << 20)

struct guestmem {
	struct guestmem_region regions[GUESTMEM_MAX_REGIONS];
	unsigned int nr_regions;
	/* The anonymous mapping backing all regions (NULL for test memory). */
	void *mapping;
	size_t mapping_size;
};

/*
 * Map `ram_size` bytes of anonymous memory and lay them out as guest RAM:
 * below `low_limit` first, the rest from `high_base` upward.
 */
int guestmem_create(struct guestmem *gm, uint64_t ram_size,
		    uint64_t low_limit, uint64_t high_base);
void guestmem_destroy(struct guestmem *gm);

/* Add a region backed by caller-owned memory (tests, fuzzers). */
int guestmem_add_region(struct guestmem *gm, uint64_t gpa, uint64_t size,
			void *host);

/*
 * Host pointer for [gpa, gpa + len), or NULL when any byte of it is outside
 * a single region or the range wraps. len == 0 is valid anywhere inside a
 * region or at its very end.
 */
void *guestmem_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len);

int guestmem_read(const struct guestmem *gm, uint64_t gpa, void *dst,
		  size_t len);
int guestmem_write(const struct guestmem *gm, uint64_t gpa, const void *src,
		   size_t len);

/* Total bytes of RAM. */
uint64_t guestmem_size(const struct guestmem *gm);

#endif
