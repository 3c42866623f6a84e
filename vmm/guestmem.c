/*
 * guestmem: guest RAM regions and the bounds-checked gpa -> host pointer
 * translation. Regions never overlap; they are fixed after creation.
 */
#include "vmm/guestmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>


int guestmem_add_region(struct guestmem *gm, uint64_t gpa, uint64_t size,
			void *host)
{
	unsigned int i;

	if (!size || !host || gpa + size < gpa)
		return -EINVAL;
	if (gm->nr_regions >= GUESTMEM_MAX_REGIONS)
		return -ENOSPC;
	for (i = 0; i < gm->nr_regions; i++) {
		const struct guestmem_region *r = &gm->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
	}
	gm->regions[gm->nr_regions++] = (struct guestmem_region){
		.gpa = gpa,
		.size = size,
		.host = host,
	};
	return 0;
}

/*
 * Anonymous memory for guest RAM, 2 MiB aligned and marked for
 * transparent huge pages: KVM then maps 2 MiB of guest RAM with one
 * nested page-table entry, on one VM exit at the guest's first touch,
 * instead of 512 (README "The machine"). Guest and host 2 MiB ranges line
 * up: RAM starts at guest-physical 0, and the low limit and the high base
 * are multiples of 2 MiB. NULL with errno set on failure.
 */
static uint8_t *map_ram(uint64_t size)
{
	uint8_t *map, *start;
	uint64_t head, tail;

	map = mmap(NULL, size + GUESTMEM_HUGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	start = (uint8_t *)(((uintptr_t)map + GUESTMEM_HUGE - 1) &
			    ~(uintptr_t)(GUESTMEM_HUGE - 1));
	head = (uint64_t)(start - map);
	tail = GUESTMEM_HUGE - head; /* never 0: head < GUESTMEM_HUGE */
	if (head)
		munmap(map, head);
	munmap(start + size, tail);
	/* A kernel without THP refuses: small pages, as before. */
	madvise(start, size, MADV_HUGEPAGE);
	return start;
}

int guestmem_create(struct guestmem *gm, uint64_t ram_size,
		    uint64_t low_limit, uint64_t high_base)
{
	uint64_t low = ram_size < low_limit ? ram_size : low_limit;
	uint8_t *map;
	int ret;

	memset(gm, 0, sizeof(*gm));
	if (!ram_size || high_base < low_limit)
		return -EINVAL;
	map = map_ram(ram_size);
	if (!map)
		return -errno;
	gm->mapping = map;
	gm->mapping_size = ram_size;
	ret = guestmem_add_region(gm, 0, low, map);
	if (!ret && ram_size > low)
		ret = guestmem_add_region(gm, high_base, ram_size - low,
					  map + low);
	if (ret) {
		guestmem_destroy(gm);
		return ret;
	}
	return 0;
}

void guestmem_destroy(struct guestmem *gm)
{
	if (gm->mapping)
		munmap(gm->mapping, gm->mapping_size);
	memset(gm, 0, sizeof(*gm));
}

void *guestmem_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < gm->nr_regions; i++) {
		const struct guestmem_region *r = &gm->regions[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		/* Written so that no sum can wrap: off <= size, len <= rest. */
		if (off > r->size || len > r->size - off)
			continue;
		return r->host + off;
	}
	return NULL;
}

int guestmem_read(const struct guestmem *gm, uint64_t gpa, void *dst,
		  size_t len)
{
	const void *src = guestmem_ptr(gm, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guestmem_write(const struct guestmem *gm, uint64_t gpa, const void *src,
		   size_t len)
{
	void *dst = guestmem_ptr(gm, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

uint64_t guestmem_size(const struct guestmem *gm)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < gm->nr_regions; i++)
		total += gm->regions[i].size;
	return total;
}
