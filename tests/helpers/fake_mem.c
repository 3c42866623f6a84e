/* fake_mem: see fake_mem.h. */
#include "tests/helpers/fake_mem.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

void *fake_mem_add(struct guestmem *gm, uint64_t gpa, uint64_t size)
{
	void *buf = calloc(1, (size_t)size);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(guestmem_add_region(gm, gpa, size, buf), 0);
	return buf;
}

void fake_mem_free(struct guestmem *gm)
{
	unsigned int i;

	for (i = 0; i < gm->nr_regions; i++)
		free(gm->regions[i].host);
	memset(gm, 0, sizeof(*gm));
}
